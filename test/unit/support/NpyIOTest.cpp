//===- NpyIOTest.cpp - Tests for the .npy / .npz readers and writers ------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#include "qopt/support/NpyIO.h"
#include "qopt/support/MappedFile.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include "gtest/gtest.h"

#include <zip.h>

#include <cmath>

using namespace qopt;
using llvm::StringRef;

namespace {

const DType kNpyDTypes[] = {DType::F32, DType::F64, DType::F16, DType::I8,
                            DType::U8,  DType::I16, DType::U16, DType::I32,
                            DType::U32, DType::I64, DType::U64, DType::Bool};

template <typename T> std::string errorOf(llvm::Expected<T> &e) {
  if (e)
    return "<no error>";
  return llvm::toString(e.takeError());
}

std::string errorOf(llvm::Error e) {
  if (!e)
    return "<no error>";
  return llvm::toString(std::move(e));
}

bool contains(const std::string &haystack, StringRef needle) {
  return StringRef(haystack).contains(needle);
}

/// Builds .npy bytes by hand with an arbitrary header and payload.
std::string makeNpy(StringRef dict, StringRef data, unsigned major = 1) {
  std::string header = dict.str();
  size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64)
    header += ' ';
  header += '\n';
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(major);
  out += '\0';
  char len[4];
  if (major == 1) {
    llvm::support::endian::write16le(len, header.size());
    out.append(len, 2);
  } else {
    llvm::support::endian::write32le(len, header.size());
    out.append(len, 4);
  }
  return out + header + data.str();
}

template <typename T> std::string rawBytes(std::initializer_list<T> values) {
  std::string s;
  for (T v : values)
    s.append(reinterpret_cast<const char *>(&v), sizeof(T));
  return s;
}

/// A tensor of `dtype` filled with distinct values that survive the dtype.
Tensor sampleTensor(DType dtype, std::vector<int64_t> shape) {
  Tensor t(dtype, std::move(shape));
  for (int64_t i = 0; i < t.numElements(); ++i) {
    double v = dtype == DType::Bool ? (i % 3 == 0) : static_cast<double>(i + 1);
    if (isFloat(dtype))
      v = v * 0.5 - 1.0;
    else if (isSignedInt(dtype))
      v = (i % 2) ? -v : v;
    t.setFromDouble(i, v);
  }
  return t;
}

void expectSameTensor(const Tensor &a, const Tensor &b, StringRef what) {
  EXPECT_EQ(a.dtype(), b.dtype()) << what.str();
  EXPECT_EQ(a.shape(), b.shape()) << what.str();
  ASSERT_EQ(a.byteSize(), b.byteSize()) << what.str();
  if (a.byteSize()) {
    EXPECT_EQ(std::memcmp(a.rawData(), b.rawData(), a.byteSize()), 0)
        << what.str();
  }
}

class NpyIOTest : public ::testing::Test {
protected:
  llvm::SmallString<256> dir;

  void SetUp() override {
    ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("qopt-npyio-test", dir));
  }
  void TearDown() override { llvm::sys::fs::remove_directories(dir); }

  std::string path(StringRef name) {
    llvm::SmallString<256> p(dir);
    llvm::sys::path::append(p, name);
    return std::string(p.str());
  }
  std::string writeBytes(StringRef name, StringRef bytes) {
    std::string p = path(name);
    std::error_code ec;
    llvm::raw_fd_ostream os(p, ec);
    EXPECT_FALSE(ec) << ec.message();
    os << bytes;
    return p;
  }
  std::vector<std::string> listDir() {
    std::vector<std::string> names;
    std::error_code ec;
    for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec;
         it.increment(ec))
      names.push_back(llvm::sys::path::filename(it->path()).str());
    std::sort(names.begin(), names.end());
    return names;
  }
  /// Writes a zip archive whose members have the given names and contents.
  std::string
  writeZip(StringRef name,
           const std::vector<std::pair<std::string, std::string>> &members,
           bool deflate) {
    std::string p = path(name);
    int err = 0;
    zip_t *za = zip_open(p.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
    EXPECT_NE(za, nullptr);
    if (!za)
      return p;
    for (const auto &[memberName, bytes] : members) {
      zip_source_t *src = zip_source_buffer(za, bytes.data(), bytes.size(), 0);
      zip_int64_t idx = zip_file_add(za, memberName.c_str(), src, 0);
      EXPECT_GE(idx, 0);
      zip_set_file_compression(za, idx, deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE,
                               0);
    }
    EXPECT_EQ(zip_close(za), 0);
    return p;
  }
};

