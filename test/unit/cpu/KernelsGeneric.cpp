//===- KernelsGeneric.cpp - CPU runtime for the generic target ------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Instantiates runtime/cpu/qopt_cpu_runtime.h for one target (flags set per
// source in CMakeLists.txt) and exposes it as a CpuKernelTable.
//
//===----------------------------------------------------------------------===//

#include "qopt_cpu_runtime.h"

#define QOPT_CPU_TABLE_FN cpuKernelsGeneric
#define QOPT_CPU_TABLE_NAME "generic"
#define QOPT_CPU_TABLE_SUPPORTED (true)
#include "CpuKernelTable.h"
