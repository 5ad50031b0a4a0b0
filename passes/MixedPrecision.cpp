//===- MixedPrecision.cpp - per-op weight precision under a size budget ---===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Chooses float, int8 (per output channel) or int4 (groups) weights per op.
//
// 1. Sites: every op with a constant weight (weightSiteOf: matmul, gemm,
//    conv2d) and every qopt.gather whose table is a float constant. Tables
//    and the last projection before an output (a weight op whose result
//    reaches a function result through non-weight ops only) may not go below
//    8 bits.
// 2. Sensitivity: the float model runs once on the samples (the reference);
//    then, per site and candidate, only that op's weight is replaced by its
//    quantize-dequantize round trip (Interpreter::replaceConstant) and the
//    model runs again. The SQNR of all outputs (all samples, all results
//    together) against the reference is the candidate's sensitivity.
// 3. Decision: a greedy multiple-choice knapsack. Every site starts at its
//    cheapest allowed precision; then the upgrade (any site, any more
//    expensive candidate) with the largest predicted noise reduction per
//    extra bit that still fits the budget is applied, until none fits. The
//    predicted output noise of a choice is 10^(-SQNR/10) relative to the
//    output power, and the noises of the sites are summed.
//
//===----------------------------------------------------------------------===//

#include "CalibrationData.h"

#include "qopt/dialects/qopt/QOptOps.h"
#include "qopt/executor/Interpreter.h"
#include "qopt/passes/Passes.h"
#include "qopt/passes/QuantUtils.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <limits>

namespace qopt {
#define GEN_PASS_DEF_QOPTMIXEDPRECISIONPASS
#include "qopt/passes/Passes.h.inc"
} // namespace qopt

using namespace mlir;
using namespace qopt;

namespace {

/// Most samples run at once when the arguments' dim 0 is dynamic.
constexpr int64_t kMaxBatch = 16;
/// Measurement runs from which progress lines are printed.
constexpr int64_t kProgressRuns = 8;
/// Bits of one stored scale (f32).
constexpr int64_t kScaleBits = 32;
/// Relative noise standing in for "the output is destroyed" (NaN/Inf or a
/// zero reference with a nonzero error).
constexpr double kHugeNoise = 1e30;

enum class Precision { Float, Int8, Int4 };

const char *precisionName(Precision p) {
  switch (p) {
  case Precision::Float:
    return "float";
  case Precision::Int8:
    return "int8";
  case Precision::Int4:
    return "int4";
  }
  return "?";
}

/// One precision a site may take.
struct Candidate {
  Precision precision;
  int64_t bits = 0;  ///< storage of the whole weight, scales included
  double sqnr = std::numeric_limits<double>::infinity(); ///< dB
  double noise = 0;  ///< predicted output noise power / output power
};

/// A weight whose precision is chosen.
struct Site {
  Operation *op;
  WeightSite ws;
  std::string name;
  std::vector<int64_t> shape;
  int64_t elements = 0;
  bool embedding = false;
  bool last = false;
  /// Ordered by bits: int4 (when allowed), int8, float.
  SmallVector<Candidate, 3> candidates;
  /// SQNR of int4 measured for information although not allowed (last
  /// projections), NaN when not measured.
  double infoInt4 = std::numeric_limits<double>::quiet_NaN();
  unsigned choice = 0;
  /// "int4 -> int8 (step 1)" for every upgrade applied.
  SmallVector<std::string> steps;
  /// qopt.precision_reason.
  std::string reason;

  Operation *constant() const {
    return op->getOperand(ws.operand).getDefiningOp();
  }
  const Candidate *find(Precision p) const {
    for (const Candidate &c : candidates)
      if (c.precision == p)
        return &c;
    return nullptr;
  }
};

std::string formatDb(double db) {
  if (std::isinf(db))
    return db > 0 ? "inf" : "-inf";
  return llvm::formatv("{0:f1}", db).str();
}

std::string formatBytes(int64_t bits) {
  return std::to_string((bits + 7) / 8);
}

std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s;
  for (auto [i, d] : llvm::enumerate(shape))
    s += (i ? "x" : "") + std::to_string(d);
  return s;
}

