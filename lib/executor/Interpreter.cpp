//===- Interpreter.cpp - reference executor for qopt modules ---------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#include "qopt/executor/Interpreter.h"

#include "qopt/dialects/qopt/QOptOps.h"
#include "qopt/executor/Kernels.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace qopt;
using llvm::Error;
using llvm::Expected;

static Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

/// "'qopt.matmul' (fc1)" — how an op is named in runtime errors.
static std::string describeOp(Operation *op) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << "'" << op->getName() << "'";
  Location loc = op->getLoc();
  if (auto fused = dyn_cast<FusedLoc>(loc))
    if (!fused.getLocations().empty())
      loc = fused.getLocations().front();
  if (auto name = dyn_cast<NameLoc>(loc))
    os << " (" << name.getName().getValue() << ")";
  else if (auto file = dyn_cast<FileLineColLoc>(loc))
    os << " at " << file.getFilename().getValue() << ":" << file.getLine();
  return s;
}

std::optional<DType> qopt::runtimeDType(Type t) {
  if (auto q = dyn_cast<quant::QuantizedType>(t)) {
    unsigned w = q.getStorageTypeIntegralWidth();
    bool s = q.isSigned();
    if (w <= 8)
      return s ? DType::I8 : DType::U8;
    if (w <= 16)
      return s ? DType::I16 : DType::U16;
    if (w <= 32)
      return s ? DType::I32 : DType::U32;
    return std::nullopt;
  }
  if (t.isF32())
    return DType::F32;
  if (t.isF64())
    return DType::F64;
  if (t.isF16())
    return DType::F16;
  if (t.isBF16())
    return DType::BF16;
  if (auto it = dyn_cast<IntegerType>(t)) {
    bool u = it.isUnsigned();
    if (it.getWidth() > 1 && it.getWidth() < 8) // sub-byte storage: one
      return u ? DType::U8 : DType::I8;         // element per byte at run time
    switch (it.getWidth()) {
    case 1:
      return DType::Bool;
    case 8:
      return u ? DType::U8 : DType::I8;
    case 16:
      return u ? DType::U16 : DType::I16;
    case 32:
      return u ? DType::U32 : DType::I32;
    case 64:
      return u ? DType::U64 : DType::I64;
    default:
      return std::nullopt;
    }
  }
  return std::nullopt;
}

static std::vector<int64_t> toVector(ArrayRef<int64_t> a) {
  return std::vector<int64_t>(a.begin(), a.end());
}

