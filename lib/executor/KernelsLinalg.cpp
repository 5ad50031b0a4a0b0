//===- KernelsLinalg.cpp - Matmul, Gemm, convolution and pooling ----------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Float linear algebra on top of the blocked GEMM core (KernelsGemm.cpp):
// numpy matmul with batch broadcasting, ONNX Gemm, ONNX Conv (im2col + GEMM,
// or direct for depthwise), and 2-D max/average pooling.
//
//===----------------------------------------------------------------------===//

#include "KernelsInternal.h"

#include <cmath>
#include <limits>

using namespace qopt;
using namespace qopt::kernels;
using namespace qopt::kernels::detail;

//===----------------------------------------------------------------------===//
// Shape planning
//===----------------------------------------------------------------------===//

llvm::Expected<MatmulPlan> detail::planMatmul(const char *kernel,
                                              llvm::ArrayRef<int64_t> aShape,
                                              llvm::ArrayRef<int64_t> bShape) {
  if (aShape.empty() || bShape.empty())
    return kernelError(kernel, "operands must have rank >= 1, got A " +
                                   shapeString(aShape) + " and B " +
                                   shapeString(bShape));
  std::vector<int64_t> a(aShape.begin(), aShape.end());
  std::vector<int64_t> b(bShape.begin(), bShape.end());
  bool aVec = a.size() == 1, bVec = b.size() == 1;
  if (aVec)
    a.insert(a.begin(), 1);
  if (bVec)
    b.push_back(1);
  MatmulPlan plan;
  plan.m = a[a.size() - 2];
  plan.k = a.back();
  plan.n = b.back();
  if (b[b.size() - 2] != plan.k)
    return kernelError(kernel, "inner dimensions differ: A " +
                                   shapeString(aShape) +
                                   " has K = " + llvm::Twine(plan.k) + ", B " +
                                   shapeString(bShape) +
                                   " has K = " + llvm::Twine(b[b.size() - 2]));
  llvm::ArrayRef<int64_t> batchA(a.data(), a.size() - 2);
  llvm::ArrayRef<int64_t> batchB(b.data(), b.size() - 2);
  auto batch = broadcastShapes(batchA, batchB);
  if (!batch) {
    llvm::consumeError(batch.takeError());
    return kernelError(kernel, "batch dimensions of A " + shapeString(aShape) +
                                   " and B " + shapeString(bShape) +
                                   " do not broadcast");
  }
  plan.outShape = *batch;
  if (!aVec)
    plan.outShape.push_back(plan.m);
  if (!bVec)
    plan.outShape.push_back(plan.n);
  if (!checkedNumElements(plan.outShape))
    return kernelError(kernel, "result shape " + shapeString(plan.outShape) +
                                   " is too large");
  int64_t batchCount = product(*batch);
  if (product(batchB) == 1) {
    // One B for all: fold the batch into the rows of A.
    plan.m *= batchCount;
    plan.batch = 1;
    plan.aOffsets = {0};
    plan.bOffsets = {0};
    return plan;
  }
  plan.batch = batchCount;
  size_t rank = batch->size();
  std::vector<int64_t> strideA(rank, 0), strideB(rank, 0);
  int64_t sa = plan.m * plan.k, sb = plan.k * plan.n;
  for (size_t i = rank; i-- > 0;) {
    size_t ia = i + batchA.size(), ib = i + batchB.size();
    if (ia >= rank) {
      int64_t d = batchA[ia - rank];
      strideA[i] = d == 1 ? 0 : sa;
      sa *= d;
    }
    if (ib >= rank) {
      int64_t d = batchB[ib - rank];
      strideB[i] = d == 1 ? 0 : sb;
      sb *= d;
    }
  }
  plan.aOffsets.resize(batchCount);
  plan.bOffsets.resize(batchCount);
  for (int64_t bi = 0; bi < batchCount; ++bi) {
    int64_t rem = bi, oa = 0, ob = 0;
    for (size_t i = rank; i-- > 0;) {
      int64_t idx = rem % (*batch)[i];
      rem /= (*batch)[i];
      oa += idx * strideA[i];
      ob += idx * strideB[i];
    }
    plan.aOffsets[bi] = oa;
    plan.bOffsets[bi] = ob;
  }
  return plan;
}

