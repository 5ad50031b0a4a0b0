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
bool isFloatDType(DType d) { return isFloat(d); }
} // namespace

//===----------------------------------------------------------------------===//
// Softmax
//===----------------------------------------------------------------------===//

namespace {

/// Softmax over the middle dim of [outer, len, inner].
template <typename T>
void softmaxImpl(const T *x, T *y, int64_t outer, int64_t len, int64_t inner) {
  if (inner == 1) {
    parallelFor(outer, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, len)),
                [&](int64_t begin, int64_t end) {
                  for (int64_t r = begin; r < end; ++r) {
                    const T *in = x + r * len;
                    T *out = y + r * len;
                    T m = -std::numeric_limits<T>::infinity();
                    for (int64_t i = 0; i < len; ++i)
                      m = in[i] > m ? in[i] : m;
                    double sum = 0.0;
                    for (int64_t i = 0; i < len; ++i) {
                      T e = std::exp(in[i] - m);
                      out[i] = e;
                      sum += static_cast<double>(e);
                    }
                    T inv = static_cast<T>(1.0 / sum);
                    for (int64_t i = 0; i < len; ++i)
                      out[i] *= inv;
                  }
                });
    return;
  }
  // Strided: work on whole rows of `inner` elements at a time.
  parallelFor(
      outer, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, len * inner)),
      [&](int64_t begin, int64_t end) {
        std::vector<T> mx(inner);
        std::vector<double> sum(inner);
        for (int64_t r = begin; r < end; ++r) {
          const T *in = x + r * len * inner;
          T *out = y + r * len * inner;
          std::fill(mx.begin(), mx.end(), -std::numeric_limits<T>::infinity());
          std::fill(sum.begin(), sum.end(), 0.0);
          for (int64_t a = 0; a < len; ++a)
            for (int64_t i = 0; i < inner; ++i) {
              T v = in[a * inner + i];
              mx[i] = v > mx[i] ? v : mx[i];
            }
          for (int64_t a = 0; a < len; ++a)
            for (int64_t i = 0; i < inner; ++i) {
              T e = std::exp(in[a * inner + i] - mx[i]);
              out[a * inner + i] = e;
              sum[i] += static_cast<double>(e);
            }
          for (int64_t a = 0; a < len; ++a)
            for (int64_t i = 0; i < inner; ++i)
              out[a * inner + i] *= static_cast<T>(1.0 / sum[i]);
        }
      });
}

} // namespace

llvm::Expected<Tensor> qopt::kernels::softmax(const Tensor &x, int64_t axis) {
  const char *kernel = "softmax";
  if (auto err = expectDType(kernel, "X", x, isFloatDType, "a float dtype"))
    return std::move(err);
  if (x.rank() == 0)
    return kernelError(kernel,
                       "input X " + x.describe() + " must have rank >= 1");
  auto axOr = normalizeAxis(kernel, axis, x.rank());
  if (!axOr)
    return axOr.takeError();
  if (x.dtype() == DType::F16 || x.dtype() == DType::BF16) {
    auto r = softmax(toF32(x), axis);
    if (!r)
      return r.takeError();
    return fromF32(*r, x.dtype());
  }
  int64_t ax = *axOr;
  int64_t outer = product(llvm::ArrayRef<int64_t>(x.shape()).take_front(ax));
  int64_t len = x.dim(ax);
  int64_t inner =
      product(llvm::ArrayRef<int64_t>(x.shape()).drop_front(ax + 1));
  Tensor out(x.dtype(), x.shape());
  if (x.numElements() == 0)
    return out;
  if (x.dtype() == DType::F32)
    softmaxImpl<float>(x.data<float>(), out.mutableData<float>(), outer, len,
                       inner);
  else
    softmaxImpl<double>(x.data<double>(), out.mutableData<double>(), outer, len,
                        inner);
  return out;
}

//===----------------------------------------------------------------------===//
// LayerNorm / RMSNorm
//===----------------------------------------------------------------------===//