//===----------------------------------------------------------------------===//
// Round trips
//===----------------------------------------------------------------------===//

TEST_F(NpyIOTest, NpyRoundTripEveryDType) {
  const std::vector<std::vector<int64_t>> shapes = {
      {2, 3}, {}, {7}, {0, 4}, {2, 1, 3, 2}};
  for (DType dtype : kNpyDTypes) {
    for (const auto &shape : shapes) {
      Tensor t = sampleTensor(dtype, shape);
      std::string what = t.describe();
      std::string p = path(std::string("rt_") + dtypeName(dtype) + ".npy");
      llvm::Error e = writeNpy(p, t);
      ASSERT_FALSE(e) << what << ": " << llvm::toString(std::move(e));
      llvm::Expected<Tensor> back = readNpy(p);
      ASSERT_TRUE(static_cast<bool>(back)) << what << ": " << errorOf(back);
      expectSameTensor(t, *back, what);
      if (back->numElements()) {
        EXPECT_EQ(reinterpret_cast<uintptr_t>(back->rawData()) % 64, 0u);
      }

      llvm::Expected<std::string> bytes = serializeNpy(t, what);
      ASSERT_TRUE(static_cast<bool>(bytes)) << errorOf(bytes);
      EXPECT_EQ((bytes->size() - t.byteSize()) % 64, 0u)
          << "header is padded to a multiple of 64";
      llvm::Expected<Tensor> parsed = parseNpy(*bytes, what);
      ASSERT_TRUE(static_cast<bool>(parsed)) << errorOf(parsed);
      expectSameTensor(t, *parsed, what);
    }
  }
  // No temporary files are left behind.
  for (const std::string &name : listDir())
    EXPECT_FALSE(contains(name, ".tmp")) << name;
}