llvm::Expected<ConvGeometry> detail::planConv(const char *kernel,
                                              const Tensor &x, const Tensor &w,
                                              const Conv2DOptions &o) {
  if (x.rank() != 4)
    return kernelError(kernel, "input X " + x.describe() +
                                   " must have rank 4 [N, C, H, W]");
  if (w.rank() != 4)
    return kernelError(kernel, "weights W " + w.describe() +
                                   " must have rank 4 [O, C/group, kh, kw]");
  ConvGeometry g;
  g.n = x.dim(0);
  g.c = x.dim(1);
  g.h = x.dim(2);
  g.w = x.dim(3);
  g.o = w.dim(0);
  g.kh = w.dim(2);
  g.kw = w.dim(3);
  g.group = o.group;
  g.sh = o.strides[0];
  g.sw = o.strides[1];
  g.pt = o.pads[0];
  g.pl = o.pads[1];
  g.pb = o.pads[2];
  g.pr = o.pads[3];
  g.dh = o.dilations[0];
  g.dw = o.dilations[1];
  if (g.group < 1)
    return kernelError(kernel,
                       "group " + llvm::Twine(g.group) + " must be >= 1");
  if (g.sh < 1 || g.sw < 1 || g.dh < 1 || g.dw < 1)
    return kernelError(kernel, "strides and dilations must be >= 1");
  if (g.pt < 0 || g.pl < 0 || g.pb < 0 || g.pr < 0)
    return kernelError(kernel, "pads must be >= 0");
  if (g.c % g.group != 0 || g.o % g.group != 0)
    return kernelError(
        kernel, "input channels (" + llvm::Twine(g.c) +
                    ") and output channels (" + llvm::Twine(g.o) +
                    ") must be divisible by group " + llvm::Twine(g.group));
  g.cg = g.c / g.group;
  g.og = g.o / g.group;
  if (w.dim(1) != g.cg)
    return kernelError(
        kernel, "weights W " + w.describe() + " must have " +
                    llvm::Twine(g.cg) + " input channels per group (X " +
                    x.describe() + ", group " + llvm::Twine(g.group) + ")");
  if (g.kh < 1 || g.kw < 1)
    return kernelError(kernel, "kernel " + w.describe() + " is empty");
  int64_t effH = g.dh * (g.kh - 1) + 1, effW = g.dw * (g.kw - 1) + 1;
  int64_t padH = g.h + g.pt + g.pb, padW = g.w + g.pl + g.pr;
  if (padH < effH || padW < effW)
    return kernelError(kernel, "dilated kernel " + llvm::Twine(effH) + "x" +
                                   llvm::Twine(effW) +
                                   " is larger than the padded input " +
                                   llvm::Twine(padH) + "x" + llvm::Twine(padW));
  g.oh = (padH - effH) / g.sh + 1;
  g.ow = (padW - effW) / g.sw + 1;
  return g;
}

//===----------------------------------------------------------------------===//
// Matmul and Gemm
//===----------------------------------------------------------------------===//

namespace {

bool isFloatDType(DType d) { return isFloat(d); }

/// Plain double GEMM: C = A x B with strides, parallel over rows.
void dgemm(int64_t m, int64_t n, int64_t k, const double *a, int64_t rsA,
           int64_t csA, const double *b, int64_t rsB, int64_t csB, double *c,
           int64_t ldc) {
  parallelFor(m, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, n * k)),
              [&](int64_t begin, int64_t end) {
                for (int64_t i = begin; i < end; ++i) {
                  double *cr = c + i * ldc;
                  std::fill(cr, cr + n, 0.0);
                  for (int64_t kk = 0; kk < k; ++kk) {
                    double av = a[i * rsA + kk * csA];
                    const double *br = b + kk * rsB;
                    if (csB == 1) {
                      for (int64_t j = 0; j < n; ++j)
                        cr[j] += av * br[j];
                    } else {
                      for (int64_t j = 0; j < n; ++j)
                        cr[j] += av * br[j * csB];
                    }
                  }
                }
              });
}

} // namespace

