//===- SmoothQuant.cpp - activation outlier migration (SmoothQuant) -------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// SmoothQuant (Xiao et al., 2023): per input channel j of a linear layer,
// X W = (X diag(1/s)) (diag(s) W) with s_j = max|X_j|^a / max|W_j|^(1-a), so
// activation outlier channels shrink and the weights take the difference.
//
// The groups are the calibrated per_channel probes whose users are all linear
// ops (qopt.matmul / qopt.gemm with a constant weight) taking the probe as
// their activation; one probe feeding several linears (Q, K, V) gets one s.
// 1/s goes into the producer of the probed value when it is a norm with
// constant parameters or a linear with a constant weight (and bias) used only
// by the probe, else into an explicit qopt.mul before the probe, so the probe
// (and the activation quantization that replaces it) sees the smoothed value.
//
// alpha=auto runs the model once on calibration data, keeps a bounded number
// of activation rows per probe, and per group picks the alpha from
// {0, 0.05, ..., 1} with the smallest simulated W8A8 output error.
//
//===----------------------------------------------------------------------===//

#include "CalibrationData.h"

#include "qopt/dialects/qopt/QOptOps.h"
#include "qopt/executor/Interpreter.h"
#include "qopt/passes/Passes.h"
#include "qopt/passes/QuantUtils.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace qopt {
#define GEN_PASS_DEF_QOPTSMOOTHQUANTPASS
#include "qopt/passes/Passes.h.inc"
} // namespace qopt

using namespace mlir;
using namespace qopt;

namespace {

/// Smoothing factors are clamped to [kMinScale, kMaxScale].
constexpr double kMinScale = 1e-5;
constexpr double kMaxScale = 1e5;
/// alpha=auto tries 0, 1/kAlphaSteps, ..., 1.
constexpr int kAlphaSteps = 20;
/// alpha=auto keeps at most this many activation rows (tokens) per probe,
/// and at most kMaxCapturedElements values.
constexpr int64_t kMaxCapturedRows = 1024;
constexpr int64_t kMaxCapturedElements = int64_t(1) << 20;
/// The alpha search evaluates at most this many multiply-adds per alpha
/// (rows x K x total outputs), using fewer of the captured rows (at least
/// kMinSearchRows) on large layers.
constexpr int64_t kMaxSearchMacs = int64_t(1) << 27;
constexpr int64_t kMinSearchRows = 16;

/// A linear op smoothed through its activation operand 0.
struct Consumer {
  Operation *op;
  WeightSite site;
};

/// Where 1/s goes.
enum class FoldKind { Norm, Linear, Mul };

/// One calibrated probe and the linear ops it feeds.
struct Group {
  ObserveOp probe;
  SmallVector<Consumer> consumers;
  int64_t channels = 0;
  std::vector<double> chMin, chMax;
  /// max |X_j| from the statistics.
  std::vector<double> xMax;
  FoldKind fold = FoldKind::Mul;
  /// The op 1/s is folded into (norm or linear), and for a linear followed
  /// by a bias add, that add.
  Operation *foldOp = nullptr;
  AddOp biasAdd;
  /// alpha=auto: captured activation rows, numRows x channels.
  std::vector<float> rows;
  int64_t numRows = 0;
};

std::string quoted(Operation *op) { return "'" + opDisplayName(op) + "'"; }

/// The blob name for the smoothed replacement of constant `v`: the old
/// blob's name (e.g. "fc1.weight") + ".smoothed", else `fallback`.
std::string smoothedBlobName(Value v, const std::string &fallback) {
  if (auto c = v.getDefiningOp<ConstantOp>())
    if (auto r = dyn_cast<DenseResourceElementsAttr>(c.getValue()))
      return r.getRawHandle().getKey().str() + ".smoothed";
  return fallback;
}

/// A constant operand's defining op, or null.
ConstantOp constantOf(Value v) { return v ? v.getDefiningOp<ConstantOp>() : nullptr; }

/// Whether the constant `v` can be scaled per channel of the last dim of a
/// value with `channels` channels: its last dim is exactly `channels`.
bool scalableAlongLastDim(Value v, int64_t channels) {
  if (!constantOf(v))
    return false;
  auto type = cast<RankedTensorType>(v.getType());
  return type.getRank() >= 1 && type.getDimSize(type.getRank() - 1) == channels;
}

/// `t` (f32) with every element of channel c (index along `axis`) multiplied
/// (`divide` false) or divided by f[c].
Tensor scaleChannels(const Tensor &t, int64_t axis, ArrayRef<double> f,
                     bool divide) {
  Tensor out(DType::F32, t.shape());
  float *o = out.mutableData<float>();
  int64_t channels = t.dim(axis);
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < t.rank(); ++d)
    inner *= t.dim(d);
  for (int64_t i = 0, n = t.numElements(); i < n; ++i) {
    int64_t c = (i / inner) % channels;
    double x = t.getAsDouble(i);
    o[i] = static_cast<float>(divide ? x / f[c] : x * f[c]);
  }
  return out;
}

