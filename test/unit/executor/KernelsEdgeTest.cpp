//===- KernelsEdgeTest.cpp - Kernel edge cases and regression tests -------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Edge cases of the reference kernels that KernelsTest.cpp does not reach:
// single rounding of wide integer casts, degenerate pooling windows and
// channel-less convolutions, integer GEMMs whose K spans several K blocks
// on both instruction-set paths, the parallel per-tensor quantization path,
// and the corners of the quantization contract (f64 inputs, exact
// dequantization differences, zero-point ties, unusable dynamic ranges).
//
//===----------------------------------------------------------------------===//

#include "qopt/executor/Kernels.h"
#include "qopt/executor/ThreadPool.h"
#include "qopt/support/Tensor.h"

#include "llvm/Support/Error.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace qopt;
using namespace qopt::kernels;

namespace {

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

template <typename T>
Tensor make(std::vector<int64_t> shape, const std::vector<T> &values) {
  Tensor t(DTypeOf<T>::value, std::move(shape));
  EXPECT_EQ(t.numElements(), static_cast<int64_t>(values.size()));
  std::copy(values.begin(), values.end(), t.mutableData<T>());
  return t;
}

Tensor makeAs(DType dtype, std::vector<int64_t> shape,
              const std::vector<double> &values) {
  Tensor t(dtype, std::move(shape));
  EXPECT_EQ(t.numElements(), static_cast<int64_t>(values.size()));
  for (size_t i = 0; i < values.size(); ++i)
    t.setFromDouble(static_cast<int64_t>(i), values[i]);
  return t;
}

template <typename T> std::vector<T> vals(const Tensor &t) {
  EXPECT_EQ(t.dtype(), DTypeOf<T>::value) << t.describe();
  if (t.dtype() != DTypeOf<T>::value)
    return {};
  const T *p = t.data<T>();
  return std::vector<T>(p, p + t.numElements());
}

std::vector<double> doubles(const Tensor &t) {
  std::vector<double> v(t.numElements());
  for (int64_t i = 0; i < t.numElements(); ++i)
    v[i] = t.getAsDouble(i);
  return v;
}

/// Uniform random values in [lo, hi] (integers for integer dtypes).
Tensor randomTensor(DType dtype, std::vector<int64_t> shape, unsigned seed,
                    double lo = -1.0, double hi = 1.0) {
  Tensor t(dtype, std::move(shape));
  std::mt19937 gen(seed);
  if (isInteger(dtype)) {
    std::uniform_int_distribution<int64_t> dist(static_cast<int64_t>(lo),
                                                static_cast<int64_t>(hi));
    for (int64_t i = 0; i < t.numElements(); ++i)
      t.setFromDouble(i, static_cast<double>(dist(gen)));
  } else {
    std::uniform_real_distribution<double> dist(lo, hi);
    for (int64_t i = 0; i < t.numElements(); ++i)
      t.setFromDouble(i, dist(gen));
  }
  return t;
}

/// Unwraps an Expected, failing the test (and returning T()) on error.
template <typename T> T ok(llvm::Expected<T> v) {
  if (!v) {
    ADD_FAILURE() << "unexpected error: " << llvm::toString(v.takeError());
    return T();
  }
  return std::move(*v);
}

/// The message of an Expected that must fail ("" if it succeeded).
template <typename T> std::string err(llvm::Expected<T> v) {
  if (v) {
    ADD_FAILURE() << "expected an error";
    return "";
  }
  return llvm::toString(v.takeError());
}

bool sameBits(const Tensor &a, const Tensor &b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.rawData(), b.rawData(), a.byteSize()) == 0;
}

struct ThreadsGuard {
  ~ThreadsGuard() { setNumThreads(0); }
};

struct BaselineIsaGuard {
  explicit BaselineIsaGuard(bool force) { detail::setForceBaselineIsa(force); }
  ~BaselineIsaGuard() { detail::setForceBaselineIsa(false); }
};

/// Wraps an exact integer to int32 (two's complement).
int32_t wrap32(int64_t v) {
  return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(v)));
}

//===----------------------------------------------------------------------===//
// Cast
//===----------------------------------------------------------------------===//

