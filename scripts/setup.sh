#!/usr/bin/env bash
#===- scripts/setup.sh - install dependencies and build qopt -------------===#
#
# SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
#
# Idempotent: installs every Debian package qopt needs (apt-get update first),
# configures CMake + Ninja and builds with 2 jobs.
#   QOPT_BUILD_DIR   build directory (default: build)
#   QOPT_SANITIZE=1  configure with -DQOPT_ENABLE_SANITIZERS=ON (ASan + UBSan)
#===----------------------------------------------------------------------===#
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  # toolchain and build
  build-essential cmake ninja-build ccache
  # LLVM/MLIR 22 (libMLIR.so, libLLVM.so, mlir-tblgen, lit, FileCheck)
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
  # sanitizers
  clang-22 libclang-rt-22-dev
  # ONNX protobuf definitions and the ONNX backend test suite
  libonnx-dev libonnx-testdata libprotobuf-dev protobuf-compiler
  # .npz support, unit tests, benchmarks
  libzip-dev zlib1g-dev libgtest-dev libgmock-dev libbenchmark-dev
  # test-model generators and the bundled example (digits data set)
  python3 python3-numpy python3-onnx python3-sklearn
  # benchmarks: oneDNN (GEMM peer), venv for ONNX Runtime (end-to-end peer)
  libdnnl-dev python3-venv
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

BUILD_DIR=${QOPT_BUILD_DIR:-build}
# Let ccache share objects between checkouts in different directories.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
SAN=OFF
if [ "${QOPT_SANITIZE:-0}" = "1" ]; then SAN=ON; fi
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -G Ninja -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ \
    -DQOPT_ENABLE_SANITIZERS=$SAN
fi
# ONNX Runtime from PyPI for benchmarks/run.sh, in a venv that sees Debian's
# numpy: its quantizer needs onnx >= 1.13 (onnx.reference), newer than
# Debian's python3-onnx, which the test generators keep using.
BENCH_VENV="$BUILD_DIR/bench-venv"
if ! "$BENCH_VENV/bin/python" -c "import onnxruntime, onnx.reference" 2>/dev/null; then
  echo "setup: installing onnxruntime into $BENCH_VENV"
  python3 -m venv --system-site-packages "$BENCH_VENV"
  "$BENCH_VENV/bin/python" -m pip install -q --disable-pip-version-check \
    onnxruntime==1.23.2 onnx==1.17.0 ||
    echo "setup: warning: no onnxruntime (PyPI unreachable?); benchmarks/run.sh skips its rows"
fi
start=$(date +%s)
ninja -C "$BUILD_DIR" -j2
echo "setup: build finished in $(( $(date +%s) - start )) s ($BUILD_DIR)"
