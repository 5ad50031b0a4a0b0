//===- ONNXImporter.h - ONNX model to qopt dialect --------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_ONNX_ONNXIMPORTER_H
#define QOPT_ONNX_ONNXIMPORTER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"

#include <string>
#include <vector>

namespace qopt {

struct ONNXImportOptions {
  /// Shapes that replace the graph inputs' declared (possibly dynamic) dims,
  /// keyed by input name. Parsed from `--input-shape=x:1x128,mask:1x128`.
  llvm::StringMap<llvm::SmallVector<int64_t>> inputShapes;
  /// Name of the function the graph becomes.
  std::string functionName = "main";
};

/// Parses "name:1x3x224x224,other:4" into `out`; returns an error message
/// (empty on success).
std::string parseInputShapes(llvm::StringRef spec,
                             llvm::StringMap<llvm::SmallVector<int64_t>> &out);

/// Imports an ONNX model file. Errors are reported through the context's
/// diagnostic engine with a location naming the file and node/tensor.
mlir::FailureOr<mlir::OwningOpRef<mlir::ModuleOp>>
importONNXFile(mlir::MLIRContext &context, llvm::StringRef path,
               const ONNXImportOptions &options);

/// ONNX op types the importer supports (sorted), for tools and test runners.
std::vector<std::string> supportedONNXOps();

} // namespace qopt

#endif // QOPT_ONNX_ONNXIMPORTER_H
