//===- qopt-run.cpp - run qopt models with the reference executor ----------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
//   qopt-run model.{onnx,mlir} --inputs in.npz [--outputs out.npz]
//            [--compare ref.npz --rtol R --atol A]
//
// Runs a model with the reference executor on .npy/.npz inputs keyed by graph
// input name, prints a summary per output, optionally writes the outputs and
// compares them with reference outputs (max error, cosine similarity; exit
// code 1 on mismatch).
//
//===----------------------------------------------------------------------===//

#include "qopt/executor/Interpreter.h"
#include "qopt/onnx/ONNXImporter.h"
#include "qopt/support/NpyIO.h"
#include "qopt/tools/InitAll.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cmath>
#include <map>

using namespace mlir;
using namespace qopt;
namespace cl = llvm::cl;

static cl::OptionCategory runCategory("qopt-run options");
static cl::opt<std::string> modelPath(cl::Positional, cl::desc("<model>"),
                                      cl::cat(runCategory));
static cl::list<std::string>
    inputFiles("inputs",
               cl::desc("Input arrays: an .npz keyed by graph input name, or "
                        ".npy files named after the inputs (repeatable)"),
               cl::cat(runCategory));
static cl::opt<std::string> outputFile("outputs",
                                       cl::desc("Write the outputs to this .npz"),
                                       cl::cat(runCategory));
static cl::opt<bool> overwrite("force",
                               cl::desc("Overwrite an existing --outputs file"),
                               cl::init(false), cl::cat(runCategory));
static cl::opt<std::string>
    compareFile("compare",
                cl::desc("Compare the outputs with the arrays of this .npz"),
                cl::cat(runCategory));
static cl::opt<double> rtolOpt("rtol", cl::desc("Relative tolerance for --compare"),
                            cl::init(1e-3), cl::cat(runCategory));
static cl::opt<double> atolOpt("atol", cl::desc("Absolute tolerance for --compare"),
                            cl::init(1e-5), cl::cat(runCategory));
static cl::opt<std::string> functionName("function",
                                         cl::desc("Function to run (default main)"),
                                         cl::init(""), cl::cat(runCategory));
static cl::opt<bool> listOnnxOps("list-onnx-ops",
                                 cl::desc("Print the supported ONNX op types"),
                                 cl::init(false), cl::cat(runCategory));
static cl::opt<bool> quiet("quiet", cl::desc("Only print comparisons and errors"),
                           cl::init(false), cl::cat(runCategory));

static int fail(const llvm::Twine &msg) {
  llvm::errs() << "qopt-run: error: " << msg << "\n";
  return 1;
}

namespace {
struct Stats {
  double maxAbs = 0, maxRel = 0, cosine = 1;
  int64_t mismatches = 0, firstMismatch = -1;
};
} // namespace

static Stats compareTensors(const Tensor &got, const Tensor &want) {
  Stats s;
  double dot = 0, ng = 0, nw = 0;
  for (int64_t i = 0; i < got.numElements(); ++i) {
    double g = got.getAsDouble(i), w = want.getAsDouble(i);
    bool ok;
    if (std::isnan(g) || std::isnan(w)) {
      ok = std::isnan(g) && std::isnan(w);
    } else if (std::isinf(g) || std::isinf(w)) {
      ok = g == w;
    } else {
      double d = std::fabs(g - w);
      s.maxAbs = std::max(s.maxAbs, d);
      if (w != 0)
        s.maxRel = std::max(s.maxRel, d / std::fabs(w));
      ok = d <= atolOpt + rtolOpt * std::fabs(w);
      dot += g * w;
      ng += g * g;
      nw += w * w;
    }
    if (!ok) {
      if (s.firstMismatch < 0)
        s.firstMismatch = i;
      ++s.mismatches;
    }
  }
  if (ng > 0 && nw > 0)
    s.cosine = dot / std::sqrt(ng * nw);
  else if (ng != nw)
    s.cosine = 0;
  return s;
}

