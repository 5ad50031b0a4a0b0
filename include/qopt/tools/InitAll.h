//===- InitAll.h - register everything qopt's tools need --------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TOOLS_INITALL_H
#define QOPT_TOOLS_INITALL_H

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/OwningOpRef.h"

#include <memory>

namespace qopt {
/// Dialects qopt's tools parse: qopt, quant, func.
void registerAllDialects(mlir::DialectRegistry &registry);
/// Upstream and qopt passes available from --pass-pipeline.
void registerAllPasses();

/// Loads any input qopt accepts — .onnx, .safetensors, a Hugging Face
/// directory, .mlir/.mlirbc — dispatching on the path. Importer options come
/// from the command-line flags registered by registerImportOptions().
mlir::FailureOr<mlir::OwningOpRef<mlir::ModuleOp>>
loadModel(mlir::MLIRContext &context, llvm::StringRef path);
/// True when `path` needs an importer (i.e. it is not MLIR).
bool isImportedFormat(llvm::StringRef path);
/// Prints every diagnostic of `context` as one line,
/// "<file>[:line:col]: error: <message>", while the handler lives (used for
/// imported models, whose locations are not source text).
std::unique_ptr<mlir::ScopedDiagnosticHandler>
printDiagnosticsAsLines(mlir::MLIRContext &context);
/// Registers --input-shape, --seq-len, --batch, --weights-only.
void registerImportOptions();
} // namespace qopt

#endif // QOPT_TOOLS_INITALL_H
