//===- SafeTensorsTest.cpp - Tests for the safetensors reader -------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#include "qopt/safetensors/SafeTensors.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include "gtest/gtest.h"

#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <sstream>

using namespace qopt;
using namespace qopt::safetensors;

#ifndef QOPT_SOURCE_DIR
#error "QOPT_SOURCE_DIR must be defined by the build"
#endif
#ifndef QOPT_SAFETENSORS_MODELS_DIR
#error "QOPT_SAFETENSORS_MODELS_DIR must be defined by the build"
#endif

namespace {

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

std::string corpusDir() {
  llvm::SmallString<256> p(QOPT_SOURCE_DIR);
  llvm::sys::path::append(p, "test", "corpus", "safetensors");
  return std::string(p);
}

std::string modelsDir(llvm::StringRef sub) {
  llvm::SmallString<256> p(QOPT_SAFETENSORS_MODELS_DIR);
  llvm::sys::path::append(p, sub);
  return std::string(p);
}

std::string join(llvm::StringRef a, llvm::StringRef b) {
  llvm::SmallString<256> p(a);
  llvm::sys::path::append(p, b);
  return std::string(p);
}

/// The error message of `e`, or "" (and a test failure) on success.
template <typename T> std::string errorOf(llvm::Expected<T> &e) {
  if (e) {
    ADD_FAILURE() << "expected an error, got success";
    return "";
  }
  return llvm::toString(e.takeError());
}

#define ASSERT_OK(x)                                                           \
  do {                                                                         \
    if (!(x))                                                                  \
      FAIL() << llvm::toString((x).takeError());                               \
  } while (0)

struct TT {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

template <typename T> std::string bytesOf(std::initializer_list<T> values) {
  std::string s(values.size() * sizeof(T), '\0');
  size_t i = 0;
  for (T v : values) {
    std::memcpy(&s[i], &v, sizeof(T));
    i += sizeof(T);
  }
  return s;
}

/// Builds a safetensors image: tensors laid out back to back in the given
/// order; `headerPad` spaces appended to the JSON (by default as many as
/// make the data buffer start at a multiple of 8 bytes).
std::string buildFile(const std::vector<TT> &tensors,
                      const std::string &metadataJSON = "",
                      int headerPad = -1) {
  std::string header = "{";
  std::string data;
  bool first = true;
  if (!metadataJSON.empty()) {
    header += "\"__metadata__\":" + metadataJSON;
    first = false;
  }
  for (const TT &t : tensors) {
    if (!first)
      header += ",";
    first = false;
    header += "\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i)
      header += (i ? "," : "") + std::to_string(t.shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(data.size()) + "," +
              std::to_string(data.size() + t.bytes.size()) + "]}";
    data += t.bytes;
  }
  header += "}";
  if (headerPad < 0)
    headerPad = static_cast<int>((8 - header.size() % 8) % 8);
  header.append(static_cast<size_t>(headerPad), ' ');
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

std::unique_ptr<SafeTensorsFile> mustOpenBuffer(const std::string &image,
                                                llvm::StringRef name = "mem") {
  auto buf = std::shared_ptr<llvm::MemoryBuffer>(
      llvm::MemoryBuffer::getMemBufferCopy(image, name));
  auto f = SafeTensorsFile::fromBuffer(buf, name);
  if (!f) {
    ADD_FAILURE() << llvm::toString(f.takeError());
    return nullptr;
  }
  return std::move(*f);
}

std::string openBufferError(const std::string &image) {
  auto buf = std::shared_ptr<llvm::MemoryBuffer>(
      llvm::MemoryBuffer::getMemBufferCopy(image, "mem"));
  auto f = SafeTensorsFile::fromBuffer(buf, "mem");
  return errorOf(f);
}

void writeFile(const std::string &path, const std::string &contents) {
  std::ofstream os(path, std::ios::binary);
  os << contents;
}

/// A scratch directory removed at the end of the test.
class TempDir {
public:
  TempDir() {
    std::error_code ec =
        llvm::sys::fs::createUniqueDirectory("qopt-safetensors-test", path_);
    EXPECT_FALSE(ec) << ec.message();
  }
  ~TempDir() { llvm::sys::fs::remove_directories(path_); }
  std::string path() const { return std::string(path_); }
  std::string file(llvm::StringRef name) const { return join(path(), name); }

private:
  llvm::SmallString<128> path_;
};

//===----------------------------------------------------------------------===//
// Malformed-file corpus
//===----------------------------------------------------------------------===//

TEST(SafeTensorsCorpus, EveryBadFileFailsWithItsMessage) {
  std::string dir = corpusDir();
  auto expected = llvm::MemoryBuffer::getFile(join(dir, "EXPECTED.txt"));
  ASSERT_TRUE(expected) << "cannot read " << join(dir, "EXPECTED.txt");

  std::set<std::string> listed;
  llvm::SmallVector<llvm::StringRef> lines;
  (*expected)->getBuffer().split(lines, '\n', -1, /*KeepEmpty=*/false);
  for (llvm::StringRef line : lines) {
    if (line.starts_with("#"))
      continue;
    auto [file, substring] = line.split(": ");
    ASSERT_FALSE(substring.empty())
        << "malformed EXPECTED line: " << line.str();
    listed.insert(file.str());
    std::string path = join(dir, file);
    SCOPED_TRACE(path);
    auto f = SafeTensorsFile::open(path);
    std::string msg = errorOf(f);
    EXPECT_NE(msg.find(substring.str()), std::string::npos)
        << "message: " << msg << "\nexpected substring: " << substring.str();
    // Every message names the file.
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
    // And a checkpoint opened on the file reports the same problem.
    auto c = Checkpoint::open(path);
    EXPECT_EQ(errorOf(c), msg);
  }
  EXPECT_GE(listed.size(), 14u);

  // Every bad_*.safetensors in the corpus is covered by EXPECTED.txt.
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    llvm::StringRef name = llvm::sys::path::filename(it->path());
    if (name.starts_with("bad_") && name.ends_with(".safetensors")) {
      EXPECT_TRUE(listed.count(name.str())) << name.str() << " not in EXPECTED";
    }
  }
  EXPECT_FALSE(ec) << ec.message();
}

//===----------------------------------------------------------------------===//
// SafeTensorsFile on in-memory images
//===----------------------------------------------------------------------===//

TEST(SafeTensorsFile, HeaderOrderMetadataAndLookup) {
  std::string image =
      buildFile({{"zeta", "F32", {2}, bytesOf<float>({1.f, 2.f})},
                 {"alpha", "I32", {1}, bytesOf<int32_t>({7})}},
                R"({"format":"pt","b":"x"})", /*headerPad=*/5);
  auto f = mustOpenBuffer(image);
  ASSERT_TRUE(f);
  ASSERT_EQ(f->tensors().size(), 2u);
  EXPECT_EQ(f->tensors()[0].name, "zeta"); // header order, not sorted
  EXPECT_EQ(f->tensors()[1].name, "alpha");
  EXPECT_EQ(f->metadata().size(), 2u);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->dataSize(), 12u);
  EXPECT_EQ(f->path(), "mem");

  const TensorInfo *alpha = f->lookup("alpha");
  ASSERT_NE(alpha, nullptr);
  EXPECT_EQ(alpha->dtype, "I32");
  EXPECT_EQ(alpha->runtimeType, DType::I32);
  EXPECT_EQ(alpha->begin, 8u);
  EXPECT_EQ(alpha->end, 12u);
  EXPECT_EQ(alpha->data,
            f->mapping()->getBufferStart() + 8 + f->headerSize() + 8);
  EXPECT_EQ(f->lookup("missing"), nullptr);

  auto missing = f->asTensor("missing");
  EXPECT_NE(errorOf(missing).find("mem: tensor 'missing': no such tensor"),
            std::string::npos);
}

TEST(SafeTensorsFile, EmptyHeaderIsValid) {
  auto f = mustOpenBuffer(buildFile({}));
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->tensors().empty());
  EXPECT_TRUE(f->metadata().empty());
}

TEST(SafeTensorsFile, ZeroSizedTensorsAndScalars) {
  std::string image = buildFile({{"e1", "F32", {0, 3}, ""},
                                 {"s", "F64", {}, bytesOf<double>({2.5})},
                                 {"e2", "I8", {4, 0}, ""}});
  auto f = mustOpenBuffer(image);
  ASSERT_TRUE(f);
  auto s = f->asTensor("s");
  ASSERT_OK(s);
  EXPECT_EQ(s->rank(), 0);
  EXPECT_EQ(s->numElements(), 1);
  EXPECT_EQ(s->getAsDouble(0), 2.5);
  auto e = f->asTensor("e2");
  ASSERT_OK(e);
  EXPECT_EQ(e->numElements(), 0);
  EXPECT_EQ(e->shape(), (std::vector<int64_t>{4, 0}));
}

TEST(SafeTensorsFile, BorrowKeepsMappingAlive) {
  std::string image =
      buildFile({{"w", "F32", {3}, bytesOf<float>({1.f, -2.f, 4.f})}});
  Tensor t;
  {
    auto f = mustOpenBuffer(image);
    ASSERT_TRUE(f);
    auto r = f->asTensor("w");
    ASSERT_OK(r);
    t = *r;
    EXPECT_EQ(t.rawData(), f->lookup("w")->data); // zero-copy
  } // file object destroyed; the tensor still owns the mapping
  ASSERT_EQ(t.numElements(), 3);
  EXPECT_EQ(t.data<float>()[0], 1.f);
  EXPECT_EQ(t.data<float>()[1], -2.f);
  EXPECT_EQ(t.data<float>()[2], 4.f);
}

TEST(SafeTensorsFile, MisalignedDataIsCopied) {
  // A 1-byte tensor first pushes the F32 tensor to an odd offset (the data
  // buffer itself starts 8-aligned).
  std::string image = buildFile(
      {{"b", "U8", {1}, "\x05"}, {"w", "F32", {2}, bytesOf<float>({3, 4})}});
  auto f = mustOpenBuffer(image);
  ASSERT_TRUE(f);
  const TensorInfo *w = f->lookup("w");
  ASSERT_NE(w, nullptr);
  ASSERT_NE(reinterpret_cast<uintptr_t>(w->data) % 4, 0u);
  auto t = f->asTensor(*w);
  ASSERT_OK(t);
  EXPECT_NE(t->rawData(), static_cast<const void *>(w->data));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t->rawData()) % 4, 0u);
  EXPECT_EQ(t->data<float>()[0], 3.f);
  EXPECT_EQ(t->data<float>()[1], 4.f);
}

