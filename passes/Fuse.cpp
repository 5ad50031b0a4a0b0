//===- Fuse.cpp - group ops into qopt.fused region ops ---------------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Greedy, deterministic grouping in program order. An op joins the group of
// the producer of one of its operands only when that value has exactly one
// use (this op) and both are in the same block, so every group is an in-tree
// whose only values used outside are the results of its last op: placing the
// fused op where that last op was keeps every use dominated.
//
//===----------------------------------------------------------------------===//

#include "qopt/dialects/qopt/QOptOps.h"
#include "qopt/passes/Passes.h"
#include "qopt/passes/QuantUtils.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/SetVector.h"

#include <functional>
#include <memory>

namespace qopt {
#define GEN_PASS_DEF_QOPTFUSEPASS
#include "qopt/passes/Passes.h.inc"
} // namespace qopt

using namespace mlir;
using namespace qopt;

namespace {

enum class Kind { Linear, DequantMatmul, NormQuantize, Elementwise };

StringRef kindName(Kind k) {
  switch (k) {
  case Kind::Linear:
    return "linear";
  case Kind::DequantMatmul:
    return "dequant_matmul";
  case Kind::NormQuantize:
    return "norm_quantize";
  case Kind::Elementwise:
    return "elementwise";
  }
  llvm_unreachable("kind");
}

struct Group {
  Kind kind;
  Operation *anchor;
  SmallVector<Operation *> ops;
  Operation *tail;     // the last op joined (the group's root)
  bool closed = false; // a requantize/quantize ended the linear epilogue
  bool dead = false;   // merged into another group
};

bool isAnchor(Operation *op) {
  return isa<MatMulOp, GemmOp, Conv2DOp, MatMulIntegerOp, Conv2DIntegerOp>(op);
}

bool isElementwise(Operation *op) {
  return isa<AddOp, SubOp, MulOp, DivOp, PowOp, ReluOp, GeluOp, SiluOp,
             SigmoidOp, TanhOp, ExpOp, NegOp, SqrtOp, ErfOp>(op);
}

bool isEpilogue(Operation *op) {
  return isa<AddOp, SubOp, MulOp, DivOp, ReluOp, GeluOp, SiluOp, SigmoidOp,
             TanhOp, quant::StorageCastOp, CastOp, DequantizeOp, RequantizeOp,
             QuantizeOp>(op);
}

/// The weight operand of an anchor.
Value weightOf(Operation *op) {
  if (auto g = dyn_cast<GemmOp>(op))
    return g.getB();
  if (auto c = dyn_cast<Conv2DOp>(op))
    return c.getFilter();
  if (auto c = dyn_cast<Conv2DIntegerOp>(op))
    return c.getFilter();
  return op->getOperand(1); // matmul, matmul_integer: rhs
}

bool isConstantValue(Value v) { return v && v.getDefiningOp<ConstantOp>(); }

/// `quant.scast` of a qopt.constant.
bool isScastOfConstant(Value v) {
  auto sc = v ? v.getDefiningOp<quant::StorageCastOp>()
              : quant::StorageCastOp();
  return sc && isConstantValue(sc.getInput());
}

class Fuser {
public:
  Fuser(Block &block, llvm::SmallDenseSet<Kind> enabled)
      : block(block), enabled(std::move(enabled)) {}

  /// Forms the groups and rewrites them; returns the number of fused ops.
  unsigned run();

private:
  Block &block;
  llvm::SmallDenseSet<Kind> enabled;
  std::vector<std::unique_ptr<Group>> groups;
  DenseMap<Operation *, Group *> groupOf;

  bool on(Kind k) const { return enabled.contains(k); }

  /// The producer of `v` when it may join `user`'s group: same block, no
  /// regions, `v` used once.
  Operation *joinableProducer(Value v) const {
    Operation *def = v.getDefiningOp();
    if (!def || def->getBlock() != &block || def->getNumRegions() != 0 ||
        !v.hasOneUse())
      return nullptr;
    return def;
  }

  Group *newGroup(Kind kind, Operation *anchor) {
    groups.push_back(std::make_unique<Group>());
    Group *g = groups.back().get();
    g->kind = kind;
    g->anchor = anchor;
    g->tail = anchor;
    add(g, anchor);
    return g;
  }

