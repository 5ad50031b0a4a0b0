//===- QuantUtilsTest.cpp - sub-byte packing, per-token, weight quant -----===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#include "qopt/executor/Kernels.h"
#include "qopt/passes/QuantUtils.h"
#include "qopt/support/Tensor.h"

#include "gtest/gtest.h"

#include <cmath>
#include <random>

using namespace qopt;

namespace {

Tensor fromVector(DType dt, std::vector<int64_t> shape,
                  const std::vector<double> &v) {
  Tensor t(dt, std::move(shape));
  for (size_t i = 0; i < v.size(); ++i)
    t.setFromDouble(static_cast<int64_t>(i), v[i]);
  return t;
}

//===----------------------------------------------------------------------===//
// Sub-byte packing
//===----------------------------------------------------------------------===//

TEST(SubByteTest, FourBitLayoutIsLowNibbleFirst) {
  Tensor t = fromVector(DType::I8, {3}, {1, -1, 7});
  std::vector<uint8_t> p = packSubByte(t, 4);
  ASSERT_EQ(p.size(), 2u); // odd count: the last byte is padded
  EXPECT_EQ(p[0], 0xF1);
  EXPECT_EQ(p[1], 0x07);
}

TEST(SubByteTest, RoundTripsEverySignedAndUnsignedValue) {
  for (unsigned bits : {2u, 4u}) {
    for (bool isSigned : {true, false}) {
      int lo = isSigned ? -(1 << (bits - 1)) : 0;
      int hi = isSigned ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
      std::vector<double> vals;
      for (int rep = 0; rep < 3; ++rep) // odd total, crosses byte borders
        for (int v = lo; v <= hi; ++v)
          vals.push_back(v);
      vals.push_back(lo);
      DType dt = isSigned ? DType::I8 : DType::U8;
      Tensor t = fromVector(dt, {static_cast<int64_t>(vals.size())}, vals);
      std::vector<uint8_t> p = packSubByte(t, bits);
      EXPECT_EQ(p.size(), packedByteSize(t.numElements(), bits));
      Tensor u = unpackSubByte(p.data(), p.size(), bits, isSigned, t.shape());
      ASSERT_EQ(u.dtype(), dt);
      for (int64_t i = 0; i < t.numElements(); ++i)
        EXPECT_EQ(u.getAsDouble(i), vals[i]) << bits << " bits, i=" << i;
    }
  }
}

//===----------------------------------------------------------------------===//
// Per-token dynamic quantization
//===----------------------------------------------------------------------===//

TEST(PerTokenTest, OneSymmetricScalePerRow) {
  Tensor x = fromVector(DType::F32, {2, 2, 3},
                        {1.0, -2.0, 0.5, 0, 0, 0, 127, 63.5, -127, 3, 1.5, -0.75});
  auto r = kernels::dynamicQuantizePerToken(x);
  ASSERT_TRUE(static_cast<bool>(r)) << llvm::toString(r.takeError());
  EXPECT_EQ(r->scale.shape(), (std::vector<int64_t>{2, 2, 1}));
  EXPECT_EQ(r->zeroPoint.shape(), (std::vector<int64_t>{2, 2, 1}));
  EXPECT_EQ(r->y.dtype(), DType::I8);
  const float *s = r->scale.data<float>();
  EXPECT_FLOAT_EQ(s[0], 2.0f / 127.0f);
  EXPECT_EQ(s[1], 1.0f); // all-zero row
  EXPECT_EQ(s[2], 1.0f);
  EXPECT_FLOAT_EQ(s[3], 3.0f / 127.0f);
  const int8_t *y = r->y.data<int8_t>();
  // Row 0: 1 / f32(2/127) is just below 63.5 in f32, so compare with the
  // same f32 arithmetic.
  float q0 = std::nearbyint(1.0f / (2.0f / 127.0f));
  EXPECT_EQ(y[0], static_cast<int8_t>(q0));
  EXPECT_EQ(y[1], -127);
  EXPECT_EQ(y[3], 0);
  EXPECT_EQ(y[6], 127);
  EXPECT_EQ(y[7], 64); // 63.5 rounds half to even
  EXPECT_EQ(y[8], -127);
  for (int64_t i = 0; i < 4; ++i)
    EXPECT_EQ(r->zeroPoint.data<int8_t>()[i], 0);
  // Dequantizing with the blocked form gives back x within half a step.
  auto back = kernels::dequantizeLinear(r->y, r->scale, &r->zeroPoint, 2, 3);
  ASSERT_TRUE(static_cast<bool>(back)) << llvm::toString(back.takeError());
  for (int64_t i = 0; i < x.numElements(); ++i)
    EXPECT_NEAR(back->data<float>()[i], x.data<float>()[i],
                0.5 * s[i / 3] + 1e-6);
}

TEST(PerTokenTest, RejectsNonFinite) {
  Tensor x = fromVector(DType::F32, {1, 2}, {1.0, NAN});
  auto r = kernels::dynamicQuantizePerToken(x);
  ASSERT_FALSE(static_cast<bool>(r));
  EXPECT_NE(llvm::toString(r.takeError()).find("not finite"), std::string::npos);
}

//===----------------------------------------------------------------------===//
// Weight quantization
//===----------------------------------------------------------------------===//

TEST(QuantizeWeightTest, RaggedGroupsMatchAReferenceLoop) {
  // [K=10, N=3] with groups of 4 along K: 4, 4, 2.
  std::mt19937 gen(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  Tensor w(DType::F32, {10, 3});
  for (int64_t i = 0; i < w.numElements(); ++i)
    w.mutableData<float>()[i] = dist(gen);
  for (bool sym : {true, false}) {
    WeightScheme s{4, 4, sym, false};
    auto q = quantizeWeight(w, WeightSite{1, 1, 0}, s);
    ASSERT_TRUE(static_cast<bool>(q)) << llvm::toString(q.takeError());
    EXPECT_EQ(q->scale.shape(), (std::vector<int64_t>{3, 3}));
    EXPECT_EQ(q->blockSize, 4);
    EXPECT_EQ(q->axis, 0);
    auto dq = dequantizeWeight(*q);
    ASSERT_TRUE(static_cast<bool>(dq));
    for (int64_t g = 0; g < 3; ++g) {
      for (int64_t n = 0; n < 3; ++n) {
        float lo = 0, hi = 0;
        for (int64_t k = g * 4; k < std::min<int64_t>(10, g * 4 + 4); ++k) {
          lo = std::min(lo, w.data<float>()[k * 3 + n]);
          hi = std::max(hi, w.data<float>()[k * 3 + n]);
        }
        float scale = sym ? std::max(-lo, hi) / 7.0f : (hi - lo) / 15.0f;
        EXPECT_FLOAT_EQ(q->scale.data<float>()[g * 3 + n], scale);
        for (int64_t k = g * 4; k < std::min<int64_t>(10, g * 4 + 4); ++k) {
          float x = w.data<float>()[k * 3 + n];
          // Round-to-nearest: the error is at most half a step.
          EXPECT_LE(std::fabs(dq->data<float>()[k * 3 + n] - x),
                    0.5f * scale * (1 + 1e-5f));
          int64_t v = static_cast<int64_t>(q->values.getAsDouble(k * 3 + n));
          EXPECT_GE(v, sym ? -7 : 0);
          EXPECT_LE(v, sym ? 7 : 15);
        }
      }
    }
  }
}

TEST(QuantizeWeightTest, ZeroChannelsAndClipSearch) {
  // Channel 0 all zeros (scale 1); channel 1 one outlier that clipping
  // trades off against the rest.
  std::vector<double> v;
  for (int k = 0; k < 64; ++k) {
    v.push_back(0.0);
    v.push_back(k == 0 ? 8.0 : 0.01 * (k % 7) - 0.03);
  }
  Tensor w = fromVector(DType::F32, {64, 2}, v);
  auto plain = quantizeWeight(w, WeightSite{1, 1, 0}, WeightScheme{4, 0, true, false});
  auto clipped = quantizeWeight(w, WeightSite{1, 1, 0}, WeightScheme{4, 0, true, true});
  ASSERT_TRUE(plain && clipped);
  EXPECT_EQ(plain->scale.data<float>()[0], 1.0f);
  for (int k = 0; k < 64; ++k)
    EXPECT_EQ(plain->values.getAsDouble(k * 2), 0.0);
  auto err = [&](const QuantizedWeight &q) {
    auto d = dequantizeWeight(q);
    double e = 0;
    for (int64_t i = 0; i < w.numElements(); ++i)
      e += std::pow(d->data<float>()[i] - w.data<float>()[i], 2);
    return e;
  };
  EXPECT_LE(err(*clipped), err(*plain));
  EXPECT_LE(clipped->scale.data<float>()[1], plain->scale.data<float>()[1]);
}

TEST(QuantizeWeightTest, RejectsBadInput) {
  Tensor w = fromVector(DType::F32, {2, 2}, {1, 2, 3, INFINITY});
  auto q = quantizeWeight(w, WeightSite{1, 1, 0}, WeightScheme{});
  ASSERT_FALSE(static_cast<bool>(q));
  EXPECT_NE(llvm::toString(q.takeError()).find("not finite"), std::string::npos);
  Tensor ok = fromVector(DType::F32, {2, 2}, {1, 2, 3, 4});
  auto b = quantizeWeight(ok, WeightSite{1, 1, 0}, WeightScheme{9, 0, true, false});
  ASSERT_FALSE(static_cast<bool>(b));
  EXPECT_NE(llvm::toString(b.takeError()).find("2..8"), std::string::npos);
}

} // namespace