/// The calibration samples, split in batches along dim 0.
struct Samples {
  std::vector<std::vector<Tensor>> batches;
  int64_t count = 0;
};

struct MixedPrecisionPass
    : public qopt::impl::QOptMixedPrecisionPassBase<MixedPrecisionPass> {
  using QOptMixedPrecisionPassBase::QOptMixedPrecisionPassBase;

  void runOnOperation() override;

private:
  LogicalResult validateOptions(ModuleOp module);
  FailureOr<Samples> loadSamples(ModuleOp module, const Interpreter &interp);
  void collectSites(func::FuncOp fn, std::vector<Site> &sites);
  LogicalResult measure(ModuleOp module, Interpreter &interp,
                        const Samples &samples, std::vector<Site> &sites);
  LogicalResult decide(ModuleOp module, std::vector<Site> &sites,
                       int64_t budget);
  void annotate(std::vector<Site> &sites);
  void emitTable(const std::vector<Site> &sites, const Samples &samples,
                  int64_t budget);

  void fail(ModuleOp module, const Twine &msg) {
    module.emitError() << "qopt-mixed-precision: " << msg;
  }
  /// Total weight elements of all sites.
  int64_t totalElements = 0;
  /// Bits when every weight stays float.
  int64_t floatBits = 0;
};

LogicalResult MixedPrecisionPass::validateOptions(ModuleOp module) {
  auto bad = [&](const Twine &msg) {
    fail(module, msg);
    return failure();
  };
  if (calibrationData.empty())
    return bad("calibration-data is required (an .npz of sample inputs keyed "
               "by argument name)");
  if (budgetBytes < 0)
    return bad("budget-bytes must be positive (or 0 to use budget-bits), got " +
               Twine(budgetBytes.getValue()));
  if (budgetBytes == 0 && !(budgetBits > 0.0 && std::isfinite(budgetBits)))
    return bad("budget-bits must be positive, got " +
               llvm::formatv("{0}", budgetBits.getValue()).str());
  if (groupSize < 1)
    return bad("group-size must be at least 1, got " +
               Twine(groupSize.getValue()));
  if (maxSamples < 0)
    return bad("max-samples must be 0 (all) or positive, got " +
               Twine(maxSamples.getValue()));
  return success();
}

FailureOr<Samples> MixedPrecisionPass::loadSamples(ModuleOp module,
                                                   const Interpreter &interp) {
  int64_t natural = CalibrationData::naturalBatchSize(interp.inputs());
  auto data = CalibrationData::load(calibrationData, interp.inputs(), natural);
  if (!data) {
    fail(module, toString(data.takeError()));
    return failure();
  }
  int64_t numSamples = data->numSamples();
  if (maxSamples > 0 && numSamples > maxSamples)
    numSamples = maxSamples;
  // A static dim 0 takes whole batches of its size; otherwise run up to
  // kMaxBatch samples at a time.
  int64_t batch =
      data->staticBatch() ? natural : std::min(numSamples, kMaxBatch);
  if (data->staticBatch()) {
    int64_t kept = numSamples - numSamples % batch;
    if (kept == 0) {
      fail(module, llvm::formatv("{0}: {1} sample(s) do not fill one batch "
                                 "of {2} (the arguments have a static dim 0)",
                                 calibrationData, numSamples, batch)
                       .str());
      return failure();
    }
    if (kept != numSamples)
      module.emitWarning() << "qopt-mixed-precision: the arguments have a "
                              "static dim 0, so the last "
                           << numSamples - kept
                           << " sample(s) (a partial batch) are skipped";
    numSamples = kept;
  }
  Samples samples;
  samples.count = numSamples;
  for (int64_t start = 0; start < numSamples; start += batch)
    samples.batches.push_back(
        data->batch(start, std::min(batch, numSamples - start)));
  return samples;
}

