//===- QOptOps.cpp - qopt op verifiers, folders and canonicalizers ---------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#include "qopt/dialects/qopt/QOptOps.h"

#include "mlir/Dialect/CommonFolders.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace qopt;

static RankedTensorType rankedOf(Value v) {
  return cast<RankedTensorType>(v.getType());
}

//===----------------------------------------------------------------------===//
// Constant
//===----------------------------------------------------------------------===//

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

/// True when `attr` is a splat equal to `v` (float or integer).
static bool isSplatOf(Attribute attr, double v) {
  auto dense = dyn_cast_or_null<DenseElementsAttr>(attr);
  if (!dense || !dense.isSplat())
    return false;
  Type et = dense.getElementType();
  if (isa<FloatType>(et))
    return dense.getSplatValue<APFloat>().convertToDouble() == v;
  if (et.isSignlessInteger())
    return dense.getSplatValue<APInt>().getSExtValue() == static_cast<int64_t>(v);
  return false;
}

/// `x op identity` folds to `x` when that does not change the result type.
static OpFoldResult foldIdentityOperand(Operation *op, Value lhs, Value rhs,
                                        Attribute lhsAttr, Attribute rhsAttr,
                                        double identity, bool commutative) {
  Type resultType = op->getResult(0).getType();
  if (isSplatOf(rhsAttr, identity) && lhs.getType() == resultType)
    return lhs;
  if (commutative && isSplatOf(lhsAttr, identity) && rhs.getType() == resultType)
    return rhs;
  return {};
}

OpFoldResult AddOp::fold(FoldAdaptor adaptor) {
  return foldIdentityOperand(*this, getLhs(), getRhs(), adaptor.getLhs(),
                             adaptor.getRhs(), 0.0, /*commutative=*/true);
}

OpFoldResult MulOp::fold(FoldAdaptor adaptor) {
  return foldIdentityOperand(*this, getLhs(), getRhs(), adaptor.getLhs(),
                             adaptor.getRhs(), 1.0, /*commutative=*/true);
}

LogicalResult GeluOp::verify() {
  if (getApproximate() != "none" && getApproximate() != "tanh")
    return emitOpError("approximate must be \"none\" or \"tanh\", got \"")
           << getApproximate() << "\"";
  return success();
}

LogicalResult SoftmaxOp::verify() {
  if (failed(normalizeAxis(getAxis(), getType().getRank())))
    return emitOpError("axis ") << getAxis() << " out of range for rank "
                                << getType().getRank();
  return success();
}

//===----------------------------------------------------------------------===//
// Reshape
//===----------------------------------------------------------------------===//

LogicalResult ReshapeOp::verify() {
  auto in = rankedOf(getInput());
  auto out = rankedOf(getOutput());
  if (in.getElementType() != out.getElementType())
    return emitOpError("cannot change the element type (")
           << in.getElementType() << " to " << out.getElementType()
           << "); use qopt.cast";
  if (in.hasStaticShape() && out.hasStaticShape() &&
      in.getNumElements() != out.getNumElements())
    return emitOpError("element count changes from ")
           << in.getNumElements() << " to " << out.getNumElements();
  return success();
}

OpFoldResult ReshapeOp::fold(FoldAdaptor adaptor) {
  if (getInput().getType() == getType())
    return getInput();
  if (auto dense = dyn_cast_or_null<DenseElementsAttr>(adaptor.getInput()))
    if (getType().hasStaticShape())
      return dense.reshape(getType());
  return {};
}

namespace {
/// reshape(reshape(x)) -> reshape(x).
struct ComposeReshapes : public OpRewritePattern<ReshapeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ReshapeOp op,
                                PatternRewriter &rewriter) const override {
    auto producer = op.getInput().getDefiningOp<ReshapeOp>();
    if (!producer)
      return rewriter.notifyMatchFailure(op, "input is not a reshape");
    rewriter.replaceOpWithNewOp<ReshapeOp>(op, op.getType(), producer.getInput());
    return success();
  }
};

