//===- ONNXImporterImpl.h - ONNX importer internals -------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Shared by ONNXImporter.cpp (the driver: parsing, graph validation, inputs
// and outputs), ONNXTensors.cpp (TensorProto decoding, external data,
// constants) and ONNXOps.cpp (one builder per ONNX op type).
//
// Every function that can fail emits exactly one error through the context's
// diagnostic engine (mlir::emitError at a location naming the file and the
// node or tensor) and returns failure(); callers only propagate the failure.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_ONNX_ONNXIMPORTERIMPL_H
#define QOPT_LIB_ONNX_ONNXIMPORTERIMPL_H

#include "qopt/dialects/qopt/QOptOps.h"
#include "qopt/onnx/ONNXImporter.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/MemoryBuffer.h"

#include <onnx/onnx_pb.h>

#include <memory>
#include <optional>
#include <string>

namespace qopt::onnximport {

/// Largest number of elements the importer folds integer shape arithmetic
/// for (Shape -> Gather -> Concat -> Reshape chains).
constexpr int64_t kMaxFoldElements = 1 << 16;
/// Tensors with more elements than this become dense_resource blobs.
constexpr int64_t kMaxInlineElements = 16;

/// ONNX TensorProto.DataType names, for messages ("FLOAT", "STRING", ...).
std::string dataTypeName(int32_t dataType);
/// The MLIR element type of an ONNX data type, or null when qopt does not
/// support it (STRING, COMPLEX*, FLOAT8*, INT4, ...).
mlir::Type elementTypeFor(mlir::MLIRContext *ctx, int32_t dataType);
/// The ONNX data type of an MLIR element type (0 when there is none).
int32_t dataTypeFor(mlir::Type type);
/// Bytes per element of a supported element type (i1 is one byte).
int64_t elementByteSize(mlir::Type type);
/// Element count of a static shape, or nullopt on overflow (or when the
/// byte size of `elementBytes`-sized elements would overflow int64).
std::optional<int64_t> checkedElementCount(llvm::ArrayRef<int64_t> shape,
                                           int64_t elementBytes);

/// Reads the values of an integer (or bool) constant, sign- or zero-extended
/// according to the element type. Works on dense and dense_resource attrs.
std::optional<llvm::SmallVector<int64_t>>
readIntValues(mlir::ElementsAttr attr);
/// Reads the values of a floating-point constant as doubles.
std::optional<llvm::SmallVector<double>>
readFloatValues(mlir::ElementsAttr attr);
/// A dense integer constant of the given shape and element type.
mlir::DenseElementsAttr makeIntAttr(llvm::ArrayRef<int64_t> shape,
                                    mlir::Type elementType,
                                    llvm::ArrayRef<int64_t> values);

/// One ONNX tensor name's value during import.
struct Entry {
  /// The MLIR value; null while the value is only known as a constant (it is
  /// materialized on first use) or as a lazily built QuantizeLinear result.
  mlir::Value value;
  /// The value as a constant when it is known at import time.
  mlir::ElementsAttr constant;
  /// Where a lazily materialized constant or quantize op is created.
  std::optional<mlir::Location> loc;
  /// Resource-name hint for a materialized constant.
  std::string name;

  /// A QuantizeLinear output with constant parameters: materialized as the
  /// static form (a !quant.uniform result) for DequantizeLinear consumers
  /// with the same parameters, and as the dynamic form (a plain integer
  /// result) for every other consumer.
  struct Quantized {
    mlir::Value input;               ///< the float input x
    std::string scaleName;           ///< ONNX names of the parameters
    std::string zeroPointName;       ///< empty when absent
    mlir::quant::QuantizedType type; ///< the static element type
    mlir::Type storageType;          ///< ui8 / i8 / ui16 / i16 (plain form)
    int64_t axis = 1;
    mlir::Value staticValue; ///< memoized static form
  };
  std::shared_ptr<Quantized> quantized;
};

/// The node being imported.
struct Node {
  onnx::NodeProto *proto = nullptr;
  int index = 0;      ///< position in graph.node
  std::string name;   ///< node name, or "<op_type>_<index>"
  mlir::Location loc; ///< NameLoc(name, FileLineColLoc(path, 0, 0))

