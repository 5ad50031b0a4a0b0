//===- SafeTensorsImporter.cpp - safetensors checkpoints to qopt ----------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// The driver of the safetensors importer: opens the checkpoint, picks the
// model from config.json (LlamaBuilder.cpp, BertBuilder.cpp) or falls back to
// a weights-only module, and provides what the builders share: checked
// config access, tensor checks, weights as dense_resource constants that
// borrow the memory-mapped files, and module scaffolding.
//
// The module convention (the executor and the tools rely on it):
//
//   module attributes {qopt.source = "<path>", qopt.format = "safetensors",
//                      qopt.model_type = "llama" | "bert" | "weights"} {
//     func.func @main(%arg0: tensor<1x8xi64> {qopt.name = "input_ids"})
//         -> (tensor<1x8x64xf32> {qopt.name = "logits"}) { ... }
//   }
//
//===----------------------------------------------------------------------===//

#include "SafeTensorsImporterImpl.h"

#include "qopt/dialects/qopt/QOptDialect.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"

#include <cmath>
#include <cstring>
#include <limits>

using namespace mlir;
using namespace qopt;
using namespace qopt::safetensors_import;
using safetensors::Checkpoint;
using safetensors::TensorInfo;
using safetensors::TensorRef;

/// Config integers and the importer's size options stay below this, so
/// products of a few of them cannot overflow int64 unnoticed.
static constexpr int64_t kMaxConfigInt = int64_t(1) << 31;

//===----------------------------------------------------------------------===//
// Shared helpers
//===----------------------------------------------------------------------===//

Type qopt::safetensors_import::elementTypeFor(MLIRContext &ctx, DType t) {
  switch (t) {
  case DType::F32:
    return Float32Type::get(&ctx);
  case DType::F64:
    return Float64Type::get(&ctx);
  case DType::F16:
    return Float16Type::get(&ctx);
  case DType::BF16:
    return BFloat16Type::get(&ctx);
  case DType::I8:
    return IntegerType::get(&ctx, 8);
  case DType::U8:
    return IntegerType::get(&ctx, 8, IntegerType::Unsigned);
  case DType::I16:
    return IntegerType::get(&ctx, 16);
  case DType::U16:
    return IntegerType::get(&ctx, 16, IntegerType::Unsigned);
  case DType::I32:
    return IntegerType::get(&ctx, 32);
  case DType::U32:
    return IntegerType::get(&ctx, 32, IntegerType::Unsigned);
  case DType::I64:
    return IntegerType::get(&ctx, 64);
  case DType::U64:
    return IntegerType::get(&ctx, 64, IntegerType::Unsigned);
  case DType::Bool:
    return IntegerType::get(&ctx, 1);
  }
  llvm_unreachable("unknown DType");
}

std::string qopt::safetensors_import::blobKey(StringRef name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name)
    out.push_back(llvm::isAlnum(c) || c == '_' || c == '.' ? c : '_');
  if (out.empty() || !(llvm::isAlpha(out[0]) || out[0] == '_'))
    out.insert(0, "t_");
  return out;
}

std::string qopt::safetensors_import::shapeString(ArrayRef<int64_t> shape) {
  std::string s = "[";
  llvm::raw_string_ostream os(s);
  llvm::interleaveComma(shape, os);
  os << "]";
  return s;
}

/// A 64-byte aligned, owned buffer wrapped as a resource blob; the blob's
/// deleter releases it. Returns std::nullopt when the memory cannot be had.
static std::optional<std::pair<AsmResourceBlob, char *>>
allocateBlob(size_t bytes, size_t align) {
  std::shared_ptr<void> buffer =
      allocateAlignedBuffer(bytes, /*zeroFill=*/false);
  if (!buffer)
    return std::nullopt;
  char *data = static_cast<char *>(buffer.get());
  AsmResourceBlob blob = UnmanagedAsmResourceBlob::allocateWithAlign(
      ArrayRef<char>(data, bytes), align,
      [buffer = std::move(buffer)](void *, size_t, size_t) {},
      /*dataIsMutable=*/false);
  return std::make_pair(std::move(blob), data);
}

