//===- SafeTensors.cpp - Strict safetensors and checkpoint reader ---------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#include "qopt/safetensors/SafeTensors.h"
#include "qopt/support/MappedFile.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/ConvertUTF.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SwapByteOrder.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <tuple>

using namespace qopt;
using namespace qopt::safetensors;

static_assert(llvm::sys::IsLittleEndianHost,
              "safetensors data is little-endian; tensors are borrowed "
              "without byte swapping");

//===----------------------------------------------------------------------===//
// Error helpers
//===----------------------------------------------------------------------===//

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg.str());
}

static llvm::Error fileError(llvm::StringRef path, const llvm::Twine &msg) {
  return makeError(path + ": " + msg);
}

static llvm::Error tensorError(llvm::StringRef path, llvm::StringRef tensor,
                               const llvm::Twine &msg) {
  return makeError(path + ": tensor '" + tensor + "': " + msg);
}

static std::string shapeToString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

//===----------------------------------------------------------------------===//
// DTypes
//===----------------------------------------------------------------------===//

namespace {
struct DTypeRow {
  const char *name;
  unsigned bits;
  bool importable;
  DType runtime;
};
} // namespace

static const DTypeRow kDTypes[] = {
    {"F64", 64, true, DType::F64},
    {"F32", 32, true, DType::F32},
    {"F16", 16, true, DType::F16},
    {"BF16", 16, true, DType::BF16},
    {"I8", 8, true, DType::I8},
    {"U8", 8, true, DType::U8},
    {"I16", 16, true, DType::I16},
    {"U16", 16, true, DType::U16},
    {"I32", 32, true, DType::I32},
    {"U32", 32, true, DType::U32},
    {"I64", 64, true, DType::I64},
    {"U64", 64, true, DType::U64},
    {"BOOL", 8, true, DType::Bool},
    // Recognised by the format but not representable at runtime.
    {"F8_E4M3", 8, false, DType::F32},
    {"F8_E5M2", 8, false, DType::F32},
    {"F8_E8M0", 8, false, DType::F32},
    {"F6_E2M3", 6, false, DType::F32},
    {"F6_E3M2", 6, false, DType::F32},
    {"F4", 4, false, DType::F32},
    {"C64", 64, false, DType::F32},
};

std::optional<DTypeDesc> qopt::safetensors::lookupDType(llvm::StringRef name) {
  for (const DTypeRow &row : kDTypes) {
    if (name != row.name)
      continue;
    DTypeDesc d{row.name, row.bits, std::nullopt};
    if (row.importable)
      d.runtime = row.runtime;
    return d;
  }
  return std::nullopt;
}

llvm::StringRef qopt::safetensors::safetensorsDTypeName(DType t) {
  for (const DTypeRow &row : kDTypes)
    if (row.importable && row.runtime == t)
      return row.name;
  return "";
}

int64_t TensorInfo::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d; // validated at open time: no overflow
  return n;
}

//===----------------------------------------------------------------------===//
// Strict JSON: duplicate keys and nesting depth
//===----------------------------------------------------------------------===//

namespace {
constexpr size_t kMaxJSONDepth = 64;

/// The first duplicate key found, with the keys of the enclosing objects
/// ("[]" for an array element).
struct DuplicateKey {
  std::vector<std::string> parents;
  std::string key;
};

struct ScanResult {
  bool tooDeep = false;
  std::optional<DuplicateKey> duplicate;
  std::vector<std::string> topLevelKeys;
};

struct ScanFrame {
  bool isObject;
  bool expectKey;
  std::string name; // key of this value in its parent
  std::string lastKey;
  llvm::StringSet<> keys;
};
} // namespace

static void appendUTF8(std::string &out, uint32_t cp) {
  char buf[UNI_MAX_UTF8_BYTES_PER_CODE_POINT];
  char *p = buf;
  if (!llvm::ConvertCodePointToUTF8(cp, p)) {
    p = buf;
    llvm::ConvertCodePointToUTF8(0xFFFD, p);
  }
  out.append(buf, p);
}