TEST_F(NpyIOTest, WrittenHeaderIsNumpyStyle) {
  Tensor t(DType::F32, {2, 3});
  llvm::Expected<std::string> bytes = serializeNpy(t, "t");
  ASSERT_TRUE(static_cast<bool>(bytes)) << errorOf(bytes);
  EXPECT_EQ(bytes->substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_TRUE(contains(*bytes, "{'descr': '<f4', 'fortran_order': False, "
                               "'shape': (2, 3), }"));
  Tensor v(DType::U8, {5});
  bytes = serializeNpy(v, "v");
  ASSERT_TRUE(static_cast<bool>(bytes)) << errorOf(bytes);
  EXPECT_TRUE(contains(*bytes, "'descr': '|u1'"));
  EXPECT_TRUE(contains(*bytes, "'shape': (5,)"));
  EXPECT_EQ((*bytes)[127], '\n');
}

TEST_F(NpyIOTest, LargeFileIsBorrowedFromTheMapping) {
  Tensor t = sampleTensor(DType::F32, {64, 256}); // 64 KiB: mapped
  std::string p = path("big.npy");
  ASSERT_EQ(errorOf(writeNpy(p, t)), "<no error>");
  llvm::Expected<Tensor> back = readNpy(p);
  ASSERT_TRUE(static_cast<bool>(back)) << errorOf(back);
  expectSameTensor(t, *back, "big");
  // Writing copies; the file is unchanged.
  back->setFromDouble(0, 1234.0);
  llvm::Expected<Tensor> again = readNpy(p);
  ASSERT_TRUE(static_cast<bool>(again)) << errorOf(again);
  EXPECT_EQ(again->getAsDouble(0), t.getAsDouble(0));
  EXPECT_EQ(back->getAsDouble(0), 1234.0);
}

TEST_F(NpyIOTest, BF16IsRejectedByWriters) {
  Tensor t(DType::BF16, {2});
  std::string p = path("bf16.npy");
  std::string msg = errorOf(writeNpy(p, t));
  EXPECT_TRUE(contains(msg, "bf16")) << msg;
  EXPECT_FALSE(llvm::sys::fs::exists(p));
  msg = errorOf(writeNpz(path("bf16.npz"), {{"w", t}}));
  EXPECT_TRUE(contains(msg, "'w'")) << msg;
  EXPECT_TRUE(listDir().empty());
}

TEST_F(NpyIOTest, NpzSeveralMembersKeepOrder) {
  NamedArrays arrays;
  arrays.emplace_back("weights", sampleTensor(DType::F32, {4, 3}));
  arrays.emplace_back("bias", sampleTensor(DType::F64, {3}));
  arrays.emplace_back("ids", sampleTensor(DType::I64, {2, 2}));
  arrays.emplace_back("mask", sampleTensor(DType::Bool, {5}));
  arrays.emplace_back("scalar", sampleTensor(DType::U16, {}));
  arrays.emplace_back("empty", sampleTensor(DType::I8, {0}));
  arrays.emplace_back("half", sampleTensor(DType::F16, {3, 1}));
  std::string p = path("many.npz");
  ASSERT_EQ(errorOf(writeNpz(p, arrays)), "<no error>");
  llvm::Expected<NamedArrays> back = readNpz(p);
  ASSERT_TRUE(static_cast<bool>(back)) << errorOf(back);
  ASSERT_EQ(back->size(), arrays.size());
  for (size_t i = 0; i < arrays.size(); ++i) {
    EXPECT_EQ((*back)[i].first, arrays[i].first);
    expectSameTensor(arrays[i].second, (*back)[i].second, arrays[i].first);
  }
  llvm::Expected<NamedArrays> viaDispatch = readArrays(p);
  ASSERT_TRUE(static_cast<bool>(viaDispatch)) << errorOf(viaDispatch);
  EXPECT_EQ(viaDispatch->size(), arrays.size());
  EXPECT_EQ(listDir(), std::vector<std::string>{"many.npz"});

  // Overwriting an existing archive replaces it.
  arrays.resize(1);
  ASSERT_EQ(errorOf(writeNpz(p, arrays)), "<no error>");
  back = readNpz(p);
  ASSERT_TRUE(static_cast<bool>(back)) << errorOf(back);
  EXPECT_EQ(back->size(), 1u);
}

TEST_F(NpyIOTest, WritersNormalizeBooleans) {
  Tensor t(DType::Bool, {3});
  static_cast<uint8_t *>(t.mutableRawData())[1] = 2; // not canonical
  std::string npz = path("bools.npz");
  ASSERT_EQ(errorOf(writeNpz(npz, {{"m", t}, {"n", t}})), "<no error>");
  llvm::Expected<NamedArrays> back = readNpz(npz);
  ASSERT_TRUE(static_cast<bool>(back)) << errorOf(back);
  for (const auto &entry : *back) {
    const auto *bytes = static_cast<const uint8_t *>(entry.second.rawData());
    EXPECT_EQ(bytes[0], 0);
    EXPECT_EQ(bytes[1], 1);
  }
  llvm::Expected<std::string> bytes = serializeNpy(t, "m");
  ASSERT_TRUE(static_cast<bool>(bytes)) << errorOf(bytes);
  EXPECT_EQ(bytes->substr(bytes->size() - 3), std::string("\0\1\0", 3));
}

TEST_F(NpyIOTest, EmptyNpz) {
  std::string p = path("empty.npz");
  ASSERT_EQ(errorOf(writeNpz(p, {})), "<no error>");
  llvm::Expected<NamedArrays> back = readNpz(p);
  ASSERT_TRUE(static_cast<bool>(back)) << errorOf(back);
  EXPECT_TRUE(back->empty());
}

TEST_F(NpyIOTest, DeflatedNpzAndNamesWithoutSuffix) {
  Tensor a = sampleTensor(DType::I32, {100, 10});
  Tensor b = sampleTensor(DType::F64, {3, 3});
  llvm::Expected<std::string> aBytes = serializeNpy(a, "a");
  llvm::Expected<std::string> bBytes = serializeNpy(b, "b");
  ASSERT_TRUE(aBytes && bBytes);
  std::string p =
      writeZip("deflated.npz", {{"a.npy", *aBytes}, {"sub/b", *bBytes}}, true);
  llvm::Expected<NamedArrays> back = readNpz(p);
  ASSERT_TRUE(static_cast<bool>(back)) << errorOf(back);
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[0].first, "a");
  EXPECT_EQ((*back)[1].first, "sub/b");
  expectSameTensor(a, (*back)[0].second, "a");
  expectSameTensor(b, (*back)[1].second, "b");
}

