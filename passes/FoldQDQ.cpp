//===- FoldQDQ.cpp - fold quantize/dequantize form into integer ops -------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Two phases, each a greedy rewrite to a fixpoint:
//
// 1. Exact folds (always): quantize(dequantize(q)) -> q (the op's folder),
//    identity requantizes and clamp-only requantize chains, quantize of a
//    constant -> integer constant + quant.scast, and data movement moved to
//    the integer side (dequantize sunk below, quantize hoisted above
//    reshape/transpose/slice/gather/concat/max_pool2d). Every one of these
//    leaves every value the executor computes bit-identical.
// 2. Integer lowering (integer-ops=true): matmul/gemm/conv2d/batch_matmul
//    with dequantized operands become matmul_integer/conv2d_integer with an
//    int32 bias and a requantize epilogue (or a dequantized accumulator), and
//    per-token dynamic activations become matmul_integer + float rescale.
//    This changes float rounding (exact int32 sums instead of f32 sums of
//    dequantized products); see docs/numerics.md.
//
//===----------------------------------------------------------------------===//

#include "qopt/dialects/qopt/QOptOps.h"
#include "qopt/executor/Interpreter.h"
#include "qopt/executor/Kernels.h"
#include "qopt/passes/Passes.h"
#include "qopt/passes/QuantUtils.h"

#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

namespace qopt {
#define GEN_PASS_DEF_QOPTFOLDQDQPASS
#include "qopt/passes/Passes.h.inc"
} // namespace qopt

using namespace mlir;
using namespace qopt;