  llvm::StringRef opType() const { return proto->op_type(); }
  /// Input `i`'s tensor name; empty when absent (also past the end).
  llvm::StringRef input(int i) const {
    return i < proto->input_size() ? llvm::StringRef(proto->input(i))
                                   : llvm::StringRef();
  }
  bool hasInput(int i) const { return !input(i).empty(); }
  llvm::StringRef output(int i) const {
    return i < proto->output_size() ? llvm::StringRef(proto->output(i))
                                    : llvm::StringRef();
  }
  bool hasOutput(int i) const { return !output(i).empty(); }
  const onnx::AttributeProto *attr(llvm::StringRef attrName) const;
};

class Importer {
public:
  Importer(mlir::MLIRContext &context, llvm::StringRef path,
           const ONNXImportOptions &options);
  mlir::FailureOr<mlir::OwningOpRef<mlir::ModuleOp>> run();

  //===------------------------------------------------------------------===//
  // State shared with the op builders.
  //===------------------------------------------------------------------===//

  mlir::MLIRContext *ctx;
  mlir::OpBuilder builder;
  std::string path;
  const ONNXImportOptions &options;
  mlir::Location fileLoc;
  /// Default-domain opset the model imports.
  int64_t opset = 0;

  /// Error at the node's location, prefixed "node 'n' (Op): ".
  mlir::InFlightDiagnostic nodeError(const Node &node);
  /// Error at the file's location.
  mlir::InFlightDiagnostic fileError();

  //===------------------------------------------------------------------===//
  // Values.
  //===------------------------------------------------------------------===//

  /// The entry for an ONNX tensor name (null when undefined).
  Entry *lookup(llvm::StringRef name);
  /// Defines node output `i` as `value` (ignored when the output is unused).
  void define(const Node &node, int i, mlir::Value value);
  /// Defines node output `i` as a constant (materialized on first use).
  void defineConstant(const Node &node, int i, mlir::ElementsAttr constant);
  /// Defines node output `i` as a copy of another entry (Identity).
  void defineAlias(const Node &node, int i, const Entry &entry);
  /// Defines a QuantizeLinear output with constant parameters.
  void defineQuantized(const Node &node, int i,
                       std::shared_ptr<Entry::Quantized> q);

  /// The value of input `i` as a plain tensor (constants materialized,
  /// quantized values in their plain integer form). Fails with an error
  /// when a required input is missing.
  mlir::FailureOr<mlir::Value> input(const Node &node, int i);
  /// The plain value of an entry.
  mlir::FailureOr<mlir::Value> plainValue(Entry &entry, mlir::Location useLoc);
  /// Input `i` when present, a null Value when absent.
  mlir::FailureOr<mlir::Value> optionalInput(const Node &node, int i);
  /// The constant value of input `i`, or null when it is not a constant.
  mlir::ElementsAttr constantInput(const Node &node, int i);
  /// The static (!quant.uniform) form of a QuantizeLinear entry.
  mlir::FailureOr<mlir::Value> staticQuantized(Entry &entry);

  /// Creates a qopt.constant for `attr` at the top of the function.
  mlir::Value materializeConstant(mlir::ElementsAttr attr, mlir::Location loc);

  //===------------------------------------------------------------------===//
  // Op creation. Both verify the new op; inferred() also computes its
  // result type through InferTypeOpInterface, reporting inference errors at
  // the op's location instead of aborting.
  //===------------------------------------------------------------------===//

  template <typename OpTy, typename... Args>
  mlir::FailureOr<OpTy> inferred(mlir::Location loc, Args &&...args) {
    OpTy op = OpTy::create(builder, loc, builder.getNoneType(),
                           std::forward<Args>(args)...);
    llvm::SmallVector<mlir::Type, 1> types;
    if (mlir::failed(OpTy::inferReturnTypes(
            ctx, loc, op->getOperands(), op->getRawDictionaryAttrs(),
            op->getPropertiesStorage(), op->getRegions(), types)) ||
        types.size() != 1) {
      op->erase();
      return mlir::failure();
    }
    op->getResult(0).setType(types.front());
    if (mlir::failed(mlir::verify(op, /*verifyRecursively=*/false))) {
      op->erase();
      return mlir::failure();
    }
    return op;
  }

  template <typename OpTy, typename... Args>
  mlir::FailureOr<OpTy> typed(mlir::Location loc, Args &&...args) {
    OpTy op = OpTy::create(builder, loc, std::forward<Args>(args)...);
    if (mlir::failed(mlir::verify(op, /*verifyRecursively=*/false))) {
      op->erase();
      return mlir::failure();
    }
    return op;
  }

