//===- KernelsQuant.cpp - Quantization kernels (bit-exact) ----------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// The integer side of the numerics contract: quantize / dequantize with
// per-tensor, per-axis and blocked parameters, integer matmul and
// convolution with int32 accumulation, requantization of int32
// accumulators, and ONNX DynamicQuantizeLinear. Rounding is always
// std::nearbyint in the default (round-to-nearest-even) mode.
//
//===----------------------------------------------------------------------===//

#include "KernelsInternal.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>

using namespace qopt;
using namespace qopt::kernels;
using namespace qopt::kernels::detail;

namespace {

bool isQuantStorage(DType d) {
  return d == DType::I8 || d == DType::U8 || d == DType::I16 ||
         d == DType::U16 || d == DType::I32;
}

bool isInt8Storage(DType d) { return d == DType::I8 || d == DType::U8; }

/// How quantization parameters map onto a tensor viewed as
/// [outer, axisLen, inner].
struct ParamLayout {
  enum Kind { PerTensor, PerAxis, Blocked } kind = PerTensor;
  int64_t outer = 1, axisLen = 1, inner = 1;
  int64_t blockSize = 0, numBlocks = 1;

  /// Parameter index of element (o, a, i).
  int64_t index(int64_t o, int64_t a, int64_t i) const {
    switch (kind) {
    case PerTensor:
      return 0;
    case PerAxis:
      return a;
    case Blocked:
      return (o * numBlocks + a / blockSize) * inner + i;
    }
    return 0;
  }
};

/// Validates scale/zero-point shapes against `x`, the layout rules in
/// Kernels.h, and returns the layout. `allowBlocked` is false for
/// requantize.
llvm::Expected<ParamLayout> planParams(const char *kernel, const Tensor &x,
                                       const Tensor &scale,
                                       const char *scaleName,
                                       const Tensor *zeroPoint, int64_t axis,
                                       int64_t blockSize, bool allowBlocked) {
  ParamLayout l;
  if (blockSize < 0)
    return kernelError(kernel, "block size " + llvm::Twine(blockSize) +
                                   " must be >= 0");
  auto isOne = [](const Tensor &t) {
    return t.numElements() == 1 && t.rank() <= 1;
  };
  if (zeroPoint && zeroPoint->shape() != scale.shape() &&
      !(isOne(*zeroPoint) && isOne(scale)))
    return kernelError(kernel, "zero point " + zeroPoint->describe() +
                                   " must have the shape of " + scaleName +
                                   " " + scale.describe());
  if (blockSize == 0 && isOne(scale)) {
    l.kind = ParamLayout::PerTensor;
    l.outer = 1;
    l.axisLen = 1;
    l.inner = x.numElements();
    return l;
  }
  if (x.rank() == 0)
    return kernelError(kernel, llvm::Twine(scaleName) + " " + scale.describe() +
                                   " must have one element for a scalar input");
  auto axOr = normalizeAxis(kernel, axis, x.rank());
  if (!axOr)
    return axOr.takeError();
  int64_t ax = *axOr;
  llvm::ArrayRef<int64_t> xs = x.shape();
  l.outer = product(xs.take_front(ax));
  l.axisLen = xs[ax];
  l.inner = product(xs.drop_front(ax + 1));
  if (blockSize == 0) {
    if (scale.rank() != 1 || scale.dim(0) != l.axisLen)
      return kernelError(kernel,
                         llvm::Twine(scaleName) + " " + scale.describe() +
                             " must have one element or be 1-D with " +
                             llvm::Twine(l.axisLen) + " elements (dim " +
                             llvm::Twine(ax) + " of " + x.describe() + ")");
    l.kind = ParamLayout::PerAxis;
    return l;
  }
  if (!allowBlocked)
    return kernelError(kernel, "blocked parameters are not supported here");
  l.kind = ParamLayout::Blocked;
  l.blockSize = blockSize;
  l.numBlocks = (l.axisLen + blockSize - 1) / blockSize;
  bool ok = scale.rank() == x.rank();
  for (int64_t d = 0; ok && d < x.rank(); ++d)
    ok = scale.dim(d) == (d == ax ? l.numBlocks : xs[d]);
  if (!ok) {
    std::vector<int64_t> want(xs.begin(), xs.end());
    want[ax] = l.numBlocks;
    return kernelError(kernel, llvm::Twine(scaleName) + " " + scale.describe() +
                                   " must be " + shapeString(want) +
                                   " for block size " + llvm::Twine(blockSize) +
                                   " along axis " + llvm::Twine(ax) + " of " +
                                   x.describe());
  }
  return l;
}

std::string formatFloat(float v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", static_cast<double>(v));
  return buf;
}

/// Reads a float scale/multiplier tensor as f32 values, all finite and > 0.
llvm::Expected<std::vector<float>>
readScales(const char *kernel, const char *name, const Tensor &s) {
  if (s.dtype() != DType::F32 && s.dtype() != DType::F16 &&
      s.dtype() != DType::BF16)
    return kernelError(kernel, llvm::Twine(name) + " " + s.describe() +
                                   " must be f32, f16 or bf16");
  Tensor f = toF32(s);
  const float *p = f.data<float>();
  std::vector<float> out(p, p + f.numElements());
  for (size_t i = 0; i < out.size(); ++i)
    if (!(out[i] > 0.0f) || !std::isfinite(out[i]))
      return kernelError(kernel, llvm::Twine(name) + " " + s.describe() +
                                     " element " + llvm::Twine(i) + " is " +
                                     formatFloat(out[i]) +
                                     "; scales must be finite and > 0");
  return out;
}

/// Reads zero points (or zeros when absent) as int64.
std::vector<int64_t> readZeroPoints(const Tensor *zp, int64_t count) {
  std::vector<int64_t> out(static_cast<size_t>(count), 0);
  if (zp)
    for (int64_t i = 0; i < count; ++i)
      out[i] = getInt(*zp, i);
  return out;
}

/// Checks the output dtype and zero point of a quantizing kernel and resolves
/// the saturation range for outDType and optional overrides.
llvm::Error checkQuantOutput(const char *kernel, DType outDType,
                             const Tensor *zeroPoint,
                             std::optional<int64_t> qmin,
                             std::optional<int64_t> qmax, int64_t &lo,
                             int64_t &hi) {
  if (!isQuantStorage(outDType))
    return kernelError(kernel, llvm::Twine("output dtype ") +
                                   dtypeName(outDType) +
                                   " must be i8, u8, i16, u16 or i32");
  if (zeroPoint && zeroPoint->dtype() != outDType)
    return kernelError(kernel, "zero point " + zeroPoint->describe() +
                                   " must have the output dtype " +
                                   dtypeName(outDType));
  int64_t tmin = dtypeMin(outDType), tmax = dtypeMax(outDType);
  lo = qmin.value_or(tmin);
  hi = qmax.value_or(tmax);
  if (lo < tmin || hi > tmax || lo > hi)
    return kernelError(kernel, "range [" + llvm::Twine(lo) + ", " +
                                   llvm::Twine(hi) +
                                   "] is empty or outside the range of " +
                                   dtypeName(outDType));
  return llvm::Error::success();
}

/// saturate(r + zp) for an already-rounded float r. Exact: r is an integer
/// valued float (or +-inf), so its double sum with zp is exact below 2^53,
/// and saturation happens long before that.
inline int64_t saturateRounded(float r, int64_t zp, int64_t lo, int64_t hi) {
  if (r != r)
    return std::min(std::max(zp, lo), hi);
  double v = static_cast<double>(r) + static_cast<double>(zp);
  if (v <= static_cast<double>(lo))
    return lo;
  if (v >= static_cast<double>(hi))
    return hi;
  return static_cast<int64_t>(v);
}

/// Runs fn(o, a, base, count) over [outer, axisLen, inner] in parallel:
/// elements [base, base + count) of row (o, a), at index i - base within the
/// row. Rows are `inner` long, except that per-tensor data (one row) is split
/// into chunks so that every thread takes part.
template <typename Fn> void forEachParamRow(const ParamLayout &l, Fn &&fn) {
  if (l.kind == ParamLayout::PerTensor) {
    parallelFor(l.inner, 16384, [&](int64_t begin, int64_t end) {
      fn(int64_t(0), int64_t(0), begin, end - begin);
    });
    return;
  }
  int64_t rows = l.outer * l.axisLen;
  parallelFor(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, l.inner)),
              [&](int64_t begin, int64_t end) {
                for (int64_t r = begin; r < end; ++r)
                  fn(r / l.axisLen, r % l.axisLen, r * l.inner, l.inner);
              });
}

} // namespace

