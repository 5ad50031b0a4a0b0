//===- KernelsElementwise.cpp - Broadcasting binary and unary ops ---------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#include "KernelsInternal.h"

#include <atomic>
#include <cmath>
#include <limits>

using namespace qopt;
using namespace qopt::kernels;
using namespace qopt::kernels::detail;

namespace {

const char *binaryName(BinaryOp op) {
  switch (op) {
  case BinaryOp::Add:
    return "add";
  case BinaryOp::Sub:
    return "sub";
  case BinaryOp::Mul:
    return "mul";
  case BinaryOp::Div:
    return "div";
  case BinaryOp::Pow:
    return "pow";
  case BinaryOp::Max:
    return "max";
  case BinaryOp::Min:
    return "min";
  }
  return "binary";
}

/// out[i] = op(a[i * sa], b[i * sb]) over a broadcast plan, with the common
/// stride patterns of the innermost run written out so they vectorize.
template <typename T, typename R, typename Op>
void binaryLoop(const BroadcastPlan &plan, const T *a, const T *b, R *out,
                Op op) {
  const int64_t n = plan.inner();
  const auto st = plan.innerStrides();
  forEachBroadcastRow(plan, [&](int64_t outOff, const int64_t *off) {
    const T *pa = a + off[0];
    const T *pb = b + off[1];
    R *po = out + outOff;
    if (st[0] == 1 && st[1] == 1) {
      for (int64_t i = 0; i < n; ++i)
        po[i] = op(pa[i], pb[i]);
    } else if (st[0] == 0 && st[1] == 1) {
      T av = *pa;
      for (int64_t i = 0; i < n; ++i)
        po[i] = op(av, pb[i]);
    } else if (st[0] == 1 && st[1] == 0) {
      T bv = *pb;
      for (int64_t i = 0; i < n; ++i)
        po[i] = op(pa[i], bv);
    } else {
      for (int64_t i = 0; i < n; ++i)
        po[i] = op(pa[i * st[0]], pb[i * st[1]]);
    }
  });
}

template <typename T> T nanMax(T a, T b) {
  if (a > b)
    return a;
  if (b > a)
    return b;
  return a != a ? a : b; // NaN (from either side) or equal
}

template <typename T> T nanMin(T a, T b) {
  if (a < b)
    return a;
  if (b < a)
    return b;
  return a != a ? a : b;
}

template <typename T>
void floatBinary(BinaryOp op, const BroadcastPlan &plan, const T *a, const T *b,
                 T *o) {
  switch (op) {
  case BinaryOp::Add:
    return binaryLoop(plan, a, b, o, [](T x, T y) { return x + y; });
  case BinaryOp::Sub:
    return binaryLoop(plan, a, b, o, [](T x, T y) { return x - y; });
  case BinaryOp::Mul:
    return binaryLoop(plan, a, b, o, [](T x, T y) { return x * y; });
  case BinaryOp::Div:
    return binaryLoop(plan, a, b, o, [](T x, T y) { return x / y; });
  case BinaryOp::Pow:
    return binaryLoop(plan, a, b, o, [](T x, T y) { return std::pow(x, y); });
  case BinaryOp::Max:
    return binaryLoop(plan, a, b, o, nanMax<T>);
  case BinaryOp::Min:
    return binaryLoop(plan, a, b, o, nanMin<T>);
  }
}

/// base^e with wrapping multiplication; `error` is set for 0^negative.
template <typename T> T intPow(T base, T e, std::atomic<bool> &error) {
  if constexpr (std::is_signed_v<T>) {
    if (e < 0) {
      if (base == 1)
        return 1;
      if (base == -1)
        return (e & 1) ? T(-1) : T(1);
      if (base == 0)
        error.store(true, std::memory_order_relaxed);
      return 0;
    }
  }
  T result = 1;
  using U = std::make_unsigned_t<T>;
  U ue = static_cast<U>(e);
  while (ue) {
    if (ue & 1)
      result = wrapMul(result, base);
    base = wrapMul(base, base);
    ue >>= 1;
  }
  return result;
}

template <typename T>
llvm::Error intBinary(BinaryOp op, const BroadcastPlan &plan, const T *a,
                      const T *b, T *o) {
  std::atomic<bool> error{false};
  switch (op) {
  case BinaryOp::Add:
    binaryLoop(plan, a, b, o, wrapAdd<T>);
    break;
  case BinaryOp::Sub:
    binaryLoop(plan, a, b, o, wrapSub<T>);
    break;
  case BinaryOp::Mul:
    binaryLoop(plan, a, b, o, wrapMul<T>);
    break;
  case BinaryOp::Div:
    binaryLoop(plan, a, b, o, [&](T x, T y) -> T {
      if (y == 0) {
        error.store(true, std::memory_order_relaxed);
        return 0;
      }
      if constexpr (std::is_signed_v<T>)
        if (y == -1)
          return wrapSub<T>(0, x); // MIN / -1 wraps to MIN
      return static_cast<T>(x / y);
    });
    if (error)
      return kernelError("div", "integer division by zero");
    break;
  case BinaryOp::Pow:
    binaryLoop(plan, a, b, o,
               [&](T x, T y) -> T { return intPow<T>(x, y, error); });
    if (error)
      return kernelError("pow", "integer 0 raised to a negative power");
    break;
  case BinaryOp::Max:
    binaryLoop(plan, a, b, o, [](T x, T y) { return x > y ? x : y; });
    break;
  case BinaryOp::Min:
    binaryLoop(plan, a, b, o, [](T x, T y) { return x < y ? x : y; });
    break;
  }
  return llvm::Error::success();
}

} // namespace

