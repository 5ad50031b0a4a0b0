//===- TensorTest.cpp - Tests for qopt::Tensor and dtype conversions ------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#include "qopt/support/Tensor.h"

#include "llvm/ADT/bit.h"

#include "gtest/gtest.h"

#include <cmath>
#include <limits>

using namespace qopt;

namespace {

const DType kAllDTypes[] = {DType::F32, DType::F64, DType::F16, DType::BF16,
                            DType::I8,  DType::U8,  DType::I16, DType::U16,
                            DType::I32, DType::U32, DType::I64, DType::U64,
                            DType::Bool};

bool isAligned(const void *p) {
  return reinterpret_cast<uintptr_t>(p) % kTensorAlignment == 0;
}

//===----------------------------------------------------------------------===//
// DType helpers and shapes
//===----------------------------------------------------------------------===//

TEST(DTypeTest, NamesRoundTrip) {
  for (DType t : kAllDTypes) {
    std::optional<DType> parsed = parseDType(dtypeName(t));
    ASSERT_TRUE(parsed.has_value()) << dtypeName(t);
    EXPECT_EQ(*parsed, t);
  }
  EXPECT_FALSE(parseDType("float32").has_value());
  EXPECT_FALSE(parseDType("").has_value());
  EXPECT_STREQ(dtypeName(DType::BF16), "bf16");
  EXPECT_STREQ(dtypeName(DType::Bool), "bool");
}

TEST(DTypeTest, SizesAndClasses) {
  EXPECT_EQ(dtypeSize(DType::F64), 8u);
  EXPECT_EQ(dtypeSize(DType::F32), 4u);
  EXPECT_EQ(dtypeSize(DType::F16), 2u);
  EXPECT_EQ(dtypeSize(DType::BF16), 2u);
  EXPECT_EQ(dtypeSize(DType::U64), 8u);
  EXPECT_EQ(dtypeSize(DType::Bool), 1u);
  int floats = 0, signedInts = 0, unsignedInts = 0;
  for (DType t : kAllDTypes) {
    floats += isFloat(t);
    signedInts += isSignedInt(t);
    unsignedInts += isUnsignedInt(t);
    EXPECT_LE(isFloat(t) + isSignedInt(t) + isUnsignedInt(t), 1)
        << dtypeName(t);
  }
  EXPECT_EQ(floats, 4);
  EXPECT_EQ(signedInts, 4);
  EXPECT_EQ(unsignedInts, 4);
  EXPECT_FALSE(isInteger(DType::Bool));
  EXPECT_FALSE(isFloat(DType::Bool));
  EXPECT_TRUE(isInteger(DType::U8));
}

TEST(ShapeTest, CheckedNumElements) {
  constexpr int64_t big = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(checkedNumElements({}), 1);
  EXPECT_EQ(checkedNumElements({2, 3, 4}), 24);
  EXPECT_EQ(checkedNumElements({0, 5}), 0);
  EXPECT_EQ(checkedNumElements({big}), big);
  EXPECT_EQ(checkedNumElements({big, 1}), big);
  EXPECT_EQ(checkedNumElements({0, big, big}), 0);
  EXPECT_FALSE(checkedNumElements({-1}).has_value());
  EXPECT_FALSE(checkedNumElements({0, -3}).has_value());
  EXPECT_FALSE(checkedNumElements({big, 2}).has_value());
  EXPECT_FALSE(
      checkedNumElements({int64_t(1) << 32, int64_t(1) << 32}).has_value());
  EXPECT_EQ(checkedNumElements({int64_t(1) << 31, int64_t(1) << 31}),
            int64_t(1) << 62);
}

TEST(ShapeTest, RowMajorStrides) {
  EXPECT_EQ(rowMajorStrides({}), std::vector<int64_t>{});
  EXPECT_EQ(rowMajorStrides({5}), std::vector<int64_t>{1});
  EXPECT_EQ(rowMajorStrides({2, 3, 4}), (std::vector<int64_t>{12, 4, 1}));
}

//===----------------------------------------------------------------------===//
// Storage
//===----------------------------------------------------------------------===//

TEST(TensorTest, ConstructZeroFilledAndAligned) {
  for (DType t : kAllDTypes) {
    Tensor x(t, {3, 5});
    EXPECT_TRUE(x.valid());
    EXPECT_EQ(x.numElements(), 15);
    EXPECT_EQ(x.byteSize(), 15 * dtypeSize(t));
    EXPECT_EQ(x.rank(), 2);
    EXPECT_EQ(x.dim(1), 5);
    ASSERT_NE(x.rawData(), nullptr);
    EXPECT_TRUE(isAligned(x.rawData()));
    for (int64_t i = 0; i < x.numElements(); ++i)
      EXPECT_EQ(x.getAsDouble(i), 0.0);
  }
  Tensor scalar(DType::F32, {});
  EXPECT_EQ(scalar.numElements(), 1);
  EXPECT_EQ(scalar.describe(), "f32[]");
  Tensor empty(DType::I8, {0, 7});
  EXPECT_EQ(empty.numElements(), 0);
  EXPECT_TRUE(empty.valid());
  EXPECT_EQ(empty.describe(), "i8[0x7]");
  EXPECT_EQ(Tensor(DType::BF16, {2, 3}).describe(), "bf16[2x3]");
  Tensor def;
  EXPECT_TRUE(def.valid());
  EXPECT_EQ(def.numElements(), 0);
}

TEST(TensorTest, CopiesShareAndCopyOnWrite) {
  Tensor a(DType::F32, {4});
  float *pa = a.mutableData<float>();
  EXPECT_EQ(pa, a.data<float>()) << "unique owner must not copy";
  pa[0] = 1.5f;
  Tensor b = a;
  EXPECT_EQ(b.rawData(), a.rawData());
  float *pb = b.mutableData<float>();
  EXPECT_NE(static_cast<const void *>(pb), a.rawData());
  EXPECT_TRUE(isAligned(pb));
  pb[0] = 7.0f;
  EXPECT_EQ(a.data<float>()[0], 1.5f);
  EXPECT_EQ(b.data<float>()[0], 7.0f);
  // `a` is unique again after `b` detached.
  const void *before = a.rawData();
  EXPECT_EQ(a.mutableRawData(), before);
}

TEST(TensorTest, BorrowKeepsOwnerAliveAndCopiesOnWrite) {
  auto owner = std::make_shared<std::vector<int32_t>>(
      std::vector<int32_t>{1, 2, 3, 4, 5, 6});
  std::weak_ptr<std::vector<int32_t>> weak = owner;
  const int32_t *raw = owner->data();
  Tensor t = Tensor::borrow(DType::I32, {2, 3}, raw, owner);
  owner.reset();
  EXPECT_FALSE(weak.expired()) << "the tensor must keep its owner alive";
  EXPECT_EQ(t.rawData(), raw);
  EXPECT_TRUE(t.valid());
  EXPECT_EQ(t.getAsDouble(5), 6.0);
  {
    Tensor shared = t;
    int32_t *w = shared.mutableData<int32_t>();
    EXPECT_NE(static_cast<const void *>(w), static_cast<const void *>(raw));
    w[0] = 100;
    EXPECT_EQ(raw[0], 1) << "borrowed memory must never be written";
  }
  std::shared_ptr<std::vector<int32_t>> check = weak.lock();
  t.setFromDouble(1, 42.0);
  EXPECT_EQ(raw[1], 2);
  EXPECT_EQ(t.getAsDouble(1), 42.0);
  check.reset();
  EXPECT_TRUE(weak.expired()) << "owner released once nobody borrows it";

  int16_t stackData[2] = {3, 4};
  Tensor unowned = Tensor::borrow(DType::I16, {2}, stackData, nullptr);
  EXPECT_TRUE(unowned.valid());
  EXPECT_EQ(unowned.getAsDouble(1), 4.0);
}

TEST(TensorTest, ReshapedSharesCloneCopies) {
  Tensor a(DType::I16, {2, 3});
  for (int64_t i = 0; i < 6; ++i)
    a.setFromDouble(i, static_cast<double>(i));
  Tensor r = a.reshaped({3, 2});
  EXPECT_EQ(r.rawData(), a.rawData());
  EXPECT_EQ(r.shape(), (std::vector<int64_t>{3, 2}));
  Tensor c = a.clone();
  EXPECT_NE(c.rawData(), a.rawData());
  EXPECT_TRUE(isAligned(c.rawData()));
  EXPECT_EQ(c.shape(), a.shape());
  EXPECT_EQ(std::memcmp(c.rawData(), a.rawData(), a.byteSize()), 0);
  // The clone is uniquely owned: writing it must not copy again.
  const void *p = c.rawData();
  EXPECT_EQ(c.mutableRawData(), p);
  // Writing through the reshaped view detaches it.
  r.setFromDouble(0, 9.0);
  EXPECT_EQ(a.getAsDouble(0), 0.0);
  EXPECT_EQ(r.getAsDouble(0), 9.0);
}

//===----------------------------------------------------------------------===//
// Element access
//===----------------------------------------------------------------------===//

TEST(TensorTest, GetSetEveryDType) {
  const double values[] = {0.0, 1.0, 2.0, 100.0, 5.0};
  for (DType t : kAllDTypes) {
    Tensor x(t, {5});
    for (int64_t i = 0; i < 5; ++i)
      x.setFromDouble(i, t == DType::Bool ? (i % 2) : values[i]);
    for (int64_t i = 0; i < 5; ++i)
      EXPECT_EQ(x.getAsDouble(i), t == DType::Bool ? (i % 2) : values[i])
          << dtypeName(t) << " element " << i;
  }
  Tensor f(DType::F32, {1});
  f.setFromDouble(0, 0.1);
  EXPECT_EQ(f.getAsDouble(0), static_cast<double>(0.1f));
  Tensor h(DType::F16, {1});
  h.setFromDouble(0, 0.1);
  EXPECT_EQ(static_cast<const uint16_t *>(h.rawData())[0], 0x2e66);
  Tensor b(DType::BF16, {1});
  b.setFromDouble(0, -2.5);
  EXPECT_EQ(static_cast<const uint16_t *>(b.rawData())[0], 0xc020);
  EXPECT_EQ(b.getAsDouble(0), -2.5);
}

TEST(TensorTest, IntegerConversionsTruncateAndPinUndefinedCases) {
  Tensor i8(DType::I8, {1});
  auto setI8 = [&](double v) {
    i8.setFromDouble(0, v);
    return i8.getAsDouble(0);
  };
  EXPECT_EQ(setI8(2.7), 2.0);
  EXPECT_EQ(setI8(-2.7), -2.0);
  EXPECT_EQ(setI8(-128.9), -128.0);
  EXPECT_EQ(setI8(127.9), 127.0);
  EXPECT_EQ(setI8(300.0), 127.0);
  EXPECT_EQ(setI8(-1e30), -128.0);
  EXPECT_EQ(setI8(std::nan("")), 0.0);

  Tensor u8(DType::U8, {1});
  u8.setFromDouble(0, -0.5);
  EXPECT_EQ(u8.getAsDouble(0), 0.0);
  u8.setFromDouble(0, -5.0);
  EXPECT_EQ(u8.getAsDouble(0), 0.0);
  u8.setFromDouble(0, 255.5);
  EXPECT_EQ(u8.getAsDouble(0), 255.0);
  u8.setFromDouble(0, 1e9);
  EXPECT_EQ(u8.getAsDouble(0), 255.0);

  Tensor i64(DType::I64, {1});
  i64.setFromDouble(0, 1e300);
  EXPECT_EQ(i64.data<int64_t>()[0], std::numeric_limits<int64_t>::max());
  i64.setFromDouble(0, -9007199254740993.0);
  EXPECT_EQ(i64.data<int64_t>()[0], -9007199254740992);
  Tensor u64(DType::U64, {1});
  u64.setFromDouble(0, 18446744073709549568.0); // largest double < 2^64
  EXPECT_EQ(u64.data<uint64_t>()[0], 18446744073709549568ull);
  u64.setFromDouble(0, 18446744073709551616.0); // 2^64
  EXPECT_EQ(u64.data<uint64_t>()[0], std::numeric_limits<uint64_t>::max());

  Tensor bl(DType::Bool, {3});
  bl.setFromDouble(0, 0.5);
  bl.setFromDouble(1, -0.0);
  bl.setFromDouble(2, std::nan(""));
  EXPECT_EQ(static_cast<const uint8_t *>(bl.rawData())[0], 1);
  EXPECT_EQ(static_cast<const uint8_t *>(bl.rawData())[1], 0);
  EXPECT_EQ(static_cast<const uint8_t *>(bl.rawData())[2], 1);
}

//===----------------------------------------------------------------------===//
// Half / bfloat16
//===----------------------------------------------------------------------===//

float bitsToFloat(uint32_t b) { return llvm::bit_cast<float>(b); }

TEST(HalfTest, SpecialValues) {
  EXPECT_EQ(floatToHalf(0.0f), 0x0000);
  EXPECT_EQ(floatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(floatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(floatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(floatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(floatToHalf(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(floatToHalf(-std::numeric_limits<float>::infinity()), 0xfc00);
  uint16_t nan = floatToHalf(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x03ff, 0);
  // A signaling NaN whose payload lives only in the low bits stays a NaN.
  uint16_t snan = floatToHalf(bitsToFloat(0xff800001u));
  EXPECT_EQ(snan & 0xfc00, 0xfc00);
  EXPECT_NE(snan & 0x03ff, 0);

  EXPECT_EQ(halfToFloat(0x3c00), 1.0f);
  EXPECT_EQ(halfToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(halfToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(halfToFloat(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_EQ(halfToFloat(0x0400), std::ldexp(1.0f, -14));
  EXPECT_EQ(halfToFloat(0x8001), -std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isinf(halfToFloat(0x7c00)));
  EXPECT_TRUE(std::isnan(halfToFloat(0x7e00)));
  EXPECT_TRUE(std::isnan(halfToFloat(0xfc01)));
  EXPECT_TRUE(std::signbit(halfToFloat(0x8000)));
}

TEST(HalfTest, RoundToNearestEven) {
  // Overflow: 65520 is halfway between 65504 and 65536 (= inf) -> even = inf.
  EXPECT_EQ(floatToHalf(65519.0f), 0x7bff);
  EXPECT_EQ(floatToHalf(65520.0f), 0x7c00);
  EXPECT_EQ(floatToHalf(1e10f), 0x7c00);
  EXPECT_EQ(floatToHalf(-1e10f), 0xfc00);
  // Ties between 1 and 1+2^-10.
  EXPECT_EQ(floatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(floatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(floatToHalf(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)),
            0x3c01);
  // Rounding carries into the exponent.
  EXPECT_EQ(floatToHalf(2.0f - std::ldexp(1.0f, -12)), 0x4000);
  // Subnormals.
  EXPECT_EQ(floatToHalf(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(floatToHalf(std::ldexp(1.0f, -25)), 0x0000); // tie -> even 0
  EXPECT_EQ(floatToHalf(std::ldexp(1.0f, -25) * 1.0001f), 0x0001);
  EXPECT_EQ(floatToHalf(std::ldexp(3.0f, -25)), 0x0002); // tie -> even 2
  EXPECT_EQ(floatToHalf(std::ldexp(5.0f, -25)), 0x0002); // tie -> even 2
  EXPECT_EQ(floatToHalf(-std::ldexp(1.0f, -26)), 0x8000);
  EXPECT_EQ(floatToHalf(std::numeric_limits<float>::denorm_min()), 0x0000);
  // Largest subnormal rounds up into the smallest normal.
  EXPECT_EQ(floatToHalf(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -26)), 0x0400);
  EXPECT_EQ(floatToHalf(std::ldexp(1023.0f, -24)), 0x03ff);
}

TEST(HalfTest, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    float f = halfToFloat(static_cast<uint16_t>(h));
    uint16_t back = floatToHalf(f);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(halfToFloat(back))) << std::hex << h;
      EXPECT_EQ(back & 0x8000, h & 0x8000);
    } else {
      ASSERT_EQ(back, h) << std::hex << h;
      ASSERT_EQ(doubleToHalf(static_cast<double>(f)), h) << std::hex << h;
    }
  }
}

TEST(HalfTest, DoubleNarrowsOnce) {
  // Just above the tie between 1 and 1+2^-10: float rounding would land on
  // the tie and then round to even (down); a single rounding goes up.
  double d = 1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40);
  EXPECT_EQ(floatToHalf(static_cast<float>(d)), 0x3c00);
  EXPECT_EQ(doubleToHalf(d), 0x3c01);
  EXPECT_EQ(doubleToHalf(1e-300), 0x0000);
  EXPECT_EQ(doubleToHalf(-1e300), 0xfc00);
  EXPECT_EQ(doubleToHalf(std::numeric_limits<double>::denorm_min()), 0x0000);
  EXPECT_TRUE(std::isnan(halfToFloat(doubleToHalf(std::nan("")))));
}

#if defined(__FLT16_MAX__)
TEST(HalfTest, MatchesCompilerFloat16) {
  // Compare against the compiler's _Float16 (IEEE round to nearest even) on
  // a spread of float bit patterns.
  for (uint64_t b = 0; b <= 0xffffffffull; b += 9973) {
    float f = bitsToFloat(static_cast<uint32_t>(b));
    if (std::isnan(f))
      continue;
    _Float16 ref = static_cast<_Float16>(f);
    uint16_t refBits;
    std::memcpy(&refBits, &ref, 2);
    ASSERT_EQ(floatToHalf(f), refBits) << std::hex << b;
    double d = static_cast<double>(f) * (1.0 + std::ldexp(1.0, -30));
    _Float16 refD = static_cast<_Float16>(d);
    std::memcpy(&refBits, &refD, 2);
    ASSERT_EQ(doubleToHalf(d), refBits) << std::hex << b;
  }
}
#endif

TEST(BF16Test, SpecialValuesAndRounding) {
  EXPECT_EQ(floatToBf16(0.0f), 0x0000);
  EXPECT_EQ(floatToBf16(-0.0f), 0x8000);
  EXPECT_EQ(floatToBf16(1.0f), 0x3f80);
  EXPECT_EQ(floatToBf16(-2.5f), 0xc020);
  EXPECT_EQ(floatToBf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80); // tie -> even
  EXPECT_EQ(floatToBf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_EQ(floatToBf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)),
            0x3f81);
  EXPECT_EQ(floatToBf16(std::numeric_limits<float>::max()), 0x7f80);
  EXPECT_EQ(floatToBf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(floatToBf16(-std::numeric_limits<float>::infinity()), 0xff80);
  // Signaling NaN with only low payload bits must not become infinity.
  uint16_t snan = floatToBf16(bitsToFloat(0x7f800001u));
  EXPECT_EQ(snan & 0x7f80, 0x7f80);
  EXPECT_NE(snan & 0x007f, 0);
  EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBf16(-std::nanf("")))));
  // Subnormals.
  EXPECT_EQ(floatToBf16(std::ldexp(1.0f, -133)), 0x0001);
  EXPECT_EQ(floatToBf16(std::ldexp(1.0f, -134)), 0x0000); // tie -> even
  EXPECT_EQ(floatToBf16(std::ldexp(3.0f, -134)), 0x0002); // tie -> even
  EXPECT_EQ(bf16ToFloat(0x0001), std::ldexp(1.0f, -133));
  EXPECT_EQ(bf16ToFloat(0x3f80), 1.0f);
  EXPECT_EQ(bf16ToFloat(0xc020), -2.5f);
}

TEST(BF16Test, EveryBf16RoundTripsAndDoubleAgrees) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    float f = bf16ToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBf16(f))));
      EXPECT_TRUE(std::isnan(bf16ToFloat(doubleToBf16(f))));
      continue;
    }
    ASSERT_EQ(floatToBf16(f), h) << std::hex << h;
    ASSERT_EQ(doubleToBf16(f), h) << std::hex << h;
  }
  // On floats the fast path and the generic double path agree.
  for (uint64_t b = 0; b <= 0xffffffffull; b += 7919) {
    float f = bitsToFloat(static_cast<uint32_t>(b));
    if (std::isnan(f))
      continue;
    ASSERT_EQ(floatToBf16(f), doubleToBf16(static_cast<double>(f)))
        << std::hex << b;
  }
}

} // namespace
