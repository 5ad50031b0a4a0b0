//===- NpyIO.cpp - NumPy .npy / .npz reading and writing ------------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// The .npy format: the magic "\x93NUMPY", a major and a minor version byte, a
// little-endian header length (2 bytes in 1.0, 4 bytes in 2.0 and 3.0), then
// a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and a newline, then the raw elements.
//
//===----------------------------------------------------------------------===//

#include "qopt/support/NpyIO.h"
#include "qopt/support/MappedFile.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/raw_ostream.h"

#include <zip.h>

#include <algorithm>
#include <cstdint>
#include <limits>

using namespace llvm;
using namespace qopt;

namespace {

constexpr bool kHostLittleEndian =
    llvm::endianness::native == llvm::endianness::little;

Error fail(const Twine &msg) { return createStringError(msg); }

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1)
    s += ",";
  s += ")";
  return s;
}

//===----------------------------------------------------------------------===//
// Header dict parsing
//===----------------------------------------------------------------------===//

struct NpyHeader {
  DType dtype = DType::F32;
  std::string descr;
  bool swapBytes = false;
  bool fortranOrder = false;
  std::vector<int64_t> shape;
};

/// Parses the Python literal subset numpy writes: a dict with string keys
/// whose values are strings, True/False or tuples of non-negative integers.
class HeaderParser {
public:
  HeaderParser(StringRef text, const Twine &name)
      : text(text), name(name.str()) {}

  Expected<NpyHeader> parse();

private:
  StringRef text;
  std::string name;
  size_t pos = 0;

  Error error(const Twine &what) {
    StringRef shown = text.rtrim();
    std::string shownText = shown.take_front(200).str();
    if (shown.size() > 200)
      shownText += "...";
    return fail(name + ": malformed .npy header: " + what +
                " (header: " + shownText + ")");
  }
  void skipSpace() {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t' ||
                                 text[pos] == '\n' || text[pos] == '\r'))
      ++pos;
  }
  bool consume(char c) {
    skipSpace();
    if (pos < text.size() && text[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }
  bool peek(char c) {
    skipSpace();
    return pos < text.size() && text[pos] == c;
  }
  Expected<std::string> parseString();
  Expected<bool> parseBool();
  Expected<std::vector<int64_t>> parseShape();
  Error parseDescr(StringRef descr, NpyHeader &h);
};

Expected<std::string> HeaderParser::parseString() {
  skipSpace();
  if (pos >= text.size() || (text[pos] != '\'' && text[pos] != '"'))
    return error("expected a string");
  char quote = text[pos++];
  size_t start = pos;
  while (pos < text.size() && text[pos] != quote) {
    if (text[pos] == '\\' || text[pos] == '\n')
      return error("unsupported character in string");
    ++pos;
  }
  if (pos >= text.size())
    return error("unterminated string");
  std::string s = text.slice(start, pos).str();
  ++pos;
  return s;
}

Expected<bool> HeaderParser::parseBool() {
  skipSpace();
  StringRef rest = text.substr(pos);
  if (rest.starts_with("True")) {
    pos += 4;
    return true;
  }
  if (rest.starts_with("False")) {
    pos += 5;
    return false;
  }
  return error("'fortran_order' must be True or False");
}

Expected<std::vector<int64_t>> HeaderParser::parseShape() {
  if (!consume('('))
    return error("'shape' must be a tuple");
  std::vector<int64_t> dims;
  bool sawComma = false;
  while (!consume(')')) {
    skipSpace();
    if (pos < text.size() && text[pos] == '-')
      return error("'shape' has a negative dimension");
    if (pos >= text.size() || !isDigit(text[pos]))
      return error("'shape' must contain only non-negative integers");
    uint64_t v = 0;
    while (pos < text.size() && isDigit(text[pos])) {
      unsigned digit = text[pos] - '0';
      if (v >
          (static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) - digit) /
              10)
        return error("'shape' dimension does not fit in 64 bits");
      v = v * 10 + digit;
      ++pos;
    }
    if (pos < text.size() && (text[pos] == 'L' || text[pos] == 'l'))
      ++pos; // Python 2 long suffix
    dims.push_back(static_cast<int64_t>(v));
    sawComma = consume(',');
    if (!sawComma && !peek(')'))
      return error("expected ',' or ')' in 'shape'");
  }
  if (dims.size() == 1 && !sawComma)
    return error("'shape' must be a tuple: a single dimension needs a "
                 "trailing comma");
  return dims;
}