/// max |W[j, :]| over the input-channel rows of a weight.
std::vector<double> weightRowMax(const Tensor &w, int64_t inAxis) {
  int64_t channels = w.dim(inAxis);
  int64_t inner = 1;
  for (int64_t d = inAxis + 1; d < w.rank(); ++d)
    inner *= w.dim(d);
  std::vector<double> m(channels, 0.0);
  for (int64_t i = 0, n = w.numElements(); i < n; ++i) {
    int64_t c = (i / inner) % channels;
    m[c] = std::max(m[c], std::fabs(w.getAsDouble(i)));
  }
  return m;
}

/// s_j = xMax_j^alpha / wMax_j^(1 - alpha), 1 for a channel with a zero (or
/// non-finite) maximum, clamped to [kMinScale, kMaxScale].
std::vector<double> smoothingScales(ArrayRef<double> xMax,
                                    ArrayRef<double> wMax, double alpha) {
  std::vector<double> s(xMax.size(), 1.0);
  for (size_t j = 0; j < xMax.size(); ++j) {
    double x = xMax[j], w = wMax[j];
    if (!(x > 0) || !(w > 0) || !std::isfinite(x) || !std::isfinite(w))
      continue;
    double v = std::pow(x, alpha) / std::pow(w, 1.0 - alpha);
    if (!std::isfinite(v) || !(v > 0))
      continue;
    s[j] = std::clamp(v, kMinScale, kMaxScale);
  }
  return s;
}

struct SmoothQuantPass
    : public qopt::impl::QOptSmoothQuantPassBase<SmoothQuantPass> {
  using QOptSmoothQuantPassBase::QOptSmoothQuantPassBase;

  void runOnOperation() override;

private:
  /// The numeric alpha, or std::nullopt for auto; fails on bad options.
  FailureOr<std::optional<double>> parseOptions(ModuleOp module);
  /// The probes to smooth, in program order; warns about the linears that
  /// cannot be smoothed.
  std::vector<Group> collectGroups(ModuleOp module);
  /// Checks a probe and its users; the reason when it cannot be smoothed.
  std::optional<std::string> analyze(Group &g);
  /// Where 1/s goes for `g`.
  void chooseFold(Group &g);
  /// alpha=auto: runs the calibration data and fills Group::rows.
  LogicalResult captureRows(ModuleOp module, std::vector<Group> &groups);
  /// The max |W_j| of the group's current weights.
  FailureOr<std::vector<double>> groupWeightMax(Group &g);
  /// alpha=auto: the alpha with the smallest simulated W8A8 output error.
  FailureOr<double> searchAlpha(Group &g, ArrayRef<double> wMax);
  /// Rewrites the IR for `g` with scales `s`.
  LogicalResult apply(Group &g, ArrayRef<double> s, double alphaUsed);
};

FailureOr<std::optional<double>> SmoothQuantPass::parseOptions(ModuleOp module) {
  auto fail = [&](const Twine &msg) {
    module.emitError() << "qopt-smoothquant: " << msg;
    return failure();
  };
  if (maxSamples < 1)
    return fail("max-samples must be at least 1, got " +
                Twine(maxSamples.getValue()));
  StringRef text = StringRef(alpha).trim();
  if (text == "auto") {
    if (calibrationData.empty())
      return fail("alpha=auto needs calibration-data (an .npz of sample "
                  "inputs to choose alpha on)");
    return std::optional<double>();
  }
  double v = 0;
  if (text.empty() || text.getAsDouble(v) || !(v >= 0.0 && v <= 1.0))
    return fail("alpha must be a number in [0, 1] or auto, got '" + alpha +
                "'");
  return std::optional<double>(v);
}