TEST(KernelsEdge, WideIntegerToF32RoundsOnce) {
  // 2^60 + 2^36 + 1 lies just above the f32 tie 2^60 + 2^36 (f32 spacing
  // there is 2^37), so it rounds up. Going through double first lands on the
  // tie and then rounds to even (2^60): the double rounding Kernels.h rules
  // out for integer -> F32.
  int64_t big = (int64_t(1) << 60) + (int64_t(1) << 36) + 1;
  EXPECT_EQ(vals<float>(ok(cast(make<int64_t>({1}, {big}), DType::F32))),
            std::vector<float>{std::ldexp(1.0f, 60) + std::ldexp(1.0f, 37)});
  EXPECT_EQ(vals<float>(ok(cast(make<int64_t>({1}, {-big}), DType::F32))),
            std::vector<float>{-(std::ldexp(1.0f, 60) + std::ldexp(1.0f, 37))});
  uint64_t ubig = (uint64_t(1) << 63) + (uint64_t(1) << 39) + 1;
  EXPECT_EQ(vals<float>(ok(cast(make<uint64_t>({1}, {ubig}), DType::F32))),
            std::vector<float>{std::ldexp(1.0f, 63) + std::ldexp(1.0f, 40)});
  // Exactly representable values and int32 stay exact / round once.
  EXPECT_EQ(vals<float>(ok(
                cast(make<int32_t>({2}, {16777217, -16777219}), DType::F32))),
            (std::vector<float>{16777216.0f, -16777220.0f}));
}

TEST(KernelsEdge, HalfPrecisionArithmeticRoundsOnce) {
  // 1 + 2^-11 is halfway between two f16 values: rounds to even (1).
  Tensor a = makeAs(DType::F16, {2}, {1.0, 1.0});
  Tensor b =
      makeAs(DType::F16, {2}, {std::ldexp(1.0, -11), 3 * std::ldexp(1.0, -11)});
  Tensor y = ok(add(a, b));
  EXPECT_EQ(y.dtype(), DType::F16);
  EXPECT_EQ(doubles(y), (std::vector<double>{1.0, 1.0 + std::ldexp(1.0, -9)}));
}

//===----------------------------------------------------------------------===//
// Degenerate pooling and convolution geometry
//===----------------------------------------------------------------------===//

TEST(KernelsEdge, PoolWindowEntirelyInPaddingIsAnError) {
  // H = 1, kernel 2, dilation 3, pads 2: the window starting at -2 has taps
  // at -2 and 1, both outside the input, although each pad is smaller than
  // the dilated kernel extent (4).
  Pool2DOptions p;
  p.kernel = {2, 1};
  p.dilations = {3, 1};
  p.pads = {2, 0, 2, 0};
  Tensor x = make<float>({1, 1, 1, 1}, {1.0f});
  EXPECT_NE(err(avgPool2d(x, p)).find("entirely in the padding"),
            std::string::npos);
  EXPECT_NE(err(maxPool2d(x, p)).find("entirely in the padding"),
            std::string::npos);
  // The same dilation on a larger input is fine.
  Tensor x5 = randomTensor(DType::F32, {1, 1, 5, 1}, 3);
  EXPECT_EQ(ok(maxPool2d(x5, p)).shape(), (std::vector<int64_t>{1, 1, 6, 1}));
}

TEST(KernelsEdge, ConvolutionsWithoutInputChannels) {
  Tensor bias = make<float>({2}, {1.5f, -2.0f});
  for (int64_t k : {1, 3}) {
    SCOPED_TRACE(::testing::Message() << "kernel " << k);
    Conv2DOptions o;
    Tensor y = ok(conv2d(Tensor(DType::F32, {1, 0, 4, 4}),
                         Tensor(DType::F32, {2, 0, k, k}), &bias, o));
    int64_t s = 4 - k + 1;
    EXPECT_EQ(y.shape(), (std::vector<int64_t>{1, 2, s, s}));
    std::vector<float> want(s * s, 1.5f);
    want.resize(2 * s * s, -2.0f);
    EXPECT_EQ(vals<float>(y), want);
    Tensor yi =
        ok(convInteger(Tensor(DType::U8, {1, 0, 4, 4}),
                       Tensor(DType::U8, {2, 0, k, k}), nullptr, nullptr, o));
    EXPECT_EQ(vals<int32_t>(yi), std::vector<int32_t>(2 * s * s, 0));
  }
}

//===----------------------------------------------------------------------===//
// Integer GEMMs across K blocks
//===----------------------------------------------------------------------===//