//===----------------------------------------------------------------------===//
// QuantizeLinear / DequantizeLinear
//===----------------------------------------------------------------------===//

llvm::Expected<Tensor> qopt::kernels::quantizeLinear(
    const Tensor &x, const Tensor &scale, const Tensor *zeroPoint, int64_t axis,
    int64_t blockSize, DType outDType, std::optional<int64_t> qmin,
    std::optional<int64_t> qmax) {
  const char *kernel = "quantizeLinear";
  if (!isFloat(x.dtype()))
    return kernelError(kernel,
                       "input " + x.describe() + " must have a float dtype");
  int64_t lo, hi;
  if (auto err =
          checkQuantOutput(kernel, outDType, zeroPoint, qmin, qmax, lo, hi))
    return std::move(err);
  auto lOr = planParams(kernel, x, scale, "scale", zeroPoint, axis, blockSize,
                        /*allowBlocked=*/true);
  if (!lOr)
    return lOr.takeError();
  const ParamLayout &l = *lOr;
  auto sOr = readScales(kernel, "scale", scale);
  if (!sOr)
    return sOr.takeError();
  const std::vector<float> &s = *sOr;
  std::vector<int64_t> zp = readZeroPoints(zeroPoint, scale.numElements());

  Tensor xf = toF32(x);
  const float *in = xf.data<float>();
  Tensor out(outDType, x.shape());
  dispatchInt(outDType, [&](auto tag) {
    using Q = typename decltype(tag)::type;
    Q *o = static_cast<Q *>(out.mutableRawData());
    forEachParamRow(l, [&](int64_t oi, int64_t a, int64_t base, int64_t count) {
      if (l.kind != ParamLayout::Blocked) {
        int64_t p = l.index(oi, a, 0);
        float sc = s[p];
        int64_t z = zp[p];
        for (int64_t i = 0; i < count; ++i)
          o[base + i] = static_cast<Q>(
              saturateRounded(std::nearbyint(in[base + i] / sc), z, lo, hi));
        return;
      }
      for (int64_t i = 0; i < count; ++i) {
        int64_t p = l.index(oi, a, i);
        o[base + i] = static_cast<Q>(saturateRounded(
            std::nearbyint(in[base + i] / s[p]), zp[p], lo, hi));
      }
    });
  });
  return out;
}

