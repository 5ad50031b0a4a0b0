//===- Quantize.cpp - weight and activation quantization (QDQ form) -------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// qopt-quantize: replaces the constant weights of matmul / gemm / conv2d by
// quantized integer constants + dequantize, and (static, dynamic) the
// activation inputs by quantize + dequantize pairs. qopt-fold-qdq turns the
// result into integer ops.
//
//===----------------------------------------------------------------------===//

#include "qopt/dialects/qopt/QOptOps.h"
#include "qopt/passes/Passes.h"
#include "qopt/passes/QuantUtils.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Regex.h"

#include <cmath>

namespace qopt {
#define GEN_PASS_DEF_QOPTQUANTIZEPASS
#include "qopt/passes/Passes.h.inc"
} // namespace qopt

using namespace mlir;
using namespace qopt;

namespace {

enum class Mode { Static, Dynamic, WeightOnly };

/// What one op gets.
struct Plan {
  Operation *op;
  WeightSite site;
  WeightScheme weights;
  bool quantizeActivations; // static or dynamic activation quantization
  std::string scheme;       // qopt.scheme
};

struct QuantizePass : public qopt::impl::QOptQuantizePassBase<QuantizePass> {
  using QOptQuantizePassBase::QOptQuantizePassBase;

  void runOnOperation() override;

private:
  LogicalResult parseOptions(ModuleOp module);
  bool isExcluded(Operation *op) const;
  /// The per-tensor quant type for a calibrated probe; nullptr + error.
  Type activationQuantType(ObserveOp probe);
  Value staticActivation(OpBuilder &b, Value v, Operation *consumer);
  Value dynamicActivation(OpBuilder &b, Value v, bool perToken);