std::optional<std::string> SmoothQuantPass::analyze(Group &g) {
  ObserveOp probe = g.probe;
  std::string name =
      "probe '" + (probe.getName() ? probe.getName()->str() : "qopt.observe") +
      "'";
  if (probe.getGranularity() != "per_channel" || !probe.getAxisAttr())
    return name + " is " + probe.getGranularity().str() +
           "; SmoothQuant needs per_channel statistics (run "
           "qopt-insert-observers{granularity=per_channel})";
  int64_t rank = probe.getType().getRank();
  int64_t axis = probe.getAxisAttr().getInt();
  if (axis < 0)
    axis += rank;
  if (axis != rank - 1)
    return name + " records channels along dim " + std::to_string(axis) +
           ", not the last dim";
  DictionaryAttr stats = probe.getStatsAttr();
  auto cmin = stats ? dyn_cast_or_null<DenseF32ArrayAttr>(stats.get("channel_min"))
                    : DenseF32ArrayAttr();
  auto cmax = stats ? dyn_cast_or_null<DenseF32ArrayAttr>(stats.get("channel_max"))
                    : DenseF32ArrayAttr();
  if (!cmin || !cmax)
    return name + " has no channel_min/channel_max statistics (run "
                  "qopt-calibrate first)";
  if (cmin.size() != cmax.size() || cmin.empty())
    return name + " has channel_min and channel_max of different or zero "
                  "sizes";
  g.channels = cmin.size();
  int64_t lastDim = probe.getType().getDimSize(rank - 1);
  if (!ShapedType::isDynamic(lastDim) && lastDim != g.channels)
    return name + " has statistics for " + std::to_string(g.channels) +
           " channels but its last dim is " + std::to_string(lastDim);
  g.chMin.clear();
  g.chMax.clear();
  g.xMax.clear();
  for (int64_t j = 0; j < g.channels; ++j) {
    double lo = cmin[j], hi = cmax[j];
    if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi)
      return name + " has invalid statistics for channel " +
             std::to_string(j);
    g.chMin.push_back(lo);
    g.chMax.push_back(hi);
    g.xMax.push_back(std::max(std::fabs(lo), std::fabs(hi)));
  }
  // Every user must be one of the linears; the smoothed value must not
  // reach anything that does not get the compensating weights.
  for (OpOperand &use : probe->getUses()) {
    Operation *user = use.getOwner();
    bool isConsumer = use.getOperandNumber() == 0 &&
                      llvm::any_of(g.consumers, [&](const Consumer &c) {
                        return c.op == user;
                      });
    if (!isConsumer) {
      std::string opName = user->getName().getStringRef().str();
      std::string shown = opDisplayName(user);
      return name + " also feeds " +
             (shown == opName ? opName : "'" + shown + "' (" + opName + ")") +
             ", which cannot be smoothed with it";
    }
  }
  for (const Consumer &c : g.consumers) {
    auto wType = cast<RankedTensorType>(c.op->getOperand(c.site.operand).getType());
    if (wType.getDimSize(c.site.inAxis) != g.channels)
      return "its weight has " + std::to_string(wType.getDimSize(c.site.inAxis)) +
             " input channels but " + name + " has " +
             std::to_string(g.channels);
  }
  return std::nullopt;
}

void SmoothQuantPass::chooseFold(Group &g) {
  g.fold = FoldKind::Mul;
  g.foldOp = nullptr;
  g.biasAdd = nullptr;
  Value x = g.probe.getInput();
  Operation *producer = x.getDefiningOp();
  if (!producer || !x.hasOneUse())
    return;
  int64_t k = g.channels;
  if (auto ln = dyn_cast<LayerNormOp>(producer)) {
    if (scalableAlongLastDim(ln.getScale(), k) &&
        (!ln.getBias() || scalableAlongLastDim(ln.getBias(), k))) {
      g.fold = FoldKind::Norm;
      g.foldOp = producer;
    }
    return;
  }
  if (auto rms = dyn_cast<RMSNormOp>(producer)) {
    if (scalableAlongLastDim(rms.getScale(), k)) {
      g.fold = FoldKind::Norm;
      g.foldOp = producer;
    }
    return;
  }
  // A linear, maybe followed by a bias add with a constant.
  AddOp add = dyn_cast<AddOp>(producer);
  Operation *linear = producer;
  if (add) {
    Value lhs = add.getLhs(), rhs = add.getRhs();
    Value bias = constantOf(rhs) ? rhs : constantOf(lhs) ? lhs : Value();
    Value other = bias == rhs ? lhs : rhs;
    if (!bias || !other.hasOneUse() || other.getType() != add.getType() ||
        !scalableAlongLastDim(bias, k) ||
        cast<RankedTensorType>(bias.getType()).getRank() >
            add.getType().getRank())
      return;
    linear = other.getDefiningOp();
    if (!linear)
      return;
  }
  if (!isa<MatMulOp, GemmOp>(linear))
    return;
  std::optional<WeightSite> site = weightSiteOf(linear);
  if (!site)
    return;
  auto wType = cast<RankedTensorType>(linear->getOperand(site->operand).getType());
  if (wType.getDimSize(site->outAxis) != k)
    return;
  if (auto gemm = dyn_cast<GemmOp>(linear))
    if (gemm.getC() && !scalableAlongLastDim(gemm.getC(), k))
      return;
  g.fold = FoldKind::Linear;
  g.foldOp = linear;
  g.biasAdd = add;
}