static std::optional<uint32_t> hex4(llvm::StringRef s, size_t i) {
  if (i + 4 > s.size())
    return std::nullopt;
  uint32_t v = 0;
  for (size_t k = 0; k < 4; ++k) {
    char c = s[i + k];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= c - '0';
    else if (c >= 'a' && c <= 'f')
      v |= c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      v |= c - 'A' + 10;
    else
      return std::nullopt;
  }
  return v;
}

/// Decodes the JSON string starting at s[i] == '"'; leaves `i` after the
/// closing quote (or at the end on unterminated input).
static std::string decodeJSONString(llvm::StringRef s, size_t &i) {
  std::string out;
  ++i; // opening quote
  while (i < s.size()) {
    char c = s[i];
    if (c == '"') {
      ++i;
      return out;
    }
    if (c != '\\') {
      out.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 >= s.size()) {
      i = s.size();
      return out;
    }
    char e = s[i + 1];
    i += 2;
    switch (e) {
    case 'b':
      out.push_back('\b');
      break;
    case 'f':
      out.push_back('\f');
      break;
    case 'n':
      out.push_back('\n');
      break;
    case 'r':
      out.push_back('\r');
      break;
    case 't':
      out.push_back('\t');
      break;
    case 'u': {
      std::optional<uint32_t> hi = hex4(s, i);
      if (!hi)
        break; // invalid; the JSON parser reports it
      i += 4;
      uint32_t cp = *hi;
      if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < s.size() && s[i] == '\\' &&
          s[i + 1] == 'u') {
        std::optional<uint32_t> lo = hex4(s, i + 2);
        if (lo && *lo >= 0xDC00 && *lo <= 0xDFFF) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (*lo - 0xDC00);
          i += 6;
        }
      }
      if (cp >= 0xD800 && cp <= 0xDFFF)
        cp = 0xFFFD; // lone surrogate, as llvm::json does
      appendUTF8(out, cp);
      break;
    }
    default: // '"', '\\', '/' and anything invalid
      out.push_back(e);
      break;
    }
  }
  return out;
}

/// A tolerant single pass over (possibly invalid) JSON text that records the
/// first duplicate object key, the root object's keys in order, and whether
/// nesting exceeds kMaxJSONDepth. Syntax errors are left to llvm::json.
static ScanResult scanJSON(llvm::StringRef s) {
  ScanResult r;
  std::vector<ScanFrame> stack;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    switch (c) {
    case '{':
    case '[': {
      if (stack.size() >= kMaxJSONDepth) {
        r.tooDeep = true;
        return r;
      }
      std::string name;
      if (!stack.empty())
        name = stack.back().isObject ? stack.back().lastKey : "[]";
      stack.push_back(ScanFrame{c == '{', c == '{', std::move(name), "", {}});
      ++i;
      break;
    }
    case '}':
    case ']':
      if (!stack.empty())
        stack.pop_back();
      ++i;
      break;
    case ',':
      if (!stack.empty() && stack.back().isObject)
        stack.back().expectKey = true;
      ++i;
      break;
    case '"': {
      std::string str = decodeJSONString(s, i);
      if (stack.empty() || !stack.back().isObject || !stack.back().expectKey)
        break;
      ScanFrame &top = stack.back();
      top.expectKey = false;
      if (!top.keys.insert(str).second && !r.duplicate) {
        DuplicateKey d;
        for (size_t k = 1; k < stack.size(); ++k)
          d.parents.push_back(stack[k].name);
        d.key = str;
        r.duplicate = std::move(d);
      }
      if (stack.size() == 1)
        r.topLevelKeys.push_back(str);
      top.lastKey = std::move(str);
      break;
    }
    default:
      ++i;
      break;
    }
  }
  return r;
}