Error HeaderParser::parseDescr(StringRef descr, NpyHeader &h) {
  h.descr = descr.str();
  if (descr.size() < 2)
    return fail(name + ": unsupported dtype '" + descr + "'");
  char order = descr[0];
  StringRef kind = descr.drop_front();
  if (order != '<' && order != '>' && order != '|' && order != '=') {
    order = '=';
    kind = descr;
  }
  static const struct {
    const char *kind;
    DType dtype;
  } table[] = {{"f2", DType::F16}, {"f4", DType::F32}, {"f8", DType::F64},
               {"i1", DType::I8},  {"u1", DType::U8},  {"i2", DType::I16},
               {"u2", DType::U16}, {"i4", DType::I32}, {"u4", DType::U32},
               {"i8", DType::I64}, {"u8", DType::U64}, {"b1", DType::Bool}};
  for (const auto &entry : table) {
    if (kind != entry.kind)
      continue;
    h.dtype = entry.dtype;
    bool fileLittle =
        order == '<' || ((order == '|' || order == '=') && kHostLittleEndian);
    h.swapBytes = dtypeSize(h.dtype) > 1 && fileLittle != kHostLittleEndian;
    return Error::success();
  }
  return fail(name + ": unsupported dtype '" + descr +
              "' (supported: f2 f4 f8 i1 u1 i2 u2 i4 u4 i8 u8 b1, "
              "little- or big-endian)");
}

Expected<NpyHeader> HeaderParser::parse() {
  NpyHeader h;
  bool haveDescr = false, haveOrder = false, haveShape = false;
  if (!consume('{'))
    return error("expected '{'");
  while (!consume('}')) {
    Expected<std::string> key = parseString();
    if (!key)
      return key.takeError();
    if (!consume(':'))
      return error("expected ':' after key '" + *key + "'");
    if (*key == "descr") {
      if (haveDescr)
        return error("duplicate key 'descr'");
      haveDescr = true;
      if (peek('['))
        return fail(name + ": structured (record) dtypes are not supported");
      Expected<std::string> descr = parseString();
      if (!descr)
        return descr.takeError();
      if (Error e = parseDescr(*descr, h))
        return e;
    } else if (*key == "fortran_order") {
      if (haveOrder)
        return error("duplicate key 'fortran_order'");
      haveOrder = true;
      Expected<bool> b = parseBool();
      if (!b)
        return b.takeError();
      h.fortranOrder = *b;
    } else if (*key == "shape") {
      if (haveShape)
        return error("duplicate key 'shape'");
      haveShape = true;
      Expected<std::vector<int64_t>> shape = parseShape();
      if (!shape)
        return shape.takeError();
      h.shape = std::move(*shape);
    } else {
      return error("unexpected key '" + *key + "'");
    }
    if (!consume(',') && !peek('}'))
      return error("expected ',' or '}'");
  }
  skipSpace();
  if (pos != text.size())
    return error("unexpected text after the dict");
  if (!haveDescr || !haveOrder || !haveShape)
    return error("the dict must have the keys 'descr', 'fortran_order' and "
                 "'shape'");
  return h;
}

//===----------------------------------------------------------------------===//
// Reading
//===----------------------------------------------------------------------===//

void swapElementBytes(char *data, size_t count, size_t itemSize) {
  for (size_t i = 0; i < count; ++i)
    std::reverse(data + i * itemSize, data + (i + 1) * itemSize);
}

