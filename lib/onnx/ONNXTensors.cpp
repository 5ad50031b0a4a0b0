//===- ONNXTensors.cpp - ONNX tensors to MLIR constants -------------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Decodes ONNX TensorProtos (initializers and Constant values): raw_data,
// the typed fields with their packing rules, and external data files, which
// are memory-mapped and referenced (not copied) by dense_resource blobs.
//
//===----------------------------------------------------------------------===//

#include "ONNXImporterImpl.h"

#include "qopt/support/MappedFile.h"
#include "qopt/support/PathSafety.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>

using namespace mlir;
using namespace qopt;
using namespace qopt::onnximport;

//===----------------------------------------------------------------------===//
// Data types
//===----------------------------------------------------------------------===//

std::string qopt::onnximport::dataTypeName(int32_t dataType) {
  switch (dataType) {
  case onnx::TensorProto::UNDEFINED:
    return "UNDEFINED";
  case onnx::TensorProto::FLOAT:
    return "FLOAT";
  case onnx::TensorProto::UINT8:
    return "UINT8";
  case onnx::TensorProto::INT8:
    return "INT8";
  case onnx::TensorProto::UINT16:
    return "UINT16";
  case onnx::TensorProto::INT16:
    return "INT16";
  case onnx::TensorProto::INT32:
    return "INT32";
  case onnx::TensorProto::INT64:
    return "INT64";
  case onnx::TensorProto::STRING:
    return "STRING";
  case onnx::TensorProto::BOOL:
    return "BOOL";
  case onnx::TensorProto::FLOAT16:
    return "FLOAT16";
  case onnx::TensorProto::DOUBLE:
    return "DOUBLE";
  case onnx::TensorProto::UINT32:
    return "UINT32";
  case onnx::TensorProto::UINT64:
    return "UINT64";
  case onnx::TensorProto::COMPLEX64:
    return "COMPLEX64";
  case onnx::TensorProto::COMPLEX128:
    return "COMPLEX128";
  case onnx::TensorProto::BFLOAT16:
    return "BFLOAT16";
  // Newer than the onnx.proto of libonnx-dev 1.12.
  case 17:
    return "FLOAT8E4M3FN";
  case 18:
    return "FLOAT8E4M3FNUZ";
  case 19:
    return "FLOAT8E5M2";
  case 20:
    return "FLOAT8E5M2FNUZ";
  case 21:
    return "UINT4";
  case 22:
    return "INT4";
  case 23:
    return "FLOAT4E2M1";
  default:
    return "data type " + std::to_string(dataType);
  }
}

Type qopt::onnximport::elementTypeFor(MLIRContext *ctx, int32_t dataType) {
  Builder b(ctx);
  switch (dataType) {
  case onnx::TensorProto::FLOAT:
    return b.getF32Type();
  case onnx::TensorProto::DOUBLE:
    return b.getF64Type();
  case onnx::TensorProto::FLOAT16:
    return b.getF16Type();
  case onnx::TensorProto::BFLOAT16:
    return b.getBF16Type();
  case onnx::TensorProto::INT8:
    return b.getIntegerType(8);
  case onnx::TensorProto::UINT8:
    return b.getIntegerType(8, /*isSigned=*/false);
  case onnx::TensorProto::INT16:
    return b.getIntegerType(16);
  case onnx::TensorProto::UINT16:
    return b.getIntegerType(16, /*isSigned=*/false);
  case onnx::TensorProto::INT32:
    return b.getIntegerType(32);
  case onnx::TensorProto::UINT32:
    return b.getIntegerType(32, /*isSigned=*/false);
  case onnx::TensorProto::INT64:
    return b.getIntegerType(64);
  case onnx::TensorProto::UINT64:
    return b.getIntegerType(64, /*isSigned=*/false);
  case onnx::TensorProto::BOOL:
    return b.getI1Type();
  default:
    return nullptr;
  }
}

int32_t qopt::onnximport::dataTypeFor(Type type) {
  if (type.isF32())
    return onnx::TensorProto::FLOAT;
  if (type.isF64())
    return onnx::TensorProto::DOUBLE;
  if (type.isF16())
    return onnx::TensorProto::FLOAT16;
  if (type.isBF16())
    return onnx::TensorProto::BFLOAT16;
  auto it = dyn_cast<IntegerType>(type);
  if (!it)
    return 0;
  bool u = it.isUnsigned();
  switch (it.getWidth()) {
  case 1:
    return onnx::TensorProto::BOOL;
  case 8:
    return u ? onnx::TensorProto::UINT8 : onnx::TensorProto::INT8;
  case 16:
    return u ? onnx::TensorProto::UINT16 : onnx::TensorProto::INT16;
  case 32:
    return u ? onnx::TensorProto::UINT32 : onnx::TensorProto::INT32;
  case 64:
    return u ? onnx::TensorProto::UINT64 : onnx::TensorProto::INT64;
  default:
    return 0;
  }
}

