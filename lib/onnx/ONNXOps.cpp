//===- ONNXOps.cpp - ONNX op builders of the importer ---------------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// One builder per supported ONNX op type. Builders read attributes (with the
// ONNX defaults), check what the qopt op cannot express, and create qopt
// ops whose result types are inferred. Integer shape arithmetic on constants
// (Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains) is folded at
// import time, so that Reshape/Slice/... targets are known constants.
//
//===----------------------------------------------------------------------===//

#include "ONNXImporterImpl.h"

#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallBitVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace qopt;
using namespace qopt::onnximport;

static constexpr int64_t kDyn = ShapedType::kDynamic;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

static RankedTensorType typeOf(Value v) {
  return cast<RankedTensorType>(v.getType());
}


/// The type of input `i` without materializing it.
static FailureOr<RankedTensorType> inputType(Importer &imp, const Node &node,
                                             int i) {
  if (!node.hasInput(i))
    return imp.nodeError(node) << "input " << i << " is required";
  Entry *e = imp.lookup(node.input(i));
  if (!e)
    return imp.nodeError(node)
           << "input '" << node.input(i) << "' is undefined";
  if (e->value)
    return typeOf(e->value);
  if (e->constant)
    return cast<RankedTensorType>(e->constant.getType());
  if (e->quantized)
    return RankedTensorType::get(typeOf(e->quantized->input).getShape(),
                                 e->quantized->storageType);
  return imp.nodeError(node) << "input '" << node.input(i) << "' has no value";
}

/// Fails unless `v` has a floating-point element type.
static LogicalResult requireFloat(Importer &imp, const Node &node, Value v,
                                  StringRef what) {
  Type et = typeOf(v).getElementType();
  if (isa<FloatType>(et))
    return success();
  return imp.nodeError(node)
         << what << " has element type " << et << "; qopt supports "
         << node.opType() << " only on floating-point tensors";
}

static FailureOr<int64_t> normAxis(Importer &imp, const Node &node,
                                   int64_t axis, int64_t rank,
                                   StringRef what = "axis") {
  if (axis < -rank || axis >= rank)
    return imp.nodeError(node)
           << what << " " << axis << " is out of range for rank " << rank;
  return axis < 0 ? axis + rank : axis;
}

/// A small integer constant input (for folding shape arithmetic).
struct IntConst {
  RankedTensorType type;
  SmallVector<int64_t> values;
};

static std::optional<IntConst> intConst(Importer &imp, const Node &node,
                                        int i) {
  ElementsAttr a = imp.constantInput(node, i);
  if (!a)
    return std::nullopt;
  auto t = cast<RankedTensorType>(a.getType());
  if (!isa<IntegerType>(t.getElementType()) ||
      t.getNumElements() > kMaxFoldElements)
    return std::nullopt;
  auto v = readIntValues(a);
  if (!v)
    return std::nullopt;
  return IntConst{t, std::move(*v)};
}

/// A constant integer list input (axes, starts, shape, ...): must be a
/// constant 1-D (or scalar) integer tensor.
static FailureOr<SmallVector<int64_t>>
constantList(Importer &imp, const Node &node, int i, StringRef what) {
  if (!node.hasInput(i))
    return imp.nodeError(node) << "the " << what << " input is required";
  std::optional<IntConst> c = intConst(imp, node, i);
  if (!c)
    return imp.nodeError(node)
           << "the " << what << " input '" << node.input(i)
           << "' must be a constant (an initializer, a Constant, or integer "
              "arithmetic on constants and static shapes); qopt needs it at "
              "import time";
  if (c->type.getRank() > 1)
    return imp.nodeError(node) << "the " << what << " input '" << node.input(i)
                               << "' must be 1-D, got " << c->type;
  return c->values;
}

/// Sentinel product of a shape whose element count overflows int64.
static constexpr int64_t kOverflow = std::numeric_limits<int64_t>::max();

/// Element count of `dims`: kDyn when a dim is dynamic, kOverflow when the
/// count does not fit in int64.
static int64_t product(ArrayRef<int64_t> dims) {
  int64_t p = 1;
  bool overflow = false;
  for (int64_t d : dims) {
    if (ShapedType::isDynamic(d))
      return kDyn;
    overflow |= __builtin_mul_overflow(p, d, &p);
  }
  return overflow ? kOverflow : p;
}

/// Defines output 0 as `values` reshaped (shape-only folds of int constants).
static void defineIntFold(Importer &imp, const Node &node,
                          ArrayRef<int64_t> shape, Type elementType,
                          ArrayRef<int64_t> values) {
  imp.defineConstant(node, 0, makeIntAttr(shape, elementType, values));
}

template <typename T> static SmallVector<int64_t> toI64(ArrayRef<T> a) {
  return SmallVector<int64_t>(a.begin(), a.end());
}