static std::string describeDuplicate(const DuplicateKey &d) {
  std::string s = "duplicate key '" + d.key + "'";
  if (d.parents.empty())
    return s + " in the top-level object";
  s += " in object ";
  for (size_t i = 0; i < d.parents.size(); ++i) {
    if (i)
      s += ".";
    s += "'" + d.parents[i] + "'";
  }
  return s;
}

llvm::Expected<llvm::json::Value>
qopt::safetensors::parseStrictJSON(llvm::StringRef text, llvm::StringRef what,
                                   std::vector<std::string> *topLevelKeys) {
  size_t badOffset = 0;
  if (!llvm::json::isUTF8(text, &badOffset))
    return fileError(what, "not valid UTF-8 (first bad byte at offset " +
                               llvm::Twine(badOffset) + ")");
  ScanResult scan = scanJSON(text);
  if (scan.tooDeep)
    return fileError(what, "JSON nests deeper than " +
                               llvm::Twine(kMaxJSONDepth) + " levels");
  llvm::Expected<llvm::json::Value> value = llvm::json::parse(text);
  if (!value)
    return fileError(what,
                     "invalid JSON: " + llvm::toString(value.takeError()));
  if (scan.duplicate)
    return fileError(what, describeDuplicate(*scan.duplicate));
  if (topLevelKeys)
    *topLevelKeys = std::move(scan.topLevelKeys);
  return value;
}

//===----------------------------------------------------------------------===//
// SafeTensorsFile
//===----------------------------------------------------------------------===//

namespace {
/// Which of the three required fields of a tensor entry were seen.
enum EntryField : unsigned { kDType = 1, kShape = 2, kOffsets = 4 };
} // namespace

