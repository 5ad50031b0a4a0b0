//===- KernelsNorm.cpp - Softmax, normalization and reductions ------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#include "KernelsInternal.h"

#include <cmath>
#include <limits>

using namespace qopt;
using namespace qopt::kernels;
using namespace qopt::kernels::detail;

namespace {

/// Float tensors are computed as F32 (F32/F16/BF16) or F64.
bool isComputeF64(const Tensor &t) { return t.dtype() == DType::F64; }

/// Expands a parameter (scale or bias) that broadcasts unidirectionally to
/// `target` into `target`'s element count, as doubles.
llvm::Expected<std::vector<double>> expandParam(const char *kernel,
                                                const char *what,
                                                const Tensor &p,
                                                llvm::ArrayRef<int64_t> target) {
  if (!isFloat(p.dtype()))
    return kernelError(kernel, llvm::Twine(what) + " must be a float tensor");
  if (p.rank() > static_cast<int64_t>(target.size()))
    return kernelError(kernel, llvm::Twine(what) + " " + shapeString(p.shape()) +
                                   " does not broadcast to " +
                                   shapeString(target));
  int64_t off = static_cast<int64_t>(target.size()) - p.rank();
  for (int64_t i = 0; i < p.rank(); ++i)
    if (p.dim(i) != 1 && p.dim(i) != target[off + i])
      return kernelError(kernel, llvm::Twine(what) + " " +
                                     shapeString(p.shape()) +
                                     " does not broadcast to " +
                                     shapeString(target));
  int64_t n = product(target);
  std::vector<double> out(n);
  std::vector<int64_t> pStrides = rowMajorStrides(p.shape());
  std::vector<int64_t> idx(target.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t src = 0;
    for (int64_t d = 0; d < p.rank(); ++d)
      if (p.dim(d) != 1)
        src += idx[off + d] * pStrides[d];
    out[i] = p.getAsDouble(src);
    for (int64_t d = static_cast<int64_t>(target.size()) - 1; d >= 0; --d) {
      if (++idx[d] < target[d])
        break;
      idx[d] = 0;
    }
  }
  return out;
}

/// Runs `fn(const T *x, T *y)` on the data of a float tensor computed in f32
/// (or f64), converting F16/BF16 around it.
template <typename Fn>
llvm::Expected<Tensor> withFloatData(const char *kernel, const Tensor &x,
                                     Fn &&fn) {
  if (!isFloat(x.dtype()))
    return kernelError(kernel, llvm::Twine("expected a float tensor, got ") +
                                   x.describe());
  if (isComputeF64(x)) {
    auto out = makeTensor(kernel, DType::F64, x.shape());
    if (!out)
      return out.takeError();
    fn(x.data<double>(), out->mutableData<double>());
    return out;
  }
  Tensor xf = toF32(x);
  auto out = makeTensor(kernel, DType::F32, x.shape());
  if (!out)
    return out.takeError();
  fn(xf.data<float>(), out->mutableData<float>());
  if (x.dtype() != DType::F32)
    return fromF32(*out, x.dtype());
  return out;
}

} // namespace

llvm::Expected<Tensor> qopt::kernels::softmax(const Tensor &x, int64_t axis) {
  const char *kernel = "softmax";
  auto ax = normalizeAxis(kernel, axis, x.rank());
  if (!ax)
    return ax.takeError();
  int64_t outer = product(llvm::ArrayRef<int64_t>(x.shape()).take_front(*ax));
  int64_t n = x.dim(*ax);
  int64_t inner = product(llvm::ArrayRef<int64_t>(x.shape()).drop_front(*ax + 1));
  auto run = [&](auto *in, auto *out) {
    parallelFor(outer * inner, std::max<int64_t>(1, 4096 / std::max<int64_t>(n, 1)),
                [&](int64_t begin, int64_t end) {
                  for (int64_t r = begin; r < end; ++r) {
                    int64_t o = r / inner, i = r % inner;
                    auto *xi = in + o * n * inner + i;
                    auto *yi = out + o * n * inner + i;
                    double mx = -std::numeric_limits<double>::infinity();
                    for (int64_t j = 0; j < n; ++j)
                      mx = std::max<double>(mx, xi[j * inner]);
                    double sum = 0;
                    for (int64_t j = 0; j < n; ++j)
                      sum += std::exp(static_cast<double>(xi[j * inner]) - mx);
                    for (int64_t j = 0; j < n; ++j)
                      yi[j * inner] = static_cast<std::remove_reference_t<decltype(*yi)>>(
                          std::exp(static_cast<double>(xi[j * inner]) - mx) / sum);
                  }
                });
  };
  return withFloatData(kernel, x, run);
}