llvm::Expected<Tensor> qopt::kernels::binary(BinaryOp op, const Tensor &a,
                                             const Tensor &b) {
  const char *kernel = binaryName(op);
  if (a.dtype() == DType::Bool || b.dtype() == DType::Bool)
    return kernelError(kernel, "operands " + a.describe() + " and " +
                                   b.describe() + " must be numeric, not bool");
  if (a.dtype() != b.dtype()) {
    if (op != BinaryOp::Pow)
      return kernelError(kernel, "operand dtypes differ: " + a.describe() +
                                     " and " + b.describe());
    // Mixed-dtype pow: compute in double, cast back to the base dtype.
    auto a64 = cast(a, DType::F64);
    if (!a64)
      return a64.takeError();
    auto b64 = cast(b, DType::F64);
    if (!b64)
      return b64.takeError();
    auto r = binary(op, *a64, *b64);
    if (!r)
      return r.takeError();
    return cast(*r, a.dtype());
  }
  auto planOr = planBroadcast(kernel, {a.shape(), b.shape()});
  if (!planOr)
    return planOr.takeError();
  const BroadcastPlan &plan = *planOr;

  if (a.dtype() == DType::F16 || a.dtype() == DType::BF16) {
    auto r = binary(op, toF32(a), toF32(b));
    if (!r)
      return r.takeError();
    return fromF32(*r, a.dtype());
  }
  auto outOr = makeTensor(kernel, a.dtype(), plan.outShape);
  if (!outOr)
    return outOr.takeError();
  Tensor out = std::move(*outOr);
  if (a.dtype() == DType::F32) {
    floatBinary<float>(op, plan, a.data<float>(), b.data<float>(),
                       out.mutableData<float>());
    return out;
  }
  if (a.dtype() == DType::F64) {
    floatBinary<double>(op, plan, a.data<double>(), b.data<double>(),
                        out.mutableData<double>());
    return out;
  }
  llvm::Error err = dispatchInt(a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    return intBinary<T>(op, plan, static_cast<const T *>(a.rawData()),
                        static_cast<const T *>(b.rawData()),
                        static_cast<T *>(out.mutableRawData()));
  });
  if (err)
    return std::move(err);
  return out;
}

