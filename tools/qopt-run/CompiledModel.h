//===- CompiledModel.h - run a library written by qopt-translate -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Loads DIR/libmodel.so (the C API of runtime/cpu/qopt_model.h) with dlopen,
// maps DIR/weights.bin through it, and runs it on qopt::Tensor values.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TOOLS_QOPTRUN_COMPILEDMODEL_H
#define QOPT_TOOLS_QOPTRUN_COMPILEDMODEL_H

#include "qopt/executor/Interpreter.h"
#include "qopt/support/Tensor.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <string>
#include <vector>

namespace qopt {

class CompiledModel {
public:
  /// `dir` holds libmodel.so and weights.bin; threads 0 = all cores.
  static llvm::Expected<std::unique_ptr<CompiledModel>>
  open(mlir::MLIRContext &context, llvm::StringRef dir, int threads);
  ~CompiledModel();

  const std::vector<IOSpec> &inputs() const { return inputs_; }
  const std::vector<IOSpec> &outputs() const { return outputs_; }
  std::string target() const;
  int threads() const;

  /// Runs on `inputs` (dtypes and static dims must match; dim 0 may be the
  /// batch when the model has one).
  llvm::Expected<std::vector<Tensor>> run(llvm::ArrayRef<Tensor> inputs);

private:
  CompiledModel() = default;
  struct Api;
  std::unique_ptr<Api> api_;
  void *handle_ = nullptr;
  void *model_ = nullptr;
  std::string dir_;
  std::vector<IOSpec> inputs_, outputs_;
  std::vector<DType> inTypes_, outTypes_;
};

/// True when `path` is a directory with a libmodel.so.
bool isCompiledModelDir(llvm::StringRef path);

} // namespace qopt

#endif
