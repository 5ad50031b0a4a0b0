//===- KernelsData.cpp - Data movement and cast ---------------------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#include "KernelsInternal.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

using namespace qopt;
using namespace qopt::kernels;
using namespace qopt::kernels::detail;

/// Copies elements of size sizeof(T) from `in` to `out` following a strided
/// view: out is row-major over `shape`, the input offset of each element is
/// sum(idx[d] * inStrides[d]) + base.
template <typename T>
static void stridedCopy(const T *in, T *out, llvm::ArrayRef<int64_t> shape,
                        llvm::ArrayRef<int64_t> inStrides, int64_t base) {
  int64_t rank = shape.size();
  int64_t total = product(shape);
  if (total == 0)
    return;
  if (rank == 0) {
    out[0] = in[base];
    return;
  }
  int64_t inner = shape.back();
  int64_t innerStride = inStrides.back();
  int64_t rows = total / inner;
  parallelFor(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)),
              [&](int64_t begin, int64_t end) {
                for (int64_t r = begin; r < end; ++r) {
                  int64_t rem = r, off = base;
                  for (int64_t d = rank - 2; d >= 0; --d) {
                    off += (rem % shape[d]) * inStrides[d];
                    rem /= shape[d];
                  }
                  T *o = out + r * inner;
                  const T *src = in + off;
                  if (innerStride == 1)
                    std::memcpy(o, src, inner * sizeof(T));
                  else
                    for (int64_t j = 0; j < inner; ++j)
                      o[j] = src[j * innerStride];
                }
              });
}

static void stridedCopyAny(const Tensor &in, Tensor &out,
                           llvm::ArrayRef<int64_t> shape,
                           llvm::ArrayRef<int64_t> inStrides, int64_t base) {
  dispatchBySize(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    stridedCopy(static_cast<const T *>(in.rawData()),
                static_cast<T *>(out.mutableRawData()), shape, inStrides, base);
  });
}

llvm::Expected<Tensor> qopt::kernels::transpose(const Tensor &x,
                                                llvm::ArrayRef<int64_t> perm) {
  const char *kernel = "transpose";
  if (static_cast<int64_t>(perm.size()) != x.rank())
    return kernelError(kernel, "perm has " + llvm::Twine(perm.size()) +
                                   " entries for a rank-" +
                                   llvm::Twine(x.rank()) + " tensor");
  std::vector<bool> seen(x.rank(), false);
  std::vector<int64_t> shape, strides;
  std::vector<int64_t> inStrides = rowMajorStrides(x.shape());
  for (int64_t p : perm) {
    if (p < 0 || p >= x.rank() || seen[p])
      return kernelError(kernel, "perm is not a permutation");
    seen[p] = true;
    shape.push_back(x.dim(p));
    strides.push_back(inStrides[p]);
  }
  auto out = makeTensor(kernel, x.dtype(), shape);
  if (!out)
    return out.takeError();
  stridedCopyAny(x, *out, shape, strides, 0);
  return out;
}

llvm::Expected<Tensor> qopt::kernels::concat(llvm::ArrayRef<Tensor> inputs,
                                             int64_t axis) {
  const char *kernel = "concat";
  if (inputs.empty())
    return kernelError(kernel, "needs at least one input");
  const Tensor &first = inputs.front();
  auto ax = normalizeAxis(kernel, axis, first.rank());
  if (!ax)
    return ax.takeError();
  std::vector<int64_t> shape = first.shape();
  shape[*ax] = 0;
  for (const Tensor &t : inputs) {
    if (t.dtype() != first.dtype() || t.rank() != first.rank())
      return kernelError(kernel, "input " + t.describe() + " does not match " +
                                     first.describe());
    for (int64_t d = 0; d < t.rank(); ++d)
      if (d != *ax && t.dim(d) != first.dim(d))
        return kernelError(kernel, "input " + t.describe() +
                                       " does not match " + first.describe() +
                                       " in dim " + llvm::Twine(d));
    shape[*ax] += t.dim(*ax);
  }
  auto out = makeTensor(kernel, first.dtype(), shape);
  if (!out)
    return out.takeError();
  int64_t outer = product(llvm::ArrayRef<int64_t>(shape).take_front(*ax));
  size_t elem = dtypeSize(first.dtype());
  int64_t outRow = product(llvm::ArrayRef<int64_t>(shape).drop_front(*ax));
  char *dst = static_cast<char *>(out->mutableRawData());
  int64_t offset = 0;
  for (const Tensor &t : inputs) {
    int64_t row = product(llvm::ArrayRef<int64_t>(t.shape()).drop_front(*ax));
    const char *src = static_cast<const char *>(t.rawData());
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(dst + (o * outRow + offset) * elem, src + o * row * elem,
                  row * elem);
    offset += row;
  }
  return out;
}