TEST(SafeTensorsFile, RecognisedButUnsupportedDTypes) {
  std::string image = buildFile({{"f8", "F8_E4M3", {2}, "\x01\x02"},
                                 {"f5", "F8_E5M2", {1}, "\x03"},
                                 {"f4", "F4", {4}, "\x12\x34"}});
  auto f = mustOpenBuffer(image);
  ASSERT_TRUE(f);
  const TensorInfo *f8 = f->lookup("f8");
  ASSERT_NE(f8, nullptr);
  EXPECT_FALSE(f8->runtimeType.has_value());
  auto t = f->asTensor(*f8);
  EXPECT_NE(errorOf(t).find("mem: tensor 'f8': dtype F8_E4M3 is recognised "
                            "but not supported for import"),
            std::string::npos);
  EXPECT_EQ(f->lookup("f4")->byteSize(), 2u);
}

TEST(SafeTensorsFile, DTypeTable) {
  struct Row {
    const char *name;
    unsigned bits;
    std::optional<DType> rt;
  };
  const Row rows[] = {{"F32", 32, DType::F32},     {"F16", 16, DType::F16},
                      {"BF16", 16, DType::BF16},   {"F64", 64, DType::F64},
                      {"I8", 8, DType::I8},        {"U8", 8, DType::U8},
                      {"I16", 16, DType::I16},     {"U16", 16, DType::U16},
                      {"I32", 32, DType::I32},     {"U32", 32, DType::U32},
                      {"I64", 64, DType::I64},     {"U64", 64, DType::U64},
                      {"BOOL", 8, DType::Bool},    {"F8_E4M3", 8, std::nullopt},
                      {"F8_E5M2", 8, std::nullopt}};
  for (const Row &r : rows) {
    auto d = lookupDType(r.name);
    ASSERT_TRUE(d.has_value()) << r.name;
    EXPECT_EQ(d->bits, r.bits) << r.name;
    EXPECT_EQ(d->runtime, r.rt) << r.name;
    if (r.rt) {
      EXPECT_EQ(safetensorsDTypeName(*r.rt), r.name);
    }
  }
  EXPECT_FALSE(lookupDType("f32").has_value()); // case-sensitive
  EXPECT_FALSE(lookupDType("F128").has_value());
}