/// transpose(transpose(x, p1), p2) -> transpose(x, p1 ∘ p2).
struct ComposeTransposes : public OpRewritePattern<TransposeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(TransposeOp op,
                                PatternRewriter &rewriter) const override {
    auto producer = op.getInput().getDefiningOp<TransposeOp>();
    if (!producer)
      return rewriter.notifyMatchFailure(op, "input is not a transpose");
    SmallVector<int64_t> perm;
    for (int64_t p : op.getPerm())
      perm.push_back(producer.getPerm()[p]);
    rewriter.replaceOpWithNewOp<TransposeOp>(op, op.getType(),
                                             producer.getInput(), perm);
    return success();
  }
};
} // namespace

void ReshapeOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                            MLIRContext *context) {
  results.add<ComposeReshapes>(context);
}

OpFoldResult TransposeOp::fold(FoldAdaptor) {
  for (auto [i, p] : llvm::enumerate(getPerm()))
    if (static_cast<int64_t>(i) != p)
      return {};
  if (getInput().getType() == getType())
    return getInput();
  return {};
}

void TransposeOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                              MLIRContext *context) {
  results.add<ComposeTransposes>(context);
}

OpFoldResult ConcatOp::fold(FoldAdaptor) {
  if (getInputs().size() == 1 && getInputs()[0].getType() == getType())
    return getInputs()[0];
  return {};
}

//===----------------------------------------------------------------------===//
// Cast
//===----------------------------------------------------------------------===//

LogicalResult CastOp::verify() {
  auto in = rankedOf(getInput()), out = rankedOf(getOutput());
  if (failed(verifyCompatibleShape(in.getShape(), out.getShape())))
    return emitOpError("cannot change the shape (") << in << " to " << out << ")";
  if (isa<quant::QuantizedType>(in.getElementType()) ||
      isa<quant::QuantizedType>(out.getElementType()))
    return emitOpError("does not convert quantized types; use qopt.quantize, "
                       "qopt.dequantize or qopt.requantize");
  return success();
}

OpFoldResult CastOp::fold(FoldAdaptor) {
  if (getInput().getType() == getType())
    return getInput();
  return {};
}

//===----------------------------------------------------------------------===//
// Quantization
//===----------------------------------------------------------------------===//

LogicalResult ObserveOp::verify() {
  StringRef g = getGranularity();
  if (g != "per_tensor" && g != "per_channel" && g != "per_token")
    return emitOpError("granularity must be per_tensor, per_channel or "
                       "per_token, got \"")
           << g << "\"";
  if (g == "per_channel") {
    if (!getAxis())
      return emitOpError("per_channel granularity needs an axis");
    if (failed(normalizeAxis(*getAxis(), getType().getRank())))
      return emitOpError("axis ") << *getAxis() << " out of range for rank "
                                  << getType().getRank();
  }
  return success();
}

/// Checks a quantized element type against the shape it is used with.
static LogicalResult verifyQuantTypeForShape(Operation *op, StringRef what,
                                             quant::QuantizedType qt,
                                             RankedTensorType shaped) {
  if (auto pa = dyn_cast<quant::UniformQuantizedPerAxisType>(qt)) {
    int64_t dim = pa.getQuantizedDimension();
    if (dim >= shaped.getRank())
      return op->emitOpError() << what << " quantized dimension " << dim
                               << " is out of range for " << shaped;
    int64_t size = shaped.getDimSize(dim);
    if (!ShapedType::isDynamic(size) &&
        size != static_cast<int64_t>(pa.getScales().size()))
      return op->emitOpError()
             << what << " has " << pa.getScales().size()
             << " scales but dimension " << dim << " has size " << size;
    return success();
  }
  if (auto sc = dyn_cast<quant::UniformQuantizedSubChannelType>(qt)) {
    auto scales = sc.getScales();
    ArrayRef<int32_t> dims = sc.getQuantizedDimensions();
    ArrayRef<int64_t> blocks = sc.getBlockSizes();
    for (auto [d, b] : llvm::zip(dims, blocks)) {
      if (d >= shaped.getRank())
        return op->emitOpError() << what << " quantized dimension " << d
                                 << " is out of range for " << shaped;
      int64_t size = shaped.getDimSize(d);
      int64_t expected = ShapedType::isDynamic(size) ? -1 : (size + b - 1) / b;
      int64_t got = scales.getType().getDimSize(d);
      if (expected >= 0 && got != expected)
        return op->emitOpError()
               << what << " has " << got << " scale blocks along dimension " << d
               << " but " << size << " / block " << b << " needs " << expected;
    }
    return success();
  }
  if (isa<quant::UniformQuantizedType>(qt))
    return success();
  return op->emitOpError() << what << " must be a !quant.uniform type, got "
                           << qt;
}

