//===- InsertObservers.cpp - calibration probe insertion -------------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#include "qopt/dialects/qopt/QOptOps.h"
#include "qopt/passes/Passes.h"
#include "qopt/passes/QuantUtils.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/TypeSwitch.h"

namespace qopt {
#define GEN_PASS_DEF_QOPTINSERTOBSERVERSPASS
#include "qopt/passes/Passes.h.inc"
} // namespace qopt

using namespace mlir;
using namespace qopt;

namespace {

/// An activation operand that quantization will quantize.
struct Site {
  Operation *consumer;
  unsigned operand;
  StringRef operandName;
  /// The input-channel dim of this operand (for per_channel statistics).
  int64_t channelAxis;
};

int64_t lastDim(Value v) { return cast<RankedTensorType>(v.getType()).getRank() - 1; }

/// The operands of `op` that a quantization scheme quantizes.
SmallVector<Site> sitesOf(Operation *op) {
  SmallVector<Site> sites;
  llvm::TypeSwitch<Operation *>(op)
      .Case([&](MatMulOp o) {
        sites.push_back({op, 0, "lhs", lastDim(o.getLhs())});
        sites.push_back({op, 1, "rhs", 0});
      })
      .Case([&](BatchMatMulOp o) {
        sites.push_back({op, 0, "lhs", lastDim(o.getLhs())});
        sites.push_back({op, 1, "rhs", lastDim(o.getRhs()) - 1});
      })
      .Case([&](GemmOp o) {
        sites.push_back({op, 0, "a", o.getTransA() ? 0 : 1});
        sites.push_back({op, 1, "b", o.getTransB() ? 1 : 0});
      })
      .Case([&](Conv2DOp) { sites.push_back({op, 0, "input", 1}); });
  return sites;
}

struct InsertObserversPass
    : public qopt::impl::QOptInsertObserversPassBase<InsertObserversPass> {
  using QOptInsertObserversPassBase::QOptInsertObserversPassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (granularity != "per_tensor" && granularity != "per_channel" &&
        granularity != "per_token") {
      module.emitError() << "qopt-insert-observers: granularity must be "
                            "per_tensor, per_channel or per_token, got '"
                         << granularity << "'";
      return signalPassFailure();
    }
    MLIRContext *ctx = &getContext();
    OpBuilder builder(ctx);
    DenseMap<Value, Value> probes;
    SmallVector<Site> sites;
    module.walk([&](Operation *op) { llvm::append_range(sites, sitesOf(op)); });
    for (const Site &site : sites) {
      Value v = site.consumer->getOperand(site.operand);
      if (matchPattern(v, m_Constant()) || v.getDefiningOp<ObserveOp>())
        continue;
      auto it = probes.find(v);
      if (it != probes.end()) {
        site.consumer->setOperand(site.operand, it->second);
        continue;
      }
      builder.setInsertionPointAfterValue(v);
      std::string name =
          opDisplayName(site.consumer) + ":" + site.operandName.str();
      IntegerAttr axis;
      if (granularity == "per_channel")
        axis = builder.getI64IntegerAttr(site.channelAxis);
      auto probe = ObserveOp::create(
          builder, site.consumer->getLoc(), v.getType(), v,
          builder.getStringAttr(name), builder.getStringAttr(granularity),
          axis, DictionaryAttr());
      probes[v] = probe.getResult();
      site.consumer->setOperand(site.operand, probe.getResult());
    }
  }
};

} // namespace
