//===- qopt.cpp - the qopt optimizer driver --------------------------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// An mlir-opt style driver whose input may also be an ONNX model, a
// safetensors file or a Hugging Face model directory. Imported models are
// handed to MlirOptMain as in-memory bytecode, so every mlir-opt flag
// (--pass-pipeline, --mlir-print-ir-after-all, --emit-bytecode, ...) works
// the same on every input format.
//
//===----------------------------------------------------------------------===//

#include "qopt/tools/InitAll.h"

#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

int main(int argc, char **argv) {
  DialectRegistry registry;
  qopt::registerAllDialects(registry);
  qopt::registerAllPasses();
  qopt::registerImportOptions();

  auto [inputFilename, outputFilename] = registerAndParseCLIOptions(
      argc, argv,
      "qopt: post-training quantization compiler\n\n"
      "Input: .mlir/.mlirbc, .onnx, .safetensors, or a Hugging Face model "
      "directory (config.json + *.safetensors).\n",
      registry);

  if (!qopt::isImportedFormat(inputFilename))
    return asMainReturnCode(
        MlirOptMain(argc, argv, inputFilename, outputFilename, registry));

  MlirOptMainConfig config = MlirOptMainConfig::createFromCLOptions();
  std::string bytecode;
  {
    MLIRContext context(registry);
    auto module = qopt::loadModel(context, inputFilename);
    if (failed(module))
      return 1;
    llvm::raw_string_ostream os(bytecode);
    if (failed(writeBytecodeToFile(module->get(), os))) {
      llvm::errs() << inputFilename << ": error: could not serialize the "
                   << "imported module\n";
      return 1;
    }
  }
  auto buffer = llvm::MemoryBuffer::getMemBuffer(bytecode, inputFilename,
                                                 /*RequiresNullTerminator=*/false);
  std::string err;
  auto output = openOutputFile(outputFilename, &err);
  if (!output) {
    llvm::errs() << err << "\n";
    return 1;
  }
  if (failed(MlirOptMain(output->os(), std::move(buffer), registry, config)))
    return 1;
  output->keep();
  return 0;
}
