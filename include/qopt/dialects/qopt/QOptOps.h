//===- QOptOps.h - qopt dialect operations ----------------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECTS_QOPT_QOPTOPS_H
#define QOPT_DIALECTS_QOPT_QOPTOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "qopt/dialects/qopt/QOptDialect.h"

namespace qopt {
/// Result types are compatible when element types match and shapes are
/// compatible (a declared type may be more static than the inferred one).
bool areCompatibleInferredTypes(mlir::TypeRange inferred,
                                mlir::TypeRange actual);

/// NumPy broadcast of two shapes (dynamic dims allowed). Fails when a pair of
/// static dims differ and neither is 1.
mlir::FailureOr<llvm::SmallVector<int64_t>>
broadcastShapes(llvm::ArrayRef<int64_t> a, llvm::ArrayRef<int64_t> b);

/// Normalizes a possibly negative axis; fails when out of [-rank, rank).
mlir::FailureOr<int64_t> normalizeAxis(int64_t axis, int64_t rank);

/// Output size of a pooled / convolved spatial dim (kDynamic stays dynamic).
int64_t slidingWindowOutSize(int64_t in, int64_t kernel, int64_t stride,
                             int64_t padBegin, int64_t padEnd, int64_t dilation,
                             bool ceilMode);
} // namespace qopt

#define GET_OP_CLASSES
#include "qopt/dialects/qopt/QOptOps.h.inc"

#endif // QOPT_DIALECTS_QOPT_QOPTOPS_H
