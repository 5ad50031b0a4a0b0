//===- InitAll.cpp - registration and model loading for qopt tools ---------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#include "qopt/tools/InitAll.h"

#include "qopt/dialects/qopt/QOptDialect.h"
#include "qopt/onnx/ONNXImporter.h"
#include "qopt/passes/Passes.h"
#include "qopt/safetensors/SafeTensorsImporter.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;

namespace {
struct ImportFlags {
  llvm::cl::OptionCategory category{"qopt importer options"};
  llvm::cl::opt<std::string> inputShape{
      "input-shape",
      llvm::cl::desc("Fix ONNX graph input shapes, e.g. x:1x128,mask:1x128"),
      llvm::cl::init(""), llvm::cl::cat(category)};
  llvm::cl::opt<int64_t> seqLen{
      "seq-len",
      llvm::cl::desc("Sequence length of a Hugging Face model's token input"),
      llvm::cl::init(8), llvm::cl::cat(category)};
  llvm::cl::opt<int64_t> batch{
      "batch", llvm::cl::desc("Batch size of a Hugging Face model's input"),
      llvm::cl::init(1), llvm::cl::cat(category)};
  llvm::cl::opt<bool> weightsOnly{
      "weights-only",
      llvm::cl::desc("Import a safetensors checkpoint as named weights only, "
                     "even when config.json describes a supported model"),
      llvm::cl::init(false), llvm::cl::cat(category)};
};
ImportFlags *flags = nullptr;
} // namespace

void qopt::registerImportOptions() {
  static ImportFlags instance;
  flags = &instance;
}

void qopt::registerAllDialects(DialectRegistry &registry) {
  registry.insert<qopt::QOptDialect, quant::QuantDialect, func::FuncDialect>();
}

void qopt::registerAllPasses() {
  mlir::registerTransformsPasses();
  qopt::registerQOptPasses();
  qopt::registerQOptPipelines();
}

bool qopt::isImportedFormat(llvm::StringRef path) {
  if (path == "-")
    return false;
  if (llvm::sys::fs::is_directory(path))
    return true;
  llvm::StringRef ext = llvm::sys::path::extension(path);
  return ext.equals_insensitive(".onnx") || ext.equals_insensitive(".safetensors") ||
         llvm::sys::path::filename(path).ends_with(".safetensors.index.json");
}

/// "file:line:col" (or just "file" for line 0) of the innermost file location
/// in `loc`, plus the ONNX node / tensor name when the location carries one.
static std::string describeLocation(Location loc) {
  std::string name, file;
  unsigned line = 0, col = 0;
  loc->walk([&](Location l) {
    if (auto n = dyn_cast<NameLoc>(l); n && name.empty())
      name = n.getName().str();
    if (auto f = dyn_cast<FileLineColLoc>(l); f && file.empty()) {
      file = f.getFilename().str();
      line = f.getLine();
      col = f.getColumn();
    }
    return WalkResult::advance();
  });
  std::string out = file.empty() ? std::string("<unknown>") : file;
  if (line)
    out += ":" + std::to_string(line) + ":" + std::to_string(col);
  return out;
}

std::unique_ptr<ScopedDiagnosticHandler>
qopt::printDiagnosticsAsLines(MLIRContext &context) {
  return std::make_unique<ScopedDiagnosticHandler>(
      &context, [](Diagnostic &diag) {
        const char *kind = "note";
        switch (diag.getSeverity()) {
        case DiagnosticSeverity::Error:
          kind = "error";
          break;
        case DiagnosticSeverity::Warning:
          kind = "warning";
          break;
        case DiagnosticSeverity::Remark:
          kind = "remark";
          break;
        case DiagnosticSeverity::Note:
          break;
        }
        llvm::errs() << describeLocation(diag.getLocation()) << ": " << kind
                     << ": " << diag << "\n";
        for (Diagnostic &note : diag.getNotes())
          llvm::errs() << describeLocation(note.getLocation())
                       << ": note: " << note << "\n";
        return success();
      });
}

FailureOr<OwningOpRef<ModuleOp>> qopt::loadModel(MLIRContext &context,
                                                 llvm::StringRef path) {
  context.loadAllAvailableDialects();
  auto printer = printDiagnosticsAsLines(context);
  llvm::StringRef ext = llvm::sys::path::extension(path);
  if (ext.equals_insensitive(".onnx")) {
    ONNXImportOptions options;
    if (flags && !flags->inputShape.empty()) {
      std::string err = parseInputShapes(flags->inputShape, options.inputShapes);
      if (!err.empty())
        return emitError(UnknownLoc::get(&context))
               << "--input-shape: " << err;
    }
    return importONNXFile(context, path, options);
  }
  if (isImportedFormat(path)) {
    SafeTensorsImportOptions options;
    if (flags) {
      options.seqLen = flags->seqLen;
      options.batch = flags->batch;
      options.weightsOnly = flags->weightsOnly;
    }
    return importSafeTensors(context, path, options);
  }
  std::string err;
  llvm::SourceMgr sourceMgr;
  auto file = mlir::openInputFile(path, &err);
  if (!file)
    return emitError(FileLineColLoc::get(&context, path, 0, 0)) << err;
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  SourceMgrDiagnosticHandler handler(sourceMgr, &context);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return failure();
  return module;
}