TEST(SafeTensorsFile, StrictJSONDetails) {
  // Every rule is also reachable from memory; a few that the corpus does
  // not spell out:
  EXPECT_NE(openBufferError(buildFile({{"w", "F32", {2}, std::string(8, 0)}},
                                      R"({"a":"1","a":"2"})"))
                .find("duplicate key 'a' in __metadata__"),
            std::string::npos);
  // Integral float shape is still not an integer.
  std::string img = buildFile({{"w", "F32", {2}, std::string(8, 0)}});
  size_t pos = img.find("[2]");
  ASSERT_NE(pos, std::string::npos);
  std::string floaty = img;
  floaty.replace(pos, 3, "[2.0]");
  uint64_t n = 0;
  std::memcpy(&n, floaty.data(), 8);
  n += 2;
  std::memcpy(&floaty[0], &n, 8);
  EXPECT_NE(openBufferError(floaty).find(
                "tensor 'w': shape element 0 is not a non-negative integer"),
            std::string::npos);
  // A header that is a JSON string, null, and trailing garbage.
  for (const char *h : {"\"x\"", "null", "{} x"}) {
    std::string image(8, '\0');
    image[0] = static_cast<char>(std::strlen(h));
    image += h;
    std::string msg = openBufferError(image);
    EXPECT_TRUE(msg.find("not a JSON object") != std::string::npos ||
                msg.find("not valid JSON") != std::string::npos)
        << msg;
  }
}