static void printSummary(llvm::StringRef name, const Tensor &t) {
  llvm::outs() << "output '" << name << "': " << t.describe();
  if (t.numElements() > 0) {
    double mn = INFINITY, mx = -INFINITY, sum = 0;
    int64_t nonFinite = 0;
    for (int64_t i = 0; i < t.numElements(); ++i) {
      double v = t.getAsDouble(i);
      if (!std::isfinite(v)) {
        ++nonFinite;
        continue;
      }
      mn = std::min(mn, v);
      mx = std::max(mx, v);
      sum += v;
    }
    int64_t finite = t.numElements() - nonFinite;
    if (finite > 0)
      llvm::outs() << llvm::format(" min=%.6g max=%.6g mean=%.6g", mn, mx,
                                   sum / finite);
    if (nonFinite)
      llvm::outs() << " non-finite=" << nonFinite;
  }
  llvm::outs() << "\n";
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  qopt::registerImportOptions();
  cl::HideUnrelatedOptions({&runCategory});
  cl::ParseCommandLineOptions(
      argc, argv,
      "qopt-run: run a model with qopt's reference executor\n\n"
      "  qopt-run model.onnx --inputs in.npz --outputs out.npz\n"
      "  qopt-run model.mlir --inputs in.npz --compare expected.npz\n");

  if (listOnnxOps) {
    for (const std::string &op : supportedONNXOps())
      llvm::outs() << op << "\n";
    return 0;
  }
  if (modelPath.empty())
    return fail("no model given (see --help)");

  DialectRegistry registry;
  registerAllDialects(registry);
  MLIRContext context(registry);
  auto module = loadModel(context, modelPath);
  if (failed(module))
    return 1;
  auto interp = Interpreter::create(module->get(), functionName);
  if (!interp)
    return fail(modelPath + ": " + toString(interp.takeError()));

  // Gather the input arrays by name.
  std::map<std::string, Tensor> arrays;
  std::map<std::string, std::string> arraySource;
  for (const std::string &file : inputFiles) {
    auto read = readArrays(file);
    if (!read)
      return fail(toString(read.takeError()));
    for (auto &[name, t] : *read) {
      if (arrays.count(name))
        return fail("input '" + name + "' is given twice (" +
                    arraySource[name] + " and " + file + ")");
      arrays[name] = t;
      arraySource[name] = file;
    }
  }
  std::vector<Tensor> inputs;
  std::string missing;
  for (const IOSpec &in : (*interp)->inputs()) {
    auto it = arrays.find(in.name);
    if (it == arrays.end()) {
      missing += (missing.empty() ? "'" : ", '") + in.name + "'";
      continue;
    }
    inputs.push_back(it->second);
  }
  if (!missing.empty())
    return fail(modelPath + ": missing model input(s) " + missing +
                (inputFiles.empty() ? " (use --inputs)" : ""));
  if (!quiet)
    for (auto &[name, t] : arrays) {
      bool used = llvm::any_of((*interp)->inputs(),
                               [&](const IOSpec &s) { return s.name == name; });
      if (!used)
        llvm::errs() << "qopt-run: note: array '" << name << "' in "
                     << arraySource[name] << " is not a model input; ignored\n";
    }

  auto start = std::chrono::steady_clock::now();
  auto outputs = (*interp)->run(inputs);
  auto end = std::chrono::steady_clock::now();
  if (!outputs)
    return fail(modelPath + ": " + toString(outputs.takeError()));
  const auto &specs = (*interp)->outputs();
  if (!quiet) {
    for (auto [spec, t] : llvm::zip(specs, *outputs))
      printSummary(spec.name, t);
    llvm::outs() << llvm::format(
        "ran %s in %.3f ms\n", llvm::sys::path::filename(modelPath).str().c_str(),
        std::chrono::duration<double, std::milli>(end - start).count());
  }

  if (!outputFile.empty()) {
    if (llvm::sys::fs::exists(outputFile) && !overwrite)
      return fail(outputFile + " exists; pass --force to overwrite it");
    std::vector<std::pair<std::string, Tensor>> named;
    for (auto [spec, t] : llvm::zip(specs, *outputs))
      named.emplace_back(spec.name, t);
    if (llvm::Error e = writeNpz(outputFile, named))
      return fail(toString(std::move(e)));
    if (!quiet)
      llvm::outs() << "wrote " << named.size() << " output(s) to " << outputFile
                   << "\n";
  }

  if (compareFile.empty())
    return 0;
  auto refs = readArrays(compareFile);
  if (!refs)
    return fail(toString(refs.takeError()));
  int bad = 0, compared = 0;
  for (auto &[name, want] : *refs) {
    auto it = llvm::find_if(specs, [&](const IOSpec &s) { return s.name == name; });
    if (it == specs.end()) {
      llvm::outs() << "compare '" << name << "': MISMATCH (no model output of "
                   << "this name)\n";
      ++bad;
      continue;
    }
    const Tensor &got = (*outputs)[it - specs.begin()];
    ++compared;
    if (got.shape() != want.shape()) {
      llvm::outs() << "compare '" << name << "': MISMATCH (shape "
                   << got.describe() << " vs expected " << want.describe()
                   << ")\n";
      ++bad;
      continue;
    }
    Stats s = compareTensors(got, want);
    llvm::outs() << "compare '" << name << "': "
                 << llvm::format("max_abs_err=%.3g max_rel_err=%.3g cosine=%.6f",
                                 s.maxAbs, s.maxRel, s.cosine);
    if (got.dtype() != want.dtype())
      llvm::outs() << " (dtype " << dtypeName(got.dtype()) << " vs expected "
                   << dtypeName(want.dtype()) << ")";
    if (s.mismatches) {
      llvm::outs() << llvm::format(
          " MISMATCH (%lld of %lld elements; first at flat index %lld: got "
          "%.9g, expected %.9g)\n",
          (long long)s.mismatches, (long long)got.numElements(),
          (long long)s.firstMismatch, got.getAsDouble(s.firstMismatch),
          want.getAsDouble(s.firstMismatch));
      ++bad;
    } else {
      llvm::outs() << " ok\n";
    }
  }
  if (bad) {
    llvm::outs() << "qopt-run: " << bad << " output(s) do not match "
                 << compareFile << "\n";
    return 1;
  }
  llvm::outs() << "qopt-run: " << compared << " output(s) match " << compareFile
               << llvm::format(" (rtol=%g, atol=%g)\n", (double)rtolOpt,
                               (double)atolOpt);
  return 0;
}