namespace {

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

RankedTensorType rankedOf(Value v) {
  return cast<RankedTensorType>(v.getType());
}

quant::QuantizedType quantOf(Value v) {
  return dyn_cast<quant::QuantizedType>(rankedOf(v).getElementType());
}

/// The quantized input of a static-form dequantize producing `v`, else null.
Value staticDequantInput(Value v) {
  auto dq = v ? v.getDefiningOp<DequantizeOp>() : DequantizeOp();
  if (!dq || dq.getScale() || !quantOf(dq.getInput()))
    return {};
  return dq.getInput();
}

/// Per-tensor or per-axis (not sub-channel) with an f32 expressed type.
bool isSimpleQuant(quant::QuantizedType qt) {
  return qt && qt.getExpressedType().isF32() &&
         (isa<quant::UniformQuantizedType>(qt) ||
          isa<quant::UniformQuantizedPerAxisType>(qt));
}

Value dequantize(PatternRewriter &rw, Location loc, Value q, Type floatElt) {
  auto t = RankedTensorType::get(rankedOf(q).getShape(), floatElt);
  return DequantizeOp::create(rw, loc, t, q, Value(), Value(), 1, 0);
}

RankedTensorType withElement(Value v, Type elt) {
  return RankedTensorType::get(rankedOf(v).getShape(), elt);
}

/// The signless integer type quant.scast accepts for a signed storage type.
Type signlessStorage(quant::QuantizedType qt) {
  return IntegerType::get(qt.getContext(), qt.getStorageTypeIntegralWidth());
}

/// A per-axis type with another quantized dimension.
quant::UniformQuantizedPerAxisType
withAxis(quant::UniformQuantizedPerAxisType pa, int32_t axis) {
  return quant::UniformQuantizedPerAxisType::get(
      pa.getFlags(), pa.getStorageType(), pa.getExpressedType(), pa.getScales(),
      pa.getZeroPoints(), axis, pa.getStorageTypeMin(), pa.getStorageTypeMax());
}

/// Runs max_pool2d (the attributes of `pool`) on a per-tensor quantized
/// value. max commutes with dequantize and quantize (both are monotone), so
/// this is exact. Signed storage pools the storage integers (scast);
/// unsigned 8-bit storage is first moved to signed storage with an exact
/// requantize (same scale, zero point - 128) and back.
FailureOr<Value> integerMaxPool(PatternRewriter &rw, MaxPool2DOp pool,
                                Value q) {
  auto qt = dyn_cast<quant::UniformQuantizedType>(quantOf(q));
  if (!qt || !qt.getExpressedType().isF32())
    return failure();
  Location loc = pool.getLoc();
  auto outShape = rankedOf(pool.getOutput()).getShape();
  quant::UniformQuantizedType st = qt;
  Value in = q;
  if (!qt.isSigned()) {
    if (qt.getStorageTypeIntegralWidth() != 8)
      return failure();
    st = quant::UniformQuantizedType::get(
        quant::QuantizationFlags::Signed, IntegerType::get(rw.getContext(), 8),
        qt.getExpressedType(), qt.getScale(), qt.getZeroPoint() - 128,
        qt.getStorageTypeMin() - 128, qt.getStorageTypeMax() - 128);
    in = RequantizeOp::create(rw, loc, withElement(q, st), in, Value(), Value(),
                              1);
  }
  Type storage = signlessStorage(st);
  Value ints =
      quant::StorageCastOp::create(rw, loc, withElement(in, storage), in);
  Operation *np = rw.clone(*pool);
  np->setOperand(0, ints);
  np->getResult(0).setType(RankedTensorType::get(outShape, storage));
  Value out = quant::StorageCastOp::create(
      rw, loc, RankedTensorType::get(outShape, st), np->getResult(0));
  if (st != qt)
    out = RequantizeOp::create(rw, loc, RankedTensorType::get(outShape, qt),
                               out, Value(), Value(), 1);
  return out;
}

/// The quantized type of the result of the unary data-movement op `op` whose
/// input has type `qt`; null when the op cannot carry it. The ops infer
/// their result element type from the input, so a per-axis type only moves
/// when its quantized dimension keeps its index and its size.
quant::QuantizedType movedQuantType(Operation *op, quant::QuantizedType qt) {
  if (!isSimpleQuant(qt))
    return {};
  if (isa<quant::UniformQuantizedType>(qt))
    return qt;
  auto pa = cast<quant::UniformQuantizedPerAxisType>(qt);
  int64_t d = pa.getQuantizedDimension();
  bool keeps =
      llvm::TypeSwitch<Operation *, bool>(op)
          .Case([&](TransposeOp t) { return t.getPerm()[d] == d; })
          .Case([&](GatherOp g) {
            auto axis = normalizeAxis(static_cast<int64_t>(g.getAxis()),
                                      rankedOf(g.getData()).getRank());
            return succeeded(axis) && d < *axis;
          })
          .Case([&](SliceOp s) {
            int64_t size = rankedOf(s.getInput()).getDimSize(d);
            return !ShapedType::isDynamic(size) && s.getStarts()[d] == 0 &&
                   s.getEnds()[d] == size && s.getSteps()[d] == 1;
          })
          .Default([](Operation *) { return false; });
  return keeps ? qt : quant::QuantizedType();
}

bool isUnaryDataMovement(Operation *op) {
  return isa<ReshapeOp, TransposeOp, SliceOp, GatherOp, MaxPool2DOp>(op);
}

/// Clones the unary data-movement op onto the quantized value `q` (result
/// element type `qt`); max_pool2d goes through integerMaxPool.
FailureOr<Value> moveOnQuantized(PatternRewriter &rw, Operation *op, Value q,
                                 quant::QuantizedType qt) {
  if (auto pool = dyn_cast<MaxPool2DOp>(op))
    return integerMaxPool(rw, pool, q);
  Operation *clone = rw.clone(*op);
  clone->setOperand(0, q);
  clone->getResult(0).setType(withElement(op->getResult(0), qt));
  return clone->getResult(0);
}

//===----------------------------------------------------------------------===//
// Phase 1: exact folds
//===----------------------------------------------------------------------===//

/// op(dequantize(q)) -> dequantize(op(q)) for data movement: the same values
/// are moved, so the floats are bit-identical.
struct SinkDequantize : public RewritePattern {
  SinkDequantize(MLIRContext *ctx)
      : RewritePattern(MatchAnyOpTypeTag(), /*benefit=*/1, ctx) {}
  LogicalResult matchAndRewrite(Operation *op,
                                PatternRewriter &rw) const override {
    if (auto concat = dyn_cast<ConcatOp>(op))
      return rewriteConcat(concat, rw);
    if (!isUnaryDataMovement(op))
      return failure();
    Value q = staticDequantInput(op->getOperand(0));
    if (!q)
      return rw.notifyMatchFailure(op, "input is not a static dequantize");
    auto qt = movedQuantType(op, quantOf(q));
    if (!qt || (isa<MaxPool2DOp>(op) && !isa<quant::UniformQuantizedType>(qt)))
      return rw.notifyMatchFailure(op, "quantized type does not move");
    Type floatElt = rankedOf(op->getResult(0)).getElementType();
    if (floatElt != qt.getExpressedType())
      return failure();
    auto moved = moveOnQuantized(rw, op, q, qt);
    if (failed(moved))
      return failure();
    rw.replaceOp(op, dequantize(rw, op->getLoc(), *moved, floatElt));
    return success();
  }

