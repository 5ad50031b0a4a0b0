//===- PathSafetyTest.cpp - Tests for resolveInside -----------------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#include "qopt/support/PathSafety.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include "gtest/gtest.h"

using namespace qopt;
using llvm::StringRef;

namespace {

class PathSafetyTest : public ::testing::Test {
protected:
  llvm::SmallString<256> root; // holds base/ and outside.bin
  std::string base;

  void SetUp() override {
    ASSERT_FALSE(
        llvm::sys::fs::createUniqueDirectory("qopt-pathsafety-test", root));
    base = join(root, "base");
    ASSERT_FALSE(llvm::sys::fs::create_directories(join(base, "sub/deeper")));
    writeFile(join(base, "a.bin"));
    writeFile(join(base, "sub/b.bin"));
    writeFile(join(base, "sub/deeper/c.bin"));
    writeFile(join(root, "outside.bin"));
    ASSERT_FALSE(llvm::sys::fs::create_link("a.bin", join(base, "link.bin")));
    ASSERT_FALSE(llvm::sys::fs::create_link("sub", join(base, "linkdir")));
    ASSERT_FALSE(
        llvm::sys::fs::create_link("../outside.bin", join(base, "escape.bin")));
    ASSERT_FALSE(llvm::sys::fs::create_link("deeper", join(base, "sub/inner")));
  }
  void TearDown() override { llvm::sys::fs::remove_directories(root); }

  static std::string join(StringRef a, StringRef b) {
    llvm::SmallString<256> p(a);
    llvm::sys::path::append(p, b);
    return std::string(p.str());
  }
  static void writeFile(const std::string &p) {
    std::error_code ec;
    llvm::raw_fd_ostream os(p, ec);
    ASSERT_FALSE(ec) << p << ": " << ec.message();
    os << "data";
  }

  std::string resolveOk(StringRef location) {
    llvm::Expected<std::string> r =
        resolveInside(base, location, "tensor 'w' external data");
    if (!r) {
      ADD_FAILURE() << "'" << location.str()
                    << "': " << llvm::toString(r.takeError());
      return "";
    }
    return *r;
  }
  void expectRejected(StringRef location, StringRef reason) {
    llvm::Expected<std::string> r =
        resolveInside(base, location, "tensor 'w' external data");
    ASSERT_FALSE(static_cast<bool>(r))
        << "'" << location.str() << "' was accepted as " << *r;
    std::string msg = llvm::toString(r.takeError());
    EXPECT_TRUE(StringRef(msg).contains("tensor 'w' external data")) << msg;
    EXPECT_TRUE(StringRef(msg).contains(reason))
        << "expected '" << reason.str() << "' in: " << msg;
  }
};

TEST_F(PathSafetyTest, AcceptsRegularFilesInside) {
  EXPECT_EQ(resolveOk("a.bin"), join(base, "a.bin"));
  EXPECT_EQ(resolveOk("sub/b.bin"), join(base, "sub/b.bin"));
  EXPECT_EQ(resolveOk("./sub//deeper/c.bin"), join(base, "sub/deeper/c.bin"));
}

TEST_F(PathSafetyTest, RejectsEscapes) {
  expectRejected("", "is empty");
  expectRejected("/etc/passwd", "absolute");
  expectRejected(join(base, "a.bin"), "absolute");
  expectRejected("../outside.bin", "'..'");
  expectRejected("sub/../a.bin", "'..'");
  expectRejected("sub/..", "'..'");
  expectRejected("sub\\b.bin", "backslash");
  expectRejected("C:/Windows/x.bin", "drive letter");
  expectRejected("c:x.bin", "drive letter");
  expectRejected(StringRef("a.bin\0.txt", 10), "NUL");
  expectRejected(".", "does not name a file");
  expectRejected("./", "does not name a file");
}

TEST_F(PathSafetyTest, RejectsSymlinksAnywhere) {
  expectRejected("link.bin", "symlink");
  expectRejected("escape.bin", "symlink");
  expectRejected("linkdir/b.bin", "symlink");
  expectRejected("sub/inner/c.bin", "symlink");
}

TEST_F(PathSafetyTest, RejectsMissingAndNonRegular) {
  expectRejected("missing.bin", "missing.bin");
  expectRejected("sub/missing/x.bin", "cannot be resolved");
  expectRejected("sub", "directory");
  expectRejected("sub/", "directory");
  expectRejected("a.bin/x", "as a directory");
}

TEST_F(PathSafetyTest, MessageNamesTheLocation) {
  llvm::Expected<std::string> r =
      resolveInside(base, "../secret", "initializer 'emb' external data");
  ASSERT_FALSE(static_cast<bool>(r));
  std::string msg = llvm::toString(r.takeError());
  EXPECT_TRUE(StringRef(msg).starts_with("initializer 'emb' external data"))
      << msg;
  EXPECT_TRUE(StringRef(msg).contains("'../secret'")) << msg;
}

} // namespace