/// Validates one tensor entry of the header and fills `info` (except `data`).
static llvm::Error parseTensorEntry(llvm::StringRef path,
                                    const std::string &name,
                                    const llvm::json::Value &entry,
                                    TensorInfo &info) {
  const llvm::json::Object *obj = entry.getAsObject();
  if (!obj)
    return tensorError(path, name, "entry is not a JSON object");
  for (const auto &kv : *obj) {
    llvm::StringRef key = kv.first;
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      return tensorError(path, name,
                         "unexpected field '" + key +
                             "' (allowed: dtype, shape, data_offsets)");
  }
  for (const char *required : {"dtype", "shape", "data_offsets"})
    if (!obj->get(required))
      return tensorError(path, name,
                         llvm::Twine("missing field '") + required + "'");

  info.name = name;

  // dtype
  std::optional<llvm::StringRef> dtype = obj->getString("dtype");
  if (!dtype)
    return tensorError(path, name, "'dtype' is not a string");
  std::optional<DTypeDesc> desc = lookupDType(*dtype);
  if (!desc)
    return tensorError(path, name, "unknown dtype '" + *dtype + "'");
  info.dtype = dtype->str();
  info.runtimeType = desc->runtime;

  // shape
  const llvm::json::Array *shape = obj->getArray("shape");
  if (!shape)
    return tensorError(path, name, "'shape' is not an array");
  info.shape.clear();
  uint64_t numElements = 1;
  bool overflow = false;
  for (size_t i = 0; i < shape->size(); ++i) {
    const llvm::json::Value &v = (*shape)[i];
    std::optional<uint64_t> dim = v.getAsUINT64();
    if (!dim) {
      std::optional<int64_t> signedDim = v.getAsInteger();
      if (signedDim && *signedDim < 0)
        return tensorError(path, name,
                           "negative dimension " + llvm::Twine(*signedDim) +
                               " at shape index " + llvm::Twine(i));
      return tensorError(path, name,
                         "shape element " + llvm::Twine(i) +
                             " is not a non-negative integer");
    }
    if (*dim > static_cast<uint64_t>(INT64_MAX))
      return tensorError(path, name,
                         "dimension " + llvm::Twine(*dim) + " at shape index " +
                             llvm::Twine(i) + " is too large");
    info.shape.push_back(static_cast<int64_t>(*dim));
    bool mulOverflow = false;
    numElements = llvm::SaturatingMultiply(numElements, *dim, &mulOverflow);
    if (mulOverflow || numElements > static_cast<uint64_t>(INT64_MAX))
      overflow = true;
  }
  // A zero dimension makes the product 0 whatever overflowed before it.
  if (llvm::is_contained(info.shape, 0)) {
    overflow = false;
    numElements = 0;
  }
  if (overflow)
    return tensorError(path, name,
                       "shape " + shapeToString(info.shape) +
                           " overflows: element count does not fit in int64");

  // byte size
  uint64_t byteSize = 0;
  if (desc->bits % 8 == 0) {
    bool bytesOverflow = false;
    byteSize = llvm::SaturatingMultiply(
        numElements, static_cast<uint64_t>(desc->bits / 8), &bytesOverflow);
    if (bytesOverflow)
      return tensorError(path, name,
                         "shape " + shapeToString(info.shape) + " of " +
                             *dtype +
                             " overflows: byte size does not fit in 64 bits");
  } else {
    // Sub-byte element (F4, F6_*): numElements * bits must be a multiple of
    // 8. numElements <= INT64_MAX and bits < 8, so nothing below overflows.
    uint64_t rem = (numElements % 8) * desc->bits;
    if (rem % 8 != 0)
      return tensorError(path, name,
                         "shape " + shapeToString(info.shape) + " of " +
                             *dtype + " does not fill a whole number of bytes");
    byteSize = (numElements / 8) * desc->bits + rem / 8;
  }

  // data_offsets
  const llvm::json::Array *offsets = obj->getArray("data_offsets");
  if (!offsets)
    return tensorError(path, name, "'data_offsets' is not an array");
  if (offsets->size() != 2)
    return tensorError(path, name,
                       "'data_offsets' must have exactly 2 elements, has " +
                           llvm::Twine(offsets->size()));
  std::optional<uint64_t> begin = (*offsets)[0].getAsUINT64();
  std::optional<uint64_t> end = (*offsets)[1].getAsUINT64();
  if (!begin || !end)
    return tensorError(path, name,
                       "'data_offsets' elements must be non-negative integers");
  if (*begin > *end)
    return tensorError(path, name,
                       "data_offsets begin " + llvm::Twine(*begin) +
                           " is greater than end " + llvm::Twine(*end));
  if (*end - *begin != byteSize)
    return tensorError(
        path, name,
        "byte size mismatch: shape " + shapeToString(info.shape) + " of " +
            *dtype + " needs " + llvm::Twine(byteSize) +
            " bytes but data_offsets [" + llvm::Twine(*begin) + ", " +
            llvm::Twine(*end) + "] span " + llvm::Twine(*end - *begin));
  info.begin = *begin;
  info.end = *end;
  return llvm::Error::success();
}

llvm::Expected<std::unique_ptr<SafeTensorsFile>>
SafeTensorsFile::open(llvm::StringRef path) {
  llvm::Expected<std::shared_ptr<llvm::MemoryBuffer>> buf = mapFile(path);
  if (!buf)
    return buf.takeError();
  return fromBuffer(std::move(*buf), path);
}