llvm::Expected<Tensor> qopt::kernels::matmul(const Tensor &a, const Tensor &b) {
  const char *kernel = "matmul";
  if (auto err = expectDType(kernel, "A", a, isFloatDType, "a float dtype"))
    return std::move(err);
  if (a.dtype() != b.dtype())
    return kernelError(kernel, "operand dtypes differ: A " + a.describe() +
                                   ", B " + b.describe());
  auto planOr = planMatmul(kernel, a.shape(), b.shape());
  if (!planOr)
    return planOr.takeError();
  const MatmulPlan &plan = *planOr;

  if (a.dtype() == DType::F16 || a.dtype() == DType::BF16) {
    auto r = matmul(toF32(a), toF32(b));
    if (!r)
      return r.takeError();
    return fromF32(*r, a.dtype());
  }
  auto outOr = makeTensor(kernel, a.dtype(), plan.outShape);
  if (!outOr)
    return outOr.takeError();
  Tensor out = std::move(*outOr);
  int64_t m = plan.m, n = plan.n, k = plan.k;
  if (a.dtype() == DType::F32) {
    const float *pa = a.data<float>();
    const float *pb = b.data<float>();
    float *pc = out.mutableData<float>();
    std::vector<SgemmItem> items(plan.batch);
    for (int64_t i = 0; i < plan.batch; ++i)
      items[i] = {pa + plan.aOffsets[i], pb + plan.bOffsets[i], pc + i * m * n};
    sgemm(m, n, k, k, 1, n, 1, n, items);
    return out;
  }
  const double *pa = a.data<double>();
  const double *pb = b.data<double>();
  double *pc = out.mutableData<double>();
  for (int64_t i = 0; i < plan.batch; ++i)
    dgemm(m, n, k, pa + plan.aOffsets[i], k, 1, pb + plan.bOffsets[i], n, 1,
          pc + i * m * n, n);
  return out;
}

llvm::Expected<Tensor> qopt::kernels::gemm(const Tensor &a, const Tensor &b,
                                           const Tensor *c, float alpha,
                                           float beta, bool transA,
                                           bool transB) {
  const char *kernel = "gemm";
  if (auto err = expectDType(kernel, "A", a, isFloatDType, "a float dtype"))
    return std::move(err);
  if (a.dtype() != b.dtype() || (c && c->dtype() != a.dtype()))
    return kernelError(kernel, "operand dtypes differ: A " + a.describe() +
                                   ", B " + b.describe() +
                                   (c ? ", C " + c->describe() : ""));
  if (a.rank() != 2 || b.rank() != 2)
    return kernelError(kernel, "A " + a.describe() + " and B " + b.describe() +
                                   " must be 2-D");
  int64_t m = transA ? a.dim(1) : a.dim(0);
  int64_t k = transA ? a.dim(0) : a.dim(1);
  int64_t kb = transB ? b.dim(1) : b.dim(0);
  int64_t n = transB ? b.dim(0) : b.dim(1);
  if (k != kb)
    return kernelError(kernel, "inner dimensions differ: A " + a.describe() +
                                   (transA ? " (transposed)" : "") + ", B " +
                                   b.describe() +
                                   (transB ? " (transposed)" : ""));
  // C is unidirectionally broadcast to [M, N].
  int64_t cRowStride = 0, cColStride = 0;
  if (c) {
    if (c->rank() > 2)
      return kernelError(kernel, "C " + c->describe() + " must have rank <= 2");
    int64_t cm = c->rank() == 2 ? c->dim(0) : 1;
    int64_t cn = c->rank() >= 1 ? c->dim(c->rank() - 1) : 1;
    if ((cm != 1 && cm != m) || (cn != 1 && cn != n))
      return kernelError(kernel,
                         "C " + c->describe() + " cannot be broadcast to [" +
                             llvm::Twine(m) + "x" + llvm::Twine(n) + "]");
    cColStride = cn == 1 ? 0 : 1;
    cRowStride = cm == 1 ? 0 : cn;
  }
  if (a.dtype() == DType::F16 || a.dtype() == DType::BF16) {
    std::optional<Tensor> c32;
    if (c)
      c32 = toF32(*c);
    auto r = gemm(toF32(a), toF32(b), c32 ? &*c32 : nullptr, alpha, beta,
                  transA, transB);
    if (!r)
      return r.takeError();
    return fromF32(*r, a.dtype());
  }
  auto outOr = makeTensor(kernel, a.dtype(), {m, n});
  if (!outOr)
    return outOr.takeError();
  Tensor out = std::move(*outOr);
  int64_t rsA = transA ? 1 : a.dim(1), csA = transA ? a.dim(1) : 1;
  int64_t rsB = transB ? 1 : b.dim(1), csB = transB ? b.dim(1) : 1;

  auto epilogue = [&](auto *y, const auto *cp, auto al, auto be) {
    parallelFor(m, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, n)),
                [&](int64_t begin, int64_t end) {
                  for (int64_t i = begin; i < end; ++i)
                    for (int64_t j = 0; j < n; ++j) {
                      auto v = y[i * n + j];
                      if (al != 1)
                        v = al * v;
                      if (cp)
                        v = v + be * cp[i * cRowStride + j * cColStride];
                      y[i * n + j] = v;
                    }
                });
  };
  if (a.dtype() == DType::F32) {
    float *y = out.mutableData<float>();
    SgemmItem item{a.data<float>(), b.data<float>(), y};
    sgemm(m, n, k, rsA, csA, rsB, csB, n, item);
    epilogue(y, c ? c->data<float>() : nullptr, alpha, beta);
    return out;
  }
  double *y = out.mutableData<double>();
  dgemm(m, n, k, a.data<double>(), rsA, csA, b.data<double>(), rsB, csB, y, n);
  epilogue(y, c ? c->data<double>() : nullptr, static_cast<double>(alpha),
           static_cast<double>(beta));
  return out;
}