Expected<Tensor> qopt::tensorFromAttr(ElementsAttr attr) {
  auto type = cast<ShapedType>(attr.getType());
  auto dtype = runtimeDType(type.getElementType());
  if (!dtype)
    return makeError("constant of unsupported element type " +
                     llvm::formatv("{0}", type.getElementType()).str());
  std::vector<int64_t> shape = toVector(type.getShape());
  unsigned width = type.getElementType().isIntOrFloat()
                       ? type.getElementType().getIntOrFloatBitWidth()
                       : 8;
  bool subByte = width > 1 && width < 8 &&
                 isa<IntegerType>(type.getElementType());
  if (subByte) {
    bool isSigned = !type.getElementType().isUnsignedInteger();
    if (auto res = dyn_cast<DenseResourceElementsAttr>(attr)) {
      if (width != 2 && width != 4)
        return makeError(llvm::formatv("constant resource '{0}': packed "
                                       "{1}-bit blobs are not supported (2 "
                                       "and 4 bits are)",
                                       res.getRawHandle().getKey(), width)
                             .str());
      // Packed, see packSubByte.
      AsmResourceBlob *blob = res.getRawHandle().getBlob();
      if (!blob)
        return makeError("constant resource '" + res.getRawHandle().getKey() +
                         "' has no data");
      ArrayRef<char> data = blob->getData();
      size_t want = packedByteSize(type.getNumElements(), width);
      if (data.size() != want)
        return makeError(llvm::formatv("constant resource '{0}' holds {1} "
                                       "bytes but its packed {2}-bit type "
                                       "needs {3}",
                                       res.getRawHandle().getKey(),
                                       data.size(), width, want)
                             .str());
      return unpackSubByte(reinterpret_cast<const uint8_t *>(data.data()),
                           data.size(), width, isSigned, shape);
    }
    auto dense = dyn_cast<DenseIntElementsAttr>(attr);
    if (!dense)
      return makeError("unsupported sub-byte constant attribute kind");
    Tensor t(isSigned ? DType::I8 : DType::U8, shape);
    int64_t i = 0;
    for (const APInt &v : dense.getValues<APInt>())
      t.setFromDouble(i++, isSigned ? static_cast<double>(v.getSExtValue())
                                    : static_cast<double>(v.getZExtValue()));
    return t;
  }
  Tensor t(*dtype, shape);
  size_t elemSize = dtypeSize(*dtype);
  if (auto res = dyn_cast<DenseResourceElementsAttr>(attr)) {
    AsmResourceBlob *blob = res.getRawHandle().getBlob();
    if (!blob)
      return makeError("constant resource '" + res.getRawHandle().getKey() +
                       "' has no data");
    ArrayRef<char> data = blob->getData();
    if (data.size() != t.byteSize())
      return makeError(llvm::formatv("constant resource '{0}' holds {1} bytes "
                                     "but its type needs {2}",
                                     res.getRawHandle().getKey(), data.size(),
                                     t.byteSize())
                           .str());
    if (*dtype == DType::Bool) {
      uint8_t *out = static_cast<uint8_t *>(t.mutableRawData());
      for (size_t i = 0; i < data.size(); ++i)
        out[i] = data[i] != 0;
      return t;
    }
    // Borrow: the blob lives as long as the module's context.
    return Tensor::borrow(*dtype, shape, data.data(), nullptr);
  }
  auto dense = dyn_cast<DenseElementsAttr>(attr);
  if (!dense)
    return makeError("unsupported constant attribute kind");
  if (*dtype == DType::Bool) {
    uint8_t *out = static_cast<uint8_t *>(t.mutableRawData());
    int64_t i = 0;
    for (bool b : dense.getValues<bool>())
      out[i++] = b;
    return t;
  }
  ArrayRef<char> raw = dense.getRawData();
  char *out = static_cast<char *>(t.mutableRawData());
  if (dense.isSplat()) {
    if (raw.size() < elemSize)
      return makeError("malformed splat constant");
    for (int64_t i = 0; i < t.numElements(); ++i)
      std::memcpy(out + i * elemSize, raw.data(), elemSize);
  } else {
    if (raw.size() != t.byteSize())
      return makeError("malformed dense constant");
    std::memcpy(out, raw.data(), raw.size());
  }
  return t;
}

//===----------------------------------------------------------------------===//
// Quantization parameters from !quant types
//===----------------------------------------------------------------------===//

namespace {
struct QuantParams {
  Tensor scale;     // F32
  Tensor zeroPoint; // storage dtype, scale's shape
  int64_t axis = 1;
  int64_t blockSize = 0;
  DType storage = DType::I8;
  int64_t qmin = 0, qmax = 0;
};
} // namespace

static Tensor scalarF32(float v) {
  Tensor t(DType::F32, {});
  *t.mutableData<float>() = v;
  return t;
}