static InFlightDiagnostic allocationError(Location loc, size_t bytes,
                                          const Twine &what) {
  return emitError(loc) << "cannot allocate " << bytes << " bytes for " << what;
}

/// An empty tensor as a dense literal (a zero-byte blob says nothing useful).
static ElementsAttr emptyAttr(RankedTensorType type) {
  if (isa<FloatType>(type.getElementType()))
    return DenseElementsAttr::get(type, ArrayRef<APFloat>());
  if (type.getElementType().isInteger(1))
    return DenseElementsAttr::get(type, ArrayRef<bool>());
  return DenseElementsAttr::get(type, ArrayRef<APInt>());
}

/// "tensor 'x' in /path/model.safetensors".
static std::string describeTensor(const TensorRef &ref) {
  return ("tensor '" + ref.info->name + "' in " + ref.file->path()).str();
}

FailureOr<ElementsAttr>
qopt::safetensors_import::tensorAttr(MLIRContext &ctx, const TensorRef &ref,
                                     Location loc) {
  const TensorInfo &info = *ref.info;
  if (!info.runtimeType) {
    emitError(loc) << describeTensor(ref) << " has dtype " << info.dtype
                   << ", which qopt cannot import (supported: F32, F16, BF16, "
                      "F64, I8, U8, I16, U16, I32, U32, I64, U64, BOOL)";
    return failure();
  }
  DType dtype = *info.runtimeType;
  auto type = RankedTensorType::get(info.shape, elementTypeFor(ctx, dtype));
  if (info.numElements() == 0)
    return emptyAttr(type);
  size_t align = dtypeSize(dtype);
  ArrayRef<char> bytes(info.data, info.byteSize());
  if (reinterpret_cast<uintptr_t>(info.data) % align == 0) {
    // Zero-copy: the blob points into the mapping and keeps it alive.
    std::shared_ptr<llvm::MemoryBuffer> mapping = ref.file->mapping();
    AsmResourceBlob blob = UnmanagedAsmResourceBlob::allocateWithAlign(
        bytes, align, [mapping = std::move(mapping)](void *, size_t, size_t) {},
        /*dataIsMutable=*/false);
    return ElementsAttr(DenseResourceElementsAttr::get(type, blobKey(info.name),
                                                       std::move(blob)));
  }
  // A tensor whose offset is not a multiple of its element size: copy it so
  // that every consumer may read the elements in place.
  auto owned = allocateBlob(bytes.size(), align);
  if (!owned) {
    allocationError(loc, bytes.size(),
                    "an aligned copy of " + describeTensor(ref));
    return failure();
  }
  std::memcpy(owned->second, bytes.data(), bytes.size());
  return ElementsAttr(DenseResourceElementsAttr::get(type, blobKey(info.name),
                                                     std::move(owned->first)));
}

//===----------------------------------------------------------------------===//
// ConfigReader
//===----------------------------------------------------------------------===//

ConfigReader::ConfigReader(MLIRContext &ctx, const llvm::json::Object &config,
                           std::string configPath)
    : config(config), configPath(std::move(configPath)),
      loc(FileLineColLoc::get(&ctx, this->configPath, 0, 0)) {}

InFlightDiagnostic ConfigReader::error() { return emitError(loc); }

const llvm::json::Value *ConfigReader::get(StringRef key) const {
  const llvm::json::Value *v = config.get(key);
  if (!v || v->kind() == llvm::json::Value::Null)
    return nullptr;
  return v;
}

bool ConfigReader::isAbsent(StringRef key) const { return !get(key); }

FailureOr<int64_t> ConfigReader::positiveInt(StringRef key) {
  if (isAbsent(key)) {
    error() << configPath << ": '" << key << "' is required but missing";
    return failure();
  }
  return positiveInt(key, 0);
}

FailureOr<int64_t> ConfigReader::positiveInt(StringRef key, int64_t dflt) {
  const llvm::json::Value *v = get(key);
  if (!v)
    return dflt;
  std::optional<int64_t> i = v->getAsInteger();
  if (!i || *i <= 0 || *i >= kMaxConfigInt) {
    error() << configPath << ": '" << key
            << "' must be a positive integer below 2^31, got "
            << llvm::formatv("{0}", *v).str();
    return failure();
  }
  return *i;
}

