//===- Tensor.h - Runtime tensors for the reference executor ----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// A dense, row-major, reference-counted tensor used by the reference executor,
// the .npy/.npz readers and writers, and the tools. It owns (or shares) a
// 64-byte aligned byte buffer; copies share storage, `clone()` deep-copies.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_SUPPORT_TENSOR_H
#define QOPT_SUPPORT_TENSOR_H

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace qopt {

/// Element types the runtime understands.
enum class DType : uint8_t {
  F32,
  F64,
  F16,
  BF16,
  I8,
  U8,
  I16,
  U16,
  I32,
  U32,
  I64,
  U64,
  Bool,
};

/// Size of one element in bytes.
size_t dtypeSize(DType t);
/// Short name: "f32", "i8", "bool", ...
const char *dtypeName(DType t);
/// Parses a name produced by dtypeName().
std::optional<DType> parseDType(const std::string &name);
bool isFloat(DType t);
bool isSignedInt(DType t);
bool isUnsignedInt(DType t);
inline bool isInteger(DType t) { return isSignedInt(t) || isUnsignedInt(t); }

/// IEEE half / bfloat16 conversions (round to nearest even on narrowing).
float halfToFloat(uint16_t h);
uint16_t floatToHalf(float f);
float bf16ToFloat(uint16_t h);
uint16_t floatToBf16(float f);

/// Narrowing straight from double (a single rounding, round to nearest even),
/// so `doubleToHalf(d)` may differ from `floatToHalf(float(d))`, which rounds
/// twice.
uint16_t doubleToHalf(double d);
uint16_t doubleToBf16(double d);

/// Alignment of every buffer that Tensor allocates.
inline constexpr size_t kTensorAlignment = 64;

/// Allocates a buffer of at least `bytes` bytes aligned to kTensorAlignment
/// (the size is rounded up to a whole number of 64-byte blocks, at least one,
/// so the result is never null on success). The padding is always zeroed; the
/// requested bytes are zeroed when `zeroFill` is set. Returns nullptr when the
/// memory cannot be had instead of aborting, so readers can report an error.
std::shared_ptr<void> allocateAlignedBuffer(size_t bytes, bool zeroFill = true);

/// Maps a C++ type to its DType.
template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::F32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::F64; };
template <> struct DTypeOf<int8_t> { static constexpr DType value = DType::I8; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::U8; };
template <> struct DTypeOf<int16_t> { static constexpr DType value = DType::I16; };
template <> struct DTypeOf<uint16_t> { static constexpr DType value = DType::U16; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::I32; };
template <> struct DTypeOf<uint32_t> { static constexpr DType value = DType::U32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::I64; };
template <> struct DTypeOf<uint64_t> { static constexpr DType value = DType::U64; };
template <> struct DTypeOf<bool> { static constexpr DType value = DType::Bool; };

/// Product of dims; returns std::nullopt on a negative dim or on overflow of
/// int64.
std::optional<int64_t> checkedNumElements(const std::vector<int64_t> &shape);

class Tensor {
public:
  Tensor() = default;
  /// Allocates a zero-filled tensor. Shape must be valid (non-negative dims).
  Tensor(DType dtype, std::vector<int64_t> shape);

  /// Wraps external memory without copying; `keepAlive` keeps its owner (for
  /// example a memory-mapped file) alive as long as the tensor lives.
  static Tensor borrow(DType dtype, std::vector<int64_t> shape, const void *data,
                       std::shared_ptr<const void> keepAlive);

  DType dtype() const { return dtype_; }
  const std::vector<int64_t> &shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t dim(int64_t i) const { return shape_[i]; }
  int64_t numElements() const { return numElements_; }
  size_t byteSize() const { return static_cast<size_t>(numElements_) * dtypeSize(dtype_); }
  bool valid() const { return static_cast<bool>(storage_) || numElements_ == 0; }

  const void *rawData() const { return data_; }
  /// Mutable access; copies the storage first if it is shared or borrowed.
  void *mutableRawData();

  template <typename T> const T *data() const {
    assert(DTypeOf<T>::value == dtype_ && "dtype mismatch");
    return static_cast<const T *>(data_);
  }
  template <typename T> T *mutableData() {
    assert(DTypeOf<T>::value == dtype_ && "dtype mismatch");
    return static_cast<T *>(mutableRawData());
  }

  /// Same storage, new shape (element count must match).
  Tensor reshaped(std::vector<int64_t> newShape) const;
  /// Deep copy with its own storage.
  Tensor clone() const;
  /// Element `i` (flat index) converted to double; works for every dtype.
  double getAsDouble(int64_t i) const;
  /// Stores `v` at flat index `i`, converting (with C++ cast semantics for
  /// integers; callers that need saturation do it first).
  void setFromDouble(int64_t i, double v);

  /// "f32[2x3]" style description for messages.
  std::string describe() const;

private:
  DType dtype_ = DType::F32;
  std::vector<int64_t> shape_;
  int64_t numElements_ = 0;
  std::shared_ptr<const void> storage_; // owner of the bytes
  void *data_ = nullptr;                // start of the elements
  bool owned_ = false;                  // storage_ was allocated by us
};

/// Strides (in elements) of a row-major tensor of this shape.
std::vector<int64_t> rowMajorStrides(const std::vector<int64_t> &shape);

/// Sub-byte storage (2- and 4-bit integers): element i occupies bits
/// [(i * bits) % 8, +bits) of byte (i * bits) / 8, little end first; the
/// last byte is zero-padded. `t` is I8 or U8 with values that fit.
std::vector<uint8_t> packSubByte(const Tensor &t, unsigned bits);
/// Inverse of packSubByte: I8 (sign-extended) or U8 elements of `shape`.
/// `bytes` must hold ceil(n * bits / 8) bytes.
Tensor unpackSubByte(const uint8_t *bytes, size_t size, unsigned bits,
                     bool isSigned, std::vector<int64_t> shape);
/// Bytes that n packed elements of `bits` bits take.
inline size_t packedByteSize(int64_t n, unsigned bits) {
  return static_cast<size_t>((n * bits + 7) / 8);
}

} // namespace qopt

#endif // QOPT_SUPPORT_TENSOR_H
