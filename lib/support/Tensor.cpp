//===- Tensor.cpp - Runtime tensors for the reference executor ------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Storage management (aligned allocation, borrowing, copy-on-write), element
// access for every DType, and the IEEE half / bfloat16 conversions.
//
//===----------------------------------------------------------------------===//

#include "qopt/support/Tensor.h"

#include "llvm/ADT/bit.h"
#include "llvm/Support/ErrorHandling.h"

#include <cassert>
#include <cmath>
#include <limits>
#include <new>
#include <type_traits>

using namespace qopt;

//===----------------------------------------------------------------------===//
// DType helpers
//===----------------------------------------------------------------------===//

size_t qopt::dtypeSize(DType t) {
  switch (t) {
  case DType::F64:
  case DType::I64:
  case DType::U64:
    return 8;
  case DType::F32:
  case DType::I32:
  case DType::U32:
    return 4;
  case DType::F16:
  case DType::BF16:
  case DType::I16:
  case DType::U16:
    return 2;
  case DType::I8:
  case DType::U8:
  case DType::Bool:
    return 1;
  }
  llvm_unreachable("unknown DType");
}

const char *qopt::dtypeName(DType t) {
  switch (t) {
  case DType::F32:
    return "f32";
  case DType::F64:
    return "f64";
  case DType::F16:
    return "f16";
  case DType::BF16:
    return "bf16";
  case DType::I8:
    return "i8";
  case DType::U8:
    return "u8";
  case DType::I16:
    return "i16";
  case DType::U16:
    return "u16";
  case DType::I32:
    return "i32";
  case DType::U32:
    return "u32";
  case DType::I64:
    return "i64";
  case DType::U64:
    return "u64";
  case DType::Bool:
    return "bool";
  }
  llvm_unreachable("unknown DType");
}

std::optional<DType> qopt::parseDType(const std::string &name) {
  static constexpr DType all[] = {
      DType::F32, DType::F64, DType::F16, DType::BF16, DType::I8,
      DType::U8,  DType::I16, DType::U16, DType::I32,  DType::U32,
      DType::I64, DType::U64, DType::Bool};
  for (DType t : all)
    if (name == dtypeName(t))
      return t;
  return std::nullopt;
}

bool qopt::isFloat(DType t) {
  return t == DType::F32 || t == DType::F64 || t == DType::F16 ||
         t == DType::BF16;
}

bool qopt::isSignedInt(DType t) {
  return t == DType::I8 || t == DType::I16 || t == DType::I32 ||
         t == DType::I64;
}

bool qopt::isUnsignedInt(DType t) {
  return t == DType::U8 || t == DType::U16 || t == DType::U32 ||
         t == DType::U64;
}

//===----------------------------------------------------------------------===//
// Half / bfloat16 conversions
//===----------------------------------------------------------------------===//