llvm::Expected<Tensor> qopt::kernels::dequantizeLinear(const Tensor &q,
                                                       const Tensor &scale,
                                                       const Tensor *zeroPoint,
                                                       int64_t axis,
                                                       int64_t blockSize) {
  const char *kernel = "dequantizeLinear";
  if (!isQuantStorage(q.dtype()))
    return kernelError(kernel, "input " + q.describe() +
                                   " must be i8, u8, i16, u16 or i32");
  if (zeroPoint && zeroPoint->dtype() != q.dtype())
    return kernelError(kernel, "zero point " + zeroPoint->describe() +
                                   " must have the input dtype " +
                                   dtypeName(q.dtype()));
  auto lOr = planParams(kernel, q, scale, "scale", zeroPoint, axis, blockSize,
                        /*allowBlocked=*/true);
  if (!lOr)
    return lOr.takeError();
  const ParamLayout &l = *lOr;
  auto sOr = readScales(kernel, "scale", scale);
  if (!sOr)
    return sOr.takeError();
  const std::vector<float> &s = *sOr;
  std::vector<int64_t> zp = readZeroPoints(zeroPoint, scale.numElements());

  Tensor out(DType::F32, q.shape());
  float *o = out.mutableData<float>();
  dispatchInt(q.dtype(), [&](auto tag) {
    using Q = typename decltype(tag)::type;
    const Q *in = static_cast<const Q *>(q.rawData());
    forEachParamRow(l, [&](int64_t oi, int64_t a, int64_t base, int64_t count) {
      for (int64_t i = 0; i < count; ++i) {
        int64_t p = l.index(oi, a, i);
        o[base + i] =
            static_cast<float>(static_cast<int64_t>(in[base + i]) - zp[p]) *
            s[p];
      }
    });
  });
  if (scale.dtype() != DType::F32)
    return fromF32(out, scale.dtype());
  return out;
}