  LogicalResult rewriteConcat(ConcatOp op, PatternRewriter &rw) const {
    SmallVector<Value> qs;
    quant::QuantizedType qt;
    for (Value in : op.getInputs()) {
      Value q = staticDequantInput(in);
      if (!q)
        return failure();
      auto t = quantOf(q);
      if (qt && t != qt)
        return rw.notifyMatchFailure(op, "inputs have different quant types");
      qt = t;
      qs.push_back(q);
    }
    if (!isSimpleQuant(qt))
      return failure();
    if (auto pa = dyn_cast<quant::UniformQuantizedPerAxisType>(qt)) {
      auto axis = normalizeAxis(static_cast<int64_t>(op.getAxis()),
                                op.getType().getRank());
      if (failed(axis) || pa.getQuantizedDimension() == *axis)
        return failure();
    }
    Type floatElt = op.getType().getElementType();
    auto c = ConcatOp::create(rw, op.getLoc(), withElement(op, qt), qs,
                              op.getAxis());
    rw.replaceOp(op, dequantize(rw, op.getLoc(), c, floatElt));
    return success();
  }
};

/// quantize(op(x)) -> op(quantize(x)) for single-use data movement:
/// quantize is elementwise and monotone, so it commutes exactly (this lets
/// the epilogue of a linear op reach its quantize, e.g. through a
/// max_pool2d or reshape).
struct HoistQuantize : public OpRewritePattern<QuantizeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(QuantizeOp op,
                                PatternRewriter &rw) const override {
    if (op.getScale())
      return failure();
    Operation *mover = op.getInput().getDefiningOp();
    if (!mover || !isUnaryDataMovement(mover) || !mover->hasOneUse())
      return failure();
    auto qt = dyn_cast<quant::UniformQuantizedType>(quantOf(op.getOutput()));
    if (!qt || !qt.getExpressedType().isF32())
      return rw.notifyMatchFailure(op, "only per-tensor types are hoisted");
    Value x = mover->getOperand(0);
    if (rankedOf(x).getElementType() != qt.getExpressedType())
      return failure();
    // slice and gather select part of their input: quantizing all of it at
    // run time would cost more, so only constants (which fold) are hoisted.
    if (isa<SliceOp, GatherOp>(mover) && !x.getDefiningOp<ConstantOp>())
      return rw.notifyMatchFailure(op, "would quantize more than is used");
    if (isa<MaxPool2DOp>(mover) && !qt.isSigned() &&
        qt.getStorageTypeIntegralWidth() != 8)
      return rw.notifyMatchFailure(op, "no integer max_pool2d for this type");
    rw.setInsertionPoint(mover);
    Value q = QuantizeOp::create(rw, op.getLoc(), withElement(x, qt), x,
                                 Value(), Value(), 1, 0);
    auto moved = moveOnQuantized(rw, mover, q, qt);
    if (failed(moved))
      return failure();
    rw.replaceOp(op, *moved);
    return success();
  }
};

/// requantize(x : T -> T) -> x, and
/// requantize(requantize(x : A -> B) : B -> C) -> requantize(x : A -> C) when
/// B and C have the same f32 scale and zero point and C's range lies in B's:
/// the outer op then only clamps, which the merged op's saturation does.
struct FoldRequantize : public OpRewritePattern<RequantizeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RequantizeOp op,
                                PatternRewriter &rw) const override {
    if (op.getMultiplier())
      return failure();
    if (op.getInput().getType() == op.getType() &&
        quantOf(op.getInput()).getStorageTypeIntegralWidth() <= 24) {
      rw.replaceOp(op, op.getInput());
      return success();
    }
    auto inner = op.getInput().getDefiningOp<RequantizeOp>();
    if (!inner || inner.getMultiplier())
      return failure();
    auto b = dyn_cast<quant::UniformQuantizedType>(quantOf(inner.getOutput()));
    auto c = dyn_cast<quant::UniformQuantizedType>(quantOf(op.getOutput()));
    if (!b || !c ||
        static_cast<float>(b.getScale()) != static_cast<float>(c.getScale()) ||
        b.getZeroPoint() != c.getZeroPoint() ||
        c.getStorageTypeMin() < b.getStorageTypeMin() ||
        c.getStorageTypeMax() > b.getStorageTypeMax())
      return rw.notifyMatchFailure(op, "not a clamp-only chain");
    rw.replaceOpWithNewOp<RequantizeOp>(op, op.getType(), inner.getInput(),
                                        Value(), Value(), 1);
    return success();
  }
};

/// Shared by the patterns that read constants: a constant without data is
/// reported once and fails the pass.
struct FoldState {
  bool failed = false;
  llvm::DenseSet<Operation *> reported;
  void error(Operation *op, llvm::Error err, StringRef what) {
    std::string msg = llvm::toString(std::move(err));
    failed = true;
    if (reported.insert(op).second)
      op->emitError() << "qopt-fold-qdq: cannot read " << what << ": " << msg;
  }
};

/// Scale and zero-point tensors of a per-tensor / per-axis type, as the
/// executor's kernels want them.
struct TypeParams {
  Tensor scale, zeroPoint;
  int64_t axis = 1;
  DType storage = DType::I8;
};

std::optional<TypeParams> typeParams(quant::QuantizedType qt) {
  auto dt = runtimeDType(qt);
  if (!dt)
    return std::nullopt;
  TypeParams p;
  p.storage = *dt;
  SmallVector<double> scales;
  SmallVector<int64_t> zps;
  if (auto u = dyn_cast<quant::UniformQuantizedType>(qt)) {
    scales.push_back(u.getScale());
    zps.push_back(u.getZeroPoint());
    p.scale = Tensor(DType::F32, {});
    p.zeroPoint = Tensor(p.storage, {});
  } else if (auto pa = dyn_cast<quant::UniformQuantizedPerAxisType>(qt)) {
    llvm::append_range(scales, pa.getScales());
    llvm::append_range(zps, pa.getZeroPoints());
    int64_t n = scales.size();
    p.axis = pa.getQuantizedDimension();
    p.scale = Tensor(DType::F32, {n});
    p.zeroPoint = Tensor(p.storage, {n});
  } else {
    return std::nullopt;
  }
  for (size_t i = 0; i < scales.size(); ++i) {
    p.scale.mutableData<float>()[i] = static_cast<float>(scales[i]);
    p.zeroPoint.setFromDouble(i, static_cast<double>(zps[i]));
  }
  return p;
}