//===----------------------------------------------------------------------===//
// Convolution
//===----------------------------------------------------------------------===//

namespace {

/// Upper bound on the im2col buffer; images are processed in chunks that fit.
constexpr int64_t kIm2colBudget = int64_t(64) << 20; // elements

template <typename T>
void convDirect(const ConvGeometry &g, const T *x, const T *w, const T *bias,
                T *y) {
  int64_t plane = g.oh * g.ow;
  parallelFor(
      g.n * g.o,
      std::max<int64_t>(1, 16384 / std::max<int64_t>(1, plane * g.kh * g.kw)),
      [&](int64_t begin, int64_t end) {
        for (int64_t job = begin; job < end; ++job) {
          int64_t img = job / g.o, oc = job % g.o;
          int64_t ic = oc / g.og; // cg == 1: one input channel
          T *out = y + job * plane;
          std::fill(out, out + plane, bias ? bias[oc] : T(0));
          directPlane<T, T>(g, x + (img * g.c + ic) * g.h * g.w,
                            w + oc * g.kh * g.kw, out);
        }
      });
}

/// im2col + GEMM for float and double.
template <typename T>
void convIm2col(const ConvGeometry &g, const T *x, const T *w, const T *bias,
                T *y) {
  const int64_t plane = g.oh * g.ow;
  const int64_t kdim = g.cg * g.kh * g.kw;
  const bool pointwise = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 &&
                         g.pt == 0 && g.pl == 0 && g.pb == 0 && g.pr == 0;
  const int64_t colPerImage = pointwise ? 0 : g.group * kdim * plane;
  // colPerImage is 0 for pointwise convolutions and for inputs without
  // channels (then the GEMMs have K = 0 and just zero the output).
  const int64_t chunk =
      colPerImage == 0
          ? g.n
          : std::max<int64_t>(
                1, std::min<int64_t>(g.n, kIm2colBudget / colPerImage));
  std::vector<T> col(static_cast<size_t>(colPerImage * chunk));

  for (int64_t n0 = 0; n0 < g.n; n0 += chunk) {
    int64_t nc = std::min(chunk, g.n - n0);
    if (!pointwise) {
      int64_t rowsPerImage = g.group * kdim;
      parallelFor(nc * rowsPerImage,
                  std::max<int64_t>(1, 16384 / std::max<int64_t>(1, plane)),
                  [&](int64_t begin, int64_t end) {
                    while (begin < end) {
                      int64_t img = begin / rowsPerImage;
                      int64_t grp = (begin % rowsPerImage) / kdim;
                      int64_t r0 = begin % kdim;
                      int64_t r1 = std::min(kdim, r0 + (end - begin));
                      const T *src =
                          x + ((n0 + img) * g.c + grp * g.cg) * g.h * g.w;
                      T *dst =
                          col.data() + (img * g.group + grp) * kdim * plane;
                      im2colRows(g, src, dst, r0, r1);
                      begin += r1 - r0;
                    }
                  });
    }
    if constexpr (std::is_same_v<T, float>) {
      std::vector<SgemmItem> items;
      items.reserve(nc * g.group);
      for (int64_t img = 0; img < nc; ++img)
        for (int64_t grp = 0; grp < g.group; ++grp) {
          const float *bm =
              pointwise ? x + ((n0 + img) * g.c + grp * g.cg) * plane
                        : col.data() + (img * g.group + grp) * kdim * plane;
          items.push_back({w + grp * g.og * kdim, bm,
                           y + ((n0 + img) * g.o + grp * g.og) * plane});
        }
      sgemm(g.og, plane, kdim, kdim, 1, plane, 1, plane, items);
    } else {
      for (int64_t img = 0; img < nc; ++img)
        for (int64_t grp = 0; grp < g.group; ++grp) {
          const T *bm = pointwise
                            ? x + ((n0 + img) * g.c + grp * g.cg) * plane
                            : col.data() + (img * g.group + grp) * kdim * plane;
          dgemm(g.og, plane, kdim, w + grp * g.og * kdim, kdim, 1, bm, plane, 1,
                y + ((n0 + img) * g.o + grp * g.og) * plane, plane);
        }
    }
  }
  if (bias) {
    parallelFor(g.n * g.o,
                std::max<int64_t>(1, 32768 / std::max<int64_t>(1, plane)),
                [&](int64_t begin, int64_t end) {
                  for (int64_t job = begin; job < end; ++job) {
                    T bv = bias[job % g.o];
                    T *out = y + job * plane;
                    for (int64_t i = 0; i < plane; ++i)
                      out[i] += bv;
                  }
                });
  }
}

} // namespace