std::vector<Group> SmoothQuantPass::collectGroups(ModuleOp module) {
  std::vector<Group> groups;
  DenseMap<Operation *, size_t> index;
  auto warn = [](Operation *op, const Twine &reason) {
    op->emitWarning() << "qopt-smoothquant: " << quoted(op)
                      << " not smoothed: " << reason;
  };
  // Probes in program order first, so groups are processed in that order.
  module.walk([&](ObserveOp probe) {
    index[probe] = groups.size();
    groups.push_back(Group{probe, {}});
  });
  module.walk([&](Operation *op) {
    if (!isa<MatMulOp, GemmOp>(op))
      return;
    if (auto gemm = dyn_cast<GemmOp>(op); gemm && gemm.getTransA())
      return warn(op, "its activation is transposed (trans_a)");
    std::optional<WeightSite> site = weightSiteOf(op);
    if (!site)
      return warn(op, "its weight is not a constant");
    auto probe = op->getOperand(0).getDefiningOp<ObserveOp>();
    if (!probe)
      return warn(op, "its activation has no qopt.observe probe (run "
                      "qopt-insert-observers{granularity=per_channel} and "
                      "qopt-calibrate first)");
    groups[index[probe]].consumers.push_back({op, *site});
  });
  std::vector<Group> result;
  for (Group &g : groups) {
    if (g.consumers.empty())
      continue;
    if (std::optional<std::string> reason = analyze(g)) {
      for (const Consumer &c : g.consumers)
        warn(c.op, *reason);
      continue;
    }
    result.push_back(std::move(g));
  }
  return result;
}

LogicalResult SmoothQuantPass::captureRows(ModuleOp module,
                                           std::vector<Group> &groups) {
  auto moduleError = [&](const Twine &msg) {
    module.emitError() << "qopt-smoothquant: " << msg;
    return failure();
  };
  auto interp = Interpreter::create(module);
  if (!interp)
    return moduleError(toString(interp.takeError()));
  const std::vector<IOSpec> &specs = (*interp)->inputs();
  int64_t batch = CalibrationData::naturalBatchSize(specs);
  auto data = CalibrationData::load(calibrationData, specs, batch);
  if (!data)
    return moduleError(toString(data.takeError()));
  int64_t numSamples = std::min<int64_t>(data->numSamples(), maxSamples);
  if (data->staticBatch()) {
    numSamples -= numSamples % batch;
    if (numSamples == 0)
      return moduleError(llvm::formatv("{0}: too few samples for one batch "
                                       "of {1} (the arguments have a static "
                                       "dim 0)",
                                       calibrationData, batch)
                             .str());
  }
  int64_t numBatches = (numSamples + batch - 1) / batch;

  DenseMap<Operation *, Group *> byProbe;
  for (Group &g : groups)
    byProbe[g.probe] = &g;
  std::string captureError;
  Interpreter::ValueCallback callback = [&](Operation *op, unsigned,
                                            const Tensor &v) {
    auto it = byProbe.find(op);
    if (it == byProbe.end() || !captureError.empty())
      return;
    Group &g = *it->second;
    int64_t k = g.channels;
    if (v.rank() < 1 || v.dim(v.rank() - 1) != k) {
      captureError = "probe value " + v.describe() + " does not have " +
                     std::to_string(k) + " channels in its last dim";
      return;
    }
    int64_t cap = std::clamp<int64_t>(kMaxCapturedElements / k, 1,
                                      kMaxCapturedRows);
    int64_t quota = std::max<int64_t>(1, (cap + numBatches - 1) / numBatches);
    int64_t rows = v.numElements() / k;
    int64_t take = std::min({rows, quota, cap - g.numRows});
    for (int64_t i = 0; i < take; ++i) {
      int64_t r = i * rows / take; // evenly spaced rows of this batch
      for (int64_t j = 0; j < k; ++j)
        g.rows.push_back(static_cast<float>(v.getAsDouble(r * k + j)));
    }
    g.numRows += std::max<int64_t>(take, 0);
  };
  for (int64_t start = 0; start < numSamples; start += batch) {
    int64_t count = std::min(batch, numSamples - start);
    auto result = (*interp)->run(data->batch(start, count), callback);
    if (!result)
      return moduleError(llvm::formatv("running {0} {1}..{2}: {3}",
                                       calibrationData, start,
                                       start + count - 1,
                                       toString(result.takeError()))
                             .str());
    if (!captureError.empty())
      return moduleError(captureError);
  }
  return success();
}