/// quantize(constant) -> constant (storage integers) + quant.scast, computed
/// by the executor's quantize kernel so the integers are those qopt-run
/// computes. Only signed storage: quant.scast needs signless integers, which
/// the executor runs as signed.
struct FoldQuantizeConstant : public OpRewritePattern<QuantizeOp> {
  FoldQuantizeConstant(MLIRContext *ctx, FoldState &state)
      : OpRewritePattern(ctx), state(state) {}
  LogicalResult matchAndRewrite(QuantizeOp op,
                                PatternRewriter &rw) const override {
    if (op.getScale() || !op.getInput().getDefiningOp<ConstantOp>())
      return failure();
    auto qt = quantOf(op.getOutput());
    if (!isSimpleQuant(qt) || !qt.isSigned() ||
        !rankedOf(op.getOutput()).hasStaticShape())
      return rw.notifyMatchFailure(op, "unsupported type for constant folding");
    auto params = typeParams(qt);
    if (!params)
      return failure();
    auto x = constantValue(op.getInput());
    if (!x) {
      state.error(op, x.takeError(), "the quantized constant");
      return failure();
    }
    auto q = kernels::quantizeLinear(
        *x, params->scale, &params->zeroPoint, params->axis, 0, params->storage,
        qt.getStorageTypeMin(), qt.getStorageTypeMax());
    if (!q) {
      state.error(op, q.takeError(), "the quantized constant");
      return failure();
    }
    Type storage = signlessStorage(qt);
    Value c = buildConstant(rw, op.getLoc(), *q, storage, "qdq.folded");
    rw.replaceOpWithNewOp<quant::StorageCastOp>(op, op.getType(), c);
    return success();
  }
  FoldState &state;
};

//===----------------------------------------------------------------------===//
// Phase 2: integer linear ops
//===----------------------------------------------------------------------===//

/// A constant weight in QDQ form: qopt.constant -> quant.scast -> dequantize.
struct QuantWeight {
  Value quantized;     ///< the scast result (quantized type)
  ConstantOp constant; ///< the storage integers
  quant::QuantizedType type;
};

/// Matches a static dequantize of a scast constant with 8-bit storage.
FailureOr<QuantWeight> matchConstWeight(Value w, std::string &why) {
  Value q = staticDequantInput(w);
  if (!q) {
    why = "the weight is not a static dequantize";
    return failure();
  }
  auto cast = q.getDefiningOp<quant::StorageCastOp>();
  auto c = cast ? cast.getInput().getDefiningOp<ConstantOp>() : ConstantOp();
  if (!c) {
    why = "the weight is not a constant";
    return failure();
  }
  auto qt = quantOf(q);
  if (!isSimpleQuant(qt) || qt.getStorageTypeIntegralWidth() != 8) {
    why = "the weight is not 8-bit per-tensor or per-axis";
    return failure();
  }
  return QuantWeight{q, c, qt};
}

/// f32 scales of a per-tensor / per-axis type (one entry for per-tensor).
SmallVector<float> scalesOf(quant::QuantizedType qt) {
  SmallVector<float> s;
  if (auto u = dyn_cast<quant::UniformQuantizedType>(qt))
    s.push_back(static_cast<float>(u.getScale()));
  else
    for (double d : cast<quant::UniformQuantizedPerAxisType>(qt).getScales())
      s.push_back(static_cast<float>(d));
  return s;
}

enum class Kind { MatMul, Gemm, Conv, BatchMatMul };

/// Everything the integer rewrite of one linear op needs; built by
/// analyzeLinear without touching the IR.
struct LinearPlan {
  Kind kind;
  Operation *op;
  Value x;                           ///< quantized activation
  std::optional<QuantWeight> weight; ///< constant weight (not batch_matmul)
  Value rhs;                         ///< quantized batch_matmul rhs
  bool transposeWeight = false;
  int64_t outAxis = 0;  ///< output-channel dim of the accumulator
  int64_t channels = 1; ///< N (or O)
  Value bias;           ///< float constant bias, or null
  float beta = 1.0f;
  Operation *biasAdd = nullptr; ///< trailing qopt.add absorbed as the bias
  ReluOp relu;                  ///< relu absorbed into the epilogue
  QuantizeOp quantize;          ///< the epilogue's quantize (fused form)
};

/// The constant 1-D bias [N] of a trailing qopt.add, or null.
Value trailingBias(AddOp add, Value acc, int64_t n) {
  Value other = add.getLhs() == acc ? add.getRhs() : add.getLhs();
  if (!other.getDefiningOp<ConstantOp>() || add.getType() != acc.getType())
    return {};
  auto t = rankedOf(other);
  if (!t.getElementType().isF32() || t.getRank() != 1 || t.getDimSize(0) != n)
    return {};
  return other;
}