/// Shared body of layerNorm and rmsNorm.
static llvm::Expected<Tensor> normalize(const char *kernel, const Tensor &x,
                                        const Tensor &scale, const Tensor *bias,
                                        int64_t axis, float epsilon, bool rms) {
  auto ax = normalizeAxis(kernel, axis, x.rank());
  if (!ax)
    return ax.takeError();
  llvm::ArrayRef<int64_t> normShape =
      llvm::ArrayRef<int64_t>(x.shape()).drop_front(*ax);
  int64_t outer = product(llvm::ArrayRef<int64_t>(x.shape()).take_front(*ax));
  int64_t n = product(normShape);
  auto gamma = expandParam(kernel, "scale", scale, normShape);
  if (!gamma)
    return gamma.takeError();
  std::vector<double> beta;
  if (bias) {
    auto b = expandParam(kernel, "bias", *bias, normShape);
    if (!b)
      return b.takeError();
    beta = std::move(*b);
  }
  auto run = [&](auto *in, auto *out) {
    using T = std::remove_const_t<std::remove_reference_t<decltype(*in)>>;
    parallelFor(outer, std::max<int64_t>(1, 4096 / std::max<int64_t>(n, 1)),
                [&](int64_t begin, int64_t end) {
                  for (int64_t r = begin; r < end; ++r) {
                    const T *xr = in + r * n;
                    T *yr = out + r * n;
                    double mean = 0, var = 0;
                    if (!rms) {
                      for (int64_t j = 0; j < n; ++j)
                        mean += xr[j];
                      mean /= static_cast<double>(n);
                    }
                    for (int64_t j = 0; j < n; ++j) {
                      double d = xr[j] - mean;
                      var += d * d;
                    }
                    var /= static_cast<double>(n);
                    T inv = static_cast<T>(1.0 / std::sqrt(var + epsilon));
                    T m = static_cast<T>(mean);
                    for (int64_t j = 0; j < n; ++j) {
                      T v = (xr[j] - m) * inv * static_cast<T>((*gamma)[j]);
                      if (!beta.empty())
                        v += static_cast<T>(beta[j]);
                      yr[j] = v;
                    }
                  }
                });
  };
  if (scale.dtype() != x.dtype() || (bias && bias->dtype() != x.dtype()))
    return kernelError(kernel, "scale and bias must have the input's dtype " +
                                   llvm::Twine(dtypeName(x.dtype())));
  return withFloatData(kernel, x, run);
}

llvm::Expected<Tensor> qopt::kernels::layerNorm(const Tensor &x,
                                                const Tensor &scale,
                                                const Tensor *bias,
                                                int64_t axis, float epsilon) {
  return normalize("layer_norm", x, scale, bias, axis, epsilon, /*rms=*/false);
}

llvm::Expected<Tensor> qopt::kernels::rmsNorm(const Tensor &x,
                                              const Tensor &scale, int64_t axis,
                                              float epsilon) {
  return normalize("rms_norm", x, scale, nullptr, axis, epsilon, /*rms=*/true);
}