/// Bits of a weight of `shape` quantized with `bits` per element and one f32
/// scale per (output channel, group of `group` along `inAxis`); group 0 means
/// per output channel along `outAxis`.
int64_t quantizedBits(ArrayRef<int64_t> shape, int64_t elements, int64_t bits,
                      const WeightSite &ws, int64_t group) {
  int64_t scales;
  if (group == 0) {
    scales = shape.empty() ? 1 : shape[ws.outAxis];
  } else {
    int64_t k = shape[ws.inAxis];
    scales = k == 0 ? 0 : elements / k * ((k + group - 1) / group);
  }
  return elements * bits + scales * kScaleBits;
}

void MixedPrecisionPass::collectSites(func::FuncOp fn,
                                      std::vector<Site> &sites) {
  for (Operation &op : fn.getBody().front()) {
    Site s;
    s.op = &op;
    if (std::optional<WeightSite> ws = weightSiteOf(&op)) {
      s.ws = *ws;
    } else if (std::optional<WeightSite> es = embeddingSiteOf(&op)) {
      s.ws = *es;
      s.embedding = true;
    } else {
      continue;
    }
    auto type = cast<RankedTensorType>(op.getOperand(s.ws.operand).getType());
    s.name = opDisplayName(&op);
    s.shape.assign(type.getShape().begin(), type.getShape().end());
    s.elements = type.getNumElements();
    sites.push_back(std::move(s));
  }

  // The last projections: weight ops reached backwards from the results
  // through non-weight ops only.
  llvm::DenseMap<Operation *, size_t> siteIndex;
  for (auto [i, s] : llvm::enumerate(sites))
    siteIndex[s.op] = i;
  llvm::DenseSet<Operation *> visited;
  SmallVector<Operation *> stack;
  auto push = [&](Value v) {
    if (Operation *def = v.getDefiningOp())
      if (visited.insert(def).second)
        stack.push_back(def);
  };
  for (Value v : fn.getBody().front().getTerminator()->getOperands())
    push(v);
  while (!stack.empty()) {
    Operation *op = stack.pop_back_val();
    auto it = siteIndex.find(op);
    if (it != siteIndex.end()) {
      if (!sites[it->second].embedding)
        sites[it->second].last = protectLast;
      continue;
    }
    for (Value v : op->getOperands())
      push(v);
  }

  // Candidates and their sizes.
  for (Site &s : sites) {
    auto type = cast<RankedTensorType>(s.op->getOperand(s.ws.operand).getType());
    int64_t floatBitsPer = type.getElementTypeBitWidth();
    if (!s.embedding && !s.last) {
      int64_t k = s.shape[s.ws.inAxis];
      int64_t group = std::max<int64_t>(1, std::min<int64_t>(groupSize, k));
      s.candidates.push_back(
          {Precision::Int4,
           quantizedBits(s.shape, s.elements, 4, s.ws, group)});
    }
    s.candidates.push_back(
        {Precision::Int8, quantizedBits(s.shape, s.elements, 8, s.ws, 0)});
    s.candidates.push_back({Precision::Float, s.elements * floatBitsPer});
    totalElements += s.elements;
    floatBits += s.elements * floatBitsPer;
  }
}

/// Scheme of a quantized candidate for `s`.
WeightScheme schemeFor(const Site &s, Precision p, int64_t groupSize) {
  WeightScheme scheme;
  scheme.symmetric = true;
  if (p == Precision::Int8) {
    scheme.bits = 8;
    scheme.groupSize = 0;
  } else {
    scheme.bits = 4;
    int64_t k = s.shape[s.ws.inAxis];
    scheme.groupSize = std::max<int64_t>(1, std::min<int64_t>(groupSize, k));
  }
  return scheme;
}