FailureOr<double> ConfigReader::positiveNumber(StringRef key, double dflt) {
  const llvm::json::Value *v = get(key);
  if (!v)
    return dflt;
  std::optional<double> d = v->getAsNumber();
  if (!d || !std::isfinite(*d) || *d <= 0) {
    error() << configPath << ": '" << key << "' must be a positive number, got "
            << llvm::formatv("{0}", *v).str();
    return failure();
  }
  return *d;
}

FailureOr<bool> ConfigReader::boolean(StringRef key, bool dflt) {
  const llvm::json::Value *v = get(key);
  if (!v)
    return dflt;
  std::optional<bool> b = v->getAsBoolean();
  if (!b) {
    error() << configPath << ": '" << key << "' must be true or false, got "
            << llvm::formatv("{0}", *v).str();
    return failure();
  }
  return *b;
}

FailureOr<std::string> ConfigReader::string(StringRef key, StringRef dflt) {
  const llvm::json::Value *v = get(key);
  if (!v)
    return dflt.str();
  std::optional<StringRef> s = v->getAsString();
  if (!s) {
    error() << configPath << ": '" << key << "' must be a string, got "
            << llvm::formatv("{0}", *v).str();
    return failure();
  }
  return s->str();
}

//===----------------------------------------------------------------------===//
// GraphBuilder
//===----------------------------------------------------------------------===//

GraphBuilder::GraphBuilder(MLIRContext &ctx, const Checkpoint &ckpt,
                           StringRef path)
    : ctx(ctx), ckpt(ckpt), path(path.str()), b(&ctx),
      fileLoc(FileLineColLoc::get(&ctx, path, 0, 0)) {}

Location GraphBuilder::loc(const Twine &name) {
  return NameLoc::get(StringAttr::get(&ctx, name), fileLoc);
}

InFlightDiagnostic GraphBuilder::fileError() { return emitError(fileLoc); }

/// The location of a checkpoint tensor: its name in the file that holds it.
static Location tensorLoc(MLIRContext &ctx, const TensorRef &ref) {
  return NameLoc::get(StringAttr::get(&ctx, ref.info->name),
                      FileLineColLoc::get(&ctx, ref.file->path(), 0, 0));
}

LogicalResult GraphBuilder::require(ArrayRef<TensorSpec> specs,
                                    StringRef what) {
  SmallVector<StringRef> missing;
  for (const TensorSpec &spec : specs)
    if (!has(spec.name))
      missing.push_back(spec.name);
  if (!missing.empty()) {
    constexpr size_t kListed = 8;
    InFlightDiagnostic diag = fileError();
    diag << path << ": missing " << missing.size() << " tensor"
         << (missing.size() == 1 ? "" : "s") << " that " << what << " needs: ";
    for (size_t i = 0; i < missing.size() && i < kListed; ++i)
      diag << (i ? ", '" : "'") << missing[i] << "'";
    if (missing.size() > kListed)
      diag << " and " << (missing.size() - kListed) << " more";
    return failure();
  }
  for (const TensorSpec &spec : specs) {
    TensorRef ref = ckpt.lookup(spec.name);
    Location l = tensorLoc(ctx, ref);
    if (ArrayRef<int64_t>(ref.info->shape) != ArrayRef<int64_t>(spec.shape))
      return emitError(l) << describeTensor(ref) << " has shape "
                          << shapeString(ref.info->shape)
                          << " but config.json implies "
                          << shapeString(spec.shape);
    std::optional<DType> t = ref.info->runtimeType;
    if (!t || !isFloat(*t))
      return emitError(l) << describeTensor(ref) << " has dtype "
                          << ref.info->dtype << "; " << what
                          << " weights must be F32, F16, BF16 or F64";
  }
  return success();
}