llvm::Expected<Tensor> qopt::kernels::conv2d(const Tensor &x, const Tensor &w,
                                             const Tensor *bias,
                                             const Conv2DOptions &options) {
  const char *kernel = "conv2d";
  if (auto err = expectDType(kernel, "X", x, isFloatDType, "a float dtype"))
    return std::move(err);
  if (w.dtype() != x.dtype() || (bias && bias->dtype() != x.dtype()))
    return kernelError(kernel, "operand dtypes differ: X " + x.describe() +
                                   ", W " + w.describe() +
                                   (bias ? ", B " + bias->describe() : ""));
  auto gOr = planConv(kernel, x, w, options);
  if (!gOr)
    return gOr.takeError();
  const ConvGeometry &g = *gOr;
  if (bias && (bias->rank() != 1 || bias->dim(0) != g.o))
    return kernelError(kernel, "bias " + bias->describe() + " must be [" +
                                   llvm::Twine(g.o) + "]");
  if (x.dtype() == DType::F16 || x.dtype() == DType::BF16) {
    std::optional<Tensor> b32;
    if (bias)
      b32 = toF32(*bias);
    auto r = conv2d(toF32(x), toF32(w), b32 ? &*b32 : nullptr, options);
    if (!r)
      return r.takeError();
    return fromF32(*r, x.dtype());
  }
  auto outOr = makeTensor(kernel, x.dtype(), {g.n, g.o, g.oh, g.ow});
  if (!outOr)
    return outOr.takeError();
  Tensor out = std::move(*outOr);
  auto run = [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *b = bias ? bias->data<T>() : nullptr;
    if (g.cg == 1)
      convDirect<T>(g, x.data<T>(), w.data<T>(), b, out.mutableData<T>());
    else
      convIm2col<T>(g, x.data<T>(), w.data<T>(), b, out.mutableData<T>());
  };
  if (x.dtype() == DType::F32)
    run(Tag<float>{});
  else
    run(Tag<double>{});
  return out;
}