int64_t qopt::onnximport::elementByteSize(Type type) {
  if (type.isInteger(1))
    return 1;
  return static_cast<int64_t>((type.getIntOrFloatBitWidth() + 7) / 8);
}

std::optional<int64_t>
qopt::onnximport::checkedElementCount(ArrayRef<int64_t> shape,
                                      int64_t elementBytes) {
  int64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(count, d, &count))
      return std::nullopt;
  }
  int64_t bytes;
  if (__builtin_mul_overflow(count, std::max<int64_t>(elementBytes, 1), &bytes))
    return std::nullopt;
  return count;
}

//===----------------------------------------------------------------------===//
// Reading constant values
//===----------------------------------------------------------------------===//

/// The raw bytes of a dense_resource attribute (null data when missing).
static std::optional<ArrayRef<char>> resourceBytes(ElementsAttr attr) {
  auto res = dyn_cast<DenseResourceElementsAttr>(attr);
  if (!res)
    return std::nullopt;
  AsmResourceBlob *blob = res.getRawHandle().getBlob();
  if (!blob)
    return std::nullopt;
  auto type = cast<ShapedType>(attr.getType());
  int64_t expected =
      type.getNumElements() * elementByteSize(type.getElementType());
  if (static_cast<int64_t>(blob->getData().size()) != expected)
    return std::nullopt;
  return blob->getData();
}

std::optional<SmallVector<int64_t>>
qopt::onnximport::readIntValues(ElementsAttr attr) {
  auto type = cast<ShapedType>(attr.getType());
  auto it = dyn_cast<IntegerType>(type.getElementType());
  if (!it)
    return std::nullopt;
  bool zext = it.isUnsigned() || it.getWidth() == 1;
  SmallVector<int64_t> out;
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    out.reserve(type.getNumElements());
    for (const APInt &v : dense.getValues<APInt>())
      out.push_back(zext ? static_cast<int64_t>(v.getZExtValue())
                         : v.getSExtValue());
    return out;
  }
  auto bytes = resourceBytes(attr);
  if (!bytes)
    return std::nullopt;
  const char *p = bytes->data();
  int64_t n = type.getNumElements();
  out.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    switch (it.getWidth()) {
    case 1:
      out.push_back(p[i] != 0);
      break;
    case 8: {
      uint8_t v = static_cast<uint8_t>(p[i]);
      out.push_back(zext ? v : static_cast<int8_t>(v));
      break;
    }
    case 16: {
      uint16_t v = llvm::support::endian::read16le(p + 2 * i);
      out.push_back(zext ? v : static_cast<int16_t>(v));
      break;
    }
    case 32: {
      uint32_t v = llvm::support::endian::read32le(p + 4 * i);
      out.push_back(zext ? static_cast<int64_t>(v)
                         : static_cast<int64_t>(static_cast<int32_t>(v)));
      break;
    }
    case 64:
      out.push_back(
          static_cast<int64_t>(llvm::support::endian::read64le(p + 8 * i)));
      break;
    default:
      return std::nullopt;
    }
  }
  return out;
}

static double toDouble(APFloat v) {
  bool lost = false;
  v.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven, &lost);
  return v.convertToDouble();
}

std::optional<SmallVector<double>>
qopt::onnximport::readFloatValues(ElementsAttr attr) {
  auto type = cast<ShapedType>(attr.getType());
  auto ft = dyn_cast<FloatType>(type.getElementType());
  if (!ft)
    return std::nullopt;
  SmallVector<double> out;
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    out.reserve(type.getNumElements());
    for (const APFloat &v : dense.getValues<APFloat>())
      out.push_back(toDouble(v));
    return out;
  }
  auto bytes = resourceBytes(attr);
  if (!bytes)
    return std::nullopt;
  const char *p = bytes->data();
  int64_t n = type.getNumElements();
  out.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    if (ft.isF32()) {
      uint32_t bits = llvm::support::endian::read32le(p + 4 * i);
      float f;
      std::memcpy(&f, &bits, 4);
      out.push_back(f);
    } else if (ft.isF64()) {
      uint64_t bits = llvm::support::endian::read64le(p + 8 * i);
      double d;
      std::memcpy(&d, &bits, 8);
      out.push_back(d);
    } else if (ft.isF16() || ft.isBF16()) {
      uint16_t bits = llvm::support::endian::read16le(p + 2 * i);
      out.push_back(toDouble(APFloat(ft.getFloatSemantics(), APInt(16, bits))));
    } else {
      return std::nullopt;
    }
  }
  return out;
}