static Expected<QuantParams> quantParams(quant::QuantizedType qt,
                                         ArrayRef<int64_t> shape) {
  QuantParams p;
  p.storage = *runtimeDType(qt);
  p.qmin = qt.getStorageTypeMin();
  p.qmax = qt.getStorageTypeMax();
  if (auto u = dyn_cast<quant::UniformQuantizedType>(qt)) {
    p.scale = scalarF32(static_cast<float>(u.getScale()));
    p.zeroPoint = Tensor(p.storage, {});
    p.zeroPoint.setFromDouble(0, static_cast<double>(u.getZeroPoint()));
    return p;
  }
  if (auto pa = dyn_cast<quant::UniformQuantizedPerAxisType>(qt)) {
    int64_t n = pa.getScales().size();
    p.axis = pa.getQuantizedDimension();
    p.scale = Tensor(DType::F32, {n});
    p.zeroPoint = Tensor(p.storage, {n});
    for (int64_t i = 0; i < n; ++i) {
      p.scale.mutableData<float>()[i] = static_cast<float>(pa.getScales()[i]);
      p.zeroPoint.setFromDouble(i, static_cast<double>(pa.getZeroPoints()[i]));
    }
    return p;
  }
  auto sc = dyn_cast<quant::UniformQuantizedSubChannelType>(qt);
  if (!sc)
    return makeError("unsupported quantized type");
  // Sub-channel: one dim may be blocked (block > 1); the kernels want the
  // scale tensor with x's rank, the blocked dim shortened and every other dim
  // equal to x's, so dims with a single scale are broadcast.
  int64_t rank = shape.size();
  SmallVector<int64_t> block(rank, 0);
  for (auto [d, b] : llvm::zip(sc.getQuantizedDimensions(), sc.getBlockSizes()))
    block[d] = b;
  auto scalesShape = sc.getScales().getType().getShape();
  if (static_cast<int64_t>(scalesShape.size()) != rank)
    return makeError("sub-channel scales have the wrong rank");
  int64_t blockedAxis = -1;
  for (int64_t d = 0; d < rank; ++d) {
    if (block[d] == 0) // not listed: one scale per element, or one in all
      block[d] = scalesShape[d] == shape[d] ? 1 : std::max<int64_t>(shape[d], 1);
    if (block[d] > 1 && block[d] < shape[d]) {
      if (blockedAxis >= 0)
        return makeError("sub-channel types blocked along more than one "
                         "dimension are not executable");
      blockedAxis = d;
    }
  }
  if (blockedAxis < 0)
    blockedAxis = 0;
  p.axis = blockedAxis;
  p.blockSize = block[blockedAxis];
  std::vector<int64_t> pshape(shape.begin(), shape.end());
  pshape[blockedAxis] = (shape[blockedAxis] + p.blockSize - 1) / p.blockSize;
  p.scale = Tensor(DType::F32, pshape);
  p.zeroPoint = Tensor(p.storage, pshape);
  auto scales = sc.getScales();
  auto zps = sc.getZeroPoints();
  auto sShape = scales.getType().getShape();
  std::vector<int64_t> sStrides = rowMajorStrides(toVector(sShape));
  std::vector<int64_t> pStrides = rowMajorStrides(pshape);
  SmallVector<APFloat> sv(scales.getValues<APFloat>());
  SmallVector<APInt> zv(zps.getValues<APInt>());
  for (int64_t i = 0; i < p.scale.numElements(); ++i) {
    int64_t rem = i, src = 0;
    for (int64_t d = 0; d < rank; ++d) {
      int64_t idx = rem / pStrides[d];
      rem %= pStrides[d];
      int64_t elem = d == blockedAxis ? idx * p.blockSize : idx;
      src += (elem / block[d]) * sStrides[d];
    }
    p.scale.mutableData<float>()[i] = sv[src].convertToFloat();
    p.zeroPoint.setFromDouble(i, static_cast<double>(zv[src].getSExtValue()));
  }
  return p;
}

//===----------------------------------------------------------------------===//
// Interpreter
//===----------------------------------------------------------------------===//

static std::string ioName(func::FuncOp fn, unsigned i, bool result) {
  DictionaryAttr attrs = result ? fn.getResultAttrDict(i) : fn.getArgAttrDict(i);
  if (attrs)
    if (auto name = attrs.getAs<StringAttr>("qopt.name"))
      return name.str();
  return (result ? "output_" : "input_") + std::to_string(i);
}

/// Checks that every op of `block` (and of the bodies of its `qopt.fused`
/// ops) is executable and materializes its constants into `constants`.
static Error prepareBlock(Block &block,
                          llvm::DenseMap<Operation *, Tensor> &constants) {
  for (Operation &op : block) {
    if (isa<func::ReturnOp, YieldOp>(op))
      continue;
    if (op.getDialect() && !isa<QOptDialect>(op.getDialect()) &&
        !isa<quant::StorageCastOp>(op))
      return makeError(describeOp(&op) + " is not executable by the reference "
                                         "executor");
    if (auto fused = dyn_cast<FusedOp>(op)) {
      if (Error e = prepareBlock(fused.getBodyBlock(), constants))
        return e;
    } else if (op.getNumRegions() != 0) {
      return makeError(describeOp(&op) + " has regions; not executable");
    }
    for (Type t : op.getResultTypes()) {
      auto rt = dyn_cast<RankedTensorType>(t);
      if (!rt || !runtimeDType(rt.getElementType()))
        return makeError(describeOp(&op) + ": result type " +
                         llvm::formatv("{0}", t).str() +
                         " has no runtime representation");
    }
    if (auto c = dyn_cast<qopt::ConstantOp>(op)) {
      auto t = tensorFromAttr(c.getValue());
      if (!t)
        return makeError(describeOp(&op) + ": " + toString(t.takeError()));
      constants[&op] = std::move(*t);
    }
  }
  return Error::success();
}