FailureOr<LinearPlan> analyzeLinear(Operation *op, std::string &why) {
  LinearPlan p;
  p.op = op;
  Value act, w;
  if (auto m = dyn_cast<MatMulOp>(op)) {
    p.kind = Kind::MatMul;
    act = m.getLhs();
    w = m.getRhs();
  } else if (auto g = dyn_cast<GemmOp>(op)) {
    p.kind = Kind::Gemm;
    if (g.getAlpha().convertToFloat() != 1.0f) {
      why = "gemm alpha != 1";
      return failure();
    }
    if (g.getTransA()) {
      why = "gemm with trans_a";
      return failure();
    }
    act = g.getA();
    w = g.getB();
    p.transposeWeight = g.getTransB();
    p.bias = g.getC();
    p.beta = g.getBeta().convertToFloat();
  } else if (auto c = dyn_cast<Conv2DOp>(op)) {
    p.kind = Kind::Conv;
    act = c.getInput();
    w = c.getFilter();
    p.bias = c.getBias();
  } else if (auto b = dyn_cast<BatchMatMulOp>(op)) {
    p.kind = Kind::BatchMatMul;
    act = b.getLhs();
    w = b.getRhs();
  } else {
    return failure();
  }
  auto outType = rankedOf(op->getResult(0));
  if (!outType.getElementType().isF32()) {
    why = "the result is not f32";
    return failure();
  }
  p.x = staticDequantInput(act);
  auto xt = p.x ? dyn_cast<quant::UniformQuantizedType>(quantOf(p.x))
                : quant::UniformQuantizedType();
  if (!xt || !xt.getExpressedType().isF32() ||
      xt.getStorageTypeIntegralWidth() != 8) {
    why = "the activation is not a per-tensor 8-bit static dequantize";
    return failure();
  }
  p.outAxis = p.kind == Kind::Conv ? 1 : outType.getRank() - 1;
  p.channels = outType.getDimSize(p.outAxis);
  if (p.kind == Kind::BatchMatMul) {
    p.rhs = staticDequantInput(w);
    auto rt = p.rhs ? dyn_cast<quant::UniformQuantizedType>(quantOf(p.rhs))
                    : quant::UniformQuantizedType();
    if (!rt || !rt.getExpressedType().isF32() ||
        rt.getStorageTypeIntegralWidth() != 8) {
      why = "the rhs is not a per-tensor 8-bit static dequantize";
      return failure();
    }
  } else {
    auto qw = matchConstWeight(w, why);
    if (failed(qw))
      return failure();
    p.weight = *qw;
    int64_t wantAxis = p.kind == Kind::Conv ? 0 : (p.transposeWeight ? 0 : 1);
    if (auto pa = dyn_cast<quant::UniformQuantizedPerAxisType>(qw->type))
      if (pa.getQuantizedDimension() != wantAxis) {
        why = "the weight is not quantized along its output channels";
        return failure();
      }
    if (p.transposeWeight && !qw->type.isSigned()) {
      why = "a transposed weight must have signed storage";
      return failure();
    }
    if (ShapedType::isDynamic(p.channels)) {
      why = "the number of output channels is dynamic";
      return failure();
    }
  }
  if (p.bias) {
    auto bt = rankedOf(p.bias);
    bool shapeOk =
        bt.getNumElements() == p.channels &&
        (bt.getRank() == 1 || (bt.getRank() == 2 && bt.getDimSize(0) == 1));
    if (!p.bias.getDefiningOp<ConstantOp>() || !bt.getElementType().isF32() ||
        !shapeOk) {
      why = "the bias is not a constant f32 [N]";
      return failure();
    }
  }
  // The epilogue: [+ bias] [relu] quantize, each value with a single use.
  Value cur = op->getResult(0);
  if (!p.bias && p.kind != Kind::Conv && cur.hasOneUse())
    if (auto add = dyn_cast<AddOp>(*cur.getUsers().begin()))
      if (Value b = trailingBias(add, cur, p.channels)) {
        p.bias = b;
        p.biasAdd = add;
        cur = add.getResult();
      }
  if (cur.hasOneUse())
    if (auto relu = dyn_cast<ReluOp>(*cur.getUsers().begin())) {
      p.relu = relu;
      cur = relu.getResult();
    }
  if (cur.hasOneUse())
    if (auto q = dyn_cast<QuantizeOp>(*cur.getUsers().begin())) {
      auto qt = dyn_cast<quant::UniformQuantizedType>(quantOf(q.getOutput()));
      if (!q.getScale() && qt && qt.getExpressedType().isF32() &&
          qt.getStorageTypeIntegralWidth() <= 16)
        p.quantize = q;
    }
  if (!p.quantize) {
    // Dequantized accumulator: only the op itself (and its bias operand) is
    // replaced; a trailing add and relu stay float.
    if (p.biasAdd) {
      p.bias = {};
      p.biasAdd = nullptr;
    }
    p.relu = {};
  }
  return p;
}

NameLoc subLoc(Location loc, StringRef suffix, Operation *op) {
  return NameLoc::get(
      StringAttr::get(loc.getContext(), opDisplayName(op) + suffix.str()), loc);
}

void markScheme(Operation *from, Operation *to) {
  if (auto s = from->getAttr("qopt.scheme"))
    to->setAttr("qopt.scheme", s);
}

/// The [K, N] storage integers of a trans_b gemm's [N, K] weight, read and
/// transposed before any IR is created (a failure leaves the IR untouched).
FailureOr<std::optional<Tensor>> transposedWeight(const LinearPlan &p,
                                                  FoldState &state) {
  if (!p.transposeWeight)
    return std::optional<Tensor>();
  ConstantOp c = p.weight->constant;
  auto data = tensorFromAttr(c.getValue());
  if (!data) {
    state.error(p.weight->constant, data.takeError(), "the weight constant");
    return failure();
  }
  auto t = kernels::transpose(*data, {1, 0});
  if (!t) {
    state.error(p.weight->constant, t.takeError(), "the weight constant");
    return failure();
  }
  return std::optional<Tensor>(std::move(*t));
}