FailureOr<std::vector<double>> SmoothQuantPass::groupWeightMax(Group &g) {
  std::vector<double> wMax(g.channels, 0.0);
  for (const Consumer &c : g.consumers) {
    auto w = constantValue(c.op->getOperand(c.site.operand));
    if (!w) {
      c.op->emitError() << "qopt-smoothquant: " << toString(w.takeError());
      return failure();
    }
    std::vector<double> m = weightRowMax(*w, c.site.inAxis);
    for (int64_t j = 0; j < g.channels; ++j)
      wMax[j] = std::max(wMax[j], m[j]);
  }
  return wMax;
}

FailureOr<double> SmoothQuantPass::searchAlpha(Group &g, ArrayRef<double> wMax) {
  int64_t k = g.channels;
  int64_t totalOuts = 0;
  for (const Consumer &c : g.consumers) {
    auto wType =
        cast<RankedTensorType>(c.op->getOperand(c.site.operand).getType());
    totalOuts += wType.getNumElements() / k;
  }
  // Evenly spaced rows within the multiply-add budget.
  int64_t n = std::min(
      g.numRows, std::max(kMinSearchRows,
                          kMaxSearchMacs / std::max<int64_t>(1, k * totalOuts)));
  std::vector<double> x(n * k);
  for (int64_t r = 0; r < n; ++r) {
    int64_t src = r * g.numRows / n;
    for (int64_t j = 0; j < k; ++j)
      x[r * k + j] = g.rows[src * k + j];
  }
  // The float weights as K x N row-major matrices and the reference outputs.
  struct Linear {
    const Consumer *consumer;
    Tensor weight; // original layout
    int64_t outs = 0;
    std::vector<double> yRef; // n x outs
  };
  auto toMatrix = [&](const Tensor &w, const WeightSite &site) {
    int64_t outs = w.numElements() / k;
    std::vector<double> m(k * outs);
    for (int64_t j = 0; j < k; ++j)
      for (int64_t o = 0; o < outs; ++o)
        m[j * outs + o] = w.getAsDouble(site.inAxis == 0 ? j * outs + o
                                                          : o * k + j);
    return m;
  };
  auto product = [&](ArrayRef<double> x, ArrayRef<double> w, int64_t outs) {
    std::vector<double> y(n * outs, 0.0);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = 0; j < k; ++j) {
        double xv = x[r * k + j];
        if (xv == 0)
          continue;
        const double *wr = &w[j * outs];
        double *yr = &y[r * outs];
        for (int64_t o = 0; o < outs; ++o)
          yr[o] += xv * wr[o];
      }
    return y;
  };
  std::vector<Linear> linears;
  for (const Consumer &c : g.consumers) {
    auto w = constantValue(c.op->getOperand(c.site.operand));
    if (!w) {
      c.op->emitError() << "qopt-smoothquant: " << toString(w.takeError());
      return failure();
    }
    if (w->rank() != 2) {
      c.op->emitError() << "qopt-smoothquant: expected a rank-2 weight, got "
                        << w->describe();
      return failure();
    }
    Linear l{&c, *w, w->numElements() / k, {}};
    l.yRef = product(x, toMatrix(*w, c.site), l.outs);
    linears.push_back(std::move(l));
  }

  WeightScheme scheme; // 8-bit, per output channel, symmetric narrow range
  double bestErr = std::numeric_limits<double>::infinity();
  double bestAlpha = 0.5;
  std::vector<double> xq(n * k);
  for (int step = 0; step <= kAlphaSteps; ++step) {
    double a = static_cast<double>(step) / kAlphaSteps;
    std::vector<double> s = smoothingScales(g.xMax, wMax, a);
    // Activations: per-tensor symmetric int8 with the smoothed range.
    double absMax = 0;
    for (int64_t j = 0; j < k; ++j)
      absMax = std::max(absMax, g.xMax[j] / s[j]);
    double scale = absMax > 0 ? absMax / 127.0 : 1.0;
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = 0; j < k; ++j) {
        double q = std::nearbyint(x[r * k + j] / s[j] / scale);
        xq[r * k + j] = std::clamp(q, -127.0, 127.0) * scale;
      }
    double err = 0;
    int64_t count = 0;
    for (Linear &l : linears) {
      Tensor scaled = scaleChannels(l.weight, l.consumer->site.inAxis, s,
                                    /*divide=*/false);
      auto q = quantizeWeight(scaled, l.consumer->site, scheme);
      if (!q) {
        l.consumer->op->emitError()
            << "qopt-smoothquant: " << toString(q.takeError());
        return failure();
      }
      auto dq = dequantizeWeight(*q);
      if (!dq) {
        l.consumer->op->emitError()
            << "qopt-smoothquant: " << toString(dq.takeError());
        return failure();
      }
      std::vector<double> y =
          product(xq, toMatrix(*dq, l.consumer->site), l.outs);
      for (size_t i = 0; i < y.size(); ++i) {
        double d = y[i] - l.yRef[i];
        err += d * d;
      }
      count += static_cast<int64_t>(y.size());
    }
    err /= static_cast<double>(std::max<int64_t>(count, 1));
    if (err < bestErr) {
      bestErr = err;
      bestAlpha = a;
    }
  }
  return bestAlpha;
}