DenseElementsAttr qopt::onnximport::makeIntAttr(ArrayRef<int64_t> shape,
                                                Type elementType,
                                                ArrayRef<int64_t> values) {
  auto type = RankedTensorType::get(shape, elementType);
  unsigned width = elementType.getIntOrFloatBitWidth();
  if (width == 1) {
    SmallVector<bool> bits;
    for (int64_t v : values)
      bits.push_back(v != 0);
    return DenseElementsAttr::get(type, ArrayRef<bool>(bits));
  }
  SmallVector<APInt> ints;
  ints.reserve(values.size());
  for (int64_t v : values)
    ints.push_back(
        APInt(64, static_cast<uint64_t>(v), /*isSigned=*/true).trunc(width));
  return DenseElementsAttr::get(type, ints);
}

//===----------------------------------------------------------------------===//
// Building constants
//===----------------------------------------------------------------------===//

/// Resource keys are identifiers: [A-Za-z_][A-Za-z0-9_.]*.
static std::string sanitizeBlobName(StringRef name) {
  std::string out;
  for (char c : name)
    out.push_back(llvm::isAlnum(c) || c == '_' || c == '.' ? c : '_');
  if (out.empty() || !(llvm::isAlpha(out[0]) || out[0] == '_'))
    out.insert(0, "t_");
  return out;
}

ElementsAttr Importer::makeConstantAttr(RankedTensorType type,
                                        StringRef nameHint,
                                        ArrayRef<char> bytes,
                                        std::shared_ptr<const void> owner) {
  Type et = type.getElementType();
  int64_t n = type.getNumElements();
  if (et.isInteger(1)) {
    if (n <= kMaxInlineElements) {
      SmallVector<bool> bits;
      for (char c : bytes)
        bits.push_back(c != 0);
      return DenseElementsAttr::get(type, ArrayRef<bool>(bits));
    }
    AsmResourceBlob blob = HeapAsmResourceBlob::allocate(n, 1);
    MutableArrayRef<char> out = blob.getMutableData();
    for (int64_t i = 0; i < n; ++i)
      out[i] = bytes[i] != 0;
    return DenseResourceElementsAttr::get(type, sanitizeBlobName(nameHint),
                                          std::move(blob));
  }
  if (n <= kMaxInlineElements) {
    if (n == 0) {
      if (isa<FloatType>(et))
        return DenseElementsAttr::get(type, ArrayRef<APFloat>());
      return DenseElementsAttr::get(type, ArrayRef<APInt>());
    }
    return DenseElementsAttr::getFromRawBuffer(type, bytes);
  }
  size_t align = static_cast<size_t>(elementByteSize(et));
  bool aligned = reinterpret_cast<uintptr_t>(bytes.data()) % align == 0;
  AsmResourceBlob blob =
      owner && aligned
          ? UnmanagedAsmResourceBlob::allocateWithAlign(
                bytes, align,
                [owner = std::move(owner)](void *, size_t, size_t) {})
          : HeapAsmResourceBlob::allocateAndCopyWithAlign(
                bytes, align, /*dataIsMutable=*/false);
  return DenseResourceElementsAttr::get(type, sanitizeBlobName(nameHint),
                                        std::move(blob));
}

/// "[2, 3]" for messages.
static std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << "[";
  llvm::interleaveComma(shape, os);
  os << "]";
  return s;
}