llvm::Expected<std::unique_ptr<SafeTensorsFile>>
SafeTensorsFile::fromBuffer(std::shared_ptr<llvm::MemoryBuffer> buffer,
                            llvm::StringRef displayName) {
  llvm::StringRef path = displayName;
  if (!buffer)
    return fileError(path, "no data");
  const char *base = buffer->getBufferStart();
  uint64_t fileSize = buffer->getBufferSize();

  if (fileSize < 8)
    return fileError(path, "file is too small (" + llvm::Twine(fileSize) +
                               " bytes) to hold the 8-byte header length");
  uint64_t n = llvm::support::endian::read64le(base);
  if (n > kMaxHeaderSize)
    return fileError(path, "header length " + llvm::Twine(n) +
                               " exceeds the limit of " +
                               llvm::Twine(kMaxHeaderSize) + " bytes");
  if (n > fileSize - 8)
    return fileError(path, "header length " + llvm::Twine(n) +
                               " extends past the end of the file (" +
                               llvm::Twine(fileSize) + " bytes)");
  llvm::StringRef headerText(base + 8, n);

  size_t badOffset = 0;
  if (!llvm::json::isUTF8(headerText, &badOffset))
    return fileError(path, "header is not valid UTF-8 (first bad byte at "
                           "header offset " +
                               llvm::Twine(badOffset) + ")");
  ScanResult scan = scanJSON(headerText);
  if (scan.tooDeep)
    return fileError(path, "header JSON nests deeper than " +
                               llvm::Twine(kMaxJSONDepth) + " levels");
  llvm::Expected<llvm::json::Value> parsed = llvm::json::parse(headerText);
  if (!parsed)
    return fileError(path, "header is not valid JSON: " +
                               llvm::toString(parsed.takeError()));
  const llvm::json::Object *root = parsed->getAsObject();
  if (!root)
    return fileError(path, "header is not a JSON object");
  if (scan.duplicate) {
    const DuplicateKey &d = *scan.duplicate;
    if (d.parents.empty())
      return fileError(path, "duplicate key '" + d.key + "' in the header");
    if (d.parents.size() == 1 && d.parents[0] == "__metadata__")
      return fileError(path, "duplicate key '" + d.key + "' in __metadata__");
    if (d.parents.size() == 1)
      return tensorError(path, d.parents[0],
                         "duplicate key '" + d.key + "' in its entry");
    return fileError(path, "header: " + describeDuplicate(d));
  }

  auto file = std::unique_ptr<SafeTensorsFile>(new SafeTensorsFile());
  file->path_ = path.str();
  file->headerSize_ = n;
  file->dataSize_ = fileSize - 8 - n;

  // __metadata__
  if (const llvm::json::Value *meta = root->get("__metadata__")) {
    const llvm::json::Object *metaObj = meta->getAsObject();
    if (!metaObj)
      return fileError(path, "__metadata__ is not a JSON object");
    for (const auto &kv : *metaObj) {
      std::optional<llvm::StringRef> v = kv.second.getAsString();
      if (!v)
        return fileError(path, "__metadata__ value for key '" +
                                   llvm::StringRef(kv.first) +
                                   "' is not a string");
      file->metadata_[kv.first.str()] = v->str();
    }
  }

  // Tensor entries, in header order.
  for (const std::string &name : scan.topLevelKeys) {
    if (name == "__metadata__")
      continue;
    const llvm::json::Value *entry = root->get(name);
    if (!entry) // cannot happen: the scan and the parser agree on keys
      return tensorError(path, name, "entry missing from parsed header");
    TensorInfo info;
    if (llvm::Error err = parseTensorEntry(path, name, *entry, info))
      return err;
    file->index_[name] = file->tensors_.size();
    file->tensors_.push_back(std::move(info));
  }

  // Bounds, then layout: sorted by begin, the ranges must tile the data
  // buffer exactly, starting at 0, with no gap, overlap or trailing bytes.
  uint64_t dataSize = file->dataSize_;
  for (const TensorInfo &t : file->tensors_)
    if (t.end > dataSize)
      return tensorError(path, t.name,
                         "data_offsets [" + llvm::Twine(t.begin) + ", " +
                             llvm::Twine(t.end) +
                             "] are out of bounds of the data buffer (" +
                             llvm::Twine(dataSize) + " bytes)");
  std::vector<const TensorInfo *> order;
  order.reserve(file->tensors_.size());
  for (const TensorInfo &t : file->tensors_)
    order.push_back(&t);
  // Ties (zero-sized tensors) keep header order, so messages are stable.
  std::sort(order.begin(), order.end(),
            [](const TensorInfo *a, const TensorInfo *b) {
              return std::make_tuple(a->begin, a->end, a) <
                     std::make_tuple(b->begin, b->end, b);
            });
  uint64_t cursor = 0;
  const TensorInfo *prev = nullptr;
  for (const TensorInfo *t : order) {
    if (t->begin > cursor) {
      if (!prev)
        return tensorError(path, t->name,
                           "data does not start at offset 0: the first "
                           "tensor begins at " +
                               llvm::Twine(t->begin));
      return tensorError(path, t->name,
                         "gap of " + llvm::Twine(t->begin - cursor) +
                             " bytes in the data buffer before this tensor "
                             "(previous tensor '" +
                             prev->name + "' ends at " + llvm::Twine(cursor) +
                             ", this one begins at " + llvm::Twine(t->begin) +
                             ")");
    }
    if (t->begin < cursor)
      return tensorError(path, t->name,
                         "data_offsets [" + llvm::Twine(t->begin) + ", " +
                             llvm::Twine(t->end) + "] overlap tensor '" +
                             prev->name + "' (which ends at " +
                             llvm::Twine(cursor) + ")");
    cursor = t->end;
    prev = t;
  }
  if (cursor != dataSize)
    return fileError(path, "trailing bytes: " + llvm::Twine(dataSize - cursor) +
                               " bytes of the data buffer after offset " +
                               llvm::Twine(cursor) +
                               " are not covered by any tensor");

  const char *dataBase = base + 8 + n;
  for (TensorInfo &t : file->tensors_) {
    t.data = dataBase + t.begin;
    if (t.dtype != "BOOL")
      continue;
    for (uint64_t i = 0; i < t.byteSize(); ++i) {
      unsigned char b = static_cast<unsigned char>(t.data[i]);
      if (b > 1)
        return tensorError(path, t.name,
                           "BOOL element " + llvm::Twine(i) +
                               " has byte value " + llvm::Twine(unsigned(b)) +
                               " (must be 0 or 1)");
    }
  }
  file->mapping_ = std::move(buffer);
  return file;
}