namespace {

/// Rounds the binary floating-point value described by `bits` (a source format
/// with `SrcMant` mantissa bits and exponent bias `SrcBias`) to a narrow IEEE
/// format with `E` exponent bits and `M` mantissa bits, round to nearest even.
/// NaNs stay NaNs (quieted, keeping the sign and the top payload bits);
/// overflow goes to infinity; results below the narrow subnormal range
/// round to (signed) zero.
template <unsigned E, unsigned M, unsigned SrcMant, unsigned SrcExpBits>
uint16_t narrowFloat(uint64_t bits) {
  static_assert(E + M == 15, "narrow format must have 16 bits");
  constexpr int srcBias = (1 << (SrcExpBits - 1)) - 1;
  constexpr uint64_t srcMantMask = (uint64_t(1) << SrcMant) - 1;
  constexpr uint64_t srcExpMax = (uint64_t(1) << SrcExpBits) - 1;
  constexpr int bias = (1 << (E - 1)) - 1;
  constexpr uint16_t expMax = (1u << E) - 1;
  constexpr uint16_t mantMask = (1u << M) - 1;

  const uint16_t sign =
      static_cast<uint16_t>(((bits >> (SrcMant + SrcExpBits)) & 1u) << 15);
  const uint64_t srcExp = (bits >> SrcMant) & srcExpMax;
  uint64_t mant = bits & srcMantMask;

  if (srcExp == srcExpMax) {
    if (mant == 0) // infinity
      return sign | static_cast<uint16_t>(expMax << M);
    // NaN: keep the top payload bits and force the quiet bit.
    uint16_t payload = static_cast<uint16_t>(mant >> (SrcMant - M));
    return sign | static_cast<uint16_t>(expMax << M) | payload |
           static_cast<uint16_t>(1u << (M - 1));
  }
  if (srcExp == 0 && mant == 0)
    return sign; // signed zero

  // Significand with its leading one at bit SrcMant and unbiased exponent.
  int exp;
  uint64_t sig;
  if (srcExp == 0) {
    // Source subnormal: normalize.
    exp = 1 - srcBias;
    sig = mant;
    while (!(sig & (uint64_t(1) << SrcMant))) {
      sig <<= 1;
      --exp;
    }
  } else {
    exp = static_cast<int>(srcExp) - srcBias;
    sig = mant | (uint64_t(1) << SrcMant);
  }

  if (exp > bias) // beyond the largest finite exponent even before rounding
    return sign | static_cast<uint16_t>(expMax << M);

  // Number of low bits of `sig` that do not fit the narrow format.
  const bool subnormal = exp < 1 - bias;
  int shift = static_cast<int>(SrcMant) - static_cast<int>(M);
  if (subnormal)
    shift += (1 - bias) - exp;
  if (shift > static_cast<int>(SrcMant) + 1)
    return sign; // less than half of the smallest subnormal

  uint64_t q = sig >> shift;
  if (shift > 0) {
    uint64_t rem = sig & ((uint64_t(1) << shift) - 1);
    uint64_t half = uint64_t(1) << (shift - 1);
    if (rem > half || (rem == half && (q & 1)))
      ++q;
  }

  if (subnormal) {
    // q <= 1 << M; q == 1 << M is exactly the encoding of the smallest
    // normal number, so the bits can be used as they are.
    return sign | static_cast<uint16_t>(q);
  }
  if (q == (uint64_t(1) << (M + 1))) { // rounding carried into the exponent
    q >>= 1;
    ++exp;
  }
  int biased = exp + bias;
  if (biased >= expMax)
    return sign | static_cast<uint16_t>(expMax << M);
  return sign | static_cast<uint16_t>(biased << M) |
         static_cast<uint16_t>(q & mantMask);
}

} // namespace

float qopt::halfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13); // Inf or NaN, payload kept
  } else if (exp == 0) {
    if (mant == 0)
      return llvm::bit_cast<float>(sign);
    // Subnormal: mant * 2^-24, exact in float.
    float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  } else {
    bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  return llvm::bit_cast<float>(bits);
}

uint16_t qopt::floatToHalf(float f) {
  return narrowFloat<5, 10, 23, 8>(llvm::bit_cast<uint32_t>(f));
}

float qopt::bf16ToFloat(uint16_t h) {
  return llvm::bit_cast<float>(static_cast<uint32_t>(h) << 16);
}

uint16_t qopt::floatToBf16(float f) {
  uint32_t bits = llvm::bit_cast<uint32_t>(f);
  if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu))
    return static_cast<uint16_t>((bits >> 16) | 0x0040u); // quiet NaN
  // Round to nearest even on the 16 dropped bits; a carry into the exponent
  // is the correct result (including overflow to infinity).
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

uint16_t qopt::doubleToHalf(double d) {
  return narrowFloat<5, 10, 52, 11>(llvm::bit_cast<uint64_t>(d));
}

uint16_t qopt::doubleToBf16(double d) {
  return narrowFloat<8, 7, 52, 11>(llvm::bit_cast<uint64_t>(d));
}

//===----------------------------------------------------------------------===//
// Shapes and storage
//===----------------------------------------------------------------------===//

std::optional<int64_t>
qopt::checkedNumElements(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0)
      return std::nullopt;
    // Keep checking the remaining dims for negatives even once a dim is 0.
    if (n != 0 && d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      return std::nullopt;
    n *= d;
  }
  return n;
}

std::vector<int64_t> qopt::rowMajorStrides(const std::vector<int64_t> &shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i > 1; --i)
    strides[i - 2] = strides[i - 1] * shape[i - 1];
  return strides;
}

std::shared_ptr<void> qopt::allocateAlignedBuffer(size_t bytes, bool zeroFill) {
  constexpr size_t align = kTensorAlignment;
  if (bytes > std::numeric_limits<size_t>::max() - align)
    return nullptr;
  size_t padded = bytes == 0 ? align : (bytes + align - 1) / align * align;
  void *p = ::operator new(padded, std::align_val_t(align), std::nothrow);
  if (!p)
    return nullptr;
  if (zeroFill)
    std::memset(p, 0, padded);
  else if (padded > bytes)
    std::memset(static_cast<char *>(p) + bytes, 0, padded - bytes);
  return std::shared_ptr<void>(p, [](void *q) {
    ::operator delete(q, std::align_val_t(kTensorAlignment));
  });
}