/// Copies Fortran-ordered (column-major) elements into row-major order.
void fortranToRowMajor(const char *src, char *dst,
                       const std::vector<int64_t> &shape, size_t itemSize,
                       int64_t count) {
  size_t rank = shape.size();
  // Column-major strides of the source, in elements.
  std::vector<int64_t> srcStride(rank, 1);
  for (size_t k = 1; k < rank; ++k)
    srcStride[k] = srcStride[k - 1] * shape[k - 1];
  std::vector<int64_t> index(rank, 0);
  int64_t srcOffset = 0;
  for (int64_t n = 0; n < count; ++n) {
    std::memcpy(dst + n * itemSize, src + srcOffset * itemSize, itemSize);
    // Advance the row-major odometer (last dim fastest).
    for (size_t k = rank; k > 0; --k) {
      size_t d = k - 1;
      if (++index[d] < shape[d]) {
        srcOffset += srcStride[d];
        break;
      }
      srcOffset -= (index[d] - 1) * srcStride[d];
      index[d] = 0;
    }
  }
}

/// Parses .npy bytes. When `keepAlive` owns `bytes` and the data can be used
/// as is (native byte order, C order, 64-byte aligned, canonical booleans),
/// the tensor borrows it; otherwise the data is copied.
Expected<Tensor> parseNpyImpl(StringRef bytes, const std::string &name,
                              std::shared_ptr<const void> keepAlive) {
  static constexpr char magic[] = "\x93NUMPY";
  if (!bytes.starts_with(StringRef(magic, 6)))
    return fail(name + ": not an .npy file (bad magic; expected "
                       "\"\\x93NUMPY\")");
  if (bytes.size() < 10)
    return fail(name + ": truncated .npy file (" + Twine(bytes.size()) +
                " bytes, shorter than the fixed header)");
  unsigned major = static_cast<unsigned char>(bytes[6]);
  unsigned minor = static_cast<unsigned char>(bytes[7]);
  if (major < 1 || major > 3 || minor != 0)
    return fail(name + ": unsupported .npy format version " + Twine(major) +
                "." + Twine(minor) + " (supported: 1.0, 2.0, 3.0)");
  uint64_t headerStart, headerLen;
  if (major == 1) {
    headerStart = 10;
    headerLen = support::endian::read16le(bytes.data() + 8);
  } else {
    if (bytes.size() < 12)
      return fail(name + ": truncated .npy file (" + Twine(bytes.size()) +
                  " bytes, shorter than the fixed header)");
    headerStart = 12;
    headerLen = support::endian::read32le(bytes.data() + 8);
  }
  if (headerLen > bytes.size() - headerStart)
    return fail(name + ": truncated .npy file: header length " +
                Twine(headerLen) + " runs past the end of the file (" +
                Twine(bytes.size()) + " bytes)");
  StringRef headerText = bytes.substr(headerStart, headerLen);
  if (headerText.contains('\0'))
    return fail(name + ": malformed .npy header: contains a NUL byte");

  Expected<NpyHeader> header = HeaderParser(headerText, name).parse();
  if (!header)
    return header.takeError();

  std::optional<int64_t> count = checkedNumElements(header->shape);
  if (!count)
    return fail(name + ": shape " + shapeString(header->shape) +
                " has too many elements (overflows 64 bits)");
  size_t itemSize = dtypeSize(header->dtype);
  uint64_t needed;
  if (static_cast<uint64_t>(*count) >
      std::numeric_limits<uint64_t>::max() / itemSize)
    return fail(name + ": shape " + shapeString(header->shape) +
                " is too large (byte size overflows 64 bits)");
  needed = static_cast<uint64_t>(*count) * itemSize;
  if (needed > std::numeric_limits<size_t>::max())
    return fail(name + ": shape " + shapeString(header->shape) +
                " is too large for this machine");

  StringRef data = bytes.drop_front(headerStart + headerLen);
  if (data.size() != needed)
    return fail(name + ": data size mismatch: shape " +
                shapeString(header->shape) + " of dtype '" + header->descr +
                "' needs " + Twine(needed) + " bytes but the file has " +
                Twine(data.size()) +
                (data.size() < needed ? " (truncated)" : ""));

  bool canBorrow =
      keepAlive && needed > 0 && !header->swapBytes &&
      (!header->fortranOrder || header->shape.size() <= 1) &&
      reinterpret_cast<uintptr_t>(data.data()) % kTensorAlignment == 0;
  if (canBorrow && header->dtype == DType::Bool)
    canBorrow = std::all_of(data.begin(), data.end(),
                            [](char c) { return c == 0 || c == 1; });
  if (canBorrow)
    return Tensor::borrow(header->dtype, header->shape, data.data(),
                          std::move(keepAlive));

  Tensor t(header->dtype, header->shape);
  if (needed == 0)
    return t;
  char *out = static_cast<char *>(t.mutableRawData());
  if (header->fortranOrder && header->shape.size() > 1)
    fortranToRowMajor(data.data(), out, header->shape, itemSize, *count);
  else
    std::memcpy(out, data.data(), needed);
  if (header->swapBytes)
    swapElementBytes(out, static_cast<size_t>(*count), itemSize);
  if (header->dtype == DType::Bool)
    for (size_t i = 0; i < needed; ++i)
      out[i] = out[i] != 0;
  return t;
}