/// The quantized [K, N] / OIHW weight operand: the original one, or a new
/// constant holding the transposed integers `t` with the per-axis type moved
/// to dim 1.
Value weightOperand(PatternRewriter &rw, const LinearPlan &p,
                    const std::optional<Tensor> &t) {
  if (!t)
    return p.weight->quantized;
  quant::QuantizedType qt = p.weight->type;
  if (auto pa = dyn_cast<quant::UniformQuantizedPerAxisType>(qt))
    qt = withAxis(pa, 1);
  Location loc = ConstantOp(p.weight->constant).getLoc();
  Value c = buildConstant(rw, loc, *t, signlessStorage(qt),
                          opDisplayName(p.op) + ".weight_t");
  return quant::StorageCastOp::create(rw, loc,
                                      RankedTensorType::get(t->shape(), qt), c)
      .getResult();
}

/// The accumulator scale of each output channel: f32(s_x) * f32(s_w[j]).
SmallVector<float> accScales(const LinearPlan &p) {
  float sx = static_cast<float>(
      cast<quant::UniformQuantizedType>(quantOf(p.x)).getScale());
  SmallVector<float> sw = scalesOf(p.weight ? p.weight->type : quantOf(p.rhs));
  SmallVector<float> s;
  for (float w : sw)
    s.push_back(sx * w);
  return s;
}

/// Bias values (f32, beta applied) of the plan, one per channel.
FailureOr<Tensor> biasValues(const LinearPlan &p, FoldState &state) {
  auto b = constantValue(p.bias);
  if (!b) {
    state.error(p.bias.getDefiningOp(), b.takeError(), "the bias constant");
    return failure();
  }
  Tensor out(DType::F32, {p.channels});
  for (int64_t j = 0; j < p.channels; ++j)
    out.mutableData<float>()[j] = p.beta * b->data<float>()[j];
  return out;
}

/// Shape a per-channel [C] constant broadcasts with against the accumulator.
std::vector<int64_t> channelShape(const LinearPlan &p) {
  if (p.kind == Kind::Conv)
    return {p.channels, 1, 1};
  return {p.channels};
}

struct LowerLinear : public RewritePattern {
  LowerLinear(MLIRContext *ctx, FoldState &state)
      : RewritePattern(MatchAnyOpTypeTag(), /*benefit=*/1, ctx), state(state) {}