/// Decodes the typed data fields (float_data, int32_data, ...) into
/// little-endian bytes of `et`, checking the count and the value ranges.
static LogicalResult decodeTypedData(const onnx::TensorProto &t, Type et,
                                     int64_t count, StringRef what,
                                     Location loc, std::vector<char> &out) {
  int32_t dt = t.data_type();
  int64_t esz = elementByteSize(et);
  out.assign(static_cast<size_t>(count * esz), 0);
  auto checkCount = [&](int64_t have, StringRef field) -> LogicalResult {
    if (have == count)
      return success();
    if (have == 0 && count > 0)
      return emitError(loc) << what << " has no data (expected " << count << " "
                            << dataTypeName(dt) << " values)";
    return emitError(loc) << what << " has " << have << " " << field
                          << " values but its shape needs " << count;
  };
  auto store = [&](int64_t i, uint64_t bits) {
    for (int64_t b = 0; b < esz; ++b)
      out[i * esz + b] = static_cast<char>((bits >> (8 * b)) & 0xff);
  };
  switch (dt) {
  case onnx::TensorProto::FLOAT:
    if (failed(checkCount(t.float_data_size(), "float_data")))
      return failure();
    for (int64_t i = 0; i < count; ++i) {
      float f = t.float_data(i);
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      store(i, bits);
    }
    return success();
  case onnx::TensorProto::DOUBLE:
    if (failed(checkCount(t.double_data_size(), "double_data")))
      return failure();
    for (int64_t i = 0; i < count; ++i) {
      double d = t.double_data(i);
      uint64_t bits;
      std::memcpy(&bits, &d, 8);
      store(i, bits);
    }
    return success();
  case onnx::TensorProto::INT64:
    if (failed(checkCount(t.int64_data_size(), "int64_data")))
      return failure();
    for (int64_t i = 0; i < count; ++i)
      store(i, static_cast<uint64_t>(t.int64_data(i)));
    return success();
  case onnx::TensorProto::UINT32:
  case onnx::TensorProto::UINT64:
    if (failed(checkCount(t.uint64_data_size(), "uint64_data")))
      return failure();
    for (int64_t i = 0; i < count; ++i) {
      uint64_t v = t.uint64_data(i);
      if (dt == onnx::TensorProto::UINT32 && v > UINT32_MAX)
        return emitError(loc) << what << ": uint64_data value " << v
                              << " is out of range for UINT32";
      store(i, v);
    }
    return success();
  case onnx::TensorProto::INT32:
  case onnx::TensorProto::INT16:
  case onnx::TensorProto::INT8:
  case onnx::TensorProto::UINT16:
  case onnx::TensorProto::UINT8:
  case onnx::TensorProto::BOOL:
  case onnx::TensorProto::FLOAT16:
  case onnx::TensorProto::BFLOAT16: {
    if (failed(checkCount(t.int32_data_size(), "int32_data")))
      return failure();
    int64_t lo = INT32_MIN, hi = INT32_MAX;
    switch (dt) {
    case onnx::TensorProto::INT16:
      lo = INT16_MIN, hi = INT16_MAX;
      break;
    case onnx::TensorProto::INT8:
      lo = INT8_MIN, hi = INT8_MAX;
      break;
    case onnx::TensorProto::UINT16:
      lo = 0, hi = UINT16_MAX;
      break;
    case onnx::TensorProto::UINT8:
      lo = 0, hi = UINT8_MAX;
      break;
    case onnx::TensorProto::BOOL:
      lo = 0, hi = 1;
      break;
    case onnx::TensorProto::FLOAT16:
    case onnx::TensorProto::BFLOAT16:
      // 16-bit patterns, written as unsigned (or sign-extended) values.
      lo = INT16_MIN, hi = UINT16_MAX;
      break;
    default:
      break;
    }
    for (int64_t i = 0; i < count; ++i) {
      int64_t v = t.int32_data(i);
      if (v < lo || v > hi)
        return emitError(loc) << what << ": int32_data value " << v
                              << " is out of range for " << dataTypeName(dt);
      store(i, static_cast<uint64_t>(v));
    }
    return success();
  }
  default:
    return emitError(loc) << what << " has data type " << dataTypeName(dt)
                          << ", which qopt does not support";
  }
}

/// Number of values in the typed data fields.
static int64_t typedDataCount(const onnx::TensorProto &t) {
  return static_cast<int64_t>(t.float_data_size()) + t.int32_data_size() +
         t.string_data_size() + t.int64_data_size() + t.double_data_size() +
         t.uint64_data_size();
}