//===----------------------------------------------------------------------===//
// Writing
//===----------------------------------------------------------------------===//

Expected<std::string> npyDescr(DType dtype, StringRef name) {
  const char order = kHostLittleEndian ? '<' : '>';
  std::string kind;
  switch (dtype) {
  case DType::F16:
    kind = "f2";
    break;
  case DType::F32:
    kind = "f4";
    break;
  case DType::F64:
    kind = "f8";
    break;
  case DType::I16:
    kind = "i2";
    break;
  case DType::U16:
    kind = "u2";
    break;
  case DType::I32:
    kind = "i4";
    break;
  case DType::U32:
    kind = "u4";
    break;
  case DType::I64:
    kind = "i8";
    break;
  case DType::U64:
    kind = "u8";
    break;
  case DType::I8:
    return std::string("|i1");
  case DType::U8:
    return std::string("|u1");
  case DType::Bool:
    return std::string("|b1");
  case DType::BF16:
    return fail(name + ": bf16 has no NumPy dtype; convert the tensor to f32 "
                       "before writing it");
  }
  return std::string(1, order) + kind;
}

/// Writes the concatenation of `pieces` to `path` through a temporary file
/// in the same directory that is renamed into place; the temporary is removed
/// on failure.
Error writeFileAtomically(StringRef path, ArrayRef<StringRef> pieces) {
  int fd;
  SmallString<256> tmp;
  if (std::error_code ec =
          sys::fs::createUniqueFile(path + ".tmp-%%%%%%%%", fd, tmp))
    return fail("cannot create a temporary file next to '" + path +
                "': " + ec.message());
  {
    raw_fd_ostream os(fd, /*shouldClose=*/true);
    for (StringRef piece : pieces)
      os << piece;
    os.close();
    if (os.has_error()) {
      std::string msg = os.error().message();
      os.clear_error();
      sys::fs::remove(tmp);
      return fail("cannot write '" + path + "': " + msg);
    }
  }
  if (std::error_code ec = sys::fs::rename(tmp, path)) {
    sys::fs::remove(tmp);
    return fail("cannot write '" + path + "': rename from '" + tmp +
                "' failed: " + ec.message());
  }
  return Error::success();
}

/// An .npy file to be written: its header, and its data (the tensor's own
/// bytes, or `scratch` when they had to be normalized).
struct NpyPieces {
  std::string header;
  StringRef tensorBytes;
  std::string scratch;
  bool useScratch = false;

  // Not a stored StringRef: moving `scratch` may move its characters.
  StringRef data() const {
    return useScratch ? StringRef(scratch) : tensorBytes;
  }
};

