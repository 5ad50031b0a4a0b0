#!/usr/bin/env bash
#===- scripts/quickstart.sh - README command 1 ----------------------------===#
#
# SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
#
# Installs dependencies, builds qopt, then runs its main job on the bundled
# example (examples/digits, a digit classifier trained with numpy): import the
# ONNX model, check the float model against numpy's outputs, quantize it with
# the bundled calibration data (W8A8 with each calibration method, SmoothQuant,
# dynamic, int8 / int4 weight-only, mixed precision), run every quantized
# model on the held-out digits and print the quality report against the
# float model, then gate W8A8 on quality with a per-layer chart.
#===----------------------------------------------------------------------===#
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${QOPT_BUILD_DIR:-build}
BIN=$BUILD_DIR/bin
OUT=$BUILD_DIR/example
mkdir -p "$OUT"
EX=examples/digits

echo
echo "== 1. import examples/digits/digits_mlp.onnx into the qopt dialect"
"$BIN/qopt" "$EX/digits_mlp.onnx" -o "$OUT/digits_mlp.mlir"
grep -E '^ *(func.func|%.* = qopt\.(gemm|relu))' "$OUT/digits_mlp.mlir" | sed -E 's/ loc\(.*//'
echo
echo "== 2. the float model on the 360 held-out digits, against numpy's logits"
"$BIN/qopt-run" "$OUT/digits_mlp.mlir" --inputs "$EX/eval.npz" \
  --outputs "$OUT/logits.npz" --force --compare "$EX/expected_logits.npz"

echo
echo "== 3. quantize with the bundled calibration data (200 samples) and measure"
CAL="calibration-data=$EX/calib.npz"
schemes=(
  "w8a8-minmax|qopt-w8a8-pipeline{$CAL calibration-method=minmax}"
  "w8a8-percentile|qopt-w8a8-pipeline{$CAL calibration-method=percentile}"
  "w8a8-entropy|qopt-w8a8-pipeline{$CAL calibration-method=entropy}"
  "w8a8-mse|qopt-w8a8-pipeline{$CAL calibration-method=mse}"
  "w8a8-smoothquant|qopt-w8a8-pipeline{$CAL smoothquant-alpha=auto}"
  "w8a8-dynamic|qopt-w8a8-pipeline{dynamic=true}"
  "int8-weight-only|qopt-weight-only-pipeline{bits=8 group-size=0}"
  "int4-g32-weight-only|qopt-weight-only-pipeline{bits=4 group-size=32}"
  "mixed-6bit|qopt-mixed-precision-pipeline{$CAL budget-bits=6 group-size=32}"
)
names=()
for entry in "${schemes[@]}"; do
  name=${entry%%|*}
  pipeline=${entry#*|}
  names+=("$name")
  start=$(date +%s.%N)
  "$BIN/qopt" "$EX/digits_mlp.onnx" --pass-pipeline="builtin.module($pipeline)" \
    --emit-bytecode -o "$OUT/$name.mlirbc" 2>"$OUT/$name.log"
  end=$(date +%s.%N)
  echo "$start $end" > "$OUT/$name.time"
  "$BIN/qopt-run" "$OUT/$name.mlirbc" --inputs "$EX/eval.npz" \
    --reference "$EX/digits_mlp.onnx" --json "$OUT/$name.json" --force --quiet >/dev/null
  echo "  $name: $pipeline"
done
"$BIN/qopt" "$EX/digits_mlp.onnx" --emit-bytecode -o "$OUT/float.mlirbc"
/usr/bin/python3 "$EX/report.py" "$OUT" "${names[@]}"

echo
echo "== 4. quality gate on the W8A8 model (fail if accuracy drops > 1 point), per layer"
"$BIN/qopt-run" "$OUT/w8a8-minmax.mlirbc" --inputs "$EX/eval.npz" \
  --reference "$EX/digits_mlp.onnx" --per-layer --max-degradation=1 \
  --chart "$OUT/w8a8-layers.svg" --force --quiet
echo "per-layer SQNR chart: $OUT/w8a8-layers.svg"

echo
echo "== 5. compile to a CPU library (generated kernels, packed weights, C API) and run it"
/usr/bin/python3 - "$EX/eval.npz" "$OUT/one.npz" <<'PY'
import sys, numpy as np
d = np.load(sys.argv[1])
np.savez(sys.argv[2], x=d["x"][:1])
PY
libs=("float|$EX/digits_mlp.onnx" "w8a8-minmax|$OUT/w8a8-minmax.mlirbc" "int4-g32-weight-only|$OUT/int4-g32-weight-only.mlirbc")
for entry in "${libs[@]}"; do
  name=${entry%%|*}
  model=${entry#*|}
  "$BIN/qopt-translate" --emit=cpu-library "$model" -o "$OUT/lib-$name" --force
  "$BIN/qopt-run" "$OUT/lib-$name" --inputs "$EX/eval.npz" --reference "$EX/digits_mlp.onnx" \
    --benchmark=200 --json "$OUT/lib-$name.json" --force --quiet >/dev/null
  "$BIN/qopt-run" "$OUT/lib-$name" --inputs "$OUT/one.npz" --benchmark=2000 --threads=1 \
    --json "$OUT/lib-$name.one.json" --force --quiet >/dev/null
done
# The same models in the reference executor, for the exactness check.
"$BIN/qopt-run" "$OUT/w8a8-minmax.mlirbc" --inputs "$EX/eval.npz" --outputs "$OUT/w8a8-ref.npz" --force --quiet >/dev/null
"$BIN/qopt-run" "$OUT/lib-w8a8-minmax" --inputs "$EX/eval.npz" --compare "$OUT/w8a8-ref.npz" \
  --rtol=0 --atol=0 --quiet | grep -E "^compare"
/usr/bin/python3 "$EX/report_library.py" "$OUT" float w8a8-minmax int4-g32-weight-only
"$BIN/qopt-run" "$OUT/lib-w8a8-minmax" --inputs "$EX/eval.npz" --reference "$EX/digits_mlp.onnx" \
  --max-degradation=1 --quiet | grep -E "gate"