const TensorInfo *SafeTensorsFile::lookup(llvm::StringRef name) const {
  auto it = index_.find(name);
  if (it == index_.end())
    return nullptr;
  return &tensors_[it->second];
}

llvm::Expected<Tensor> SafeTensorsFile::asTensor(const TensorInfo &info) const {
  if (!info.runtimeType)
    return tensorError(path_, info.name,
                       "dtype " + info.dtype +
                           " is recognised but not supported for import");
  DType dt = *info.runtimeType;
  uintptr_t addr = reinterpret_cast<uintptr_t>(info.data);
  if (addr % dtypeSize(dt) == 0)
    return Tensor::borrow(dt, info.shape, info.data, keepAliveHandle(mapping_));
  // Misaligned (the format does not require alignment): copy.
  Tensor t(dt, info.shape);
  if (info.byteSize() != 0)
    std::memcpy(t.mutableRawData(), info.data, info.byteSize());
  return t;
}

llvm::Expected<Tensor> SafeTensorsFile::asTensor(llvm::StringRef name) const {
  const TensorInfo *info = lookup(name);
  if (!info)
    return tensorError(path_, name, "no such tensor in the file");
  return asTensor(*info);
}

//===----------------------------------------------------------------------===//
// Checkpoint
//===----------------------------------------------------------------------===//

static constexpr llvm::StringLiteral kSingleFileName = "model.safetensors";
static constexpr llvm::StringLiteral kIndexFileName =
    "model.safetensors.index.json";
static constexpr llvm::StringLiteral kConfigFileName = "config.json";

static std::string joinPath(llvm::StringRef dir, llvm::StringRef name) {
  llvm::SmallString<256> p(dir);
  llvm::sys::path::append(p, name);
  return std::string(p.str());
}