/// Verifies the run-time parameter form (ONNX QuantizeLinear style).
static LogicalResult verifyDynamicParams(Operation *op, RankedTensorType data,
                                         Value scale, Value zeroPoint,
                                         Type integerType, int64_t axis,
                                         int64_t blockSize, StringRef scaleName) {
  auto st = rankedOf(scale);
  if (blockSize < 0)
    return op->emitOpError("block_size must be >= 0");
  if (st.getRank() > 1 && blockSize == 0)
    return op->emitOpError() << scaleName
                             << " must be a scalar or 1-D (per axis), got " << st;
  if (st.getRank() >= 1 && st.getNumElements() != 1) {
    auto a = normalizeAxis(axis, data.getRank());
    if (failed(a))
      return op->emitOpError("axis ") << axis << " out of range for " << data;
    if (blockSize == 0 && !data.isDynamicDim(*a) && !st.isDynamicDim(0) &&
        st.getDimSize(0) != data.getDimSize(*a))
      return op->emitOpError()
             << scaleName << " has " << st.getDimSize(0)
             << " values but axis " << *a << " has size " << data.getDimSize(*a);
  }
  if (zeroPoint) {
    auto zt = rankedOf(zeroPoint);
    if (zt.getElementType() != integerType)
      return op->emitOpError("zero_point element type ")
             << zt.getElementType() << " must match the integer type "
             << integerType;
    if (failed(verifyCompatibleShape(zt.getShape(), st.getShape())))
      return op->emitOpError("zero_point shape must match the ")
             << scaleName << " shape";
  }
  if (!integerType.isInteger())
    return op->emitOpError("the integer side must have an integer element "
                           "type, got ")
           << integerType;
  return success();
}

/// Shared verifier of quantize (float -> integer) and dequantize (integer ->
/// float): `floatSide` and `intSide` are the two tensors, `intName` says which
/// of input/result the integer side is.
static LogicalResult verifyQuantizeLike(Operation *op, RankedTensorType in,
                                        RankedTensorType out,
                                        RankedTensorType floatSide,
                                        RankedTensorType intSide,
                                        StringRef intName, Value scale,
                                        Value zeroPoint, int64_t axis,
                                        int64_t blockSize) {
  if (failed(verifyCompatibleShape(in.getShape(), out.getShape())))
    return op->emitOpError("result shape ")
           << out << " differs from input " << in;
  StringRef floatName = intName == "result" ? "input" : "result";
  if (!scale) {
    if (zeroPoint)
      return op->emitOpError("zero_point operand needs a scale operand");
    auto qt = dyn_cast<quant::QuantizedType>(intSide.getElementType());
    if (!qt)
      return op->emitOpError("without scale operands the ")
             << intName << " element type must be !quant.uniform, got "
             << intSide.getElementType();
    if (qt.getExpressedType() != floatSide.getElementType())
      return op->emitOpError("expressed type ")
             << qt.getExpressedType() << " differs from " << floatName
             << " element type " << floatSide.getElementType();
    return verifyQuantTypeForShape(op, (intName + " type").str(), qt, intSide);
  }
  if (isa<quant::QuantizedType>(intSide.getElementType()))
    return op->emitOpError("with scale operands the ")
           << intName << " must be a plain integer tensor";
  return verifyDynamicParams(op, in, scale, zeroPoint,
                             intSide.getElementType(), axis, blockSize,
                             "scale");
}

LogicalResult QuantizeOp::verify() {
  auto in = rankedOf(getInput()), out = rankedOf(getOutput());
  return verifyQuantizeLike(*this, in, out, in, out, "result", getScale(),
                            getZeroPoint(), getAxis(), getBlockSize());
}

OpFoldResult QuantizeOp::fold(FoldAdaptor) {
  // quantize(dequantize(q)) with identical static parameters is q.
  if (getScale())
    return {};
  if (auto dq = getInput().getDefiningOp<DequantizeOp>())
    if (!dq.getScale() && dq.getInput().getType() == getType())
      return dq.getInput();
  return {};
}