LogicalResult SmoothQuantPass::apply(Group &g, ArrayRef<double> s,
                                     double alphaUsed) {
  OpBuilder b(&getContext());
  auto replaceConstant = [&](Operation *user, unsigned operand,
                             const Tensor &t, const std::string &blob) {
    Value old = user->getOperand(operand);
    b.setInsertionPoint(user);
    Type elementType = cast<RankedTensorType>(old.getType()).getElementType();
    Value fresh = buildConstant(b, old.getLoc(), t, elementType,
                                smoothedBlobName(old, blob));
    user->setOperand(operand, fresh);
    if (Operation *def = old.getDefiningOp(); def && def->use_empty())
      def->erase();
  };
  auto scaledConstant = [&](Operation *user, unsigned operand, int64_t axis,
                            bool divide, const std::string &blob) {
    auto t = constantValue(user->getOperand(operand));
    if (!t) {
      user->emitError() << "qopt-smoothquant: " << toString(t.takeError());
      return failure();
    }
    int64_t ax = axis < 0 ? axis + t->rank() : axis;
    replaceConstant(user, operand, scaleChannels(*t, ax, s, divide), blob);
    return success();
  };

  // Weights: rows j times s_j.
  for (const Consumer &c : g.consumers)
    if (failed(scaledConstant(c.op, c.site.operand, c.site.inAxis,
                              /*divide=*/false,
                              opDisplayName(c.op) + ".weight.smoothed")))
      return failure();

  // 1/s into the producer, or an explicit multiply before the probe.
  switch (g.fold) {
  case FoldKind::Norm: {
    std::string name = opDisplayName(g.foldOp);
    if (failed(scaledConstant(g.foldOp, 1, -1, /*divide=*/true,
                              name + ".scale.smoothed")))
      return failure();
    if (auto ln = dyn_cast<LayerNormOp>(g.foldOp); ln && ln.getBias())
      if (failed(scaledConstant(g.foldOp, 2, -1, /*divide=*/true,
                                name + ".bias.smoothed")))
        return failure();
    break;
  }
  case FoldKind::Linear: {
    std::string name = opDisplayName(g.foldOp);
    WeightSite site = *weightSiteOf(g.foldOp);
    if (failed(scaledConstant(g.foldOp, site.operand, site.outAxis,
                              /*divide=*/true, name + ".weight.smoothed")))
      return failure();
    if (auto gemm = dyn_cast<GemmOp>(g.foldOp); gemm && gemm.getC())
      if (failed(scaledConstant(g.foldOp, 2, -1, /*divide=*/true,
                                name + ".bias.smoothed")))
        return failure();
    if (g.biasAdd) {
      unsigned operand = constantOf(g.biasAdd.getRhs()) ? 1 : 0;
      if (failed(scaledConstant(g.biasAdd, operand, -1, /*divide=*/true,
                                opDisplayName(g.biasAdd) + ".bias.smoothed")))
        return failure();
    }
    break;
  }
  case FoldKind::Mul: {
    Tensor inv(DType::F32, {g.channels});
    float *p = inv.mutableData<float>();
    for (int64_t j = 0; j < g.channels; ++j)
      p[j] = static_cast<float>(1.0 / s[j]);
    b.setInsertionPoint(g.probe);
    Type elementType = g.probe.getType().getElementType();
    std::string name =
        (g.probe.getName() ? g.probe.getName()->str() : "probe") +
        ".smooth_inv_scale";
    std::replace(name.begin(), name.end(), ':', '.');
    Value c = buildConstant(b, g.probe.getLoc(), inv, elementType, name);
    auto mul = MulOp::create(b, g.probe.getLoc(), g.probe.getType(),
                             g.probe.getInput(), c);
    g.probe.getInputMutable().assign(mul.getResult());
    break;
  }
  }

  // The probe now sees X / s.
  std::vector<float> cmin(g.channels), cmax(g.channels);
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < g.channels; ++j) {
    cmin[j] = static_cast<float>(g.chMin[j] / s[j]);
    cmax[j] = static_cast<float>(g.chMax[j] / s[j]);
    lo = std::min(lo, static_cast<double>(cmin[j]));
    hi = std::max(hi, static_cast<double>(cmax[j]));
  }
  SmallVector<NamedAttribute> entries;
  for (NamedAttribute e : g.probe.getStatsAttr()) {
    StringRef key = e.getName().getValue();
    if (key == "min" || key == "max" || key == "abs_max" || key == "method" ||
        key == "channel_min" || key == "channel_max")
      continue;
    entries.push_back(e);
  }
  entries.push_back(b.getNamedAttr("min", b.getF32FloatAttr(lo)));
  entries.push_back(b.getNamedAttr("max", b.getF32FloatAttr(hi)));
  entries.push_back(b.getNamedAttr(
      "abs_max", b.getF32FloatAttr(std::max(std::fabs(lo), std::fabs(hi)))));
  entries.push_back(b.getNamedAttr("method", b.getStringAttr("minmax")));
  entries.push_back(b.getNamedAttr("channel_min", b.getDenseF32ArrayAttr(cmin)));
  entries.push_back(b.getNamedAttr("channel_max", b.getDenseF32ArrayAttr(cmax)));
  g.probe.setStatsAttr(b.getDictionaryAttr(entries));

  for (const Consumer &c : g.consumers)
    c.op->setAttr("qopt.smoothquant_alpha", b.getF64FloatAttr(alphaUsed));
  return success();
}

