#!/usr/bin/env bash
#===- benchmarks/run.sh - all performance measurements in one table -------===#
# SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
#
#   bash benchmarks/run.sh [MAX_THREADS]     (default 2)
#
# One command, one table (benchmarks/README.md says what each row measures):
#   a. machine ceilings: int8 dot-product peak, f32 peak, DRAM read bandwidth
#      (qopt-machine-peaks; its own table is printed first, as before)
#   b. int8 GEMM, BERT-base shapes at M=128, qopt vs oneDNN u8s8s32 and f32
#   c. int4 group-128 GEMV, M=1, weights streamed from DRAM, vs oneDNN f32
#   d. end-to-end latency, BERT-base-shaped encoder (random weights, 2 layers
#      by default) and examples/digits: qopt W8A8 vs ONNX Runtime fp32 / int8
# Environment:
#   QOPT_BUILD_DIR      build directory (default build)
#   QOPT_BENCH_LAYERS   encoder layers (default 2; BERT-base has 12)
#   QOPT_BENCH_REPS     repetitions of the GEMM/GEMV timings (default 20)
#   QOPT_BENCH_E2E_RUNS timed runs of each end-to-end model (default 30)
# scripts/setup.sh must have run (it installs oneDNN and, into
# $QOPT_BUILD_DIR/bench-venv, ONNX Runtime). Rows whose tool is missing say so.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${QOPT_BUILD_DIR:-build}
MAX_THREADS=${1:-2}
LAYERS=${QOPT_BENCH_LAYERS:-2}
REPS=${QOPT_BENCH_REPS:-20}
E2E_RUNS=${QOPT_BENCH_E2E_RUNS:-30}
BIN="$BUILD_DIR/bin"
WORK="$BUILD_DIR/bench"
mkdir -p "$WORK"
THREADS=$(seq -s, 1 "$MAX_THREADS")
[ "$MAX_THREADS" -gt 2 ] && THREADS="1,2,$MAX_THREADS"