Expected<std::unique_ptr<Interpreter>> Interpreter::create(ModuleOp module,
                                                           StringRef function) {
  func::FuncOp fn;
  SmallVector<func::FuncOp> fns(module.getOps<func::FuncOp>());
  if (!function.empty()) {
    fn = module.lookupSymbol<func::FuncOp>(function);
    if (!fn)
      return makeError("no function named '" + function + "' in the module");
  } else if (auto main = module.lookupSymbol<func::FuncOp>("main")) {
    fn = main;
  } else if (fns.size() == 1) {
    fn = fns.front();
  } else {
    return makeError("the module has no 'main' function; name the function "
                     "to run");
  }
  if (fn.isExternal())
    return makeError("function '" + fn.getSymName() + "' has no body");
  if (!fn.getBody().hasOneBlock())
    return makeError("function '" + fn.getSymName() +
                     "' must have a single block");

  std::unique_ptr<Interpreter> interp(new Interpreter());
  interp->function_ = fn;
  auto fnType = fn.getFunctionType();
  for (auto [i, t] : llvm::enumerate(fnType.getInputs())) {
    auto rt = dyn_cast<RankedTensorType>(t);
    if (!rt || !runtimeDType(rt.getElementType()))
      return makeError(llvm::formatv("argument {0} of '{1}' has unsupported "
                                     "type {2}",
                                     i, fn.getSymName(), t)
                           .str());
    interp->inputs_.push_back({ioName(fn, i, false), rt});
  }
  for (auto [i, t] : llvm::enumerate(fnType.getResults())) {
    auto rt = dyn_cast<RankedTensorType>(t);
    if (!rt || !runtimeDType(rt.getElementType()))
      return makeError(llvm::formatv("result {0} of '{1}' has unsupported type "
                                     "{2}",
                                     i, fn.getSymName(), t)
                           .str());
    interp->outputs_.push_back({ioName(fn, i, true), rt});
  }
  // Check every op up front, so a model fails before it runs, not midway.
  if (Error e = prepareBlock(fn.getBody().front(), interp->constants_))
    return std::move(e);
  return interp;
}

namespace {
/// Executes one op; `in` are its operand values (null for absent optional
/// operands is not possible here: optional operands are simply missing).
class OpRunner {
public:
  OpRunner(llvm::DenseMap<Value, Tensor> &env) : env(env) {}

  const Tensor &get(Value v) { return env.find(v)->second; }
  const Tensor *getOpt(Value v) { return v ? &get(v) : nullptr; }

  Expected<SmallVector<Tensor>> run(Operation *op);

private:
  llvm::DenseMap<Value, Tensor> &env;
};
} // namespace

template <typename T>
static std::array<int64_t, 2> arr2(ArrayRef<T> a) {
  return {a[0], a[1]};
}
template <typename T>
static std::array<int64_t, 4> arr4(ArrayRef<T> a) {
  return {a[0], a[1], a[2], a[3]};
}

static Expected<SmallVector<Tensor>> one(Expected<Tensor> t) {
  if (!t)
    return t.takeError();
  SmallVector<Tensor> v;
  v.push_back(std::move(*t));
  return v;
}

static DType resultDType(Operation *op, unsigned i = 0) {
  return *runtimeDType(
      cast<ShapedType>(op->getResult(i).getType()).getElementType());
}

/// Shape for a reshape: the result type's dims, with at most one dynamic dim
/// computed from the element count.
static Expected<std::vector<int64_t>> reshapeTarget(RankedTensorType type,
                                                    const Tensor &in) {
  std::vector<int64_t> shape = toVector(type.getShape());
  int64_t known = 1, dyn = -1;
  for (auto [i, d] : llvm::enumerate(shape)) {
    if (ShapedType::isDynamic(d)) {
      if (dyn >= 0)
        return makeError("reshape to a type with more than one dynamic dim");
      dyn = i;
    } else {
      known *= d;
    }
  }
  if (dyn >= 0) {
    if (known == 0 || in.numElements() % known != 0)
      return makeError("cannot infer the dynamic dim of the reshape");
    shape[dyn] = in.numElements() / known;
  }
  auto n = checkedNumElements(shape);
  if (!n || *n != in.numElements())
    return makeError("reshape of " + in.describe() + " to " +
                     llvm::formatv("{0}", type).str() +
                     " changes the element count");
  return shape;
}

static kernels::Conv2DOptions convOptions(ArrayRef<int64_t> strides,
                                          ArrayRef<int64_t> pads,
                                          ArrayRef<int64_t> dilations,
                                          int64_t groups) {
  kernels::Conv2DOptions o;
  o.strides = arr2(strides);
  o.pads = arr4(pads);
  o.dilations = arr2(dilations);
  o.group = groups;
  return o;
}