LogicalResult DequantizeOp::verify() {
  auto in = rankedOf(getInput()), out = rankedOf(getOutput());
  return verifyQuantizeLike(*this, in, out, out, in, "input", getScale(),
                            getZeroPoint(), getAxis(), getBlockSize());
}

LogicalResult RequantizeOp::verify() {
  auto in = rankedOf(getInput()), out = rankedOf(getOutput());
  if (failed(verifyCompatibleShape(in.getShape(), out.getShape())))
    return emitOpError("result shape ") << out << " differs from input " << in;
  if (!getMultiplier()) {
    if (getZeroPoint())
      return emitOpError("zero_point operand needs a multiplier operand");
    auto qi = dyn_cast<quant::QuantizedType>(in.getElementType());
    auto qo = dyn_cast<quant::QuantizedType>(out.getElementType());
    if (!qi || !qo)
      return emitOpError("without a multiplier operand, input and result "
                         "element types must both be !quant.uniform");
    if (isa<quant::UniformQuantizedSubChannelType>(qi) ||
        isa<quant::UniformQuantizedSubChannelType>(qo))
      return emitOpError("sub-channel types cannot be requantized; dequantize "
                         "first");
    if (failed(verifyQuantTypeForShape(*this, "input type", qi, in)) ||
        failed(verifyQuantTypeForShape(*this, "result type", qo, out)))
      return failure();
    auto pi = dyn_cast<quant::UniformQuantizedPerAxisType>(qi);
    auto po = dyn_cast<quant::UniformQuantizedPerAxisType>(qo);
    if (pi && po && pi.getQuantizedDimension() != po.getQuantizedDimension())
      return emitOpError("input and result are quantized along different axes");
    return success();
  }
  if (isa<quant::QuantizedType>(in.getElementType()) ||
      isa<quant::QuantizedType>(out.getElementType()))
    return emitOpError("with a multiplier operand, input and result must be "
                       "plain integer tensors");
  if (!in.getElementType().isInteger())
    return emitOpError("input must be an integer tensor, got ") << in;
  return verifyDynamicParams(*this, in, getMultiplier(), getZeroPoint(),
                             out.getElementType(), getAxis(), 0, "multiplier");
}

/// The storage type of an integer operand of an integer op (i8/ui8 or a
/// quantized type stored in 8 bits).
static Type integerStorage(Type et) {
  if (auto qt = dyn_cast<quant::QuantizedType>(et))
    return qt.getStorageType();
  return et;
}

static LogicalResult verifyInt8Operand(Operation *op, StringRef name, Value v) {
  Type st = integerStorage(rankedOf(v).getElementType());
  if (!st.isInteger(8))
    return op->emitOpError() << name << " must be an 8-bit integer tensor, got "
                             << v.getType();
  return success();
}

static LogicalResult verifyZeroPoint(Operation *op, StringRef name, Value zp,
                                     Value operand, int64_t maxRank,
                                     int64_t alongDim) {
  if (!zp)
    return success();
  auto zt = rankedOf(zp);
  auto ot = rankedOf(operand);
  if (zt.getElementType() != integerStorage(ot.getElementType()))
    return op->emitOpError() << name << " element type " << zt.getElementType()
                             << " must match its operand's "
                             << integerStorage(ot.getElementType());
  if (isa<quant::QuantizedType>(ot.getElementType()))
    return op->emitOpError() << name
                             << " must be omitted for a !quant.uniform operand "
                                "(the type carries its zero point)";
  if (zt.getRank() > maxRank)
    return op->emitOpError() << name << " must be a scalar or 1-D, got " << zt;
  if (zt.getRank() == 1 && zt.getNumElements() != 1 && alongDim >= 0) {
    int64_t d = ot.getDimSize(alongDim);
    if (!ShapedType::isDynamic(d) && zt.getDimSize(0) != d)
      return op->emitOpError()
             << name << " has " << zt.getDimSize(0) << " values, expected " << d;
  }
  return success();
}