//===----------------------------------------------------------------------===//
// Pooling
//===----------------------------------------------------------------------===//

namespace {

struct PoolGeometry {
  int64_t n, c, h, w, oh, ow;
  int64_t kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
};

int64_t poolOutSize(int64_t in, int64_t padBegin, int64_t padEnd, int64_t eff,
                    int64_t stride, bool ceilMode) {
  int64_t span = in + padBegin + padEnd - eff;
  int64_t out = (ceilMode ? ceilDiv(span, stride) : floorDiv(span, stride)) + 1;
  // A last window starting beyond the input and the leading pad is dropped.
  if (ceilMode && (out - 1) * stride >= in + padBegin)
    --out;
  return out;
}

llvm::Expected<PoolGeometry> planPool(const char *kernel, const Tensor &x,
                                      const Pool2DOptions &o) {
  if (x.rank() != 4)
    return kernelError(kernel, "input X " + x.describe() +
                                   " must have rank 4 [N, C, H, W]");
  PoolGeometry g{x.dim(0),      x.dim(1),    x.dim(2),
                 x.dim(3),      0,           0,
                 o.kernel[0],   o.kernel[1], o.strides[0],
                 o.strides[1],  o.pads[0],   o.pads[1],
                 o.pads[2],     o.pads[3],   o.dilations[0],
                 o.dilations[1]};
  if (g.kh < 1 || g.kw < 1 || g.sh < 1 || g.sw < 1 || g.dh < 1 || g.dw < 1)
    return kernelError(kernel, "kernel, strides and dilations must be >= 1");
  int64_t effH = g.dh * (g.kh - 1) + 1, effW = g.dw * (g.kw - 1) + 1;
  if (g.pt < 0 || g.pl < 0 || g.pb < 0 || g.pr < 0 || g.pt >= effH ||
      g.pb >= effH || g.pl >= effW || g.pr >= effW)
    return kernelError(kernel, "pads must be >= 0 and smaller than the "
                               "dilated kernel extent " +
                                   llvm::Twine(effH) + "x" + llvm::Twine(effW));
  if (g.h + g.pt + g.pb < effH || g.w + g.pl + g.pr < effW)
    return kernelError(kernel, "dilated kernel " + llvm::Twine(effH) + "x" +
                                   llvm::Twine(effW) +
                                   " is larger than the padded input of X " +
                                   x.describe());
  g.oh = poolOutSize(g.h, g.pt, g.pb, effH, g.sh, o.ceilMode);
  g.ow = poolOutSize(g.w, g.pl, g.pr, effW, g.sw, o.ceilMode);
  // With dilations a window can straddle the whole input without a tap
  // inside it (e.g. H = 1, kernel 2, dilation 3, pads 2): reject that rather
  // than return -inf (max) or 0 / 0 (average).
  auto windowMissesInput = [](int64_t out, int64_t in, int64_t pad,
                              int64_t stride, int64_t kernel, int64_t dil) {
    for (int64_t i = 0; i < out; ++i) {
      int64_t start = i * stride - pad;
      int64_t first = std::max<int64_t>(0, ceilDiv(-start, dil));
      int64_t last =
          std::min<int64_t>(kernel - 1, floorDiv(in - 1 - start, dil));
      if (last < first)
        return true;
    }
    return false;
  };
  if (windowMissesInput(g.oh, g.h, g.pt, g.sh, g.kh, g.dh) ||
      windowMissesInput(g.ow, g.w, g.pl, g.sw, g.kw, g.dw))
    return kernelError(kernel, "a pooling window of X " + x.describe() +
                                   " lies entirely in the padding (kernel " +
                                   llvm::Twine(g.kh) + "x" + llvm::Twine(g.kw) +
                                   ", dilations " + llvm::Twine(g.dh) + "x" +
                                   llvm::Twine(g.dw) + ")");
  return g;
}

template <typename T>
void maxPoolImpl(const PoolGeometry &g, const T *x, T *y) {
  int64_t inPlane = g.h * g.w, outPlane = g.oh * g.ow;
  parallelFor(
      g.n * g.c,
      std::max<int64_t>(1, 8192 / std::max<int64_t>(1, outPlane * g.kh * g.kw)),
      [&](int64_t begin, int64_t end) {
        for (int64_t p = begin; p < end; ++p) {
          const T *in = x + p * inPlane;
          T *out = y + p * outPlane;
          for (int64_t oy = 0; oy < g.oh; ++oy)
            for (int64_t ox = 0; ox < g.ow; ++ox) {
              T m = std::numeric_limits<T>::lowest();
              if constexpr (std::is_floating_point_v<T>)
                m = -std::numeric_limits<T>::infinity();
              for (int64_t ki = 0; ki < g.kh; ++ki) {
                int64_t iy = oy * g.sh - g.pt + ki * g.dh;
                if (iy < 0 || iy >= g.h)
                  continue;
                for (int64_t kj = 0; kj < g.kw; ++kj) {
                  int64_t ix = ox * g.sw - g.pl + kj * g.dw;
                  if (ix < 0 || ix >= g.w)
                    continue;
                  T v = in[iy * g.w + ix];
                  // NaN wins and stays.
                  if (v > m || v != v)
                    m = v;
                }
              }
              out[oy * g.ow + ox] = m;
            }
        }
      });
}

/// Number of taps k in [0, kernel) with start + k * dil in [lo, hi).
int64_t tapsInRange(int64_t start, int64_t kernel, int64_t dil, int64_t lo,
                    int64_t hi) {
  int64_t first = std::max<int64_t>(0, ceilDiv(lo - start, dil));
  int64_t last = std::min<int64_t>(kernel - 1, floorDiv(hi - 1 - start, dil));
  return last >= first ? last - first + 1 : 0;
}

template <typename T>
void avgPoolImpl(const PoolGeometry &g, bool countIncludePad, const T *x,
                 T *y) {
  int64_t inPlane = g.h * g.w, outPlane = g.oh * g.ow;
  parallelFor(
      g.n * g.c,
      std::max<int64_t>(1, 8192 / std::max<int64_t>(1, outPlane * g.kh * g.kw)),
      [&](int64_t begin, int64_t end) {
        for (int64_t p = begin; p < end; ++p) {
          const T *in = x + p * inPlane;
          T *out = y + p * outPlane;
          for (int64_t oy = 0; oy < g.oh; ++oy) {
            int64_t y0 = oy * g.sh - g.pt;
            int64_t cy = countIncludePad
                             ? tapsInRange(y0, g.kh, g.dh, -g.pt, g.h + g.pb)
                             : tapsInRange(y0, g.kh, g.dh, 0, g.h);
            for (int64_t ox = 0; ox < g.ow; ++ox) {
              int64_t x0 = ox * g.sw - g.pl;
              int64_t cx = countIncludePad
                               ? tapsInRange(x0, g.kw, g.dw, -g.pl, g.w + g.pr)
                               : tapsInRange(x0, g.kw, g.dw, 0, g.w);
              double sum = 0.0;
              for (int64_t ki = 0; ki < g.kh; ++ki) {
                int64_t iy = y0 + ki * g.dh;
                if (iy < 0 || iy >= g.h)
                  continue;
                for (int64_t kj = 0; kj < g.kw; ++kj) {
                  int64_t ix = x0 + kj * g.dw;
                  if (ix < 0 || ix >= g.w)
                    continue;
                  sum += static_cast<double>(in[iy * g.w + ix]);
                }
              }
              out[oy * g.ow + ox] =
                  static_cast<T>(sum / static_cast<double>(cy * cx));
            }
          }
        }
      });
}

} // namespace