LogicalResult MixedPrecisionPass::measure(ModuleOp module, Interpreter &interp,
                                          const Samples &samples,
                                          std::vector<Site> &sites) {
  // The reference.
  std::vector<std::vector<Tensor>> reference;
  double signal = 0;
  for (auto [b, inputs] : llvm::enumerate(samples.batches)) {
    auto out = interp.run(inputs);
    if (!out) {
      fail(module, llvm::formatv("running the float model on {0}: {1}",
                                 calibrationData, toString(out.takeError()))
                       .str());
      return failure();
    }
    for (const Tensor &t : *out)
      for (int64_t i = 0, n = t.numElements(); i < n; ++i) {
        double x = t.getAsDouble(i);
        signal += x * x;
      }
    reference.push_back(std::move(*out));
  }
  if (!std::isfinite(signal)) {
    fail(module, "the float model's outputs on " + calibrationData +
                     " are not finite; cannot measure sensitivity");
    return failure();
  }

  // SQNR (dB) and relative noise of the model with the current constants.
  auto evaluate = [&](Site &s, Precision p, double &sqnr,
                      double &noise) -> LogicalResult {
    double err = 0;
    for (auto [b, inputs] : llvm::enumerate(samples.batches)) {
      auto out = interp.run(inputs);
      if (!out) {
        s.op->emitError() << "qopt-mixed-precision: running the model with '"
                          << s.name << "' at " << precisionName(p) << ": "
                          << toString(out.takeError());
        return failure();
      }
      for (auto [t, ref] : llvm::zip(*out, reference[b])) {
        if (t.dtype() == DType::F32 && ref.dtype() == DType::F32) {
          const float *x = ref.data<float>(), *y = t.data<float>();
          for (int64_t i = 0, n = t.numElements(); i < n; ++i) {
            double d = static_cast<double>(x[i]) - static_cast<double>(y[i]);
            err += d * d;
          }
        } else {
          for (int64_t i = 0, n = t.numElements(); i < n; ++i) {
            double d = ref.getAsDouble(i) - t.getAsDouble(i);
            err += d * d;
          }
        }
      }
    }
    if (std::isnan(err) || std::isinf(err)) {
      sqnr = -std::numeric_limits<double>::infinity();
      noise = kHugeNoise;
    } else if (err == 0) {
      sqnr = std::numeric_limits<double>::infinity();
      noise = 0;
    } else if (signal == 0) {
      sqnr = -std::numeric_limits<double>::infinity();
      noise = kHugeNoise;
    } else {
      noise = err / signal;
      sqnr = -10.0 * std::log10(noise);
    }
    return success();
  };

  // What runs: every quantized candidate, plus int4 of a protected last
  // projection, for the table.
  int64_t totalRuns = 0;
  for (const Site &s : sites)
    totalRuns += static_cast<int64_t>(s.candidates.size()) - 1 +
                 (s.last ? 1 : 0);
  bool progress = totalRuns >= kProgressRuns;
  int64_t runs = 0, lastDecile = 0;

  for (Site &s : sites) {
    Operation *constant = s.constant();
    auto weight = constantValue(s.op->getOperand(s.ws.operand));
    if (!weight) {
      s.op->emitError() << "qopt-mixed-precision: " << toString(weight.takeError());
      return failure();
    }
    SmallVector<Precision, 3> toMeasure;
    if (s.last)
      toMeasure.push_back(Precision::Int4);
    for (const Candidate &c : s.candidates)
      if (c.precision != Precision::Float)
        toMeasure.push_back(c.precision);
    for (Precision p : toMeasure) {
      auto q = quantizeWeight(*weight, s.ws, schemeFor(s, p, groupSize));
      if (!q) {
        s.op->emitError() << "qopt-mixed-precision: quantizing the weight of '"
                          << s.name << "' to " << precisionName(p) << ": "
                          << toString(q.takeError());
        return failure();
      }
      auto dq = dequantizeWeight(*q);
      if (!dq) {
        s.op->emitError() << "qopt-mixed-precision: dequantizing the weight "
                             "of '"
                          << s.name << "': " << toString(dq.takeError());
        return failure();
      }
      // The executor holds the constant in its own dtype (f16, bf16, ...).
      auto type = cast<RankedTensorType>(constant->getResult(0).getType());
      std::optional<DType> dtype = runtimeDType(type.getElementType());
      Tensor value = std::move(*dq);
      if (dtype && *dtype != value.dtype()) {
        Tensor converted(*dtype, value.shape());
        for (int64_t i = 0, n = value.numElements(); i < n; ++i)
          converted.setFromDouble(i, value.getAsDouble(i));
        value = std::move(converted);
      }
      auto original = interp.replaceConstant(constant, std::move(value));
      if (!original) {
        s.op->emitError() << "qopt-mixed-precision: "
                          << toString(original.takeError());
        return failure();
      }
      double sqnr = 0, noise = 0;
      LogicalResult ok = evaluate(s, p, sqnr, noise);
      // Put the float weight back whatever happened.
      auto restored = interp.replaceConstant(constant, std::move(*original));
      if (!restored) {
        s.op->emitError() << "qopt-mixed-precision: "
                          << toString(restored.takeError());
        return failure();
      }
      if (failed(ok))
        return failure();
      bool allowed = false;
      for (Candidate &c : s.candidates)
        if (c.precision == p) {
          c.sqnr = sqnr;
          c.noise = noise;
          allowed = true;
        }
      if (!allowed)
        s.infoInt4 = sqnr;
      ++runs;
      if (progress) {
        int64_t decile = runs * 10 / totalRuns;
        if (decile > lastDecile) {
          lastDecile = decile;
          llvm::errs() << "mixed-precision: run " << runs << "/" << totalRuns
                       << " (" << s.name << " " << precisionName(p) << ": "
                       << formatDb(sqnr) << " dB)\n";
        }
      }
    }
  }
  return success();
}

