//===- SafeTensorsImporterImpl.h - Importer internals -----------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Shared by SafeTensorsImporter.cpp (the driver, constants, the weights-only
// module), LlamaBuilder.cpp and BertBuilder.cpp (one forward graph each).
//
// Error protocol: every check that fails emits exactly one error through the
// context's diagnostic engine, at a location naming the file and the tensor
// or config key, and returns failure(). Once all tensors a graph needs have
// been checked (GraphBuilder::require), graph construction itself can only
// fail when memory for a transposed weight cannot be had; that error is
// sticky (GraphBuilder::hadError) so builders need not thread FailureOr
// through every op.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_SAFETENSORS_SAFETENSORSIMPORTERIMPL_H
#define QOPT_LIB_SAFETENSORS_SAFETENSORSIMPORTERIMPL_H

#include "qopt/dialects/qopt/QOptOps.h"
#include "qopt/safetensors/SafeTensors.h"
#include "qopt/safetensors/SafeTensorsImporter.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/JSON.h"

#include <string>
#include <utility>

namespace qopt::safetensors_import {

/// Typed, validated access to config.json. Each accessor emits one error
/// naming config.json and the key and returns failure() when the value is
/// missing (for required keys) or has the wrong type or range. A JSON null
/// counts as absent.
class ConfigReader {
public:
  ConfigReader(mlir::MLIRContext &ctx, const llvm::json::Object &config,
               std::string configPath);

  /// A required integer in [1, 2^31).
  mlir::FailureOr<int64_t> positiveInt(llvm::StringRef key);
  /// An optional integer in [1, 2^31), `dflt` when absent.
  mlir::FailureOr<int64_t> positiveInt(llvm::StringRef key, int64_t dflt);
  /// An optional finite number > 0, `dflt` when absent.
  mlir::FailureOr<double> positiveNumber(llvm::StringRef key, double dflt);
  /// An optional boolean, `dflt` when absent.
  mlir::FailureOr<bool> boolean(llvm::StringRef key, bool dflt);
  /// An optional string, `dflt` when absent.
  mlir::FailureOr<std::string> string(llvm::StringRef key,
                                      llvm::StringRef dflt);
  /// True when `key` is absent or null.
  bool isAbsent(llvm::StringRef key) const;
  /// The raw value (nullptr when absent).
  const llvm::json::Value *get(llvm::StringRef key) const;

  /// An error located at config.json; the message should name the key.
  mlir::InFlightDiagnostic error();
  llvm::StringRef path() const { return configPath; }

private:
  const llvm::json::Object &config;
  std::string configPath;
  mlir::Location loc;
};

/// A tensor a forward graph needs, with the shape config.json implies.
struct TensorSpec {
  std::string name;
  llvm::SmallVector<int64_t, 4> shape;
};

/// Builds one forward graph: module scaffolding, checked weights as
/// constants, and small helpers for the ops every transformer needs.
class GraphBuilder {
public:
  GraphBuilder(mlir::MLIRContext &ctx, const safetensors::Checkpoint &ckpt,
               llvm::StringRef path);

  mlir::MLIRContext &ctx;
  const safetensors::Checkpoint &ckpt;
  /// The path given to the importer (file, index or directory).
  std::string path;
  mlir::OpBuilder b;
  /// FileLineColLoc(path, 0, 0).
  mlir::Location fileLoc;
  /// Set once an error was emitted during graph construction.
  bool hadError = false;

  //===--------------------------------------------------------------------===//
  // Locations and errors
  //===--------------------------------------------------------------------===//

  /// NameLoc(name, FileLineColLoc(path, 0, 0)): the location of every op that
  /// implements the Hugging Face module `name`.
  mlir::Location loc(const llvm::Twine &name);
  /// An error about the checkpoint as a whole.
  mlir::InFlightDiagnostic fileError();

  //===--------------------------------------------------------------------===//
  // Tensors
  //===--------------------------------------------------------------------===//

  bool has(llvm::StringRef name) const {
    return static_cast<bool>(ckpt.lookup(name));
  }
  /// Checks that every tensor in `specs` exists (one error listing all the
  /// missing ones), has the expected shape and a floating-point dtype.
  /// `what` names the model for messages ("LlamaForCausalLM").
  mlir::LogicalResult require(llvm::ArrayRef<TensorSpec> specs,
                              llvm::StringRef what);

  /// The tensor `name` as an f32 value: a dense_resource constant borrowing
  /// the mapped file, followed by a qopt.cast to f32 for F16/BF16/F64 data.
  /// Cached: asking twice returns the same value.
  mlir::Value weight(llvm::StringRef name);
  /// The [out, in] linear weight `name` transposed to [in, out] (the [K, N]
  /// rhs of qopt.matmul). The transposed copy is owned by the module (a blob
  /// named "<name>.T"), so it costs as much memory as the weight itself; the
  /// data is transposed in its stored dtype and cast to f32 after. Cached.
  mlir::Value linearWeight(llvm::StringRef name);