/// Reshape node output: shape-only ops (Reshape, Flatten, Squeeze,
/// Unsqueeze) fold integer constants and otherwise become qopt.reshape.
static LogicalResult defineReshaped(Importer &imp, Node &node,
                                    ArrayRef<int64_t> shape) {
  SmallVector<int64_t> staticDims;
  for (int64_t d : shape)
    if (!ShapedType::isDynamic(d))
      staticDims.push_back(d);
  if (!checkedElementCount(staticDims, 8))
    return imp.nodeError(node)
           << "the result shape " << shapeStr(shape) << " overflows";
  if (std::optional<IntConst> c = intConst(imp, node, 0)) {
    defineIntFold(imp, node, shape, c->type.getElementType(), c->values);
    return success();
  }
  auto x = imp.input(node, 0);
  if (failed(x))
    return failure();
  auto r = imp.reshape(node.loc, *x, shape);
  if (failed(r))
    return failure();
  imp.define(node, 0, *r);
  return success();
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

/// Index of the broadcast source element for output index `flat`.
static int64_t broadcastSource(int64_t flat, ArrayRef<int64_t> outShape,
                               ArrayRef<int64_t> inShape) {
  int64_t src = 0, stride = 1;
  size_t off = outShape.size() - inShape.size();
  for (int64_t d = static_cast<int64_t>(outShape.size()) - 1; d >= 0; --d) {
    int64_t idx = flat % outShape[d];
    flat /= outShape[d];
    if (d >= static_cast<int64_t>(off)) {
      int64_t in = inShape[d - off];
      src += (in == 1 ? 0 : idx) * stride;
      stride *= in;
    }
  }
  return src;
}

enum class ArithKind { Add, Sub, Mul, Div, Other };

template <typename OpTy> static ArithKind arithKind() {
  if constexpr (std::is_same_v<OpTy, qopt::AddOp>)
    return ArithKind::Add;
  if constexpr (std::is_same_v<OpTy, qopt::SubOp>)
    return ArithKind::Sub;
  if constexpr (std::is_same_v<OpTy, qopt::MulOp>)
    return ArithKind::Mul;
  if constexpr (std::is_same_v<OpTy, qopt::DivOp>)
    return ArithKind::Div;
  return ArithKind::Other;
}

/// Folds integer arithmetic on constants; false when it does not apply.
static bool foldIntBinary(Importer &imp, Node &node, ArithKind kind) {
  if (kind == ArithKind::Other)
    return false;
  std::optional<IntConst> a = intConst(imp, node, 0);
  std::optional<IntConst> b = intConst(imp, node, 1);
  if (!a || !b || a->type.getElementType() != b->type.getElementType() ||
      a->type.getElementType().isInteger(1))
    return false;
  auto shape = broadcastShapes(a->type.getShape(), b->type.getShape());
  if (failed(shape))
    return false;
  int64_t n = product(*shape);
  if (n > kMaxFoldElements)
    return false;
  SmallVector<int64_t> out(n);
  for (int64_t i = 0; i < n; ++i) {
    uint64_t x = static_cast<uint64_t>(
        a->values[broadcastSource(i, *shape, a->type.getShape())]);
    uint64_t y = static_cast<uint64_t>(
        b->values[broadcastSource(i, *shape, b->type.getShape())]);
    switch (kind) {
    case ArithKind::Add:
      out[i] = static_cast<int64_t>(x + y);
      break;
    case ArithKind::Sub:
      out[i] = static_cast<int64_t>(x - y);
      break;
    case ArithKind::Mul:
      out[i] = static_cast<int64_t>(x * y);
      break;
    case ArithKind::Div: {
      int64_t sx = static_cast<int64_t>(x), sy = static_cast<int64_t>(y);
      if (sy == 0 || (sx == INT64_MIN && sy == -1))
        return false;
      out[i] = sx / sy;
      break;
    }
    case ArithKind::Other:
      return false;
    }
  }
  defineIntFold(imp, node, *shape, a->type.getElementType(), out);
  return true;
}

template <typename OpTy>
static LogicalResult importBinary(Importer &imp, Node &node) {
  if (foldIntBinary(imp, node, arithKind<OpTy>()))
    return success();
  auto lhs = imp.input(node, 0);
  if (failed(lhs))
    return failure();
  auto rhs = imp.input(node, 1);
  if (failed(rhs))
    return failure();
  auto op = imp.inferred<OpTy>(node.loc, *lhs, *rhs);
  if (failed(op))
    return failure();
  imp.define(node, 0, op->getResult());
  return success();
}

template <typename OpTy>
static LogicalResult importUnary(Importer &imp, Node &node) {
  auto x = imp.input(node, 0);
  if (failed(x) || failed(requireFloat(imp, node, *x, "the input")))
    return failure();
  auto op = imp.typed<OpTy>(node.loc, x->getType(), *x);
  if (failed(op))
    return failure();
  imp.define(node, 0, op->getResult());
  return success();
}

static LogicalResult importGelu(Importer &imp, Node &node) {
  auto approx = imp.attrString(node, "approximate", "none");
  if (failed(approx))
    return failure();
  if (*approx != "none" && *approx != "tanh")
    return imp.nodeError(node) << "attribute 'approximate' must be \"none\" "
                                  "or \"tanh\", got \""
                               << *approx << "\"";
  auto x = imp.input(node, 0);
  if (failed(x) || failed(requireFloat(imp, node, *x, "the input")))
    return failure();
  auto op = imp.typed<qopt::GeluOp>(node.loc, x->getType(), *x,
                                    imp.builder.getStringAttr(*approx));
  if (failed(op))
    return failure();
  imp.define(node, 0, op->getResult());
  return success();
}

static LogicalResult importSoftmax(Importer &imp, Node &node) {
  bool coerced = imp.opset < 13;
  auto axis = imp.attrInt(node, "axis", coerced ? 1 : -1);
  auto x = imp.input(node, 0);
  if (failed(axis) || failed(x) ||
      failed(requireFloat(imp, node, *x, "the input")))
    return failure();
  int64_t rank = typeOf(*x).getRank();
  auto a = normAxis(imp, node, *axis, rank);
  if (failed(a))
    return failure();
  if (coerced && *a != rank - 1)
    return imp.nodeError(node)
           << "before opset 13 Softmax flattens the input to 2-D at axis "
           << *axis << "; qopt supports that only when the axis is the last "
           << "dimension (" << rank - 1 << ")";
  auto op = imp.typed<qopt::SoftmaxOp>(node.loc, x->getType(), *x,
                                       imp.builder.getI64IntegerAttr(*a));
  if (failed(op))
    return failure();
  imp.define(node, 0, op->getResult());
  return success();
}

static LogicalResult importWhere(Importer &imp, Node &node) {
  auto c = imp.input(node, 0);
  if (failed(c))
    return failure();
  auto x = imp.input(node, 1);
  if (failed(x))
    return failure();
  auto y = imp.input(node, 2);
  if (failed(y))
    return failure();
  if (!typeOf(*c).getElementType().isInteger(1))
    return imp.nodeError(node)
           << "the condition must be BOOL, got " << typeOf(*c).getElementType();
  auto op = imp.inferred<qopt::WhereOp>(node.loc, *c, *x, *y);
  if (failed(op))
    return failure();
  imp.define(node, 0, op->getResult());
  return success();
}

static LogicalResult importCast(Importer &imp, Node &node) {
  const onnx::AttributeProto *to = node.attr("to");
  if (!to)
    return imp.nodeError(node) << "attribute 'to' is required";
  auto toType = imp.attrInt(node, "to", 0);
  if (failed(toType))
    return failure();
  Type et = elementTypeFor(imp.ctx, static_cast<int32_t>(*toType));
  if (!et)
    return imp.nodeError(node)
           << "casting to " << dataTypeName(static_cast<int32_t>(*toType))
           << " is not supported";
  auto inType = inputType(imp, node, 0);
  if (failed(inType))
    return failure();
  if (inType->getElementType() == et) {
    imp.defineAlias(node, 0, *imp.lookup(node.input(0)));
    return success();
  }
  // Integer constants (shape arithmetic) fold.
  if (isa<IntegerType>(et)) {
    if (std::optional<IntConst> c = intConst(imp, node, 0)) {
      SmallVector<int64_t> values = c->values;
      if (et.isInteger(1))
        for (int64_t &v : values)
          v = v != 0;
      else if (et.getIntOrFloatBitWidth() < 64)
        for (int64_t &v : values) {
          unsigned w = et.getIntOrFloatBitWidth();
          APInt bits = APInt(64, static_cast<uint64_t>(v), true).trunc(w);
          v = cast<IntegerType>(et).isUnsigned()
                  ? static_cast<int64_t>(bits.getZExtValue())
                  : bits.getSExtValue();
        }
      defineIntFold(imp, node, c->type.getShape(), et, values);
      return success();
    }
  }
  auto x = imp.input(node, 0);
  if (failed(x))
    return failure();
  auto op = imp.typed<qopt::CastOp>(
      node.loc, RankedTensorType::get(typeOf(*x).getShape(), et), *x);
  if (failed(op))
    return failure();
  imp.define(node, 0, op->getResult());
  return success();
}

static LogicalResult importIdentity(Importer &imp, Node &node) {
  if (!node.hasInput(0))
    return imp.nodeError(node) << "input 0 is required";
  Entry *e = imp.lookup(node.input(0));
  if (!e)
    return imp.nodeError(node)
           << "input '" << node.input(0) << "' is undefined";
  imp.defineAlias(node, 0, *e);
  return success();
}

//===----------------------------------------------------------------------===//
// Linear algebra
//===----------------------------------------------------------------------===//

/// Numpy matmul operand handling shared by MatMul, MatMulInteger and
/// QLinearMatMul: a 1-D lhs becomes [1, K], a 1-D rhs [K, 1]; afterwards the
/// added dims are dropped from the result.
struct MatMulOperands {
  Value lhs, rhs;
  bool lhsVector = false, rhsVector = false;
};

static FailureOr<MatMulOperands>
prepareMatMul(Importer &imp, Node &node, Value a, Value b, bool batchedLhs) {
  MatMulOperands m{a, b};
  int64_t ra = typeOf(a).getRank(), rb = typeOf(b).getRank();
  if (ra == 0 || rb == 0)
    return imp.nodeError(node) << "operands must have rank >= 1, got "
                               << a.getType() << " and " << b.getType();
  if (rb == 1) {
    auto r = imp.reshape(node.loc, b, {typeOf(b).getDimSize(0), 1});
    if (failed(r))
      return failure();
    m.rhs = *r;
    m.rhsVector = true;
  }
  if (ra == 1 && (batchedLhs || typeOf(m.rhs).getRank() != 2)) {
    auto r = imp.reshape(node.loc, a, {1, typeOf(a).getDimSize(0)});
    if (failed(r))
      return failure();
    m.lhs = *r;
    m.lhsVector = true;
  }
  return m;
}

static FailureOr<Value> finishMatMul(Importer &imp, Node &node,
                                     const MatMulOperands &m, Value y) {
  if (!m.rhsVector && !m.lhsVector)
    return y;
  SmallVector<int64_t> shape(typeOf(y).getShape());
  if (m.lhsVector)
    shape.erase(shape.end() - 2); // the added M = 1
  if (m.rhsVector)
    shape.pop_back(); // the added N = 1
  return imp.reshape(node.loc, y, shape);
}

static LogicalResult importMatMul(Importer &imp, Node &node) {
  auto a = imp.input(node, 0);
  if (failed(a))
    return failure();
  auto b = imp.input(node, 1);
  if (failed(b))
    return failure();
  if (failed(requireFloat(imp, node, *a, "input A")) ||
      failed(requireFloat(imp, node, *b, "input B")))
    return failure();
  auto m = prepareMatMul(imp, node, *a, *b, /*batchedLhs=*/false);
  if (failed(m))
    return failure();
  Value y;
  if (typeOf(m->rhs).getRank() == 2) {
    auto op = imp.inferred<qopt::MatMulOp>(node.loc, m->lhs, m->rhs);
    if (failed(op))
      return failure();
    y = op->getResult();
  } else {
    auto op = imp.inferred<qopt::BatchMatMulOp>(node.loc, m->lhs, m->rhs);
    if (failed(op))
      return failure();
    y = op->getResult();
  }
  auto r = finishMatMul(imp, node, *m, y);
  if (failed(r))
    return failure();
  imp.define(node, 0, *r);
  return success();
}

static LogicalResult importGemm(Importer &imp, Node &node) {
  auto alpha = imp.attrFloat(node, "alpha", 1.0f);
  auto beta = imp.attrFloat(node, "beta", 1.0f);
  auto transA = imp.attrInt(node, "transA", 0);
  auto transB = imp.attrInt(node, "transB", 0);
  if (failed(alpha) || failed(beta) || failed(transA) || failed(transB))
    return failure();
  auto a = imp.input(node, 0);
  if (failed(a))
    return failure();
  auto b = imp.input(node, 1);
  if (failed(b))
    return failure();
  auto c = imp.optionalInput(node, 2);
  if (failed(c))
    return failure();
  if (failed(requireFloat(imp, node, *a, "input A")) ||
      failed(requireFloat(imp, node, *b, "input B")))
    return failure();
  auto op = imp.inferred<qopt::GemmOp>(
      node.loc, *a, *b, *c, imp.builder.getF32FloatAttr(*alpha),
      imp.builder.getF32FloatAttr(*beta), imp.builder.getBoolAttr(*transA != 0),
      imp.builder.getBoolAttr(*transB != 0));
  if (failed(op))
    return failure();
  imp.define(node, 0, op->getResult());
  return success();
}

//===----------------------------------------------------------------------===//
// Convolution and pooling
//===----------------------------------------------------------------------===//

struct Window {
  SmallVector<int64_t> kernel, strides, pads, dilations;
};

/// Reads kernel_shape/strides/pads/dilations/auto_pad of a 2-D Conv or pool
/// over input type `xt`; `weightKernel` is the filter's spatial shape (empty
/// for pooling, which requires kernel_shape).
static LogicalResult readWindow(Importer &imp, const Node &node,
                                RankedTensorType xt,
                                ArrayRef<int64_t> weightKernel,
                                bool allowDilations, Window &w) {
  auto ks = imp.attrInts(node, "kernel_shape");
  auto st = imp.attrInts(node, "strides");
  auto pd = imp.attrInts(node, "pads");
  auto dl = imp.attrInts(node, "dilations");
  auto autoPad = imp.attrString(node, "auto_pad", "NOTSET");
  if (failed(ks) || failed(st) || failed(pd) || failed(dl) || failed(autoPad))
    return failure();
  if (*ks) {
    if ((*ks)->size() != 2)
      return imp.nodeError(node)
             << "attribute 'kernel_shape' has " << (*ks)->size()
             << " values; only 2-D kernels are supported";
    w.kernel = **ks;
    for (int i = 0; i < 2; ++i) {
      if (w.kernel[i] < 1)
        return imp.nodeError(node)
               << "attribute 'kernel_shape' must be positive, got "
               << shapeStr(w.kernel);
      if (!weightKernel.empty() && !ShapedType::isDynamic(weightKernel[i]) &&
          weightKernel[i] != w.kernel[i])
        return imp.nodeError(node)
               << "attribute 'kernel_shape' " << shapeStr(w.kernel)
               << " differs from the filter's spatial shape "
               << shapeStr(weightKernel);
    }
  } else if (weightKernel.empty()) {
    return imp.nodeError(node) << "attribute 'kernel_shape' is required";
  } else {
    w.kernel.assign(weightKernel.begin(), weightKernel.end());
  }
  if (xt.getRank() != 4)
    return imp.nodeError(node)
           << "only 2-D " << node.opType()
           << " (NCHW input) is supported; the input has type " << xt;
  w.strides = *st ? **st : SmallVector<int64_t>{1, 1};
  if (w.strides.size() != 2 ||
      llvm::any_of(w.strides, [](int64_t s) { return s < 1; }))
    return imp.nodeError(node) << "attribute 'strides' must be 2 positive "
                                  "values, got "
                               << shapeStr(w.strides);
  w.dilations = *dl ? **dl : SmallVector<int64_t>{1, 1};
  if (w.dilations.size() != 2 ||
      llvm::any_of(w.dilations, [](int64_t d) { return d < 1; }))
    return imp.nodeError(node) << "attribute 'dilations' must be 2 positive "
                                  "values, got "
                               << shapeStr(w.dilations);
  if (!allowDilations && (w.dilations[0] != 1 || w.dilations[1] != 1))
    return imp.nodeError(node)
           << "dilations " << shapeStr(w.dilations) << " are not supported";
  w.pads = *pd ? **pd : SmallVector<int64_t>{0, 0, 0, 0};
  if (w.pads.size() != 4 ||
      llvm::any_of(w.pads, [](int64_t p) { return p < 0; }))
    return imp.nodeError(node) << "attribute 'pads' must be 4 non-negative "
                                  "values [top, left, bottom, right], got "
                               << shapeStr(w.pads);
  constexpr int64_t kMaxWindow = std::numeric_limits<int32_t>::max();
  for (ArrayRef<int64_t> attr :
       {ArrayRef<int64_t>(w.strides), ArrayRef<int64_t>(w.pads),
        ArrayRef<int64_t>(w.dilations)})
    if (llvm::any_of(attr, [&](int64_t v) { return v > kMaxWindow; }))
      return imp.nodeError(node)
             << "window attribute " << shapeStr(attr) << " is too large";
  if (llvm::any_of(w.kernel, [&](int64_t k) {
        return !ShapedType::isDynamic(k) && k > kMaxWindow;
      }))
    return imp.nodeError(node)
           << "kernel " << shapeStr(w.kernel) << " is too large";
  if (llvm::any_of(w.kernel,
                   [](int64_t k) { return ShapedType::isDynamic(k); }))
    return imp.nodeError(node) << "the kernel size is unknown (dynamic "
                                  "filter dims); give kernel_shape";
  if (*autoPad == "NOTSET")
    return success();
  if (*autoPad == "VALID") {
    w.pads.assign(4, 0);
    return success();
  }
  if (*autoPad != "SAME_UPPER" && *autoPad != "SAME_LOWER")
    return imp.nodeError(node)
           << "attribute 'auto_pad' has unknown value '" << *autoPad << "'";
  for (int i = 0; i < 2; ++i) {
    int64_t in = xt.getDimSize(2 + i);
    if (ShapedType::isDynamic(in))
      return imp.nodeError(node)
             << "auto_pad " << *autoPad
             << " needs static spatial dims; the input has type " << xt
             << " (fix them with --input-shape)";
    int64_t s = w.strides[i];
    int64_t out = (in + s - 1) / s;
    int64_t eff = (w.kernel[i] - 1) * w.dilations[i] + 1;
    int64_t total = std::max<int64_t>(0, (out - 1) * s + eff - in);
    int64_t begin = *autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
    w.pads[i] = begin;
    w.pads[i + 2] = total - begin;
  }
  return success();
}

static FailureOr<Window> convWindow(Importer &imp, const Node &node, Value x,
                                    Value w) {
  auto wt = typeOf(w);
  if (wt.getRank() != 4)
    return imp.nodeError(node) << "only 2-D " << node.opType()
                               << " is supported; the filter has type " << wt;
  Window win;
  SmallVector<int64_t> wk{wt.getDimSize(2), wt.getDimSize(3)};
  if (failed(
          readWindow(imp, node, typeOf(x), wk, /*allowDilations=*/true, win)))
    return failure();
  return win;
}

static LogicalResult importConv(Importer &imp, Node &node) {
  auto group = imp.attrInt(node, "group", 1);
  if (failed(group))
    return failure();
  auto x = imp.input(node, 0);
  if (failed(x))
    return failure();
  auto w = imp.input(node, 1);
  if (failed(w))
    return failure();
  auto b = imp.optionalInput(node, 2);
  if (failed(b))
    return failure();
  if (failed(requireFloat(imp, node, *x, "input X")) ||
      failed(requireFloat(imp, node, *w, "input W")))
    return failure();
  auto win = convWindow(imp, node, *x, *w);
  if (failed(win))
    return failure();
  auto &bld = imp.builder;
  auto op = imp.inferred<qopt::Conv2DOp>(
      node.loc, *x, *w, *b, bld.getDenseI64ArrayAttr(win->strides),
      bld.getDenseI64ArrayAttr(win->pads),
      bld.getDenseI64ArrayAttr(win->dilations), bld.getI64IntegerAttr(*group));
  if (failed(op))
    return failure();
  imp.define(node, 0, op->getResult());
  return success();
}

static LogicalResult importMaxPool(Importer &imp, Node &node) {
  if (node.hasOutput(1))
    return imp.nodeError(node) << "the Indices output (output 1, '"
                               << node.output(1) << "') is not supported";
  auto ceil = imp.attrInt(node, "ceil_mode", 0);
  auto storage = imp.attrInt(node, "storage_order", 0);
  if (failed(ceil) || failed(storage))
    return failure();
  auto x = imp.input(node, 0);
  if (failed(x))
    return failure();
  Window w;
  if (failed(readWindow(imp, node, typeOf(*x), {}, /*allowDilations=*/true, w)))
    return failure();
  auto &bld = imp.builder;
  auto op = imp.inferred<qopt::MaxPool2DOp>(
      node.loc, *x, bld.getDenseI64ArrayAttr(w.kernel),
      bld.getDenseI64ArrayAttr(w.strides), bld.getDenseI64ArrayAttr(w.pads),
      bld.getDenseI64ArrayAttr(w.dilations), bld.getBoolAttr(*ceil != 0));
  if (failed(op))
    return failure();
  imp.define(node, 0, op->getResult());
  return success();
}

static LogicalResult importAveragePool(Importer &imp, Node &node) {
  auto ceil = imp.attrInt(node, "ceil_mode", 0);
  auto countPad = imp.attrInt(node, "count_include_pad", 0);
  if (failed(ceil) || failed(countPad))
    return failure();
  auto x = imp.input(node, 0);
  if (failed(x) || failed(requireFloat(imp, node, *x, "the input")))
    return failure();
  Window w;
  if (failed(
          readWindow(imp, node, typeOf(*x), {}, /*allowDilations=*/false, w)))
    return failure();
  auto &bld = imp.builder;
  auto op = imp.inferred<qopt::AvgPool2DOp>(
      node.loc, *x, bld.getDenseI64ArrayAttr(w.kernel),
      bld.getDenseI64ArrayAttr(w.strides), bld.getDenseI64ArrayAttr(w.pads),
      bld.getBoolAttr(*ceil != 0), bld.getBoolAttr(*countPad != 0));
  if (failed(op))
    return failure();
  imp.define(node, 0, op->getResult());
  return success();
}

static LogicalResult importGlobalAveragePool(Importer &imp, Node &node) {
  auto x = imp.input(node, 0);
  if (failed(x) || failed(requireFloat(imp, node, *x, "the input")))
    return failure();
  auto op = imp.inferred<qopt::GlobalAvgPoolOp>(node.loc, *x);
  if (failed(op))
    return failure();
  imp.define(node, 0, op->getResult());
  return success();
}

//===----------------------------------------------------------------------===//
// Normalization and reductions
//===----------------------------------------------------------------------===//

/// The optional Mean and InvStdDev outputs of LayerNormalization, computed
/// with reductions over the normalized dims (kept as size 1), as ONNX defines
/// them: Mean = mean(x), InvStdDev = 1 / sqrt(mean((x - Mean)^2) + epsilon).
static LogicalResult importLayerNormStats(Importer &imp, Node &node, Value x,
                                          int64_t axis, float eps) {
  auto xt = typeOf(x);
  if (!xt.getElementType().isF32())
    return imp.nodeError(node)
           << "the Mean/InvStdDev outputs are supported for f32 inputs only, "
              "not "
           << xt.getElementType();
  auto &bld = imp.builder;
  Location loc = node.loc;
  SmallVector<int64_t> axes;
  for (int64_t d = axis; d < xt.getRank(); ++d)
    axes.push_back(d);
  auto axesAttr = bld.getDenseI64ArrayAttr(axes);
  auto keep = bld.getBoolAttr(true);
  auto scalar = [&](float v) -> Value {
    auto type = RankedTensorType::get({}, bld.getF32Type());
    return qopt::ConstantOp::create(
        bld, loc, DenseElementsAttr::get(type, llvm::ArrayRef<float>(v)));
  };
  auto mean = imp.inferred<qopt::ReduceMeanOp>(loc, x, axesAttr, keep);
  if (failed(mean))
    return failure();
  auto diff = imp.inferred<qopt::SubOp>(loc, x, mean->getResult());
  if (failed(diff))
    return failure();
  auto sq = imp.inferred<qopt::MulOp>(loc, diff->getResult(), diff->getResult());
  if (failed(sq))
    return failure();
  auto var = imp.inferred<qopt::ReduceMeanOp>(loc, sq->getResult(), axesAttr,
                                              keep);
  if (failed(var))
    return failure();
  auto shifted = imp.inferred<qopt::AddOp>(loc, var->getResult(), scalar(eps));
  if (failed(shifted))
    return failure();
  auto sd = imp.typed<qopt::SqrtOp>(loc, shifted->getType(),
                                    shifted->getResult());
  if (failed(sd))
    return failure();
  auto inv = imp.inferred<qopt::DivOp>(loc, scalar(1.0f), sd->getResult());
  if (failed(inv))
    return failure();
  if (node.hasOutput(1))
    imp.define(node, 1, mean->getResult());
  if (node.hasOutput(2))
    imp.define(node, 2, inv->getResult());
  return success();
}

static LogicalResult importLayerNorm(Importer &imp, Node &node) {
  auto axis = imp.attrInt(node, "axis", -1);
  auto eps = imp.attrFloat(node, "epsilon", 1e-5f);
  if (failed(axis) || failed(eps))
    return failure();
  auto x = imp.input(node, 0);
  if (failed(x))
    return failure();
  auto scale = imp.input(node, 1);
  if (failed(scale))
    return failure();
  auto bias = imp.optionalInput(node, 2);
  if (failed(bias) || failed(requireFloat(imp, node, *x, "input X")))
    return failure();
  auto a = normAxis(imp, node, *axis, typeOf(*x).getRank());
  if (failed(a))
    return failure();
  auto op = imp.inferred<qopt::LayerNormOp>(node.loc, *x, *scale, *bias,
                                            imp.builder.getI64IntegerAttr(*a),
                                            imp.builder.getF32FloatAttr(*eps));
  if (failed(op))
    return failure();
  imp.define(node, 0, op->getResult());
  if (node.hasOutput(1) || node.hasOutput(2))
    return importLayerNormStats(imp, node, *x, *a, *eps);
  return success();
}

/// ReduceMean/Sum/Max: `axesInputOpset` is the opset from which axes are an
/// input (and noop_with_empty_axes exists) instead of an attribute.
template <typename OpTy, int64_t axesInputOpset>
static LogicalResult importReduce(Importer &imp, Node &node) {
  auto keepdims = imp.attrInt(node, "keepdims", 1);
  auto noop = imp.attrInt(node, "noop_with_empty_axes", 0);
  if (failed(keepdims) || failed(noop))
    return failure();
  SmallVector<int64_t> axes;
  if (imp.opset >= axesInputOpset) {
    if (node.attr("axes"))
      return imp.nodeError(node) << "from opset " << axesInputOpset
                                 << " the axes are an input, not an attribute";
    if (node.hasInput(1)) {
      auto list = constantList(imp, node, 1, "axes");
      if (failed(list))
        return failure();
      axes = *list;
    }
  } else {
    if (node.hasInput(1))
      return imp.nodeError(node) << "before opset " << axesInputOpset
                                 << " the axes are an attribute, not an input";
    auto attr = imp.attrInts(node, "axes");
    if (failed(attr))
      return failure();
    if (*attr)
      axes = **attr;
  }
  if (axes.empty() && *noop != 0) {
    // noop_with_empty_axes: the input unchanged.
    Entry *e = imp.lookup(node.input(0));
    if (!e)
      return imp.nodeError(node) << "input 0 is required";
    imp.defineAlias(node, 0, *e);
    return success();
  }
  auto x = imp.input(node, 0);
  if (failed(x))
    return failure();
  auto op =
      imp.inferred<OpTy>(node.loc, *x, imp.builder.getDenseI64ArrayAttr(axes),
                         imp.builder.getBoolAttr(*keepdims != 0));
  if (failed(op))
    return failure();
  imp.define(node, 0, op->getResult());
  return success();
}

//===----------------------------------------------------------------------===//
// Shape manipulation
//===----------------------------------------------------------------------===//

static LogicalResult importReshape(Importer &imp, Node &node) {
  auto allowZero = imp.attrInt(node, "allowzero", 0);
  if (failed(allowZero))
    return failure();
  auto xt = inputType(imp, node, 0);
  if (failed(xt))
    return failure();
  if (!node.hasInput(1))
    return imp.nodeError(node) << "the shape input is required";
  auto target = constantList(imp, node, 1, "shape");
  if (failed(target))
    return failure();
  ArrayRef<int64_t> in = xt->getShape();
  SmallVector<int64_t> out;
  int inferAt = -1;
  bool hasZero = false;
  for (auto [i, s] : llvm::enumerate(*target)) {
    if (s == -1) {
      if (inferAt >= 0)
        return imp.nodeError(node)
               << "the shape " << shapeStr(*target) << " has more than one -1";
      inferAt = static_cast<int>(i);
      out.push_back(kDyn);
    } else if (s == 0 && *allowZero == 0) {
      if (static_cast<int64_t>(i) >= xt->getRank())
        return imp.nodeError(node)
               << "shape entry " << i << " is 0 (copy the input dim) but the "
               << "input " << *xt << " has rank " << xt->getRank();
      out.push_back(in[i]);
    } else if (s < 0) {
      return imp.nodeError(node) << "the shape " << shapeStr(*target)
                                 << " has an invalid entry " << s;
    } else {
      hasZero |= s == 0;
      out.push_back(s);
    }
  }
  if (hasZero && inferAt >= 0)
    return imp.nodeError(node)
           << "with allowzero = 1 the shape " << shapeStr(*target)
           << " cannot contain both 0 and -1";
  int64_t total = product(in);
  SmallVector<int64_t> others(out);
  if (inferAt >= 0)
    others.erase(others.begin() + inferAt);
  if (total == kOverflow || product(others) == kOverflow)
    return imp.nodeError(node) << "the element count of " << *xt << " or of "
                               << shapeStr(*target) << " overflows";
  if (inferAt >= 0) {
    int64_t known = product(others);
    if (!ShapedType::isDynamic(total) && !ShapedType::isDynamic(known)) {
      if (known == 0 || total % known != 0)
        return imp.nodeError(node) << "cannot reshape " << *xt << " (" << total
                                   << " elements) to " << shapeStr(*target);
      out[inferAt] = total / known;
    }
  } else if (!ShapedType::isDynamic(total)) {
    int64_t n = product(out);
    if (!ShapedType::isDynamic(n) && n != total)
      return imp.nodeError(node)
             << "cannot reshape " << *xt << " (" << total << " elements) to "
             << shapeStr(out) << " (" << n << " elements)";
  }
  return defineReshaped(imp, node, out);
}

static LogicalResult importFlatten(Importer &imp, Node &node) {
  auto axis = imp.attrInt(node, "axis", 1);
  auto xt = inputType(imp, node, 0);
  if (failed(axis) || failed(xt))
    return failure();
  int64_t rank = xt->getRank();
  if (*axis < -rank || *axis > rank)
    return imp.nodeError(node)
           << "axis " << *axis << " is out of range for rank " << rank;
  int64_t a = *axis < 0 ? *axis + rank : *axis;
  ArrayRef<int64_t> s = xt->getShape();
  return defineReshaped(imp, node,
                        {product(s.take_front(a)), product(s.drop_front(a))});
}

/// Axes of Squeeze/Unsqueeze: an attribute before opset 13, an input after.
static FailureOr<std::optional<SmallVector<int64_t>>> squeezeAxes(Importer &imp,
                                                                  Node &node) {
  if (imp.opset >= 13) {
    if (node.attr("axes"))
      return imp.nodeError(node)
             << "from opset 13 the axes are an input, not an attribute";
    if (!node.hasInput(1))
      return std::optional<SmallVector<int64_t>>();
    auto list = constantList(imp, node, 1, "axes");
    if (failed(list))
      return failure();
    return std::optional<SmallVector<int64_t>>(*list);
  }
  if (node.hasInput(1))
    return imp.nodeError(node)
           << "before opset 13 the axes are an attribute, not an input";
  return imp.attrInts(node, "axes");
}

static LogicalResult importSqueeze(Importer &imp, Node &node) {
  auto axes = squeezeAxes(imp, node);
  auto xt = inputType(imp, node, 0);
  if (failed(axes) || failed(xt))
    return failure();
  int64_t rank = xt->getRank();
  llvm::SmallBitVector drop(rank);
  if (!*axes) {
    for (int64_t i = 0; i < rank; ++i) {
      if (xt->isDynamicDim(i))
        return imp.nodeError(node)
               << "Squeeze without axes needs static dims; the input has type "
               << *xt;
      if (xt->getDimSize(i) == 1)
        drop.set(i);
    }
  } else {
    for (int64_t a : **axes) {
      auto n = normAxis(imp, node, a, rank);
      if (failed(n))
        return failure();
      if (drop.test(*n))
        return imp.nodeError(node) << "axis " << a << " is given twice";
      if (!xt->isDynamicDim(*n) && xt->getDimSize(*n) != 1)
        return imp.nodeError(node) << "cannot squeeze dimension " << *n
                                   << " of size " << xt->getDimSize(*n);
      drop.set(*n);
    }
  }
  SmallVector<int64_t> out;
  for (int64_t i = 0; i < rank; ++i)
    if (!drop.test(i))
      out.push_back(xt->getDimSize(i) == kDyn ? kDyn : xt->getDimSize(i));
  // A squeezed dynamic dim is 1 at run time.
  return defineReshaped(imp, node, out);
}

static LogicalResult importUnsqueeze(Importer &imp, Node &node) {
  auto axes = squeezeAxes(imp, node);
  auto xt = inputType(imp, node, 0);
  if (failed(axes) || failed(xt))
    return failure();
  if (!*axes)
    return imp.nodeError(node) << "the axes are required";
  int64_t outRank = xt->getRank() + static_cast<int64_t>((*axes)->size());
  llvm::SmallBitVector added(outRank);
  for (int64_t a : **axes) {
    auto n = normAxis(imp, node, a, outRank);
    if (failed(n))
      return failure();
    if (added.test(*n))
      return imp.nodeError(node) << "axis " << a << " is given twice";
    added.set(*n);
  }
  SmallVector<int64_t> out;
  int64_t next = 0;
  for (int64_t i = 0; i < outRank; ++i)
    out.push_back(added.test(i) ? 1 : xt->getDimSize(next++));
  return defineReshaped(imp, node, out);
}

static LogicalResult importTranspose(Importer &imp, Node &node) {
  auto perm = imp.attrInts(node, "perm");
  auto x = imp.input(node, 0);
  if (failed(perm) || failed(x))
    return failure();
  int64_t rank = typeOf(*x).getRank();
  SmallVector<int64_t> p;
  if (*perm) {
    p = **perm;
  } else {
    for (int64_t i = rank - 1; i >= 0; --i)
      p.push_back(i);
  }
  auto op = imp.inferred<qopt::TransposeOp>(
      node.loc, *x, imp.builder.getDenseI64ArrayAttr(p));
  if (failed(op))
    return failure();
  imp.define(node, 0, op->getResult());
  return success();
}

static LogicalResult importConcat(Importer &imp, Node &node) {
  if (!node.attr("axis"))
    return imp.nodeError(node) << "attribute 'axis' is required";
  auto axis = imp.attrInt(node, "axis", 0);
  if (failed(axis))
    return failure();
  int n = node.proto->input_size();
  if (n == 0)
    return imp.nodeError(node) << "needs at least one input";
  // Fold integer constants.
  SmallVector<IntConst> consts;
  for (int i = 0; i < n; ++i) {
    std::optional<IntConst> c = intConst(imp, node, i);
    if (!c)
      break;
    consts.push_back(std::move(*c));
  }
  if (static_cast<int>(consts.size()) == n) {
    RankedTensorType first = consts.front().type;
    int64_t rank = first.getRank();
    bool ok = rank > 0 && *axis >= -rank && *axis < rank;
    int64_t a = *axis < 0 ? *axis + rank : *axis;
    SmallVector<int64_t> shape(first.getShape());
    if (ok) {
      shape[a] = 0;
      for (const IntConst &c : consts) {
        if (c.type.getElementType() != first.getElementType() ||
            c.type.getRank() != rank) {
          ok = false;
          break;
        }
        for (int64_t d = 0; d < rank; ++d)
          if (d != a && c.type.getDimSize(d) != first.getDimSize(d))
            ok = false;
        shape[a] += c.type.getDimSize(a);
      }
    }
    if (ok && product(shape) <= kMaxFoldElements) {
      int64_t outer = product(ArrayRef<int64_t>(shape).take_front(a));
      int64_t inner = product(ArrayRef<int64_t>(shape).drop_front(a + 1));
      SmallVector<int64_t> out;
      for (int64_t o = 0; o < outer; ++o)
        for (const IntConst &c : consts) {
          int64_t chunk = c.type.getDimSize(a) * inner;
          out.append(c.values.begin() + o * chunk,
                     c.values.begin() + (o + 1) * chunk);
        }
      defineIntFold(imp, node, shape, first.getElementType(), out);
      return success();
    }
  }
  SmallVector<Value> inputs;
  for (int i = 0; i < n; ++i) {
    auto v = imp.input(node, i);
    if (failed(v))
      return failure();
    inputs.push_back(*v);
  }
  auto a = normAxis(imp, node, *axis, typeOf(inputs.front()).getRank());
  if (failed(a))
    return failure();
  auto op = imp.inferred<qopt::ConcatOp>(node.loc, ValueRange(inputs),
                                         imp.builder.getI64IntegerAttr(*a));
  if (failed(op))
    return failure();
  imp.define(node, 0, op->getResult());
  return success();
}

static LogicalResult importSlice(Importer &imp, Node &node) {
  SmallVector<int64_t> starts, ends, axes, steps;
  bool haveAxes = false, haveSteps = false;
  if (imp.opset >= 10) {
    auto s = constantList(imp, node, 1, "starts");
    if (failed(s))
      return failure();
    auto e = constantList(imp, node, 2, "ends");
    if (failed(e))
      return failure();
    starts = *s;
    ends = *e;
    if (node.hasInput(3)) {
      auto a = constantList(imp, node, 3, "axes");
      if (failed(a))
        return failure();
      axes = *a;
      haveAxes = true;
    }
    if (node.hasInput(4)) {
      auto st = constantList(imp, node, 4, "steps");
      if (failed(st))
        return failure();
      steps = *st;
      haveSteps = true;
    }
  } else {
    auto s = imp.attrInts(node, "starts");
    auto e = imp.attrInts(node, "ends");
    auto a = imp.attrInts(node, "axes");
    if (failed(s) || failed(e) || failed(a))
      return failure();
    if (!*s || !*e)
      return imp.nodeError(node)
             << "attributes 'starts' and 'ends' are required";
    starts = **s;
    ends = **e;
    if (*a) {
      axes = **a;
      haveAxes = true;
    }
  }
  auto xt = inputType(imp, node, 0);
  if (failed(xt))
    return failure();
  int64_t rank = xt->getRank();
  size_t k = starts.size();
  if (ends.size() != k || (haveAxes && axes.size() != k) ||
      (haveSteps && steps.size() != k))
    return imp.nodeError(node)
           << "starts, ends, axes and steps must have the same length";
  if (!haveAxes)
    for (size_t i = 0; i < k; ++i)
      axes.push_back(static_cast<int64_t>(i));
  if (!haveSteps)
    steps.assign(k, 1);
  if (!xt->hasStaticShape())
    return imp.nodeError(node) << "Slice needs a static input shape; the "
                                  "input has type "
                               << *xt << " (fix dynamic dims with "
                               << "--input-shape)";
  SmallVector<int64_t> s(rank, 0), e(xt->getShape()), st(rank, 1);
  llvm::SmallBitVector seen(rank);
  for (size_t i = 0; i < k; ++i) {
    auto a = normAxis(imp, node, axes[i], rank);
    if (failed(a))
      return failure();
    if (seen.test(*a))
      return imp.nodeError(node) << "axis " << axes[i] << " is given twice";
    seen.set(*a);
    int64_t d = xt->getDimSize(*a), step = steps[i];
    if (step == 0)
      return imp.nodeError(node) << "step of axis " << axes[i] << " is 0";
    // A step longer than the dim selects one element either way; clamping
    // keeps the arithmetic below (and in qopt.slice) from overflowing.
    int64_t maxStep = std::max<int64_t>(d, 1);
    step = std::clamp<int64_t>(step, -maxStep, maxStep);
    int64_t b = starts[i], en = ends[i];
    if (b < 0)
      b += d;
    if (en < 0)
      en += d;
    if (step > 0) {
      b = std::clamp<int64_t>(b, 0, d);
      en = std::clamp<int64_t>(en, 0, d);
      if (en < b)
        en = b;
    } else {
      b = d == 0 ? -1 : std::clamp<int64_t>(b, 0, d - 1);
      en = std::clamp<int64_t>(en, -1, d - 1);
      if (en > b)
        en = b;
    }
    s[*a] = b;
    e[*a] = en;
    st[*a] = step;
  }
  // Fold integer constants.
  if (std::optional<IntConst> c = intConst(imp, node, 0)) {
    SmallVector<int64_t> outShape;
    for (int64_t d = 0; d < rank; ++d)
      outShape.push_back(st[d] > 0 ? (e[d] - s[d] + st[d] - 1) / st[d]
                                   : (s[d] - e[d] - st[d] - 1) / -st[d]);
    int64_t n = product(outShape);
    SmallVector<int64_t> out;
    out.reserve(n);
    SmallVector<int64_t> strides(rank, 1);
    for (int64_t d = rank - 2; d >= 0; --d)
      strides[d] = strides[d + 1] * xt->getDimSize(d + 1);
    for (int64_t i = 0; i < n; ++i) {
      int64_t rem = i, src = 0;
      for (int64_t d = rank - 1; d >= 0; --d) {
        int64_t idx = rem % outShape[d];
        rem /= outShape[d];
        src += (s[d] + idx * st[d]) * strides[d];
      }
      out.push_back(c->values[src]);
    }
    defineIntFold(imp, node, outShape, c->type.getElementType(), out);
    return success();
  }
  auto x = imp.input(node, 0);
  if (failed(x))
    return failure();
  auto &bld = imp.builder;
  auto op = imp.inferred<qopt::SliceOp>(
      node.loc, *x, bld.getDenseI64ArrayAttr(s), bld.getDenseI64ArrayAttr(e),
      bld.getDenseI64ArrayAttr(st));
  if (failed(op))
    return failure();
  imp.define(node, 0, op->getResult());
  return success();
}

static LogicalResult importGather(Importer &imp, Node &node) {
  auto axis = imp.attrInt(node, "axis", 0);
  auto dt = inputType(imp, node, 0);
  auto it = inputType(imp, node, 1);
  if (failed(axis) || failed(dt) || failed(it))
    return failure();
  if (dt->getRank() < 1)
    return imp.nodeError(node) << "the data input must have rank >= 1";
  auto a = normAxis(imp, node, *axis, dt->getRank());
  if (failed(a))
    return failure();
  Type idxType = it->getElementType();
  if (!idxType.isInteger(32) && !idxType.isInteger(64))
    return imp.nodeError(node)
           << "indices must be INT32 or INT64, got " << idxType;
  std::optional<IntConst> data = intConst(imp, node, 0);
  std::optional<IntConst> idx = intConst(imp, node, 1);
  if (data && idx) {
    ArrayRef<int64_t> ds = data->type.getShape();
    int64_t dim = ds[*a];
    int64_t outer = product(ds.take_front(*a));
    int64_t inner = product(ds.drop_front(*a + 1));
    SmallVector<int64_t> shape(ds.take_front(*a));
    llvm::append_range(shape, idx->type.getShape());
    llvm::append_range(shape, ds.drop_front(*a + 1));
    if (product(shape) <= kMaxFoldElements) {
      SmallVector<int64_t> out;
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i : idx->values) {
          if (i < -dim || i >= dim)
            return imp.nodeError(node)
                   << "index " << i << " is out of range for dimension " << *a
                   << " of size " << dim;
          int64_t j = i < 0 ? i + dim : i;
          auto base = data->values.begin() + (o * dim + j) * inner;
          out.append(base, base + inner);
        }
      defineIntFold(imp, node, shape, data->type.getElementType(), out);
      return success();
    }
  }
  auto d = imp.input(node, 0);
  if (failed(d))
    return failure();
  auto i = imp.input(node, 1);
  if (failed(i))
    return failure();
  auto op = imp.inferred<qopt::GatherOp>(node.loc, *d, *i,
                                         imp.builder.getI64IntegerAttr(*a));
  if (failed(op))
    return failure();
  imp.define(node, 0, op->getResult());
  return success();
}

