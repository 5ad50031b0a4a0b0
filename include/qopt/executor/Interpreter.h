//===- Interpreter.h - reference executor for qopt modules ------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// The reference executor: runs a function of a qopt module op by op on
// qopt::Tensor values with the kernels of Kernels.h. It is the oracle the
// rest of the compiler is checked against: float semantics for float ops,
// exact integer semantics for quantized ops.
//
// Shapes are taken from the actual inputs at run time, so a function with
// dynamic dims runs on any inputs its ops accept.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_EXECUTOR_INTERPRETER_H
#define QOPT_EXECUTOR_INTERPRETER_H

#include "qopt/support/Tensor.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/Error.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace qopt {

/// Maps an MLIR element type (float, integer, or a quantized type's storage)
/// to the runtime dtype; std::nullopt when the runtime has no such dtype.
std::optional<DType> runtimeDType(mlir::Type elementType);

/// Converts a constant attribute (dense or dense_resource) into a tensor.
/// Resource blobs are borrowed, not copied; they must outlive the tensor.
llvm::Expected<Tensor> tensorFromAttr(mlir::ElementsAttr attr);

/// One named argument or result of the executed function.
struct IOSpec {
  std::string name;
  mlir::RankedTensorType type;
};

class Interpreter {
public:
  /// Called after each op with each of its results; lets tools collect
  /// per-layer values (calibration, per-layer error).
  using ValueCallback =
      std::function<void(mlir::Operation *op, unsigned resultIndex,
                          const Tensor &value)>;

  /// Prepares `function` (default: "main", or the only function) of
  /// `module`: checks every op is executable and materializes constants.
  static llvm::Expected<std::unique_ptr<Interpreter>>
  create(mlir::ModuleOp module, llvm::StringRef function = "");

  const std::vector<IOSpec> &inputs() const { return inputs_; }
  const std::vector<IOSpec> &outputs() const { return outputs_; }

  /// Runs the function. Inputs are in argument order and must match the
  /// argument dtypes and (static) dims.
  llvm::Expected<std::vector<Tensor>> run(llvm::ArrayRef<Tensor> inputs,
                                          const ValueCallback &callback = {});

  /// Makes the qopt.constant `op` of the function yield `value` in later
  /// runs instead of its attribute's value (what-if runs, e.g. one weight's
  /// quantization round trip); `value` must have the constant's dtype and
  /// shape. Returns the value it replaces, so the caller can put it back.
  llvm::Expected<Tensor> replaceConstant(mlir::Operation *op, Tensor value);

private:
  Interpreter() = default;
  mlir::Operation *function_ = nullptr;
  std::vector<IOSpec> inputs_, outputs_;
  llvm::DenseMap<mlir::Operation *, Tensor> constants_;
};

} // namespace qopt

#endif // QOPT_EXECUTOR_INTERPRETER_H