TEST(StrictJSON, DuplicatesAnywhereAndOrder) {
  std::vector<std::string> keys;
  auto v =
      parseStrictJSON(R"({"b":1,"a":{"x":[{"y":1}]},"c":null})", "t", &keys);
  ASSERT_OK(v);
  EXPECT_EQ(keys, (std::vector<std::string>{"b", "a", "c"}));

  auto d = parseStrictJSON(R"({"a":{"x":[{"y":1,"y":2}]}})", "t");
  EXPECT_NE(errorOf(d).find("t: duplicate key 'y' in object 'a'.'x'.'[]'"),
            std::string::npos);
  // Same key in sibling objects is fine; escaped spellings collide.
  EXPECT_TRUE(
      static_cast<bool>(parseStrictJSON(R"({"a":{"k":1},"b":{"k":1}})", "t")));
  auto e = parseStrictJSON(R"({"\u00e9":1,"é":2})", "t");
  EXPECT_NE(errorOf(e).find("duplicate key"), std::string::npos);
  auto s = parseStrictJSON(R"({"k\"q":1,"k\"q":2,"x":"{\"y\":1}"})", "t");
  EXPECT_NE(errorOf(s).find("duplicate key 'k\"q'"), std::string::npos);
  auto deep =
      parseStrictJSON(std::string(100, '[') + std::string(100, ']'), "t");
  EXPECT_NE(errorOf(deep).find("nests deeper"), std::string::npos);
  auto bad = parseStrictJSON("{\"a\":1,}", "t");
  EXPECT_NE(errorOf(bad).find("t: invalid JSON"), std::string::npos);
}

TEST(SafeTensorsFile, RandomMutationsNeverCrash) {
  // Deterministic mutations of a valid image (bytes overwritten with
  // JSON-significant characters or random values, truncation, appended
  // bytes). Whatever opens must be fully readable within its bounds; run
  // under ASan/UBSan this checks that no input escapes the validation.
  const std::string base =
      buildFile({{"a", "F32", {2, 2}, bytesOf<float>({1, 2, 3, 4})},
                 {"b", "BOOL", {3}, bytesOf<uint8_t>({1, 0, 1})},
                 {"c", "BF16", {1}, bytesOf<uint16_t>({0x3f80})},
                 {"d", "I64", {0}, ""}},
                R"({"k":"v"})");
  const char interesting[] = "{}[]\",:-0123456789e.\\u \x80\xff";
  std::mt19937 rng(12345);
  int opened = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    std::string img = base;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t pos = rng() % img.size();
      switch (rng() % 4) {
      case 0:
        img[pos] = interesting[rng() % (sizeof(interesting) - 1)];
        break;
      case 1:
        img[pos] = static_cast<char>(rng() & 0xff);
        break;
      case 2:
        img.resize(pos);
        break;
      default:
        img.insert(std::min(std::max(pos, size_t(8)), img.size()), 1,
                   interesting[rng() % (sizeof(interesting) - 1)]);
        break;
      }
      if (img.empty())
        break;
    }
    auto buf = std::shared_ptr<llvm::MemoryBuffer>(
        llvm::MemoryBuffer::getMemBufferCopy(img, "fuzz"));
    auto f = SafeTensorsFile::fromBuffer(buf, "fuzz");
    if (!f) {
      std::string msg = llvm::toString(f.takeError());
      EXPECT_EQ(msg.rfind("fuzz: ", 0), 0u) << msg;
      continue;
    }
    ++opened;
    for (const TensorInfo &info : (*f)->tensors()) {
      ASSERT_GE(info.data, buf->getBufferStart());
      ASSERT_LE(info.data + info.byteSize(), buf->getBufferEnd());
      auto t = (*f)->asTensor(info);
      if (!t) {
        llvm::consumeError(t.takeError());
        continue;
      }
      double sum = 0;
      for (int64_t i = 0; i < t->numElements(); ++i)
        sum += t->getAsDouble(i);
      (void)sum;
    }
  }
  EXPECT_GT(opened, 0); // some mutations (e.g. in tensor bytes) stay valid
}