static LogicalResult importShape(Importer &imp, Node &node) {
  auto xt = inputType(imp, node, 0);
  if (failed(xt))
    return failure();
  int64_t rank = xt->getRank();
  auto start = imp.attrInt(node, "start", 0);
  auto end = imp.attrInt(node, "end", rank);
  if (failed(start) || failed(end))
    return failure();
  auto clampIdx = [&](int64_t v) {
    if (v < 0)
      v += rank;
    return std::clamp<int64_t>(v, 0, rank);
  };
  int64_t s = clampIdx(*start), e = std::max(s, clampIdx(*end));
  SmallVector<int64_t> dims;
  for (int64_t i = s; i < e; ++i) {
    if (xt->isDynamicDim(i))
      return imp.nodeError(node)
             << "the input has dynamic dimension " << i << " (type " << *xt
             << "); Shape is folded at import time, so fix the dynamic dims "
                "with --input-shape";
    dims.push_back(xt->getDimSize(i));
  }
  imp.defineConstant(node, 0,
                     makeIntAttr({static_cast<int64_t>(dims.size())},
                                 imp.builder.getIntegerType(64), dims));
  return success();
}

static LogicalResult importConstant(Importer &imp, Node &node) {
  const onnx::AttributeProto *found = nullptr;
  int foundIndex = -1;
  for (int i = 0; i < node.proto->attribute_size(); ++i) {
    const onnx::AttributeProto &a = node.proto->attribute(i);
    if (found)
      return imp.nodeError(node)
             << "has more than one value attribute ('" << found->name()
             << "' and '" << a.name() << "')";
    found = &a;
    foundIndex = i;
  }
  if (!found)
    return imp.nodeError(node) << "has no value attribute";
  StringRef name = found->name();
  auto &bld = imp.builder;
  if (name == "value") {
    if (!found->has_t())
      return imp.nodeError(node) << "attribute 'value' must be a tensor";
    onnx::TensorProto *t =
        node.proto->mutable_attribute(foundIndex)->mutable_t();
    if (t->name().empty())
      t->set_name(node.output(0).str());
    auto attr = imp.tensorToAttr(
        *t, "the value of Constant '" + node.name + "'", node.loc);
    if (failed(attr))
      return failure();
    imp.defineConstant(node, 0, *attr);
    return success();
  }
  if (name == "value_float" || name == "value_floats") {
    SmallVector<float> values;
    bool scalar = name == "value_float";
    if (scalar) {
      auto f = imp.attrFloat(node, name, 0.0f);
      if (failed(f))
        return failure();
      values.push_back(*f);
    } else {
      auto fs = imp.attrFloats(node, name);
      if (failed(fs))
        return failure();
      values = **fs;
    }
    SmallVector<int64_t> shape;
    if (!scalar)
      shape.push_back(static_cast<int64_t>(values.size()));
    imp.defineConstant(
        node, 0,
        DenseElementsAttr::get(RankedTensorType::get(shape, bld.getF32Type()),
                               ArrayRef<float>(values)));
    return success();
  }
  if (name == "value_int" || name == "value_ints") {
    SmallVector<int64_t> values;
    bool scalar = name == "value_int";
    if (scalar) {
      auto i = imp.attrInt(node, name, 0);
      if (failed(i))
        return failure();
      values.push_back(*i);
    } else {
      auto is = imp.attrInts(node, name);
      if (failed(is))
        return failure();
      values = **is;
    }
    SmallVector<int64_t> shape;
    if (!scalar)
      shape.push_back(static_cast<int64_t>(values.size()));
    imp.defineConstant(node, 0,
                       makeIntAttr(shape, bld.getIntegerType(64), values));
    return success();
  }
  return imp.nodeError(node) << "attribute '" << name
                             << "' is not supported (supported: value, "
                                "value_float(s), value_int(s))";
}