llvm::Expected<Tensor> qopt::kernels::slice(const Tensor &x,
                                            llvm::ArrayRef<int64_t> starts,
                                            llvm::ArrayRef<int64_t> ends,
                                            llvm::ArrayRef<int64_t> steps) {
  const char *kernel = "slice";
  int64_t rank = x.rank();
  if (static_cast<int64_t>(starts.size()) != rank ||
      static_cast<int64_t>(ends.size()) != rank ||
      static_cast<int64_t>(steps.size()) != rank)
    return kernelError(kernel, "need one start, end and step per dim");
  std::vector<int64_t> inStrides = rowMajorStrides(x.shape());
  std::vector<int64_t> shape, strides;
  int64_t base = 0;
  for (int64_t d = 0; d < rank; ++d) {
    int64_t n = x.dim(d), s = starts[d], e = ends[d], st = steps[d];
    int64_t len;
    if (st == 0)
      return kernelError(kernel, "step of dim " + llvm::Twine(d) + " is 0");
    if (st > 0) {
      if (s < 0 || s > n || e < 0 || e > n)
        return kernelError(kernel, "dim " + llvm::Twine(d) +
                                       ": start/end out of range for size " +
                                       llvm::Twine(n));
      len = e > s ? (e - s + st - 1) / st : 0;
    } else {
      if (s < -1 || s > n - 1 || e < -1 || e > n - 1)
        return kernelError(kernel, "dim " + llvm::Twine(d) +
                                       ": start/end out of range for size " +
                                       llvm::Twine(n));
      len = s > e ? (s - e + (-st) - 1) / (-st) : 0;
    }
    shape.push_back(len);
    strides.push_back(inStrides[d] * st);
    if (len > 0)
      base += s * inStrides[d];
  }
  auto out = makeTensor(kernel, x.dtype(), shape);
  if (!out)
    return out.takeError();
  stridedCopyAny(x, *out, shape, strides, base);
  return out;
}

llvm::Expected<Tensor>
qopt::kernels::gather(const Tensor &data, const Tensor &indices, int64_t axis) {
  const char *kernel = "gather";
  if (indices.dtype() != DType::I32 && indices.dtype() != DType::I64)
    return kernelError(kernel, "indices must be i32 or i64, got " +
                                   llvm::Twine(dtypeName(indices.dtype())));
  auto ax = normalizeAxis(kernel, axis, data.rank());
  if (!ax)
    return ax.takeError();
  llvm::ArrayRef<int64_t> ds(data.shape());
  std::vector<int64_t> shape(ds.begin(), ds.begin() + *ax);
  shape.insert(shape.end(), indices.shape().begin(), indices.shape().end());
  shape.insert(shape.end(), ds.begin() + *ax + 1, ds.end());
  int64_t outer = product(ds.take_front(*ax));
  int64_t n = data.dim(*ax);
  int64_t inner = product(ds.drop_front(*ax + 1));
  int64_t numIdx = indices.numElements();
  std::vector<int64_t> idx(numIdx);
  for (int64_t i = 0; i < numIdx; ++i) {
    int64_t v = getInt(indices, i);
    if (v < -n || v >= n)
      return kernelError(kernel, "index " + llvm::Twine(v) +
                                     " is out of range for a dim of size " +
                                     llvm::Twine(n));
    idx[i] = v < 0 ? v + n : v;
  }
  auto out = makeTensor(kernel, data.dtype(), shape);
  if (!out)
    return out.takeError();
  size_t elem = dtypeSize(data.dtype());
  const char *src = static_cast<const char *>(data.rawData());
  char *dst = static_cast<char *>(out->mutableRawData());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < numIdx; ++j)
      std::memcpy(dst + ((o * numIdx + j) * inner) * elem,
                  src + ((o * n + idx[j]) * inner) * elem, inner * elem);
  return out;
}

llvm::Expected<Tensor> qopt::kernels::where(const Tensor &cond, const Tensor &x,
                                            const Tensor &y) {
  const char *kernel = "where";
  if (cond.dtype() != DType::Bool)
    return kernelError(kernel, "condition must be bool, got " +
                                   llvm::Twine(dtypeName(cond.dtype())));
  if (x.dtype() != y.dtype())
    return kernelError(kernel, "values have different dtypes (" +
                                   llvm::Twine(dtypeName(x.dtype())) + " and " +
                                   dtypeName(y.dtype()) + ")");
  auto plan = planBroadcast(kernel, {cond.shape(), x.shape(), y.shape()});
  if (!plan)
    return plan.takeError();
  auto out = makeTensor(kernel, x.dtype(), plan->outShape);
  if (!out)
    return out.takeError();
  if (plan->numOut == 0)
    return out;
  auto strides = plan->innerStrides();
  int64_t inner = plan->inner();
  const uint8_t *c = static_cast<const uint8_t *>(cond.rawData());
  dispatchBySize(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *a = static_cast<const T *>(x.rawData());
    const T *b = static_cast<const T *>(y.rawData());
    T *o = static_cast<T *>(out->mutableRawData());
    forEachBroadcastRow(*plan, [&](int64_t outOff, const int64_t *in) {
      for (int64_t j = 0; j < inner; ++j)
        o[outOff + j] = c[in[0] + j * strides[0]] ? a[in[1] + j * strides[1]]
                                                  : b[in[2] + j * strides[2]];
    });
  });
  return out;
}