//===----------------------------------------------------------------------===//
// Files written by gen_safetensors.py
//===----------------------------------------------------------------------===//

TEST(GeneratedModels, SingleFileEveryDType) {
  auto c = Checkpoint::open(modelsDir("single/model.safetensors"));
  ASSERT_OK(c);
  const Checkpoint &ck = **c;
  EXPECT_EQ(ck.files().size(), 1u);
  EXPECT_EQ(ck.config(), nullptr); // no config.json next to it
  EXPECT_EQ(ck.files()[0]->metadata().at("format"), "pt");
  std::vector<std::string> want = {"f32", "f64", "f16",  "bf16",   "i8",
                                   "u8",  "i16", "u16",  "i32",    "u32",
                                   "i64", "u64", "bool", "scalar", "empty"};
  EXPECT_EQ(ck.tensorNames(), want);

  auto get = [&](const char *name) {
    auto t = ck.asTensor(name);
    if (!t) {
      ADD_FAILURE() << llvm::toString(t.takeError());
      return Tensor();
    }
    return *t;
  };
  Tensor f32 = get("f32");
  EXPECT_EQ(f32.dtype(), DType::F32);
  EXPECT_EQ(f32.shape(), (std::vector<int64_t>{2, 3}));
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(f32.getAsDouble(i), 0.5 * i);
  Tensor f64 = get("f64");
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(f64.getAsDouble(i), i - 1.25);
  Tensor f16 = get("f16");
  EXPECT_EQ(f16.dtype(), DType::F16);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(f16.getAsDouble(i), 0.25 * i);
  Tensor bf16 = get("bf16");
  EXPECT_EQ(bf16.dtype(), DType::BF16);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(bf16.getAsDouble(i), i + 0.5);
  Tensor i8 = get("i8");
  EXPECT_EQ(i8.getAsDouble(0), -128);
  EXPECT_EQ(i8.getAsDouble(3), 127);
  EXPECT_EQ(get("u8").getAsDouble(2), 255);
  EXPECT_EQ(get("i16").getAsDouble(0), -32768);
  EXPECT_EQ(get("u16").getAsDouble(0), 65535);
  EXPECT_EQ(get("i32").getAsDouble(3), 2147483647);
  EXPECT_EQ(get("u32").getAsDouble(0), 4294967295.0);
  Tensor i64 = get("i64");
  EXPECT_EQ(i64.data<int64_t>()[0], -(int64_t(1) << 62));
  Tensor u64 = get("u64");
  EXPECT_EQ(u64.data<uint64_t>()[0], uint64_t(1) << 63);
  Tensor b = get("bool");
  EXPECT_EQ(b.dtype(), DType::Bool);
  EXPECT_EQ(b.getAsDouble(0), 1);
  EXPECT_EQ(b.getAsDouble(1), 0);
  Tensor scalar = get("scalar");
  EXPECT_EQ(scalar.rank(), 0);
  EXPECT_EQ(scalar.getAsDouble(0), 3.5);
  EXPECT_EQ(get("empty").numElements(), 0);
}

std::vector<std::pair<std::string, std::vector<int64_t>>> llamaShapes() {
  std::vector<std::pair<std::string, std::vector<int64_t>>> v = {
      {"model.embed_tokens.weight", {64, 32}}};
  for (int i = 0; i < 2; ++i) {
    std::string p = "model.layers." + std::to_string(i) + ".";
    v.push_back({p + "input_layernorm.weight", {32}});
    v.push_back({p + "self_attn.q_proj.weight", {32, 32}});
    v.push_back({p + "self_attn.k_proj.weight", {16, 32}});
    v.push_back({p + "self_attn.v_proj.weight", {16, 32}});
    v.push_back({p + "self_attn.o_proj.weight", {32, 32}});
    v.push_back({p + "post_attention_layernorm.weight", {32}});
    v.push_back({p + "mlp.gate_proj.weight", {64, 32}});
    v.push_back({p + "mlp.up_proj.weight", {64, 32}});
    v.push_back({p + "mlp.down_proj.weight", {32, 64}});
  }
  v.push_back({"model.norm.weight", {32}});
  v.push_back({"lm_head.weight", {64, 32}});
  return v;
}

