//===- ShapeInference.cpp - result type inference for qopt ops -------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Every op that can compute its result type implements InferTypeOpInterface
// here. Importers build ops without result types and get them from these
// functions; the generated verifiers check a declared result type against
// them (a declared type may be more static, never contradictory).
//
//===----------------------------------------------------------------------===//

#include "qopt/dialects/qopt/QOptOps.h"

#include "mlir/Dialect/Traits.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/SmallBitVector.h"

using namespace mlir;
using namespace qopt;

static constexpr int64_t kDyn = ShapedType::kDynamic;

bool qopt::areCompatibleInferredTypes(TypeRange inferred, TypeRange actual) {
  if (inferred.size() != actual.size())
    return false;
  for (auto [a, b] : llvm::zip(inferred, actual)) {
    auto ta = dyn_cast<RankedTensorType>(a);
    auto tb = dyn_cast<RankedTensorType>(b);
    if (!ta || !tb) {
      if (a != b)
        return false;
      continue;
    }
    if (ta.getElementType() != tb.getElementType())
      return false;
    if (failed(verifyCompatibleShape(ta.getShape(), tb.getShape())))
      return false;
  }
  return true;
}

FailureOr<SmallVector<int64_t>> qopt::broadcastShapes(ArrayRef<int64_t> a,
                                                      ArrayRef<int64_t> b) {
  size_t rank = std::max(a.size(), b.size());
  SmallVector<int64_t> out(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da == 1)
      out[i] = db;
    else if (db == 1)
      out[i] = da;
    else if (da == kDyn)
      out[i] = db;
    else if (db == kDyn || da == db)
      out[i] = da;
    else
      return failure();
  }
  return out;
}

FailureOr<int64_t> qopt::normalizeAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    return failure();
  return axis < 0 ? axis + rank : axis;
}

int64_t qopt::slidingWindowOutSize(int64_t in, int64_t kernel, int64_t stride,
                                   int64_t padBegin, int64_t padEnd,
                                   int64_t dilation, bool ceilMode) {
  if (in == kDyn)
    return kDyn;
  int64_t effective = dilation * (kernel - 1) + 1;
  int64_t span = in + padBegin + padEnd - effective;
  if (span < 0)
    return 0;
  int64_t out = ceilMode ? (span + stride - 1) / stride + 1 : span / stride + 1;
  // ONNX: with ceil_mode the last window must start inside the padded input
  // (it may not start in the end padding).
  if (ceilMode && (out - 1) * stride >= in + padBegin)
    --out;
  return out;
}

static RankedTensorType rankedOf(Value v) {
  return dyn_cast<RankedTensorType>(v.getType());
}

template <typename... Args>
static LogicalResult fail(std::optional<Location> loc, Args &&...args) {
  return emitOptionalError(loc, std::forward<Args>(args)...);
}

//===----------------------------------------------------------------------===//
// Boilerplate shared by every inferring op.
//===----------------------------------------------------------------------===//

#define QOPT_COMPATIBLE_RETURN_TYPES(OP)                                       \
  bool OP::isCompatibleReturnTypes(TypeRange l, TypeRange r) {                 \
    return areCompatibleInferredTypes(l, r);                                   \
  }
QOPT_COMPATIBLE_RETURN_TYPES(MatMulOp)
QOPT_COMPATIBLE_RETURN_TYPES(BatchMatMulOp)
QOPT_COMPATIBLE_RETURN_TYPES(GemmOp)
QOPT_COMPATIBLE_RETURN_TYPES(Conv2DOp)
QOPT_COMPATIBLE_RETURN_TYPES(MaxPool2DOp)
QOPT_COMPATIBLE_RETURN_TYPES(AvgPool2DOp)
QOPT_COMPATIBLE_RETURN_TYPES(GlobalAvgPoolOp)
QOPT_COMPATIBLE_RETURN_TYPES(AddOp)
QOPT_COMPATIBLE_RETURN_TYPES(SubOp)
QOPT_COMPATIBLE_RETURN_TYPES(MulOp)
QOPT_COMPATIBLE_RETURN_TYPES(DivOp)
QOPT_COMPATIBLE_RETURN_TYPES(PowOp)
QOPT_COMPATIBLE_RETURN_TYPES(LayerNormOp)
QOPT_COMPATIBLE_RETURN_TYPES(RMSNormOp)
QOPT_COMPATIBLE_RETURN_TYPES(ReduceMeanOp)
QOPT_COMPATIBLE_RETURN_TYPES(ReduceSumOp)
QOPT_COMPATIBLE_RETURN_TYPES(ReduceMaxOp)
QOPT_COMPATIBLE_RETURN_TYPES(TransposeOp)
QOPT_COMPATIBLE_RETURN_TYPES(ConcatOp)
QOPT_COMPATIBLE_RETURN_TYPES(SliceOp)
QOPT_COMPATIBLE_RETURN_TYPES(GatherOp)
QOPT_COMPATIBLE_RETURN_TYPES(WhereOp)
QOPT_COMPATIBLE_RETURN_TYPES(MatMulIntegerOp)
QOPT_COMPATIBLE_RETURN_TYPES(Conv2DIntegerOp)
#undef QOPT_COMPATIBLE_RETURN_TYPES

