#!/usr/bin/env bash
#===- scripts/test.sh - README command 2: the whole test suite ------------===#
#
# SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
#
# Runs the GoogleTest unit tests, the ONNX backend node tests and the lit +
# FileCheck suites, then prints one line adding them up. Expects
# scripts/setup.sh (or quickstart.sh) to have run; rebuilds what changed first.
#   QOPT_BUILD_DIR  build directory (default: build)
#===----------------------------------------------------------------------===#
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${QOPT_BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then bash scripts/setup.sh || exit 1; fi
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
ninja -C "$BUILD_DIR" -j2 || exit 1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
LOG=$(mktemp -d)
trap 'rm -rf "$LOG"' EXIT
status=0

echo "== unit tests (GoogleTest)"
"$BUILD_DIR/bin/qopt-unittests" --gtest_brief=1 2>&1 | tee "$LOG/gtest" || status=1

echo "== ONNX backend node tests"
/usr/bin/python3 test/onnx-backend/run_backend_tests.py \
  --qopt-run "$BUILD_DIR/bin/qopt-run" -j 2 2>&1 | tee "$LOG/backend" || status=1

echo "== lit suites"
/usr/lib/llvm-22/bin/lit -sv "$BUILD_DIR/test" 2>&1 | tee "$LOG/lit" || status=1

# Add the runners' own counts up into one closing line.
/usr/bin/python3 - "$LOG" <<'PY'
import re, sys, os
d = sys.argv[1]
def read(name):
    try:
        return open(os.path.join(d, name), errors="replace").read()
    except OSError:
        return ""
g, b, l = read("gtest"), read("backend"), read("lit")
def num(pattern, text):
    m = re.findall(pattern, text)
    return int(m[-1]) if m else 0
gp = num(r"\[  PASSED  \] (\d+) test", g)
gf = num(r"\[  FAILED  \] (\d+) test", g)
bp = num(r"onnx-backend: (\d+) passed", b)
bf = num(r"onnx-backend: \d+ passed, (\d+) failed", b)
bs = num(r"onnx-backend: \d+ passed, \d+ failed, (\d+) skipped", b)
lp = num(r"Passed\s*: (\d+)", l)
lf = num(r"Failed\s*: (\d+)", l)
print(f"unit {gp}/{gp + gf}, onnx-backend {bp}/{bp + bf} ({bs} skipped), lit {lp}/{lp + lf}")
print(f"qopt-tests: {gp + bp + lp} passed, {gf + bf + lf} failed, {bs} skipped")
PY
exit $status