  LogicalResult matchAndRewrite(Operation *op,
                                PatternRewriter &rw) const override {
    if (!isa<MatMulOp, GemmOp, Conv2DOp, BatchMatMulOp>(op))
      return failure();
    std::string why;
    auto plan = analyzeLinear(op, why);
    if (failed(plan))
      return rw.notifyMatchFailure(op, why);
    LinearPlan &p = *plan;
    // Read every constant first: a failure must leave the IR untouched.
    std::optional<Tensor> wt;
    if (p.weight) {
      auto t = transposedWeight(p, state);
      if (failed(t))
        return failure();
      wt = std::move(*t);
    }
    std::optional<Tensor> bias;
    if (p.bias) {
      auto b = biasValues(p, state);
      if (failed(b))
        return failure();
      bias = std::move(*b);
    }
    Location loc = op->getLoc();
    rw.setInsertionPoint(op);

    // int32 accumulator.
    Value acc;
    if (p.kind == Kind::Conv) {
      auto conv = cast<Conv2DOp>(op);
      acc = Conv2DIntegerOp::create(rw, subLoc(loc, ".acc", op), p.x,
                                    p.weight->quantized, Value(), Value(),
                                    conv.getStrides(), conv.getPads(),
                                    conv.getDilations(), conv.getGroups());
    } else {
      Value rhs = p.weight ? weightOperand(rw, p, wt) : p.rhs;
      acc = MatMulIntegerOp::create(rw, subLoc(loc, ".acc", op), p.x, rhs,
                                    Value(), Value());
    }
    markScheme(op, acc.getDefiningOp());

    SmallVector<float> sAcc = accScales(p);
    // int32 bias: round_half_even(bias / s_acc) in f64, saturated.
    if (bias && p.quantize) {
      const Tensor *b = &*bias;
      Tensor bq(DType::I32, channelShape(p));
      for (int64_t j = 0; j < p.channels; ++j) {
        double s = sAcc[sAcc.size() == 1 ? 0 : j];
        double v = std::nearbyint(static_cast<double>(b->data<float>()[j]) / s);
        v = std::min(std::max(v, -2147483648.0), 2147483647.0);
        bq.mutableData<int32_t>()[j] = static_cast<int32_t>(v);
      }
      Value bc =
          buildConstant(rw, subLoc(loc, ".bias_i32", op), bq, rw.getI32Type(),
                        opDisplayName(op) + ".bias_i32");
      acc = AddOp::create(rw, subLoc(loc, ".bias", op), acc, bc);
    }

    // The accumulator as a quantized i32 value with scale s_x * s_w.
    quant::QuantizedType accType;
    Type i32 = rw.getI32Type(), f32 = rw.getF32Type();
    unsigned flags = quant::QuantizationFlags::Signed;
    int64_t i32min = std::numeric_limits<int32_t>::min(),
            i32max = std::numeric_limits<int32_t>::max();
    if (sAcc.size() == 1) {
      accType = quant::UniformQuantizedType::get(flags, i32, f32, sAcc[0], 0,
                                                 i32min, i32max);
    } else {
      SmallVector<double> sd(sAcc.begin(), sAcc.end());
      SmallVector<int64_t> zeros(sd.size(), 0);
      accType = quant::UniformQuantizedPerAxisType::get(
          flags, i32, f32, sd, zeros, p.outAxis, i32min, i32max);
    }
    Value accQ = quant::StorageCastOp::create(rw, subLoc(loc, ".acc_q", op),
                                              withElement(acc, accType), acc);

    if (p.quantize) {
      auto outT =
          cast<quant::UniformQuantizedType>(quantOf(p.quantize.getOutput()));
      quant::UniformQuantizedType first = outT;
      // relu before quantize == clamping below at the zero point: requantize
      // into the same type with the range narrowed to [max(qmin, zp), qmax]
      // and widen it back with an exact requantize.
      if (p.relu && outT.getZeroPoint() > outT.getStorageTypeMin())
        first = quant::UniformQuantizedType::get(
            outT.getFlags(), outT.getStorageType(), outT.getExpressedType(),
            outT.getScale(), outT.getZeroPoint(), outT.getZeroPoint(),
            outT.getStorageTypeMax());
      auto resultType = p.quantize.getOutput().getType();
      bool narrowed = first != outT;
      Value y = RequantizeOp::create(
          rw, narrowed ? Location(subLoc(loc, ".relu", op)) : loc,
          withElement(accQ, first), accQ, Value(), Value(), 1);
      markScheme(op, y.getDefiningOp());
      if (narrowed) {
        y = RequantizeOp::create(rw, loc, cast<RankedTensorType>(resultType), y,
                                 Value(), Value(), 1);
        markScheme(op, y.getDefiningOp());
      }
      // Shapes may be more static than the quantize's type; keep its type.
      if (y.getType() != resultType)
        y.setType(resultType);
      rw.replaceOp(p.quantize, y);
      if (p.relu)
        rw.eraseOp(p.relu);
      if (p.biasAdd)
        rw.eraseOp(p.biasAdd);
      rw.eraseOp(op);
      return success();
    }

    // No quantize follows: dequantize the accumulator, add the float bias.
    auto outType = rankedOf(op->getResult(0));
    Value y =
        DequantizeOp::create(rw, p.bias ? subLoc(loc, ".dequant", op) : loc,
                             withElement(accQ, outType.getElementType()), accQ,
                             Value(), Value(), 1, 0);
    if (bias) {
      Tensor bt = bias->reshaped(channelShape(p));
      Value bc = buildConstant(rw, subLoc(loc, ".bias_f32", op), bt, f32,
                               opDisplayName(op) + ".bias");
      y = AddOp::create(rw, loc, y, bc);
    }
    markScheme(op, y.getDefiningOp());
    if (y.getType() != outType)
      y.setType(outType);
    rw.replaceOp(op, y);
    return success();
  }
  FoldState &state;
};

/// matmul/gemm(dequantize(dynamic_quantize{per_token}), dequantized weight)
/// -> matmul_integer(q, w) -> f32 -> * token scale -> * channel scales
/// [-> + bias].
struct LowerPerToken : public RewritePattern {
  LowerPerToken(MLIRContext *ctx, FoldState &state)
      : RewritePattern(MatchAnyOpTypeTag(), /*benefit=*/1, ctx), state(state) {}

