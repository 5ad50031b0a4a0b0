//===- KernelsAvx2.cpp - CPU runtime for the avx2 target ------------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Instantiates runtime/cpu/qopt_cpu_runtime.h for one target (flags set per
// source in CMakeLists.txt) and exposes it as a CpuKernelTable.
//
//===----------------------------------------------------------------------===//

#define QOPT_CPU_TARGET_AVX2
#include "qopt_cpu_runtime.h"

#define QOPT_CPU_TABLE_FN cpuKernelsAvx2
#define QOPT_CPU_TABLE_NAME "avx2"
#define QOPT_CPU_TABLE_SUPPORTED                                               \
  (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
#include "CpuKernelTable.h"