//===----------------------------------------------------------------------===//
// Quantization
//===----------------------------------------------------------------------===//

/// Storage range of a quantized integer type.
static std::pair<int64_t, int64_t> storageRange(IntegerType t) {
  unsigned w = t.getWidth();
  if (t.isUnsigned())
    return {0, (int64_t{1} << w) - 1};
  return {-(int64_t{1} << (w - 1)), (int64_t{1} << (w - 1)) - 1};
}

/// Builds the !quant.uniform type for constant scale / zero point values of
/// an ONNX (De)QuantizeLinear. `storage` is the plain integer type (ui8,
/// i8, ...); `axis` is normalized for per-axis parameters.
static FailureOr<quant::QuantizedType>
buildQuantType(Importer &imp, const Node &node, IntegerType storage,
               Type expressed, ElementsAttr scaleAttr, ElementsAttr zpAttr,
               RankedTensorType dataType, int64_t axis, int64_t &axisOut) {
  auto scaleType = cast<RankedTensorType>(scaleAttr.getType());
  if (scaleType.getRank() > 1)
    return imp.nodeError(node)
           << "the scale must be a scalar or 1-D, got " << scaleType;
  auto scales = readFloatValues(scaleAttr);
  if (!scales)
    return imp.nodeError(node) << "the scale must be a floating-point tensor";
  SmallVector<int64_t> zps(scales->size(), 0);
  if (zpAttr) {
    auto zt = cast<RankedTensorType>(zpAttr.getType());
    auto values = readIntValues(zpAttr);
    if (!values || zt.getElementType() != storage)
      return imp.nodeError(node) << "the zero point must have element type "
                                 << storage << ", got " << zt;
    if (values->size() != scales->size())
      return imp.nodeError(node)
             << "the zero point has " << values->size()
             << " values but the scale has " << scales->size();
    zps = *values;
  }
  if (scales->empty())
    return imp.nodeError(node) << "the scale is empty";
  for (double s : *scales)
    if (!(s > 0) || !std::isfinite(s))
      return imp.nodeError(node) << "scale " << s
                                 << " is invalid: scales must be positive "
                                    "and finite";
  auto [qmin, qmax] = storageRange(storage);
  for (int64_t z : zps)
    if (z < qmin || z > qmax)
      return imp.nodeError(node)
             << "zero point " << z << " is out of range for " << storage;
  unsigned flags = storage.isUnsigned() ? 0 : quant::QuantizationFlags::Signed;
  Type storageSignless = imp.builder.getIntegerType(storage.getWidth());
  auto emitErr = [&]() { return imp.nodeError(node); };
  if (scales->size() == 1) {
    axisOut = 1;
    auto t = quant::UniformQuantizedType::getChecked(
        emitErr, flags, storageSignless, expressed, scales->front(),
        zps.front(), qmin, qmax);
    if (!t)
      return failure();
    return cast<quant::QuantizedType>(t);
  }
  auto a = normAxis(imp, node, axis, dataType.getRank());
  if (failed(a))
    return failure();
  int64_t dim = dataType.getDimSize(*a);
  if (!ShapedType::isDynamic(dim) &&
      dim != static_cast<int64_t>(scales->size()))
    return imp.nodeError(node)
           << "the scale has " << scales->size() << " values but axis " << *a
           << " of " << dataType << " has size " << dim;
  axisOut = *a;
  auto t = quant::UniformQuantizedPerAxisType::getChecked(
      emitErr, flags, storageSignless, expressed, *scales, zps,
      static_cast<int32_t>(*a), qmin, qmax);
  if (!t)
    return failure();
  return cast<quant::QuantizedType>(t);
}