//===----------------------------------------------------------------------===//
// MatMulInteger / ConvInteger
//===----------------------------------------------------------------------===//

namespace {

/// Zero point that is a scalar, or 1-D with `len` elements (`what` names
/// the per-element meaning); returns the values expanded to `len`.
llvm::Expected<std::vector<int64_t>>
readVectorZeroPoint(const char *kernel, const char *name, const Tensor *zp,
                    DType operandDType, int64_t len, const char *what) {
  std::vector<int64_t> out(static_cast<size_t>(len), 0);
  if (!zp)
    return out;
  if (zp->dtype() != operandDType)
    return kernelError(kernel, llvm::Twine(name) + " " + zp->describe() +
                                   " must have its operand's dtype " +
                                   dtypeName(operandDType));
  if (zp->numElements() == 1 && zp->rank() <= 1) {
    std::fill(out.begin(), out.end(), getInt(*zp, 0));
    return out;
  }
  if (zp->rank() != 1 || zp->dim(0) != len)
    return kernelError(kernel, llvm::Twine(name) + " " + zp->describe() +
                                   " must be a scalar or 1-D with " +
                                   llvm::Twine(len) + " elements (" + what +
                                   ")");
  for (int64_t i = 0; i < len; ++i)
    out[i] = getInt(*zp, i);
  return out;
}

/// dst[i] = src[i] - zp[(i / div) % mod] as int16, for 8-bit src.
void subtractZeroPoints(const Tensor &src, const std::vector<int64_t> &zp,
                        int64_t div, int64_t mod, int16_t *dst) {
  int64_t n = src.numElements();
  dispatchInt(src.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (sizeof(T) == 1) {
      const T *p = static_cast<const T *>(src.rawData());
      parallelFor(n, 65536, [&](int64_t begin, int64_t end) {
        if (mod == 1) { // one zero point: no index arithmetic
          int32_t z = static_cast<int32_t>(zp[0]);
          for (int64_t i = begin; i < end; ++i)
            dst[i] = static_cast<int16_t>(static_cast<int32_t>(p[i]) - z);
          return;
        }
        for (int64_t i = begin; i < end; ++i)
          dst[i] = static_cast<int16_t>(static_cast<int64_t>(p[i]) -
                                        zp[(i / div) % mod]);
      });
    }
  });
}

/// An int16 scratch buffer of `count` elements; an error (instead of an
/// abort) when the memory cannot be had.
llvm::Expected<std::shared_ptr<void>>
allocInt16(const char *kernel, int64_t count, const char *what) {
  std::shared_ptr<void> mem = allocateAlignedBuffer(
      static_cast<size_t>(count) * sizeof(int16_t), /*zeroFill=*/false);
  if (!mem)
    return kernelError(kernel, "out of memory allocating " +
                                   llvm::Twine(count) + " int16 elements for " +
                                   what);
  return mem;
}

} // namespace