Expected<NpyPieces> makeNpyPieces(const Tensor &t, StringRef nameForErrors) {
  std::optional<int64_t> count = checkedNumElements(t.shape());
  if (!count || *count != t.numElements() ||
      (t.numElements() != 0 && !t.rawData()))
    return fail(nameForErrors + ": cannot serialize a tensor without data");
  Expected<std::string> descr = npyDescr(t.dtype(), nameForErrors);
  if (!descr)
    return descr.takeError();
  std::string dict =
      "{'descr': '" + *descr +
      "', 'fortran_order': False, 'shape': " + shapeString(t.shape()) + ", }";
  // Pad with spaces so that the data starts at a multiple of 64 bytes; the
  // header ends with a newline.
  size_t prefix = 10;
  unsigned major = 1;
  if (dict.size() + 1 + 63 > 0xffff) {
    prefix = 12;
    major = 2;
  }
  size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  dict.append(total - prefix - dict.size() - 1, ' ');
  dict += '\n';
  if (major == 2 && dict.size() > std::numeric_limits<uint32_t>::max())
    return fail(nameForErrors + ": .npy header too long");

  NpyPieces pieces;
  std::string &out = pieces.header;
  out.reserve(total);
  out.append("\x93NUMPY", 6);
  out += static_cast<char>(major);
  out += '\0';
  char len[4];
  if (major == 1) {
    support::endian::write16le(len, static_cast<uint16_t>(dict.size()));
    out.append(len, 2);
  } else {
    support::endian::write32le(len, static_cast<uint32_t>(dict.size()));
    out.append(len, 4);
  }
  out += dict;

  StringRef bytes(static_cast<const char *>(t.rawData()), t.byteSize());
  pieces.tensorBytes = bytes;
  if (t.dtype() == DType::Bool &&
      !std::all_of(bytes.begin(), bytes.end(),
                   [](char c) { return c == 0 || c == 1; })) {
    pieces.scratch.resize(bytes.size());
    for (size_t i = 0; i < bytes.size(); ++i)
      pieces.scratch[i] = bytes[i] != 0;
    pieces.useScratch = true;
  }
  return pieces;
}

std::string zipErrorString(zip_error_t *err) { return zip_error_strerror(err); }

std::string zipErrorFromCode(int code) {
  zip_error_t err;
  zip_error_init_with_code(&err, code);
  std::string s = zip_error_strerror(&err);
  zip_error_fini(&err);
  return s;
}

/// Closes (discarding) a zip archive when it goes out of scope.
struct ZipArchive {
  zip_t *za = nullptr;
  ~ZipArchive() {
    if (za)
      zip_discard(za);
  }
};

/// Closes a member being read when it goes out of scope.
struct ZipMember {
  zip_file_t *zf = nullptr;
  ~ZipMember() {
    if (zf)
      zip_fclose(zf);
  }
};

} // namespace

//===----------------------------------------------------------------------===//
// Public API
//===----------------------------------------------------------------------===//

Expected<Tensor> qopt::parseNpy(StringRef bytes, StringRef nameForErrors) {
  return parseNpyImpl(bytes, nameForErrors.str(), nullptr);
}

Expected<Tensor> qopt::readNpy(StringRef path) {
  Expected<std::shared_ptr<MemoryBuffer>> buf = mapFile(path);
  if (!buf)
    return buf.takeError();
  return parseNpyImpl((*buf)->getBuffer(), path.str(), keepAliveHandle(*buf));
}

Expected<std::string> qopt::serializeNpy(const Tensor &t,
                                         StringRef nameForErrors) {
  Expected<NpyPieces> pieces = makeNpyPieces(t, nameForErrors);
  if (!pieces)
    return pieces.takeError();
  std::string out = std::move(pieces->header);
  StringRef data = pieces->data();
  out.append(data.data(), data.size());
  return out;
}

Error qopt::writeNpy(StringRef path, const Tensor &t) {
  Expected<NpyPieces> pieces = makeNpyPieces(t, path);
  if (!pieces)
    return pieces.takeError();
  return writeFileAtomically(path, {pieces->header, pieces->data()});
}

