//===- qopt-translate.cpp - MLIR to artifacts -----------------------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
//   qopt-translate --emit=cpu-library model.q.mlir -o DIR
//   qopt-translate --emit=cpu-cpp model.q.mlir            (C++ to stdout)
//   qopt-translate --emit=cpu-emitc model.q.mlir          (EmitC IR)
//   qopt-translate --emit=cpu-kernels model.q.mlir        (one line per call)
//
//===----------------------------------------------------------------------===//

#include "qopt/codegen/CpuCodegen.h"
#include "qopt/tools/InitAll.h"

#include "mlir/Dialect/EmitC/IR/EmitC.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory category("qopt-translate options");
static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<model>"),
                                      cl::cat(category));
static cl::opt<std::string> outputPath("o", cl::desc("Output (a directory for "
                                                     "cpu-library; default "
                                                     "stdout otherwise)"),
                                       cl::value_desc("path"), cl::cat(category));
static cl::opt<std::string>
    emit("emit", cl::desc("What to write: cpu-library (default), cpu-cpp, "
                          "cpu-emitc, cpu-kernels"),
         cl::init("cpu-library"), cl::cat(category));
static cl::opt<std::string>
    target("target", cl::desc("cpu:avx512-vnni, cpu:avx2 or cpu:generic "
                              "(default: the module's qopt.target, else the "
                              "host)"),
           cl::cat(category));
static cl::opt<std::string> function("function",
                                     cl::desc("Function to compile (default "
                                              "@main)"),
                                     cl::cat(category));
static cl::opt<std::string> cxx("cxx", cl::desc("C++ compiler for the library "
                                                "(default $QOPT_CXX, "
                                                "clang++-22, clang++, g++)"),
                                cl::cat(category));
static cl::opt<bool> force("force", cl::desc("Replace an existing library "
                                             "directory's files"),
                           cl::cat(category));
static cl::opt<bool> verbose("v", cl::desc("Print the compiler command"),
                             cl::cat(category));

static int fail(const llvm::Twine &msg) {
  llvm::errs() << "qopt-translate: error: " << msg << "\n";
  return 1;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  qopt::registerImportOptions();
  cl::HideUnrelatedOptions({&category});
  cl::ParseCommandLineOptions(
      argc, argv,
      "qopt-translate: compile a qopt model to a CPU library\n\n"
      "  qopt-translate --emit=cpu-library model.q.mlir -o DIR\n"
      "  qopt-run DIR --inputs x.npz --benchmark=100\n");
  if (inputFile.empty())
    return fail("no input model (see --help)");
  if (emit != "cpu-library" && emit != "cpu-cpp" && emit != "cpu-emitc" &&
      emit != "cpu-kernels")
    return fail("--emit=" + emit +
                ": expected cpu-library, cpu-cpp, cpu-emitc or cpu-kernels");
  if (emit == "cpu-library" && outputPath.empty())
    return fail("--emit=cpu-library needs -o DIR");

  DialectRegistry registry;
  qopt::registerAllDialects(registry);
  registry.insert<emitc::EmitCDialect>();
  MLIRContext context(registry);
  context.printOpOnDiagnostic(false);
  auto printer = qopt::printDiagnosticsAsLines(context);
  auto module = qopt::loadModel(context, inputFile);
  if (failed(module))
    return 1;

  qopt::codegen::CpuCodegenOptions options;
  options.target = target;
  options.function = function;
  auto program = qopt::codegen::lowerToCpu(module->get(), options);
  if (!program)
    return fail(inputFile + ": " + toString(program.takeError()));

  std::error_code ec;
  std::unique_ptr<llvm::raw_fd_ostream> file;
  llvm::raw_ostream *os = &llvm::outs();
  if (emit != "cpu-library" && !outputPath.empty() && outputPath != "-") {
    file = std::make_unique<llvm::raw_fd_ostream>(outputPath, ec);
    if (ec)
      return fail(outputPath + ": " + ec.message());
    os = file.get();
  }
  if (emit == "cpu-emitc") {
    program->program->print(*os);
    *os << "\n";
    return 0;
  }
  if (emit == "cpu-cpp") {
    if (llvm::Error e = qopt::codegen::printCpp(*program, *os))
      return fail(toString(std::move(e)));
    return 0;
  }
  if (emit == "cpu-kernels") {
    *os << "target " << program->target << ", " << program->calls.size()
        << " kernel call(s), weights " << program->weights.size()
        << " bytes, arena " << program->arenaPerBatch << " * batch + "
        << program->arenaConst << " bytes\n";
    for (auto &c : program->calls)
      *os << "  " << c.kernel << "  <- " << c.ops << "\n";
    return 0;
  }
  qopt::codegen::CpuLibraryOptions lib;
  lib.cxx = cxx;
  lib.force = force;
  lib.verbose = verbose;
  if (llvm::Error e = qopt::codegen::writeCpuLibrary(*program, outputPath, lib))
    return fail(toString(std::move(e)));
  llvm::outs() << llvm::formatv("wrote {0}/libmodel.so ({1}, {2} kernel "
                                "calls, {3} bytes of packed weights)\n",
                                outputPath, program->target,
                                program->calls.size(),
                                program->weights.size());
  return 0;
}
