//===- CpuLibrary.cpp - write and compile a CPU library directory ----------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// DIR/model.cpp        the generated program (EmitC printed as C++)
// DIR/qopt_*.h         the runtime headers it includes (embedded in qopt)
// DIR/weights.bin      the packed weights, memory-mapped by the library
// DIR/libmodel.so      compiled with the target's instruction-set flags
//
//===----------------------------------------------------------------------===//

#include "qopt/codegen/CpuCodegen.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>

using namespace qopt::codegen;

static llvm::Error err(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

const std::vector<std::pair<const char *, const char *>> &
qopt::codegen::runtimeHeaders() {
  static const std::vector<std::pair<const char *, const char *>> headers = {
#include "RuntimeHeaders.inc"
  };
  return headers;
}

static llvm::Error writeFile(llvm::StringRef path, llvm::StringRef data) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec)
    return err(path + ": " + ec.message());
  os << data;
  os.close();
  if (os.has_error())
    return err(path + ": write failed: " + os.error().message());
  return llvm::Error::success();
}

static std::vector<std::string> targetFlags(llvm::StringRef target) {
  if (target == "cpu:avx512-vnni")
    return {"-DQOPT_CPU_TARGET_AVX512VNNI", "-mavx512f", "-mavx512bw",
            "-mavx512vl", "-mavx512vnni", "-mavx2", "-mfma", "-mf16c"};
  if (target == "cpu:avx2")
    return {"-DQOPT_CPU_TARGET_AVX2", "-mavx2", "-mfma", "-mf16c"};
  return {};
}

static llvm::Expected<std::string> findCompiler(const std::string &given) {
  std::vector<std::string> candidates;
  if (!given.empty())
    candidates.push_back(given);
  else {
    if (const char *env = std::getenv("QOPT_CXX"))
      candidates.push_back(env);
    candidates.insert(candidates.end(), {"clang++-22", "clang++", "g++", "c++"});
  }
  for (const std::string &c : candidates) {
    if (llvm::sys::path::is_absolute(c)) {
      if (llvm::sys::fs::can_execute(c))
        return c;
      continue;
    }
    if (auto p = llvm::sys::findProgramByName(c))
      return *p;
  }
  return err("no C++ compiler found (tried " + llvm::join(candidates, ", ") +
             "); install clang-22 or pass --cxx");
}

llvm::Error qopt::codegen::writeCpuLibrary(CpuProgram &program,
                                           llvm::StringRef dir,
                                           const CpuLibraryOptions &options) {
  namespace fs = llvm::sys::fs;
  namespace path = llvm::sys::path;
  if (fs::exists(dir)) {
    if (!fs::is_directory(dir))
      return err(dir + ": exists and is not a directory");
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    bool empty = !ec && it == fs::directory_iterator();
    if (!empty && !options.force)
      return err(dir + ": directory exists and is not empty; pass --force "
                       "to replace the library in it");
  } else if (std::error_code ec = fs::create_directories(dir)) {
    return err(dir + ": " + ec.message());
  }
  auto file = [&](llvm::StringRef name) {
    llvm::SmallString<256> p(dir);
    path::append(p, name);
    return std::string(p);
  };

  std::string cpp;
  {
    llvm::raw_string_ostream os(cpp);
    if (llvm::Error e = printCpp(program, os))
      return e;
  }
  if (llvm::Error e = writeFile(file("model.cpp"), cpp))
    return e;
  for (auto &[name, text] : runtimeHeaders())
    if (llvm::Error e = writeFile(file(name), text))
      return e;
  if (llvm::Error e = writeFile(
          file("weights.bin"),
          llvm::StringRef(reinterpret_cast<const char *>(program.weights.data()),
                          program.weights.size())))
    return e;

  auto cxx = findCompiler(options.cxx);
  if (!cxx)
    return cxx.takeError();
  std::vector<std::string> args = {*cxx,     "-std=c++17", "-O3",
                                   "-fPIC",  "-shared",    "-pthread",
                                   "-fvisibility=hidden",
                                   "-fno-math-errno",
                                   "-I" + std::string(dir)};
  for (std::string &f : targetFlags(program.target))
    args.push_back(f);
  args.push_back(file("model.cpp"));
  args.push_back("-o");
  args.push_back(file("libmodel.so.tmp"));
  if (options.verbose)
    llvm::errs() << "qopt-translate: " << llvm::join(args, " ") << "\n";
  std::vector<llvm::StringRef> argRefs(args.begin(), args.end());
  std::string log = file("compile.log");
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, llvm::StringRef(log),
                                                llvm::StringRef(log)};
  std::string msg;
  int rc = llvm::sys::ExecuteAndWait(*cxx, argRefs, std::nullopt, redirects, 0,
                                     0, &msg);
  if (rc != 0) {
    auto buf = llvm::MemoryBuffer::getFile(log);
    std::string tail;
    if (buf) {
      llvm::StringRef t = (*buf)->getBuffer();
      tail = t.size() > 4000 ? t.take_back(4000).str() : t.str();
    }
    return err("compiling " + file("model.cpp") + " with " + *cxx +
               " failed (exit " + llvm::Twine(rc) + (msg.empty() ? "" : ", ") +
               msg + "); log in " + log + ":\n" + tail);
  }
  fs::remove(log);
  if (std::error_code ec =
          fs::rename(file("libmodel.so.tmp"), file("libmodel.so")))
    return err(file("libmodel.so") + ": " + ec.message());
  return llvm::Error::success();
}
