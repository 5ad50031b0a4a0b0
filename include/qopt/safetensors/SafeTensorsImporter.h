//===- SafeTensorsImporter.h - safetensors checkpoints to qopt --*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_SAFETENSORS_SAFETENSORSIMPORTER_H
#define QOPT_SAFETENSORS_SAFETENSORSIMPORTER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace qopt {

struct SafeTensorsImportOptions {
  /// Sequence length of the token-id input of a full forward graph.
  int64_t seqLen = 8;
  /// Batch size of the token-id input.
  int64_t batch = 1;
  /// Import only the weights (one named constant per tensor) even when a
  /// supported config.json is present.
  bool weightsOnly = false;
};

/// Imports a `.safetensors` file, a sharded checkpoint index, or a Hugging
/// Face model directory. With a supported config.json (LlamaForCausalLM,
/// BertModel) the full forward graph is built; otherwise a weights-only module
/// is produced and a remark says so.
mlir::FailureOr<mlir::OwningOpRef<mlir::ModuleOp>>
importSafeTensors(mlir::MLIRContext &context, llvm::StringRef fileOrDir,
                  const SafeTensorsImportOptions &options);

} // namespace qopt

#endif // QOPT_SAFETENSORS_SAFETENSORSIMPORTER_H