Value GraphBuilder::toF32(Value v, Location l) {
  RankedTensorType t = typeOf(v);
  if (t.getElementType().isF32())
    return v;
  return CastOp::create(b, l, t.clone(b.getF32Type()), v);
}

/// Copies the row-major [rows, cols] matrix `in` to [cols, rows] `out`
/// (elements of `size` bytes; `in` need not be aligned), in cache tiles.
static void transposeBytes(const char *in, char *out, int64_t rows,
                           int64_t cols, size_t size) {
  constexpr int64_t kTile = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += kTile) {
    int64_t r1 = std::min(rows, r0 + kTile);
    for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
      int64_t c1 = std::min(cols, c0 + kTile);
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c)
          std::memcpy(out + (c * rows + r) * size, in + (r * cols + c) * size,
                      size);
    }
  }
}

Value GraphBuilder::rawConstant(const TensorRef &ref, bool transposed) {
  const TensorInfo &info = *ref.info;
  Location l = tensorLoc(ctx, ref);
  // require() accepted only floating-point tensors.
  Type et = elementTypeFor(ctx, *info.runtimeType);
  SmallVector<int64_t> shape(info.shape.begin(), info.shape.end());
  if (transposed)
    std::swap(shape[0], shape[1]);
  auto type = RankedTensorType::get(shape, et);
  // After an error: a zero constant of the right type keeps the builder
  // going so every problem is reported once; the import then fails.
  auto errorValue = [&]() -> Value {
    hadError = true;
    return ConstantOp::create(b, l,
                              DenseElementsAttr::get(type, b.getZeroAttr(et)));
  };

  if (!transposed || info.numElements() == 0) {
    FailureOr<ElementsAttr> attr = tensorAttr(ctx, ref, l);
    if (failed(attr))
      return errorValue();
    if (transposed)
      attr = emptyAttr(type);
    return ConstantOp::create(b, l, *attr);
  }

  // Materialize W^T: qopt.matmul wants its weight as a constant [K, N], and
  // weight quantization works on exactly that constant. The copy is owned
  // by the blob (as much memory as the weight itself; the original mapping
  // is not referenced).
  size_t size = dtypeSize(*info.runtimeType);
  auto owned = allocateBlob(info.byteSize(), size);
  if (!owned) {
    allocationError(l, info.byteSize(),
                    "the transposed copy of " + describeTensor(ref));
    return errorValue();
  }
  transposeBytes(info.data, owned->second, info.shape[0], info.shape[1], size);
  auto attr = DenseResourceElementsAttr::get(type, blobKey(info.name + ".T"),
                                             std::move(owned->first));
  return ConstantOp::create(b, l, attr);
}

Value GraphBuilder::weight(StringRef name) {
  auto it = weights.find(name);
  if (it != weights.end())
    return it->second;
  TensorRef ref = ckpt.lookup(name);
  Value v = toF32(rawConstant(ref, /*transposed=*/false), tensorLoc(ctx, ref));
  weights[name] = v;
  return v;
}

Value GraphBuilder::linearWeight(StringRef name) {
  auto it = transposedWeights.find(name);
  if (it != transposedWeights.end())
    return it->second;
  TensorRef ref = ckpt.lookup(name);
  Value v = toF32(rawConstant(ref, /*transposed=*/true), tensorLoc(ctx, ref));
  transposedWeights[name] = v;
  return v;
}

OwningOpRef<ModuleOp> GraphBuilder::createModule(StringRef modelType) {
  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
  Operation *op = module->getOperation();
  op->setAttr("qopt.source", b.getStringAttr(path));
  op->setAttr("qopt.format", b.getStringAttr("safetensors"));
  op->setAttr("qopt.model_type", b.getStringAttr(modelType));
  return module;
}

func::FuncOp
GraphBuilder::createMain(ModuleOp module,
                         ArrayRef<std::pair<std::string, Type>> args) {
  SmallVector<Type> types;
  for (const auto &[name, type] : args)
    types.push_back(type);
  b.setInsertionPointToEnd(module.getBody());
  auto func =
      func::FuncOp::create(b, fileLoc, "main", b.getFunctionType(types, {}));
  Block *body = func.addEntryBlock();
  for (auto [i, arg] : llvm::enumerate(args)) {
    func.setArgAttr(i, "qopt.name", b.getStringAttr(arg.first));
    body->getArgument(i).setLoc(loc(arg.first));
  }
  b.setInsertionPointToStart(body);
  return func;
}