# Build what exists as a target (qopt-bench-gemm needs libdnnl-dev,
# qopt-translate the CPU code generator).
# A kernel header newer than the configuration: reconfigure, so CMake's probe
# of the qopt adapter in peers_onednn.cpp sees it.
hdr=runtime/cpu/qopt_cpu_runtime.h
if [ -f "$hdr" ] && [ "$hdr" -nt "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake "$BUILD_DIR" > /dev/null
fi
targets=(qopt qopt-run qopt-machine-peaks)
for t in qopt-bench-gemm qopt-translate; do
  if ninja -C "$BUILD_DIR" -t targets all 2>/dev/null | grep -q "^$t:"; then
    targets+=("$t")
  fi
done
if ! ninja -C "$BUILD_DIR" -j2 "${targets[@]}" > "$WORK/build.log" 2>&1; then
  echo "run.sh: warning: building ${targets[*]} failed ($(grep -m1 -i error "$WORK/build.log")); using the binaries already in $BIN" >&2
  ninja -C "$BUILD_DIR" -j2 qopt-machine-peaks > /dev/null
fi

PY=python3
if [ -x "$BUILD_DIR/bench-venv/bin/python" ]; then
  PY="$BUILD_DIR/bench-venv/bin/python"
fi

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(date -u +%F)"
# a. machine ceilings
"$BIN/qopt-machine-peaks" "$MAX_THREADS" | tee "$WORK/peaks.txt"
echo

# b, c. kernels vs oneDNN
: > "$WORK/gemm.txt"
if [ -x "$BIN/qopt-bench-gemm" ]; then
  echo "running qopt-bench-gemm (GEMM + GEMV, $REPS reps) ..." >&2
  "$BIN/qopt-bench-gemm" --reps="$REPS" --threads="$THREADS" > "$WORK/gemm.txt"
else
  echo "qopt-bench-gemm not built (needs libdnnl-dev: run scripts/setup.sh)" >&2
fi

# d. end-to-end models: the encoder, and the digits example with one sample.
"$PY" benchmarks/bert_encoder.py --out "$WORK" --layers "$LAYERS" >&2
"$PY" - "$WORK/digits_one.npz" <<'EOF'
import sys, numpy as np
d = np.load("examples/digits/eval.npz")
np.savez(sys.argv[1], x=d["x"][:1])
EOF
MODELS=(
  "bert_encoder_${LAYERS}l|$WORK/bert_encoder.onnx|$WORK/eval.npz|$WORK/calib.npz"
  "digits_mlp|examples/digits/digits_mlp.onnx|$WORK/digits_one.npz|examples/digits/calib.npz"
)
# qopt W8A8 on one model: quantize (static, per-channel weights, calibrated
# on the samples ONNX Runtime's quantize_static sees), SQNR vs the float
# model, compile to a CPU library, time it. $5: the impl name in the RESULT
# lines, $6: extra qopt-w8a8-pipeline options.
qopt_e2e() {
  local name=$1 onnx=$2 inputs=$3 calib=$4 impl=$5 extra=$6
  local tag="$name.$impl"
  local qmlir="$WORK/$tag.q.mlir"
  if ! "$BIN/qopt" "$onnx" --pass-pipeline="builtin.module(qopt-w8a8-pipeline{calibration-data=$calib$extra})" \
      -o "$qmlir" 2> "$WORK/$tag.qopt.log"; then
    echo "RESULT kind=e2e model=$name impl=$impl error=quantize-failed" >> "$WORK/e2e.txt"
    echo "qopt failed to quantize $onnx: $(tail -1 "$WORK/$tag.qopt.log")" >&2
    return
  fi
  local sqnr
  sqnr=$("$BIN/qopt-run" "$qmlir" --inputs "$inputs" --reference "$onnx" --quiet 2>&1 \
    | grep -o 'sqnr=[-0-9.inf]*' | head -1 | cut -d= -f2 || true)
  echo "RESULT kind=e2e model=$name impl=$impl-quality sqnr_db=${sqnr:-?}" >> "$WORK/e2e.txt"
  [ -x "$BIN/qopt-translate" ] || return 0
  local lib="$WORK/$tag.cpu"
  rm -rf "$lib"
  if ! "$BIN/qopt-translate" --emit=cpu-library "$qmlir" -o "$lib" 2> "$WORK/$tag.translate.log"; then
    echo "RESULT kind=e2e model=$name impl=$impl error=translate-failed" >> "$WORK/e2e.txt"
    echo "qopt-translate failed on $qmlir: $(tail -1 "$WORK/$tag.translate.log")" >&2
    return
  fi
  for t in ${THREADS//,/ }; do
    local json="$WORK/$tag.t$t.json"
    rm -f "$json"
    if "$BIN/qopt-run" "$lib" --inputs "$inputs" --benchmark="$E2E_RUNS" \
        --threads="$t" --json "$json" > "$WORK/$tag.run.t$t.log" 2>&1; then
      "$PY" - "$json" "$name" "$t" "$impl" >> "$WORK/e2e.txt" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
def find(d, k):
    if isinstance(d, dict):
        if k in d:
            return d[k]
        for v in d.values():
            r = find(v, k)
            if r is not None:
                return r
    return None
print(f"RESULT kind=e2e model={sys.argv[2]} impl={sys.argv[4]} threads={sys.argv[3]} "
      f"median_ms={find(j, 'median_ms')} p90_ms={find(j, 'p90_ms')}")
PYEOF
    else
      echo "RESULT kind=e2e model=$name impl=$impl threads=$t error=run-failed" >> "$WORK/e2e.txt"
      echo "qopt-run $lib failed: $(tail -1 "$WORK/$tag.run.t$t.log")" >&2
    fi
  done
}

: > "$WORK/e2e.txt"
for m in "${MODELS[@]}"; do
  IFS='|' read -r name onnx inputs calib <<< "$m"
  qopt_e2e "$name" "$onnx" "$inputs" "$calib" qopt-w8a8 ""
  # 7-bit weights: the AVX2 vpmaddubsw kernels (exact for such weights).
  qopt_e2e "$name" "$onnx" "$inputs" "$calib" qopt-w8a8-w7 " weight-bits=7"
  if "$PY" -c "import onnxruntime" 2> /dev/null; then
    echo "running ONNX Runtime on $name ..." >&2
    runs=$E2E_RUNS
    case $name in digits*) runs=$((E2E_RUNS * 20)) ;; esac
    "$PY" benchmarks/ort_bench.py "$onnx" --inputs "$inputs" --calib "$calib" \
      --name "$name" --threads "$THREADS" --runs "$runs" --workdir "$WORK" \
      2> "$WORK/$name.ort.log" | grep '^RESULT' >> "$WORK/e2e.txt" \
      || echo "ONNX Runtime failed on $name: $(tail -1 "$WORK/$name.ort.log")" >&2
  else
    echo "onnxruntime not installed (run scripts/setup.sh)" >&2
  fi
done

# The table.
QOPT_TRANSLATE=$([ -x "$BIN/qopt-translate" ] && echo 1 || echo 0) \
"$PY" - "$WORK" "$THREADS" "$LAYERS" <<'EOF'
import os, re, sys
work, threads, layers = sys.argv[1], [int(t) for t in sys.argv[2].split(",")], sys.argv[3]
have_translate = os.environ.get("QOPT_TRANSLATE") == "1"

def results(path):
    out = []
    if os.path.exists(path):
        for line in open(path):
            if line.startswith("RESULT "):
                out.append(dict(kv.split("=", 1) for kv in line.split()[1:]))
    return out

peaks = {}
for line in open(os.path.join(work, "peaks.txt")):
    m = re.match(r"(.*?)\s+(\d+)\s+([\d.]+) (GOP/s|GFLOP/s|GB/s)", line)
    if m:
        key = ("int8" if line.startswith("int8 peak, AVX2") else
               "vnni" if "vpdpbusd" in line else
               "f32" if line.startswith("f32") else "bw")
        peaks[(key, int(m.group(2)))] = float(m.group(3))
gemm_lines = open(os.path.join(work, "gemm.txt")).read() if os.path.exists(
    os.path.join(work, "gemm.txt")) else ""
gemm = results(os.path.join(work, "gemm.txt"))
e2e = results(os.path.join(work, "e2e.txt"))

def get(rs, **kw):
    for r in rs:
        if all(r.get(k) == str(v) for k, v in kw.items()):
            return r
    return None

def f(x, fmt="{:.1f}"):
    return "n/a" if x is None else fmt.format(x)

def ms(x):
    return "n/a" if x is None else (f"{x:.3f} ms" if x >= 0.1 else f"{x * 1e3:.2f} us")

rows = []
def row(*cells):
    rows.append([str(c) for c in cells])

int8_key = "vnni" if any(k[0] == "vnni" for k in peaks) else "int8"
int8_name = "vpdpbusd" if int8_key == "vnni" else "AVX2 vpmaddubsw+vpmaddwd"
hdr = ["row", "measurement", "thr", "qopt", "peer", "qopt/peer", "ceiling %"]
for t in threads:
    row("a", f"int8 peak ({int8_name})", t, "", "", "", f(peaks.get((int8_key, t))) + " GOP/s")
for t in threads:
    row("a", "f32 peak (vfmadd231ps)", t, "", "", "", f(peaks.get(("f32", t))) + " GFLOP/s")
for t in threads:
    row("a", "DRAM read bandwidth", t, "", "", "", f(peaks.get(("bw", t))) + " GB/s")

missing = "no result" if gemm else "qopt-bench-gemm not built"
for K, N in ((768, 768), (768, 3072), (3072, 768), (768, 2304)):
    for t in threads:
        peak = peaks.get((int8_key, t))
        fpeak = peaks.get(("f32", t))
        q = get(gemm, kind="gemm", impl="qopt-s8", K=K, N=N, threads=t)
        qq = get(gemm, kind="gemm", impl="qopt-s8-quads", K=K, N=N, threads=t)
        qqg = float(qq["gops"]) if qq else None
        d8 = get(gemm, kind="gemm", impl="onednn-u8s8s32", K=K, N=N, threads=t)
        df = get(gemm, kind="gemm", impl="onednn-f32", K=K, N=N, threads=t)
        qg = float(q["gops"]) if q else None
        g8 = float(d8["gops"]) if d8 else None
        gf = float(df["gops"]) if df else None
        pct = lambda g, p: f(100 * g / p if g and p else None, "{:.0f}%")
        name = f"int8 GEMM 128x{K}x{N}"
        row("b", name + " vs oneDNN u8s8s32", t,
            f(qg) + " GOP/s" if q else missing, f(g8) + " GOP/s",
            f(qg / g8 if qg and g8 else None, "{:.2f}x"),
            f"qopt {pct(qg, peak)}, oneDNN {pct(g8, peak)} of int8 peak")
        row("b", name + " 7-bit weights (vpmaddubsw) vs oneDNN u8s8s32", t,
            f(qqg) + " GOP/s" if qq else missing, f(g8) + " GOP/s",
            f(qqg / g8 if qqg and g8 else None, "{:.2f}x"),
            f"qopt {pct(qqg, peak)} of int8 peak")
        row("b", name + " vs oneDNN f32", t,
            f(qg) + " GOP/s" if q else missing, f(gf) + " GFLOP/s",
            f(qg / gf if qg and gf else None, "{:.2f}x"),
            f"oneDNN f32 {pct(gf, fpeak)} of f32 peak")

for N in (4096, 11008):
    for t in threads:
        bw = peaks.get(("bw", t))
        q = get(gemm, kind="gemv", impl="qopt-w4g128", N=N, threads=t)
        d = get(gemm, kind="gemv", impl="onednn-f32", N=N, threads=t)
        qms = float(q["ms"]) if q else None
        dms = float(d["ms"]) if d else None
        pct = lambda r: f(100 * float(r["gbps"]) / bw if r and bw else None, "{:.0f}%")
        row("c", f"int4 g128 GEMV 1x4096x{N} (DRAM) vs oneDNN f32", t,
            ms(qms) if q else missing, ms(dms),
            f(dms / qms if qms and dms else None, "{:.2f}x faster"),
            f"qopt {pct(q)}, oneDNN {pct(d)} of read BW")

for name in (f"bert_encoder_{layers}l", "digits_mlp"):
  for impl, label in (("qopt-w8a8", "W8A8"), ("qopt-w8a8-w7", "W8A8 7-bit weights")):
    qual = get(e2e, model=name, impl=impl + "-quality")
    ort8q = next((r for r in e2e if r.get("model") == name and r.get("variant") == "int8"), None)
    for t in threads:
        q = get(e2e, kind="e2e", model=name, impl=impl, threads=t)
        err = get(e2e, kind="e2e", model=name, impl=impl)
        fp = get(e2e, kind="ort", model=name, variant="fp32", threads=t)
        i8 = get(e2e, kind="ort", model=name, variant="int8", threads=t)
        if q and "median_ms" in q and q["median_ms"] != "None":
            qms = float(q["median_ms"]); qcell = ms(qms)
        else:
            qms = None
            qcell = ("qopt e2e: " + err["error"] if err and "error" in err else
                     "qopt e2e: qopt-translate not built" if not have_translate
                     else "qopt e2e: no result")
        fms = float(fp["median_ms"]) if fp else None
        ims = float(i8["median_ms"]) if i8 else None
        sq = (f"SQNR qopt {qual['sqnr_db']} dB" if qual else "") + \
             (f", ORT int8 {ort8q['sqnr_db']} dB" if ort8q else "")
        row("d", f"{name} {label} vs ORT fp32", t, qcell, ms(fms),
            f(fms / qms if qms and fms else None, "{:.2f}x faster"), sq)
        row("d", f"{name} {label} vs ORT int8 (QDQ)", t, qcell, ms(ims),
            f(ims / qms if qms and ims else None, "{:.2f}x faster"),
            f"ORT int8 is {fms / ims:.2f}x ORT fp32" if fms and ims else "")

w = [max(len(r[i]) for r in rows + [hdr]) for i in range(len(hdr))]
line = lambda r: "| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(r)) + " |"
print(line(hdr))
print("|" + "|".join("-" * (x + 2) for x in w) + "|")
for r in rows:
    print(line(r))
print(f"\nmedians; GEMM/GEMV: qopt-bench-gemm (oneDNN {gemm_lines.split()[1] if gemm_lines else '?'}), "
      f"e2e: medians of qopt-run --benchmark / ort_bench.py; encoder: {layers} layers, "
      "seq 128, batch 1. Raw RESULT lines: " + work + "/{gemm,e2e}.txt")
EOF