TEST_F(NpyIOTest, ReadArraysDispatch) {
  Tensor t = sampleTensor(DType::U32, {2, 2});
  std::string p = path("input_ids.npy");
  ASSERT_EQ(errorOf(writeNpy(p, t)), "<no error>");
  llvm::Expected<NamedArrays> back = readArrays(p);
  ASSERT_TRUE(static_cast<bool>(back)) << errorOf(back);
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0].first, "input_ids");
  expectSameTensor(t, (*back)[0].second, "input_ids");

  std::string txt = writeBytes("data.txt", "hello");
  llvm::Expected<NamedArrays> bad = readArrays(txt);
  std::string msg = errorOf(bad);
  EXPECT_TRUE(contains(msg, "data.txt") && contains(msg, "extension")) << msg;
}

//===----------------------------------------------------------------------===//
// Other writers' files: versions, byte order, Fortran order, header variants
//===----------------------------------------------------------------------===//

TEST_F(NpyIOTest, Versions2And3) {
  std::string data = rawBytes<float>({1.f, 2.f, 3.f});
  for (unsigned major : {1u, 2u, 3u}) {
    std::string bytes =
        makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
                data, major);
    llvm::Expected<Tensor> t = parseNpy(bytes, "v");
    ASSERT_TRUE(static_cast<bool>(t)) << major << ": " << errorOf(t);
    EXPECT_EQ(t->getAsDouble(2), 3.0);
  }
}

TEST_F(NpyIOTest, BigEndianIsSwapped) {
  std::string f32("\x3f\x80\x00\x00\xc0\x20\x00\x00", 8); // 1.0, -2.5
  llvm::Expected<Tensor> t = parseNpy(
      makeNpy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", f32),
      "be");
  ASSERT_TRUE(static_cast<bool>(t)) << errorOf(t);
  EXPECT_EQ(t->getAsDouble(0), 1.0);
  EXPECT_EQ(t->getAsDouble(1), -2.5);

  std::string i16("\x01\x02\xff\xfe", 4); // 0x0102, -2
  t = parseNpy(
      makeNpy("{'descr': '>i2', 'fortran_order': False, 'shape': (2,), }", i16),
      "be");
  ASSERT_TRUE(static_cast<bool>(t)) << errorOf(t);
  EXPECT_EQ(t->getAsDouble(0), 258.0);
  EXPECT_EQ(t->getAsDouble(1), -2.0);

  std::string u64("\x00\x00\x00\x00\x00\x00\x01\x00", 8);
  t = parseNpy(
      makeNpy("{'descr': '>u8', 'fortran_order': False, 'shape': (), }", u64),
      "be");
  ASSERT_TRUE(static_cast<bool>(t)) << errorOf(t);
  EXPECT_EQ(t->getAsDouble(0), 256.0);
}

TEST_F(NpyIOTest, FortranOrderIsTransposed) {
  // numpy.asfortranarray([[1, 2, 3], [4, 5, 6]]) stores 1 4 2 5 3 6.
  llvm::Expected<Tensor> t = parseNpy(
      makeNpy("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }",
              rawBytes<int32_t>({1, 4, 2, 5, 3, 6})),
      "f");
  ASSERT_TRUE(static_cast<bool>(t)) << errorOf(t);
  for (int64_t i = 0; i < 6; ++i)
    EXPECT_EQ(t->getAsDouble(i), i + 1.0);

  // Rank 3, big-endian: element (i, j, k) of shape (2, 3, 4) has value
  // 100 i + 10 j + k and lives at i + 2 j + 6 k in Fortran order.
  std::string data(24 * 2, '\0');
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) {
        uint16_t v = 100 * i + 10 * j + k;
        llvm::support::endian::write16be(&data[2 * (i + 2 * j + 6 * k)], v);
      }
  t = parseNpy(
      makeNpy("{'descr': '>u2', 'fortran_order': True, 'shape': (2, 3, 4), }",
              data),
      "f3");
  ASSERT_TRUE(static_cast<bool>(t)) << errorOf(t);
  int64_t n = 0;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k)
        EXPECT_EQ(t->getAsDouble(n++), 100 * i + 10 * j + k);
}

