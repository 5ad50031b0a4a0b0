#!/usr/bin/env bash
#===- benchmarks/run.sh - all performance measurements in one table -------===#
# SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
#
# Builds (scripts/setup.sh must have run) and prints the machine's ceilings.
# The kernel-vs-peer rows (int8 GEMM vs oneDNN, int4 GEMV, end-to-end vs
# ONNX Runtime) join this table when qopt's generated kernels exist.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${QOPT_BUILD_DIR:-build}
ninja -C "$BUILD_DIR" -j2 qopt-machine-peaks > /dev/null
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(date -u +%F)"
"$BUILD_DIR/bin/qopt-machine-peaks" "$@"