llvm::Expected<std::unique_ptr<Checkpoint>>
Checkpoint::open(llvm::StringRef fileOrDir) {
  llvm::sys::fs::file_status st;
  if (std::error_code ec = llvm::sys::fs::status(fileOrDir, st))
    return fileError(fileOrDir, "cannot open: " + ec.message());

  auto ckpt = std::unique_ptr<Checkpoint>(new Checkpoint());
  std::string single, index;
  if (llvm::sys::fs::is_directory(st)) {
    ckpt->directory_ = fileOrDir.str();
    std::string s = joinPath(fileOrDir, kSingleFileName);
    std::string x = joinPath(fileOrDir, kIndexFileName);
    if (llvm::sys::fs::exists(s))
      single = s;
    else if (llvm::sys::fs::exists(x))
      index = x;
    else
      return fileError(fileOrDir, "directory holds neither " + kSingleFileName +
                                      " nor " + kIndexFileName);
  } else if (llvm::sys::fs::is_regular_file(st)) {
    llvm::StringRef parent = llvm::sys::path::parent_path(fileOrDir);
    ckpt->directory_ = parent.empty() ? "." : parent.str();
    if (fileOrDir.ends_with(".json"))
      index = fileOrDir.str();
    else
      single = fileOrDir.str();
  } else {
    return fileError(fileOrDir, "not a regular file or a directory");
  }

  if (!single.empty()) {
    llvm::Expected<std::unique_ptr<SafeTensorsFile>> f =
        SafeTensorsFile::open(single);
    if (!f)
      return f.takeError();
    for (const TensorInfo &t : (*f)->tensors()) {
      ckpt->byName_[t.name] = TensorRef{f->get(), &t};
      ckpt->names_.push_back(t.name);
    }
    ckpt->files_.push_back(std::move(*f));
  } else if (llvm::Error err = ckpt->loadIndex(index)) {
    return err;
  }
  if (llvm::Error err = ckpt->loadConfig())
    return err;
  return ckpt;
}

llvm::Error Checkpoint::loadConfig() {
  std::string path = joinPath(directory_, kConfigFileName);
  if (!llvm::sys::fs::exists(path))
    return llvm::Error::success();
  llvm::Expected<std::shared_ptr<llvm::MemoryBuffer>> buf = mapFile(path);
  if (!buf)
    return buf.takeError();
  llvm::Expected<llvm::json::Value> value =
      parseStrictJSON((*buf)->getBuffer(), path);
  if (!value)
    return value.takeError();
  if (!value->getAsObject())
    return fileError(path, "config.json is not a JSON object");
  config_ = std::move(*value);
  return llvm::Error::success();
}

/// A shard must be a plain file name inside the index's directory.
static bool isPlainFileName(llvm::StringRef name) {
  return !name.empty() && name != "." && !name.contains('/') &&
         !name.contains('\\') && !name.contains("..") && !name.contains('\0') &&
         !llvm::sys::path::is_absolute(name);
}