  //===--------------------------------------------------------------------===//
  // Module scaffolding
  //===--------------------------------------------------------------------===//

  /// An empty module with the qopt.source / qopt.format = "safetensors" /
  /// qopt.model_type attributes.
  mlir::OwningOpRef<mlir::ModuleOp> createModule(llvm::StringRef modelType);
  /// An empty @main in `module` taking `args` (name, type), each argument
  /// carrying {qopt.name = name}; the builder is left in @main's body.
  mlir::func::FuncOp
  createMain(mlir::ModuleOp module,
             llvm::ArrayRef<std::pair<std::string, mlir::Type>> args);
  /// Returns `results` (name, value) from @main and fixes its type.
  void finishMain(mlir::func::FuncOp func,
                  llvm::ArrayRef<std::pair<std::string, mlir::Value>> results);

  //===--------------------------------------------------------------------===//
  // Generated constants and ops
  //===--------------------------------------------------------------------===//

  /// An f32 constant of `shape` computed at import (the rotary cos/sin
  /// tables, the causal mask): an owned dense_resource blob named `blobName`
  /// whose row-major elements `fill` writes.
  mlir::Value tableF32(llvm::ArrayRef<int64_t> shape, llvm::StringRef blobName,
                       mlir::Location loc,
                       llvm::function_ref<void(float *)> fill);
  /// A rank-0 f32 constant.
  mlir::Value scalarF32(float v, mlir::Location loc);

  /// x @ W^T (+ b): `module` names the Hugging Face nn.Linear; its weight is
  /// "<module>.weight" and, when `bias` is set, its bias "<module>.bias".
  mlir::Value linear(mlir::Value x, llvm::StringRef module, bool bias);
  mlir::Value reshape(mlir::Value x, llvm::ArrayRef<int64_t> shape,
                      mlir::Location loc);
  mlir::Value transpose(mlir::Value x, llvm::ArrayRef<int64_t> perm,
                        mlir::Location loc);
  /// `x` restricted to [begin, end) along `axis` (whole along the others).
  mlir::Value sliceAxis(mlir::Value x, int64_t axis, int64_t begin, int64_t end,
                        mlir::Location loc);

  static mlir::RankedTensorType typeOf(mlir::Value v) {
    return mlir::cast<mlir::RankedTensorType>(v.getType());
  }

private:
  /// The constant for `ref` (borrowed, or transposed into an owned blob),
  /// in its stored element type. Emits an error and returns a zero splat on
  /// allocation failure.
  mlir::Value rawConstant(const safetensors::TensorRef &ref, bool transposed);
  mlir::Value toF32(mlir::Value v, mlir::Location loc);

  llvm::StringMap<mlir::Value> weights;
  llvm::StringMap<mlir::Value> transposedWeights;
};

//===----------------------------------------------------------------------===//
// Shared helpers (SafeTensorsImporter.cpp)
//===----------------------------------------------------------------------===//

/// The MLIR element type of a runtime dtype (ui8 for U8, i1 for BOOL, ...).
mlir::Type elementTypeFor(mlir::MLIRContext &ctx, DType t);
/// A resource key for `name`: [A-Za-z_][A-Za-z0-9_.]*, other bytes become
/// '_'.
std::string blobKey(llvm::StringRef name);
/// "[2, 3]".
std::string shapeString(llvm::ArrayRef<int64_t> shape);
/// The elements attribute of a checkpoint tensor, borrowing the mapping
/// (zero-copy) when the data is aligned for its element type and copying it
/// otherwise. Fails (with an error) for a dtype that cannot be imported.
mlir::FailureOr<mlir::ElementsAttr>
tensorAttr(mlir::MLIRContext &ctx, const safetensors::TensorRef &ref,
           mlir::Location loc);

//===----------------------------------------------------------------------===//
// Model builders
//===----------------------------------------------------------------------===//

/// LlamaForCausalLM (LlamaBuilder.cpp).
mlir::FailureOr<mlir::OwningOpRef<mlir::ModuleOp>>
buildLlama(GraphBuilder &g, ConfigReader &config,
           const SafeTensorsImportOptions &options);
/// BertModel (BertBuilder.cpp).
mlir::FailureOr<mlir::OwningOpRef<mlir::ModuleOp>>
buildBert(GraphBuilder &g, ConfigReader &config,
          const SafeTensorsImportOptions &options);

} // namespace qopt::safetensors_import

#endif // QOPT_LIB_SAFETENSORS_SAFETENSORSIMPORTERIMPL_H