static bool isQuantStorage(Type t, bool allowI32) {
  auto it = dyn_cast<IntegerType>(t);
  if (!it)
    return false;
  unsigned w = it.getWidth();
  return w == 8 || w == 16 || (allowI32 && w == 32 && !it.isUnsigned());
}

/// axis normalized when in range, unchanged otherwise (then only checked
/// when the parameters are per axis).
static int64_t softNormAxis(int64_t axis, int64_t rank) {
  if (axis >= -rank && axis < rank && axis < 0)
    return axis + rank;
  return axis;
}

static LogicalResult importQuantizeLinear(Importer &imp, Node &node) {
  auto axis = imp.attrInt(node, "axis", 1);
  auto blockSize = imp.attrInt(node, "block_size", 0);
  auto outputDtype = imp.attrInt(node, "output_dtype", 0);
  if (failed(axis) || failed(blockSize) || failed(outputDtype))
    return failure();
  auto x = imp.input(node, 0);
  if (failed(x) || failed(requireFloat(imp, node, *x, "input x")))
    return failure();
  auto st = inputType(imp, node, 1);
  if (failed(st))
    return failure();
  Type storage;
  if (node.hasInput(2)) {
    auto zt = inputType(imp, node, 2);
    if (failed(zt))
      return failure();
    storage = zt->getElementType();
    if (*outputDtype != 0 &&
        elementTypeFor(imp.ctx, static_cast<int32_t>(*outputDtype)) != storage)
      return imp.nodeError(node)
             << "output_dtype "
             << dataTypeName(static_cast<int32_t>(*outputDtype))
             << " differs from the zero point type " << storage;
  } else if (*outputDtype != 0) {
    storage = elementTypeFor(imp.ctx, static_cast<int32_t>(*outputDtype));
    if (!storage)
      return imp.nodeError(node)
             << "output_dtype "
             << dataTypeName(static_cast<int32_t>(*outputDtype))
             << " is not supported";
  } else {
    // ONNX: without a zero point the output is uint8.
    storage = imp.builder.getIntegerType(8, /*isSigned=*/false);
  }
  if (!isQuantStorage(storage, /*allowI32=*/false))
    return imp.nodeError(node) << "quantizing to " << storage
                               << " is not supported (INT8, UINT8, INT16 "
                                  "and UINT16 are)";
  auto xt = typeOf(*x);
  ElementsAttr scaleAttr = imp.constantInput(node, 1);
  ElementsAttr zpAttr = imp.constantInput(node, 2);
  bool constantParams =
      scaleAttr && (!node.hasInput(2) || zpAttr) && *blockSize == 0;
  if (constantParams) {
    int64_t axisOut = 1;
    auto qt = buildQuantType(imp, node, cast<IntegerType>(storage),
                             xt.getElementType(), scaleAttr, zpAttr, xt, *axis,
                             axisOut);
    if (failed(qt))
      return failure();
    auto q = std::make_shared<Entry::Quantized>();
    q->input = *x;
    q->scaleName = node.input(1).str();
    q->zeroPointName = node.input(2).str();
    q->type = *qt;
    q->storageType = storage;
    q->axis = axisOut;
    imp.defineQuantized(node, 0, std::move(q));
    return success();
  }
  auto s = imp.input(node, 1);
  if (failed(s))
    return failure();
  auto z = imp.optionalInput(node, 2);
  if (failed(z))
    return failure();
  auto op = imp.typed<qopt::QuantizeOp>(
      node.loc, RankedTensorType::get(xt.getShape(), storage), *x, *s, *z,
      imp.builder.getI64IntegerAttr(softNormAxis(*axis, xt.getRank())),
      imp.builder.getI64IntegerAttr(*blockSize));
  if (failed(op))
    return failure();
  imp.define(node, 0, op->getResult());
  return success();
}