void GraphBuilder::finishMain(func::FuncOp func,
                              ArrayRef<std::pair<std::string, Value>> results) {
  SmallVector<Value> values;
  SmallVector<Type> types;
  for (const auto &[name, v] : results) {
    values.push_back(v);
    types.push_back(v.getType());
  }
  func::ReturnOp::create(b, fileLoc, values);
  func.setFunctionType(
      b.getFunctionType(func.getFunctionType().getInputs(), types));
  for (auto [i, r] : llvm::enumerate(results))
    func.setResultAttr(i, "qopt.name", b.getStringAttr(r.first));
}

Value GraphBuilder::tableF32(ArrayRef<int64_t> shape, StringRef blobName,
                             Location l,
                             llvm::function_ref<void(float *)> fill) {
  auto type = RankedTensorType::get(shape, b.getF32Type());
  size_t bytes = static_cast<size_t>(type.getNumElements()) * sizeof(float);
  auto owned = allocateBlob(bytes, alignof(float));
  if (!owned) {
    allocationError(l, bytes, "the constant table '" + blobName + "'");
    hadError = true;
    return ConstantOp::create(
        b, l, DenseElementsAttr::get(type, b.getF32FloatAttr(0).getValue()));
  }
  fill(reinterpret_cast<float *>(owned->second));
  return ConstantOp::create(
      b, l,
      DenseResourceElementsAttr::get(type, blobKey(blobName),
                                     std::move(owned->first)));
}

Value GraphBuilder::scalarF32(float v, Location l) {
  auto type = RankedTensorType::get({}, b.getF32Type());
  return ConstantOp::create(b, l, DenseElementsAttr::get(type, APFloat(v)));
}

Value GraphBuilder::linear(Value x, StringRef module, bool bias) {
  Location l = loc(module);
  Value y = MatMulOp::create(b, l, x, linearWeight((module + ".weight").str()));
  if (bias)
    y = AddOp::create(b, l, y, weight((module + ".bias").str()));
  return y;
}

Value GraphBuilder::reshape(Value x, ArrayRef<int64_t> shape, Location l) {
  return ReshapeOp::create(b, l, typeOf(x).clone(shape), x);
}

Value GraphBuilder::transpose(Value x, ArrayRef<int64_t> perm, Location l) {
  return TransposeOp::create(b, l, x, perm);
}

Value GraphBuilder::sliceAxis(Value x, int64_t axis, int64_t begin, int64_t end,
                              Location l) {
  ArrayRef<int64_t> shape = typeOf(x).getShape();
  SmallVector<int64_t> starts(shape.size(), 0), ends(shape),
      steps(shape.size(), 1);
  starts[axis] = begin;
  ends[axis] = end;
  return SliceOp::create(b, l, x, starts, ends, steps);
}

//===----------------------------------------------------------------------===//
// Weights-only modules
//===----------------------------------------------------------------------===//

/// @main() returning every tensor of the checkpoint as a named constant, in
/// Checkpoint::tensorNames() order (files by name, header order within).
static FailureOr<OwningOpRef<ModuleOp>> importWeightsOnly(GraphBuilder &g,
                                                          const Twine &reason) {
  OwningOpRef<ModuleOp> module = g.createModule("weights");
  func::FuncOp func = g.createMain(*module, {});
  SmallVector<std::pair<std::string, Value>> results;
  for (const std::string &name : g.ckpt.tensorNames()) {
    TensorRef ref = g.ckpt.lookup(name);
    Location l = tensorLoc(g.ctx, ref);
    FailureOr<ElementsAttr> attr = tensorAttr(g.ctx, ref, l);
    if (failed(attr))
      return failure();
    results.emplace_back(name, ConstantOp::create(g.b, l, *attr));
  }
  g.finishMain(func, results);
  size_t n = results.size();
  emitRemark(g.fileLoc) << reason << "; imported " << n << " tensor"
                        << (n == 1 ? "" : "s") << " as weights only";
  return module;
}