llvm::Expected<Tensor> qopt::kernels::reduce(ReduceKind kind, const Tensor &x,
                                             llvm::ArrayRef<int64_t> axes,
                                             bool keepdims) {
  const char *kernel = kind == ReduceKind::Sum    ? "reduce_sum"
                       : kind == ReduceKind::Mean ? "reduce_mean"
                       : kind == ReduceKind::Max  ? "reduce_max"
                                                  : "reduce_min";
  if (x.dtype() == DType::Bool)
    return kernelError(kernel, "bool tensors cannot be reduced");
  int64_t rank = x.rank();
  std::vector<bool> reduced(rank, axes.empty());
  for (int64_t a : axes) {
    auto n = normalizeAxis(kernel, a, rank);
    if (!n)
      return n.takeError();
    if (reduced[*n] && !axes.empty())
      return kernelError(kernel, "axis " + llvm::Twine(a) + " appears twice");
    reduced[*n] = true;
  }
  std::vector<int64_t> outShape, keptShape;
  for (int64_t d = 0; d < rank; ++d) {
    keptShape.push_back(reduced[d] ? 1 : x.dim(d));
    if (!reduced[d])
      outShape.push_back(x.dim(d));
    else if (keepdims)
      outShape.push_back(1);
  }
  int64_t numOut = product(keptShape);
  int64_t count = numOut == 0 ? 0 : x.numElements() / std::max<int64_t>(numOut, 1);
  if (numOut > 0 && x.numElements() == 0)
    count = 0;
  auto out = makeTensor(kernel, x.dtype(), outShape);
  if (!out)
    return out.takeError();
  if (numOut == 0)
    return out;
  std::vector<int64_t> outStrides = rowMajorStrides(keptShape);
  // Map each input element to its output slot.
  std::vector<int64_t> idx(rank, 0);
  bool isF = isFloat(x.dtype());
  bool isU64 = x.dtype() == DType::U64;
  std::vector<double> accF;
  std::vector<int64_t> accI;
  std::vector<uint64_t> accU;
  std::vector<bool> seen(numOut, false);
  if (isF)
    accF.assign(numOut, 0.0);
  else if (isU64)
    accU.assign(numOut, 0);
  else
    accI.assign(numOut, 0);
  for (int64_t i = 0; i < x.numElements(); ++i) {
    int64_t o = 0;
    for (int64_t d = 0; d < rank; ++d)
      if (!reduced[d])
        o += idx[d] * outStrides[d];
    if (isF) {
      double v = x.getAsDouble(i);
      double &a = accF[o];
      switch (kind) {
      case ReduceKind::Sum:
      case ReduceKind::Mean:
        a += v;
        break;
      case ReduceKind::Max:
        a = !seen[o] ? v : (std::isnan(a) || std::isnan(v)) ? NAN : std::max(a, v);
        break;
      case ReduceKind::Min:
        a = !seen[o] ? v : (std::isnan(a) || std::isnan(v)) ? NAN : std::min(a, v);
        break;
      }
    } else if (isU64) {
      uint64_t v = x.data<uint64_t>()[i];
      uint64_t &a = accU[o];
      if (kind == ReduceKind::Sum || kind == ReduceKind::Mean)
        a += v;
      else if (!seen[o])
        a = v;
      else
        a = kind == ReduceKind::Max ? std::max(a, v) : std::min(a, v);
    } else {
      int64_t v = getInt(x, i);
      int64_t &a = accI[o];
      if (kind == ReduceKind::Sum || kind == ReduceKind::Mean)
        a = static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(v));
      else if (!seen[o])
        a = v;
      else
        a = kind == ReduceKind::Max ? std::max(a, v) : std::min(a, v);
    }
    seen[o] = true;
    for (int64_t d = rank - 1; d >= 0; --d) {
      if (++idx[d] < x.dim(d))
        break;
      idx[d] = 0;
    }
  }
  for (int64_t o = 0; o < numOut; ++o) {
    if (isF) {
      double v = accF[o];
      if (!seen[o])
        v = kind == ReduceKind::Max   ? -INFINITY
            : kind == ReduceKind::Min ? INFINITY
            : kind == ReduceKind::Mean ? NAN
                                       : 0.0;
      else if (kind == ReduceKind::Mean)
        v /= static_cast<double>(count);
      out->setFromDouble(o, v);
      continue;
    }
    if (kind == ReduceKind::Mean && count == 0)
      return kernelError(kernel, "mean of an empty set of integers");
    if (isU64) {
      uint64_t v = !seen[o] ? (kind == ReduceKind::Min ? UINT64_MAX : 0) : accU[o];
      if (kind == ReduceKind::Mean)
        v /= static_cast<uint64_t>(count);
      out->mutableData<uint64_t>()[o] = v;
      continue;
    }
    int64_t v = accI[o];
    if (!seen[o])
      v = kind == ReduceKind::Max   ? dtypeMin(x.dtype())
          : kind == ReduceKind::Min ? dtypeMax(x.dtype())
                                    : 0;
    else if (kind == ReduceKind::Mean)
      v /= count;
    // Wrap to the dtype (sums) — values of Max/Min/Mean are in range.
    dispatchInt(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      static_cast<T *>(out->mutableRawData())[o] =
          static_cast<T>(static_cast<uint64_t>(v));
    });
  }
  return out;
}

llvm::Expected<Tensor> qopt::kernels::reduceSum(const Tensor &x,
                                                llvm::ArrayRef<int64_t> axes,
                                                bool keepdims) {
  return reduce(ReduceKind::Sum, x, axes, keepdims);
}
llvm::Expected<Tensor> qopt::kernels::reduceMean(const Tensor &x,
                                                 llvm::ArrayRef<int64_t> axes,
                                                 bool keepdims) {
  return reduce(ReduceKind::Mean, x, axes, keepdims);
}
llvm::Expected<Tensor> qopt::kernels::reduceMax(const Tensor &x,
                                                llvm::ArrayRef<int64_t> axes,
                                                bool keepdims) {
  return reduce(ReduceKind::Max, x, axes, keepdims);
}
llvm::Expected<Tensor> qopt::kernels::reduceMin(const Tensor &x,
                                                llvm::ArrayRef<int64_t> axes,
                                                bool keepdims) {
  return reduce(ReduceKind::Min, x, axes, keepdims);
}
