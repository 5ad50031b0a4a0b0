//===- Calibrate.cpp - activation range calibration from sample data ------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Runs the module with the reference executor on calibration samples and
// stores, on every qopt.observe, the range quantization will use.
//
// Statistics are streamed: pass 1 over the data keeps running minima and
// maxima (per channel for per_channel probes); the histogram methods run a
// second pass that fills a fixed-range histogram of |x| over [0, abs_max]
// from pass 1. Nothing else of the activations is kept.
//
//===----------------------------------------------------------------------===//

#include "qopt/dialects/qopt/QOptOps.h"
#include "qopt/executor/Interpreter.h"
#include "qopt/passes/Passes.h"
#include "qopt/support/NpyIO.h"

#include "CalibrationData.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <limits>

namespace qopt {
#define GEN_PASS_DEF_QOPTCALIBRATEPASS
#include "qopt/passes/Passes.h.inc"
} // namespace qopt

using namespace mlir;
using namespace qopt;

namespace {

/// Levels of the quantized histogram in the entropy method, and the first
/// candidate threshold bin of the entropy and mse methods.
constexpr int64_t kQuantBins = 128;

/// Streaming statistics of one probe.
struct ProbeStats {
  ObserveOp op;
  std::string name;
  bool perChannel = false;
  int64_t axis = 0;
  bool seen = false;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  std::vector<double> chMin, chMax;
  /// Histogram of |x| over [0, absMax] (pass 2).
  double absMax = 0;
  std::vector<int64_t> hist;
};

/// Calls f(flatIndex, value) for every element of a float tensor.
template <typename F> void forEachValue(const Tensor &t, F &&f) {
  int64_t n = t.numElements();
  if (t.dtype() == DType::F32) {
    const float *p = t.data<float>();
    for (int64_t i = 0; i < n; ++i)
      f(i, static_cast<double>(p[i]));
    return;
  }
  for (int64_t i = 0; i < n; ++i)
    f(i, t.getAsDouble(i));
}

/// The percentile-th percentile of the |x| histogram (linear within a bin).
double percentileThreshold(ArrayRef<int64_t> hist, double width, double pct) {
  int64_t total = 0;
  for (int64_t h : hist)
    total += h;
  double target = pct / 100.0 * static_cast<double>(total);
  double cum = 0;
  for (size_t i = 0; i < hist.size(); ++i) {
    double h = static_cast<double>(hist[i]);
    if (hist[i] != 0 && cum + h >= target) {
      double frac = std::min(1.0, std::max(0.0, (target - cum) / h));
      return (static_cast<double>(i) + frac) * width;
    }
    cum += h;
  }
  return static_cast<double>(hist.size()) * width;
}

/// TensorRT-style entropy calibration: the bin edge i (kQuantBins..bins)
/// whose kQuantBins-level quantization of hist[0, i) is closest (KL
/// divergence) to hist[0, i) with the outliers folded into its last bin.
double entropyThreshold(ArrayRef<int64_t> hist, double width) {
  int64_t bins = static_cast<int64_t>(hist.size());
  std::vector<double> suffix(bins + 1, 0.0);
  for (int64_t j = bins - 1; j >= 0; --j)
    suffix[j] = suffix[j + 1] + static_cast<double>(hist[j]);
  double bestDiv = std::numeric_limits<double>::infinity();
  int64_t best = bins;
  std::vector<double> p(bins), q(bins);
  for (int64_t i = kQuantBins; i <= bins; ++i) {
    for (int64_t j = 0; j < i; ++j)
      p[j] = static_cast<double>(hist[j]);
    p[i - 1] += suffix[i];
    int64_t merged = i / kQuantBins;
    for (int64_t k = 0; k < kQuantBins; ++k) {
      int64_t start = k * merged;
      int64_t stop = k == kQuantBins - 1 ? i : start + merged;
      double sum = 0;
      int64_t nonzero = 0;
      for (int64_t j = start; j < stop; ++j) {
        sum += static_cast<double>(hist[j]);
        nonzero += p[j] != 0;
      }
      for (int64_t j = start; j < stop; ++j)
        q[j] = (p[j] != 0 && nonzero) ? sum / static_cast<double>(nonzero) : 0;
    }
    double pSum = 0, qSum = 0;
    for (int64_t j = 0; j < i; ++j) {
      pSum += p[j];
      qSum += q[j];
    }
    if (pSum == 0 || qSum == 0)
      continue;
    double div = 0;
    for (int64_t j = 0; j < i; ++j) {
      if (p[j] == 0)
        continue;
      double pj = p[j] / pSum;
      double qj = std::max(q[j] / qSum, 1e-12);
      div += pj * std::log(pj / qj);
    }
    if (div < bestDiv) {
      bestDiv = div;
      best = i;
    }
  }
  return static_cast<double>(best) * width;
}

/// The threshold T (a bin edge from kQuantBins to bins) minimizing the
/// squared error of symmetric int8 quantization (scale T / 127) of the bin
/// centers weighted by their counts.
double mseThreshold(ArrayRef<int64_t> hist, double width) {
  int64_t bins = static_cast<int64_t>(hist.size());
  double bestErr = std::numeric_limits<double>::infinity();
  int64_t best = bins;
  for (int64_t i = std::min(kQuantBins, bins); i <= bins; ++i) {
    double t = static_cast<double>(i) * width;
    double scale = t / 127.0;
    double err = 0;
    for (int64_t j = 0; j < bins; ++j) {
      if (hist[j] == 0)
        continue;
      double c = (static_cast<double>(j) + 0.5) * width;
      double level = std::min(127.0, std::nearbyint(c / scale));
      double d = c - level * scale;
      err += static_cast<double>(hist[j]) * d * d;
    }
    if (err < bestErr) {
      bestErr = err;
      best = i;
    }
  }
  return static_cast<double>(best) * width;
}

struct CalibratePass : public qopt::impl::QOptCalibratePassBase<CalibratePass> {
  using QOptCalibratePassBase::QOptCalibratePassBase;