FailureOr<ElementsAttr> Importer::tensorToAttr(onnx::TensorProto &t,
                                               StringRef what, Location loc) {
  int32_t dt = t.data_type();
  if (dt == onnx::TensorProto::UNDEFINED)
    return emitError(loc) << what << " has no data type";
  Type et = elementTypeFor(ctx, dt);
  if (!et)
    return emitError(loc)
           << what << " has data type " << dataTypeName(dt)
           << ", which qopt does not support (supported: FLOAT, DOUBLE, "
              "FLOAT16, BFLOAT16, INT8/16/32/64, UINT8/16/32/64, BOOL)";
  if (t.has_segment())
    return emitError(loc) << what << " is segmented, which is not supported";
  SmallVector<int64_t> shape;
  for (int64_t d : t.dims()) {
    if (d < 0)
      return emitError(loc) << what << " has a negative dimension " << d
                            << " in shape " << shapeString(t.dims());
    shape.push_back(d);
  }
  int64_t esz = elementByteSize(et);
  std::optional<int64_t> count = checkedElementCount(shape, esz);
  if (!count)
    return emitError(loc) << what << ": the size of shape "
                          << shapeString(shape) << " overflows";
  auto type = RankedTensorType::get(shape, et);
  std::string nameHint = t.name().empty() ? what.str() : t.name();

  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    if (t.has_raw_data() || typedDataCount(t) != 0)
      return emitError(loc)
             << what << " has external data and inline data at once";
    return externalTensorToAttr(t, type, what, loc);
  }
  if (t.has_raw_data()) {
    if (typedDataCount(t) != 0)
      return emitError(loc) << what << " has both raw_data and typed data";
    int64_t need = *count * esz;
    if (static_cast<int64_t>(t.raw_data().size()) != need)
      return emitError(loc)
             << what << " has " << t.raw_data().size()
             << " bytes of raw_data but shape " << shapeString(shape) << " of "
             << dataTypeName(dt) << " needs " << need;
    std::shared_ptr<std::string> owned(t.release_raw_data());
    ArrayRef<char> bytes(owned->data(), owned->size());
    return makeConstantAttr(type, nameHint, bytes, std::move(owned));
  }
  auto buffer = std::make_shared<std::vector<char>>();
  if (failed(decodeTypedData(t, et, *count, what, loc, *buffer)))
    return failure();
  ArrayRef<char> bytes(buffer->data(), buffer->size());
  return makeConstantAttr(type, nameHint, bytes, std::move(buffer));
}

//===----------------------------------------------------------------------===//
// External data
//===----------------------------------------------------------------------===//

FailureOr<std::shared_ptr<llvm::MemoryBuffer>>
Importer::mapExternalFile(StringRef location, StringRef what, Location loc) {
  llvm::Expected<std::string> resolved =
      resolveInside(modelDir, location, (what + " external data").str());
  if (!resolved)
    return emitError(loc) << llvm::toString(resolved.takeError());
  auto it = externalFiles.find(*resolved);
  if (it != externalFiles.end())
    return it->second;
  auto mapped = mapFile(*resolved);
  if (!mapped)
    return emitError(loc) << what << " external data: "
                          << llvm::toString(mapped.takeError());
  externalFiles[*resolved] = *mapped;
  return *mapped;
}

FailureOr<ElementsAttr> Importer::externalTensorToAttr(onnx::TensorProto &t,
                                                       RankedTensorType type,
                                                       StringRef what,
                                                       Location loc) {
  std::string location;
  std::optional<uint64_t> offset, length;
  for (const onnx::StringStringEntryProto &kv : t.external_data()) {
    StringRef key = kv.key(), value = kv.value();
    if (key == "location") {
      location = value.str();
    } else if (key == "offset" || key == "length") {
      uint64_t v;
      if (value.getAsInteger(10, v))
        return emitError(loc) << what << " has an invalid external data " << key
                              << " '" << value << "'";
      (key == "offset" ? offset : length) = v;
    }
    // "checksum" and unknown keys do not affect the data.
  }
  if (location.empty())
    return emitError(loc) << what << " has external data without a location";
  auto file = mapExternalFile(location, what, loc);
  if (failed(file))
    return failure();
  uint64_t size = (*file)->getBufferSize();
  uint64_t off = offset.value_or(0);
  if (off > size)
    return emitError(loc) << what << " external data offset " << off
                          << " is beyond the end of '" << location << "' ("
                          << size << " bytes)";
  uint64_t len = length.value_or(size - off);
  if (len > size - off)
    return emitError(loc) << what << " external data [" << off << ", " << off
                          << " + " << len << ") is beyond the end of '"
                          << location << "' (" << size << " bytes)";
  uint64_t need = static_cast<uint64_t>(type.getNumElements()) *
                  static_cast<uint64_t>(elementByteSize(type.getElementType()));
  if (len != need)
    return emitError(loc) << what << " has " << len
                          << " bytes of external data but shape "
                          << shapeString(type.getShape()) << " of "
                          << dataTypeName(t.data_type()) << " needs " << need;
  ArrayRef<char> bytes((*file)->getBufferStart() + off, len);
  std::shared_ptr<const void> owner(*file, (*file)->getBufferStart());
  std::string nameHint = t.name().empty() ? what.str() : t.name();
  return makeConstantAttr(type, nameHint, bytes, std::move(owner));
}