LogicalResult MixedPrecisionPass::decide(ModuleOp module,
                                         std::vector<Site> &sites,
                                         int64_t budget) {
  int64_t used = 0;
  for (Site &s : sites) {
    s.choice = 0;
    used += s.candidates[0].bits;
  }
  if (used > budget) {
    double avg = static_cast<double>(used) / static_cast<double>(totalElements);
    std::string smallest =
        std::string("int4 where allowed, int8 for embedding tables") +
        (protectLast ? " and last projections" : "") + ", scales included";
    if (budgetBytes > 0)
      fail(module, llvm::formatv("budget-bytes={0} cannot be met: the "
                                 "smallest choice ({1}) takes {2} bytes "
                                 "({3:f2} bits per weight)",
                                 budgetBytes.getValue(), smallest,
                                 formatBytes(used), avg)
                       .str());
    else
      fail(module, llvm::formatv("budget-bits={0} cannot be met: the minimum "
                                 "is {1:f2} bits per weight ({2})",
                                 budgetBits.getValue(), avg, smallest)
                       .str());
    return failure();
  }
  for (int step = 1;; ++step) {
    double bestRatio = 0;
    int bestSite = -1;
    unsigned bestTo = 0;
    for (auto [i, s] : llvm::enumerate(sites)) {
      const Candidate &cur = s.candidates[s.choice];
      for (unsigned j = s.choice + 1; j < s.candidates.size(); ++j) {
        const Candidate &c = s.candidates[j];
        int64_t extra = c.bits - cur.bits;
        double gain = cur.noise - c.noise;
        if (gain <= 0 || used + extra > budget)
          continue;
        double ratio = extra > 0 ? gain / static_cast<double>(extra)
                                 : std::numeric_limits<double>::infinity();
        if (bestSite < 0 || ratio > bestRatio) {
          bestRatio = ratio;
          bestSite = static_cast<int>(i);
          bestTo = j;
        }
      }
    }
    if (bestSite < 0)
      break;
    Site &s = sites[bestSite];
    used += s.candidates[bestTo].bits - s.candidates[s.choice].bits;
    s.steps.push_back(llvm::formatv("{0} -> {1} (step {2})",
                                    precisionName(s.candidates[s.choice].precision),
                                    precisionName(s.candidates[bestTo].precision),
                                    step)
                          .str());
    s.choice = bestTo;
  }
  // Why nothing more was upgraded, for the reasons.
  for (Site &s : sites) {
    const Candidate &cur = s.candidates[s.choice];
    std::string note;
    for (unsigned j = s.choice + 1; j < s.candidates.size(); ++j) {
      const Candidate &c = s.candidates[j];
      if (c.noise < cur.noise) {
        note = llvm::formatv("{0} (+{1} bytes) does not fit the remaining "
                             "budget ({2} bytes)",
                             precisionName(c.precision),
                             formatBytes(c.bits - cur.bits),
                             (budget - used) / 8)
                   .str();
        break;
      }
    }
    if (note.empty() && s.choice + 1 < s.candidates.size())
      note = "a higher precision would not reduce the output noise";
    std::string reason;
    if (s.embedding)
      reason = "embedding table (int4 not allowed); ";
    else if (s.last)
      reason = "last projection before an output (int4 not allowed); ";
    reason += "sqnr";
    if (const Candidate *c = s.find(Precision::Int8))
      reason += " int8 " + formatDb(c->sqnr) + " dB";
    if (const Candidate *c = s.find(Precision::Int4))
      reason += ", int4 " + formatDb(c->sqnr) + " dB";
    else if (!std::isnan(s.infoInt4))
      reason += ", int4 " + formatDb(s.infoInt4) + " dB";
    reason += "; ";
    if (!s.steps.empty()) {
      reason += "upgraded " + llvm::join(s.steps, ", ") +
                ": best noise reduction per byte";
      if (!note.empty())
        reason += "; " + note;
    } else {
      reason += std::string(precisionName(cur.precision)) +
                (s.choice + 1 < s.candidates.size() ? ": cheapest allowed"
                                                    : ": only choice");
      if (!note.empty())
        reason += "; " + note;
    }
    s.reason = std::move(reason);
  }
  return success();
}