llvm::Expected<Tensor> qopt::kernels::maxPool2d(const Tensor &x,
                                                const Pool2DOptions &options) {
  const char *kernel = "maxPool2d";
  if (x.dtype() == DType::Bool)
    return kernelError(kernel, "input X " + x.describe() +
                                   " must have a numeric dtype");
  auto gOr = planPool(kernel, x, options);
  if (!gOr)
    return gOr.takeError();
  const PoolGeometry &g = *gOr;
  if (x.dtype() == DType::F16 || x.dtype() == DType::BF16) {
    auto r = maxPool2d(toF32(x), options);
    if (!r)
      return r.takeError();
    return fromF32(*r, x.dtype());
  }
  auto outOr = makeTensor(kernel, x.dtype(), {g.n, g.c, g.oh, g.ow});
  if (!outOr)
    return outOr.takeError();
  Tensor out = std::move(*outOr);
  auto run = [&](auto tag) {
    using T = typename decltype(tag)::type;
    maxPoolImpl<T>(g, static_cast<const T *>(x.rawData()),
                   static_cast<T *>(out.mutableRawData()));
  };
  if (x.dtype() == DType::F32)
    run(Tag<float>{});
  else if (x.dtype() == DType::F64)
    run(Tag<double>{});
  else
    dispatchInt(x.dtype(), run);
  return out;
}