  Mode mode_ = Mode::Static;
  std::vector<std::string> excludePatterns_;
  llvm::StringSet<> excludeTypes_;
  DenseMap<Operation *, Value> probeCache_;   // observe -> dequantized value
  DenseMap<Value, Value> dynamicCache_;        // activation -> dequantized
  DenseMap<Value, Value> dynamicTensorCache_;  // per-tensor variant
  bool failed_ = false;
};

LogicalResult QuantizePass::parseOptions(ModuleOp module) {
  auto fail = [&](const Twine &msg) {
    module.emitError() << "qopt-quantize: " << msg;
    return failure();
  };
  if (mode == "static")
    mode_ = Mode::Static;
  else if (mode == "dynamic")
    mode_ = Mode::Dynamic;
  else if (mode == "weight-only")
    mode_ = Mode::WeightOnly;
  else
    return fail("mode must be static, dynamic or weight-only, got '" + mode +
                "'");
  if (weightBits < 2 || weightBits > 8)
    return fail("weight-bits must be in 2..8, got " + Twine(weightBits));
  if (mode_ != Mode::WeightOnly && weightBits != 8 && weightBits != 7)
    return fail("mode=" + mode + " stores weights as int8 (weight-bits 8, or "
                "7 for the narrow range [-63, 63]); weight-bits=" +
                Twine(weightBits) + " needs mode=weight-only");
  if (mode_ != Mode::WeightOnly && !weightSymmetric)
    return fail("mode=" + mode + " uses symmetric int8 weights; "
                "weight-symmetric=false needs mode=weight-only");
  if (groupSize < 0)
    return fail("group-size must be >= 0, got " + Twine(groupSize));
  if (activationType != "u8" && activationType != "s8")
    return fail("activation-type must be u8 or s8, got '" + activationType +
                "'");
  for (const std::string &pattern : exclude) {
    llvm::Regex re(pattern);
    std::string why;
    if (!re.isValid(why))
      return fail("exclude pattern '" + pattern + "' is not a valid regex: " +
                  why);
    excludePatterns_.push_back(pattern);
  }
  for (const std::string &t : excludeTypes)
    excludeTypes_.insert(t);
  return success();
}

bool QuantizePass::isExcluded(Operation *op) const {
  if (excludeTypes_.contains(op->getName().getStringRef()))
    return true;
  std::string name = opDisplayName(op);
  for (const std::string &pattern : excludePatterns_)
    if (llvm::Regex(pattern).match(name))
      return true;
  return false;
}

static std::optional<double> statOf(DictionaryAttr stats, StringRef key) {
  if (!stats)
    return std::nullopt;
  if (auto f = stats.getAs<FloatAttr>(key))
    return f.getValueAsDouble();
  return std::nullopt;
}

Type QuantizePass::activationQuantType(ObserveOp probe) {
  auto lo = statOf(probe.getStatsAttr(), "min");
  auto hi = statOf(probe.getStatsAttr(), "max");
  std::string name = probe.getName() ? probe.getName()->str() : "?";
  if (!lo || !hi) {
    probe.emitError() << "qopt-quantize: probe '" << name
                      << "' has no calibrated min/max; run qopt-calibrate "
                         "before static quantization";
    return nullptr;
  }
  if (!std::isfinite(*lo) || !std::isfinite(*hi) || *lo > *hi) {
    probe.emitError() << "qopt-quantize: probe '" << name
                      << "' has an unusable range [" << *lo << ", " << *hi
                      << "]";
    return nullptr;
  }
  MLIRContext *ctx = &getContext();
  Type f32 = Float32Type::get(ctx);
  if (activationType == "s8") {
    double t = std::max(std::fabs(*lo), std::fabs(*hi));
    float scale = t > 0 ? static_cast<float>(t / 127.0) : 1.0f;
    if (!(scale >= std::numeric_limits<float>::min()))
      scale = 1.0f;
    return quant::UniformQuantizedType::get(
        quant::QuantizationFlags::Signed, IntegerType::get(ctx, 8), f32, scale,
        0, -127, 127);
  }
  double l = std::min(*lo, 0.0), h = std::max(*hi, 0.0);
  float scale = h > l ? static_cast<float>((h - l) / 255.0) : 1.0f;
  if (!(scale >= std::numeric_limits<float>::min()))
    scale = 1.0f;
  double zp = std::nearbyint(-l / static_cast<double>(scale));
  zp = std::clamp(zp, 0.0, 255.0);
  return quant::UniformQuantizedType::get(
      0, IntegerType::get(ctx, 8, IntegerType::Unsigned), f32, scale,
      static_cast<int64_t>(zp), 0, 255);
}

Value QuantizePass::staticActivation(OpBuilder &b, Value v,
                                     Operation *consumer) {
  auto probe = v.getDefiningOp<ObserveOp>();
  if (!probe) {
    consumer->emitError()
        << "qopt-quantize: the activation input of '" << opDisplayName(consumer)
        << "' has no calibration probe; run qopt-insert-observers and "
           "qopt-calibrate before static quantization (or use "
           "mode=dynamic / weight-only)";
    return nullptr;
  }
  auto it = probeCache_.find(probe);
  if (it != probeCache_.end())
    return it->second;
  Type qt = activationQuantType(probe);
  if (!qt)
    return nullptr;
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointAfter(probe);
  auto ft = cast<RankedTensorType>(v.getType());
  auto qtype = RankedTensorType::get(ft.getShape(), qt);
  Value q = QuantizeOp::create(b, probe.getLoc(), qtype, probe.getInput(),
                               Value(), Value(), b.getI64IntegerAttr(1),
                               b.getI64IntegerAttr(0));
  Value dq = DequantizeOp::create(b, probe.getLoc(), ft, q, Value(), Value(),
                                  b.getI64IntegerAttr(1),
                                  b.getI64IntegerAttr(0));
  probeCache_[probe] = dq;
  return dq;
}

Value QuantizePass::dynamicActivation(OpBuilder &b, Value v, bool perToken) {
  // Probes are identities; quantize what they observe.
  if (auto probe = v.getDefiningOp<ObserveOp>())
    v = probe.getInput();
  auto &cache = perToken ? dynamicCache_ : dynamicTensorCache_;
  auto it = cache.find(v);
  if (it != cache.end())
    return it->second;
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointAfterValue(v);
  MLIRContext *ctx = &getContext();
  auto ft = cast<RankedTensorType>(v.getType());
  Location loc = v.getLoc();
  Value dq;
  if (perToken) {
    Type i8 = IntegerType::get(ctx, 8);
    SmallVector<int64_t> pshape(ft.getShape());
    pshape.back() = 1;
    auto qt = RankedTensorType::get(ft.getShape(), i8);
    auto st = RankedTensorType::get(pshape, b.getF32Type());
    auto zt = RankedTensorType::get(pshape, i8);
    auto dyn = DynamicQuantizeOp::create(b, loc, TypeRange{qt, st, zt}, v,
                                         b.getUnitAttr());
    int64_t k = ft.getShape().back();
    dq = DequantizeOp::create(b, loc, ft, dyn.getOutput(), dyn.getScale(),
                              dyn.getZeroPoint(),
                              b.getI64IntegerAttr(ft.getRank() - 1),
                              b.getI64IntegerAttr(k));
  } else {
    Type u8 = IntegerType::get(ctx, 8, IntegerType::Unsigned);
    auto qt = RankedTensorType::get(ft.getShape(), u8);
    auto st = RankedTensorType::get({}, b.getF32Type());
    auto zt = RankedTensorType::get({}, u8);
    auto dyn = DynamicQuantizeOp::create(b, loc, TypeRange{qt, st, zt}, v,
                                         UnitAttr());
    dq = DequantizeOp::create(b, loc, ft, dyn.getOutput(), dyn.getScale(),
                              dyn.getZeroPoint(), b.getI64IntegerAttr(1),
                              b.getI64IntegerAttr(0));
  }
  cache[v] = dq;
  return dq;
}

/// Whether dynamic mode can give `op`'s activation one scale per row: the
/// reduction dim must be the (static, non-empty) last dim.
static bool perTokenFits(Operation *op) {
  if (isa<Conv2DOp>(op))
    return false;
  if (auto g = dyn_cast<GemmOp>(op))
    if (g.getTransA())
      return false;
  auto t = cast<RankedTensorType>(op->getOperand(0).getType());
  if (t.getRank() < 1)
    return false;
  int64_t k = t.getShape().back();
  return !ShapedType::isDynamic(k) && k > 0;
}

/// The operand indices of `op` that activation quantization quantizes.
static SmallVector<unsigned> activationOperands(Operation *op) {
  if (isa<BatchMatMulOp>(op))
    return {0, 1};
  if (isa<MatMulOp, GemmOp, Conv2DOp>(op))
    return {0};
  return {};
}

void QuantizePass::runOnOperation() {
  ModuleOp module = getOperation();
  excludePatterns_.clear();
  excludeTypes_.clear();
  probeCache_.clear();
  dynamicCache_.clear();
  dynamicTensorCache_.clear();
  failed_ = false;
  if (failed(parseOptions(module)))
    return signalPassFailure();
  MLIRContext *ctx = &getContext();
  OpBuilder b(ctx);

  WeightScheme base;
  base.bits = weightBits;
  base.groupSize = mode_ == Mode::WeightOnly ? groupSize : 0;
  base.symmetric = mode_ == Mode::WeightOnly ? weightSymmetric.getValue() : true;
  base.clipSearch = clipSearch;

  // Decide per op first, then rewrite.
  SmallVector<Plan> plans;
  module.walk([&](Operation *op) {
    std::optional<WeightSite> site = weightSiteOf(op);
    bool bmm = isa<BatchMatMulOp>(op);
    // Embedding tables: int8 per row, weights only, when asked for by
    // `embeddings` or a qopt.precision decision.
    std::optional<WeightSite> table = embeddingSiteOf(op);
    bool embedding =
        table && (embeddings || op->hasAttr("qopt.precision"));
    if (embedding)
      site = table;
    if (!site && !(bmm && mode_ == Mode::Static))
      return;
    if (isExcluded(op))
      return;
    Plan p{op, site.value_or(WeightSite{}), base,
           mode_ != Mode::WeightOnly, ""};
    if (auto prec = op->getAttrOfType<StringAttr>("qopt.precision")) {
      StringRef v = prec.getValue();
      if (v == "float")
        return;
      if (v == "int8") {
        p.weights = WeightScheme{8, 0, true, base.clipSearch};
      } else if (v == "int4") {
        p.weights = WeightScheme{4, groupSize > 0 ? groupSize.getValue() : 128,
                                 true, base.clipSearch};
        p.quantizeActivations = false; // int4 weights are weight-only
      } else {
        op->emitError() << "qopt-quantize: qopt.precision must be float, int8 "
                           "or int4, got '"
                        << v << "'";
        failed_ = true;
        return;
      }
    }
    if (bmm && !p.quantizeActivations)
      return;
    if (embedding) {
      if (p.weights.bits < 8 || p.weights.groupSize > 0)
        p.weights = WeightScheme{8, 0, true, base.clipSearch};
      p.quantizeActivations = false; // the indices are not quantized
    }
    if (p.quantizeActivations)
      p.scheme = mode_ == Mode::Static
                     ? "w8a8-static-" + activationType.getValue()
                     : (perTokenFits(op) ? "w8a8-dynamic-per-token"
                                         : "w8a8-dynamic-per-tensor");
    else
      p.scheme = p.weights.name();
    if (bmm)
      p.scheme = "a8a8-static-" + activationType.getValue();
    plans.push_back(p);
  });
  if (failed_)
    return signalPassFailure();

  for (Plan &p : plans) {
    Operation *op = p.op;
    b.setInsertionPoint(op);
    // Weights.
    if (!isa<BatchMatMulOp>(op)) {
      Value w = op->getOperand(p.site.operand);
      auto wt = cast<RankedTensorType>(w.getType());
      if (wt.getNumElements() == 0)
        continue; // nothing to quantize
      if (!wt.getElementType().isF32()) {
        op->emitWarning() << "qopt-quantize: '" << opDisplayName(op)
                          << "' has a " << wt.getElementType()
                          << " weight; only f32 weights are quantized";
        continue;
      }
      auto value = constantValue(w);
      if (!value) {
        op->emitError() << "qopt-quantize: '" << opDisplayName(op)
                        << "': " << llvm::toString(value.takeError());
        return signalPassFailure();
      }
      auto q = quantizeWeight(*value, p.site, p.weights);
      if (!q) {
        op->emitError() << "qopt-quantize: weight of '" << opDisplayName(op)
                        << "': " << llvm::toString(q.takeError());
        return signalPassFailure();
      }
      Value dq = buildDequantizedWeight(b, w.getLoc(), *q, wt,
                                        opDisplayName(op) + ".weight");
      op->setOperand(p.site.operand, dq);
    }
    // Activations.
    bool quantizedSomething = !isa<BatchMatMulOp>(op);
    if (p.quantizeActivations) {
      for (unsigned idx : activationOperands(op)) {
        Value v = op->getOperand(idx);
        if (v.getDefiningOp<ConstantOp>())
          continue;
        if (!cast<RankedTensorType>(v.getType()).getElementType().isF32()) {
          op->emitWarning() << "qopt-quantize: '" << opDisplayName(op)
                            << "' has a " << v.getType()
                            << " activation; only f32 activations are "
                               "quantized";
          continue;
        }
        Value dq;
        if (mode_ == Mode::Static)
          dq = staticActivation(b, v, op);
        else
          dq = dynamicActivation(b, v, perTokenFits(op));
        if (!dq)
          return signalPassFailure();
        op->setOperand(idx, dq);
        quantizedSomething = true;
      }
    }
    if (quantizedSomething)
      op->setAttr("qopt.scheme", b.getStringAttr(p.scheme));
  }

  // Probes whose every consumer now reads the dequantized value go away;
  // in dynamic mode all probes are dropped (they served calibration only).
  SmallVector<Operation *> dead;
  module.walk([&](Operation *op) {
    if (auto probe = dyn_cast<ObserveOp>(op)) {
      if (mode_ == Mode::Dynamic || probe->use_empty()) {
        probe.getResult().replaceAllUsesWith(probe.getInput());
        dead.push_back(op);
      }
    } else if (isa<ConstantOp>(op) && op->use_empty()) {
      dead.push_back(op);
    }
  });
  for (Operation *op : dead)
    op->erase();
}

} // namespace
