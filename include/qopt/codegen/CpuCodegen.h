//===- CpuCodegen.h - qopt dialect to a CPU shared library --------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Lowers a (quantized, fused) qopt module to a C++ program in MLIR's EmitC
// dialect that calls the hand-tuned micro-kernels of runtime/cpu, one
// specialized call per op, plus a weights file holding every constant in
// the layout its kernel reads (packed at compile time, zero-point and bias
// corrections folded). writeCpuLibrary() prints the program with MLIR's C++
// emitter and compiles it into a shared library with the C API of
// runtime/cpu/qopt_model.h. docs/codegen.md describes the whole flow.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_CODEGEN_CPUCODEGEN_H
#define QOPT_CODEGEN_CPUCODEGEN_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <string>
#include <vector>

namespace qopt::codegen {

struct CpuCodegenOptions {
  /// "cpu:avx512-vnni", "cpu:avx2", "cpu:generic"; empty: the module's
  /// qopt.target attribute, else the host.
  std::string target;
  /// The function to compile; empty: @main, or the only function.
  std::string function;
};

/// One generated kernel call, for reports and tests.
struct CpuKernelCall {
  std::string kernel; ///< e.g. "linear_s8_requant"
  std::string ops;    ///< the qopt ops it runs, e.g. "fc1: qopt.fused linear"
};

struct CpuProgram {
  mlir::OwningOpRef<mlir::ModuleOp> program; ///< EmitC
  std::vector<uint8_t> weights;              ///< weights.bin, header included
  std::string target;
  std::string modelId; ///< 16 hex digits, also in the weights header
  std::vector<CpuKernelCall> calls;
  int64_t arenaPerBatch = 0, arenaConst = 0;
};

/// Lowers `module` (not modified; it is cloned and fused first).
llvm::Expected<CpuProgram> lowerToCpu(mlir::ModuleOp module,
                                      const CpuCodegenOptions &options);

/// Prints the program as C++ (MLIR's EmitC C++ emitter).
llvm::Error printCpp(CpuProgram &program, llvm::raw_ostream &os);

struct CpuLibraryOptions {
  /// The C++ compiler; empty: $QOPT_CXX, else clang++-22, clang++, g++.
  std::string cxx;
  /// Replace the files of an existing output directory.
  bool force = false;
  /// Print the compiler command.
  bool verbose = false;
};

/// Writes DIR/{model.cpp, qopt_model.h, the runtime headers, weights.bin,
/// libmodel.so} and compiles the library.
llvm::Error writeCpuLibrary(CpuProgram &program, llvm::StringRef dir,
                            const CpuLibraryOptions &options);

/// The runtime headers, embedded at build time: (file name, contents).
const std::vector<std::pair<const char *, const char *>> &runtimeHeaders();

} // namespace qopt::codegen

#endif // QOPT_CODEGEN_CPUCODEGEN_H