llvm::Expected<Tensor> qopt::kernels::matmulInteger(const Tensor &a,
                                                    const Tensor &b,
                                                    const Tensor *aZeroPoint,
                                                    const Tensor *bZeroPoint) {
  const char *kernel = "matmulInteger";
  if (!isInt8Storage(a.dtype()) || !isInt8Storage(b.dtype()))
    return kernelError(kernel, "operands A " + a.describe() + " and B " +
                                   b.describe() + " must be u8 or i8");
  auto planOr = planMatmul(kernel, a.shape(), b.shape());
  if (!planOr)
    return planOr.takeError();
  const MatmulPlan &plan = *planOr;
  // Rows of one A matrix (the zero point index) and columns of B.
  int64_t rowsA = a.rank() == 1 ? 1 : a.dim(a.rank() - 2);
  int64_t k = plan.k, n = plan.n, m = plan.m;
  auto azp = readVectorZeroPoint(kernel, "A zero point", aZeroPoint, a.dtype(),
                                 rowsA, "one per row of A");
  if (!azp)
    return azp.takeError();
  auto bzp = readVectorZeroPoint(kernel, "B zero point", bZeroPoint, b.dtype(),
                                 n, "one per column of B");
  if (!bzp)
    return bzp.takeError();
  auto outOr = makeTensor(kernel, DType::I32, plan.outShape);
  if (!outOr)
    return outOr.takeError();
  Tensor out = std::move(*outOr);

  auto aMem = allocInt16(kernel, a.numElements(), "A");
  if (!aMem)
    return aMem.takeError();
  auto bMem = allocInt16(kernel, b.numElements(), "B");
  if (!bMem)
    return bMem.takeError();
  int16_t *ad = static_cast<int16_t *>(aMem->get());
  int16_t *bd = static_cast<int16_t *>(bMem->get());
  subtractZeroPoints(a, *azp, std::max<int64_t>(1, k), rowsA, ad);
  subtractZeroPoints(b, *bzp, 1, n, bd);

  int32_t *c = out.mutableData<int32_t>();
  std::vector<Igemm16Item> items(plan.batch);
  for (int64_t i = 0; i < plan.batch; ++i)
    items[i] = {ad + plan.aOffsets[i], bd + plan.bOffsets[i], c + i * m * n};
  igemm16(m, n, k, k, n, n, items);
  return out;
}

llvm::Expected<Tensor>
qopt::kernels::convInteger(const Tensor &x, const Tensor &w,
                           const Tensor *xZeroPoint, const Tensor *wZeroPoint,
                           const Conv2DOptions &options) {
  const char *kernel = "convInteger";
  if (!isInt8Storage(x.dtype()) || !isInt8Storage(w.dtype()))
    return kernelError(kernel, "operands X " + x.describe() + " and W " +
                                   w.describe() + " must be u8 or i8");
  auto gOr = planConv(kernel, x, w, options);
  if (!gOr)
    return gOr.takeError();
  const ConvGeometry &g = *gOr;
  if (xZeroPoint &&
      !(xZeroPoint->numElements() == 1 && xZeroPoint->rank() <= 1))
    return kernelError(kernel, "X zero point " + xZeroPoint->describe() +
                                   " must be a scalar");
  auto xzp = readVectorZeroPoint(kernel, "X zero point", xZeroPoint, x.dtype(),
                                 1, "a scalar");
  if (!xzp)
    return xzp.takeError();
  auto wzp = readVectorZeroPoint(kernel, "W zero point", wZeroPoint, w.dtype(),
                                 g.o, "one per output channel");
  if (!wzp)
    return wzp.takeError();
  auto outOr = makeTensor(kernel, DType::I32, {g.n, g.o, g.oh, g.ow});
  if (!outOr)
    return outOr.takeError();
  Tensor out = std::move(*outOr);
  int32_t *y = out.mutableData<int32_t>();

  auto xMem = allocInt16(kernel, x.numElements(), "X");
  if (!xMem)
    return xMem.takeError();
  auto wMem = allocInt16(kernel, w.numElements(), "W");
  if (!wMem)
    return wMem.takeError();
  int16_t *xd = static_cast<int16_t *>(xMem->get());
  int16_t *wd = static_cast<int16_t *>(wMem->get());
  subtractZeroPoints(x, *xzp, 1, 1, xd);
  int64_t kdim = g.cg * g.kh * g.kw;
  subtractZeroPoints(w, *wzp, kdim, g.o, wd);

  const int64_t plane = g.oh * g.ow;
  if (g.cg == 1) {
    // Depthwise: direct, with wrapping uint32 arithmetic.
    uint32_t *yu = reinterpret_cast<uint32_t *>(y);
    parallelFor(
        g.n * g.o,
        std::max<int64_t>(1, 16384 / std::max<int64_t>(1, plane * g.kh * g.kw)),
        [&](int64_t begin, int64_t end) {
          for (int64_t job = begin; job < end; ++job) {
            int64_t img = job / g.o, oc = job % g.o;
            int64_t ic = oc / g.og;
            std::fill(yu + job * plane, yu + (job + 1) * plane, 0u);
            directPlane<int16_t, uint32_t>(g, xd + (img * g.c + ic) * g.h * g.w,
                                           wd + oc * g.kh * g.kw,
                                           yu + job * plane);
          }
        });
    return out;
  }

  const bool pointwise = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 &&
                         g.pt == 0 && g.pl == 0 && g.pb == 0 && g.pr == 0;
  std::shared_ptr<void> colMem;
  int16_t *col = nullptr;
  if (!pointwise) {
    auto mem = allocInt16(kernel, g.group * kdim * plane, "the im2col matrix");
    if (!mem)
      return mem.takeError();
    colMem = std::move(*mem);
    col = static_cast<int16_t *>(colMem.get());
  }
  for (int64_t img = 0; img < g.n; ++img) {
    const int16_t *ximg = xd + img * g.c * g.h * g.w;
    if (!pointwise) {
      int64_t rows = g.group * kdim;
      parallelFor(rows,
                  std::max<int64_t>(1, 16384 / std::max<int64_t>(1, plane)),
                  [&](int64_t begin, int64_t end) {
                    while (begin < end) {
                      int64_t grp = begin / kdim, r0 = begin % kdim;
                      int64_t r1 = std::min(kdim, r0 + (end - begin));
                      im2colRows<int16_t>(g, ximg + grp * g.cg * g.h * g.w,
                                          col + grp * kdim * plane, r0, r1);
                      begin += r1 - r0;
                    }
                  });
    }
    std::vector<Igemm16Item> items;
    for (int64_t grp = 0; grp < g.group; ++grp) {
      const int16_t *bm =
          pointwise ? ximg + grp * g.cg * plane : col + grp * kdim * plane;
      items.push_back(
          {wd + grp * g.og * kdim, bm, y + (img * g.o + grp * g.og) * plane});
    }
    igemm16(g.og, plane, kdim, kdim, plane, plane, items);
  }
  return out;
}