/// The zero point of a per-tensor or per-axis quantized operand of an integer
/// op, as the kernels want it (scalar, or 1-D along `wantAxis`).
static Expected<std::optional<Tensor>> zeroPointFromType(Value v,
                                                         int64_t wantAxis) {
  auto qt = dyn_cast<quant::QuantizedType>(
      cast<ShapedType>(v.getType()).getElementType());
  if (!qt)
    return std::optional<Tensor>();
  auto shape = cast<ShapedType>(v.getType()).getShape();
  if (isa<quant::UniformQuantizedSubChannelType>(qt))
    return makeError("sub-channel quantized operands of integer ops are not "
                     "executable; dequantize them first");
  if (auto pa = dyn_cast<quant::UniformQuantizedPerAxisType>(qt))
    if (pa.getQuantizedDimension() != wantAxis)
      return makeError(
          llvm::formatv("per-axis zero points along dim {0} are not supported "
                        "here (need dim {1})",
                        pa.getQuantizedDimension(), wantAxis)
              .str());
  auto p = quantParams(qt, shape);
  if (!p)
    return p.takeError();
  return std::optional<Tensor>(std::move(p->zeroPoint));
}

Expected<SmallVector<Tensor>> OpRunner::run(Operation *op) {
  using namespace kernels;
  return llvm::TypeSwitch<Operation *, Expected<SmallVector<Tensor>>>(op)
      .Case([&](MatMulOp o) {
        return one(matmul(get(o.getLhs()), get(o.getRhs())));
      })
      .Case([&](BatchMatMulOp o) {
        return one(matmul(get(o.getLhs()), get(o.getRhs())));
      })
      .Case([&](GemmOp o) {
        return one(gemm(get(o.getA()), get(o.getB()), getOpt(o.getC()),
                        o.getAlpha().convertToFloat(),
                        o.getBeta().convertToFloat(), o.getTransA(),
                        o.getTransB()));
      })
      .Case([&](Conv2DOp o) {
        return one(conv2d(get(o.getInput()), get(o.getFilter()),
                          getOpt(o.getBias()),
                          convOptions(o.getStrides(), o.getPads(),
                                      o.getDilations(), o.getGroups())));
      })
      .Case([&](MaxPool2DOp o) {
        Pool2DOptions p;
        p.kernel = arr2(o.getKernelShape());
        p.strides = arr2(o.getStrides());
        p.pads = arr4(o.getPads());
        p.dilations = arr2(o.getDilations());
        p.ceilMode = o.getCeilMode();
        return one(maxPool2d(get(o.getInput()), p));
      })
      .Case([&](AvgPool2DOp o) {
        Pool2DOptions p;
        p.kernel = arr2(o.getKernelShape());
        p.strides = arr2(o.getStrides());
        p.pads = arr4(o.getPads());
        p.ceilMode = o.getCeilMode();
        p.countIncludePad = o.getCountIncludePad();
        return one(avgPool2d(get(o.getInput()), p));
      })
      .Case([&](GlobalAvgPoolOp o) {
        return one(globalAvgPool(get(o.getInput())));
      })
      .Case([&](AddOp o) { return one(add(get(o.getLhs()), get(o.getRhs()))); })
      .Case([&](SubOp o) { return one(sub(get(o.getLhs()), get(o.getRhs()))); })
      .Case([&](MulOp o) { return one(mul(get(o.getLhs()), get(o.getRhs()))); })
      .Case([&](DivOp o) { return one(div(get(o.getLhs()), get(o.getRhs()))); })
      .Case([&](PowOp o) { return one(pow(get(o.getLhs()), get(o.getRhs()))); })
      .Case([&](SqrtOp o) { return one(sqrt(get(o.getInput()))); })
      .Case([&](ExpOp o) { return one(exp(get(o.getInput()))); })
      .Case([&](ErfOp o) { return one(erf(get(o.getInput()))); })
      .Case([&](TanhOp o) { return one(tanh(get(o.getInput()))); })
      .Case([&](SigmoidOp o) { return one(sigmoid(get(o.getInput()))); })
      .Case([&](ReluOp o) { return one(relu(get(o.getInput()))); })
      .Case([&](SiluOp o) { return one(silu(get(o.getInput()))); })
      .Case([&](NegOp o) { return one(neg(get(o.getInput()))); })
      .Case([&](GeluOp o) {
        return one(gelu(get(o.getInput()), o.getApproximate() == "tanh"
                                               ? GeluApproximation::Tanh
                                               : GeluApproximation::None));
      })
      .Case([&](SoftmaxOp o) {
        return one(softmax(get(o.getInput()), o.getAxis()));
      })
      .Case([&](LayerNormOp o) {
        return one(layerNorm(get(o.getInput()), get(o.getScale()),
                             getOpt(o.getBias()), o.getAxis(),
                             o.getEpsilon().convertToFloat()));
      })
      .Case([&](RMSNormOp o) {
        return one(rmsNorm(get(o.getInput()), get(o.getScale()), o.getAxis(),
                           o.getEpsilon().convertToFloat()));
      })
      .Case([&](ReduceMeanOp o) {
        return one(reduceMean(get(o.getInput()), o.getAxes(), o.getKeepdims()));
      })
      .Case([&](ReduceSumOp o) {
        return one(reduceSum(get(o.getInput()), o.getAxes(), o.getKeepdims()));
      })
      .Case([&](ReduceMaxOp o) {
        return one(reduceMax(get(o.getInput()), o.getAxes(), o.getKeepdims()));
      })
      .Case([&](ReshapeOp o) -> Expected<SmallVector<Tensor>> {
        const Tensor &in = get(o.getInput());
        auto shape = reshapeTarget(o.getType(), in);
        if (!shape)
          return shape.takeError();
        return one(in.reshaped(*shape));
      })
      .Case([&](TransposeOp o) {
        return one(transpose(get(o.getInput()), o.getPerm()));
      })
      .Case([&](ConcatOp o) {
        SmallVector<Tensor> ins;
        for (Value v : o.getInputs())
          ins.push_back(get(v));
        return one(concat(ins, o.getAxis()));
      })
      .Case([&](SliceOp o) {
        return one(slice(get(o.getInput()), o.getStarts(), o.getEnds(),
                         o.getSteps()));
      })
      .Case([&](GatherOp o) {
        return one(gather(get(o.getData()), get(o.getIndices()), o.getAxis()));
      })
      .Case([&](WhereOp o) {
        return one(where(get(o.getCondition()), get(o.getTrueValue()),
                         get(o.getFalseValue())));
      })
      .Case([&](CastOp o) {
        return one(cast(get(o.getInput()), resultDType(o)));
      })
      .Case([&](ObserveOp o) { return one(get(o.getInput())); })
      .Case([&](quant::StorageCastOp o) -> Expected<SmallVector<Tensor>> {
        const Tensor &in = get(o.getInput());
        if (in.dtype() != resultDType(o))
          return makeError("storage cast changes the storage dtype");
        return one(in);
      })
      .Case([&](QuantizeOp o) -> Expected<SmallVector<Tensor>> {
        const Tensor &x = get(o.getInput());
        if (o.getScale())
          return one(quantizeLinear(x, get(o.getScale()),
                                    getOpt(o.getZeroPoint()), o.getAxis(),
                                    o.getBlockSize(), resultDType(o)));
        auto qt = cast<quant::QuantizedType>(o.getType().getElementType());
        auto p = quantParams(qt, x.shape());
        if (!p)
          return p.takeError();
        return one(quantizeLinear(x, p->scale, &p->zeroPoint, p->axis,
                                  p->blockSize, p->storage, p->qmin, p->qmax));
      })
      .Case([&](DequantizeOp o) -> Expected<SmallVector<Tensor>> {
        const Tensor &q = get(o.getInput());
        Expected<Tensor> r = [&]() -> Expected<Tensor> {
          if (o.getScale())
            return dequantizeLinear(q, get(o.getScale()),
                                    getOpt(o.getZeroPoint()), o.getAxis(),
                                    o.getBlockSize());
          auto qt = cast<quant::QuantizedType>(
              o.getInput().getType().getElementType());
          auto p = quantParams(qt, q.shape());
          if (!p)
            return p.takeError();
          return dequantizeLinear(q, p->scale, &p->zeroPoint, p->axis,
                                  p->blockSize);
        }();
        if (!r)
          return r.takeError();
        return one(cast(*r, resultDType(o)));
      })
      .Case([&](RequantizeOp o) -> Expected<SmallVector<Tensor>> {
        const Tensor &acc = get(o.getInput());
        if (o.getMultiplier()) {
          Expected<Tensor> acc32 = cast(acc, DType::I32);
          if (!acc32)
            return acc32.takeError();
          return one(requantize(*acc32, get(o.getMultiplier()),
                                getOpt(o.getZeroPoint()), o.getAxis(),
                                resultDType(o)));
        }
        auto qi = cast<quant::QuantizedType>(
            o.getInput().getType().getElementType());
        auto qo = cast<quant::QuantizedType>(o.getType().getElementType());
        auto pi = quantParams(qi, acc.shape());
        if (!pi)
          return pi.takeError();
        auto po = quantParams(qo, acc.shape());
        if (!po)
          return po.takeError();
        // Center the input on its zero point (exact in int32), then scale.
        Expected<Tensor> centered = cast(acc, DType::I32);
        if (!centered)
          return centered.takeError();
        Expected<Tensor> zpIn = cast(pi->zeroPoint, DType::I32);
        if (!zpIn)
          return zpIn.takeError();
        int64_t axis = pi->scale.numElements() > 1 ? pi->axis : po->axis;
        bool perAxis =
            pi->scale.numElements() > 1 || po->scale.numElements() > 1;
        if (pi->scale.numElements() > 1) {
          std::vector<int64_t> bshape(acc.rank(), 1);
          bshape[axis] = pi->scale.numElements();
          *zpIn = zpIn->reshaped(bshape);
        }
        centered = sub(*centered, *zpIn);
        if (!centered)
          return centered.takeError();
        int64_t n = perAxis ? acc.dim(axis) : 1;
        Tensor mult(DType::F32, perAxis ? std::vector<int64_t>{n}
                                        : std::vector<int64_t>{});
        Tensor zpOut(po->storage, perAxis ? std::vector<int64_t>{n}
                                          : std::vector<int64_t>{});
        for (int64_t i = 0; i < n; ++i) {
          float si = pi->scale.data<float>()[pi->scale.numElements() > 1 ? i : 0];
          float so = po->scale.data<float>()[po->scale.numElements() > 1 ? i : 0];
          mult.mutableData<float>()[i] = si / so;
          zpOut.setFromDouble(
              i, po->zeroPoint.getAsDouble(po->zeroPoint.numElements() > 1 ? i
                                                                           : 0));
        }
        return one(requantize(*centered, mult, &zpOut, axis, po->storage,
                              po->qmin, po->qmax));
      })
      .Case([&](MatMulIntegerOp o) -> Expected<SmallVector<Tensor>> {
        auto lz = zeroPointFromType(
            o.getLhs(), o.getLhs().getType().getRank() - 2);
        if (!lz)
          return lz.takeError();
        auto rz = zeroPointFromType(
            o.getRhs(), o.getRhs().getType().getRank() - 1);
        if (!rz)
          return rz.takeError();
        const Tensor *azp = *lz ? &**lz : getOpt(o.getLhsZeroPoint());
        const Tensor *bzp = *rz ? &**rz : getOpt(o.getRhsZeroPoint());
        return one(matmulInteger(get(o.getLhs()), get(o.getRhs()), azp, bzp));
      })
      .Case([&](Conv2DIntegerOp o) -> Expected<SmallVector<Tensor>> {
        auto xz = zeroPointFromType(o.getInput(), 0);
        if (!xz)
          return xz.takeError();
        auto wz = zeroPointFromType(o.getFilter(), 0);
        if (!wz)
          return wz.takeError();
        const Tensor *xzp = *xz ? &**xz : getOpt(o.getInputZeroPoint());
        const Tensor *wzp = *wz ? &**wz : getOpt(o.getFilterZeroPoint());
        return one(convInteger(get(o.getInput()), get(o.getFilter()), xzp, wzp,
                               convOptions(o.getStrides(), o.getPads(),
                                           o.getDilations(), o.getGroups())));
      })
      .Case([&](DynamicQuantizeOp o) -> Expected<SmallVector<Tensor>> {
        auto r = o.getPerToken() ? dynamicQuantizePerToken(get(o.getInput()))
                                 : dynamicQuantizeLinear(get(o.getInput()));
        if (!r)
          return r.takeError();
        SmallVector<Tensor> v;
        v.push_back(std::move(r->y));
        v.push_back(std::move(r->scale));
        v.push_back(std::move(r->zeroPoint));
        return v;
      })
      .Default([&](Operation *) -> Expected<SmallVector<Tensor>> {
        return makeError("no executor implementation");
      });
}