  /// qopt.reshape of `v` to `shape` (same element type).
  mlir::FailureOr<mlir::Value> reshape(mlir::Location loc, mlir::Value v,
                                       llvm::ArrayRef<int64_t> shape);

  //===------------------------------------------------------------------===//
  // Attributes (missing attributes give the ONNX default).
  //===------------------------------------------------------------------===//

  mlir::FailureOr<int64_t> attrInt(const Node &node, llvm::StringRef name,
                                   int64_t defaultValue);
  mlir::FailureOr<float> attrFloat(const Node &node, llvm::StringRef name,
                                   float defaultValue);
  mlir::FailureOr<std::string> attrString(const Node &node,
                                          llvm::StringRef name,
                                          llvm::StringRef defaultValue);
  /// Fails when present with the wrong type; nullopt when absent.
  mlir::FailureOr<std::optional<llvm::SmallVector<int64_t>>>
  attrInts(const Node &node, llvm::StringRef name);
  mlir::FailureOr<std::optional<llvm::SmallVector<float>>>
  attrFloats(const Node &node, llvm::StringRef name);

  //===------------------------------------------------------------------===//
  // Tensors (ONNXTensors.cpp).
  //===------------------------------------------------------------------===//

  /// Decodes a TensorProto (raw_data, typed fields or external data) into a
  /// dense or dense_resource attribute. `what` names it in errors (e.g.
  /// "initializer 'w'"); raw_data may be moved out of the proto.
  mlir::FailureOr<mlir::ElementsAttr> tensorToAttr(onnx::TensorProto &tensor,
                                                   llvm::StringRef what,
                                                   mlir::Location loc);
  /// A constant attribute over `bytes` (row-major, little-endian, one byte
  /// per bool). `owner` keeps `bytes` alive; without one they are copied.
  mlir::ElementsAttr makeConstantAttr(mlir::RankedTensorType type,
                                      llvm::StringRef nameHint,
                                      llvm::ArrayRef<char> bytes,
                                      std::shared_ptr<const void> owner);

private:
  llvm::StringMap<Entry> entries;
  mlir::func::FuncOp func;
  /// Constants are created at the top of the function, in order of first use.
  mlir::Operation *lastConstant = nullptr;
  /// Materialized constants, so a constant used twice is created once.
  llvm::DenseMap<mlir::Attribute, mlir::Value> constants;
  /// Mapped external-data files, by resolved path.
  llvm::StringMap<std::shared_ptr<llvm::MemoryBuffer>> externalFiles;
  std::string modelDir;

  mlir::FailureOr<std::shared_ptr<llvm::MemoryBuffer>>
  mapExternalFile(llvm::StringRef location, llvm::StringRef what,
                  mlir::Location loc);
  mlir::FailureOr<mlir::ElementsAttr>
  externalTensorToAttr(onnx::TensorProto &tensor, mlir::RankedTensorType type,
                       llvm::StringRef what, mlir::Location loc);

  // The driver (ONNXImporter.cpp).
  onnx::ModelProto model;
  mlir::LogicalResult parseModel();
  mlir::LogicalResult checkModel();
  mlir::LogicalResult checkSupportedOps();
  mlir::LogicalResult checkOpset();
  mlir::FailureOr<std::vector<int>> sortNodes();
  mlir::LogicalResult importInputs(llvm::SmallVectorImpl<mlir::Type> &types,
                                   llvm::SmallVectorImpl<std::string> &names);
  mlir::LogicalResult importInitializers();
  mlir::LogicalResult importNode(Node &node);
  mlir::LogicalResult importOutputs();
  std::string nodeName(int index) const;
};

/// Per-op builders (ONNXOps.cpp).
using OpImportFn = mlir::LogicalResult (*)(Importer &, Node &);
struct OpInfo {
  OpImportFn fn;
  /// Oldest opset whose semantics of this op the builder implements.
  int64_t minOpset;
};
/// The builder for a default-domain op type, or null.
const OpInfo *lookupOp(llvm::StringRef opType);
/// All supported op types, sorted.
std::vector<std::string> supportedOpTypes();

/// "[1, ?, 128]" for messages.
std::string shapeStr(llvm::ArrayRef<int64_t> shape);

} // namespace qopt::onnximport

#endif // QOPT_LIB_ONNX_ONNXIMPORTERIMPL_H