TEST(KernelsEdge, MatmulIntegerLongReductionBothIsasAndThreads) {
  ThreadsGuard threads;
  // K = 600 > 512 (two K blocks of the int16 GEMM), M > 72, N > 256.
  const int64_t m = 80, k = 600, n = 270;
  Tensor a = randomTensor(DType::U8, {m, k}, 11, 0, 255);
  Tensor b = randomTensor(DType::I8, {k, n}, 12, -128, 127);
  Tensor az = randomTensor(DType::U8, {m}, 13, 0, 255);
  Tensor bz = randomTensor(DType::I8, {n}, 14, -128, 127);
  std::vector<int32_t> want(m * n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t s = 0;
      for (int64_t kk = 0; kk < k; ++kk)
        s += (int64_t(a.data<uint8_t>()[i * k + kk]) - az.data<uint8_t>()[i]) *
             (int64_t(b.data<int8_t>()[kk * n + j]) - bz.data<int8_t>()[j]);
      want[i * n + j] = wrap32(s);
    }
  Tensor first;
  for (bool baseline : {false, true})
    for (unsigned t : {1u, 3u}) {
      SCOPED_TRACE(::testing::Message()
                   << "baseline " << baseline << " threads " << t);
      BaselineIsaGuard isa(baseline);
      setNumThreads(t);
      Tensor y = ok(matmulInteger(a, b, &az, &bz));
      EXPECT_EQ(vals<int32_t>(y), want);
      if (!first.valid() || first.numElements() == 0)
        first = y;
      else
        EXPECT_TRUE(sameBits(first, y));
    }
}

TEST(KernelsEdge, ConvIntegerLongReductionBothIsas) {
  // K = 64 * 3 * 3 = 576 spans two K blocks; per-channel filter zero points,
  // asymmetric padding.
  const int64_t n = 2, c = 64, h = 6, w = 5, o = 9, kh = 3, kw = 3;
  const int64_t pt = 1, pl = 0, pb = 1, pr = 2;
  Tensor x = randomTensor(DType::U8, {n, c, h, w}, 21, 0, 255);
  Tensor wt = randomTensor(DType::I8, {o, c, kh, kw}, 22, -128, 127);
  Tensor xz = make<uint8_t>({}, {131});
  Tensor wz = randomTensor(DType::I8, {o}, 23, -128, 127);
  const int64_t oh = h + pt + pb - kh + 1, ow = w + pl + pr - kw + 1;
  std::vector<int32_t> want;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oc = 0; oc < o; ++oc)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t xo = 0; xo < ow; ++xo) {
          int64_t s = 0;
          for (int64_t ci = 0; ci < c; ++ci)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                int64_t iy = y - pt + i, ix = xo - pl + j;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                  continue; // padding holds the zero point: contributes 0
                int64_t xv =
                    int64_t(
                        x.data<uint8_t>()[((b * c + ci) * h + iy) * w + ix]) -
                    131;
                int64_t wv =
                    int64_t(
                        wt.data<int8_t>()[((oc * c + ci) * kh + i) * kw + j]) -
                    wz.data<int8_t>()[oc];
                s += xv * wv;
              }
          want.push_back(wrap32(s));
        }
  Conv2DOptions opts;
  opts.pads = {pt, pl, pb, pr};
  for (bool baseline : {false, true}) {
    BaselineIsaGuard isa(baseline);
    Tensor y = ok(convInteger(x, wt, &xz, &wz, opts));
    EXPECT_EQ(y.shape(), (std::vector<int64_t>{n, o, oh, ow}));
    EXPECT_EQ(vals<int32_t>(y), want) << "baseline " << baseline;
  }
}

//===----------------------------------------------------------------------===//
// Quantization contract corners
//===----------------------------------------------------------------------===//

