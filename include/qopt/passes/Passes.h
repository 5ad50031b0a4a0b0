//===- Passes.h - qopt graph-level quantization passes ----------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_PASSES_PASSES_H
#define QOPT_PASSES_PASSES_H

#include "qopt/dialects/qopt/QOptDialect.h"

#include "mlir/Dialect/Quant/IR/Quant.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

#include <memory>
#include <string>

namespace qopt {

#define GEN_PASS_DECL
#include "qopt/passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "qopt/passes/Passes.h.inc"

/// Registers qopt-w8a8-pipeline, qopt-weight-only-pipeline and
/// qopt-mixed-precision-pipeline (passes/Pipelines.cpp).
void registerQOptPipelines();

/// The CPU target of this machine, as qopt-set-target{target=host} names it
/// ("cpu:avx512-vnni", "cpu:avx2" or "cpu:generic"; $QOPT_HOST_TARGET
/// overrides the detection).
std::string hostCpuTarget();

} // namespace qopt

#endif // QOPT_PASSES_PASSES_H