LogicalResult MatMulIntegerOp::verify() {
  if (failed(verifyInt8Operand(*this, "lhs", getLhs())) ||
      failed(verifyInt8Operand(*this, "rhs", getRhs())))
    return failure();
  auto lt = rankedOf(getLhs()), rt = rankedOf(getRhs());
  if (failed(verifyZeroPoint(*this, "lhs_zero_point", getLhsZeroPoint(),
                             getLhs(), 1, lt.getRank() - 2)) ||
      failed(verifyZeroPoint(*this, "rhs_zero_point", getRhsZeroPoint(),
                             getRhs(), 1, rt.getRank() - 1)))
    return failure();
  return success();
}

LogicalResult Conv2DIntegerOp::verify() {
  if (failed(verifyInt8Operand(*this, "input", getInput())) ||
      failed(verifyInt8Operand(*this, "filter", getFilter())))
    return failure();
  if (failed(verifyZeroPoint(*this, "input_zero_point", getInputZeroPoint(),
                             getInput(), 0, -1)) ||
      failed(verifyZeroPoint(*this, "filter_zero_point", getFilterZeroPoint(),
                             getFilter(), 1, 0)))
    return failure();
  return success();
}

LogicalResult DynamicQuantizeOp::verify() {
  auto in = getInput().getType();
  if (failed(verifyCompatibleShape(in.getShape(),
                                   getOutput().getType().getShape())))
    return emitOpError("result shape differs from the input shape");
  Type want = getPerToken() ? IntegerType::get(getContext(), 8)
                            : IntegerType::get(getContext(), 8,
                                               IntegerType::Unsigned);
  if (getOutput().getType().getElementType() != want ||
      getZeroPoint().getType().getElementType() != want)
    return emitOpError("result and zero point must be ")
           << want << (getPerToken() ? " with per_token" : "");
  auto scaleType = getScale().getType();
  if (getZeroPoint().getType().getShape() != scaleType.getShape())
    return emitOpError("zero point shape must equal the scale shape");
  if (!getPerToken()) {
    if (scaleType.getRank() != 0)
      return emitOpError("scale must be a scalar (0-D) tensor");
    return success();
  }
  if (in.getRank() < 1)
    return emitOpError("per_token needs an input of rank >= 1");
  SmallVector<int64_t> expect(in.getShape());
  expect.back() = 1;
  if (scaleType.getRank() != in.getRank() ||
      failed(verifyCompatibleShape(scaleType.getShape(), expect)) ||
      scaleType.getShape().back() != 1)
    return emitOpError("per_token scale must have the input's shape with the "
                       "last dim 1, got ")
           << scaleType;
  return success();
}

#define GET_OP_CLASSES
#include "qopt/dialects/qopt/QOptOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Fusion
//===----------------------------------------------------------------------===//

ArrayRef<llvm::StringLiteral> FusedOp::knownKinds() {
  static constexpr llvm::StringLiteral kinds[] = {
      "linear", "dequant_matmul", "norm_quantize", "elementwise"};
  return kinds;
}

LogicalResult FusedOp::verify() {
  if (!llvm::is_contained(knownKinds(), getKind())) {
    std::string list;
    for (auto [i, k] : llvm::enumerate(knownKinds()))
      list += (i ? ", \"" : "\"") + k.str() + "\"";
    return emitOpError("unknown kind \"") << getKind() << "\"; expected one of "
                                          << list;
  }
  Block &block = getBodyBlock();
  if (block.getNumArguments() != getNumOperands())
    return emitOpError("body has ")
           << block.getNumArguments() << " argument(s) but the op has "
           << getNumOperands() << " operand(s)";
  for (auto [i, arg, operand] :
       llvm::enumerate(block.getArguments(), getOperands()))
    if (arg.getType() != operand.getType())
      return emitOpError("body argument ")
             << i << " has type " << arg.getType() << " but operand " << i
             << " has type " << operand.getType();
  auto yield = block.empty() ? YieldOp() : dyn_cast<YieldOp>(block.back());
  if (!yield)
    return emitOpError("body must end with qopt.yield");
  if (yield.getNumOperands() != getNumResults())
    return emitOpError("body yields ")
           << yield.getNumOperands() << " value(s) but the op has "
           << getNumResults() << " result(s)";
  for (auto [i, v, r] : llvm::enumerate(yield.getOperands(), getResults()))
    if (v.getType() != r.getType())
      return emitOpError("yielded value ")
             << i << " has type " << v.getType() << " but result " << i
             << " has type " << r.getType();
  return success();
}