  LogicalResult matchAndRewrite(Operation *op,
                                PatternRewriter &rw) const override {
    Value act, w, bias;
    bool transB = false;
    float beta = 1.0f;
    if (auto m = dyn_cast<MatMulOp>(op)) {
      act = m.getLhs();
      w = m.getRhs();
    } else if (auto g = dyn_cast<GemmOp>(op)) {
      if (g.getAlpha().convertToFloat() != 1.0f || g.getTransA())
        return failure();
      act = g.getA();
      w = g.getB();
      bias = g.getC();
      transB = g.getTransB();
      beta = g.getBeta().convertToFloat();
    } else {
      return failure();
    }
    auto dq = act.getDefiningOp<DequantizeOp>();
    if (!dq || !dq.getScale() || !dq.getZeroPoint())
      return failure();
    auto dyn = dq.getInput().getDefiningOp<DynamicQuantizeOp>();
    if (!dyn || !dyn.getPerToken() || dq.getScale() != dyn.getScale() ||
        dq.getZeroPoint() != dyn.getZeroPoint() ||
        dq.getInput() != dyn.getOutput())
      return rw.notifyMatchFailure(op, "not a per-token dynamic_quantize");
    auto outType = rankedOf(op->getResult(0));
    if (!outType.getElementType().isF32())
      return failure();
    std::string why;
    auto qw = matchConstWeight(w, why);
    if (failed(qw))
      return rw.notifyMatchFailure(op, why);
    int64_t n = outType.getDimSize(outType.getRank() - 1);
    if (ShapedType::isDynamic(n))
      return failure();
    if (auto pa = dyn_cast<quant::UniformQuantizedPerAxisType>(qw->type))
      if (pa.getQuantizedDimension() != (transB ? 0 : 1))
        return failure();
    if (transB && !qw->type.isSigned())
      return failure();
    if (bias) {
      auto bt = rankedOf(bias);
      if (!bias.getDefiningOp<ConstantOp>() || bt.getNumElements() != n ||
          !bt.getElementType().isF32() ||
          !(bt.getRank() == 1 || (bt.getRank() == 2 && bt.getDimSize(0) == 1)))
        return failure();
    }
    LinearPlan p;
    p.kind = Kind::Gemm;
    p.op = op;
    p.weight = *qw;
    p.transposeWeight = transB;
    p.channels = n;
    // Read every constant first: a failure must leave the IR untouched.
    auto wt = transposedWeight(p, state);
    if (failed(wt))
      return failure();
    std::optional<Tensor> biasVals;
    if (bias) {
      auto b = constantValue(bias);
      if (!b) {
        state.error(bias.getDefiningOp(), b.takeError(), "the bias constant");
        return failure();
      }
      biasVals = std::move(*b);
    }
    Location loc = op->getLoc();
    rw.setInsertionPoint(op);
    Value wq = weightOperand(rw, p, *wt);
    Value acc = MatMulIntegerOp::create(rw, subLoc(loc, ".acc", op),
                                        dyn.getOutput(), wq, Value(), Value());
    markScheme(op, acc.getDefiningOp());
    Type f32 = rw.getF32Type();
    Value y = CastOp::create(rw, subLoc(loc, ".acc_f32", op),
                             withElement(acc, f32), acc);
    y = MulOp::create(rw, subLoc(loc, ".token_scale", op), y, dyn.getScale());
    SmallVector<float> sw = scalesOf(qw->type);
    Tensor ws(DType::F32, {static_cast<int64_t>(sw.size())});
    for (size_t j = 0; j < sw.size(); ++j)
      ws.mutableData<float>()[j] = sw[j];
    if (sw.size() == 1)
      ws = ws.reshaped({});
    Value wsc = buildConstant(rw, subLoc(loc, ".w_scale", op), ws, f32,
                              opDisplayName(op) + ".w_scale");
    y = MulOp::create(rw, bias ? subLoc(loc, ".channel_scale", op) : loc, y,
                      wsc);
    if (biasVals) {
      Tensor bt(DType::F32, {n});
      for (int64_t j = 0; j < n; ++j)
        bt.mutableData<float>()[j] = beta * biasVals->data<float>()[j];
      Value bc = buildConstant(rw, subLoc(loc, ".bias_f32", op), bt, f32,
                               opDisplayName(op) + ".bias");
      y = AddOp::create(rw, loc, y, bc);
    }
    markScheme(op, y.getDefiningOp());
    if (y.getType() != outType)
      y.setType(outType);
    rw.replaceOp(op, y);
    return success();
  }
  FoldState &state;
};

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

struct FoldQDQPass : public qopt::impl::QOptFoldQDQPassBase<FoldQDQPass> {
  using QOptFoldQDQPassBase::QOptFoldQDQPassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    FoldState state;

    auto exactPatterns = [&](RewritePatternSet &set) {
      set.add<SinkDequantize, HoistQuantize, FoldRequantize>(ctx);
      set.add<FoldQuantizeConstant>(ctx, state);
    };
    {
      RewritePatternSet set(ctx);
      exactPatterns(set);
      if (failed(applyPatternsGreedily(module, std::move(set)))) {
        module.emitError("qopt-fold-qdq: the exact folds did not converge");
        return signalPassFailure();
      }
    }
    if (state.failed)
      return signalPassFailure();
    if (integerOps) {
      RewritePatternSet set(ctx);
      exactPatterns(set);
      set.add<LowerLinear, LowerPerToken>(ctx, state);
      if (failed(applyPatternsGreedily(module, std::move(set)))) {
        module.emitError("qopt-fold-qdq: the integer rewrite did not converge");
        return signalPassFailure();
      }
      if (state.failed)
        return signalPassFailure();
    }
    if (remarks) {
      // Explain every linear op with a dequantized operand that stays float.
      module.walk([&](Operation *op) {
        if (!isa<MatMulOp, GemmOp, Conv2DOp, BatchMatMulOp>(op))
          return;
        if (!llvm::any_of(op->getOperands(), [](Value v) {
              return v.getDefiningOp<DequantizeOp>() != nullptr;
            }))
          return;
        std::string why = "integer-ops=false";
        if (integerOps) {
          auto dq = op->getOperand(0).getDefiningOp<DequantizeOp>();
          if (dq && dq.getScale())
            why = "the activation is quantized at run time but not per "
                  "token, or the weight does not fit";
          else
            (void)analyzeLinear(op, why);
        }
        op->emitRemark() << "qopt-fold-qdq: stays float: " << why;
      });
    }
  }
};

} // namespace