//===----------------------------------------------------------------------===//
// Requantize / DynamicQuantizeLinear
//===----------------------------------------------------------------------===//

llvm::Expected<Tensor> qopt::kernels::requantize(const Tensor &acc,
                                                 const Tensor &multiplier,
                                                 const Tensor *outZeroPoint,
                                                 int64_t axis, DType outDType,
                                                 std::optional<int64_t> qmin,
                                                 std::optional<int64_t> qmax) {
  const char *kernel = "requantize";
  if (acc.dtype() != DType::I32)
    return kernelError(kernel,
                       "accumulator " + acc.describe() + " must be i32");
  if (multiplier.dtype() != DType::F32)
    return kernelError(kernel,
                       "multiplier " + multiplier.describe() + " must be f32");
  int64_t lo, hi;
  if (auto err =
          checkQuantOutput(kernel, outDType, outZeroPoint, qmin, qmax, lo, hi))
    return std::move(err);
  auto lOr = planParams(kernel, acc, multiplier, "multiplier", outZeroPoint,
                        axis, 0, /*allowBlocked=*/false);
  if (!lOr)
    return lOr.takeError();
  const ParamLayout &l = *lOr;
  auto mOr = readScales(kernel, "multiplier", multiplier);
  if (!mOr)
    return mOr.takeError();
  const std::vector<float> &mult = *mOr;
  std::vector<int64_t> zp =
      readZeroPoints(outZeroPoint, multiplier.numElements());

  const int32_t *in = acc.data<int32_t>();
  Tensor out(outDType, acc.shape());
  dispatchInt(outDType, [&](auto tag) {
    using Q = typename decltype(tag)::type;
    Q *o = static_cast<Q *>(out.mutableRawData());
    forEachParamRow(l, [&](int64_t oi, int64_t a, int64_t base, int64_t count) {
      int64_t p = l.index(oi, a, 0);
      float m = mult[p];
      int64_t z = zp[p];
      for (int64_t i = 0; i < count; ++i) {
        float v = static_cast<float>(in[base + i]) * m;
        o[base + i] =
            static_cast<Q>(saturateRounded(std::nearbyint(v), z, lo, hi));
      }
    });
  });
  return out;
}