llvm::Expected<Tensor> qopt::kernels::avgPool2d(const Tensor &x,
                                                const Pool2DOptions &options) {
  const char *kernel = "avgPool2d";
  if (auto err = expectDType(kernel, "X", x, isFloatDType, "a float dtype"))
    return std::move(err);
  auto gOr = planPool(kernel, x, options);
  if (!gOr)
    return gOr.takeError();
  const PoolGeometry &g = *gOr;
  if (x.dtype() == DType::F16 || x.dtype() == DType::BF16) {
    auto r = avgPool2d(toF32(x), options);
    if (!r)
      return r.takeError();
    return fromF32(*r, x.dtype());
  }
  auto outOr = makeTensor(kernel, x.dtype(), {g.n, g.c, g.oh, g.ow});
  if (!outOr)
    return outOr.takeError();
  Tensor out = std::move(*outOr);
  if (x.dtype() == DType::F32)
    avgPoolImpl<float>(g, options.countIncludePad, x.data<float>(),
                       out.mutableData<float>());
  else
    avgPoolImpl<double>(g, options.countIncludePad, x.data<double>(),
                        out.mutableData<double>());
  return out;
}

llvm::Expected<Tensor> qopt::kernels::globalAvgPool(const Tensor &x) {
  const char *kernel = "globalAvgPool";
  if (auto err = expectDType(kernel, "X", x, isFloatDType, "a float dtype"))
    return std::move(err);
  if (x.rank() < 3)
    return kernelError(kernel, "input X " + x.describe() +
                                   " must have rank >= 3 [N, C, d1, ...]");
  if (x.dtype() == DType::F16 || x.dtype() == DType::BF16) {
    auto r = globalAvgPool(toF32(x));
    if (!r)
      return r.takeError();
    return fromF32(*r, x.dtype());
  }
  std::vector<int64_t> shape(x.rank(), 1);
  shape[0] = x.dim(0);
  shape[1] = x.dim(1);
  auto outOr = makeTensor(kernel, x.dtype(), shape);
  if (!outOr)
    return outOr.takeError();
  Tensor out = std::move(*outOr);
  int64_t planes = x.dim(0) * x.dim(1);
  int64_t size = planes == 0 ? 0 : x.numElements() / planes;
  auto run = [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *in = x.data<T>();
    T *o = out.mutableData<T>();
    parallelFor(planes,
                std::max<int64_t>(1, 32768 / std::max<int64_t>(1, size)),
                [&](int64_t begin, int64_t end) {
                  for (int64_t p = begin; p < end; ++p) {
                    double sum = 0.0;
                    for (int64_t i = 0; i < size; ++i)
                      sum += static_cast<double>(in[p * size + i]);
                    o[p] = static_cast<T>(sum / static_cast<double>(size));
                  }
                });
  };
  if (x.dtype() == DType::F32)
    run(Tag<float>{});
  else
    run(Tag<double>{});
  return out;
}
