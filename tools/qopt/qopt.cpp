//===- qopt.cpp - the qopt optimizer driver --------------------------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// An mlir-opt style driver whose input may also be an ONNX model, a
// safetensors file or a Hugging Face model directory. MLIR inputs go through
// MlirOptMain; imported models run the same pass pipeline and pass-manager
// flags (--pass-pipeline, --mlir-print-ir-after-all, --mlir-pass-statistics,
// --emit-bytecode, --mlir-print-debuginfo, ...) on the imported module in
// place, so their weights are never copied.
//
//===----------------------------------------------------------------------===//

#include "qopt/tools/InitAll.h"

#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
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

  // Imported models run the pipeline directly on the imported module: going
  // through MlirOptMain would serialize it and parse it again, holding the
  // weights two more times.
  MlirOptMainConfig config = MlirOptMainConfig::createFromCLOptions();
  MLIRContext context(registry);
  context.allowUnregisteredDialects(config.shouldAllowUnregisteredDialects());
  // Errors name the file and the node; a dump of a whole imported model as a
  // note would bury them.
  context.printOpOnDiagnostic(false);
  auto printer = qopt::printDiagnosticsAsLines(context);
  auto module = qopt::loadModel(context, inputFilename);
  if (failed(module))
    return 1;
  PassManager pm(&context, ModuleOp::getOperationName(),
                 OpPassManager::Nesting::Implicit);
  if (failed(applyPassManagerCLOptions(pm)) ||
      failed(config.setupPassPipeline(pm)))
    return 1;
  pm.enableVerifier(config.shouldVerifyPasses());
  if (failed(pm.run(module->get())))
    return 1;

  std::string err;
  auto output = openOutputFile(outputFilename, &err);
  if (!output) {
    llvm::errs() << err << "\n";
    return 1;
  }
  if (config.shouldEmitBytecode()) {
    BytecodeWriterConfig writerConfig("qopt");
    if (auto version = config.bytecodeVersionToEmit())
      writerConfig.setDesiredBytecodeVersion(*version);
    if (failed(writeBytecodeToFile(module->get(), output->os(), writerConfig)))
      return 1;
  } else {
    module->get()->print(output->os(), OpPrintingFlags());
    output->os() << "\n";
  }
  output->keep();
  return 0;
}