namespace {

/// Validates a shape given by code (not by users: readers check shapes
/// themselves and report errors) and returns its element count.
int64_t numElementsOrDie(const std::vector<int64_t> &shape, DType dtype) {
  std::optional<int64_t> n = checkedNumElements(shape);
  if (!n)
    llvm::report_fatal_error("qopt::Tensor: invalid shape (negative dim or "
                             "element count overflow)");
  if (static_cast<uint64_t>(*n) >
      std::numeric_limits<size_t>::max() / dtypeSize(dtype))
    llvm::report_fatal_error("qopt::Tensor: byte size overflows size_t");
  return *n;
}

std::shared_ptr<void> allocateOrDie(size_t bytes, bool zeroFill) {
  std::shared_ptr<void> p = allocateAlignedBuffer(bytes, zeroFill);
  if (!p)
    llvm::report_bad_alloc_error("qopt::Tensor: out of memory");
  return p;
}

} // namespace

Tensor::Tensor(DType dtype, std::vector<int64_t> shape)
    : dtype_(dtype), shape_(std::move(shape)) {
  numElements_ = numElementsOrDie(shape_, dtype_);
  std::shared_ptr<void> buf = allocateOrDie(byteSize(), /*zeroFill=*/true);
  data_ = buf.get();
  storage_ = std::move(buf);
  owned_ = true;
}

Tensor Tensor::borrow(DType dtype, std::vector<int64_t> shape, const void *data,
                      std::shared_ptr<const void> keepAlive) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.numElements_ = numElementsOrDie(t.shape_, dtype);
  if (!data && t.numElements_ != 0)
    llvm::report_fatal_error("qopt::Tensor::borrow: null data");
  // Without an owner the caller guarantees the lifetime; a non-owning
  // handle still marks the tensor valid.
  if (!keepAlive)
    keepAlive = std::shared_ptr<const void>(data, [](const void *) {});
  t.storage_ = std::move(keepAlive);
  t.data_ = const_cast<void *>(data);
  t.owned_ = false;
  return t;
}

void *Tensor::mutableRawData() {
  if (!storage_)
    return data_;
  if (owned_ && storage_.use_count() == 1)
    return data_;
  // Shared or borrowed: take a private copy first (copy-on-write).
  size_t bytes = byteSize();
  std::shared_ptr<void> buf = allocateOrDie(bytes, /*zeroFill=*/false);
  if (bytes)
    std::memcpy(buf.get(), data_, bytes);
  data_ = buf.get();
  storage_ = std::move(buf);
  owned_ = true;
  return data_;
}

Tensor Tensor::reshaped(std::vector<int64_t> newShape) const {
  std::optional<int64_t> n = checkedNumElements(newShape);
  if (!n || *n != numElements_)
    llvm::report_fatal_error("qopt::Tensor::reshaped: element count mismatch");
  Tensor t = *this;
  t.shape_ = std::move(newShape);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t;
  t.dtype_ = dtype_;
  t.shape_ = shape_;
  t.numElements_ = numElements_;
  if (!storage_ && numElements_ == 0)
    return t; // default-constructed tensor
  size_t bytes = byteSize();
  std::shared_ptr<void> buf = allocateOrDie(bytes, /*zeroFill=*/false);
  if (bytes)
    std::memcpy(buf.get(), data_, bytes);
  t.data_ = buf.get();
  t.storage_ = std::move(buf);
  t.owned_ = true;
  return t;
}

//===----------------------------------------------------------------------===//
// Element access
//===----------------------------------------------------------------------===//