llvm::Expected<Tensor> qopt::kernels::add(const Tensor &a, const Tensor &b) {
  return binary(BinaryOp::Add, a, b);
}
llvm::Expected<Tensor> qopt::kernels::sub(const Tensor &a, const Tensor &b) {
  return binary(BinaryOp::Sub, a, b);
}
llvm::Expected<Tensor> qopt::kernels::mul(const Tensor &a, const Tensor &b) {
  return binary(BinaryOp::Mul, a, b);
}
llvm::Expected<Tensor> qopt::kernels::div(const Tensor &a, const Tensor &b) {
  return binary(BinaryOp::Div, a, b);
}
llvm::Expected<Tensor> qopt::kernels::pow(const Tensor &base,
                                          const Tensor &exponent) {
  return binary(BinaryOp::Pow, base, exponent);
}
llvm::Expected<Tensor> qopt::kernels::max(const Tensor &a, const Tensor &b) {
  return binary(BinaryOp::Max, a, b);
}
llvm::Expected<Tensor> qopt::kernels::min(const Tensor &a, const Tensor &b) {
  return binary(BinaryOp::Min, a, b);
}

//===----------------------------------------------------------------------===//
// Unary
//===----------------------------------------------------------------------===//

namespace {

const char *unaryName(UnaryOp op) {
  switch (op) {
  case UnaryOp::Sqrt:
    return "sqrt";
  case UnaryOp::Exp:
    return "exp";
  case UnaryOp::Erf:
    return "erf";
  case UnaryOp::Tanh:
    return "tanh";
  case UnaryOp::Sigmoid:
    return "sigmoid";
  case UnaryOp::Relu:
    return "relu";
  case UnaryOp::Gelu:
    return "gelu";
  case UnaryOp::GeluTanh:
    return "gelu(tanh)";
  case UnaryOp::Silu:
    return "silu";
  case UnaryOp::Neg:
    return "neg";
  case UnaryOp::Abs:
    return "abs";
  }
  return "unary";
}

template <typename T, typename Op>
void unaryLoop(const T *in, T *out, int64_t n, Op op) {
  parallelFor(n, 16384, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      out[i] = op(in[i]);
  });
}

template <typename T> T sigmoidOf(T x) {
  // Stable on both sides: exp never overflows.
  if (x >= T(0))
    return T(1) / (T(1) + std::exp(-x));
  T e = std::exp(x);
  return e / (T(1) + e);
}

template <typename T>
void floatUnary(UnaryOp op, const T *in, T *o, int64_t n) {
  switch (op) {
  case UnaryOp::Sqrt:
    return unaryLoop(in, o, n, [](T x) { return std::sqrt(x); });
  case UnaryOp::Exp:
    return unaryLoop(in, o, n, [](T x) { return std::exp(x); });
  case UnaryOp::Erf:
    return unaryLoop(in, o, n, [](T x) { return std::erf(x); });
  case UnaryOp::Tanh:
    return unaryLoop(in, o, n, [](T x) { return std::tanh(x); });
  case UnaryOp::Sigmoid:
    return unaryLoop(in, o, n, sigmoidOf<T>);
  case UnaryOp::Relu:
    // NaN stays NaN (x > 0 is false, so return x).
    return unaryLoop(in, o, n, [](T x) { return x < T(0) ? T(0) : x; });
  case UnaryOp::Gelu:
    return unaryLoop(in, o, n, [](T x) {
      const T invSqrt2 = T(0.70710678118654752440);
      return T(0.5) * x * (T(1) + std::erf(x * invSqrt2));
    });
  case UnaryOp::GeluTanh:
    return unaryLoop(in, o, n, [](T x) {
      const T k = T(0.79788456080286535588); // sqrt(2 / pi)
      return T(0.5) * x * (T(1) + std::tanh(k * (x + T(0.044715) * x * x * x)));
    });
  case UnaryOp::Silu:
    return unaryLoop(in, o, n, [](T x) { return x * sigmoidOf<T>(x); });
  case UnaryOp::Neg:
    return unaryLoop(in, o, n, [](T x) { return -x; });
  case UnaryOp::Abs:
    return unaryLoop(in, o, n, [](T x) { return std::fabs(x); });
  }
}

} // namespace