Expected<std::vector<std::pair<std::string, Tensor>>>
qopt::readNpz(StringRef path) {
  if (sys::fs::is_directory(path))
    return fail("cannot read '" + path + "': it is a directory");
  int errorCode = 0;
  ZipArchive archive;
  archive.za =
      zip_open(path.str().c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &errorCode);
  if (!archive.za)
    return fail("cannot read '" + path +
                "' as an .npz (zip) archive: " + zipErrorFromCode(errorCode));

  zip_int64_t numEntries = zip_get_num_entries(archive.za, 0);
  if (numEntries < 0)
    return fail("cannot read '" + path +
                "': " + zipErrorString(zip_get_error(archive.za)));

  NamedArrays result;
  StringSet<> seen;
  for (zip_int64_t i = 0; i < numEntries; ++i) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(archive.za, i, 0, &st) != 0)
      return fail("cannot read '" + path + "': member #" + Twine(i) + ": " +
                  zipErrorString(zip_get_error(archive.za)));
    const bool haveFields = (st.valid & ZIP_STAT_NAME) &&
                            (st.valid & ZIP_STAT_SIZE) &&
                            (st.valid & ZIP_STAT_COMP_SIZE);
    if (!haveFields)
      return fail("cannot read '" + path + "': member #" + Twine(i) +
                  " has no name or size");
    StringRef memberName(st.name);
    if (memberName.ends_with("/") && st.size == 0)
      continue; // directory entry
    std::string where = (path + ": member '" + memberName + "'").str();
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) &&
        st.encryption_method != ZIP_EM_NONE)
      return fail(where + ": encrypted members are not supported");
    if ((st.valid & ZIP_STAT_COMP_METHOD)) {
      if (st.comp_method == ZIP_CM_STORE && st.size != st.comp_size)
        return fail(where + ": stored member has inconsistent sizes");
      // Deflate cannot expand data more than about 1032:1; a larger claimed
      // size is corrupt and would only make us allocate for nothing.
      if (st.comp_method == ZIP_CM_DEFLATE && st.size / 1032 > st.comp_size + 1)
        return fail(where + ": claimed uncompressed size " + Twine(st.size) +
                    " is impossible for " + Twine(st.comp_size) +
                    " compressed bytes");
    }
    if (st.size > std::numeric_limits<size_t>::max() - kTensorAlignment)
      return fail(where + ": member too large for this machine");

    std::string key = memberName.ends_with(".npy")
                          ? memberName.drop_back(4).str()
                          : memberName.str();
    if (!seen.insert(key).second)
      return fail(where + ": duplicate array name '" + key + "'");

    std::shared_ptr<void> buffer =
        allocateAlignedBuffer(static_cast<size_t>(st.size), /*zeroFill=*/false);
    if (!buffer)
      return fail(where + ": out of memory (" + Twine(st.size) + " bytes)");
    char *dst = static_cast<char *>(buffer.get());

    ZipMember member;
    member.zf = zip_fopen_index(archive.za, i, 0);
    if (!member.zf)
      return fail(where + ": cannot open: " +
                  zipErrorString(zip_get_error(archive.za)));
    uint64_t done = 0;
    while (done < st.size) {
      zip_int64_t n = zip_fread(member.zf, dst + done, st.size - done);
      if (n < 0)
        return fail(where + ": read error: " +
                    zipErrorString(zip_file_get_error(member.zf)));
      if (n == 0)
        return fail(where + ": truncated (" + Twine(done) + " of " +
                    Twine(st.size) + " bytes)");
      done += static_cast<uint64_t>(n);
    }
    // Read to the end so that libzip verifies the CRC.
    char extra;
    zip_int64_t n = zip_fread(member.zf, &extra, 1);
    if (n < 0)
      return fail(where + ": read error: " +
                  zipErrorString(zip_file_get_error(member.zf)));
    if (n > 0)
      return fail(where + ": member is longer than its recorded size");
    int closeErr = zip_fclose(member.zf);
    member.zf = nullptr;
    if (closeErr != 0)
      return fail(where + ": " + zipErrorFromCode(closeErr));

    Expected<Tensor> t =
        parseNpyImpl(StringRef(dst, static_cast<size_t>(st.size)), where,
                     std::shared_ptr<const void>(std::move(buffer)));
    if (!t)
      return t.takeError();
    result.emplace_back(std::move(key), std::move(*t));
  }
  return result;
}