//===----------------------------------------------------------------------===//
// Constant
//===----------------------------------------------------------------------===//

LogicalResult ConstantOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                           Adaptor adaptor,
                                           SmallVectorImpl<Type> &types) {
  types.push_back(adaptor.getValue().getType());
  return success();
}

//===----------------------------------------------------------------------===//
// Linear algebra
//===----------------------------------------------------------------------===//

LogicalResult MatMulOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  auto lhs = rankedOf(adaptor.getLhs());
  auto rhs = rankedOf(adaptor.getRhs());
  if (!lhs || !rhs)
    return fail(loc, "qopt.matmul: operands must be ranked tensors");
  if (lhs.getRank() < 1)
    return fail(loc, "qopt.matmul: lhs must have rank >= 1, got ", lhs);
  if (rhs.getRank() != 2)
    return fail(loc, "qopt.matmul: rhs (the weight) must be rank 2 [K, N], got ",
                rhs);
  if (lhs.getElementType() != rhs.getElementType())
    return fail(loc, "qopt.matmul: element types differ: ", lhs.getElementType(),
                " vs ", rhs.getElementType());
  int64_t k = lhs.getShape().back();
  if (k != kDyn && rhs.getDimSize(0) != kDyn && k != rhs.getDimSize(0))
    return fail(loc, "qopt.matmul: contraction size mismatch: lhs has K=", k,
                " but rhs has K=", rhs.getDimSize(0));
  SmallVector<int64_t> shape(lhs.getShape().drop_back());
  shape.push_back(rhs.getDimSize(1));
  types.push_back(RankedTensorType::get(shape, lhs.getElementType()));
  return success();
}

/// Shared by batch_matmul and matmul_integer: [..., M, K] x [..., K, N].
static FailureOr<SmallVector<int64_t>>
inferBatchedMatMulShape(std::optional<Location> loc, StringRef opName,
                        RankedTensorType lhs, RankedTensorType rhs) {
  if (lhs.getRank() < 2 || rhs.getRank() < 2) {
    (void)fail(loc, opName, ": operands must have rank >= 2, got ", lhs, " and ",
               rhs);
    return failure();
  }
  int64_t k1 = lhs.getShape().back();
  int64_t k2 = rhs.getDimSize(rhs.getRank() - 2);
  if (k1 != kDyn && k2 != kDyn && k1 != k2) {
    (void)fail(loc, opName, ": contraction size mismatch: lhs has K=", k1,
               " but rhs has K=", k2);
    return failure();
  }
  auto batch = broadcastShapes(lhs.getShape().drop_back(2),
                               rhs.getShape().drop_back(2));
  if (failed(batch)) {
    (void)fail(loc, opName, ": batch dimensions do not broadcast: ", lhs,
               " and ", rhs);
    return failure();
  }
  SmallVector<int64_t> shape = *batch;
  shape.push_back(lhs.getDimSize(lhs.getRank() - 2));
  shape.push_back(rhs.getShape().back());
  return shape;
}