namespace {

/// Storage stand-ins for the dtypes whose C++ storage type is ambiguous.
struct HalfBits {
  uint16_t v;
};
struct BF16Bits {
  uint16_t v;
};
struct BoolByte {
  uint8_t v;
};

template <typename T>
constexpr bool isFloatLike =
    std::is_floating_point_v<T> || std::is_same_v<T, HalfBits> ||
    std::is_same_v<T, BF16Bits>;

/// Calls fn(Tag<T>{}) with the storage type of any dtype.
template <typename Fn> void dispatchCastType(DType d, Fn &&fn) {
  switch (d) {
  case DType::F32:
    return fn(Tag<float>{});
  case DType::F64:
    return fn(Tag<double>{});
  case DType::F16:
    return fn(Tag<HalfBits>{});
  case DType::BF16:
    return fn(Tag<BF16Bits>{});
  case DType::Bool:
    return fn(Tag<BoolByte>{});
  default:
    return dispatchInt(d, fn);
  }
}

/// Exact widening of a float-like value to double.
template <typename S> double widen(S s) {
  if constexpr (std::is_same_v<S, HalfBits>)
    return halfToFloat(s.v);
  else if constexpr (std::is_same_v<S, BF16Bits>)
    return bf16ToFloat(s.v);
  else
    return static_cast<double>(s);
}

/// double -> integer: truncation toward zero, saturating, NaN -> 0.
template <typename D> D toIntSaturating(double v) {
  if (v != v)
    return 0;
  constexpr double lo = static_cast<double>(std::numeric_limits<D>::min());
  // max + 1 is a power of two, exact in double.
  constexpr double hiExcl =
      static_cast<double>(std::numeric_limits<D>::max() / 2 + 1) * 2.0;
  if (v <= lo)
    return std::numeric_limits<D>::min();
  if (v >= hiExcl)
    return std::numeric_limits<D>::max();
  return static_cast<D>(v);
}

/// One element of ONNX Cast with the semantics documented in Kernels.h.
template <typename S, typename D> D castElement(S s) {
  if constexpr (std::is_same_v<S, BoolByte>) {
    return castElement<uint8_t, D>(s.v != 0 ? 1 : 0);
  } else if constexpr (std::is_same_v<D, BoolByte>) {
    if constexpr (isFloatLike<S>) {
      double v = widen(s);
      return BoolByte{static_cast<uint8_t>(v != 0.0)}; // NaN != 0
    } else {
      return BoolByte{static_cast<uint8_t>(s != 0)};
    }
  } else if constexpr (isFloatLike<S>) {
    if constexpr (std::is_same_v<S, float> && std::is_same_v<D, HalfBits>)
      return HalfBits{floatToHalf(s)};
    else if constexpr (std::is_same_v<S, float> && std::is_same_v<D, BF16Bits>)
      return BF16Bits{floatToBf16(s)};
    else if constexpr (std::is_same_v<D, HalfBits>)
      return HalfBits{doubleToHalf(widen(s))};
    else if constexpr (std::is_same_v<D, BF16Bits>)
      return BF16Bits{doubleToBf16(widen(s))};
    else if constexpr (std::is_floating_point_v<D>)
      return static_cast<D>(widen(s));
    else
      return toIntSaturating<D>(widen(s));
  } else {
    // Integer source.
    if constexpr (std::is_floating_point_v<D>) {
      return static_cast<D>(s); // one rounding
    } else if constexpr (std::is_same_v<D, HalfBits> ||
                         std::is_same_v<D, BF16Bits>) {
      // Exact in double below 2^53; beyond that one extra rounding.
      double v = static_cast<double>(s);
      if constexpr (std::is_same_v<D, HalfBits>)
        return HalfBits{doubleToHalf(v)};
      else
        return BF16Bits{doubleToBf16(v)};
    } else {
      // Integer -> integer keeps the low bits (two's complement).
      using U = std::make_unsigned_t<D>;
      return static_cast<D>(static_cast<U>(s));
    }
  }
}

} // namespace

llvm::Expected<Tensor> qopt::kernels::cast(const Tensor &x, DType to) {
  const char *kernel = "cast";
  if (x.dtype() == to)
    return x;
  auto out = makeTensor(kernel, to, x.shape());
  if (!out)
    return out.takeError();
  int64_t n = x.numElements();
  const void *src = x.rawData();
  void *dst = out->mutableRawData();
  dispatchCastType(x.dtype(), [&](auto inTag) {
    using S = typename decltype(inTag)::type;
    dispatchCastType(to, [&](auto outTag) {
      using D = typename decltype(outTag)::type;
      const S *in = static_cast<const S *>(src);
      D *o = static_cast<D *>(dst);
      parallelFor(n, 65536, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
          o[i] = castElement<S, D>(in[i]);
      });
    });
  });
  return out;
}