Error qopt::writeNpz(StringRef path, const NamedArrays &arrays) {
  StringSet<> seen;
  // The members are written straight from the tensors' storage, which
  // `arrays` keeps alive until zip_close.
  std::vector<NpyPieces> members;
  members.reserve(arrays.size());
  for (const auto &[name, tensor] : arrays) {
    if (name.empty())
      return fail("cannot write '" + path + "': an array has an empty name");
    if (StringRef(name).contains('\0'))
      return fail("cannot write '" + path + "': array name contains a NUL");
    if (!seen.insert(name).second)
      return fail("cannot write '" + path + "': duplicate array name '" + name +
                  "'");
    Expected<NpyPieces> pieces =
        makeNpyPieces(tensor, (path + ": array '" + name + "'").str());
    if (!pieces)
      return pieces.takeError();
    members.push_back(std::move(*pieces));
  }

  if (arrays.empty()) {
    // libzip deletes archives without members; write the 22-byte
    // end-of-central-directory record of an empty zip file ourselves.
    std::string empty("PK\x05\x06", 4);
    empty.append(18, '\0');
    return writeFileAtomically(path, {StringRef(empty)});
  }

  int fd;
  SmallString<256> tmp;
  if (std::error_code ec =
          sys::fs::createUniqueFile(path + ".tmp-%%%%%%%%", fd, tmp))
    return fail("cannot create a temporary file next to '" + path +
                "': " + ec.message());
  sys::Process::SafelyCloseFileDescriptor(fd);
  auto failAndRemove = [&](const Twine &msg) {
    sys::fs::remove(tmp);
    return fail("cannot write '" + path + "': " + msg);
  };

  int errorCode = 0;
  ZipArchive archive;
  archive.za = zip_open(tmp.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &errorCode);
  if (!archive.za)
    return failAndRemove(zipErrorFromCode(errorCode));
  for (size_t i = 0; i < arrays.size(); ++i) {
    std::string memberName = arrays[i].first + ".npy";
    const NpyPieces &m = members[i];
    // libzip takes non-const pointers but only reads the fragments.
    zip_buffer_fragment_t fragments[2] = {
        {reinterpret_cast<zip_uint8_t *>(const_cast<char *>(m.header.data())),
         m.header.size()},
        {reinterpret_cast<zip_uint8_t *>(const_cast<char *>(m.data().data())),
         m.data().size()}};
    zip_source_t *src = zip_source_buffer_fragment(
        archive.za, fragments, m.data().empty() ? 1 : 2, /*freep=*/0);
    if (!src)
      return failAndRemove("member '" + memberName +
                           "': " + zipErrorString(zip_get_error(archive.za)));
    zip_int64_t index =
        zip_file_add(archive.za, memberName.c_str(), src, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
      zip_source_free(src);
      return failAndRemove("member '" + memberName +
                           "': " + zipErrorString(zip_get_error(archive.za)));
    }
    if (zip_set_file_compression(archive.za, index, ZIP_CM_STORE, 0) != 0)
      return failAndRemove("member '" + memberName +
                           "': " + zipErrorString(zip_get_error(archive.za)));
  }
  if (zip_close(archive.za) != 0)
    return failAndRemove(zipErrorString(zip_get_error(archive.za)));
  archive.za = nullptr; // closed (and freed) by zip_close
  if (std::error_code ec = sys::fs::rename(tmp, path))
    return failAndRemove("rename from '" + tmp + "' failed: " + ec.message());
  return Error::success();
}

Expected<std::vector<std::pair<std::string, Tensor>>>
qopt::readArrays(StringRef path) {
  std::string ext = sys::path::extension(path).lower();
  if (ext == ".npz")
    return readNpz(path);
  if (ext == ".npy") {
    Expected<Tensor> t = readNpy(path);
    if (!t)
      return t.takeError();
    NamedArrays result;
    result.emplace_back(sys::path::stem(path).str(), std::move(*t));
    return result;
  }
  return fail("cannot read arrays from '" + path +
              "': unsupported extension (expected .npy or .npz)");
}