LogicalResult BatchMatMulOp::inferReturnTypes(MLIRContext *,
                                              std::optional<Location> loc,
                                              Adaptor adaptor,
                                              SmallVectorImpl<Type> &types) {
  auto lhs = rankedOf(adaptor.getLhs());
  auto rhs = rankedOf(adaptor.getRhs());
  if (lhs.getElementType() != rhs.getElementType())
    return fail(loc, "qopt.batch_matmul: element types differ: ",
                lhs.getElementType(), " vs ", rhs.getElementType());
  auto shape = inferBatchedMatMulShape(loc, "qopt.batch_matmul", lhs, rhs);
  if (failed(shape))
    return failure();
  types.push_back(RankedTensorType::get(*shape, lhs.getElementType()));
  return success();
}

LogicalResult GemmOp::inferReturnTypes(MLIRContext *,
                                       std::optional<Location> loc,
                                       Adaptor adaptor,
                                       SmallVectorImpl<Type> &types) {
  auto a = rankedOf(adaptor.getA());
  auto b = rankedOf(adaptor.getB());
  if (a.getRank() != 2 || b.getRank() != 2)
    return fail(loc, "qopt.gemm: A and B must be rank 2, got ", a, " and ", b);
  bool ta = adaptor.getTransA(), tb = adaptor.getTransB();
  int64_t m = a.getDimSize(ta ? 1 : 0), ka = a.getDimSize(ta ? 0 : 1);
  int64_t kb = b.getDimSize(tb ? 1 : 0), n = b.getDimSize(tb ? 0 : 1);
  if (ka != kDyn && kb != kDyn && ka != kb)
    return fail(loc, "qopt.gemm: contraction size mismatch: op(A) has K=", ka,
                " but op(B) has K=", kb);
  if (a.getElementType() != b.getElementType())
    return fail(loc, "qopt.gemm: element types differ");
  if (Value c = adaptor.getC()) {
    auto ct = rankedOf(c);
    auto bc = broadcastShapes({m, n}, ct.getShape());
    if (ct.getRank() > 2 || failed(bc) || (*bc)[0] != m || (*bc)[1] != n)
      return fail(loc, "qopt.gemm: C of type ", ct,
                  " does not broadcast to [", m, ", ", n, "]");
  }
  types.push_back(RankedTensorType::get({m, n}, a.getElementType()));
  return success();
}

/// Checks the spatial attributes shared by conv and pooling ops.
static LogicalResult checkWindowAttrs(std::optional<Location> loc,
                                      StringRef opName,
                                      ArrayRef<int64_t> strides,
                                      ArrayRef<int64_t> pads,
                                      ArrayRef<int64_t> dilations) {
  if (strides.size() != 2 || llvm::any_of(strides, [](int64_t s) { return s < 1; }))
    return fail(loc, opName, ": strides must be 2 positive values");
  if (pads.size() != 4 || llvm::any_of(pads, [](int64_t p) { return p < 0; }))
    return fail(loc, opName,
                ": pads must be 4 non-negative values [top, left, bottom, right]");
  if (dilations.size() != 2 ||
      llvm::any_of(dilations, [](int64_t d) { return d < 1; }))
    return fail(loc, opName, ": dilations must be 2 positive values");
  return success();
}

static FailureOr<SmallVector<int64_t>>
inferConvShape(std::optional<Location> loc, StringRef opName,
               RankedTensorType in, RankedTensorType w, ArrayRef<int64_t> strides,
               ArrayRef<int64_t> pads, ArrayRef<int64_t> dilations,
               int64_t groups) {
  if (in.getRank() != 4 || w.getRank() != 4) {
    (void)fail(loc, opName, ": input and filter must be rank 4 (NCHW, OIHW), got ",
               in, " and ", w);
    return failure();
  }
  if (failed(checkWindowAttrs(loc, opName, strides, pads, dilations)))
    return failure();
  if (groups < 1) {
    (void)fail(loc, opName, ": groups must be >= 1, got ", groups);
    return failure();
  }
  int64_t c = in.getDimSize(1), o = w.getDimSize(0), cg = w.getDimSize(1);
  if (c != kDyn && cg != kDyn && c != cg * groups) {
    (void)fail(loc, opName, ": input has ", c, " channels but filter expects ",
               cg, " x ", groups, " groups");
    return failure();
  }
  if (o != kDyn && o % groups != 0) {
    (void)fail(loc, opName, ": ", o, " output channels are not divisible by ",
               groups, " groups");
    return failure();
  }
  SmallVector<int64_t> shape{in.getDimSize(0), o};
  for (int i = 0; i < 2; ++i) {
    int64_t k = w.getDimSize(2 + i);
    int64_t out = k == kDyn ? kDyn
                            : slidingWindowOutSize(in.getDimSize(2 + i), k,
                                                   strides[i], pads[i],
                                                   pads[i + 2], dilations[i],
                                                   /*ceilMode=*/false);
    if (out == 0) {
      (void)fail(loc, opName, ": the filter window does not fit in the padded input");
      return failure();
    }
    shape.push_back(out);
  }
  return shape;
}

