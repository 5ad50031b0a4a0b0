//===- KernelsAvx512.cpp - CPU runtime for the avx512vnni target ----------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Instantiates runtime/cpu/qopt_cpu_runtime.h for one target (flags set per
// source in CMakeLists.txt) and exposes it as a CpuKernelTable.
//
//===----------------------------------------------------------------------===//

#define QOPT_CPU_TARGET_AVX512VNNI
#include "qopt_cpu_runtime.h"

#define QOPT_CPU_TABLE_FN cpuKernelsAvx512
#define QOPT_CPU_TABLE_NAME "avx512vnni"
#define QOPT_CPU_TABLE_SUPPORTED                                               \
  (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&  \
   __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni"))
#include "CpuKernelTable.h"
