//===- KernelsInternal.h - Helpers shared by the kernel files ---*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Private to lib/executor: error helpers, dtype dispatch, broadcasting
// iteration, and the GEMM cores (KernelsGemm.cpp) used by the matmul,
// convolution and integer kernels.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_EXECUTOR_KERNELSINTERNAL_H
#define QOPT_LIB_EXECUTOR_KERNELSINTERNAL_H

#include "qopt/executor/Kernels.h"
#include "qopt/executor/ThreadPool.h"
#include "qopt/support/Tensor.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

namespace qopt::kernels::detail {

//===----------------------------------------------------------------------===//
// Errors and shapes
//===----------------------------------------------------------------------===//

/// An error whose message starts with "<kernel>: ".
inline llvm::Error kernelError(const char *kernel, const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 (llvm::Twine(kernel) + ": " + msg).str());
}

/// "[2x3x4]" ("[]" for a scalar).
std::string shapeString(llvm::ArrayRef<int64_t> shape);

/// Allocates an output tensor, checking that the element count and byte size
/// fit (shapes computed from user input can overflow).
llvm::Expected<Tensor> makeTensor(const char *kernel, DType dtype,
                                  std::vector<int64_t> shape);

/// Maps axis in [-rank, rank) to [0, rank); `what` names the operand.
llvm::Expected<int64_t> normalizeAxis(const char *kernel, int64_t axis,
                                      int64_t rank, const char *what = "axis");

inline int64_t product(llvm::ArrayRef<int64_t> dims) {
  int64_t p = 1;
  for (int64_t d : dims)
    p *= d;
  return p;
}

/// Errors unless `t` has a dtype for which `pred` holds.
llvm::Error expectDType(const char *kernel, const char *operand,
                        const Tensor &t, bool (*pred)(DType),
                        const char *expected);

/// Converts a float tensor (F32/F64/F16/BF16) to F32 (F32 input is returned
/// as is, sharing storage). F64 rounds to nearest.
Tensor toF32(const Tensor &t);
/// Converts an F32 tensor to the float dtype `to` (round to nearest even).
Tensor fromF32(const Tensor &t, DType to);

/// Reads element i of a scalar-or-vector parameter tensor as int64/float.
int64_t getInt(const Tensor &t, int64_t i);

/// Smallest and largest value of an integer dtype.
int64_t dtypeMin(DType t);
int64_t dtypeMax(DType t);

//===----------------------------------------------------------------------===//
// Dtype dispatch
//===----------------------------------------------------------------------===//

template <typename T> struct Tag { using type = T; };

/// Calls fn(Tag<T>{}) with the storage type of an integer dtype (not Bool).
template <typename Fn> decltype(auto) dispatchInt(DType d, Fn &&fn) {
  switch (d) {
  case DType::I8:
    return fn(Tag<int8_t>{});
  case DType::U8:
    return fn(Tag<uint8_t>{});
  case DType::I16:
    return fn(Tag<int16_t>{});
  case DType::U16:
    return fn(Tag<uint16_t>{});
  case DType::I32:
    return fn(Tag<int32_t>{});
  case DType::U32:
    return fn(Tag<uint32_t>{});
  case DType::I64:
    return fn(Tag<int64_t>{});
  default:
    return fn(Tag<uint64_t>{});
  }
}

/// Calls fn(Tag<T>{}) with the storage type of any dtype whose elements can
/// be copied as T; F16/BF16 map to uint16_t and Bool to uint8_t. Used for
/// data movement.
template <typename Fn> decltype(auto) dispatchBySize(DType d, Fn &&fn) {
  switch (dtypeSize(d)) {
  case 1:
    return fn(Tag<uint8_t>{});
  case 2:
    return fn(Tag<uint16_t>{});
  case 4:
    return fn(Tag<uint32_t>{});
  default:
    return fn(Tag<uint64_t>{});
  }
}

/// Adds/subtracts/multiplies integers with two's complement wrap-around.
template <typename T> inline T wrapAdd(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
}
template <typename T> inline T wrapSub(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(static_cast<U>(a) - static_cast<U>(b)));
}
template <typename T> inline T wrapMul(T a, T b) {
  // Promote narrow types to unsigned int to avoid int promotion overflow.
  using U = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned,
                               std::make_unsigned_t<T>>;
  return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
}