TEST_F(NpyIOTest, HeaderVariants) {
  // Double quotes, other key order, Python 2 long suffixes, no trailing comma.
  llvm::Expected<Tensor> t =
      parseNpy(makeNpy("{\"shape\": (2L, 1L), \"fortran_order\": False, "
                       "\"descr\": \"<i8\"}",
                       rawBytes<int64_t>({-5, 7})),
               "h");
  ASSERT_TRUE(static_cast<bool>(t)) << errorOf(t);
  EXPECT_EQ(t->shape(), (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(t->getAsDouble(0), -5.0);
  // Booleans are normalized to 0/1.
  t = parseNpy(
      makeNpy("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }",
              std::string("\x00\x02\x01", 3)),
      "b");
  ASSERT_TRUE(static_cast<bool>(t)) << errorOf(t);
  EXPECT_EQ(static_cast<const uint8_t *>(t->rawData())[1], 1);
  // '<u1' and '=f8' are accepted too.
  t = parseNpy(makeNpy("{'descr': '<u1', 'fortran_order': False, "
                       "'shape': (1,), }",
                       "\x07"),
               "u1");
  ASSERT_TRUE(static_cast<bool>(t)) << errorOf(t);
  EXPECT_EQ(t->dtype(), DType::U8);
  t = parseNpy(makeNpy("{'descr': '=f8', 'fortran_order': False, "
                       "'shape': (1,), }",
                       rawBytes<double>({0.25})),
               "f8");
  ASSERT_TRUE(static_cast<bool>(t)) << errorOf(t);
  EXPECT_EQ(t->getAsDouble(0), 0.25);
}

//===----------------------------------------------------------------------===//
// Malformed input
//===----------------------------------------------------------------------===//

void expectParseError(StringRef bytes, StringRef needle) {
  llvm::Expected<Tensor> t = parseNpy(bytes, "bad.npy");
  std::string msg = errorOf(t);
  EXPECT_TRUE(contains(msg, "bad.npy")) << msg;
  EXPECT_TRUE(contains(msg, needle))
      << "expected '" << needle.str() << "' in: " << msg;
}

const char *kGoodDict =
    "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";

TEST_F(NpyIOTest, MalformedNpy) {
  std::string good = makeNpy(kGoodDict, rawBytes<float>({1.f, 2.f}));
  ASSERT_TRUE(static_cast<bool>(parseNpy(good, "good")));

  expectParseError("", "bad magic");
  expectParseError("PK\x03\x04 not numpy at all", "bad magic");
  std::string badMagic = good;
  badMagic[1] = 'X';
  expectParseError(badMagic, "bad magic");
  expectParseError(good.substr(0, 8), "truncated");
  expectParseError(good.substr(0, 40), "truncated");
  std::string longHeader = good;
  longHeader[8] = '\xff';
  longHeader[9] = '\xff';
  expectParseError(longHeader, "header length");
  std::string v2 = makeNpy(kGoodDict, rawBytes<float>({1.f, 2.f}), 2);
  v2[10] = '\x7f'; // header length byte 2 -> huge
  expectParseError(v2, "header length");
  std::string badVersion = good;
  badVersion[6] = 4;
  expectParseError(badVersion, "version 4.0");
  badVersion[6] = 1;
  badVersion[7] = 1;
  expectParseError(badVersion, "version 1.1");

  // Data size mismatches.
  expectParseError(makeNpy(kGoodDict, rawBytes<float>({1.f})), "size mismatch");
  expectParseError(makeNpy(kGoodDict, rawBytes<float>({1.f, 2.f, 3.f})),
                   "size mismatch");
  expectParseError(good.substr(0, good.size() - 1), "truncated");

  // Shapes.
  expectParseError(makeNpy("{'descr': '<f4', 'fortran_order': False, "
                           "'shape': (4294967296, 4294967296), }",
                           ""),
                   "overflows");
  expectParseError(makeNpy("{'descr': '<f8', 'fortran_order': False, "
                           "'shape': (4611686018427387904,), }",
                           ""),
                   "byte size overflows");
  expectParseError(makeNpy("{'descr': '<f4', 'fortran_order': False, "
                           "'shape': (99999999999999999999,), }",
                           ""),
                   "64 bits");
  expectParseError(makeNpy("{'descr': '<f4', 'fortran_order': False, "
                           "'shape': (2, -1), }",
                           ""),
                   "negative");
  expectParseError(makeNpy("{'descr': '<f4', 'fortran_order': False, "
                           "'shape': (2), }",
                           rawBytes<float>({1.f, 2.f})),
                   "tuple");
  expectParseError(makeNpy("{'descr': '<f4', 'fortran_order': False, "
                           "'shape': [2], }",
                           rawBytes<float>({1.f, 2.f})),
                   "tuple");

  // Dict structure.
  expectParseError(makeNpy("{'descr': '<f4', 'shape': (2,), }", ""), "keys");
  expectParseError(makeNpy("{'descr': '<f4', 'fortran_order': False, "
                           "'shape': (2,), 'extra': 1}",
                           ""),
                   "unexpected key 'extra'");
  expectParseError(makeNpy("{'descr': '<f4', 'descr': '<f4', "
                           "'fortran_order': False, 'shape': (2,)}",
                           ""),
                   "duplicate key");
  expectParseError(makeNpy("{'descr': '<f4', 'fortran_order': 0, "
                           "'shape': (2,), }",
                           ""),
                   "True or False");
  expectParseError(makeNpy("'descr': '<f4'", ""), "expected '{'");
  expectParseError(makeNpy(std::string(kGoodDict) + " junk", ""),
                   "after the dict");
  expectParseError(makeNpy("{'descr': '<f4', 'fortran_order': False, "
                           "'shape': (2,), ",
                           ""),
                   "malformed");
  expectParseError(makeNpy("{'descr': '<c8', 'fortran_order': False, "
                           "'shape': (2,), }",
                           ""),
                   "unsupported dtype '<c8'");
  expectParseError(makeNpy("{'descr': '<U3', 'fortran_order': False, "
                           "'shape': (2,), }",
                           ""),
                   "unsupported dtype");
  expectParseError(makeNpy("{'descr': [('a', '<f4')], 'fortran_order': "
                           "False, 'shape': (2,), }",
                           ""),
                   "structured");
}

TEST_F(NpyIOTest, MalformedFilesNameThePath) {
  std::string missing = path("missing.npy");
  llvm::Expected<Tensor> m = readNpy(missing);
  std::string msg = errorOf(m);
  EXPECT_TRUE(contains(msg, "missing.npy")) << msg;

  std::string truncated =
      writeBytes("trunc.npy", makeNpy(kGoodDict, rawBytes<float>({1.f})));
  llvm::Expected<Tensor> t = readNpy(truncated);
  msg = errorOf(t);
  EXPECT_TRUE(contains(msg, truncated) && contains(msg, "size mismatch"))
      << msg;

  llvm::Expected<Tensor> d = readNpy(std::string(dir.str()));
  msg = errorOf(d);
  EXPECT_TRUE(contains(msg, "directory")) << msg;
}

TEST_F(NpyIOTest, MalformedNpz) {
  std::string notZip = writeBytes("not.npz", "this is not a zip archive");
  llvm::Expected<NamedArrays> r = readNpz(notZip);
  std::string msg = errorOf(r);
  EXPECT_TRUE(contains(msg, "not.npz")) << msg;

  r = readNpz(path("absent.npz"));
  msg = errorOf(r);
  EXPECT_TRUE(contains(msg, "absent.npz")) << msg;

  // A member that is not an .npy file, named in the message.
  std::string p = writeZip("junk.npz", {{"x.npy", "garbage bytes"}}, false);
  r = readNpz(p);
  msg = errorOf(r);
  EXPECT_TRUE(contains(msg, "junk.npz") && contains(msg, "member 'x.npy'") &&
              contains(msg, "bad magic"))
      << msg;

  // A member whose data is truncated.
  p = writeZip("short.npz",
               {{"ok.npy", makeNpy(kGoodDict, rawBytes<float>({1.f, 2.f}))},
                {"short.npy", makeNpy(kGoodDict, rawBytes<float>({1.f}))}},
               true);
  r = readNpz(p);
  msg = errorOf(r);
  EXPECT_TRUE(contains(msg, "member 'short.npy'") &&
              contains(msg, "size mismatch"))
      << msg;

  // Two members that map to the same key.
  std::string good = makeNpy(kGoodDict, rawBytes<float>({1.f, 2.f}));
  p = writeZip("dup.npz", {{"a", good}, {"a.npy", good}}, false);
  r = readNpz(p);
  msg = errorOf(r);
  EXPECT_TRUE(contains(msg, "duplicate")) << msg;

  // Corrupted member bytes: the CRC check fails.
  p = writeZip("crc.npz", {{"a.npy", good}}, false);
  {
    llvm::Expected<std::shared_ptr<llvm::MemoryBuffer>> buf = mapFile(p);
    ASSERT_TRUE(static_cast<bool>(buf)) << errorOf(buf);
    std::string bytes = (*buf)->getBuffer().str();
    size_t at = bytes.find("\x93NUMPY");
    ASSERT_NE(at, std::string::npos);
    bytes[at + good.size() - 1] ^= 0x55; // last data byte
    writeBytes("crc.npz", bytes);
  }
  r = readNpz(p);
  msg = errorOf(r);
  EXPECT_TRUE(contains(msg, "member 'a.npy'")) << msg;

  // Truncated archive.
  p = writeZip("cut.npz", {{"a.npy", good}}, false);
  {
    llvm::Expected<std::shared_ptr<llvm::MemoryBuffer>> buf = mapFile(p);
    ASSERT_TRUE(static_cast<bool>(buf)) << errorOf(buf);
    std::string bytes = (*buf)->getBuffer().str();
    writeBytes("cut.npz", StringRef(bytes).take_front(bytes.size() / 2));
  }
  r = readNpz(p);
  msg = errorOf(r);
  EXPECT_TRUE(contains(msg, "cut.npz")) << msg;
}

TEST_F(NpyIOTest, FailedNpzWriteLeavesNothing) {
  Tensor t = sampleTensor(DType::F32, {2});
  std::string p = path("out.npz");
  std::string msg = errorOf(writeNpz(p, {{"a", t}, {"a", t}}));
  EXPECT_TRUE(contains(msg, "duplicate array name 'a'")) << msg;
  msg = errorOf(writeNpz(p, {{"", t}}));
  EXPECT_TRUE(contains(msg, "empty name")) << msg;
  EXPECT_TRUE(listDir().empty());

  // An existing archive survives a failed rewrite.
  ASSERT_EQ(errorOf(writeNpz(p, {{"a", t}})), "<no error>");
  msg = errorOf(writeNpz(p, {{"a", t}, {"b", Tensor(DType::BF16, {1})}}));
  EXPECT_TRUE(contains(msg, "bf16")) << msg;
  llvm::Expected<NamedArrays> back = readNpz(p);
  ASSERT_TRUE(static_cast<bool>(back)) << errorOf(back);
  EXPECT_EQ(back->size(), 1u);
  EXPECT_EQ(listDir(), std::vector<std::string>{"out.npz"});

  // Unwritable location.
  msg = errorOf(writeNpz(path("no/such/dir/x.npz"), {{"a", t}}));
  EXPECT_TRUE(contains(msg, "x.npz")) << msg;
  msg = errorOf(writeNpy(path("no/such/dir/x.npy"), t));
  EXPECT_TRUE(contains(msg, "x.npy")) << msg;
}

} // namespace