namespace {

/// Materializes `param` unidirectionally broadcast to `target` (the
/// normalized dims) as a dense T vector.
template <typename T>
llvm::Expected<std::vector<T>>
broadcastParam(const char *kernel, const char *name, const Tensor &param,
               llvm::ArrayRef<int64_t> target) {
  llvm::ArrayRef<int64_t> ps = param.shape();
  bool ok = ps.size() <= target.size();
  for (size_t i = 0; ok && i < ps.size(); ++i) {
    int64_t d = ps[ps.size() - 1 - i], t = target[target.size() - 1 - i];
    ok = d == 1 || d == t;
  }
  if (!ok)
    return kernelError(kernel, llvm::Twine(name) + " " + param.describe() +
                                   " cannot be broadcast to the normalized "
                                   "dims " +
                                   shapeString(target));
  auto planOr = planBroadcast(kernel, {ps, target});
  if (!planOr)
    return planOr.takeError();
  const BroadcastPlan &plan = *planOr;
  std::vector<T> out(static_cast<size_t>(plan.numOut));
  const T *p = param.data<T>();
  int64_t inner = plan.inner();
  int64_t st = plan.innerStrides()[0];
  int64_t off[BroadcastPlan::kMaxInputs];
  for (int64_t r = 0; r < plan.numRows(); ++r) {
    plan.rowOffsets(r, off);
    for (int64_t i = 0; i < inner; ++i)
      out[r * inner + i] = p[off[0] + i * st];
  }
  return out;
}

template <typename T>
void normImpl(const T *x, T *y, int64_t rows, int64_t d, const T *scale,
              const T *bias, T eps, bool rms) {
  parallelFor(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, d)),
              [&](int64_t begin, int64_t end) {
                for (int64_t r = begin; r < end; ++r) {
                  const T *in = x + r * d;
                  T *out = y + r * d;
                  if (rms) {
                    double sq = 0.0;
                    for (int64_t i = 0; i < d; ++i)
                      sq += static_cast<double>(in[i]) * in[i];
                    T ms = static_cast<T>(sq / static_cast<double>(d));
                    T inv = T(1) / std::sqrt(ms + eps);
                    for (int64_t i = 0; i < d; ++i)
                      out[i] = in[i] * inv * scale[i];
                    continue;
                  }
                  double sum = 0.0;
                  for (int64_t i = 0; i < d; ++i)
                    sum += static_cast<double>(in[i]);
                  double meanD = sum / static_cast<double>(d);
                  double var = 0.0;
                  for (int64_t i = 0; i < d; ++i) {
                    double c = static_cast<double>(in[i]) - meanD;
                    var += c * c;
                  }
                  T mean = static_cast<T>(meanD);
                  T v = static_cast<T>(var / static_cast<double>(d));
                  T inv = T(1) / std::sqrt(v + eps);
                  if (bias) {
                    for (int64_t i = 0; i < d; ++i)
                      out[i] = (in[i] - mean) * inv * scale[i] + bias[i];
                  } else {
                    for (int64_t i = 0; i < d; ++i)
                      out[i] = (in[i] - mean) * inv * scale[i];
                  }
                }
              });
}

llvm::Expected<Tensor> normCommon(const char *kernel, const Tensor &x,
                                  const Tensor &scale, const Tensor *bias,
                                  int64_t axis, float epsilon, bool rms) {
  if (auto err = expectDType(kernel, "X", x, isFloatDType, "a float dtype"))
    return std::move(err);
  if (scale.dtype() != x.dtype() || (bias && bias->dtype() != x.dtype()))
    return kernelError(kernel, "operand dtypes differ: X " + x.describe() +
                                   ", scale " + scale.describe() +
                                   (bias ? ", bias " + bias->describe() : ""));
  if (x.rank() == 0)
    return kernelError(kernel,
                       "input X " + x.describe() + " must have rank >= 1");
  auto axOr = normalizeAxis(kernel, axis, x.rank());
  if (!axOr)
    return axOr.takeError();
  if (x.dtype() == DType::F16 || x.dtype() == DType::BF16) {
    std::optional<Tensor> b32;
    if (bias)
      b32 = toF32(*bias);
    auto r = normCommon(kernel, toF32(x), toF32(scale), b32 ? &*b32 : nullptr,
                        axis, epsilon, rms);
    if (!r)
      return r.takeError();
    return fromF32(*r, x.dtype());
  }
  llvm::ArrayRef<int64_t> normDims =
      llvm::ArrayRef<int64_t>(x.shape()).drop_front(*axOr);
  int64_t d = product(normDims);
  int64_t rows = d == 0 ? 0 : x.numElements() / d;
  Tensor out(x.dtype(), x.shape());
  auto run = [&](auto tag) -> llvm::Error {
    using T = typename decltype(tag)::type;
    auto s = broadcastParam<T>(kernel, "scale", scale, normDims);
    if (!s)
      return s.takeError();
    std::vector<T> b;
    if (bias) {
      auto bOr = broadcastParam<T>(kernel, "bias", *bias, normDims);
      if (!bOr)
        return bOr.takeError();
      b = std::move(*bOr);
    }
    if (d > 0)
      normImpl<T>(x.data<T>(), out.mutableData<T>(), rows, d, s->data(),
                  bias ? b.data() : nullptr, static_cast<T>(epsilon), rms);
    return llvm::Error::success();
  };
  llvm::Error err =
      x.dtype() == DType::F32 ? run(Tag<float>{}) : run(Tag<double>{});
  if (err)
    return std::move(err);
  return out;
}

} // namespace