void MixedPrecisionPass::annotate(std::vector<Site> &sites) {
  Builder b(&getContext());
  for (Site &s : sites) {
    const Candidate &c = s.candidates[s.choice];
    s.op->setAttr("qopt.precision", b.getStringAttr(precisionName(c.precision)));
    s.op->setAttr("qopt.precision_reason", b.getStringAttr(s.reason));
    SmallVector<NamedAttribute> entries;
    if (const Candidate *q = s.find(Precision::Int8))
      entries.push_back(b.getNamedAttr("int8", b.getF64FloatAttr(q->sqnr)));
    if (const Candidate *q = s.find(Precision::Int4))
      entries.push_back(b.getNamedAttr("int4", b.getF64FloatAttr(q->sqnr)));
    else if (!std::isnan(s.infoInt4))
      entries.push_back(b.getNamedAttr("int4", b.getF64FloatAttr(s.infoInt4)));
    s.op->setAttr("qopt.sensitivity", b.getDictionaryAttr(entries));
  }
}

void MixedPrecisionPass::emitTable(const std::vector<Site> &sites,
                                    const Samples &samples, int64_t budget) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"op", "type", "weight", "elements", "sqnr int8", "sqnr int4",
                  "decision", "bits"});
  int64_t used = 0;
  for (const Site &s : sites) {
    const Candidate &c = s.candidates[s.choice];
    used += c.bits;
    std::string int4 = "-";
    if (const Candidate *q = s.find(Precision::Int4))
      int4 = formatDb(q->sqnr) + " dB";
    else if (!std::isnan(s.infoInt4))
      int4 = "(" + formatDb(s.infoInt4) + " dB)";
    const Candidate *q8 = s.find(Precision::Int8);
    rows.push_back(
        {s.name, s.op->getName().getStringRef().str(), shapeString(s.shape),
         std::to_string(s.elements), q8 ? formatDb(q8->sqnr) + " dB" : "-",
         int4, precisionName(c.precision),
         llvm::formatv("{0:f2}", static_cast<double>(c.bits) /
                                     static_cast<double>(s.elements))
             .str()});
  }
  std::vector<size_t> width(rows.front().size(), 0);
  for (const auto &row : rows)
    for (auto [i, cell] : llvm::enumerate(row))
      width[i] = std::max(width[i], cell.size());
  llvm::raw_ostream &os = llvm::outs();
  os << "qopt-mixed-precision: " << sites.size() << " weight(s), "
     << samples.count << " sample(s)\n";
  for (const auto &row : rows) {
    for (auto [i, cell] : llvm::enumerate(row)) {
      bool numeric = i == 3 || i == 7;
      size_t pad = width[i] - cell.size();
      if (numeric)
        os.indent(pad);
      os << cell;
      if (i + 1 < row.size())
        os.indent((numeric ? 0 : pad) + 2);
    }
    os << "\n";
  }
  if (llvm::any_of(sites, [](const Site &s) { return !std::isnan(s.infoInt4); }))
    os << "(sqnr): measured, not allowed (last projection before an "
          "output)\n";
  double avg = static_cast<double>(used) / static_cast<double>(totalElements);
  os << llvm::formatv("total: {0:f2} bits per weight, {1} bytes ({2:f1}% of "
                      "{3} float bytes); budget ",
                      avg, formatBytes(used),
                      100.0 * static_cast<double>(used) /
                          static_cast<double>(floatBits),
                      formatBytes(floatBits));
  if (budgetBytes > 0)
    os << budgetBytes.getValue() << " bytes\n";
  else
    os << llvm::formatv("{0:f2} bits per weight ({1} bytes)\n",
                        budgetBits.getValue(), formatBytes(budget));
  os.flush();
}