  void runOnOperation() override;

private:
  LogicalResult validateOptions(ModuleOp module);
};

LogicalResult CalibratePass::validateOptions(ModuleOp module) {
  auto fail = [&](const Twine &msg) {
    module.emitError() << "qopt-calibrate: " << msg;
    return failure();
  };
  if (calibrationData.empty())
    return fail("calibration-data is required (an .npz of sample inputs)");
  if (method != "minmax" && method != "percentile" && method != "entropy" &&
      method != "mse")
    return fail("method must be minmax, percentile, entropy or mse, got '" +
                method + "'");
  if (!(percentile > 0.0 && percentile <= 100.0))
    return fail("percentile must be in (0, 100], got " +
                llvm::formatv("{0}", percentile.getValue()).str());
  if (numBins < kQuantBins)
    return fail("num-bins must be at least " + Twine(kQuantBins) + ", got " +
                Twine(numBins.getValue()));
  if (batchSize < 0)
    return fail("batch-size must be 0 (auto) or positive, got " +
                Twine(batchSize.getValue()));
  if (maxSamples < 0)
    return fail("max-samples must be 0 (all) or positive, got " +
                Twine(maxSamples.getValue()));
  return success();
}

void CalibratePass::runOnOperation() {
  ModuleOp module = getOperation();
  if (failed(validateOptions(module)))
    return signalPassFailure();
  auto moduleError = [&](const Twine &msg) {
    module.emitError() << "qopt-calibrate: " << msg;
    signalPassFailure();
  };

  // The probes.
  std::vector<ProbeStats> probes;
  DenseMap<Operation *, size_t> probeIndex;
  module.walk([&](ObserveOp op) {
    ProbeStats s;
    s.op = op;
    s.name = op.getName() ? op.getName()->str() : std::string("qopt.observe");
    s.perChannel = op.getGranularity() == "per_channel" && op.getAxisAttr();
    if (s.perChannel) {
      int64_t rank = op.getType().getRank();
      int64_t axis = op.getAxisAttr().getInt();
      s.axis = axis < 0 ? axis + rank : axis;
    }
    probeIndex[op] = probes.size();
    probes.push_back(std::move(s));
  });
  if (probes.empty())
    return moduleError("the module has no qopt.observe probes; run "
                       "--qopt-insert-observers first");

  auto interp = Interpreter::create(module);
  if (!interp)
    return moduleError(toString(interp.takeError()));

  // The data: one array per argument, dim 0 the sample dim.
  const std::vector<IOSpec> &specs = (*interp)->inputs();
  int64_t batch = batchSize;
  if (batch == 0) // auto: a static dim 0, else 32 samples per run
    batch = llvm::any_of(specs,
                         [](const IOSpec &s) {
                           return s.type.getRank() > 0 &&
                                  !ShapedType::isDynamic(s.type.getDimSize(0));
                         })
                ? CalibrationData::naturalBatchSize(specs)
                : 32;
  auto data = CalibrationData::load(calibrationData, specs, batch);
  if (!data)
    return moduleError(toString(data.takeError()));
  int64_t numSamples = data->numSamples();
  if (maxSamples > 0 && numSamples > maxSamples)
    numSamples = maxSamples;
  // A static dim 0 takes full batches only.
  if (data->staticBatch() && numSamples % batch != 0) {
    int64_t kept = numSamples - numSamples % batch;
    if (kept == 0)
      return moduleError(llvm::formatv("{0}: {1} sample(s) do not fill one "
                                       "batch of {2} (the arguments have a "
                                       "static dim 0)",
                                       calibrationData, numSamples, batch)
                             .str());
    module.emitWarning() << "qopt-calibrate: the arguments have a static dim "
                            "0, so the last "
                         << numSamples - kept
                         << " sample(s) (a partial batch) are skipped";
    numSamples = kept;
  }

  // Runs every batch with the callback; `pass` is 1 or 2.
  bool histogram = method != "minmax";
  int numPasses = histogram ? 2 : 1;
  int pass = 1;
  int64_t batchStart = 0, batchCount = 0;
  int64_t bins = numBins;
  bool probeFailed = false;
  auto fail = [&](ProbeStats &s, const Twine &msg) {
    s.op.emitError() << "qopt-calibrate: probe '" << s.name << "': " << msg;
    probeFailed = true;
  };
  auto sampleOf = [&](const Tensor &v, int64_t flat) -> std::string {
    if (v.rank() > 0 && v.dim(0) == batchCount && batchCount > 0)
      return "sample " +
             std::to_string(batchStart + flat / (v.numElements() / v.dim(0)));
    if (batchCount == 1)
      return "sample " + std::to_string(batchStart);
    return "samples " + std::to_string(batchStart) + ".." +
           std::to_string(batchStart + batchCount - 1);
  };
  auto pass1 = [&](ProbeStats &s, const Tensor &v) {
    int64_t bad = -1;
    double lo = s.min, hi = s.max;
    forEachValue(v, [&](int64_t i, double x) {
      if (!std::isfinite(x)) {
        if (bad < 0)
          bad = i;
        return;
      }
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    });
    if (bad >= 0) {
      double x = v.getAsDouble(bad);
      const char *what = std::isnan(x) ? "nan" : x > 0 ? "inf" : "-inf";
      return fail(s, llvm::formatv("non-finite value {0} at element {1} of "
                                   "{2} ({3})",
                                   what, bad, v.describe(), sampleOf(v, bad))
                         .str());
    }
    s.min = lo;
    s.max = hi;
    if (s.perChannel) {
      if (s.axis >= v.rank())
        return fail(s, "axis out of range for the value " + v.describe());
      int64_t channels = v.dim(s.axis);
      if (!s.seen) {
        s.chMin.assign(channels, std::numeric_limits<double>::infinity());
        s.chMax.assign(channels, -std::numeric_limits<double>::infinity());
      } else if (static_cast<int64_t>(s.chMin.size()) != channels) {
        return fail(s, llvm::formatv("the channel dim {0} changed from {1} "
                                     "to {2} between samples",
                                     s.axis, s.chMin.size(), channels)
                           .str());
      }
      int64_t inner = 1;
      for (int64_t d = s.axis + 1; d < v.rank(); ++d)
        inner *= v.dim(d);
      forEachValue(v, [&](int64_t i, double x) {
        int64_t c = (i / inner) % channels;
        s.chMin[c] = std::min(s.chMin[c], x);
        s.chMax[c] = std::max(s.chMax[c], x);
      });
    }
    s.seen = true;
  };
  auto pass2 = [&](ProbeStats &s, const Tensor &v) {
    if (s.absMax == 0)
      return;
    double scale = static_cast<double>(bins) / s.absMax;
    forEachValue(v, [&](int64_t, double x) {
      int64_t b = static_cast<int64_t>(std::fabs(x) * scale);
      s.hist[std::min(b, bins - 1)] += 1;
    });
  };
  Interpreter::ValueCallback callback = [&](Operation *op, unsigned,
                                            const Tensor &v) {
    if (probeFailed)
      return;
    auto it = probeIndex.find(op);
    if (it == probeIndex.end())
      return;
    ProbeStats &s = probes[it->second];
    if (pass == 1)
      pass1(s, v);
    else
      pass2(s, v);
  };

  bool progress = numSamples >= 50;
  int64_t totalWork = numSamples * numPasses;
  int64_t lastDecile = 0;
  for (pass = 1; pass <= numPasses; ++pass) {
    if (pass == 2)
      for (ProbeStats &s : probes) {
        s.absMax = std::max(std::fabs(s.min), std::fabs(s.max));
        if (s.seen && s.absMax > 0 && s.min != s.max)
          s.hist.assign(bins, 0);
        else
          s.absMax = 0; // Nothing to histogram.
      }
    for (batchStart = 0; batchStart < numSamples; batchStart += batchCount) {
      batchCount = std::min<int64_t>(batch, numSamples - batchStart);
      std::vector<Tensor> inputs = data->batch(batchStart, batchCount);
      auto result = (*interp)->run(inputs, callback);
      if (!result)
        return moduleError(llvm::formatv("running {0} {1}..{2}: {3}",
                                         calibrationData, batchStart,
                                         batchStart + batchCount - 1,
                                         toString(result.takeError()))
                               .str());
      if (probeFailed)
        return signalPassFailure();
      if (progress) {
        int64_t done = (pass - 1) * numSamples + batchStart + batchCount;
        int64_t decile = done * 10 / totalWork;
        if (decile > lastDecile) {
          lastDecile = decile;
          llvm::errs() << "calibrate: sample " << batchStart + batchCount << "/"
                       << numSamples;
          if (numPasses > 1)
            llvm::errs() << " (pass " << pass << "/" << numPasses << ")";
          llvm::errs() << "\n";
        }
      }
    }
  }

  // Results.
  Builder b(&getContext());
  for (ProbeStats &s : probes) {
    if (!s.seen) {
      s.op.emitWarning() << "qopt-calibrate: probe '" << s.name
                         << "' is not in the executed function; no stats";
      continue;
    }
    double lo = s.min, hi = s.max;
    if (histogram && s.absMax > 0) {
      double width = s.absMax / static_cast<double>(bins);
      double t = method == "percentile"
                     ? percentileThreshold(s.hist, width, percentile)
                 : method == "entropy" ? entropyThreshold(s.hist, width)
                                       : mseThreshold(s.hist, width);
      lo = std::max(lo, -t);
      hi = std::min(hi, t);
    }
    SmallVector<NamedAttribute> entries;
    entries.push_back(b.getNamedAttr("min", b.getF32FloatAttr(lo)));
    entries.push_back(b.getNamedAttr("max", b.getF32FloatAttr(hi)));
    entries.push_back(b.getNamedAttr(
        "abs_max",
        b.getF32FloatAttr(std::max(std::fabs(s.min), std::fabs(s.max)))));
    entries.push_back(
        b.getNamedAttr("samples", b.getI64IntegerAttr(numSamples)));
    entries.push_back(b.getNamedAttr("method", b.getStringAttr(method)));
    if (s.perChannel) {
      SmallVector<float> cmin(s.chMin.begin(), s.chMin.end());
      SmallVector<float> cmax(s.chMax.begin(), s.chMax.end());
      entries.push_back(
          b.getNamedAttr("channel_min", b.getDenseF32ArrayAttr(cmin)));
      entries.push_back(
          b.getNamedAttr("channel_max", b.getDenseF32ArrayAttr(cmax)));
    }
    s.op.setStatsAttr(b.getDictionaryAttr(entries));
  }
}

} // namespace
