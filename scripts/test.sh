#!/usr/bin/env bash
#===- scripts/test.sh - README command 2: the whole test suite ------------===#
#
# SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
#
# Runs the GoogleTest unit tests, the lit + FileCheck suites and the ONNX
# backend node tests. Expects scripts/setup.sh (or quickstart.sh) to have run;
# rebuilds what changed first.
#   QOPT_BUILD_DIR  build directory (default: build)
#===----------------------------------------------------------------------===#
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${QOPT_BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then bash scripts/setup.sh || exit 1; fi
ninja -C "$BUILD_DIR" -j2 || exit 1
status=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}

echo "== unit tests (GoogleTest)"
"$BUILD_DIR/bin/qopt-unittests" --gtest_brief=1 || status=1

echo "== ONNX backend node tests"
/usr/bin/python3 test/onnx-backend/run_backend_tests.py \
  --qopt-run "$BUILD_DIR/bin/qopt-run" -j 2 || status=1

echo "== lit suites"
/usr/lib/llvm-22/bin/lit -sv "$BUILD_DIR/test" || status=1
exit $status