TEST(GeneratedModels, LlamaDirectory) {
  auto c = Checkpoint::open(modelsDir("llama"));
  ASSERT_OK(c);
  const Checkpoint &ck = **c;
  const llvm::json::Object *cfg = ck.config();
  ASSERT_NE(cfg, nullptr);
  EXPECT_EQ(cfg->getString("model_type"), llvm::StringRef("llama"));
  EXPECT_EQ(cfg->getInteger("num_attention_heads"), 4);
  EXPECT_EQ(cfg->getInteger("num_key_value_heads"), 2);
  EXPECT_EQ(cfg->getInteger("hidden_size"), 32);
  EXPECT_EQ(cfg->getNumber("rope_theta"), 10000.0);

  auto shapes = llamaShapes();
  ASSERT_EQ(ck.tensorNames().size(), shapes.size());
  for (size_t i = 0; i < shapes.size(); ++i) {
    EXPECT_EQ(ck.tensorNames()[i], shapes[i].first);
    TensorRef r = ck.lookup(shapes[i].first);
    ASSERT_TRUE(r) << shapes[i].first;
    EXPECT_EQ(r.info->shape, shapes[i].second) << shapes[i].first;
    EXPECT_EQ(r.info->dtype, "F32");
  }
  EXPECT_FALSE(ck.lookup("model.layers.2.mlp.up_proj.weight"));
}

TEST(GeneratedModels, ShardedMatchesSingle) {
  auto single = Checkpoint::open(modelsDir("llama"));
  auto sharded = Checkpoint::open(modelsDir("llama_sharded"));
  ASSERT_OK(single);
  ASSERT_OK(sharded);
  EXPECT_EQ((*sharded)->files().size(), 2u);
  ASSERT_NE((*sharded)->config(), nullptr);
  ASSERT_NE((*sharded)->indexMetadata(), nullptr);
  EXPECT_TRUE((*sharded)->indexMetadata()->getInteger("total_size"));
  EXPECT_EQ((*sharded)->tensorNames(), (*single)->tensorNames());
  for (const std::string &name : (*single)->tensorNames()) {
    TensorRef a = (*single)->lookup(name), b = (*sharded)->lookup(name);
    ASSERT_TRUE(a && b) << name;
    EXPECT_EQ(a.info->shape, b.info->shape);
    ASSERT_EQ(a.info->byteSize(), b.info->byteSize());
    EXPECT_EQ(std::memcmp(a.info->data, b.info->data, a.info->byteSize()), 0)
        << name;
  }
  // The index may also be passed directly.
  auto viaIndex =
      Checkpoint::open(modelsDir("llama_sharded/model.safetensors.index.json"));
  ASSERT_OK(viaIndex);
  EXPECT_EQ((*viaIndex)->tensorNames(), (*single)->tensorNames());
}

TEST(GeneratedModels, BertDirectory) {
  auto c = Checkpoint::open(modelsDir("bert"));
  ASSERT_OK(c);
  const Checkpoint &ck = **c;
  ASSERT_NE(ck.config(), nullptr);
  EXPECT_EQ(ck.config()->getString("model_type"), llvm::StringRef("bert"));
  const std::pair<const char *, std::vector<int64_t>> expect[] = {
      {"embeddings.word_embeddings.weight", {64, 32}},
      {"embeddings.position_embeddings.weight", {16, 32}},
      {"embeddings.token_type_embeddings.weight", {2, 32}},
      {"embeddings.LayerNorm.weight", {32}},
      {"embeddings.LayerNorm.bias", {32}},
      {"encoder.layer.0.attention.self.query.weight", {32, 32}},
      {"encoder.layer.0.attention.self.query.bias", {32}},
      {"encoder.layer.1.attention.self.key.weight", {32, 32}},
      {"encoder.layer.1.attention.self.value.bias", {32}},
      {"encoder.layer.1.attention.output.dense.weight", {32, 32}},
      {"encoder.layer.1.attention.output.LayerNorm.bias", {32}},
      {"encoder.layer.0.intermediate.dense.weight", {64, 32}},
      {"encoder.layer.0.intermediate.dense.bias", {64}},
      {"encoder.layer.0.output.dense.weight", {32, 64}},
      {"encoder.layer.1.output.LayerNorm.weight", {32}},
      {"pooler.dense.weight", {32, 32}},
      {"pooler.dense.bias", {32}},
  };
  for (const auto &[name, shape] : expect) {
    TensorRef r = ck.lookup(name);
    ASSERT_TRUE(r) << name;
    EXPECT_EQ(r.info->shape, shape) << name;
  }
  // 5 embedding tensors + 16 per layer * 2 + 2 pooler.
  EXPECT_EQ(ck.tensorNames().size(), 39u);
}