llvm::Expected<DynamicQuantized>
qopt::kernels::dynamicQuantizeLinear(const Tensor &x) {
  const char *kernel = "dynamicQuantizeLinear";
  if (x.dtype() != DType::F32)
    return kernelError(kernel, "input " + x.describe() + " must be f32");
  const float *p = x.data<float>();
  int64_t n = x.numElements();
  float lo = 0.0f, hi = 0.0f; // the range always includes 0
  for (int64_t i = 0; i < n; ++i) {
    float v = p[i];
    if (!std::isfinite(v))
      return kernelError(kernel, "input " + x.describe() + " element " +
                                     llvm::Twine(i) + " is not finite");
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
  }
  float scale = (hi == lo ? 1.0f : hi - lo) / 255.0f;
  // Ranges beyond the f32 range, or so narrow that the scale underflows to
  // 0, have no usable scale.
  if (!std::isfinite(scale) || scale == 0.0f)
    return kernelError(kernel, "the range [" + formatFloat(lo) + ", " +
                                   formatFloat(hi) + "] of input " +
                                   x.describe() + " gives the unusable scale " +
                                   formatFloat(scale));
  float zpf = 0.0f - lo / scale;
  zpf = std::min(255.0f, std::max(0.0f, zpf));
  uint8_t zp = static_cast<uint8_t>(std::nearbyint(zpf));

  DynamicQuantized r;
  r.scale = Tensor(DType::F32, {});
  r.scale.mutableData<float>()[0] = scale;
  r.zeroPoint = Tensor(DType::U8, {});
  r.zeroPoint.mutableData<uint8_t>()[0] = zp;
  auto y = quantizeLinear(x, r.scale, &r.zeroPoint, 1, 0, DType::U8);
  if (!y)
    return y.takeError();
  r.y = std::move(*y);
  return r;
}

llvm::Expected<DynamicQuantized>
qopt::kernels::dynamicQuantizePerToken(const Tensor &x) {
  const char *kernel = "dynamicQuantizePerToken";
  if (x.dtype() != DType::F32 || x.rank() < 1)
    return kernelError(kernel, "input " + x.describe() +
                                   " must be f32 with rank >= 1");
  int64_t k = x.dim(x.rank() - 1);
  int64_t rows = 1;
  for (int64_t d = 0; d + 1 < x.rank(); ++d)
    rows *= x.dim(d);
  std::vector<int64_t> pshape = x.shape();
  pshape.back() = 1;
  DynamicQuantized r;
  r.scale = Tensor(DType::F32, pshape);
  r.zeroPoint = Tensor(DType::I8, pshape); // zero-filled
  r.y = Tensor(DType::I8, x.shape());
  const float *p = x.data<float>();
  float *sc = r.scale.mutableData<float>();
  int8_t *y = r.y.mutableData<int8_t>();
  for (int64_t row = 0; row < rows; ++row) {
    const float *in = p + row * k;
    float m = 0.0f;
    for (int64_t j = 0; j < k; ++j) {
      if (!std::isfinite(in[j]))
        return kernelError(kernel, "input " + x.describe() + " element " +
                                       llvm::Twine(row * k + j) +
                                       " is not finite");
      m = std::max(m, std::fabs(in[j]));
    }
    float s = m > 0.0f ? m / 127.0f : 1.0f; // also for an empty row
    if (s == 0.0f) // subnormal range: the scale underflows
      s = 1.0f;
    sc[row] = s;
    for (int64_t j = 0; j < k; ++j) {
      float q = std::nearbyint(in[j] / s);
      y[row * k + j] =
          static_cast<int8_t>(std::min(127.0f, std::max(-127.0f, q)));
    }
  }
  return r;
}