void MixedPrecisionPass::runOnOperation() {
  ModuleOp module = getOperation();
  if (failed(validateOptions(module)))
    return signalPassFailure();

  // The executed function: "main", else the only one (as the executor).
  func::FuncOp fn = module.lookupSymbol<func::FuncOp>("main");
  if (!fn) {
    SmallVector<func::FuncOp> fns(module.getOps<func::FuncOp>());
    if (fns.size() != 1) {
      fail(module, "the module has no 'main' function and not exactly one "
                   "function");
      return signalPassFailure();
    }
    fn = fns.front();
  }
  if (fn.isExternal() || !fn.getBody().hasOneBlock()) {
    fail(module, "function '" + fn.getSymName() +
                     "' must have a body of one block");
    return signalPassFailure();
  }

  std::vector<Site> sites;
  collectSites(fn, sites);
  if (sites.empty()) {
    module.emitWarning() << "qopt-mixed-precision: no op with a constant "
                            "weight in '"
                         << fn.getSymName() << "'; nothing to decide";
    return;
  }

  // A constant shared by several ops (tied embeddings) is measured per op:
  // each further use gets its own copy for the duration of the pass.
  SmallVector<std::pair<OpOperand *, Operation *>> clones;
  llvm::scope_exit restoreClones([&] {
    for (auto [use, original] : clones) {
      Operation *clone = use->get().getDefiningOp();
      use->set(original->getResult(0));
      clone->erase();
    }
  });
  for (Site &s : sites) {
    Operation *original = s.constant();
    if (original->getResult(0).hasOneUse())
      continue;
    OpBuilder b(original);
    b.setInsertionPointAfter(original);
    Operation *clone = b.clone(*original);
    OpOperand &use = s.op->getOpOperand(s.ws.operand);
    use.set(clone->getResult(0));
    clones.push_back({&use, original});
  }

  int64_t budget = budgetBytes > 0
                       ? budgetBytes * 8
                       : static_cast<int64_t>(std::floor(
                             budgetBits * static_cast<double>(totalElements)));

  auto interp = Interpreter::create(module, fn.getSymName());
  if (!interp) {
    fail(module, toString(interp.takeError()));
    return signalPassFailure();
  }
  FailureOr<Samples> samples = loadSamples(module, **interp);
  if (failed(samples))
    return signalPassFailure();
  if (failed(measure(module, **interp, *samples, sites)))
    return signalPassFailure();
  if (failed(decide(module, sites, budget)))
    return signalPassFailure();
  annotate(sites);
  if (printTable)
    emitTable(sites, *samples, budget);
}

} // namespace