void SmoothQuantPass::runOnOperation() {
  ModuleOp module = getOperation();
  FailureOr<std::optional<double>> fixedAlpha = parseOptions(module);
  if (failed(fixedAlpha))
    return signalPassFailure();
  std::vector<Group> groups = collectGroups(module);
  if (groups.empty())
    return;
  if (!*fixedAlpha && failed(captureRows(module, groups)))
    return signalPassFailure();
  for (Group &g : groups) {
    // Earlier groups may have folded into this group's producer; the fold
    // target and the weights are taken from the IR as it is now.
    chooseFold(g);
    FailureOr<std::vector<double>> wMax = groupWeightMax(g);
    if (failed(wMax))
      return signalPassFailure();
    double a;
    if (*fixedAlpha) {
      a = **fixedAlpha;
    } else {
      if (g.numRows == 0) {
        for (const Consumer &c : g.consumers)
          c.op->emitWarning()
              << "qopt-smoothquant: " << quoted(c.op)
              << " not smoothed: its activation was not computed on the "
                 "calibration data, so alpha=auto has nothing to choose by";
        continue;
      }
      FailureOr<double> best = searchAlpha(g, *wMax);
      if (failed(best))
        return signalPassFailure();
      a = *best;
      g.rows.clear();
      g.rows.shrink_to_fit();
    }
    std::vector<double> s = smoothingScales(g.xMax, *wMax, a);
    if (failed(apply(g, s, a)))
      return signalPassFailure();
  }
}

} // namespace