static LogicalResult importDequantizeLinear(Importer &imp, Node &node) {
  auto axis = imp.attrInt(node, "axis", 1);
  auto blockSize = imp.attrInt(node, "block_size", 0);
  if (failed(axis) || failed(blockSize))
    return failure();
  auto xt = inputType(imp, node, 0);
  auto st = inputType(imp, node, 1);
  if (failed(xt) || failed(st))
    return failure();
  Type storage = xt->getElementType();
  if (!isQuantStorage(storage, /*allowI32=*/true))
    return imp.nodeError(node) << "dequantizing " << storage
                               << " is not supported (INT8, UINT8, INT16, "
                                  "UINT16 and INT32 are)";
  Type expressed = st->getElementType();
  if (!isa<FloatType>(expressed))
    return imp.nodeError(node)
           << "the scale must be floating-point, got " << *st;
  auto outType = RankedTensorType::get(xt->getShape(), expressed);
  ElementsAttr scaleAttr = imp.constantInput(node, 1);
  ElementsAttr zpAttr = imp.constantInput(node, 2);
  bool constantParams =
      scaleAttr && (!node.hasInput(2) || zpAttr) && *blockSize == 0;
  Entry *xe = imp.lookup(node.input(0));
  if (constantParams) {
    int64_t axisOut = 1;
    auto qt = buildQuantType(imp, node, cast<IntegerType>(storage), expressed,
                             scaleAttr, zpAttr, *xt, *axis, axisOut);
    if (failed(qt))
      return failure();
    Value q;
    if (xe->quantized && xe->quantized->type == *qt) {
      auto v = imp.staticQuantized(*xe);
      if (failed(v))
        return failure();
      q = *v;
    } else if (storage.isSignlessInteger()) {
      // quant.scast reinterprets signless storage as the quantized type.
      auto plain = imp.plainValue(*xe, node.loc);
      if (failed(plain))
        return failure();
      auto cast = imp.typed<quant::StorageCastOp>(
          node.loc, RankedTensorType::get(xt->getShape(), *qt), *plain);
      if (failed(cast))
        return failure();
      q = cast->getResult();
    }
    if (q) {
      auto op = imp.typed<qopt::DequantizeOp>(
          node.loc, outType, q, Value(), Value(),
          imp.builder.getI64IntegerAttr(1), imp.builder.getI64IntegerAttr(0));
      if (failed(op))
        return failure();
      imp.define(node, 0, op->getResult());
      return success();
    }
    // Unsigned storage cannot be storage-cast (quant.scast wants signless
    // integers): use the operand form with the constant parameters.
  }
  auto x = imp.input(node, 0);
  if (failed(x))
    return failure();
  auto s = imp.input(node, 1);
  if (failed(s))
    return failure();
  auto z = imp.optionalInput(node, 2);
  if (failed(z))
    return failure();
  auto op = imp.typed<qopt::DequantizeOp>(
      node.loc, outType, *x, *s, *z,
      imp.builder.getI64IntegerAttr(softNormAxis(*axis, xt->getRank())),
      imp.builder.getI64IntegerAttr(*blockSize));
  if (failed(op))
    return failure();
  imp.define(node, 0, op->getResult());
  return success();
}