//===----------------------------------------------------------------------===//
// Broadcasting iteration
//===----------------------------------------------------------------------===//

/// Iterates an output shape that up to three inputs are broadcast to. Dims
/// of size 1 are dropped and adjacent dims merged where every input allows,
/// so the innermost run is as long as possible. Rows are the innermost runs.
struct BroadcastPlan {
  static constexpr int kMaxInputs = 3;
  std::vector<int64_t> outShape;
  int64_t numOut = 0;
  int numInputs = 0;
  /// Collapsed dims (at least one) and per-dim element strides per input.
  std::vector<int64_t> dims;
  std::vector<std::array<int64_t, kMaxInputs>> strides;

  int64_t inner() const { return dims.back(); }
  int64_t numRows() const { return inner() == 0 ? 0 : numOut / inner(); }
  std::array<int64_t, kMaxInputs> innerStrides() const {
    return strides.back();
  }
  /// Element offsets of row `row` in each input.
  void rowOffsets(int64_t row, int64_t *offsets) const;
};

/// Plans broadcasting of 1-3 shapes; errors name `kernel`.
llvm::Expected<BroadcastPlan>
planBroadcast(const char *kernel,
              llvm::ArrayRef<llvm::ArrayRef<int64_t>> shapes);

/// Runs fn(row, outOffset, inOffsets) for every row, in parallel.
template <typename Fn>
void forEachBroadcastRow(const BroadcastPlan &plan, Fn &&fn) {
  int64_t rows = plan.numRows();
  int64_t inner = plan.inner();
  int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, inner));
  parallelFor(rows, grain, [&](int64_t begin, int64_t end) {
    int64_t offsets[BroadcastPlan::kMaxInputs] = {0, 0, 0};
    for (int64_t r = begin; r < end; ++r) {
      plan.rowOffsets(r, offsets);
      fn(r * inner, static_cast<const int64_t *>(offsets));
    }
  });
}

//===----------------------------------------------------------------------===//
// Matmul and convolution geometry (KernelsLinalg.cpp)
//===----------------------------------------------------------------------===//

/// numpy matmul shapes: out = batch + [m] + [n] (without the dims of 1-D
/// operands). aOffsets/bOffsets give the element offset of each output
/// batch's A and B matrix. When B has a single matrix the batch is folded
/// into the rows: batch == 1 and m counts all rows.
struct MatmulPlan {
  int64_t m = 0, k = 0, n = 0;
  int64_t batch = 1;
  std::vector<int64_t> outShape;
  std::vector<int64_t> aOffsets, bOffsets;
};
llvm::Expected<MatmulPlan> planMatmul(const char *kernel,
                                      llvm::ArrayRef<int64_t> aShape,
                                      llvm::ArrayRef<int64_t> bShape);

/// Validated 2-D convolution geometry.
struct ConvGeometry {
  int64_t n, c, h, w;    // input
  int64_t o, kh, kw;     // weights
  int64_t oh, ow;        // output spatial size
  int64_t group, cg, og; // groups, input and output channels per group
  int64_t sh, sw, pt, pl, pb, pr, dh, dw;
};
llvm::Expected<ConvGeometry> planConv(const char *kernel, const Tensor &x,
                                      const Tensor &w,
                                      const Conv2DOptions &options);

/// floor(a / b) and ceil(a / b) for b > 0.
inline int64_t floorDiv(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}
inline int64_t ceilDiv(int64_t a, int64_t b) { return -floorDiv(-a, b); }

/// Output columns [lo, hi) whose input column ow * stride - pad + offset
/// lies in [0, size).
inline void validRange(int64_t outSize, int64_t size, int64_t stride,
                       int64_t pad, int64_t offset, int64_t &lo, int64_t &hi) {
  lo = std::max<int64_t>(0, ceilDiv(pad - offset, stride));
  hi =
      std::min<int64_t>(outSize, floorDiv(size - 1 + pad - offset, stride) + 1);
  if (hi < lo)
    hi = lo;
}

