//===- Kernels.h - Numerical kernels of the reference executor --*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// The kernels the reference executor runs: the oracle of the project. Float
// ops follow ONNX semantics; quantized ops follow the numerics contract
// bit-exactly (docs: "Numerics contract" in DESIGN.md). Every kernel takes
// dense row-major qopt::Tensor values, validates shapes and dtypes, and
// returns an llvm::Error naming the kernel and the offending operand instead
// of asserting. Inputs are never modified; outputs are freshly allocated
// (or share the input's storage where the result is the input unchanged).
//
// General conventions:
//  * Axes may be negative (counted from the end) wherever an axis is taken.
//  * "Broadcasting" is numpy multidirectional broadcasting.
//  * F16 and BF16 are computed in f32 and rounded back (round to nearest
//    even). F64 is computed in double.
//  * Integer add/sub/mul/neg/abs wrap modulo 2^bits (two's complement), as
//    the int32 accumulators of quantized kernels do.
//  * Results do not depend on the number of threads: work is only split
//    across independent output elements.
//  * Float results may differ in the last bits between machines because the
//    f32 GEMM uses FMA where the CPU has AVX2+FMA; they are deterministic on
//    one machine. Integer and quantization kernels are bit-exact everywhere.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_EXECUTOR_KERNELS_H
#define QOPT_EXECUTOR_KERNELS_H

#include "qopt/support/Tensor.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