static LogicalResult importDynamicQuantizeLinear(Importer &imp, Node &node) {
  auto x = imp.input(node, 0);
  if (failed(x))
    return failure();
  auto xt = typeOf(*x);
  if (!xt.getElementType().isF32())
    return imp.nodeError(node) << "the input must be FLOAT, got " << xt;
  Type u8 = imp.builder.getIntegerType(8, /*isSigned=*/false);
  auto op = imp.typed<qopt::DynamicQuantizeOp>(
      node.loc, RankedTensorType::get(xt.getShape(), u8),
      RankedTensorType::get({}, imp.builder.getF32Type()),
      RankedTensorType::get({}, u8), *x);
  if (failed(op))
    return failure();
  for (int i = 0; i < 3; ++i)
    imp.define(node, i, op->getResult(i));
  return success();
}

/// A 1-element zero point reshaped to a scalar (conv2d_integer takes a
/// scalar input zero point).
static FailureOr<Value> scalarIfSingle(Importer &imp, const Node &node,
                                       Value zp) {
  if (!zp)
    return zp;
  auto t = typeOf(zp);
  if (t.getRank() == 0 || !t.hasStaticShape() || t.getNumElements() != 1)
    return zp;
  return imp.reshape(node.loc, zp, {});
}

static LogicalResult importMatMulInteger(Importer &imp, Node &node) {
  auto a = imp.input(node, 0);
  if (failed(a))
    return failure();
  auto b = imp.input(node, 1);
  if (failed(b))
    return failure();
  auto azp = imp.optionalInput(node, 2);
  if (failed(azp))
    return failure();
  auto bzp = imp.optionalInput(node, 3);
  if (failed(bzp))
    return failure();
  auto m = prepareMatMul(imp, node, *a, *b, /*batchedLhs=*/true);
  if (failed(m))
    return failure();
  auto op =
      imp.inferred<qopt::MatMulIntegerOp>(node.loc, m->lhs, m->rhs, *azp, *bzp);
  if (failed(op))
    return failure();
  auto r = finishMatMul(imp, node, *m, op->getResult());
  if (failed(r))
    return failure();
  imp.define(node, 0, *r);
  return success();
}

static LogicalResult importConvInteger(Importer &imp, Node &node) {
  auto group = imp.attrInt(node, "group", 1);
  if (failed(group))
    return failure();
  auto x = imp.input(node, 0);
  if (failed(x))
    return failure();
  auto w = imp.input(node, 1);
  if (failed(w))
    return failure();
  auto xzp = imp.optionalInput(node, 2);
  if (failed(xzp))
    return failure();
  auto wzp = imp.optionalInput(node, 3);
  if (failed(wzp))
    return failure();
  auto win = convWindow(imp, node, *x, *w);
  if (failed(win))
    return failure();
  auto xz = scalarIfSingle(imp, node, *xzp);
  if (failed(xz))
    return failure();
  auto &bld = imp.builder;
  auto op = imp.inferred<qopt::Conv2DIntegerOp>(
      node.loc, *x, *w, *xz, *wzp, bld.getDenseI64ArrayAttr(win->strides),
      bld.getDenseI64ArrayAttr(win->pads),
      bld.getDenseI64ArrayAttr(win->dilations), bld.getI64IntegerAttr(*group));
  if (failed(op))
    return failure();
  imp.define(node, 0, op->getResult());
  return success();
}