/// Fills rows [rowBegin, rowEnd) of the im2col matrix of one group of one
/// image: row (c, ki, kj) holds, for every output position, the input
/// element under kernel tap (ki, kj) of channel c, or 0 in the padding.
/// `img` points at the group's first channel ([cg, h, w]); `col` at the
/// matrix ([cg * kh * kw, oh * ow]).
template <typename T>
void im2colRows(const ConvGeometry &g, const T *img, T *col, int64_t rowBegin,
                int64_t rowEnd) {
  const int64_t plane = g.oh * g.ow;
  for (int64_t r = rowBegin; r < rowEnd; ++r) {
    int64_t c = r / (g.kh * g.kw);
    int64_t ki = (r / g.kw) % g.kh;
    int64_t kj = r % g.kw;
    const T *src = img + c * g.h * g.w;
    T *dst = col + r * plane;
    int64_t lo, hi;
    validRange(g.ow, g.w, g.sw, g.pl, kj * g.dw, lo, hi);
    for (int64_t y = 0; y < g.oh; ++y) {
      T *d = dst + y * g.ow;
      int64_t ih = y * g.sh - g.pt + ki * g.dh;
      if (ih < 0 || ih >= g.h) {
        std::fill(d, d + g.ow, T(0));
        continue;
      }
      std::fill(d, d + lo, T(0));
      // Input index of output column x is base + x * sw (>= 0 inside [lo, hi)).
      int64_t base = ih * g.w - g.pl + kj * g.dw;
      if (g.sw == 1) {
        std::copy(src + base + lo, src + base + hi, d + lo);
      } else {
        for (int64_t x = lo; x < hi; ++x)
          d[x] = src[base + x * g.sw];
      }
      std::fill(d + hi, d + g.ow, T(0));
    }
  }
}

/// Direct convolution of one output plane when each output channel reads a
/// single input channel (depthwise): out[y, x] += sum over taps of
/// w[ki, kj] * in[...], accumulated in Acc (uint32_t gives wrapping int32
/// arithmetic). `out` must be initialized (bias or 0).
template <typename T, typename Acc>
void directPlane(const ConvGeometry &g, const T *in, const T *wts, Acc *out) {
  for (int64_t ki = 0; ki < g.kh; ++ki) {
    for (int64_t kj = 0; kj < g.kw; ++kj) {
      Acc wv = static_cast<Acc>(wts[ki * g.kw + kj]);
      int64_t lo, hi;
      validRange(g.ow, g.w, g.sw, g.pl, kj * g.dw, lo, hi);
      for (int64_t y = 0; y < g.oh; ++y) {
        int64_t ih = y * g.sh - g.pt + ki * g.dh;
        if (ih < 0 || ih >= g.h)
          continue;
        int64_t base = ih * g.w - g.pl + kj * g.dw;
        Acc *d = out + y * g.ow;
        if (g.sw == 1) {
          const T *s = in + base + lo;
          Acc *dd = d + lo;
          for (int64_t x = 0; x < hi - lo; ++x)
            dd[x] += wv * static_cast<Acc>(s[x]);
        } else {
          for (int64_t x = lo; x < hi; ++x)
            d[x] += wv * static_cast<Acc>(in[base + x * g.sw]);
        }
      }
    }
  }
}

//===----------------------------------------------------------------------===//
// GEMM cores (KernelsGemm.cpp)
//===----------------------------------------------------------------------===//

/// One product of a batch: pointers to the first element of A, B and C.
struct SgemmItem {
  const float *a;
  const float *b;
  float *c;
};

/// C = A x B (C overwritten) for every item, A [M, K] with element strides
/// (rsA, csA), B [K, N] with (rsB, csB), C row-major with leading dimension
/// ldc. Items may share B (it is packed once). Parallel over items and
/// tiles of C.
void sgemm(int64_t m, int64_t n, int64_t k, int64_t rsA, int64_t csA,
           int64_t rsB, int64_t csB, int64_t ldc,
           llvm::ArrayRef<SgemmItem> items);

struct Igemm16Item {
  const int16_t *a;
  const int16_t *b;
  int32_t *c;
};

/// C = A x B with int32 accumulation wrapping modulo 2^32, for A [M, K] and
/// B [K, N] row-major int16 (leading dimensions lda, ldb) whose values lie
/// in [-32767, 32767] (zero-point-adjusted 8-bit values), C row-major int32.
void igemm16(int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb,
             int64_t ldc, llvm::ArrayRef<Igemm16Item> items);

} // namespace qopt::kernels::detail

#endif // QOPT_LIB_EXECUTOR_KERNELSINTERNAL_H