//===----------------------------------------------------------------------===//
// Checkpoint directories and sharded indexes built on the fly
//===----------------------------------------------------------------------===//

std::string shardA() {
  return buildFile({{"a", "F32", {2}, bytesOf<float>({1, 2})},
                    {"b", "I8", {3}, bytesOf<int8_t>({1, 2, 3})}});
}
std::string shardB() {
  return buildFile({{"c", "F16", {1}, bytesOf<uint16_t>({0x3c00})}});
}
const char *kIndex = R"({"metadata":{"total_size":13},"weight_map":{
  "a":"s1.safetensors","b":"s1.safetensors","c":"s2.safetensors"}})";

TEST(Checkpoint, ShardedDirectory) {
  TempDir d;
  writeFile(d.file("s1.safetensors"), shardA());
  writeFile(d.file("s2.safetensors"), shardB());
  writeFile(d.file("model.safetensors.index.json"), kIndex);
  writeFile(d.file("config.json"), R"({"model_type":"x","n":3})");
  auto c = Checkpoint::open(d.path());
  ASSERT_OK(c);
  EXPECT_EQ((*c)->tensorNames(), (std::vector<std::string>{"a", "b", "c"}));
  TensorRef r = (*c)->lookup("c");
  ASSERT_TRUE(r);
  EXPECT_EQ(llvm::sys::path::filename(r.file->path()), "s2.safetensors");
  auto t = (*c)->asTensor("c");
  ASSERT_OK(t);
  EXPECT_EQ(t->getAsDouble(0), 1.0);
  EXPECT_EQ((*c)->config()->getInteger("n"), 3);
  auto missing = (*c)->asTensor("zz");
  EXPECT_NE(errorOf(missing).find("tensor 'zz' is not in the checkpoint"),
            std::string::npos);
}

TEST(Checkpoint, ModelSafetensorsPreferredInDirectory) {
  TempDir d;
  writeFile(d.file("model.safetensors"), shardB());
  auto c = Checkpoint::open(d.path());
  ASSERT_OK(c);
  EXPECT_EQ((*c)->tensorNames(), (std::vector<std::string>{"c"}));
  EXPECT_EQ((*c)->config(), nullptr);
}

/// Writes s1/s2 and `index` into a fresh directory and returns the error.
std::string shardedError(const std::string &index,
                         const std::function<void(TempDir &)> &extra = {}) {
  TempDir d;
  writeFile(d.file("s1.safetensors"), shardA());
  writeFile(d.file("s2.safetensors"), shardB());
  writeFile(d.file("model.safetensors.index.json"), index);
  if (extra)
    extra(d);
  auto c = Checkpoint::open(d.path());
  return errorOf(c);
}