llvm::Expected<Tensor> qopt::kernels::unary(UnaryOp op, const Tensor &x) {
  const char *kernel = unaryName(op);
  DType dt = x.dtype();
  bool intOk = op == UnaryOp::Relu || op == UnaryOp::Neg || op == UnaryOp::Abs;
  if (isInteger(dt)) {
    if (!intOk)
      return kernelError(kernel,
                         "input " + x.describe() + " must have a float dtype");
    if (op == UnaryOp::Neg && isUnsignedInt(dt))
      return kernelError(kernel, "input " + x.describe() +
                                     " must be signed to be negated");
  } else if (!isFloat(dt)) {
    return kernelError(kernel,
                       "input " + x.describe() + " must have a numeric dtype");
  }
  if (dt == DType::F16 || dt == DType::BF16) {
    auto r = unary(op, toF32(x));
    if (!r)
      return r.takeError();
    return fromF32(*r, dt);
  }
  Tensor out(dt, x.shape());
  int64_t n = x.numElements();
  if (dt == DType::F32) {
    floatUnary<float>(op, x.data<float>(), out.mutableData<float>(), n);
    return out;
  }
  if (dt == DType::F64) {
    floatUnary<double>(op, x.data<double>(), out.mutableData<double>(), n);
    return out;
  }
  dispatchInt(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *in = static_cast<const T *>(x.rawData());
    T *o = static_cast<T *>(out.mutableRawData());
    switch (op) {
    case UnaryOp::Relu:
      if constexpr (std::is_signed_v<T>)
        unaryLoop(in, o, n, [](T v) { return v < 0 ? T(0) : v; });
      else
        unaryLoop(in, o, n, [](T v) { return v; });
      break;
    case UnaryOp::Neg:
      unaryLoop(in, o, n, [](T v) { return wrapSub<T>(0, v); });
      break;
    default: // Abs
      if constexpr (std::is_signed_v<T>)
        unaryLoop(in, o, n, [](T v) { return v < 0 ? wrapSub<T>(0, v) : v; });
      else
        unaryLoop(in, o, n, [](T v) { return v; });
      break;
    }
  });
  return out;
}

llvm::Expected<Tensor> qopt::kernels::sqrt(const Tensor &x) {
  return unary(UnaryOp::Sqrt, x);
}
llvm::Expected<Tensor> qopt::kernels::exp(const Tensor &x) {
  return unary(UnaryOp::Exp, x);
}
llvm::Expected<Tensor> qopt::kernels::erf(const Tensor &x) {
  return unary(UnaryOp::Erf, x);
}
llvm::Expected<Tensor> qopt::kernels::tanh(const Tensor &x) {
  return unary(UnaryOp::Tanh, x);
}
llvm::Expected<Tensor> qopt::kernels::sigmoid(const Tensor &x) {
  return unary(UnaryOp::Sigmoid, x);
}
llvm::Expected<Tensor> qopt::kernels::relu(const Tensor &x) {
  return unary(UnaryOp::Relu, x);
}
llvm::Expected<Tensor> qopt::kernels::gelu(const Tensor &x,
                                           GeluApproximation approximate) {
  return unary(approximate == GeluApproximation::Tanh ? UnaryOp::GeluTanh
                                                      : UnaryOp::Gelu,
               x);
}
llvm::Expected<Tensor> qopt::kernels::silu(const Tensor &x) {
  return unary(UnaryOp::Silu, x);
}
llvm::Expected<Tensor> qopt::kernels::neg(const Tensor &x) {
  return unary(UnaryOp::Neg, x);
}
llvm::Expected<Tensor> qopt::kernels::abs(const Tensor &x) {
  return unary(UnaryOp::Abs, x);
}