LogicalResult Conv2DOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  auto in = rankedOf(adaptor.getInput());
  auto w = rankedOf(adaptor.getFilter());
  auto shape = inferConvShape(loc, "qopt.conv2d", in, w, adaptor.getStrides(),
                              adaptor.getPads(), adaptor.getDilations(),
                              adaptor.getGroups());
  if (failed(shape))
    return failure();
  if (Value b = adaptor.getBias()) {
    auto bt = rankedOf(b);
    if (bt.getRank() != 1 ||
        failed(verifyCompatibleShape(bt.getShape(), {(*shape)[1]})))
      return fail(loc, "qopt.conv2d: bias must be [", (*shape)[1], "], got ", bt);
  }
  types.push_back(RankedTensorType::get(*shape, in.getElementType()));
  return success();
}

LogicalResult Conv2DIntegerOp::inferReturnTypes(MLIRContext *ctx,
                                                std::optional<Location> loc,
                                                Adaptor adaptor,
                                                SmallVectorImpl<Type> &types) {
  auto shape = inferConvShape(loc, "qopt.conv2d_integer",
                              rankedOf(adaptor.getInput()),
                              rankedOf(adaptor.getFilter()), adaptor.getStrides(),
                              adaptor.getPads(), adaptor.getDilations(),
                              adaptor.getGroups());
  if (failed(shape))
    return failure();
  types.push_back(RankedTensorType::get(*shape, IntegerType::get(ctx, 32)));
  return success();
}

LogicalResult MatMulIntegerOp::inferReturnTypes(MLIRContext *ctx,
                                                std::optional<Location> loc,
                                                Adaptor adaptor,
                                                SmallVectorImpl<Type> &types) {
  auto shape = inferBatchedMatMulShape(loc, "qopt.matmul_integer",
                                       rankedOf(adaptor.getLhs()),
                                       rankedOf(adaptor.getRhs()));
  if (failed(shape))
    return failure();
  types.push_back(RankedTensorType::get(*shape, IntegerType::get(ctx, 32)));
  return success();
}

//===----------------------------------------------------------------------===//
// Pooling
//===----------------------------------------------------------------------===//

static FailureOr<SmallVector<int64_t>>
inferPoolShape(std::optional<Location> loc, StringRef opName,
               RankedTensorType in, ArrayRef<int64_t> kernel,
               ArrayRef<int64_t> strides, ArrayRef<int64_t> pads,
               ArrayRef<int64_t> dilations, bool ceilMode) {
  if (in.getRank() != 4) {
    (void)fail(loc, opName, ": input must be rank 4 (NCHW), got ", in);
    return failure();
  }
  if (kernel.size() != 2 || llvm::any_of(kernel, [](int64_t k) { return k < 1; })) {
    (void)fail(loc, opName, ": kernel_shape must be 2 positive values");
    return failure();
  }
  if (failed(checkWindowAttrs(loc, opName, strides, pads, dilations)))
    return failure();
  for (int i = 0; i < 2; ++i)
    if (pads[i] >= kernel[i] || pads[i + 2] >= kernel[i]) {
      (void)fail(loc, opName, ": padding must be smaller than the kernel");
      return failure();
    }
  SmallVector<int64_t> shape{in.getDimSize(0), in.getDimSize(1)};
  for (int i = 0; i < 2; ++i) {
    int64_t out = slidingWindowOutSize(in.getDimSize(2 + i), kernel[i],
                                       strides[i], pads[i], pads[i + 2],
                                       dilations[i], ceilMode);
    if (out == 0) {
      (void)fail(loc, opName, ": the pooling window does not fit in the padded input");
      return failure();
    }
    shape.push_back(out);
  }
  return shape;
}