namespace qopt::kernels {

//===----------------------------------------------------------------------===//
// Shapes
//===----------------------------------------------------------------------===//

/// numpy multidirectional broadcast of two shapes; an error if a pair of
/// dims differs and neither is 1.
llvm::Expected<std::vector<int64_t>> broadcastShapes(llvm::ArrayRef<int64_t> a,
                                                     llvm::ArrayRef<int64_t> b);

//===----------------------------------------------------------------------===//
// Linear algebra, convolution, pooling (KernelsLinalg.cpp)
//===----------------------------------------------------------------------===//

/// numpy matmul: A[..., M, K] x B[..., K, N] -> [..., M, N], batch dims
/// broadcast. A 1-D A is treated as [1, K] and a 1-D B as [K, 1], and the
/// added dim is removed from the result. F32 (blocked, vectorized,
/// multithreaded), F64, F16/BF16 (computed in f32). Both dtypes must match.
llvm::Expected<Tensor> matmul(const Tensor &a, const Tensor &b);

/// ONNX Gemm: Y = alpha * A' x B' + beta * C, where A' = transA ? A^T : A
/// ([M, K]) and B' = transB ? B^T : B ([K, N]); A and B are 2-D. `c` (may be
/// null) is unidirectionally broadcast to [M, N]. Float dtypes, all equal.
llvm::Expected<Tensor> gemm(const Tensor &a, const Tensor &b, const Tensor *c,
                            float alpha = 1.0f, float beta = 1.0f,
                            bool transA = false, bool transB = false);

/// Attributes of a 2-D convolution (ONNX Conv / ConvInteger).
struct Conv2DOptions {
  std::array<int64_t, 2> strides = {1, 1};
  /// Explicit padding (top, left, bottom, right), all >= 0.
  std::array<int64_t, 4> pads = {0, 0, 0, 0};
  std::array<int64_t, 2> dilations = {1, 1};
  int64_t group = 1;
};

/// ONNX Conv: X[N, C, H, W] * W[O, C/group, kh, kw] (+ bias[O]) ->
/// [N, O, OH, OW], with OH = (H + top + bottom - (dh * (kh - 1) + 1)) / sh + 1
/// (floor), zero padding. Float dtypes, all equal. F32 uses im2col + the
/// blocked GEMM; convolutions with one input channel per group (depthwise)
/// are computed directly.
llvm::Expected<Tensor> conv2d(const Tensor &x, const Tensor &w,
                              const Tensor *bias,
                              const Conv2DOptions &options = {});

/// Attributes of 2-D pooling (ONNX MaxPool / AveragePool).
struct Pool2DOptions {
  std::array<int64_t, 2> kernel = {1, 1};
  std::array<int64_t, 2> strides = {1, 1};
  /// (top, left, bottom, right); each must be smaller than the dilated
  /// kernel extent of its axis, and every window must have a tap on an
  /// input element (dilated windows could otherwise fall into the padding):
  /// both are errors instead of -inf / 0 / 0 results.
  std::array<int64_t, 4> pads = {0, 0, 0, 0};
  std::array<int64_t, 2> dilations = {1, 1};
  /// Output size rounds up instead of down; a last window that would start
  /// at or after the end of the input plus the leading pad is dropped
  /// (ONNX Runtime / PyTorch rule).
  bool ceilMode = false;
  /// AveragePool only: the divisor counts padding positions (but never the
  /// part of a ceil-mode window that lies beyond the trailing pad).
  bool countIncludePad = false;
};

/// ONNX MaxPool on X[N, C, H, W]; padding never wins. Float and integer
/// dtypes. (Max of windows containing NaN is NaN.)
llvm::Expected<Tensor> maxPool2d(const Tensor &x, const Pool2DOptions &options);

/// ONNX AveragePool on X[N, C, H, W] (float dtypes; sums in double).
llvm::Expected<Tensor> avgPool2d(const Tensor &x, const Pool2DOptions &options);

/// ONNX GlobalAveragePool: X[N, C, d1, ...] -> [N, C, 1, ...] (rank >= 3,
/// float dtypes, sums in double).
llvm::Expected<Tensor> globalAvgPool(const Tensor &x);

//===----------------------------------------------------------------------===//
// Elementwise (KernelsElementwise.cpp)
//===----------------------------------------------------------------------===//

enum class BinaryOp { Add, Sub, Mul, Div, Pow, Max, Min };

/// Broadcasting binary op. Float dtypes and integer dtypes (not Bool); both
/// inputs must have the same dtype, which is the output dtype, except for
/// Pow, whose exponent may have any numeric dtype. Semantics:
///  * floats: IEEE arithmetic in the dtype (F16/BF16 in f32); Pow uses
///    std::pow; Max/Min propagate NaN.
///  * integers: Add/Sub/Mul wrap; Div truncates toward zero like C, division
///    by zero is an error, and MIN / -1 wraps to MIN; Pow with an exponent of
///    the same dtype multiplies repeatedly (wrapping; a negative exponent
///    gives 1 / base^|e| truncated: 1 for base 1, +-1 for base -1, an error
///    for base 0, otherwise 0).
///  * Pow with an exponent of another dtype is computed in double and cast
///    to the base dtype (integers: truncation toward zero, saturating, NaN
///    -> 0).
llvm::Expected<Tensor> binary(BinaryOp op, const Tensor &a, const Tensor &b);
llvm::Expected<Tensor> add(const Tensor &a, const Tensor &b);
llvm::Expected<Tensor> sub(const Tensor &a, const Tensor &b);
llvm::Expected<Tensor> mul(const Tensor &a, const Tensor &b);
llvm::Expected<Tensor> div(const Tensor &a, const Tensor &b);
llvm::Expected<Tensor> pow(const Tensor &base, const Tensor &exponent);
llvm::Expected<Tensor> max(const Tensor &a, const Tensor &b);
llvm::Expected<Tensor> min(const Tensor &a, const Tensor &b);

enum class UnaryOp {
  Sqrt,
  Exp,
  Erf,
  Tanh,
  Sigmoid,
  Relu,
  Gelu,     // 0.5 x (1 + erf(x / sqrt(2)))
  GeluTanh, // 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
  Silu,     // x * sigmoid(x)
  Neg,
  Abs,
};

/// Elementwise unary op on float dtypes (computed in f32 for F32/F16/BF16,
/// in double for F64). Relu, Neg and Abs also accept integer dtypes (Neg
/// only signed ones; Neg/Abs of MIN wrap to MIN).
llvm::Expected<Tensor> unary(UnaryOp op, const Tensor &x);
llvm::Expected<Tensor> sqrt(const Tensor &x);
llvm::Expected<Tensor> exp(const Tensor &x);
llvm::Expected<Tensor> erf(const Tensor &x);
llvm::Expected<Tensor> tanh(const Tensor &x);
llvm::Expected<Tensor> sigmoid(const Tensor &x);
llvm::Expected<Tensor> relu(const Tensor &x);
enum class GeluApproximation { None, Tanh };
llvm::Expected<Tensor>
gelu(const Tensor &x, GeluApproximation approximate = GeluApproximation::None);
llvm::Expected<Tensor> silu(const Tensor &x);
llvm::Expected<Tensor> neg(const Tensor &x);
llvm::Expected<Tensor> abs(const Tensor &x);

//===----------------------------------------------------------------------===//
// Softmax, normalization, reductions (KernelsNorm.cpp)
//===----------------------------------------------------------------------===//

/// ONNX Softmax (opset 13): exp(x - max) / sum along `axis`; float dtypes,
/// sums in double.
llvm::Expected<Tensor> softmax(const Tensor &x, int64_t axis);

/// ONNX LayerNormalization (stash_type f32): normalizes over dims
/// [axis, rank); `scale` and `bias` (may be null) are unidirectionally
/// broadcast to x.shape[axis:]. Mean and variance are accumulated in double,
/// then y = (x - mean) * (1 / sqrt(var + epsilon)) * scale + bias in f32
/// (double for F64). All dtypes equal and float.
llvm::Expected<Tensor> layerNorm(const Tensor &x, const Tensor &scale,
                                 const Tensor *bias, int64_t axis,
                                 float epsilon);

/// RMS normalization over dims [axis, rank):
/// y = x * (1 / sqrt(mean(x^2) + epsilon)) * scale, scale broadcast as for
/// layerNorm.
llvm::Expected<Tensor> rmsNorm(const Tensor &x, const Tensor &scale,
                               int64_t axis, float epsilon);

enum class ReduceKind { Sum, Mean, Max, Min };

/// ONNX Reduce{Sum,Mean,Max,Min}. `axes` empty reduces every axis; repeated
/// axes are an error. Float dtypes accumulate in double; integer sums
/// accumulate in 64 bits and wrap to the dtype; an integer mean is the sum
/// divided by the count truncated toward zero. Max/Min propagate NaN, and
/// over an empty set give the lowest/highest value of the dtype (-inf/+inf
/// for floats); a mean over an empty set is NaN for floats and an error for
/// integers.
llvm::Expected<Tensor> reduce(ReduceKind kind, const Tensor &x,
                              llvm::ArrayRef<int64_t> axes, bool keepdims);
llvm::Expected<Tensor> reduceSum(const Tensor &x, llvm::ArrayRef<int64_t> axes,
                                 bool keepdims);
llvm::Expected<Tensor> reduceMean(const Tensor &x, llvm::ArrayRef<int64_t> axes,
                                  bool keepdims);
llvm::Expected<Tensor> reduceMax(const Tensor &x, llvm::ArrayRef<int64_t> axes,
                                 bool keepdims);
llvm::Expected<Tensor> reduceMin(const Tensor &x, llvm::ArrayRef<int64_t> axes,
                                 bool keepdims);

//===----------------------------------------------------------------------===//
// Data movement (KernelsData.cpp). Reshape is free: Tensor::reshaped().
//===----------------------------------------------------------------------===//

/// Permutes dims: out.shape[i] = x.shape[perm[i]]. Any dtype.
llvm::Expected<Tensor> transpose(const Tensor &x, llvm::ArrayRef<int64_t> perm);

/// Concatenates along `axis`; all inputs share dtype and rank and agree on
/// every other dim. Any dtype.
llvm::Expected<Tensor> concat(llvm::ArrayRef<Tensor> inputs, int64_t axis);

/// Strided slice with one (start, end, step) per dim, already normalized
/// against the dim size d (ONNX Slice after clamping). Python slicing
/// semantics on the normalized values:
///  * step > 0: 0 <= start <= d and 0 <= end <= d; the elements are start,
///    start + step, ... while < end.
///  * step < 0: -1 <= start <= d - 1 and -1 <= end <= d - 1, where -1 means
///    "before index 0" (so end = -1 includes index 0); the elements are
///    start, start + step, ... while > end.
///  * step == 0 is an error, as are values outside these ranges.
/// An empty range gives a zero-sized dim. Any dtype.
llvm::Expected<Tensor> slice(const Tensor &x, llvm::ArrayRef<int64_t> starts,
                             llvm::ArrayRef<int64_t> ends,
                             llvm::ArrayRef<int64_t> steps);

/// ONNX Gather: out = data.shape[:axis] + indices.shape +
/// data.shape[axis+1:]. Indices are I32 or I64; negative ones count from the
/// end; out-of-range indices are an error. Any data dtype.
llvm::Expected<Tensor> gather(const Tensor &data, const Tensor &indices,
                              int64_t axis);

/// ONNX Where: cond ? x : y with 3-way broadcasting; cond is Bool, x and y
/// share a dtype.
llvm::Expected<Tensor> where(const Tensor &cond, const Tensor &x,
                             const Tensor &y);

/// ONNX Cast between any two dtypes:
///  * float -> integer truncates toward zero; values beyond the target range
///    saturate to its limits and NaN gives 0 (ONNX leaves both undefined).
///  * float -> float and integer -> float round to nearest even once
///    (integer -> BF16/F16 of magnitudes >= 2^53 may round twice).
///  * integer -> integer keeps the low bits (two's complement wrap).
///  * anything -> Bool is `value != 0` (NaN -> true); Bool -> x is 0 or 1.
/// Casting to the same dtype returns the input (sharing storage).
llvm::Expected<Tensor> cast(const Tensor &x, DType to);

//===----------------------------------------------------------------------===//
// Quantization (KernelsQuant.cpp). Bit-exact; all rounding is
// round-half-to-even (std::nearbyint in the default rounding mode).
//===----------------------------------------------------------------------===//

/// Quantization parameter layouts, shared by quantize/dequantize:
///  * per-tensor: scale has one element (rank 0 or [1]) and blockSize == 0;
///  * per-axis: scale is 1-D with x.shape[axis] elements, blockSize == 0;
///  * blocked: blockSize > 0 and scale has x's rank with
///    scale.shape[axis] == ceil(x.shape[axis] / blockSize) and every other
///    dim equal to x's; element i along `axis` uses scale index
///    i / blockSize.
/// zeroPoint (may be null = 0) has scale's shape. Scales must be finite and
/// > 0 (F32, F16 or BF16, widened to f32).

/// ONNX QuantizeLinear:
///   q = saturate(nearbyint(x / scale) + zeroPoint)
/// with x / scale computed in f32 (x is F32/F16/BF16, or F64 rounded to f32
/// first), the rounded value plus the zero point added exactly, and
/// saturation to [qmin, qmax]. outDType is I8, U8, I16, U16 or I32 and
/// zeroPoint must have that dtype. qmin/qmax default to the dtype's range;
/// narrower ranges (e.g. [-8, 7] for int4 stored in I8) must lie inside it.
/// NaN inputs give the zero point.
llvm::Expected<Tensor>
quantizeLinear(const Tensor &x, const Tensor &scale, const Tensor *zeroPoint,
               int64_t axis, int64_t blockSize, DType outDType,
               std::optional<int64_t> qmin = std::nullopt,
               std::optional<int64_t> qmax = std::nullopt);

/// ONNX DequantizeLinear: y = float(q - zeroPoint) * scale, where the
/// difference is exact (64-bit) and rounded once to f32, and the product is
/// an f32 multiply. q is I8, U8, I16, U16 or I32, zeroPoint has q's dtype.
/// The output has scale's dtype (F32, or F16/BF16 rounded from the f32
/// result).
llvm::Expected<Tensor> dequantizeLinear(const Tensor &q, const Tensor &scale,
                                        const Tensor *zeroPoint, int64_t axis,
                                        int64_t blockSize);

/// ONNX MatMulInteger: (A - aZeroPoint) x (B - bZeroPoint) with int32
/// accumulation (wrapping modulo 2^32), numpy batch broadcasting and 1-D
/// handling as matmul. A and B are U8 or I8 (independently); aZeroPoint is
/// a scalar or 1-D [M] (per row of A), bZeroPoint a scalar or 1-D [N] (per
/// column of B), each with its operand's dtype; null means 0. -> I32.
llvm::Expected<Tensor> matmulInteger(const Tensor &a, const Tensor &b,
                                     const Tensor *aZeroPoint,
                                     const Tensor *bZeroPoint);

/// ONNX ConvInteger: like conv2d on (X - xZeroPoint) and (W - wZeroPoint)
/// with int32 accumulation (wrapping). Padding positions hold xZeroPoint, so
/// they contribute 0. X, W are U8 or I8; xZeroPoint is a scalar, wZeroPoint
/// a scalar or 1-D [O] (per output channel). -> I32.
llvm::Expected<Tensor> convInteger(const Tensor &x, const Tensor &w,
                                   const Tensor *xZeroPoint,
                                   const Tensor *wZeroPoint,
                                   const Conv2DOptions &options = {});

/// Requantization of int32 accumulators (ONNX Runtime's QLinearMatMul /
/// QLinearConv output stage):
///   y = saturate(nearbyint(float(acc) * multiplier) + outZeroPoint)
/// all in f32: float(acc) rounds to nearest even, the product is one f32
/// multiply, nearbyint rounds half to even, the zero point is added exactly
/// and the sum saturated to [qmin, qmax] (default: outDType's range).
/// acc is I32; multiplier is F32, finite and > 0, with one element or 1-D
/// [acc.shape[axis]] (per axis); outZeroPoint (may be null = 0) has
/// multiplier's shape and outDType (I8, U8, I16, U16 or I32). The multiplier
/// is typically scaleA * scaleB / scaleY, folded by the compiler.
llvm::Expected<Tensor> requantize(const Tensor &acc, const Tensor &multiplier,
                                  const Tensor *outZeroPoint, int64_t axis,
                                  DType outDType,
                                  std::optional<int64_t> qmin = std::nullopt,
                                  std::optional<int64_t> qmax = std::nullopt);

/// Outputs of dynamicQuantizeLinear.
struct DynamicQuantized {
  Tensor y;         // U8, x's shape
  Tensor scale;     // F32 scalar (rank 0)
  Tensor zeroPoint; // U8 scalar (rank 0)
};

/// ONNX DynamicQuantizeLinear on an F32 tensor, as the ONNX reference:
/// the range [min(x), max(x)] is extended to include 0;
/// scale = (max - min) / 255 in f32, or 1 / 255 when max == min (all zeros
/// or empty x); zeroPoint = saturate(nearbyint(0 - min / scale)) to [0, 255];
/// y = quantizeLinear(x, scale, zeroPoint). Non-finite inputs are an error.
llvm::Expected<DynamicQuantized> dynamicQuantizeLinear(const Tensor &x);
/// Symmetric per-token int8: per row (all but the last dim) scale =
/// max|x| / 127 (1 for an all-zero row), y = clamp(rne(x / scale), -127,
/// 127) as I8; scale (F32) and zeroPoint (I8 zeros) have x's shape with the
/// last dim 1. Non-finite inputs are an error.
llvm::Expected<DynamicQuantized> dynamicQuantizePerToken(const Tensor &x);

namespace detail {
/// Testing hook: when set, the GEMM kernels ignore AVX2/FMA and use the
/// baseline (SSE) micro-kernels. Not thread-safe with running kernels.
void setForceBaselineIsa(bool force);
/// Whether the AVX2/FMA micro-kernels are in use.
bool usingAvx2();
} // namespace detail

} // namespace qopt::kernels

#endif // QOPT_EXECUTOR_KERNELS_H