//===----------------------------------------------------------------------===//
// Model selection
//===----------------------------------------------------------------------===//

namespace {
enum class ModelKind { Llama, Bert, Unsupported };
} // namespace

/// Picks the model config.json describes. "architectures" wins; without a
/// supported architecture, model_type "llama" / "bert" still selects the
/// graph (a BertForMaskedLM checkpoint imports as its BertModel encoder).
static FailureOr<ModelKind> selectModel(ConfigReader &config,
                                        std::string &description) {
  SmallVector<std::string> archs;
  if (const llvm::json::Value *v = config.get("architectures")) {
    const llvm::json::Array *a = v->getAsArray();
    if (!a) {
      config.error() << config.path()
                     << ": 'architectures' must be a list of strings";
      return failure();
    }
    for (const llvm::json::Value &e : *a) {
      std::optional<StringRef> s = e.getAsString();
      if (!s) {
        config.error() << config.path()
                       << ": 'architectures' must be a list of strings";
        return failure();
      }
      archs.push_back(s->str());
    }
  }
  FailureOr<std::string> modelType = config.string("model_type", "");
  if (failed(modelType))
    return failure();

  description = "architectures [" + llvm::join(archs, ", ") +
                "], model_type '" + *modelType + "'";
  if (llvm::is_contained(archs, "LlamaForCausalLM"))
    return ModelKind::Llama;
  if (llvm::is_contained(archs, "BertModel"))
    return ModelKind::Bert;
  if (*modelType == "llama")
    return ModelKind::Llama;
  if (*modelType == "bert")
    return ModelKind::Bert;
  return ModelKind::Unsupported;
}

//===----------------------------------------------------------------------===//
// Public API
//===----------------------------------------------------------------------===//

FailureOr<OwningOpRef<ModuleOp>>
qopt::importSafeTensors(MLIRContext &context, StringRef fileOrDir,
                        const SafeTensorsImportOptions &options) {
  context.getOrLoadDialect<QOptDialect>();
  context.getOrLoadDialect<func::FuncDialect>();
  Location fileLoc = FileLineColLoc::get(&context, fileOrDir, 0, 0);

  llvm::Expected<std::unique_ptr<Checkpoint>> ckpt =
      Checkpoint::open(fileOrDir);
  if (!ckpt)
    return emitError(fileLoc) << llvm::toString(ckpt.takeError());
  GraphBuilder g(context, **ckpt, fileOrDir);

  const llvm::json::Object *configObj = (*ckpt)->config();
  if (options.weightsOnly)
    return importWeightsOnly(g, "weights-only import requested");
  if (!configObj)
    return importWeightsOnly(g, "config.json not found in " +
                                    (*ckpt)->directory().str());

  llvm::SmallString<256> configPath((*ckpt)->directory());
  llvm::sys::path::append(configPath, "config.json");
  ConfigReader config(context, *configObj, configPath.str().str());
  std::string description;
  FailureOr<ModelKind> kind = selectModel(config, description);
  if (failed(kind))
    return failure();
  if (*kind == ModelKind::Unsupported)
    return importWeightsOnly(
        g, configPath.str() +
               " describes an unsupported "
               "model (" +
               description + "; supported: LlamaForCausalLM, BertModel)");

  if (options.seqLen < 1 || options.seqLen >= kMaxConfigInt)
    return emitError(fileLoc)
           << "the sequence length must be in [1, 2^31), got "
           << options.seqLen;
  if (options.batch < 1 || options.batch >= kMaxConfigInt)
    return emitError(fileLoc)
           << "the batch size must be in [1, 2^31), got " << options.batch;

  FailureOr<OwningOpRef<ModuleOp>> module = *kind == ModelKind::Llama
                                                ? buildLlama(g, config, options)
                                                : buildBert(g, config, options);
  if (failed(module))
    return failure();
  if (failed(mlir::verify(**module)))
    return failure();
  return module;
}