namespace {

template <typename T> T load(const void *base, int64_t i) {
  T v;
  std::memcpy(&v, static_cast<const char *>(base) + i * sizeof(T), sizeof(T));
  return v;
}

template <typename T> void store(void *base, int64_t i, T v) {
  std::memcpy(static_cast<char *>(base) + i * sizeof(T), &v, sizeof(T));
}

/// double -> integer with C++ truncation toward zero where the cast is
/// defined; values the cast leaves undefined are pinned down: NaN gives 0 and
/// out-of-range values saturate to the type's limits.
template <typename T> T castToInt(double v) {
  static_assert(std::is_integral<T>::value, "integer type expected");
  if (std::isnan(v))
    return 0;
  // Both limits are exactly representable powers of two (or zero) in double:
  // lo = min (0 or -2^(n-1)), hiExcl = max + 1 = 2^n or 2^(n-1).
  constexpr double lo = static_cast<double>(std::numeric_limits<T>::min());
  constexpr double hiExcl =
      static_cast<double>(std::numeric_limits<T>::max() / 2 + 1) * 2.0;
  if (v <= lo - 1.0)
    return std::numeric_limits<T>::min();
  if (v >= hiExcl)
    return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

} // namespace

double Tensor::getAsDouble(int64_t i) const {
  assert(i >= 0 && i < numElements_ && "index out of range");
  switch (dtype_) {
  case DType::F32:
    return load<float>(data_, i);
  case DType::F64:
    return load<double>(data_, i);
  case DType::F16:
    return halfToFloat(load<uint16_t>(data_, i));
  case DType::BF16:
    return bf16ToFloat(load<uint16_t>(data_, i));
  case DType::I8:
    return load<int8_t>(data_, i);
  case DType::U8:
    return load<uint8_t>(data_, i);
  case DType::I16:
    return load<int16_t>(data_, i);
  case DType::U16:
    return load<uint16_t>(data_, i);
  case DType::I32:
    return load<int32_t>(data_, i);
  case DType::U32:
    return load<uint32_t>(data_, i);
  case DType::I64:
    return static_cast<double>(load<int64_t>(data_, i));
  case DType::U64:
    return static_cast<double>(load<uint64_t>(data_, i));
  case DType::Bool:
    return load<uint8_t>(data_, i) != 0 ? 1.0 : 0.0;
  }
  llvm_unreachable("unknown DType");
}

void Tensor::setFromDouble(int64_t i, double v) {
  assert(i >= 0 && i < numElements_ && "index out of range");
  void *base = mutableRawData();
  switch (dtype_) {
  case DType::F32:
    return store<float>(base, i, static_cast<float>(v));
  case DType::F64:
    return store<double>(base, i, v);
  case DType::F16:
    return store<uint16_t>(base, i, doubleToHalf(v));
  case DType::BF16:
    return store<uint16_t>(base, i, doubleToBf16(v));
  case DType::I8:
    return store<int8_t>(base, i, castToInt<int8_t>(v));
  case DType::U8:
    return store<uint8_t>(base, i, castToInt<uint8_t>(v));
  case DType::I16:
    return store<int16_t>(base, i, castToInt<int16_t>(v));
  case DType::U16:
    return store<uint16_t>(base, i, castToInt<uint16_t>(v));
  case DType::I32:
    return store<int32_t>(base, i, castToInt<int32_t>(v));
  case DType::U32:
    return store<uint32_t>(base, i, castToInt<uint32_t>(v));
  case DType::I64:
    return store<int64_t>(base, i, castToInt<int64_t>(v));
  case DType::U64:
    return store<uint64_t>(base, i, castToInt<uint64_t>(v));
  case DType::Bool:
    return store<uint8_t>(base, i, static_cast<uint8_t>(v != 0.0));
  }
  llvm_unreachable("unknown DType");
}

std::string Tensor::describe() const {
  std::string s = dtypeName(dtype_);
  s += '[';
  for (size_t i = 0; i < shape_.size(); ++i) {
    if (i)
      s += 'x';
    s += std::to_string(shape_[i]);
  }
  s += ']';
  return s;
}

std::vector<uint8_t> qopt::packSubByte(const Tensor &t, unsigned bits) {
  assert((bits == 2 || bits == 4) && "packSubByte: 2 or 4 bits");
  int64_t n = t.numElements();
  std::vector<uint8_t> out(packedByteSize(n, bits), 0);
  const uint8_t *in = static_cast<const uint8_t *>(t.rawData());
  uint8_t mask = static_cast<uint8_t>((1u << bits) - 1);
  for (int64_t i = 0; i < n; ++i) {
    uint64_t bit = static_cast<uint64_t>(i) * bits;
    out[bit / 8] |= static_cast<uint8_t>((in[i] & mask) << (bit % 8));
  }
  return out;
}

Tensor qopt::unpackSubByte(const uint8_t *bytes, size_t size, unsigned bits,
                           bool isSigned, std::vector<int64_t> shape) {
  Tensor t(isSigned ? DType::I8 : DType::U8, std::move(shape));
  int64_t n = t.numElements();
  assert(size >= packedByteSize(n, bits) && "unpackSubByte: short buffer");
  (void)size;
  uint8_t *out = static_cast<uint8_t *>(t.mutableRawData());
  unsigned mask = (1u << bits) - 1;
  for (int64_t i = 0; i < n; ++i) {
    uint64_t bit = static_cast<uint64_t>(i) * bits;
    unsigned v = (bytes[bit / 8] >> (bit % 8)) & mask;
    if (isSigned && (v >> (bits - 1)))
      v |= ~mask; // sign-extend into the byte
    out[i] = static_cast<uint8_t>(v);
  }
  return t;
}
