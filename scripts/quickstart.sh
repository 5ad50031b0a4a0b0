#!/usr/bin/env bash
#===- scripts/quickstart.sh - README command 1 ----------------------------===#
#
# SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
#
# Installs dependencies, builds qopt, then runs its main job on the bundled
# example (examples/digits): import the ONNX model into the qopt dialect, run
# it with the reference executor on the bundled evaluation inputs and compare
# with the outputs numpy computed when the model was trained.
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
"$BIN/qopt" "$EX/digits_mlp.onnx" --input-shape=x:360x64 -o "$OUT/digits_mlp.mlir"
grep -E '^ *(func.func|%.* = qopt\.)' "$OUT/digits_mlp.mlir" | sed -E 's/ loc\(.*//' | head -20
echo
echo "== 2. run it with the reference executor on the bundled evaluation set"
"$BIN/qopt-run" "$OUT/digits_mlp.mlir" --inputs "$EX/eval.npz" \
  --outputs "$OUT/logits.npz" --force --compare "$EX/expected_logits.npz"
echo
echo "== 3. accuracy of the imported model on the held-out digits (labels y in eval.npz)"
/usr/bin/python3 - "$OUT/logits.npz" "$EX/eval.npz" <<'PY'
import sys
import numpy as np
logits = np.load(sys.argv[1])["logits"]
y = np.load(sys.argv[2])["y"]
acc = float((logits.argmax(axis=1) == y).mean())
print(f"top-1 accuracy: {acc * 100:.2f}% on {len(y)} samples")
PY