/// Checks a runtime value against its static type.
static Error checkAgainstType(const Tensor &t, RankedTensorType type,
                              const llvm::Twine &what) {
  DType want = *runtimeDType(type.getElementType());
  if (t.dtype() != want)
    return makeError(what + " has dtype " + dtypeName(t.dtype()) +
                     " but the IR says " + dtypeName(want));
  if (t.rank() != type.getRank())
    return makeError(what + " has shape " + t.describe() + " but the IR says " +
                     llvm::formatv("{0}", type).str());
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (!type.isDynamicDim(i) && type.getDimSize(i) != t.dim(i))
      return makeError(what + " has shape " + t.describe() +
                       " but the IR says " + llvm::formatv("{0}", type).str());
  return Error::success();
}

/// Runs the ops of `body` in order on `env` (which holds the block's
/// arguments) up to its terminator (`func.return` or `qopt.yield`) and
/// returns the terminator's operand values. A `qopt.fused` op runs its body
/// the same way, in a fresh environment with the block arguments bound to
/// its operands; its results are the yielded values. The callback sees every
/// op, inside fused bodies too, and then the fused op's results.
static Expected<std::vector<Tensor>>
runBlock(Block &body, llvm::DenseMap<Value, Tensor> &env,
         const llvm::DenseMap<Operation *, Tensor> &constants,
         const Interpreter::ValueCallback &callback) {
  OpRunner runner(env);
  std::vector<Tensor> results;
  for (Operation &op : body) {
    if (isa<func::ReturnOp, YieldOp>(op)) {
      for (Value v : op.getOperands())
        results.push_back(env.find(v)->second);
      break;
    }
    SmallVector<Tensor> outs;
    auto cit = constants.find(&op);
    if (cit != constants.end()) {
      outs.push_back(cit->second);
    } else if (auto fused = dyn_cast<FusedOp>(op)) {
      Block &inner = fused.getBodyBlock();
      llvm::DenseMap<Value, Tensor> innerEnv;
      for (auto [arg, operand] :
           llvm::zip(inner.getArguments(), fused.getOperands()))
        innerEnv[arg] = env.find(operand)->second;
      auto r = runBlock(inner, innerEnv, constants, callback);
      if (!r)
        return makeError(describeOp(&op) + ": " + toString(r.takeError()));
      outs.assign(std::make_move_iterator(r->begin()),
                  std::make_move_iterator(r->end()));
    } else {
      auto r = runner.run(&op);
      if (!r)
        return makeError(describeOp(&op) + ": " + toString(r.takeError()));
      outs = std::move(*r);
    }
    if (outs.size() != op.getNumResults())
      return makeError(describeOp(&op) + ": produced the wrong number of "
                                         "results");
    for (auto [i, t] : llvm::enumerate(outs)) {
      Value res = op.getResult(i);
      if (Error e = checkAgainstType(
              t, cast<RankedTensorType>(res.getType()),
              describeOp(&op) + " result " + llvm::Twine(i)))
        return std::move(e);
      if (callback)
        callback(&op, i, t);
      env[res] = std::move(t);
    }
    // Free values whose last use was this op. (Regions are isolated from
    // above, so every user of a value of this block is in this block.)
    for (Value operand : op.getOperands()) {
      if (isa<BlockArgument>(operand))
        continue;
      bool liveLater = llvm::any_of(operand.getUsers(), [&](Operation *user) {
        return op.isBeforeInBlock(user);
      });
      if (!liveLater)
        env.erase(operand);
    }
  }
  return results;
}