  void add(Group *g, Operation *op) {
    g->ops.push_back(op);
    groupOf[op] = g;
  }

  void visitAnchor(Operation *op);
  bool tryEpilogue(Operation *op);
  bool tryNormQuantize(Operation *op);
  void visitElementwise(Operation *op);
  void rewrite(Group &g);
};

void Fuser::visitAnchor(Operation *op) {
  bool floatAnchor = isa<MatMulOp, GemmOp, Conv2DOp>(op);
  Value w = weightOf(op);
  Operation *wdef = joinableProducer(w);
  // Weight-only: dequantize(constant [-> scast]) with constant parameters.
  if (floatAnchor && on(Kind::DequantMatmul) && wdef) {
    if (auto dq = dyn_cast<DequantizeOp>(wdef)) {
      Value q = dq.getInput();
      bool constParams = (!dq.getScale() || isConstantValue(dq.getScale())) &&
                         (!dq.getZeroPoint() ||
                          isConstantValue(dq.getZeroPoint()));
      if (constParams && (isConstantValue(q) || isScastOfConstant(q))) {
        Group *g = newGroup(Kind::DequantMatmul, op);
        add(g, dq);
        if (Operation *sc = joinableProducer(q))
          if (isa<quant::StorageCastOp>(sc))
            add(g, sc);
        return;
      }
    }
  }
  if (!on(Kind::Linear))
    return;
  Group *g = newGroup(Kind::Linear, op);
  // An integer weight's scast of a constant is part of the weight.
  if (wdef && isa<quant::StorageCastOp>(wdef) && isScastOfConstant(w))
    add(g, wdef);
}

bool Fuser::tryEpilogue(Operation *op) {
  if (!isEpilogue(op))
    return false;
  for (Value v : op->getOperands()) {
    Operation *def = joinableProducer(v);
    if (!def)
      continue;
    auto it = groupOf.find(def);
    if (it == groupOf.end())
      continue;
    Group *g = it->second;
    if ((g->kind != Kind::Linear && g->kind != Kind::DequantMatmul) ||
        g->closed || g->tail != def)
      continue;
    // Binary ops: the other operand comes from outside the group (it cannot
    // come from inside: the tail is the only value not used yet).
    add(g, op);
    g->tail = op;
    if (isa<RequantizeOp, QuantizeOp>(op))
      g->closed = true;
    return true;
  }
  return false;
}

bool Fuser::tryNormQuantize(Operation *op) {
  auto q = dyn_cast<QuantizeOp>(op);
  if (!q || !on(Kind::NormQuantize))
    return false;
  Operation *def = joinableProducer(q.getInput());
  if (!def || !isa<LayerNormOp, RMSNormOp>(def) || groupOf.count(def))
    return false;
  Group *g = newGroup(Kind::NormQuantize, def);
  add(g, op);
  g->tail = op;
  g->closed = true;
  return true;
}

void Fuser::visitElementwise(Operation *op) {
  if (!on(Kind::Elementwise))
    return;
  Group *mine = nullptr;
  for (Value v : op->getOperands()) {
    Operation *def = joinableProducer(v);
    if (!def || !isElementwise(def))
      continue;
    auto it = groupOf.find(def);
    Group *g = nullptr;
    if (it == groupOf.end()) {
      g = newGroup(Kind::Elementwise, def);
    } else {
      g = it->second;
      if (g->kind != Kind::Elementwise || g->tail != def)
        continue;
    }
    if (!mine) {
      mine = g;
      add(mine, op);
      mine->tail = op;
      continue;
    }
    if (g == mine)
      continue;
    // A second chain meeting in this op: merge it in (program order is
    // restored when the group is rewritten).
    for (Operation *o : g->ops) {
      mine->ops.push_back(o);
      groupOf[o] = mine;
    }
    g->ops.clear();
    g->dead = true;
  }
}

/// The location the fused op takes: the anchor's, or the location of the
/// group op whose name the anchor's name extends (`fc1` for `fc1.acc`).
Location fusedLocation(Group &g) {
  std::string anchorName = locationName(g.anchor);
  if (!anchorName.empty())
    for (Operation *op : g.ops) {
      std::string n = locationName(op);
      if (!n.empty() && op != g.anchor && anchorName.size() > n.size() &&
          StringRef(anchorName).starts_with(n + "."))
        return op->getLoc();
    }
  return g.anchor->getLoc();
}

void Fuser::rewrite(Group &g) {
  llvm::sort(g.ops, [](Operation *a, Operation *b) {
    return a->isBeforeInBlock(b);
  });
  llvm::SmallPtrSet<Operation *, 8> members(g.ops.begin(), g.ops.end());
  // Operands: the anchor's inputs in its operand order (a weight's through
  // its scast/dequantize), then those of the other ops in program order.
  llvm::SetVector<Value> inputs;
  llvm::SmallPtrSet<Operation *, 8> collected;
  std::function<void(Operation *)> collect = [&](Operation *op) {
    if (!collected.insert(op).second)
      return;
    for (Value v : op->getOperands()) {
      Operation *def = v.getDefiningOp();
      if (def && members.contains(def))
        collect(def);
      else
        inputs.insert(v);
    }
  };
  collect(g.anchor);
  for (Operation *op : g.ops)
    collect(op);
  SmallVector<Value> outputs;
  for (Operation *op : g.ops) {
    for (Value r : op->getResults())
      if (llvm::any_of(r.getUsers(), [&](Operation *u) {
            return !members.contains(u);
          }))
        outputs.push_back(r);
  }
  Operation *last = g.ops.back();
  OpBuilder b(last);
  Location loc = fusedLocation(g);
  auto fused = FusedOp::create(b, loc, ValueRange(outputs).getTypes(),
                               inputs.getArrayRef(), kindName(g.kind));
  Block *body = new Block();
  fused.getBody().push_back(body);
  IRMapping map;
  for (Value v : inputs)
    map.map(v, body->addArgument(v.getType(), v.getLoc()));
  OpBuilder inner = OpBuilder::atBlockEnd(body);
  for (Operation *op : g.ops)
    inner.clone(*op, map);
  SmallVector<Value> yielded;
  for (Value v : outputs)
    yielded.push_back(map.lookup(v));
  YieldOp::create(inner, loc, yielded);
  for (auto [v, r] : llvm::zip(outputs, fused.getResults()))
    v.replaceUsesWithIf(r, [&](OpOperand &use) {
      return !members.contains(use.getOwner());
    });
  for (Operation *op : llvm::reverse(g.ops))
    op->erase();
}

unsigned Fuser::run() {
  for (Operation &opRef : block) {
    Operation *op = &opRef;
    if (op->getNumRegions() != 0 || groupOf.count(op))
      continue;
    if (isAnchor(op)) {
      visitAnchor(op);
      continue;
    }
    if (tryEpilogue(op) || tryNormQuantize(op))
      continue;
    if (isElementwise(op))
      visitElementwise(op);
  }
  unsigned n = 0;
  for (auto &g : groups) {
    if (g->dead)
      continue;
    unsigned real = llvm::count_if(g->ops, [](Operation *op) {
      return !isa<quant::StorageCastOp>(op);
    });
    if (real < 2)
      continue;
    rewrite(*g);
    ++n;
  }
  return n;
}

struct FusePass : public qopt::impl::QOptFusePassBase<FusePass> {
  using QOptFusePassBase::QOptFusePassBase;

  void runOnOperation() override {
    llvm::SmallDenseSet<Kind> enabled;
    static const Kind all[] = {Kind::Linear, Kind::DequantMatmul,
                               Kind::NormQuantize, Kind::Elementwise};
    for (const std::string &k : kinds) {
      auto it = llvm::find_if(all, [&](Kind c) { return kindName(c) == k; });
      if (it == std::end(all)) {
        getOperation().emitError("qopt-fuse: unknown kind '")
            << k
            << "' (expected linear, dequant_matmul, norm_quantize or "
               "elementwise)";
        return signalPassFailure();
      }
      enabled.insert(*it);
    }
    if (kinds.empty())
      enabled.insert(std::begin(all), std::end(all));
    getOperation().walk([&](func::FuncOp fn) {
      for (Block &block : fn.getBody())
        Fuser(block, enabled).run();
    });
  }
};

} // namespace