/// ONNX Runtime's float requantization of QLinearMatMul / QLinearConv:
/// multiplier = (s1 * s2) / y_scale with qopt.mul and qopt.div, then
/// qopt.requantize(acc, multiplier, y_zero_point). `perAxis` is the
/// accumulator axis a vector multiplier runs along.
static FailureOr<Value> requantizeEpilogue(Importer &imp, Node &node, Value acc,
                                           int s1Index, int s2Index,
                                           int perAxis) {
  auto s1 = imp.input(node, s1Index);
  if (failed(s1))
    return failure();
  auto s2 = imp.input(node, s2Index);
  if (failed(s2))
    return failure();
  auto ys = imp.input(node, 6);
  if (failed(ys))
    return failure();
  auto yzp = imp.input(node, 7);
  if (failed(yzp))
    return failure();
  auto count = [](Value v) {
    auto t = typeOf(v);
    return t.hasStaticShape() ? t.getNumElements() : kDyn;
  };
  if (count(*ys) != 1 || count(*yzp) != 1)
    return imp.nodeError(node)
           << "y_scale and y_zero_point must have one element";
  int64_t n1 = count(*s1), n2 = count(*s2);
  if (n1 != 1 && n2 != 1)
    return imp.nodeError(node)
           << "per-row scales of the first operand together with "
              "per-column/channel scales of the second are not supported";
  if (n1 != 1 && perAxis == 1)
    return imp.nodeError(node) << "x_scale must have one element";
  for (Value v : {*s1, *s2})
    if (typeOf(v).getRank() > 1)
      return imp.nodeError(node)
             << "scales must be scalars or 1-D, got " << v.getType();
  auto mul = imp.inferred<qopt::MulOp>(node.loc, *s1, *s2);
  if (failed(mul))
    return failure();
  auto div = imp.inferred<qopt::DivOp>(node.loc, mul->getResult(), *ys);
  if (failed(div))
    return failure();
  Value multiplier = div->getResult();
  auto mt = typeOf(multiplier);
  int64_t rank = typeOf(acc).getRank();
  // Per-row scales of the first operand run along the accumulator's rows;
  // per-column/channel scales of the second along `perAxis`.
  int64_t axis = 1;
  if (n1 != 1)
    axis = rank - 2;
  else if (n2 != 1)
    axis = perAxis < 0 ? perAxis + rank : perAxis;
  // The zero point takes the multiplier's shape.
  Value zp = *yzp;
  auto zt = typeOf(zp);
  if (zt.getShape() != mt.getShape()) {
    if (mt.hasStaticShape() && mt.getNumElements() == 1) {
      auto r = imp.reshape(node.loc, zp, mt.getShape());
      if (failed(r))
        return failure();
      zp = *r;
    } else {
      // Broadcast the scalar zero point to the multiplier's [N] shape.
      if (ElementsAttr c = imp.constantInput(node, 7)) {
        auto values = readIntValues(c);
        if (!values || values->size() != 1)
          return imp.nodeError(node) << "invalid y_zero_point";
        SmallVector<int64_t> rep(product(mt.getShape()), values->front());
        zp = imp.materializeConstant(
            makeIntAttr(mt.getShape(), zt.getElementType(), rep), node.loc);
      } else {
        auto scalar = imp.reshape(node.loc, zp, {});
        if (failed(scalar))
          return failure();
        SmallVector<int64_t> zeros(product(mt.getShape()), 0);
        Value z = imp.materializeConstant(
            makeIntAttr(mt.getShape(), zt.getElementType(), zeros), node.loc);
        auto add = imp.inferred<qopt::AddOp>(node.loc, *scalar, z);
        if (failed(add))
          return failure();
        zp = add->getResult();
      }
    }
  }
  auto at = typeOf(acc);
  auto op = imp.typed<qopt::RequantizeOp>(
      node.loc, RankedTensorType::get(at.getShape(), zt.getElementType()), acc,
      multiplier, zp, imp.builder.getI64IntegerAttr(axis));
  if (failed(op))
    return failure();
  return op->getResult();
}

static LogicalResult importQLinearMatMul(Importer &imp, Node &node) {
  auto a = imp.input(node, 0);
  if (failed(a))
    return failure();
  auto azp = imp.input(node, 2);
  if (failed(azp))
    return failure();
  auto b = imp.input(node, 3);
  if (failed(b))
    return failure();
  auto bzp = imp.input(node, 5);
  if (failed(bzp))
    return failure();
  auto m = prepareMatMul(imp, node, *a, *b, /*batchedLhs=*/true);
  if (failed(m))
    return failure();
  auto acc =
      imp.inferred<qopt::MatMulIntegerOp>(node.loc, m->lhs, m->rhs, *azp, *bzp);
  if (failed(acc))
    return failure();
  auto y = requantizeEpilogue(imp, node, acc->getResult(), 1, 4,
                              /*perAxis=*/-1);
  if (failed(y))
    return failure();
  auto r = finishMatMul(imp, node, *m, *y);
  if (failed(r))
    return failure();
  imp.define(node, 0, *r);
  return success();
}

static LogicalResult importQLinearConv(Importer &imp, Node &node) {
  auto group = imp.attrInt(node, "group", 1);
  if (failed(group))
    return failure();
  auto x = imp.input(node, 0);
  if (failed(x))
    return failure();
  auto xzp = imp.input(node, 2);
  if (failed(xzp))
    return failure();
  auto w = imp.input(node, 3);
  if (failed(w))
    return failure();
  auto wzp = imp.input(node, 5);
  if (failed(wzp))
    return failure();
  auto bias = imp.optionalInput(node, 8);
  if (failed(bias))
    return failure();
  auto win = convWindow(imp, node, *x, *w);
  if (failed(win))
    return failure();
  auto xz = scalarIfSingle(imp, node, *xzp);
  if (failed(xz))
    return failure();
  auto &bld = imp.builder;
  auto conv = imp.inferred<qopt::Conv2DIntegerOp>(
      node.loc, *x, *w, *xz, *wzp, bld.getDenseI64ArrayAttr(win->strides),
      bld.getDenseI64ArrayAttr(win->pads),
      bld.getDenseI64ArrayAttr(win->dilations), bld.getI64IntegerAttr(*group));
  if (failed(conv))
    return failure();
  Value acc = conv->getResult();
  if (*bias) {
    auto bt = typeOf(*bias);
    if (bt.getRank() != 1 || !bt.getElementType().isInteger(32) ||
        bt.getElementType().isUnsignedInteger())
      return imp.nodeError(node)
             << "the bias must be a 1-D INT32 tensor, got " << bt;
    auto b3 = imp.reshape(node.loc, *bias, {bt.getDimSize(0), 1, 1});
    if (failed(b3))
      return failure();
    auto add = imp.inferred<qopt::AddOp>(node.loc, acc, *b3);
    if (failed(add))
      return failure();
    acc = add->getResult();
  }
  auto y = requantizeEpilogue(imp, node, acc, 1, 4, /*perAxis=*/1);
  if (failed(y))
    return failure();
  imp.define(node, 0, *y);
  return success();
}

//===----------------------------------------------------------------------===//
// Registry
//===----------------------------------------------------------------------===//

static const llvm::StringMap<OpInfo> &opTable() {
  static const llvm::StringMap<OpInfo> table = {
      {"Add", {importBinary<qopt::AddOp>, 7}},
      {"Sub", {importBinary<qopt::SubOp>, 7}},
      {"Mul", {importBinary<qopt::MulOp>, 7}},
      {"Div", {importBinary<qopt::DivOp>, 7}},
      {"Pow", {importBinary<qopt::PowOp>, 7}},
      {"Sqrt", {importUnary<qopt::SqrtOp>, 6}},
      {"Exp", {importUnary<qopt::ExpOp>, 6}},
      {"Erf", {importUnary<qopt::ErfOp>, 9}},
      {"Tanh", {importUnary<qopt::TanhOp>, 6}},
      {"Sigmoid", {importUnary<qopt::SigmoidOp>, 6}},
      {"Relu", {importUnary<qopt::ReluOp>, 6}},
      {"Neg", {importUnary<qopt::NegOp>, 6}},
      {"Gelu", {importGelu, 20}},
      {"Softmax", {importSoftmax, 1}},
      {"MatMul", {importMatMul, 1}},
      {"Gemm", {importGemm, 7}},
      {"Conv", {importConv, 1}},
      {"MaxPool", {importMaxPool, 1}},
      {"AveragePool", {importAveragePool, 1}},
      {"GlobalAveragePool", {importGlobalAveragePool, 1}},
      {"LayerNormalization", {importLayerNorm, 17}},
      {"ReduceMean", {importReduce<qopt::ReduceMeanOp, 18>, 1}},
      {"ReduceSum", {importReduce<qopt::ReduceSumOp, 13>, 1}},
      {"ReduceMax", {importReduce<qopt::ReduceMaxOp, 18>, 1}},
      {"Reshape", {importReshape, 5}},
      {"Flatten", {importFlatten, 1}},
      {"Squeeze", {importSqueeze, 1}},
      {"Unsqueeze", {importUnsqueeze, 1}},
      {"Transpose", {importTranspose, 1}},
      {"Concat", {importConcat, 4}},
      {"Slice", {importSlice, 1}},
      {"Gather", {importGather, 1}},
      {"Where", {importWhere, 9}},
      {"Cast", {importCast, 6}},
      {"Identity", {importIdentity, 1}},
      {"Constant", {importConstant, 1}},
      {"Shape", {importShape, 1}},
      {"QuantizeLinear", {importQuantizeLinear, 10}},
      {"DequantizeLinear", {importDequantizeLinear, 10}},
      {"DynamicQuantizeLinear", {importDynamicQuantizeLinear, 11}},
      {"MatMulInteger", {importMatMulInteger, 10}},
      {"ConvInteger", {importConvInteger, 10}},
      {"QLinearMatMul", {importQLinearMatMul, 10}},
      {"QLinearConv", {importQLinearConv, 10}},
  };
  return table;
}

const OpInfo *qopt::onnximport::lookupOp(StringRef opType) {
  const auto &table = opTable();
  auto it = table.find(opType);
  return it == table.end() ? nullptr : &it->second;
}

std::vector<std::string> qopt::onnximport::supportedOpTypes() {
  std::vector<std::string> ops;
  for (const auto &kv : opTable())
    ops.push_back(kv.getKey().str());
  llvm::sort(ops);
  return ops;
}

std::string qopt::onnximport::shapeStr(ArrayRef<int64_t> shape) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << "[";
  llvm::interleave(
      shape, os,
      [&](int64_t d) {
        if (ShapedType::isDynamic(d))
          os << "?";
        else
          os << d;
      },
      ", ");
  os << "]";
  return s;
}