llvm::Error Checkpoint::loadIndex(llvm::StringRef indexPath) {
  llvm::Expected<std::shared_ptr<llvm::MemoryBuffer>> buf = mapFile(indexPath);
  if (!buf)
    return buf.takeError();
  llvm::Expected<llvm::json::Value> value =
      parseStrictJSON((*buf)->getBuffer(), indexPath);
  if (!value)
    return value.takeError();
  const llvm::json::Object *root = value->getAsObject();
  if (!root)
    return fileError(indexPath, "index is not a JSON object");
  if (const llvm::json::Value *meta = root->get("metadata")) {
    if (!meta->getAsObject())
      return fileError(indexPath, "\"metadata\" is not a JSON object");
    indexMetadata_ = *meta;
  }
  const llvm::json::Value *wmValue = root->get("weight_map");
  if (!wmValue)
    return fileError(indexPath, "missing \"weight_map\"");
  const llvm::json::Object *weightMap = wmValue->getAsObject();
  if (!weightMap)
    return fileError(indexPath, "\"weight_map\" is not a JSON object");
  if (weightMap->empty())
    return fileError(indexPath, "\"weight_map\" lists no tensors");

  // Validate the entries; collect the shards (sorted, each opened once).
  std::map<std::string, std::string> wantShard;    // tensor -> shard
  std::map<std::string, std::string> shardExample; // shard -> some tensor
  for (const auto &kv : *weightMap) {
    std::string tensor = kv.first.str();
    std::optional<llvm::StringRef> shard = kv.second.getAsString();
    if (!shard)
      return fileError(indexPath, "weight_map entry for tensor '" + tensor +
                                      "' is not a string");
    if (!isPlainFileName(*shard))
      return fileError(indexPath,
                       "weight_map entry for tensor '" + tensor +
                           "' names shard '" + *shard +
                           "', which is not a plain file name in the index's "
                           "directory");
    wantShard[tensor] = shard->str();
    shardExample.emplace(shard->str(), tensor);
  }

  std::map<std::string, const SafeTensorsFile *> shardFiles;
  for (const auto &[shard, tensor] : shardExample) {
    std::string full = joinPath(directory_, shard);
    llvm::sys::fs::file_status st;
    if (std::error_code ec = llvm::sys::fs::status(full, st, /*Follow=*/false))
      return fileError(indexPath, "shard '" + shard + "' (listed for tensor '" +
                                      tensor +
                                      "') does not exist: " + ec.message());
    if (st.type() == llvm::sys::fs::file_type::symlink_file)
      return fileError(indexPath, "shard '" + shard +
                                      "' is a symlink; shards must be "
                                      "regular files");
    if (!llvm::sys::fs::is_regular_file(st))
      return fileError(indexPath,
                       "shard '" + shard + "' is not a regular file");
    llvm::Expected<std::unique_ptr<SafeTensorsFile>> f =
        SafeTensorsFile::open(full);
    if (!f)
      return f.takeError();
    shardFiles[shard] = f->get();
    files_.push_back(std::move(*f));
  }

  // No tensor in two shards; every shard tensor listed in weight_map for
  // that shard; every weight_map entry found in its shard.
  std::map<std::string, std::string> foundIn;
  for (const auto &f : files_) {
    llvm::StringRef shard = llvm::sys::path::filename(f->path());
    for (const TensorInfo &t : f->tensors()) {
      auto [it, inserted] = foundIn.emplace(t.name, shard.str());
      if (!inserted)
        return fileError(indexPath, "tensor '" + t.name +
                                        "' appears in two shards: '" +
                                        it->second + "' and '" + shard + "'");
    }
  }
  for (const auto &[tensor, shard] : wantShard) {
    const SafeTensorsFile *f = shardFiles[shard];
    if (!f->lookup(tensor))
      return fileError(indexPath, "tensor '" + tensor +
                                      "' is mapped to shard '" + shard +
                                      "' but that shard has no such tensor");
  }
  for (const auto &f : files_) {
    llvm::StringRef shard = llvm::sys::path::filename(f->path());
    for (const TensorInfo &t : f->tensors()) {
      if (!wantShard.count(t.name))
        return fileError(indexPath, "tensor '" + t.name + "' of shard '" +
                                        shard +
                                        "' is not listed in weight_map");
      byName_[t.name] = TensorRef{f.get(), &t};
      names_.push_back(t.name);
    }
  }
  return llvm::Error::success();
}

TensorRef Checkpoint::lookup(llvm::StringRef name) const {
  auto it = byName_.find(name);
  if (it == byName_.end())
    return TensorRef{};
  return it->second;
}

llvm::Expected<Tensor> Checkpoint::asTensor(llvm::StringRef name) const {
  TensorRef ref = lookup(name);
  if (!ref)
    return makeError(directory_ + ": tensor '" + name +
                     "' is not in the checkpoint");
  return ref.file->asTensor(*ref.info);
}

const llvm::json::Object *Checkpoint::config() const {
  return config_ ? config_->getAsObject() : nullptr;
}

const llvm::json::Object *Checkpoint::indexMetadata() const {
  return indexMetadata_ ? indexMetadata_->getAsObject() : nullptr;
}
