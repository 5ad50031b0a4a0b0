//===- QOptDialect.h - qopt dialect declaration -----------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECTS_QOPT_QOPTDIALECT_H
#define QOPT_DIALECTS_QOPT_QOPTDIALECT_H

#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/IR/Dialect.h"

#include "qopt/dialects/qopt/QOptDialect.h.inc"

#endif // QOPT_DIALECTS_QOPT_QOPTDIALECT_H