TEST(Checkpoint, IndexErrors) {
  auto has = [](const std::string &msg, const char *sub) {
    EXPECT_NE(msg.find(sub), std::string::npos)
        << "message: " << msg << "\nexpected: " << sub;
  };
  has(shardedError("{"), "model.safetensors.index.json: invalid JSON");
  has(shardedError("[]"), "index is not a JSON object");
  has(shardedError(R"({"metadata":{}})"), "missing \"weight_map\"");
  has(shardedError(R"({"weight_map":[]})"),
      "\"weight_map\" is not a JSON object");
  has(shardedError(R"({"weight_map":{}})"), "\"weight_map\" lists no tensors");
  has(shardedError(R"({"metadata":1,"weight_map":{"a":"s1.safetensors"}})"),
      "\"metadata\" is not a JSON object");
  has(shardedError(R"({"weight_map":{"a":7}})"),
      "weight_map entry for tensor 'a' is not a string");
  for (const char *bad : {"../s1.safetensors", "sub/s1.safetensors",
                          "/etc/passwd", "..", "", ".", "a\\\\b"}) {
    std::string idx = std::string(R"({"weight_map":{"a":")") + bad + R"("}})";
    has(shardedError(idx), "is not a plain file name in the index's directory");
  }
  has(shardedError(R"({"weight_map":{"a":"s1.safetensors",
      "b":"s1.safetensors","c":"s2.safetensors","d":"s3.safetensors"}})"),
      "shard 's3.safetensors' (listed for tensor 'd') does not exist");
  has(shardedError(R"({"weight_map":{"a":"s1.safetensors",
      "b":"s1.safetensors","c":"s1.safetensors"}})"),
      "tensor 'c' is mapped to shard 's1.safetensors' but that shard has no "
      "such tensor");
  has(shardedError(R"({"weight_map":{"a":"s1.safetensors",
      "c":"s2.safetensors"}})"),
      "tensor 'b' of shard 's1.safetensors' is not listed in weight_map");
  has(shardedError(R"({"weight_map":{"a":"s1.safetensors",
      "b":"s1.safetensors","b":"s2.safetensors","c":"s2.safetensors"}})"),
      "duplicate key 'b' in object 'weight_map'");
  // The same tensor stored in two shards.
  has(shardedError(R"({"weight_map":{"a":"s1.safetensors",
      "b":"s1.safetensors","c":"s2.safetensors","x":"s3.safetensors"}})",
                   [](TempDir &d) {
                     writeFile(d.file("s3.safetensors"),
                               buildFile({{"x", "U8", {1}, "\x01"},
                                          {"a", "U8", {1}, "\x02"}}));
                   }),
      "tensor 'a' appears in two shards: 's1.safetensors' and "
      "'s3.safetensors'");
  // A shard that is a symlink (even to a valid file in the same directory).
  has(shardedError(R"({"weight_map":{"a":"s1.safetensors",
      "b":"s1.safetensors","c":"link.safetensors"}})",
                   [](TempDir &d) {
                     EXPECT_FALSE(llvm::sys::fs::create_link(
                         "s2.safetensors", d.file("link.safetensors")));
                   }),
      "shard 'link.safetensors' is a symlink");
  // A shard that is a directory.
  has(shardedError(R"({"weight_map":{"a":"s1.safetensors",
      "b":"s1.safetensors","c":"dir.safetensors"}})",
                   [](TempDir &d) {
                     EXPECT_FALSE(llvm::sys::fs::create_directory(
                         d.file("dir.safetensors")));
                   }),
      "shard 'dir.safetensors' is not a regular file");
  // A malformed shard reports the shard's own path and problem.
  has(shardedError(kIndex,
                   [](TempDir &d) {
                     writeFile(d.file("s2.safetensors"), shardB() + "extra");
                   }),
      "s2.safetensors: trailing bytes: 5 bytes");
}

TEST(Checkpoint, DirectoryAndConfigErrors) {
  {
    TempDir d;
    auto c = Checkpoint::open(d.path());
    EXPECT_NE(errorOf(c).find("directory holds neither model.safetensors nor "
                              "model.safetensors.index.json"),
              std::string::npos);
  }
  {
    TempDir d;
    auto c = Checkpoint::open(d.file("nope"));
    EXPECT_NE(errorOf(c).find("nope: cannot open"), std::string::npos);
  }
  {
    TempDir d;
    writeFile(d.file("model.safetensors"), shardB());
    writeFile(d.file("config.json"), R"({"a":1,)");
    auto c = Checkpoint::open(d.path());
    EXPECT_NE(errorOf(c).find("config.json: invalid JSON"), std::string::npos);
  }
  {
    TempDir d;
    writeFile(d.file("model.safetensors"), shardB());
    writeFile(d.file("config.json"), R"([1])");
    auto c = Checkpoint::open(d.path());
    EXPECT_NE(errorOf(c).find("config.json is not a JSON object"),
              std::string::npos);
  }
  {
    TempDir d;
    writeFile(d.file("model.safetensors"), shardB());
    writeFile(d.file("config.json"), R"({"a":1,"a":2})");
    auto c = Checkpoint::open(d.path());
    EXPECT_NE(errorOf(c).find("config.json: duplicate key 'a'"),
              std::string::npos);
  }
}

} // namespace