TEST(KernelsEdge, PerTensorQuantizationOfLargeTensors) {
  ThreadsGuard threads;
  // Large enough to be split across threads.
  Tensor x = randomTensor(DType::F32, {300, 401}, 31, -40, 40);
  Tensor scale = make<float>({}, {0.3f});
  Tensor zp = make<int8_t>({}, {-7});
  std::vector<int8_t> want(x.numElements());
  for (int64_t i = 0; i < x.numElements(); ++i) {
    float r = std::nearbyint(x.data<float>()[i] / 0.3f);
    want[i] = static_cast<int8_t>(
        std::clamp<int64_t>(static_cast<int64_t>(r) - 7, -128, 127));
  }
  Tensor y1, y3;
  setNumThreads(1);
  y1 = ok(quantizeLinear(x, scale, &zp, 0, 0, DType::I8));
  setNumThreads(3);
  y3 = ok(quantizeLinear(x, scale, &zp, 0, 0, DType::I8));
  EXPECT_EQ(vals<int8_t>(y1), want);
  EXPECT_TRUE(sameBits(y1, y3));
  Tensor d = ok(dequantizeLinear(y3, scale, &zp, 0, 0));
  for (int64_t i = 0; i < d.numElements(); ++i)
    ASSERT_EQ(d.data<float>()[i], float(int64_t(want[i]) + 7) * 0.3f) << i;
  // Requantize takes the same path.
  Tensor acc = randomTensor(DType::I32, {300, 401}, 32, -100000, 100000);
  Tensor mult = make<float>({}, {0.0013f});
  Tensor r = ok(requantize(acc, mult, nullptr, 0, DType::I8));
  for (int64_t i = 0; i < acc.numElements(); ++i) {
    float v = static_cast<float>(acc.data<int32_t>()[i]) * 0.0013f;
    int64_t q = std::clamp<int64_t>(int64_t(std::nearbyint(v)), -128, 127);
    ASSERT_EQ(r.data<int8_t>()[i], q) << i;
  }
}

TEST(KernelsEdge, QuantizeF64InputRoundsToF32First) {
  // 2.5000000001 is 2.5f in f32 (a tie -> 2); computed in double it would
  // round to 3.
  Tensor x = make<double>({2}, {2.5000000001, -3.4999999999});
  EXPECT_EQ(vals<int8_t>(ok(quantizeLinear(x, make<float>({}, {1.0f}), nullptr,
                                           0, 0, DType::I8))),
            (std::vector<int8_t>{2, -4}));
}

TEST(KernelsEdge, DequantizeDifferenceIsExact) {
  // q - zp = 2^32 - 1 exactly in 64 bits, then rounded once to f32 (2^32).
  Tensor q =
      make<int32_t>({2}, {std::numeric_limits<int32_t>::max(), 16777217});
  Tensor zp = make<int32_t>({}, {std::numeric_limits<int32_t>::min()});
  std::vector<float> y =
      vals<float>(ok(dequantizeLinear(q, make<float>({}, {1.0f}), &zp, 0, 0)));
  ASSERT_EQ(y.size(), 2u);
  EXPECT_EQ(y[0], 4294967296.0f);
  EXPECT_EQ(y[1], static_cast<float>(16777217.0 + 2147483648.0));
}

TEST(KernelsEdge, QuantizeNaNGivesSaturatedZeroPoint) {
  Tensor zp = make<int8_t>({}, {100});
  EXPECT_EQ(vals<int8_t>(ok(quantizeLinear(make<float>({2}, {kNaN, 1.0f}),
                                           make<float>({}, {1.0f}), &zp, 0, 0,
                                           DType::I8, -8, 7))),
            (std::vector<int8_t>{7, 7}));
}

TEST(KernelsEdge, DynamicQuantizeZeroPointTiesAndUnusableRanges) {
  auto check = [](std::vector<float> x, std::vector<uint8_t> y, float scale,
                  uint8_t zp) {
    SCOPED_TRACE(::testing::Message() << "x[0] = " << x[0]);
    int64_t n = static_cast<int64_t>(x.size());
    DynamicQuantized r = ok(dynamicQuantizeLinear(make<float>({n}, x)));
    EXPECT_EQ(vals<uint8_t>(r.y), y);
    std::vector<float> s = vals<float>(r.scale);
    ASSERT_EQ(s.size(), 1u);
    uint32_t got, want;
    std::memcpy(&got, &s[0], 4);
    std::memcpy(&want, &scale, 4);
    EXPECT_EQ(got, want) << s[0] << " vs " << scale;
    EXPECT_EQ(vals<uint8_t>(r.zeroPoint), std::vector<uint8_t>{zp});
  };
  // Range [-0.5, 254.5]: scale 1, zero point nearbyint(0.5) = 0 (not 1).
  check({-0.5f, 254.5f, 1.5f}, {0, 254, 2}, 1.0f, 0);
  // Range [-1.5, 253.5]: zero point nearbyint(1.5) = 2.
  check({-1.5f, 253.5f, 2.5f}, {0, 255, 4}, 1.0f, 2);
  // A range whose scale underflows to 0, and one beyond the f32 range.
  err(dynamicQuantizeLinear(make<float>({1}, {1e-45f})));
  err(dynamicQuantizeLinear(make<float>({2}, {-3e38f, 3e38f})));
}

} // namespace
