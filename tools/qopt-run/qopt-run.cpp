//===- qopt-run.cpp - run qopt models with the reference executor ----------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
//   qopt-run model.{onnx,mlir} --inputs in.npz [--outputs out.npz]
//            [--compare ref.npz --rtol R --atol A]
//            [--reference float.onnx | --reference-outputs ref.npz]
//            [--per-layer] [--max-degradation PCT] [--json F] [--chart F.svg]
//
// Runs a model with the reference executor on .npy/.npz inputs keyed by graph
// input name, prints a summary per output, optionally writes the outputs and
// compares them with reference outputs (max error, cosine similarity; exit
// code 1 on mismatch).
//
// The quality gate: with --reference (a float model, run on the same inputs)
// or --reference-outputs it reports per output the error metrics of
// Quality.h, label accuracy when the inputs hold a labels array, per-layer
// SQNR (--per-layer), and fails with exit code 3 when the quality drop exceeds
// --max-degradation.
//
//===----------------------------------------------------------------------===//

#include "CompiledModel.h"
#include "Quality.h"

#include "qopt/executor/Interpreter.h"
#include "qopt/onnx/ONNXImporter.h"
#include "qopt/passes/QuantUtils.h"
#include "qopt/support/NpyIO.h"
#include "qopt/tools/InitAll.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <map>