llvm::Expected<Tensor> qopt::kernels::layerNorm(const Tensor &x,
                                                const Tensor &scale,
                                                const Tensor *bias,
                                                int64_t axis, float epsilon) {
  return normCommon("layerNorm", x, scale, bias, axis, epsilon, false);
}

llvm::Expected<Tensor> qopt::kernels::rmsNorm(const Tensor &x,
                                              const Tensor &scale, int64_t axis,
                                              float epsilon) {
  return normCommon("rmsNorm", x, scale, nullptr, axis, epsilon, true);
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

namespace {

const char *reduceName(ReduceKind k) {
  switch (k) {
  case ReduceKind::Sum:
    return "reduceSum";
  case ReduceKind::Mean:
    return "reduceMean";
  case ReduceKind::Max:
    return "reduceMax";
  case ReduceKind::Min:
    return "reduceMin";
  }
  return "reduce";
}

/// Accumulator type: double for floats, 64-bit (wrapping) for integer sums,
/// the element type itself for max/min.
template <typename T> struct SumAcc {
  using type = std::conditional_t<
      std::is_floating_point_v<T>, double,
      std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;
};

/// acc + v, wrapping for integer accumulators.
template <typename S, typename T> inline S wrapAddAcc(S acc, T v) {
  if constexpr (std::is_floating_point_v<S>)
    return acc + static_cast<S>(v);
  else
    return wrapAdd<S>(acc, static_cast<S>(v));
}

template <typename T> T maxInit() {
  if constexpr (std::is_floating_point_v<T>)
    return -std::numeric_limits<T>::infinity();
  else
    return std::numeric_limits<T>::lowest();
}
template <typename T> T minInit() {
  if constexpr (std::is_floating_point_v<T>)
    return std::numeric_limits<T>::infinity();
  else
    return std::numeric_limits<T>::max();
}

template <typename T> inline void accMax(T &acc, T v) {
  if (v > acc || v != v)
    acc = v;
}
template <typename T> inline void accMin(T &acc, T v) {
  if (v < acc || v != v)
    acc = v;
}

/// Reduces x into `out`: directly over contiguous runs when the reduced
/// axes are a suffix of the non-unit dims (parallel over outputs), otherwise
/// by walking the input in order and accumulating into the outputs.
template <typename T>
llvm::Error reduceImpl(const char *kernel, ReduceKind kind, const Tensor &x,
                       const std::vector<bool> &reduced, Tensor &out) {
  using S = typename SumAcc<T>::type;
  const T *in = static_cast<const T *>(x.rawData());
  T *o = static_cast<T *>(out.mutableRawData());
  int64_t numOut = out.numElements();
  int64_t numIn = x.numElements();
  int64_t count = numOut == 0 ? 0 : numIn / numOut;
  if (numOut == 0)
    return llvm::Error::success();
  if (kind == ReduceKind::Mean && count == 0 && !std::is_floating_point_v<T>)
    return kernelError(kernel, "integer mean over an empty set (input " +
                                   x.describe() + ")");

  // Output strides per input dim (0 for reduced dims).
  int64_t rank = x.rank();
  std::vector<int64_t> ostride(rank, 0);
  int64_t s = 1;
  for (int64_t i = rank; i-- > 0;) {
    if (reduced[i])
      continue;
    ostride[i] = s;
    s *= x.dim(i);
  }
  // Fast path: reduced dims form a suffix -> each output is a contiguous run.
  bool suffix = true;
  bool seenReduced = false;
  for (int64_t i = 0; i < rank; ++i) {
    if (reduced[i])
      seenReduced = true;
    else if (seenReduced && x.dim(i) != 1)
      suffix = false;
  }

  auto finish = [&](S sum) -> T {
    if (kind == ReduceKind::Mean) {
      if constexpr (std::is_floating_point_v<T>)
        return static_cast<T>(sum / static_cast<double>(count));
      else
        return static_cast<T>(sum / static_cast<S>(count));
    }
    return static_cast<T>(sum);
  };

  if (suffix) {
    parallelFor(numOut,
                std::max<int64_t>(1, 16384 / std::max<int64_t>(1, count)),
                [&](int64_t begin, int64_t end) {
                  for (int64_t r = begin; r < end; ++r) {
                    const T *p = in + r * count;
                    if (kind == ReduceKind::Max) {
                      T m = maxInit<T>();
                      for (int64_t i = 0; i < count; ++i)
                        accMax(m, p[i]);
                      o[r] = m;
                    } else if (kind == ReduceKind::Min) {
                      T m = minInit<T>();
                      for (int64_t i = 0; i < count; ++i)
                        accMin(m, p[i]);
                      o[r] = m;
                    } else {
                      S sum = 0;
                      for (int64_t i = 0; i < count; ++i)
                        sum = wrapAddAcc(sum, p[i]);
                      o[r] = finish(sum);
                    }
                  }
                });
    return llvm::Error::success();
  }

  // Generic: walk the input in order, accumulating into a buffer.
  std::vector<S> sums;
  if (kind == ReduceKind::Max)
    std::fill(o, o + numOut, maxInit<T>());
  else if (kind == ReduceKind::Min)
    std::fill(o, o + numOut, minInit<T>());
  else
    sums.assign(numOut, S(0));
  std::vector<int64_t> idx(rank, 0);
  int64_t inner = x.dim(rank - 1);
  int64_t innerStride = ostride[rank - 1];
  for (int64_t base = 0; base < numIn; base += inner) {
    int64_t off = 0;
    for (int64_t i = 0; i < rank - 1; ++i)
      off += idx[i] * ostride[i];
    const T *p = in + base;
    for (int64_t j = 0; j < inner; ++j) {
      int64_t t = off + j * innerStride;
      if (kind == ReduceKind::Max)
        accMax(o[t], p[j]);
      else if (kind == ReduceKind::Min)
        accMin(o[t], p[j]);
      else
        sums[t] = wrapAddAcc(sums[t], p[j]);
    }
    for (int64_t i = rank - 2; i >= 0; --i) {
      if (++idx[i] < x.dim(i))
        break;
      idx[i] = 0;
    }
  }
  if (kind == ReduceKind::Sum || kind == ReduceKind::Mean)
    for (int64_t t = 0; t < numOut; ++t)
      o[t] = finish(sums[t]);
  return llvm::Error::success();
}

} // namespace

llvm::Expected<Tensor> qopt::kernels::reduce(ReduceKind kind, const Tensor &x,
                                             llvm::ArrayRef<int64_t> axes,
                                             bool keepdims) {
  const char *kernel = reduceName(kind);
  if (x.dtype() == DType::Bool)
    return kernelError(kernel, "input " + x.describe() + " must be numeric");
  int64_t rank = x.rank();
  std::vector<bool> reduced(rank, axes.empty());
  for (int64_t a : axes) {
    auto axOr = normalizeAxis(kernel, a, rank);
    if (!axOr)
      return axOr.takeError();
    if (reduced[*axOr])
      return kernelError(kernel, "axis " + llvm::Twine(a) + " is repeated");
    reduced[*axOr] = true;
  }
  if (x.dtype() == DType::F16 || x.dtype() == DType::BF16) {
    auto r = reduce(kind, toF32(x), axes, keepdims);
    if (!r)
      return r.takeError();
    return fromF32(*r, x.dtype());
  }
  std::vector<int64_t> outShape;
  for (int64_t i = 0; i < rank; ++i) {
    if (!reduced[i])
      outShape.push_back(x.dim(i));
    else if (keepdims)
      outShape.push_back(1);
  }
  auto outOr = makeTensor(kernel, x.dtype(), outShape);
  if (!outOr)
    return outOr.takeError();
  Tensor out = std::move(*outOr);
  if (rank == 0) {
    // A scalar reduces to itself (count 1).
    return x.clone();
  }
  llvm::Error err = llvm::Error::success();
  if (x.dtype() == DType::F32)
    err = reduceImpl<float>(kernel, kind, x, reduced, out);
  else if (x.dtype() == DType::F64)
    err = reduceImpl<double>(kernel, kind, x, reduced, out);
  else
    err = dispatchInt(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      return reduceImpl<T>(kernel, kind, x, reduced, out);
    });
  if (err)
    return std::move(err);
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