LogicalResult MaxPool2DOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &types) {
  auto in = rankedOf(adaptor.getInput());
  auto shape = inferPoolShape(loc, "qopt.max_pool2d", in,
                              adaptor.getKernelShape(), adaptor.getStrides(),
                              adaptor.getPads(), adaptor.getDilations(),
                              adaptor.getCeilMode());
  if (failed(shape))
    return failure();
  types.push_back(RankedTensorType::get(*shape, in.getElementType()));
  return success();
}

LogicalResult AvgPool2DOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &types) {
  auto in = rankedOf(adaptor.getInput());
  SmallVector<int64_t> dil{1, 1};
  auto shape = inferPoolShape(loc, "qopt.avg_pool2d", in,
                              adaptor.getKernelShape(), adaptor.getStrides(),
                              adaptor.getPads(), dil, adaptor.getCeilMode());
  if (failed(shape))
    return failure();
  types.push_back(RankedTensorType::get(*shape, in.getElementType()));
  return success();
}

LogicalResult GlobalAvgPoolOp::inferReturnTypes(MLIRContext *,
                                                std::optional<Location> loc,
                                                Adaptor adaptor,
                                                SmallVectorImpl<Type> &types) {
  auto in = rankedOf(adaptor.getInput());
  if (in.getRank() < 3)
    return fail(loc, "qopt.global_avg_pool: input must be [N, C, spatial...], got ",
                in);
  SmallVector<int64_t> shape(in.getShape());
  for (int64_t i = 2; i < in.getRank(); ++i)
    shape[i] = 1;
  types.push_back(RankedTensorType::get(shape, in.getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

static LogicalResult inferBinary(std::optional<Location> loc, StringRef opName,
                                 Value lhs, Value rhs,
                                 SmallVectorImpl<Type> &types) {
  auto a = rankedOf(lhs), b = rankedOf(rhs);
  if (a.getElementType() != b.getElementType())
    return fail(loc, opName, ": operand element types differ: ",
                a.getElementType(), " vs ", b.getElementType());
  auto shape = broadcastShapes(a.getShape(), b.getShape());
  if (failed(shape))
    return fail(loc, opName, ": shapes ", a, " and ", b, " do not broadcast");
  types.push_back(RankedTensorType::get(*shape, a.getElementType()));
  return success();
}

#define QOPT_BINARY_INFER(OP, NAME)                                            \
  LogicalResult OP::inferReturnTypes(MLIRContext *,                            \
                                     std::optional<Location> loc,              \
                                     Adaptor adaptor,                          \
                                     SmallVectorImpl<Type> &types) {           \
    return inferBinary(loc, NAME, adaptor.getLhs(), adaptor.getRhs(), types);  \
  }
QOPT_BINARY_INFER(AddOp, "qopt.add")
QOPT_BINARY_INFER(SubOp, "qopt.sub")
QOPT_BINARY_INFER(MulOp, "qopt.mul")
QOPT_BINARY_INFER(DivOp, "qopt.div")
#undef QOPT_BINARY_INFER

LogicalResult PowOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                      Adaptor adaptor,
                                      SmallVectorImpl<Type> &types) {
  // ONNX Pow allows a different exponent type; the result has the base type.
  auto a = rankedOf(adaptor.getLhs()), b = rankedOf(adaptor.getRhs());
  auto shape = broadcastShapes(a.getShape(), b.getShape());
  if (failed(shape))
    return fail(loc, "qopt.pow: shapes ", a, " and ", b, " do not broadcast");
  types.push_back(RankedTensorType::get(*shape, a.getElementType()));
  return success();
}

LogicalResult WhereOp::inferReturnTypes(MLIRContext *,
                                        std::optional<Location> loc,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &types) {
  auto c = rankedOf(adaptor.getCondition());
  auto x = rankedOf(adaptor.getTrueValue()), y = rankedOf(adaptor.getFalseValue());
  if (x.getElementType() != y.getElementType())
    return fail(loc, "qopt.where: value element types differ: ",
                x.getElementType(), " vs ", y.getElementType());
  auto xy = broadcastShapes(x.getShape(), y.getShape());
  if (failed(xy))
    return fail(loc, "qopt.where: shapes do not broadcast");
  auto all = broadcastShapes(c.getShape(), *xy);
  if (failed(all))
    return fail(loc, "qopt.where: condition shape does not broadcast");
  types.push_back(RankedTensorType::get(*all, x.getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// Normalization
//===----------------------------------------------------------------------===//

static LogicalResult checkNormParam(std::optional<Location> loc, StringRef opName,
                                    StringRef what, RankedTensorType in,
                                    int64_t axis, Value param) {
  auto pt = rankedOf(param);
  ArrayRef<int64_t> normShape = in.getShape().drop_front(axis);
  if (pt.getRank() > static_cast<int64_t>(normShape.size()))
    return fail(loc, opName, ": ", what, " of type ", pt,
                " has higher rank than the normalized dims");
  auto bc = broadcastShapes(normShape, pt.getShape());
  if (failed(bc) || failed(verifyCompatibleShape(*bc, normShape)))
    return fail(loc, opName, ": ", what, " of type ", pt,
                " does not broadcast to the normalized dims");
  return success();
}

LogicalResult LayerNormOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &types) {
  auto in = rankedOf(adaptor.getInput());
  auto axis = normalizeAxis(adaptor.getAxis(), in.getRank());
  if (failed(axis))
    return fail(loc, "qopt.layer_norm: axis ", adaptor.getAxis(),
                " out of range for ", in);
  if (failed(checkNormParam(loc, "qopt.layer_norm", "scale", in, *axis,
                            adaptor.getScale())))
    return failure();
  if (Value b = adaptor.getBias())
    if (failed(checkNormParam(loc, "qopt.layer_norm", "bias", in, *axis, b)))
      return failure();
  types.push_back(in);
  return success();
}

LogicalResult RMSNormOp::inferReturnTypes(MLIRContext *,
                                          std::optional<Location> loc,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &types) {
  auto in = rankedOf(adaptor.getInput());
  auto axis = normalizeAxis(adaptor.getAxis(), in.getRank());
  if (failed(axis))
    return fail(loc, "qopt.rms_norm: axis ", adaptor.getAxis(),
                " out of range for ", in);
  if (failed(checkNormParam(loc, "qopt.rms_norm", "scale", in, *axis,
                            adaptor.getScale())))
    return failure();
  types.push_back(in);
  return success();
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

static LogicalResult inferReduce(std::optional<Location> loc, StringRef opName,
                                 Value input, ArrayRef<int64_t> axes,
                                 bool keepdims, SmallVectorImpl<Type> &types) {
  auto in = rankedOf(input);
  llvm::SmallBitVector reduced(in.getRank(), axes.empty());
  for (int64_t a : axes) {
    auto n = normalizeAxis(a, in.getRank());
    if (failed(n))
      return fail(loc, opName, ": axis ", a, " out of range for ", in);
    if (reduced.test(*n))
      return fail(loc, opName, ": axis ", a, " appears twice");
    reduced.set(*n);
  }
  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < in.getRank(); ++i) {
    if (!reduced.test(i))
      shape.push_back(in.getDimSize(i));
    else if (keepdims)
      shape.push_back(1);
  }
  types.push_back(RankedTensorType::get(shape, in.getElementType()));
  return success();
}

#define QOPT_REDUCE_INFER(OP, NAME)                                            \
  LogicalResult OP::inferReturnTypes(MLIRContext *,                            \
                                     std::optional<Location> loc,              \
                                     Adaptor adaptor,                          \
                                     SmallVectorImpl<Type> &types) {           \
    return inferReduce(loc, NAME, adaptor.getInput(), adaptor.getAxes(),       \
                       adaptor.getKeepdims(), types);                          \
  }
QOPT_REDUCE_INFER(ReduceMeanOp, "qopt.reduce_mean")
QOPT_REDUCE_INFER(ReduceSumOp, "qopt.reduce_sum")
QOPT_REDUCE_INFER(ReduceMaxOp, "qopt.reduce_max")
#undef QOPT_REDUCE_INFER

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

LogicalResult TransposeOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &types) {
  auto in = rankedOf(adaptor.getInput());
  ArrayRef<int64_t> perm = adaptor.getPerm();
  if (static_cast<int64_t>(perm.size()) != in.getRank())
    return fail(loc, "qopt.transpose: perm has ", perm.size(),
                " entries but the input has rank ", in.getRank());
  llvm::SmallBitVector seen(perm.size());
  SmallVector<int64_t> shape;
  for (int64_t p : perm) {
    if (p < 0 || p >= in.getRank() || seen.test(p))
      return fail(loc, "qopt.transpose: perm is not a permutation of [0, ",
                  in.getRank(), ")");
    seen.set(p);
    shape.push_back(in.getDimSize(p));
  }
  types.push_back(RankedTensorType::get(shape, in.getElementType()));
  return success();
}

LogicalResult ConcatOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  if (adaptor.getInputs().empty())
    return fail(loc, "qopt.concat: needs at least one input");
  auto first = rankedOf(adaptor.getInputs().front());
  auto axis = normalizeAxis(adaptor.getAxis(), first.getRank());
  if (failed(axis))
    return fail(loc, "qopt.concat: axis ", adaptor.getAxis(),
                " out of range for rank ", first.getRank());
  SmallVector<int64_t> shape(first.getShape());
  for (Value v : adaptor.getInputs().drop_front()) {
    auto t = rankedOf(v);
    if (t.getRank() != first.getRank() ||
        t.getElementType() != first.getElementType())
      return fail(loc, "qopt.concat: input ", t, " does not match ", first);
    for (int64_t i = 0; i < t.getRank(); ++i) {
      if (i == *axis) {
        shape[i] = (shape[i] == kDyn || t.getDimSize(i) == kDyn)
                       ? kDyn
                       : shape[i] + t.getDimSize(i);
        continue;
      }
      if (shape[i] != kDyn && t.getDimSize(i) != kDyn &&
          shape[i] != t.getDimSize(i))
        return fail(loc, "qopt.concat: dim ", i, " differs between inputs (",
                    shape[i], " vs ", t.getDimSize(i), ")");
      if (shape[i] == kDyn)
        shape[i] = t.getDimSize(i);
    }
  }
  types.push_back(RankedTensorType::get(shape, first.getElementType()));
  return success();
}

LogicalResult SliceOp::inferReturnTypes(MLIRContext *,
                                        std::optional<Location> loc,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &types) {
  auto in = rankedOf(adaptor.getInput());
  ArrayRef<int64_t> starts = adaptor.getStarts(), ends = adaptor.getEnds(),
                    steps = adaptor.getSteps();
  int64_t rank = in.getRank();
  if (static_cast<int64_t>(starts.size()) != rank ||
      static_cast<int64_t>(ends.size()) != rank ||
      static_cast<int64_t>(steps.size()) != rank)
    return fail(loc, "qopt.slice: starts/ends/steps need one entry per dim (rank ",
                rank, ")");
  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < rank; ++i) {
    int64_t d = in.getDimSize(i), s = starts[i], e = ends[i], st = steps[i];
    if (st == 0)
      return fail(loc, "qopt.slice: step of dim ", i, " is 0");
    if (st > 0) {
      if (s < 0 || e < s || (d != kDyn && e > d))
        return fail(loc, "qopt.slice: dim ", i, ": need 0 <= start <= end <= ",
                    d, ", got [", s, ", ", e, ")");
      shape.push_back((e - s + st - 1) / st);
    } else {
      if (e < -1 || s < e || (d != kDyn && s > d - 1))
        return fail(loc, "qopt.slice: dim ", i,
                    ": need -1 <= end <= start < dim for a negative step, got [",
                    s, ", ", e, ")");
      shape.push_back((s - e + (-st) - 1) / (-st));
    }
  }
  types.push_back(RankedTensorType::get(shape, in.getElementType()));
  return success();
}

LogicalResult GatherOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  auto data = rankedOf(adaptor.getData());
  auto idx = rankedOf(adaptor.getIndices());
  if (data.getRank() < 1)
    return fail(loc, "qopt.gather: data must have rank >= 1");
  auto axis = normalizeAxis(adaptor.getAxis(), data.getRank());
  if (failed(axis))
    return fail(loc, "qopt.gather: axis ", adaptor.getAxis(),
                " out of range for ", data);
  SmallVector<int64_t> shape(data.getShape().take_front(*axis));
  llvm::append_range(shape, idx.getShape());
  llvm::append_range(shape, data.getShape().drop_front(*axis + 1));
  types.push_back(RankedTensorType::get(shape, data.getElementType()));
  return success();
}