using namespace mlir;
using namespace qopt;
namespace cl = llvm::cl;
namespace json = llvm::json;

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
static cl::opt<bool>
    overwrite("force",
              cl::desc("Overwrite existing --outputs, --json and --chart files"),
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
static cl::opt<int64_t> runBatch(
    "run-batch",
    cl::desc("Samples per run for inputs with a dynamic dim 0 (default: all "
             "samples in one run)"),
    cl::init(0), cl::cat(runCategory));

// Quality gate.
static cl::opt<std::string> referenceModel(
    "reference",
    cl::desc("Float model to compare with, run on the same inputs (any format "
             "qopt reads)"),
    cl::cat(runCategory));
static cl::opt<std::string> referenceOutputs(
    "reference-outputs",
    cl::desc("Stored reference outputs (.npz keyed by output name) to compare "
             "with instead of running --reference"),
    cl::cat(runCategory));
static cl::opt<std::string>
    labelsName("labels",
               cl::desc("Array of --inputs holding class labels (default: 'y' "
                        "when present and not a model input)"),
               cl::cat(runCategory));
static cl::opt<std::string>
    labelOutput("label-output",
                cl::desc("Output scored against the labels and used for the "
                         "gate (default: the first output)"),
                cl::cat(runCategory));
static cl::opt<bool>
    perLayer("per-layer",
             cl::desc("Per-layer SQNR against the --reference model"),
             cl::init(false), cl::cat(runCategory));
static cl::opt<double> maxDegradation(
    "max-degradation",
    cl::desc("Fail (exit code 3) when the quality drop in percentage points "
             "exceeds this: the accuracy drop with labels, else 100 - top-1 "
             "agreement"),
    cl::value_desc("PCT"), cl::cat(runCategory));
static cl::opt<std::string>
    jsonFile("json", cl::desc("Write the quality report as JSON to this file"),
             cl::cat(runCategory));
static cl::opt<std::string> chartFile(
    "chart",
    cl::desc("Write a per-layer SQNR bar chart (.svg or .html); implies "
             "--per-layer"),
    cl::cat(runCategory));

/// Exit code of a failed quality gate (errors and --compare mismatches are 1).
static cl::opt<int64_t> benchmarkRuns(
    "benchmark",
    cl::desc("Time N more runs of the model on the first batch of inputs and "
             "print median / p90 latency (with --json, also into the JSON)"),
    cl::init(0), cl::cat(runCategory));
/// --threads: libLLVM already registers a (hidden) `cl::opt<int>` named
/// "threads"; qopt-run adopts it (see main) instead of clashing with it.
static cl::opt<int> *threadsOption() {
  auto &opts = cl::getRegisteredOptions();
  auto it = opts.find("threads");
  return it == opts.end() ? nullptr : static_cast<cl::opt<int> *>(it->second);
}
static int threadsOpt = 0;

static constexpr int kGateFailed = 3;

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

//===----------------------------------------------------------------------===//
// Running a model over the samples
//===----------------------------------------------------------------------===//
//
// Samples are dim 0 of the input arrays. How an array feeds a model input:
//   Whole: the array is the input as it is (its shape fits the input, or it
//          does not and the interpreter says why).
//   Rows:  same rank as the input; the input's dim 0 is dynamic (all samples
//          in one run, or --run-batch per run) or static B with a multiple of
//          B samples (B samples per run).
//   Stack: one more dim than the input: every run takes one sample and drops
//          the leading dim; the outputs are stacked along a new dim 0.
// Outputs of several runs are concatenated along dim 0.

namespace {
enum class Feed { Whole, Rows, Stack };

struct Model {
  std::string path;
  OwningOpRef<ModuleOp> module;
  std::unique_ptr<Interpreter> interp;
  std::unique_ptr<CompiledModel> lib; // a qopt-translate library directory
  func::FuncOp func;

  const std::vector<IOSpec> &inputSpecs() const {
    return lib ? lib->inputs() : interp->inputs();
  }
  const std::vector<IOSpec> &outputSpecs() const {
    return lib ? lib->outputs() : interp->outputs();
  }

  std::vector<const Tensor *> arrays; // per input
  std::vector<Feed> feeds;            // per input
  std::optional<int64_t> fixedChunk;  // samples per run the inputs require
  int64_t samples = -1;               // dim 0 of the split arrays; -1: none
  std::string conflict; // split arrays with different dim 0 (an error only
                        // when the samples must be split)
  bool stack = false;

  int64_t chunk = 0, runs = 1;
  std::vector<std::vector<Tensor>> runOutputs;
  std::vector<Tensor> outputs; // merged
  double ms = 0;
};
} // namespace

static func::FuncOp findFunction(ModuleOp module, llvm::StringRef name) {
  if (!name.empty())
    return module.lookupSymbol<func::FuncOp>(name);
  if (auto main = module.lookupSymbol<func::FuncOp>("main"))
    return main;
  SmallVector<func::FuncOp> fns(module.getOps<func::FuncOp>());
  return fns.size() == 1 ? fns.front() : func::FuncOp();
}

/// Loads `path` and prepares its interpreter; errors are printed.
static bool loadAndPrepare(MLIRContext &context, Model &m, llvm::StringRef path,
                           llvm::StringRef function) {
  m.path = path.str();
  if (isCompiledModelDir(path)) {
    auto lib = CompiledModel::open(context, path, threadsOpt);
    if (!lib) {
      fail(toString(lib.takeError()));
      return false;
    }
    m.lib = std::move(*lib);
    return true;
  }
  if (llvm::sys::fs::is_directory(path) &&
      !llvm::sys::fs::exists(path + "/config.json")) {
    fail(path + ": a directory without libmodel.so (write one with "
                "qopt-translate --emit=cpu-library) or config.json");
    return false;
  }
  auto module = loadModel(context, path);
  if (failed(module))
    return false;
  m.module = std::move(*module);
  auto interp = Interpreter::create(m.module.get(), function);
  if (!interp) {
    fail(path + ": " + toString(interp.takeError()));
    return false;
  }
  m.interp = std::move(*interp);
  m.func = findFunction(m.module.get(), function);
  return true;
}

static bool dimsFit(llvm::ArrayRef<int64_t> actual, RankedTensorType type) {
  if (static_cast<int64_t>(actual.size()) != type.getRank())
    return false;
  for (auto [a, d] : llvm::zip(actual, type.getShape()))
    if (!ShapedType::isDynamic(d) && a != d)
      return false;
  return true;
}

/// Decides how every array feeds `m`; missing inputs are an error.
static llvm::Error planFeeds(Model &m,
                             const std::map<std::string, Tensor> &arrays,
                             bool noInputFiles) {
  std::string missing;
  for (const IOSpec &in : m.inputSpecs()) {
    auto it = arrays.find(in.name);
    if (it == arrays.end()) {
      missing += (missing.empty() ? "'" : ", '") + in.name + "'";
      continue;
    }
    m.arrays.push_back(&it->second);
  }
  if (!missing.empty())
    return llvm::createStringError(m.path + ": missing model input(s) " +
                                   missing +
                                   (noInputFiles ? " (use --inputs)" : ""));
  std::string chunkFrom, samplesFrom;
  for (auto [spec, array] : llvm::zip(m.inputSpecs(), m.arrays)) {
    const Tensor &a = *array;
    RankedTensorType t = spec.type;
    Feed feed = Feed::Whole;
    std::optional<int64_t> need;
    if (a.rank() == t.getRank() + 1 &&
        dimsFit(llvm::ArrayRef(a.shape()).drop_front(), t)) {
      feed = Feed::Stack;
      need = 1;
    } else if (a.rank() == t.getRank() && t.getRank() >= 1 &&
               dimsFit(llvm::ArrayRef(a.shape()).drop_front(),
                       RankedTensorType::get(t.getShape().drop_front(),
                                             t.getElementType()))) {
      int64_t b = t.getDimSize(0);
      if (ShapedType::isDynamic(b)) {
        feed = Feed::Rows;
      } else if (b > 0 && a.dim(0) % b == 0 && a.dim(0) > b) {
        feed = Feed::Rows;
        need = b;
      }
    }
    m.feeds.push_back(feed);
    if (feed == Feed::Whole)
      continue;
    if (feed == Feed::Stack)
      m.stack = true;
    if (m.samples >= 0 && a.dim(0) != m.samples && m.conflict.empty())
      m.conflict = llvm::formatv("{0}: inputs disagree on the number of "
                                 "samples (dim 0): '{1}' has {2}, '{3}' has "
                                 "{4}",
                                 m.path, samplesFrom, m.samples, spec.name,
                                 a.dim(0));
    if (m.samples < 0) {
      m.samples = a.dim(0);
      samplesFrom = spec.name;
    }
    if (need) {
      if (m.fixedChunk && *m.fixedChunk != *need)
        return llvm::createStringError(llvm::formatv(
            "{0}: inputs need different samples per run: '{1}' takes {2}, "
            "'{3}' takes {4}",
            m.path, chunkFrom, *m.fixedChunk, spec.name, *need));
      m.fixedChunk = need;
      chunkFrom = spec.name;
    }
  }
  return llvm::Error::success();
}

/// Sets the samples per run (0: all in one run).
static llvm::Error setChunk(Model &m, int64_t chunk) {
  if (!m.conflict.empty()) {
    if (m.fixedChunk || chunk > 0 || m.stack)
      return llvm::createStringError(m.conflict);
    m.samples = -1; // one run with the arrays as they are
  }
  if (m.samples <= 0) {
    m.runs = 1;
    m.chunk = 0;
    return llvm::Error::success();
  }
  m.chunk = std::min(chunk > 0 ? chunk : m.samples, m.samples);
  m.runs = (m.samples + m.chunk - 1) / m.chunk;
  return llvm::Error::success();
}

/// Rows [begin, end) of `t` along dim 0, copied.
static Tensor sliceRows(const Tensor &t, int64_t begin, int64_t end) {
  std::vector<int64_t> shape = t.shape();
  shape[0] = end - begin;
  Tensor out(t.dtype(), shape);
  size_t rowBytes = t.dim(0) ? t.byteSize() / t.dim(0) : 0;
  if (out.byteSize())
    std::memcpy(out.mutableRawData(),
                static_cast<const char *>(t.rawData()) + begin * rowBytes,
                out.byteSize());
  return out;
}

static llvm::Expected<std::vector<Tensor>>
runOnce(Model &m, int64_t r, const Interpreter::ValueCallback &callback) {
  std::vector<Tensor> inputs;
  for (auto [array, feed] : llvm::zip(m.arrays, m.feeds)) {
    const Tensor &a = *array;
    if (feed == Feed::Whole || (feed == Feed::Rows && m.runs == 1)) {
      inputs.push_back(a);
    } else if (feed == Feed::Rows) {
      inputs.push_back(
          sliceRows(a, r * m.chunk, std::min((r + 1) * m.chunk, m.samples)));
    } else {
      std::vector<int64_t> shape(a.shape().begin() + 1, a.shape().end());
      inputs.push_back(sliceRows(a, r, r + 1).reshaped(shape));
    }
  }
  auto start = std::chrono::steady_clock::now();
  auto outputs = m.lib ? m.lib->run(inputs) : m.interp->run(inputs, callback);
  m.ms += std::chrono::duration<double, std::milli>(
              std::chrono::steady_clock::now() - start)
              .count();
  if (!outputs) {
    std::string where = m.runs > 1 ? llvm::formatv(" (run {0} of {1}, samples "
                                                   "{2}..{3})",
                                                   r + 1, m.runs, r * m.chunk,
                                                   std::min((r + 1) * m.chunk,
                                                            m.samples) -
                                                       1)
                                         .str()
                                   : std::string();
    return llvm::createStringError(m.path + where + ": " +
                                   toString(outputs.takeError()));
  }
  return std::move(*outputs);
}

/// Joins the outputs of all runs into m.outputs.
static llvm::Error mergeOutputs(Model &m) {
  if (m.runOutputs.size() == 1) {
    m.outputs = std::move(m.runOutputs.front());
    m.runOutputs.clear();
    return llvm::Error::success();
  }
  const auto &specs = m.outputSpecs();
  for (size_t o = 0; o < specs.size(); ++o) {
    const Tensor &first = m.runOutputs.front()[o];
    bool stack = m.stack || first.rank() == 0;
    std::vector<int64_t> shape = first.shape();
    int64_t total = 0;
    for (auto &run : m.runOutputs) {
      const Tensor &t = run[o];
      bool fits = t.dtype() == first.dtype() && t.rank() == first.rank() &&
                  (stack ? t.shape() == first.shape()
                         : std::equal(t.shape().begin() + 1, t.shape().end(),
                                      first.shape().begin() + 1));
      if (!fits)
        return llvm::createStringError(
            m.path + ": output '" + specs[o].name + "' is " + t.describe() +
            " in one run and " + first.describe() +
            " in another; cannot join the runs");
      total += stack ? 1 : t.dim(0);
    }
    if (stack)
      shape.insert(shape.begin(), total);
    else
      shape[0] = total;
    Tensor joined(first.dtype(), shape);
    char *dst = joined.byteSize() ? static_cast<char *>(joined.mutableRawData())
                                  : nullptr;
    for (auto &run : m.runOutputs) {
      if (run[o].byteSize())
        std::memcpy(dst, run[o].rawData(), run[o].byteSize());
      dst += run[o].byteSize();
      run[o] = Tensor();
    }
    m.outputs.push_back(std::move(joined));
  }
  m.runOutputs.clear();
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// Per-layer comparison
//===----------------------------------------------------------------------===//

namespace {
/// How to read a result as float: as it is, or dequantized from a static
/// !quant.uniform type (per tensor or per axis).
struct Dequant {
  bool quantized = false;
  std::vector<float> scales;
  std::vector<int64_t> zeroPoints;
  int64_t axis = -1; // -1: per tensor
};

/// Where a layer's value comes from: the last result produced under the
/// layer's name, in execution (block) order, that is float or statically
/// quantized.
struct Site {
  Operation *op = nullptr;
  unsigned result = 0;
  Dequant dequant;
};
struct LayerSites {
  std::vector<std::string> order; // names in order of first appearance
  llvm::StringMap<Site> last;
};

struct LayerStats {
  std::string name; // "fc1", or "fc1+relu1" when relu1 is fused
  quality::ErrorAccumulator error;
  std::string problem; // e.g. a shape mismatch; no metrics then
};
} // namespace

/// Whether a value of `type` can be compared as float, and how.
static std::optional<Dequant> floatView(Type type) {
  Type e = getElementTypeOrSelf(type);
  if (isa<FloatType>(e))
    return Dequant();
  Dequant d;
  d.quantized = true;
  if (auto u = dyn_cast<quant::UniformQuantizedType>(e)) {
    d.scales = {static_cast<float>(u.getScale())};
    d.zeroPoints = {u.getZeroPoint()};
    return d;
  }
  if (auto pa = dyn_cast<quant::UniformQuantizedPerAxisType>(e)) {
    for (double sc : pa.getScales())
      d.scales.push_back(static_cast<float>(sc));
    d.zeroPoints.assign(pa.getZeroPoints().begin(), pa.getZeroPoints().end());
    d.axis = pa.getQuantizedDimension();
    return d;
  }
  return std::nullopt; // plain integers, sub-channel types
}

/// `t` as float: `t` itself, or (q - zp) * scale in f32 as qopt.dequantize
/// computes it.
static Tensor asFloat(const Tensor &t, const Dequant &d) {
  if (!d.quantized)
    return t;
  Tensor out(DType::F32, t.shape());
  float *o = out.mutableData<float>();
  int64_t inner = 1, dim = 1;
  if (d.axis >= 0 && d.axis < t.rank()) {
    dim = t.dim(d.axis);
    for (int64_t i = d.axis + 1; i < t.rank(); ++i)
      inner *= t.dim(i);
  }
  for (int64_t i = 0; i < t.numElements(); ++i) {
    size_t c = d.axis >= 0 ? static_cast<size_t>((i / inner) % dim) : 0;
    if (c >= d.scales.size())
      c = 0;
    double q = t.getAsDouble(i);
    o[i] = static_cast<float>(q - static_cast<double>(d.zeroPoints[c])) *
           d.scales[c];
  }
  return out;
}

static LayerSites collectSites(func::FuncOp fn) {
  LayerSites sites;
  for (Operation &op : fn.getBody().front()) {
    if (op.hasTrait<OpTrait::ConstantLike>() || op.getNumResults() == 0)
      continue;
    std::string name = qopt::locationName(&op);
    if (name.empty())
      continue;
    for (auto [i, res] : llvm::enumerate(op.getResults())) {
      auto view = floatView(res.getType());
      if (!view)
        continue;
      Site site{&op, static_cast<unsigned>(i), std::move(*view)};
      auto [it, inserted] = sites.last.try_emplace(name, site);
      if (inserted)
        sites.order.push_back(name);
      else
        it->second = std::move(site);
    }
  }
  return sites;
}

//===----------------------------------------------------------------------===//
// Report
//===----------------------------------------------------------------------===//

static json::Value jsonNumber(double v) {
  if (std::isnan(v))
    return nullptr;
  if (std::isinf(v))
    return v > 0 ? "inf" : "-inf";
  return v;
}

static json::Value jsonShape(const std::vector<int64_t> &shape) {
  json::Array a;
  for (int64_t d : shape)
    a.push_back(d);
  return a;
}

static std::string pct(double v) {
  return llvm::formatv("{0:F2}%", v).str();
}

/// Writes `contents` to `path` through a temporary file (no partial files).
static llvm::Error writeText(llvm::StringRef path, llvm::StringRef contents) {
  return llvm::writeToOutput(path, [&](llvm::raw_ostream &os) {
    os << contents;
    return llvm::Error::success();
  });
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  qopt::registerImportOptions();
  cl::opt<int> *threads = threadsOption();
  if (threads) {
    threads->setDescription("Threads for a compiled library (a qopt-translate "
                            "directory); 0: all cores");
    threads->addCategory(runCategory);
    threads->setHiddenFlag(cl::NotHidden);
  }
  cl::HideUnrelatedOptions({&runCategory});
  cl::ParseCommandLineOptions(
      argc, argv,
      "qopt-run: run a model with qopt's reference executor\n\n"
      "  qopt-run model.onnx --inputs in.npz --outputs out.npz\n"
      "  qopt-run model.mlir --inputs in.npz --compare expected.npz\n"
      "  qopt-run model.q.mlir --inputs eval.npz --reference model.onnx \\\n"
      "           --per-layer --max-degradation=1 --json report.json\n\n"
      "Exit codes: 0 success, 1 error or --compare mismatch, 3 quality gate "
      "(--max-degradation) failed.\n");

  if (threads)
    threadsOpt = *threads;
  if (listOnnxOps) {
    for (const std::string &op : supportedONNXOps())
      llvm::outs() << op << "\n";
    return 0;
  }
  if (modelPath.empty())
    return fail("no model given (see --help)");

  // Check the quality options before spending time on running anything.
  bool wantPerLayer = perLayer || !chartFile.empty();
  bool haveReference = !referenceModel.empty() || !referenceOutputs.empty();
  bool gate = maxDegradation.getNumOccurrences() > 0;
  if (!referenceModel.empty() && !referenceOutputs.empty())
    return fail("--reference and --reference-outputs exclude each other");
  if (wantPerLayer && referenceModel.empty())
    return fail(std::string(perLayer ? "--per-layer" : "--chart") +
                " needs a --reference model (stored outputs have no layers)");
  if (gate && !haveReference)
    return fail("--max-degradation needs --reference or --reference-outputs");
  if (gate && !(maxDegradation >= 0 && maxDegradation <= 100))
    return fail(llvm::formatv("--max-degradation={0}: expected a percentage "
                              "between 0 and 100",
                              (double)maxDegradation)
                    .str());
  if (runBatch < 0)
    return fail("--run-batch must be positive");
  if (!chartFile.empty()) {
    llvm::StringRef ext = llvm::sys::path::extension(chartFile);
    if (!ext.equals_insensitive(".svg") && !ext.equals_insensitive(".html") &&
        !ext.equals_insensitive(".htm"))
      return fail("--chart " + chartFile +
                  ": the file name must end in .svg or .html");
  }
  for (const std::string *file : {&outputFile.getValue(), &jsonFile.getValue(),
                                  &chartFile.getValue()})
    if (!file->empty() && llvm::sys::fs::exists(*file) && !overwrite)
      return fail(*file + " exists; pass --force to overwrite it");
  if (!referenceModel.empty() && !llvm::sys::fs::exists(referenceModel))
    return fail("--reference " + referenceModel + ": no such file or directory");

  if (wantPerLayer && isCompiledModelDir(modelPath))
    return fail(std::string(perLayer ? "--per-layer" : "--chart") +
                " needs an MLIR candidate: a compiled library keeps no "
                "per-layer values (run the .mlir it was compiled from)");
  if (benchmarkRuns < 0)
    return fail("--benchmark must be positive");
  if (threadsOpt < 0)
    return fail("--threads must be >= 0 (0: all cores)");

  DialectRegistry registry;
  registerAllDialects(registry);
  MLIRContext context(registry);
  Model cand;
  if (!loadAndPrepare(context, cand, modelPath, functionName))
    return 1;
  std::optional<Model> ref;
  if (!referenceModel.empty()) {
    ref.emplace();
    if (!loadAndPrepare(context, *ref, referenceModel, ""))
      return 1;
  }

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
  auto isInputOf = [](const Model &m, llvm::StringRef name) {
    return llvm::any_of(m.inputSpecs(),
                        [&](const IOSpec &s) { return s.name == name; });
  };

  // Labels: --labels NAME, else 'y' when it is not a model input.
  std::string labelsKey = labelsName;
  if (labelsKey.empty() && arrays.count("y") && !isInputOf(cand, "y"))
    labelsKey = "y";
  if (!labelsName.empty() && !arrays.count(labelsName))
    return fail("--labels: no array '" + labelsName + "' in the inputs" +
                (inputFiles.empty() ? " (use --inputs)" : ""));

  if (!jsonFile.empty() && !haveReference && labelsKey.empty() &&
      benchmarkRuns <= 0)
    return fail("--json writes the quality report; it needs --reference, "
                "--reference-outputs or a labels array");

  if (llvm::Error e = planFeeds(cand, arrays, inputFiles.empty()))
    return fail(toString(std::move(e)));
  if (ref)
    if (llvm::Error e = planFeeds(*ref, arrays, inputFiles.empty()))
      return fail(toString(std::move(e)));
  if (!quiet)
    for (auto &[name, t] : arrays) {
      if (name == labelsKey)
        llvm::errs() << "qopt-run: note: array '" << name << "' in "
                     << arraySource[name] << " is used as labels\n";
      else if (!isInputOf(cand, name) && !(ref && isInputOf(*ref, name)))
        llvm::errs() << "qopt-run: note: array '" << name << "' in "
                     << arraySource[name] << " is not a model input; ignored\n";
    }

  // Samples per run. The per-layer comparison pairs the activations of the
  // two models run by run, so there both use the same split.
  int64_t flexible = runBatch > 0 ? runBatch : 0;
  if (wantPerLayer) {
    if (cand.fixedChunk && ref->fixedChunk &&
        *cand.fixedChunk != *ref->fixedChunk)
      return fail(llvm::formatv("--per-layer: the models take different "
                                "samples per run ({0} for {1}, {2} for {3})",
                                *cand.fixedChunk, cand.path, *ref->fixedChunk,
                                ref->path)
                      .str());
    if (cand.samples >= 0 && ref->samples >= 0 &&
        cand.samples != ref->samples)
      return fail(llvm::formatv("--per-layer: the models see different sample "
                                "counts ({0} and {1})",
                                cand.samples, ref->samples)
                      .str());
    int64_t common = cand.fixedChunk   ? *cand.fixedChunk
                     : ref->fixedChunk ? *ref->fixedChunk
                                       : flexible;
    if (llvm::Error e = setChunk(cand, common))
      return fail(toString(std::move(e)));
    if (llvm::Error e = setChunk(*ref, common))
      return fail(toString(std::move(e)));
    if (cand.runs != ref->runs)
      return fail(llvm::formatv("--per-layer: the models cannot run the same "
                                "samples together ({0} runs of {1} for {2}, "
                                "{3} runs of {4} for {5})",
                                cand.runs, cand.chunk, cand.path, ref->runs,
                                ref->chunk, ref->path)
                      .str());
  } else {
    if (llvm::Error e = setChunk(cand, cand.fixedChunk.value_or(flexible)))
      return fail(toString(std::move(e)));
    if (ref)
      if (llvm::Error e = setChunk(*ref, ref->fixedChunk.value_or(flexible)))
        return fail(toString(std::move(e)));
  }

  // Per-layer sites: names present in both models, in the candidate's order.
  // A reference layer without a counterpart whose op's only non-constant
  // float operand is the value of a matched layer (and its single use) is
  // taken as fused into that layer by the candidate (e.g. a relu folded into
  // a quantized range, a bias add into a matmul): the matched layer is
  // compared with the fused layer's output, named "fc1+relu1".
  std::vector<LayerStats> layers;
  llvm::DenseMap<Operation *, std::pair<unsigned, unsigned>> candSite, refSite;
  std::vector<Dequant> candDequant, refDequant;
  std::vector<std::string> candOnly, refOnly;
  if (wantPerLayer) {
    LayerSites cs = collectSites(cand.func), rs = collectSites(ref->func);
    llvm::DenseMap<Value, unsigned> refValueOf; // current reference value
    for (const std::string &name : cs.order) {
      auto it = rs.last.find(name);
      if (it == rs.last.end()) {
        candOnly.push_back(name);
        continue;
      }
      unsigned idx = layers.size();
      layers.push_back({name, {}, {}});
      const Site &c = cs.last.find(name)->second;
      candSite[c.op] = {idx, c.result};
      candDequant.push_back(c.dequant);
      refSite[it->second.op] = {idx, it->second.result};
      refDequant.push_back(it->second.dequant);
      refValueOf[it->second.op->getResult(it->second.result)] = idx;
    }
    for (const std::string &name : rs.order) {
      if (cs.last.count(name))
        continue;
      const Site &r = rs.last.find(name)->second;
      std::optional<unsigned> fusedInto;
      unsigned floatOperands = 0;
      for (Value v : r.op->getOperands()) {
        Operation *def = v.getDefiningOp();
        if (!floatView(v.getType()) ||
            (def && def->hasTrait<OpTrait::ConstantLike>()))
          continue; // e.g. a bias constant
        ++floatOperands;
        auto f = refValueOf.find(v);
        if (f != refValueOf.end() && v.hasOneUse())
          fusedInto = f->second;
      }
      if (!fusedInto || floatOperands != 1) {
        refOnly.push_back(name);
        continue;
      }
      LayerStats &l = layers[*fusedInto];
      for (auto &[op, where] : refSite)
        if (where.first == *fusedInto) {
          refValueOf.erase(op->getResult(where.second));
          refSite.erase(op);
          break;
        }
      refSite[r.op] = {*fusedInto, r.result};
      refDequant[*fusedInto] = r.dequant;
      refValueOf[r.op->getResult(r.result)] = *fusedInto;
      l.name += "+" + name;
    }
  }

  // Run. With --per-layer, run by run: the reference keeps its layer values
  // of the current run, the candidate's are compared as they are produced.
  std::vector<Tensor> refValues(layers.size());
  Interpreter::ValueCallback refCallback, candCallback;
  if (wantPerLayer) {
    refCallback = [&](Operation *op, unsigned i, const Tensor &v) {
      auto it = refSite.find(op);
      if (it != refSite.end() && it->second.second == i)
        refValues[it->second.first] = asFloat(v, refDequant[it->second.first]);
    };
    candCallback = [&](Operation *op, unsigned i, const Tensor &v) {
      auto it = candSite.find(op);
      if (it == candSite.end() || it->second.second != i)
        return;
      LayerStats &l = layers[it->second.first];
      const Tensor &r = refValues[it->second.first];
      if (!l.problem.empty())
        return;
      if (!r.valid() || r.shape() != v.shape()) {
        l.problem = "shape " + v.describe() + " vs reference " + r.describe();
        return;
      }
      l.error.add(asFloat(v, candDequant[it->second.first]), r);
    };
  }
  int64_t maxRuns = std::max(cand.runs, ref ? ref->runs : int64_t(0));
  for (int64_t r = 0; r < maxRuns; ++r) {
    if (ref && r < ref->runs) {
      auto out = runOnce(*ref, r, refCallback);
      if (!out)
        return fail(toString(out.takeError()));
      ref->runOutputs.push_back(std::move(*out));
    }
    if (r < cand.runs) {
      auto out = runOnce(cand, r, candCallback);
      if (!out)
        return fail(toString(out.takeError()));
      cand.runOutputs.push_back(std::move(*out));
    }
    for (Tensor &t : refValues)
      t = Tensor();
  }
  if (llvm::Error e = mergeOutputs(cand))
    return fail(toString(std::move(e)));

  // Latency: the candidate on its first batch of inputs, after 2 warm-up runs.
  std::optional<json::Object> benchJson;
  if (benchmarkRuns > 0) {
    double firstMs = cand.ms;
    cand.ms = 0;
    std::vector<double> times;
    for (int64_t i = 0; i < benchmarkRuns + 2; ++i) {
      double before = cand.ms;
      auto out = runOnce(cand, 0, Interpreter::ValueCallback());
      if (!out)
        return fail(toString(out.takeError()));
      if (i >= 2)
        times.push_back(cand.ms - before);
    }
    cand.ms = firstMs;
    std::sort(times.begin(), times.end());
    auto pctl = [&](double p) {
      double pos = p * (times.size() - 1);
      size_t lo = static_cast<size_t>(pos);
      size_t hi = std::min(lo + 1, times.size() - 1);
      return times[lo] + (times[hi] - times[lo]) * (pos - lo);
    };
    double mean = 0;
    for (double t : times)
      mean += t;
    mean /= times.size();
    int64_t samplesPerRun = cand.chunk > 0 ? cand.chunk : cand.samples;
    std::string runner = cand.lib ? "compiled library (" + cand.lib->target() +
                                        ", " +
                                        std::to_string(cand.lib->threads()) +
                                        " thread(s))"
                                  : std::string("reference executor");
    llvm::outs() << llvm::format(
        "benchmark: %s, %lld runs: median %.3f ms, p90 %.3f ms, min %.3f ms, "
        "mean %.3f ms",
        runner.c_str(), (long long)times.size(), pctl(0.5), pctl(0.9),
        times.front(), mean);
    if (samplesPerRun > 0)
      llvm::outs() << llvm::format(" (%lld sample(s) per run, %.1f "
                                   "samples/s)",
                                   (long long)samplesPerRun,
                                   samplesPerRun * 1000.0 / pctl(0.5));
    llvm::outs() << "\n";
    json::Object b;
    b["runs"] = static_cast<int64_t>(times.size());
    b["median_ms"] = pctl(0.5);
    b["p90_ms"] = pctl(0.9);
    b["min_ms"] = times.front();
    b["mean_ms"] = mean;
    b["runner"] = runner;
    b["threads"] = cand.lib ? json::Value(cand.lib->threads())
                            : json::Value(nullptr);
    b["samples_per_run"] =
        samplesPerRun > 0 ? json::Value(samplesPerRun) : json::Value(nullptr);
    benchJson = std::move(b);
  }
  if (ref)
    if (llvm::Error e = mergeOutputs(*ref))
      return fail(toString(std::move(e)));

  const auto &specs = cand.outputSpecs();
  const std::vector<Tensor> &outputs = cand.outputs;
  if (!quiet) {
    for (auto [spec, t] : llvm::zip(specs, outputs))
      printSummary(spec.name, t);
    llvm::outs() << llvm::format(
        "ran %s in %.3f ms", llvm::sys::path::filename(modelPath).str().c_str(),
        cand.ms);
    if (cand.runs > 1)
      llvm::outs() << " (" << cand.runs << " runs of " << cand.chunk
                   << " sample(s))";
    llvm::outs() << "\n";
    if (ref) {
      llvm::outs() << llvm::format(
          "ran %s in %.3f ms",
          llvm::sys::path::filename(ref->path).str().c_str(), ref->ms);
      if (ref->runs > 1)
        llvm::outs() << " (" << ref->runs << " runs of " << ref->chunk
                     << " sample(s))";
      llvm::outs() << "\n";
    }
  }

  if (!outputFile.empty()) {
    if (llvm::sys::fs::exists(outputFile) && !overwrite)
      return fail(outputFile + " exists; pass --force to overwrite it");
    std::vector<std::pair<std::string, Tensor>> named;
    for (auto [spec, t] : llvm::zip(specs, outputs))
      named.emplace_back(spec.name, t);
    if (llvm::Error e = writeNpz(outputFile, named))
      return fail(toString(std::move(e)));
    if (!quiet)
      llvm::outs() << "wrote " << named.size() << " output(s) to " << outputFile
                   << "\n";
  }

  int exitCode = 0;
  if (!compareFile.empty()) {
    auto refs = readArrays(compareFile);
    if (!refs)
      return fail(toString(refs.takeError()));
    int bad = 0, compared = 0;
    for (auto &[name, want] : *refs) {
      auto it =
          llvm::find_if(specs, [&](const IOSpec &s) { return s.name == name; });
      if (it == specs.end()) {
        llvm::outs() << "compare '" << name << "': MISMATCH (no model output of "
                     << "this name)\n";
        ++bad;
        continue;
      }
      const Tensor &got = outputs[it - specs.begin()];
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
                   << llvm::format(
                          "max_abs_err=%.3g max_rel_err=%.3g cosine=%.6f",
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
      exitCode = 1;
    } else {
      llvm::outs() << "qopt-run: " << compared << " output(s) match "
                   << compareFile
                   << llvm::format(" (rtol=%g, atol=%g)\n", (double)rtolOpt,
                                   (double)atolOpt);
    }
  }

  if (!haveReference && labelsKey.empty()) {
    if (benchJson && !jsonFile.empty()) {
      json::Object root;
      root["candidate"] = modelPath.getValue();
      root["benchmark"] = std::move(*benchJson);
      std::string text = llvm::formatv("{0:2}", json::Value(std::move(root)));
      if (llvm::Error e = writeText(jsonFile, text + "\n"))
        return fail("--json " + jsonFile + ": " + toString(std::move(e)));
    }
    return exitCode;
  }

  //===--------------------------------------------------------------------===//
  // Quality report
  //===--------------------------------------------------------------------===//

  // Reference outputs, paired with the candidate's by name, else by position.
  std::vector<std::string> refNames;
  std::vector<Tensor> refTensors;
  std::string refDesc;
  if (ref) {
    for (const IOSpec &s : ref->outputSpecs())
      refNames.push_back(s.name);
    refTensors = ref->outputs;
    refDesc = ref->path;
  } else if (!referenceOutputs.empty()) {
    auto read = readArrays(referenceOutputs);
    if (!read)
      return fail("--reference-outputs: " + toString(read.takeError()));
    for (auto &[name, t] : *read) {
      refNames.push_back(name);
      refTensors.push_back(t);
    }
    refDesc = referenceOutputs;
  }
  std::vector<int> pairedWith(specs.size(), -1);
  bool byPosition = false;
  if (haveReference) {
    bool allByName = llvm::all_of(specs, [&](const IOSpec &s) {
      return llvm::is_contained(refNames, s.name);
    });
    if (allByName) {
      for (size_t i = 0; i < specs.size(); ++i)
        pairedWith[i] = llvm::find(refNames, specs[i].name) - refNames.begin();
    } else if (refNames.size() == specs.size()) {
      byPosition = true;
      for (size_t i = 0; i < specs.size(); ++i)
        pairedWith[i] = i;
    } else {
      for (const IOSpec &s : specs)
        if (!llvm::is_contained(refNames, s.name))
          return fail(llvm::formatv("output '{0}' has no reference of that "
                                    "name in {1}, and the output counts differ "
                                    "({2} vs {3}) so they cannot be paired by "
                                    "position",
                                    s.name, refDesc, specs.size(),
                                    refNames.size())
                          .str());
    }
  }

  std::vector<quality::OutputMetrics> metrics;
  for (size_t i = 0; i < specs.size() && haveReference; ++i) {
    const Tensor &o = outputs[i], &r = refTensors[pairedWith[i]];
    if (o.shape() != r.shape())
      return fail(llvm::formatv("output '{0}' is {1} but the reference '{2}' "
                                "in {3} is {4}",
                                specs[i].name, o.describe(),
                                refNames[pairedWith[i]], refDesc, r.describe())
                      .str());
    metrics.push_back(quality::compareOutput(specs[i].name,
                                             refNames[pairedWith[i]], o, r));
  }

  // The output that is scored: --label-output, else the first.
  int scored = specs.empty() ? -1 : 0;
  if (!labelOutput.empty()) {
    auto it = llvm::find_if(
        specs, [&](const IOSpec &s) { return s.name == labelOutput; });
    if (it == specs.end())
      return fail("--label-output: the model has no output '" + labelOutput +
                  "'");
    scored = it - specs.begin();
  }

  // Accuracy against the labels.
  std::optional<quality::Accuracy> candAcc, refAcc;
  if (!labelsKey.empty()) {
    if (scored < 0)
      return fail("labels given but the model has no outputs");
    const Tensor &scores = outputs[scored];
    const Tensor &labelArray = arrays[labelsKey];
    if (scores.rank() == 0 || quality::classCount(scores) < 2)
      return fail("labels '" + labelsKey + "': output '" + specs[scored].name +
                  "' is " + scores.describe() +
                  "; accuracy needs class scores in its last dim (pick "
                  "another with --label-output)");
    int64_t rows = quality::rowCount(scores);
    if (labelArray.numElements() != rows)
      return fail(llvm::formatv("labels array '{0}' has {1} element(s) but "
                                "output '{2}' ({3}) has {4} row(s) of class "
                                "scores",
                                labelsKey, labelArray.numElements(),
                                specs[scored].name, scores.describe(), rows)
                      .str());
    auto labels = quality::readLabels(labelArray, labelsKey);
    if (!labels)
      return fail(toString(labels.takeError()));
    candAcc = quality::accuracy(scores, *labels);
    if (haveReference)
      refAcc = quality::accuracy(refTensors[pairedWith[scored]], *labels);
  }

  // The gate.
  std::optional<double> drop;
  std::string dropWhat;
  if (haveReference && scored >= 0) {
    if (candAcc) {
      drop = refAcc->pct() - candAcc->pct();
      dropWhat = "accuracy drop";
    } else if (metrics[scored].top1Agree) {
      drop = 100.0 - metrics[scored].top1AgreementPct();
      dropWhat = "top-1 disagreement";
    }
  }
  if (gate && scored < 0)
    return fail("--max-degradation: the model has no outputs");
  if (gate && !drop)
    return fail("--max-degradation: output '" + specs[scored].name +
                "' has no class dim to score (no labels, and its last dim is "
                "< 2); pick another with --label-output");
  bool gateFailed = gate && *drop > maxDegradation + 1e-9;

  // Samples: dim 0 of the input arrays.
  int64_t samples = cand.samples;
  if (samples < 0 && !cand.arrays.empty() && cand.arrays.front()->rank() >= 1)
    samples = cand.arrays.front()->dim(0);

  // Text report.
  llvm::raw_ostream &os = llvm::outs();
  if (haveReference) {
    os << "quality vs " << (ref ? "reference " : "reference outputs ")
       << refDesc;
    if (samples >= 0)
      os << " (" << samples << (samples == 1 ? " sample)" : " samples)");
    os << (byPosition ? ", outputs paired by position" : "") << ":\n";
    for (const quality::OutputMetrics &m : metrics) {
      os << "  output '" << m.name << "'";
      if (m.referenceName != m.name)
        os << " vs '" << m.referenceName << "'";
      os << llvm::format(": max_abs_err=%.4g mean_abs_err=%.4g cosine=%.6f",
                         m.error.maxAbs, m.error.meanAbs(), m.error.cosine())
         << " sqnr=" << quality::formatDb(m.error.sqnrDb()) << " dB";
      if (m.top1Agree)
        os << " top1_agreement=" << pct(m.top1AgreementPct()) << " ("
           << *m.top1Agree << "/" << m.rows << ")";
      if (m.error.nonFiniteMismatches)
        os << " non_finite_mismatches=" << m.error.nonFiniteMismatches;
      os << "\n";
    }
  }
  if (candAcc) {
    os << (haveReference ? "  " : "") << "accuracy on '" << labelsKey << "' (output '" << specs[scored].name
       << "', " << candAcc->counted << " labels): candidate "
       << pct(candAcc->pct()) << " (" << candAcc->correct << "/"
       << candAcc->counted << ")";
    if (refAcc)
      os << ", reference " << pct(refAcc->pct()) << " (" << refAcc->correct
         << "/" << refAcc->counted << "), drop "
         << llvm::formatv("{0:F2}", *drop) << " points";
    os << "\n";
  }
  if (wantPerLayer) {
    size_t width = 5;
    for (const LayerStats &l : layers)
      width = std::max(width, l.name.size());
    width = std::min<size_t>(width, 60);
    os << "per-layer SQNR vs " << ref->path << " (" << layers.size()
       << " layer(s) matched by name, in the candidate's order):\n";
    os << "  " << llvm::left_justify("layer", width)
       << "   sqnr_db     cosine  max_abs_err\n";
    for (const LayerStats &l : layers) {
      os << "  " << llvm::left_justify(l.name, width) << " ";
      if (!l.problem.empty()) {
        os << "  not compared: " << l.problem << "\n";
        continue;
      }
      os << llvm::right_justify(quality::formatDb(l.error.sqnrDb()), 9)
         << llvm::format("  %9.6f  %11.4g\n", l.error.cosine(),
                         l.error.maxAbs);
    }
    if (!candOnly.empty() || !refOnly.empty())
      os << "  (" << candOnly.size() << " name(s) only in the candidate, "
         << refOnly.size() << " only in the reference; see --json)\n";
    if (layers.empty())
      llvm::errs() << "qopt-run: warning: --per-layer: no layer names in "
                      "common; layers are paired by the names in the ops' "
                      "locations (ONNX node names), which textual MLIR keeps "
                      "only when written with --mlir-print-debuginfo (or as "
                      "bytecode, --emit-bytecode)\n";
  }
  if (gate) {
    if (gateFailed)
      os << "qopt-run: quality gate FAILED: " << dropWhat << " "
         << llvm::formatv("{0:F2}", *drop) << " points on output '"
         << specs[scored].name << "' exceeds --max-degradation="
         << llvm::formatv("{0}", (double)maxDegradation) << "\n";
    else
      os << "quality gate passed: " << dropWhat << " "
         << llvm::formatv("{0:F2}", *drop) << " points <= "
         << llvm::formatv("{0}", (double)maxDegradation) << "\n";
  }

  // JSON.
  if (!jsonFile.empty()) {
    json::Object root;
    root["candidate"] = modelPath.getValue();
    root["reference"] = ref ? json::Value(ref->path) : json::Value(nullptr);
    root["reference_outputs"] = referenceOutputs.empty()
                                    ? json::Value(nullptr)
                                    : json::Value(referenceOutputs.getValue());
    root["samples"] = samples >= 0 ? json::Value(samples) : json::Value(nullptr);
    root["outputs_paired_by"] = !haveReference ? json::Value(nullptr)
                                : byPosition   ? json::Value("position")
                                               : json::Value("name");
    json::Array outs;
    for (const quality::OutputMetrics &m : metrics) {
      json::Object o;
      o["name"] = m.name;
      o["reference_name"] = m.referenceName;
      o["shape"] = jsonShape(m.shape);
      o["max_abs_err"] = jsonNumber(m.error.maxAbs);
      o["mean_abs_err"] = jsonNumber(m.error.meanAbs());
      o["cosine"] = jsonNumber(m.error.cosine());
      o["sqnr_db"] = jsonNumber(m.error.sqnrDb());
      o["non_finite_mismatches"] = m.error.nonFiniteMismatches;
      if (m.top1Agree) {
        o["rows"] = m.rows;
        o["top1_agree"] = *m.top1Agree;
        o["top1_agreement_pct"] = m.top1AgreementPct();
      } else {
        o["rows"] = nullptr;
        o["top1_agree"] = nullptr;
        o["top1_agreement_pct"] = nullptr;
      }
      outs.push_back(std::move(o));
    }
    root["outputs"] = std::move(outs);
    if (candAcc) {
      json::Object a;
      a["labels"] = labelsKey;
      a["output"] = specs[scored].name;
      a["count"] = candAcc->counted;
      a["candidate_correct"] = candAcc->correct;
      a["candidate_pct"] = candAcc->pct();
      a["reference_correct"] =
          refAcc ? json::Value(refAcc->correct) : json::Value(nullptr);
      a["reference_pct"] =
          refAcc ? json::Value(refAcc->pct()) : json::Value(nullptr);
      a["drop_pct_points"] = refAcc ? json::Value(*drop) : json::Value(nullptr);
      root["accuracy"] = std::move(a);
    } else {
      root["accuracy"] = nullptr;
    }
    if (wantPerLayer) {
      json::Array ls;
      for (const LayerStats &l : layers) {
        json::Object o;
        o["name"] = l.name;
        if (l.problem.empty()) {
          o["sqnr_db"] = jsonNumber(l.error.sqnrDb());
          o["cosine"] = jsonNumber(l.error.cosine());
          o["max_abs_err"] = jsonNumber(l.error.maxAbs);
          o["mean_abs_err"] = jsonNumber(l.error.meanAbs());
          o["elements"] = l.error.count;
          o["problem"] = nullptr;
        } else {
          o["sqnr_db"] = nullptr;
          o["cosine"] = nullptr;
          o["max_abs_err"] = nullptr;
          o["mean_abs_err"] = nullptr;
          o["elements"] = 0;
          o["problem"] = l.problem;
        }
        ls.push_back(std::move(o));
      }
      root["per_layer"] = std::move(ls);
      json::Array co, ro;
      for (auto &n : candOnly)
        co.push_back(n);
      for (auto &n : refOnly)
        ro.push_back(n);
      root["per_layer_unmatched"] =
          json::Object{{"candidate_only", std::move(co)},
                       {"reference_only", std::move(ro)}};
    } else {
      root["per_layer"] = nullptr;
      root["per_layer_unmatched"] = nullptr;
    }
    if (gate) {
      root["gate"] = json::Object{
          {"max_degradation_pct", (double)maxDegradation},
          {"metric", candAcc ? "accuracy_drop" : "top1_disagreement"},
          {"output", specs[scored].name},
          {"drop_pct_points", *drop},
          {"passed", !gateFailed}};
    } else {
      root["gate"] = nullptr;
    }
    root["benchmark"] =
        benchJson ? json::Value(std::move(*benchJson)) : json::Value(nullptr);
    root["exit_code"] = gateFailed ? kGateFailed : exitCode;
    std::string text = llvm::formatv("{0:2}", json::Value(std::move(root)));
    if (llvm::sys::fs::exists(jsonFile) && !overwrite)
      return fail(jsonFile + " exists; pass --force to overwrite it");
    if (llvm::Error e = writeText(jsonFile, text + "\n"))
      return fail("--json " + jsonFile + ": " + toString(std::move(e)));
    if (!quiet)
      os << "wrote the quality report to " << jsonFile << "\n";
  }

  // Chart.
  if (!chartFile.empty()) {
    std::vector<quality::LayerPoint> points;
    for (const LayerStats &l : layers)
      points.push_back(
          {l.name, l.problem.empty() ? l.error.sqnrDb() : double(NAN)});
    std::string title = "Per-layer SQNR: " +
                        llvm::sys::path::filename(modelPath).str() + " vs " +
                        llvm::sys::path::filename(ref->path).str();
    llvm::StringRef ext = llvm::sys::path::extension(chartFile);
    std::string doc = ext.equals_insensitive(".svg")
                          ? quality::renderSqnrSvg(points, title)
                          : quality::renderSqnrHtml(points, title);
    if (llvm::sys::fs::exists(chartFile) && !overwrite)
      return fail(chartFile + " exists; pass --force to overwrite it");
    if (llvm::Error e = writeText(chartFile, doc))
      return fail("--chart " + chartFile + ": " + toString(std::move(e)));
    if (!quiet)
      os << "wrote the per-layer chart to " << chartFile << "\n";
  }

  if (gateFailed)
    return kGateFailed;
  return exitCode;
}