Expected<std::vector<Tensor>> Interpreter::run(ArrayRef<Tensor> inputs,
                                               const ValueCallback &callback) {
  auto fn = cast<func::FuncOp>(function_);
  if (inputs.size() != inputs_.size())
    return makeError(llvm::formatv("expected {0} inputs, got {1}",
                                   inputs_.size(), inputs.size())
                         .str());
  llvm::DenseMap<Value, Tensor> env;
  Block &body = fn.getBody().front();
  for (auto [i, arg] : llvm::enumerate(body.getArguments())) {
    if (Error e = checkAgainstType(inputs[i], inputs_[i].type,
                                   "input '" + inputs_[i].name + "'"))
      return std::move(e);
    env[arg] = inputs[i];
  }
  return runBlock(body, env, constants_, callback);
}

Expected<Tensor> Interpreter::replaceConstant(Operation *op, Tensor value) {
  auto it = constants_.find(op);
  if (it == constants_.end())
    return makeError(describeOp(op) + " is not a constant of the executed "
                                      "function");
  if (value.dtype() != it->second.dtype() ||
      value.shape() != it->second.shape())
    return makeError(describeOp(op) + ": replacement " + value.describe() +
                     " does not match the constant's " +
                     it->second.describe());
  return std::exchange(it->second, std::move(value));
}
