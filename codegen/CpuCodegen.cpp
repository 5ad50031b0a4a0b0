//===- CpuCodegen.cpp - qopt dialect to EmitC calls of CPU kernels --------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// The lowering walks the entry function in program order and turns every op
// into a "step": one call of a template in runtime/cpu/qopt_cpu_codegen.h
// whose template arguments are the op's static shape and quantization
// parameters. Fused groups (qopt.fused, from qopt-fuse) are matched as a
// whole where a kernel exists for their core (int8 linear + requantize or
// dequantize epilogue, f32 linear, int4 weight-only linear); whatever else a
// group holds is lowered op by op. Constants go to the weights file, packed
// for the target by runtime/cpu/qopt_cpu_pack.h. Intermediate tensors live
// in one scratch arena whose offsets are planned from the values' live
// ranges; sizes are linear in the batch (the dynamic dim 0 of the inputs).
// Finally the steps are written as an EmitC function.
//
//===----------------------------------------------------------------------===//

#include "qopt/codegen/CpuCodegen.h"

#include "qopt/dialects/qopt/QOptDialect.h"
#include "qopt/dialects/qopt/QOptOps.h"
#include "qopt/executor/Interpreter.h"
#include "qopt/executor/Kernels.h"
#include "qopt/passes/Passes.h"
#include "qopt/passes/QuantUtils.h"

#include "qopt_cpu_pack.h"

#include "mlir/Dialect/EmitC/IR/EmitC.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/Cpp/CppEmitter.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <cstdlib>

using namespace mlir;
using namespace qopt;
using namespace qopt::codegen;

namespace {

llvm::Error err(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

/// A size or offset that grows with the batch: perB * batch + c.
struct Lin {
  int64_t perB = 0, c = 0;
};

Lin alignLin(Lin l) {
  return {(l.perB + 63) / 64 * 64, (l.c + 63) / 64 * 64};
}

enum class RtType { F32 = 0, U8 = 1, I8 = 2, I32 = 3, I64 = 4 };

int64_t rtBytes(RtType t) {
  switch (t) {
  case RtType::F32:
  case RtType::I32:
    return 4;
  case RtType::I64:
    return 8;
  default:
    return 1;
  }
}

/// A tensor value of the program.
struct Buf {
  enum Kind { Input, Arena, Weight, Output } kind = Arena;
  int index = 0;        // input / output index
  int64_t weightOff = 0;
  Lin offset;           // arena
  Lin bytes;
  RtType type = RtType::F32;
  SmallVector<int64_t> shape; // -1: the batch
  int alias = -1;             // same bytes as another buffer
  int def = -1, lastUse = -1; // step indices
};

/// One argument of a step's call.
struct Arg {
  enum Kind { Ptr, Int, Float } kind;
  int buf = -1;
  int64_t i = 0;
  double f = 0;
  static Arg ptr(int b) { return {Ptr, b, 0, 0}; }
  static Arg integer(int64_t v) { return {Int, -1, v, 0}; }
  static Arg real(double v) { return {Float, -1, 0, v}; }
};

struct Step {
  std::string kernel;
  SmallVector<int64_t> tmpl;
  SmallVector<Arg> args;
  SmallVector<int> writes;
  std::string what;
};

class Lowering {
public:
  Lowering(ModuleOp module, qopt_cpu::Target target, std::string targetName)
      : module(module), target(target), targetName(std::move(targetName)) {
    blob.assign(64, 0); // header, filled last
  }

  llvm::Expected<CpuProgram> run(func::FuncOp fn);

private:
  ModuleOp module;
  qopt_cpu::Target target;
  std::string targetName;
  std::vector<uint8_t> blob;
  std::vector<Buf> bufs;
  std::vector<Step> steps;
  DenseMap<Value, int> bufOf;
  DenseMap<Value, int> constBuf; // materialized constants
  bool hasBatch = false;
  std::vector<std::string> inputDescs, outputDescs;

  // --- helpers ---
  int root(int b) const {
    while (bufs[b].alias >= 0)
      b = bufs[b].alias;
    return b;
  }
  int64_t addWeight(const void *data, size_t bytes) {
    size_t off = (blob.size() + 63) / 64 * 64;
    blob.resize(off + bytes, 0);
    if (bytes)
      std::memcpy(blob.data() + off, data, bytes);
    return static_cast<int64_t>(off);
  }
  int addWeightBuf(const void *data, size_t bytes) {
    Buf b;
    b.kind = Buf::Weight;
    b.weightOff = addWeight(data, bytes);
    b.bytes = {0, static_cast<int64_t>(bytes)};
    bufs.push_back(b);
    return bufs.size() - 1;
  }
  template <typename T> int addWeightVec(const std::vector<T> &v) {
    return addWeightBuf(v.data(), v.size() * sizeof(T));
  }

  llvm::Expected<RtType> rtTypeOf(Type t, Operation *where);
  llvm::Expected<SmallVector<int64_t>> shapeOf(Value v, Operation *where);
  llvm::Expected<int> newBuf(Value v, Operation *where);
  llvm::Expected<int> use(Value v, Operation *where);
  Lin rowsOf(ArrayRef<int64_t> shape, int64_t tail) {
    // elements of shape[:-tail] ... as a Lin (product of leading dims)
    Lin l{0, 1};
    bool dyn = false;
    int64_t p = 1;
    for (int64_t i = 0; i + tail < (int64_t)shape.size(); ++i) {
      if (shape[i] < 0)
        dyn = true;
      else
        p *= shape[i];
    }
    if (dyn)
      l = {p, 0};
    else
      l = {0, p};
    return l;
  }
  Lin numel(ArrayRef<int64_t> shape) { return rowsOf(shape, 0); }
  void addStep(Step s) { steps.push_back(std::move(s)); }
  std::string describe(Operation *op) {
    std::string name = locationName(op);
    std::string s = op->getName().getStringRef().str();
    if (auto f = dyn_cast<FusedOp>(op))
      s += " " + f.getKind().str();
    return name.empty() ? s : name + ": " + s;
  }

  llvm::Error lowerOp(Operation *op);
  llvm::Error lowerBlock(Block &body, ValueRange outerOperands,
                         ValueRange outerResults, Operation *owner);
  llvm::Expected<bool> tryLinearInt8(FusedOp f);
  llvm::Error lowerRest(FusedOp f, Block::iterator it);
  llvm::Expected<bool> tryLinearFloat(FusedOp f);
  llvm::Expected<bool> tryWeightOnly(FusedOp f);
  llvm::Error lowerFloatLinear(Operation *op, Value a, const Tensor &w,
                               const Tensor *bias, bool relu, Value result,
                               Operation *reportOp);
  llvm::Error lowerBinary(Operation *op, int code);
  llvm::Error lowerUnary(Operation *op, int code);
  llvm::Expected<Tensor> evalConst(Value v);
  llvm::Expected<int> constantData(Value v, Operation *where);

  llvm::Error planArena(int64_t &perB, int64_t &c);
  llvm::Expected<CpuProgram> emit(func::FuncOp fn, int64_t perB, int64_t c);
};

//===----------------------------------------------------------------------===//
// Values
//===----------------------------------------------------------------------===//

llvm::Expected<RtType> Lowering::rtTypeOf(Type t, Operation *where) {
  if (auto q = dyn_cast<quant::QuantizedType>(t)) {
    unsigned w = q.getStorageTypeIntegralWidth();
    if (w == 8)
      return q.isSigned() ? RtType::I8 : RtType::U8;
    if (w == 32)
      return RtType::I32;
  } else if (t.isF32()) {
    return RtType::F32;
  } else if (auto i = dyn_cast<IntegerType>(t)) {
    if (i.getWidth() == 8)
      return i.isUnsigned() ? RtType::U8 : RtType::I8;
    if (i.getWidth() == 32 && !i.isUnsigned())
      return RtType::I32;
    if (i.getWidth() == 64 && !i.isUnsigned())
      return RtType::I64;
  }
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return err(describe(where) + ": element type " + s +
             " has no CPU kernel (supported: f32, u8, i8, i32, i64 and "
             "8/32-bit !quant.uniform)");
}

llvm::Expected<SmallVector<int64_t>> Lowering::shapeOf(Value v,
                                                       Operation *where) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  if (!t)
    return err(describe(where) + ": operand is not a ranked tensor");
  SmallVector<int64_t> s;
  for (auto [i, d] : llvm::enumerate(t.getShape())) {
    if (ShapedType::isDynamic(d)) {
      if (i != 0)
        return err(describe(where) +
                   ": only dim 0 may be dynamic (the batch) for the CPU "
                   "library; dim " +
                   llvm::Twine(i) + " is dynamic");
      hasBatch = true;
      s.push_back(-1);
    } else {
      s.push_back(d);
    }
  }
  return s;
}

llvm::Expected<int> Lowering::newBuf(Value v, Operation *where) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  if (!t)
    return err(describe(where) + ": result is not a ranked tensor");
  auto rt = rtTypeOf(t.getElementType(), where);
  if (!rt)
    return rt.takeError();
  auto shape = shapeOf(v, where);
  if (!shape)
    return shape.takeError();
  Buf b;
  b.kind = Buf::Arena;
  b.type = *rt;
  b.shape = *shape;
  Lin n = numel(b.shape);
  b.bytes = {n.perB * rtBytes(*rt), n.c * rtBytes(*rt)};
  b.def = steps.size();
  bufs.push_back(b);
  bufOf[v] = bufs.size() - 1;
  return static_cast<int>(bufs.size() - 1);
}

llvm::Expected<int> Lowering::use(Value v, Operation *where) {
  auto it = bufOf.find(v);
  if (it != bufOf.end()) {
    int r = root(it->second);
    bufs[r].lastUse = std::max<int>(bufs[r].lastUse, steps.size());
    return it->second;
  }
  if (v.getDefiningOp<ConstantOp>() || v.getDefiningOp<quant::StorageCastOp>())
    return constantData(v, where);
  return err(describe(where) + ": operand has no buffer (internal error)");
}

/// The value of a constant, possibly through quant.scast / reshape /
/// transpose (in the executor's storage dtype).
llvm::Expected<Tensor> Lowering::evalConst(Value v) {
  Operation *d = v.getDefiningOp();
  if (!d)
    return err("value is not a constant");
  if (auto c = dyn_cast<ConstantOp>(d))
    return tensorFromAttr(c.getValue());
  if (auto s = dyn_cast<quant::StorageCastOp>(d))
    return evalConst(s.getInput());
  if (auto r = dyn_cast<ReshapeOp>(d)) {
    auto in = evalConst(r.getInput());
    if (!in)
      return in.takeError();
    auto t = cast<RankedTensorType>(r.getType());
    if (!t.hasStaticShape())
      return err("reshape of a constant to a dynamic shape");
    return in->reshaped(std::vector<int64_t>(t.getShape().begin(),
                                             t.getShape().end()));
  }
  if (auto t = dyn_cast<TransposeOp>(d)) {
    auto in = evalConst(t.getInput());
    if (!in)
      return in.takeError();
    SmallVector<int64_t> perm(t.getPerm());
    return kernels::transpose(*in, perm);
  }
  return err("value is not a constant");
}

/// A constant operand used as data by a kernel: its bytes in the weights
/// file (f32 constants as f32; integer ones in their storage type).
llvm::Expected<int> Lowering::constantData(Value v, Operation *where) {
  auto it = constBuf.find(v);
  if (it != constBuf.end())
    return it->second;
  auto t = evalConst(v);
  if (!t)
    return err(describe(where) + ": " + toString(t.takeError()));
  auto ty = cast<RankedTensorType>(v.getType());
  auto rt = rtTypeOf(ty.getElementType(), where);
  if (!rt)
    return rt.takeError();
  Tensor data = *t;
  DType want = *rt == RtType::F32   ? DType::F32
               : *rt == RtType::U8  ? DType::U8
               : *rt == RtType::I8  ? DType::I8
               : *rt == RtType::I32 ? DType::I32
                                    : DType::I64;
  if (data.dtype() != want) {
    auto c = kernels::cast(data, want);
    if (!c)
      return c.takeError();
    data = *c;
  }
  int b = addWeightBuf(data.rawData(), data.byteSize());
  bufs[b].type = *rt;
  bufs[b].shape.assign(ty.getShape().begin(), ty.getShape().end());
  constBuf[v] = b;
  bufOf[v] = b;
  return b;
}

//===----------------------------------------------------------------------===//
// Fused groups
//===----------------------------------------------------------------------===//

/// Maps the body's block arguments to the fused op's operands.
static Value outer(FusedOp f, Value inner) {
  if (auto arg = dyn_cast<BlockArgument>(inner))
    if (arg.getOwner() == &f.getBody().front())
      return f->getOperand(arg.getArgNumber());
  return inner;
}

static bool isConstLike(Value v) {
  Operation *d = v.getDefiningOp();
  while (d && isa<quant::StorageCastOp, ReshapeOp, TransposeOp>(d))
    d = d->getOperand(0).getDefiningOp();
  return d && isa<ConstantOp>(d);
}

/// The value through quant.scast ops inside a body, mapped outside.
static Value throughCasts(FusedOp f, Value v) {
  while (auto s = v.getDefiningOp<quant::StorageCastOp>())
    v = s.getInput();
  return outer(f, v);
}

/// Per-tensor quant params of a type (scale, zp, storage min/max, u8?).
struct PerTensor {
  double scale = 1;
  int64_t zp = 0, qmin = 0, qmax = 0;
  bool isUnsigned = false;
};
static std::optional<PerTensor> perTensor(Type t) {
  auto rt = dyn_cast<RankedTensorType>(t);
  auto u = rt ? dyn_cast<quant::UniformQuantizedType>(rt.getElementType())
              : quant::UniformQuantizedType();
  if (!u || u.getStorageTypeIntegralWidth() != 8)
    return std::nullopt;
  PerTensor p;
  p.scale = u.getScale();
  p.zp = u.getZeroPoint();
  p.qmin = u.getStorageTypeMin();
  p.qmax = u.getStorageTypeMax();
  p.isUnsigned = !u.isSigned();
  return p;
}

/// Scales of an i32 accumulator type: per axis (last dim) or per tensor;
/// zero points must be 0.
static std::optional<std::vector<float>> accScales(Type t, int64_t n) {
  auto rt = dyn_cast<RankedTensorType>(t);
  if (!rt)
    return std::nullopt;
  Type e = rt.getElementType();
  auto q = dyn_cast<quant::QuantizedType>(e);
  if (!q || q.getStorageTypeIntegralWidth() != 32)
    return std::nullopt;
  std::vector<float> s(n);
  if (auto u = dyn_cast<quant::UniformQuantizedType>(e)) {
    if (u.getZeroPoint() != 0)
      return std::nullopt;
    std::fill(s.begin(), s.end(), static_cast<float>(u.getScale()));
    return s;
  }
  auto pa = dyn_cast<quant::UniformQuantizedPerAxisType>(e);
  if (!pa || pa.getQuantizedDimension() != rt.getRank() - 1 ||
      (int64_t)pa.getScales().size() != n)
    return std::nullopt;
  for (int64_t i = 0; i < n; ++i) {
    if (pa.getZeroPoints()[i] != 0)
      return std::nullopt;
    s[i] = static_cast<float>(pa.getScales()[i]);
  }
  return s;
}

/// qopt.fused "linear" whose core is int8 matmul_integer (+ i32 bias) and a
/// requantize or dequantize (+ f32 bias) (+ relu) epilogue.
llvm::Expected<bool> Lowering::tryLinearInt8(FusedOp f) {
  Block &body = f.getBody().front();
  auto it = body.begin();
  auto skipCasts = [&] {
    while (it != body.end() && isa<quant::StorageCastOp>(*it) &&
           isConstLike(outer(f, it->getOperand(0))))
      ++it;
  };
  skipCasts();
  auto mm = it != body.end() ? dyn_cast<MatMulIntegerOp>(*it)
                             : MatMulIntegerOp();
  if (!mm || mm.getLhsZeroPoint() || mm.getRhsZeroPoint())
    return false;
  Value aOuter = outer(f, mm.getLhs());
  Value wOuter = throughCasts(f, mm.getRhs());
  if (!isConstLike(wOuter) || isConstLike(aOuter))
    return false;
  auto aType = cast<RankedTensorType>(mm.getLhs().getType());
  auto aq = perTensor(aType);
  if (!aq || aType.getRank() < 2)
    return false;
  auto wType = cast<RankedTensorType>(mm.getRhs().getType());
  if (wType.getRank() != 2)
    return false;
  int64_t K = wType.getDimSize(0), N = wType.getDimSize(1);
  // Weight zero points must be 0 (symmetric weights).
  if (auto pa = dyn_cast<quant::UniformQuantizedPerAxisType>(
          wType.getElementType())) {
    if (llvm::any_of(pa.getZeroPoints(), [](int64_t z) { return z != 0; }))
      return false;
  } else if (auto u = dyn_cast<quant::UniformQuantizedType>(
                 wType.getElementType())) {
    if (u.getZeroPoint() != 0)
      return false;
  } else if (!wType.getElementType().isSignlessInteger(8)) {
    return false;
  }
  Value cur = mm.getResult();
  Operation *last = mm;
  ++it;
  // Optional i32 bias.
  std::vector<int32_t> bias(N, 0);
  bool hasBias = false;
  if (it != body.end())
    if (auto add = dyn_cast<AddOp>(*it)) {
      Value other = add.getLhs() == cur ? add.getRhs() : add.getLhs();
      if ((add.getLhs() == cur || add.getRhs() == cur) &&
          isConstLike(throughCasts(f, other)) && cur.hasOneUse()) {
        auto bt = evalConst(throughCasts(f, other));
        if (bt && bt->dtype() == DType::I32 && bt->numElements() == N &&
            cast<RankedTensorType>(add.getType()).getShape() ==
                cast<RankedTensorType>(cur.getType()).getShape()) {
          std::memcpy(bias.data(), bt->rawData(), N * 4);
          hasBias = true;
          cur = add.getResult();
          last = add;
          ++it;
        }
      }
    }
  // Casts to the accumulator's quantized type.
  while (it != body.end() && isa<quant::StorageCastOp>(*it) &&
         it->getOperand(0) == cur && cur.hasOneUse()) {
    cur = it->getResult(0);
    last = &*it;
    ++it;
  }
  if (it == body.end() || !cur.hasOneUse())
    return false;
  enum { Requant, Dequant } kind;
  if (auto rq = dyn_cast<RequantizeOp>(*it)) {
    if (rq.getInput() != cur || rq.getMultiplier() || rq.getZeroPoint())
      return false;
    kind = Requant;
  } else if (auto dq = dyn_cast<DequantizeOp>(*it)) {
    if (dq.getInput() != cur || dq.getScale() ||
        !cast<RankedTensorType>(dq.getType()).getElementType().isF32())
      return false;
    kind = Dequant;
  } else {
    return false;
  }
  auto scales = accScales(cur.getType(), N);
  if (!scales)
    return false;

  // The epilogue must be complete before anything is emitted.
  if (kind == Requant) {
    Block::iterator next = std::next(it);
    if (!perTensor(it->getResult(0).getType()) || next == body.end() ||
        !isa<YieldOp>(*next) || next->getOperand(0) != it->getResult(0))
      return false;
  }
  // The weights, packed for the target, and the folded column constant.
  auto w = evalConst(wOuter);
  if (!w)
    return w.takeError();
  if (w->dtype() != DType::I8 || w->numElements() != K * N)
    return false;
  const int8_t *wd = w->data<int8_t>();
  // The weight layout: u8 quads where the target's quad kernel is exact for
  // these weights (always with VNNI; on AVX2 vpmaddubsw when every k-pair
  // fits int16, e.g. weight-bits=7), int16 pairs otherwise.
  const qopt_cpu::S8Layout layout =
      target == qopt_cpu::Target::AVX512VNNI ||
              (target == qopt_cpu::Target::AVX2 &&
               qopt_cpu::s8_pairs_fit_int16(wd, K, N))
          ? qopt_cpu::S8Layout::Quads
          : qopt_cpu::S8Layout::Pairs;
  const int quads = layout == qopt_cpu::S8Layout::Quads ? 1 : 0;
  std::vector<int32_t> colbias(N);
  if (!qopt_cpu::fold_colbias_s8(layout, wd, K, N,
                                 hasBias ? bias.data() : nullptr,
                                 static_cast<int32_t>(aq->zp),
                                 aq->isUnsigned, colbias.data()))
    return err(describe(f) + ": int8 matmul with K=" + llvm::Twine(K) +
               " can overflow the int32 accumulator for these weights and "
               "activation range; split the layer (K) or keep it in float "
               "(qopt-quantize exclude=...)");
  std::vector<uint8_t> packed(qopt_cpu::packed_s8_size(layout, K, N));
  qopt_cpu::pack_s8(layout, wd, K, N, packed.data());

  auto aBuf = use(aOuter, f);
  if (!aBuf)
    return aBuf.takeError();
  int wBuf = addWeightVec(packed);
  int cbBuf = addWeightVec(colbias);
  auto aShape = shapeOf(aOuter, f);
  if (!aShape)
    return aShape.takeError();
  Lin m = rowsOf(*aShape, 1);

  Step s;
  s.what = describe(f);
  Operation *epi = &*it;
  ++it;
  if (kind == Requant) {
    // Checked above: per-tensor 8-bit output, the yield comes next.
    auto oq = perTensor(epi->getResult(0).getType());
    std::vector<float> mult(N);
    float so = static_cast<float>(oq->scale);
    for (int64_t n = 0; n < N; ++n)
      mult[n] = (*scales)[n] / so;
    int multBuf = addWeightVec(mult);
    auto out = newBuf(f.getResult(0), f);
    if (!out)
      return out.takeError();
    s.kernel = "linear_s8_requant";
    s.tmpl = {N, K, aq->isUnsigned ? 1 : 0, oq->isUnsigned ? 1 : 0, oq->zp,
              oq->qmin, oq->qmax, quads};
    s.args = {Arg::integer(m.perB), Arg::integer(m.c), Arg::ptr(*aBuf),
              Arg::ptr(wBuf),       Arg::ptr(cbBuf),   Arg::ptr(multBuf),
              Arg::ptr(*out)};
    s.writes = {*out};
    addStep(std::move(s));
    return true;
  }
  // Dequant epilogue: optional f32 bias [N], optional relu.
  Value y = epi->getResult(0);
  std::vector<float> fbias;
  bool relu = false;
  if (auto add = dyn_cast<AddOp>(*it)) {
    Value other = add.getLhs() == y ? add.getRhs() : add.getLhs();
    if ((add.getLhs() == y || add.getRhs() == y) && y.hasOneUse() &&
        isConstLike(throughCasts(f, other))) {
      auto bt = evalConst(throughCasts(f, other));
      if (bt && bt->dtype() == DType::F32 && bt->numElements() == N &&
          cast<RankedTensorType>(add.getType()).getShape() ==
              cast<RankedTensorType>(y.getType()).getShape()) {
        fbias.assign(bt->data<float>(), bt->data<float>() + N);
        y = add.getResult();
        ++it;
      }
    }
  }
  if (auto r = dyn_cast<ReluOp>(*it))
    if (r.getInput() == y && y.hasOneUse()) {
      relu = true;
      y = r.getResult();
      ++it;
    }
  int scaleBuf = addWeightVec(*scales);
  int biasBuf = fbias.empty() ? scaleBuf : addWeightVec(fbias);
  // The core's result: the group's result when the yield comes next,
  // otherwise a temporary the rest of the body reads.
  int out;
  bool done = isa<YieldOp>(*it) && it->getNumOperands() == 1 &&
              it->getOperand(0) == y;
  if (done) {
    auto o = newBuf(f.getResult(0), f);
    if (!o)
      return o.takeError();
    out = *o;
  } else {
    auto o = newBuf(y, f);
    if (!o)
      return o.takeError();
    out = *o;
  }
  s.kernel = "linear_s8_dequant";
  s.tmpl = {N, K, aq->isUnsigned ? 1 : 0, fbias.empty() ? 0 : 1, relu ? 1 : 0,
            quads};
  s.args = {Arg::integer(m.perB), Arg::integer(m.c), Arg::ptr(*aBuf),
            Arg::ptr(wBuf),       Arg::ptr(cbBuf),   Arg::ptr(scaleBuf),
            Arg::ptr(biasBuf),    Arg::ptr(out)};
  s.writes = {out};
  addStep(std::move(s));
  if (done)
    return true;
  // Lower the rest of the body op by op.
  if (llvm::Error e = lowerRest(f, it))
    return std::move(e);
  return true;
}

/// Lowers the ops of a fused body from `it` on, one by one, after a kernel
/// has taken the ops before it; the yield maps the group's results.
llvm::Error Lowering::lowerRest(FusedOp f, Block::iterator it) {
  Block &body = f.getBody().front();
  for (Block::iterator rest = it; rest != body.end(); ++rest) {
    Operation *op = &*rest;
    if (auto yield = dyn_cast<YieldOp>(op)) {
      for (auto [inner, res] : llvm::zip(yield.getOperands(), f.getResults())) {
        auto b = use(outer(f, inner), f);
        if (!b)
          return b.takeError();
        Buf a;
        a.alias = *b;
        a.type = bufs[*b].type;
        a.shape = bufs[*b].shape;
        a.bytes = bufs[*b].bytes;
        bufs.push_back(a);
        bufOf[res] = bufs.size() - 1;
      }
      break;
    }
    // Operands that are block arguments map to the fused op's operands.
    for (OpOperand &o : op->getOpOperands())
      if (auto arg = dyn_cast<BlockArgument>(o.get()))
        if (arg.getOwner() == &body && !bufOf.count(o.get())) {
          auto b = use(f->getOperand(arg.getArgNumber()), f);
          if (!b)
            return b.takeError();
          bufOf[o.get()] = *b;
        }
    if (llvm::Error e = lowerOp(op))
      return e;
  }
  return llvm::Error::success();
}

llvm::Error Lowering::lowerFloatLinear(Operation *op, Value a, const Tensor &w,
                                       const Tensor *bias, bool relu,
                                       Value result, Operation *reportOp) {
  int64_t K = w.dim(0), N = w.dim(1);
  std::vector<uint8_t> packed(qopt_cpu::packed_f32_size(target, K, N));
  qopt_cpu::pack_f32(target, w.data<float>(), K, N, packed.data());
  auto aBuf = use(a, op);
  if (!aBuf)
    return aBuf.takeError();
  auto aShape = shapeOf(a, op);
  if (!aShape)
    return aShape.takeError();
  Lin m = rowsOf(*aShape, 1);
  int wBuf = addWeightVec(packed);
  int bBuf = wBuf;
  if (bias)
    bBuf = addWeightBuf(bias->rawData(), bias->byteSize());
  auto out = newBuf(result, op);
  if (!out)
    return out.takeError();
  Step s;
  s.what = describe(reportOp);
  s.kernel = "linear_f32";
  s.tmpl = {N, K, bias ? 1 : 0, relu ? 1 : 0};
  s.args = {Arg::integer(m.perB), Arg::integer(m.c), Arg::ptr(*aBuf),
            Arg::ptr(wBuf), Arg::ptr(bBuf), Arg::ptr(*out)};
  s.writes = {*out};
  addStep(std::move(s));
  return llvm::Error::success();
}

/// The [K, N] f32 weight and [N] bias of a float matmul / gemm with a
/// constant weight; std::nullopt when it is not of that form.
static llvm::Expected<std::optional<std::pair<Tensor, std::optional<Tensor>>>>
floatLinearWeights(Operation *op, std::function<Value(Value)> mapOuter,
                   std::function<llvm::Expected<Tensor>(Value)> eval) {
  using Result = std::optional<std::pair<Tensor, std::optional<Tensor>>>;
  Value wv, cv;
  bool transB = false;
  if (auto mm = dyn_cast<MatMulOp>(op)) {
    wv = mm.getRhs();
  } else if (auto g = dyn_cast<GemmOp>(op)) {
    if (g.getTransA() || g.getAlpha().convertToFloat() != 1.0f ||
        (g.getC() && g.getBeta().convertToFloat() != 1.0f))
      return Result();
    wv = g.getB();
    cv = g.getC();
    transB = g.getTransB();
  } else {
    return Result();
  }
  if (!isConstLike(mapOuter(wv)) || (cv && !isConstLike(mapOuter(cv))))
    return Result();
  auto w = eval(mapOuter(wv));
  if (!w)
    return w.takeError();
  auto wf = kernels::cast(*w, DType::F32);
  if (!wf)
    return wf.takeError();
  Tensor W = *wf;
  if (W.rank() != 2)
    return Result();
  if (transB) {
    auto t = kernels::transpose(W, {1, 0});
    if (!t)
      return t.takeError();
    W = *t;
  }
  std::optional<Tensor> bias;
  if (cv) {
    auto c = eval(mapOuter(cv));
    if (!c)
      return c.takeError();
    auto cf = kernels::cast(*c, DType::F32);
    if (!cf)
      return cf.takeError();
    if (cf->numElements() != W.dim(1) ||
        (cf->rank() == 2 && cf->dim(0) != 1) || cf->rank() > 2)
      return Result();
    bias = cf->reshaped({W.dim(1)});
  }
  return Result(std::make_pair(W, bias));
}

llvm::Expected<bool> Lowering::tryLinearFloat(FusedOp f) {
  Block &body = f.getBody().front();
  auto it = body.begin();
  Operation *anchor = &*it;
  auto mapOuter = [&](Value v) { return throughCasts(f, v); };
  auto eval = [&](Value v) { return evalConst(v); };
  if (!isa<MatMulOp, GemmOp>(anchor))
    return false;
  Value a = outer(f, anchor->getOperand(0));
  if (isConstLike(a) || cast<RankedTensorType>(a.getType()).getRank() < 2)
    return false;
  auto wb = floatLinearWeights(anchor, mapOuter, eval);
  if (!wb)
    return wb.takeError();
  if (!*wb)
    return false;
  auto [W, bias] = **wb;
  Value y = anchor->getResult(0);
  ++it;
  if (!bias)
    if (auto add = dyn_cast<AddOp>(*it)) {
      Value other = add.getLhs() == y ? add.getRhs() : add.getLhs();
      if ((add.getLhs() == y || add.getRhs() == y) && y.hasOneUse() &&
          isConstLike(mapOuter(other))) {
        auto bt = evalConst(mapOuter(other));
        if (bt) {
          auto bf = kernels::cast(*bt, DType::F32);
          if (bf && bf->numElements() == W.dim(1) &&
              cast<RankedTensorType>(add.getType()).getShape() ==
                  cast<RankedTensorType>(y.getType()).getShape()) {
            bias = bf->reshaped({W.dim(1)});
            y = add.getResult();
            ++it;
          }
        }
      }
    }
  bool relu = false;
  if (auto r = dyn_cast<ReluOp>(*it))
    if (r.getInput() == y && y.hasOneUse()) {
      relu = true;
      y = r.getResult();
      ++it;
    }
  bool done = isa<YieldOp>(*it) && it->getOperand(0) == y;
  if (llvm::Error e = lowerFloatLinear(f, a, W, bias ? &*bias : nullptr, relu,
                                       done ? f.getResult(0) : y, f))
    return std::move(e);
  if (done)
    return true;
  if (llvm::Error e = lowerRest(f, it))
    return std::move(e);
  return true;
}

/// qopt.fused "dequant_matmul": a dequantized constant weight times an
/// activation (+ bias) (+ relu). 2..4-bit weights run the int4 kernel, which
/// dequantizes in registers; wider ones are dequantized at compile time and
/// run the f32 kernel.
llvm::Expected<bool> Lowering::tryWeightOnly(FusedOp f) {
  Block &body = f.getBody().front();
  DequantizeOp dq;
  Operation *anchor = nullptr;
  for (Operation &op : body) {
    if (auto d = dyn_cast<DequantizeOp>(op))
      dq = d;
    else if (isa<MatMulOp, GemmOp>(op)) {
      anchor = &op;
      break;
    }
  }
  if (!dq || !anchor)
    return false;
  if (anchor->getOperand(1) != dq.getResult())
    return false;
  bool transB = false;
  Value cv;
  if (auto g = dyn_cast<GemmOp>(anchor)) {
    if (g.getTransA() || g.getAlpha().convertToFloat() != 1.0f ||
        (g.getC() && g.getBeta().convertToFloat() != 1.0f))
      return false;
    transB = g.getTransB();
    cv = g.getC();
  }
  Value a = outer(f, anchor->getOperand(0));
  if (isConstLike(a))
    return false;
  // Values, scales and zero points of the weight, as [K, N] / [groups, N].
  Value qv = throughCasts(f, dq.getInput());
  if (!isConstLike(qv))
    return false;
  auto q = evalConst(qv);
  if (!q)
    return q.takeError();
  auto qType = cast<RankedTensorType>(dq.getInput().getType());
  if (qType.getRank() != 2)
    return false;
  Type qElem = qType.getElementType();
  unsigned bits = 8;
  Tensor scale, zp;
  bool hasZp = false;
  int64_t axis = 0, block = 0;
  if (dq.getScale()) {
    if (!isConstLike(outer(f, dq.getScale())) ||
        (dq.getZeroPoint() && !isConstLike(outer(f, dq.getZeroPoint()))))
      return false;
    auto s = evalConst(outer(f, dq.getScale()));
    if (!s)
      return s.takeError();
    scale = *s;
    if (dq.getZeroPoint()) {
      auto z = evalConst(outer(f, dq.getZeroPoint()));
      if (!z)
        return z.takeError();
      zp = *z;
      hasZp = true;
    }
    axis = dq.getAxis();
    block = dq.getBlockSize();
    if (auto it = dyn_cast<IntegerType>(qElem))
      bits = it.getWidth();
  } else {
    auto pa = dyn_cast<quant::UniformQuantizedPerAxisType>(qElem);
    if (!pa)
      return false;
    bits = pa.getStorageTypeIntegralWidth();
    axis = pa.getQuantizedDimension();
    int64_t n = pa.getScales().size();
    scale = Tensor(DType::F32, {n});
    zp = Tensor(DType::F32, {n});
    for (int64_t i = 0; i < n; ++i) {
      scale.mutableData<float>()[i] = static_cast<float>(pa.getScales()[i]);
      zp.mutableData<float>()[i] = static_cast<float>(pa.getZeroPoints()[i]);
      hasZp |= pa.getZeroPoints()[i] != 0;
    }
  }
  if (axis < 0)
    axis += 2;
  auto qf = kernels::cast(*q, DType::I32);
  if (!qf)
    return qf.takeError();
  // Orientation: the weight as the matmul reads it is [K, N] (or [N, K]
  // with trans_b).
  int64_t kDim = transB ? 1 : 0, nDim = 1 - kDim;
  int64_t K = q->dim(kDim), N = q->dim(nDim);
  int64_t G;
  if (block > 0) {
    if (axis != kDim)
      return false;
    G = block;
  } else {
    if (scale.numElements() != 1 && axis != nDim)
      return false;
    G = K;
  }
  int64_t groups = (K + G - 1) / G;
  auto scaleF = kernels::cast(scale, DType::F32);
  if (!scaleF)
    return scaleF.takeError();
  Tensor zpF(DType::F32, {1});
  if (hasZp) {
    auto z = kernels::cast(zp, DType::F32);
    if (!z)
      return z.takeError();
    zpF = *z;
  }
  auto paramAt = [&](const Tensor &t, int64_t g, int64_t n) -> float {
    if (t.numElements() == 1)
      return t.data<float>()[0];
    if (block == 0)
      return t.data<float>()[n];
    // [N, groups] with trans_b, [groups, N] otherwise.
    return transB ? t.data<float>()[n * groups + g]
                  : t.data<float>()[g * N + n];
  };
  std::vector<int8_t> qkn(K * N);
  std::vector<float> skn(groups * N), zkn(groups * N, 0.0f);
  const int32_t *qd = qf->data<int32_t>();
  for (int64_t k = 0; k < K; ++k)
    for (int64_t n = 0; n < N; ++n)
      qkn[k * N + n] = static_cast<int8_t>(transB ? qd[n * K + k] : qd[k * N + n]);
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t n = 0; n < N; ++n) {
      skn[g * N + n] = paramAt(*scaleF, g, n);
      if (hasZp)
        zkn[g * N + n] = paramAt(zpF, g, n);
    }
  // Bias and relu after the product.
  std::optional<Tensor> bias;
  if (cv) {
    if (!isConstLike(outer(f, cv)))
      return false;
    auto c = evalConst(outer(f, cv));
    if (!c)
      return c.takeError();
    auto cf = kernels::cast(*c, DType::F32);
    if (!cf)
      return cf.takeError();
    if (cf->numElements() != N)
      return false;
    bias = cf->reshaped({N});
  }
  Block::iterator it(anchor);
  ++it;
  Value y = anchor->getResult(0);
  bool relu = false;
  if (auto r = dyn_cast<ReluOp>(*it))
    if (r.getInput() == y && y.hasOneUse()) {
      relu = true;
      y = r.getResult();
      ++it;
    }
  if (!isa<YieldOp>(*it) || it->getOperand(0) != y)
    return false;
  if (bits > 4) {
    // Dequantize at compile time (exactly as the executor does) and run the
    // f32 kernel.
    Tensor W(DType::F32, {K, N});
    for (int64_t k = 0; k < K; ++k)
      for (int64_t n = 0; n < N; ++n) {
        int64_t g = k / G;
        W.mutableData<float>()[k * N + n] =
            static_cast<float>(qkn[k * N + n] - static_cast<int64_t>(zkn[g * N + n])) *
            skn[g * N + n];
      }
    if (llvm::Error e = lowerFloatLinear(f, a, W, bias ? &*bias : nullptr,
                                         relu, f.getResult(0), f))
      return std::move(e);
    return true;
  }
  std::vector<uint8_t> packed(qopt_cpu::packed_w4_size(target, K, N, G));
  qopt_cpu::pack_w4(target, qkn.data(), skn.data(), hasZp ? zkn.data() : nullptr,
                    K, N, G, packed.data());
  auto aBuf = use(a, f);
  if (!aBuf)
    return aBuf.takeError();
  auto aShape = shapeOf(a, f);
  if (!aShape)
    return aShape.takeError();
  Lin m = rowsOf(*aShape, 1);
  int wBuf = addWeightVec(packed);
  int bBuf = bias ? addWeightBuf(bias->rawData(), bias->byteSize()) : wBuf;
  auto out = newBuf(f.getResult(0), f);
  if (!out)
    return out.takeError();
  Step s;
  s.what = describe(f);
  s.kernel = "linear_w4";
  s.tmpl = {N, K, G, bias ? 1 : 0, relu ? 1 : 0};
  s.args = {Arg::integer(m.perB), Arg::integer(m.c), Arg::ptr(*aBuf),
            Arg::ptr(wBuf), Arg::ptr(bBuf), Arg::ptr(*out)};
  s.writes = {*out};
  addStep(std::move(s));
  return true;
}

//===----------------------------------------------------------------------===//
// Single ops
//===----------------------------------------------------------------------===//

llvm::Error Lowering::lowerBinary(Operation *op, int code) {
  auto outShape = shapeOf(op->getResult(0), op);
  if (!outShape)
    return outShape.takeError();
  if (!cast<RankedTensorType>(op->getResult(0).getType())
           .getElementType()
           .isF32())
    return err(describe(op) + ": only f32 elementwise ops have CPU kernels");
  int rank = outShape->size();
  if (rank > 6)
    return err(describe(op) + ": rank > 6");
  std::vector<int64_t> layout(3 * std::max(rank, 1), 0);
  int r = std::max(rank, 1);
  for (int i = 0; i < rank; ++i)
    layout[i] = (*outShape)[i];
  if (rank == 0)
    layout[0] = 1;
  SmallVector<int> ins;
  for (int o = 0; o < 2; ++o) {
    Value v = op->getOperand(o);
    auto sh = shapeOf(v, op);
    if (!sh)
      return sh.takeError();
    auto b = isConstLike(v) ? constantData(v, op) : use(v, op);
    if (!b)
      return b.takeError();
    ins.push_back(*b);
    // Right-aligned strides; 0 on broadcast dims.
    int64_t stride = 1;
    int off = rank - sh->size();
    for (int i = sh->size() - 1; i >= 0; --i) {
      int64_t d = (*sh)[i];
      int64_t od = (*outShape)[off + i];
      layout[(o + 1) * r + off + i] = (d == 1 && od != 1) ? 0 : stride;
      stride *= d < 0 ? 1 : d;
    }
    if (sh->size() && (*sh)[0] < 0 && off != 0)
      return err(describe(op) + ": a batch-sized operand must have the "
                                "result's rank");
  }
  auto out = newBuf(op->getResult(0), op);
  if (!out)
    return out.takeError();
  int lb = addWeightVec(layout);
  Step s;
  s.what = describe(op);
  s.kernel = "binary";
  s.tmpl = {code, r};
  s.args = {Arg::ptr(lb), Arg::ptr(ins[0]), Arg::ptr(ins[1]), Arg::ptr(*out)};
  s.writes = {*out};
  addStep(std::move(s));
  return llvm::Error::success();
}

llvm::Error Lowering::lowerUnary(Operation *op, int code) {
  if (!cast<RankedTensorType>(op->getResult(0).getType())
           .getElementType()
           .isF32())
    return err(describe(op) + ": only f32 elementwise ops have CPU kernels");
  auto in = use(op->getOperand(0), op);
  if (!in)
    return in.takeError();
  auto out = newBuf(op->getResult(0), op);
  if (!out)
    return out.takeError();
  Lin n = numel(bufs[*out].shape);
  Step s;
  s.what = describe(op);
  s.kernel = "unary";
  s.tmpl = {code};
  s.args = {Arg::integer(n.perB), Arg::integer(n.c), Arg::ptr(*in),
            Arg::ptr(*out)};
  s.writes = {*out};
  addStep(std::move(s));
  return llvm::Error::success();
}

llvm::Error Lowering::lowerOp(Operation *op) {
  auto alias = [&](Value from, Value to) -> llvm::Error {
    auto b = use(from, op);
    if (!b)
      return b.takeError();
    auto shape = shapeOf(to, op);
    if (!shape)
      return shape.takeError();
    auto rt = rtTypeOf(cast<RankedTensorType>(to.getType()).getElementType(),
                       op);
    if (!rt)
      return rt.takeError();
    Buf a;
    a.alias = *b;
    a.type = *rt;
    a.shape = *shape;
    a.bytes = bufs[*b].bytes;
    bufs.push_back(a);
    bufOf[to] = bufs.size() - 1;
    return llvm::Error::success();
  };
  if (isa<ConstantOp>(op))
    return llvm::Error::success(); // materialized where used
  if (auto s = dyn_cast<quant::StorageCastOp>(op)) {
    if (isConstLike(s.getInput()))
      return llvm::Error::success();
    return alias(s.getInput(), s.getResult());
  }
  if (auto r = dyn_cast<ReshapeOp>(op)) {
    if (isConstLike(r.getInput()))
      return llvm::Error::success();
    return alias(r.getInput(), r.getResult());
  }
  if (auto o = dyn_cast<ObserveOp>(op))
    return alias(o.getInput(), o.getResult());

  if (auto f = dyn_cast<FusedOp>(op)) {
    if (f.getKind() == "linear") {
      auto done = tryLinearInt8(f);
      if (!done)
        return done.takeError();
      if (*done)
        return llvm::Error::success();
      done = tryLinearFloat(f);
      if (!done)
        return done.takeError();
      if (*done)
        return llvm::Error::success();
    }
    if (f.getKind() == "dequant_matmul") {
      auto done = tryWeightOnly(f);
      if (!done)
        return done.takeError();
      if (*done)
        return llvm::Error::success();
    }
    // No kernel for the group as a whole: its ops one by one.
    Block &body = f.getBody().front();
    for (auto [arg, operand] : llvm::zip(body.getArguments(), f->getOperands()))
      if (!isConstLike(operand)) {
        auto b = use(operand, op);
        if (!b)
          return b.takeError();
        bufOf[arg] = *b;
      }
    for (Operation &inner : body) {
      if (auto y = dyn_cast<YieldOp>(inner)) {
        for (auto [v, res] : llvm::zip(y.getOperands(), f.getResults()))
          if (llvm::Error e = alias(outer(f, v), res))
            return e;
        break;
      }
      // Constants reach the body as block arguments: evaluate through them.
      for (OpOperand &o : inner.getOpOperands())
        if (auto arg = dyn_cast<BlockArgument>(o.get()))
          if (arg.getOwner() == &body && isConstLike(outer(f, arg)) &&
              !bufOf.count(arg)) {
            auto b = constantData(outer(f, arg), op);
            if (!b)
              return b.takeError();
            bufOf[arg] = *b;
          }
      if (llvm::Error e = lowerOp(&inner))
        return e;
    }
    return llvm::Error::success();
  }

  if (auto q = dyn_cast<QuantizeOp>(op)) {
    auto p = perTensor(q.getType());
    if (q.getScale() || !p ||
        !cast<RankedTensorType>(q.getInput().getType()).getElementType().isF32())
      return err(describe(op) + ": only per-tensor 8-bit quantize of f32 has "
                                "a CPU kernel");
    auto in = use(q.getInput(), op);
    if (!in)
      return in.takeError();
    auto out = newBuf(q.getResult(), op);
    if (!out)
      return out.takeError();
    Lin n = numel(bufs[*out].shape);
    Step s;
    s.what = describe(op);
    s.kernel = "quantize";
    s.tmpl = {p->isUnsigned ? 1 : 0, p->zp, p->qmin, p->qmax};
    s.args = {Arg::integer(n.perB), Arg::integer(n.c),
              Arg::real(static_cast<float>(p->scale)), Arg::ptr(*in),
              Arg::ptr(*out)};
    s.writes = {*out};
    addStep(std::move(s));
    return llvm::Error::success();
  }
  if (auto d = dyn_cast<DequantizeOp>(op)) {
    auto inType = cast<RankedTensorType>(d.getInput().getType());
    auto u = dyn_cast<quant::UniformQuantizedType>(inType.getElementType());
    if (d.getScale() || !u ||
        !cast<RankedTensorType>(d.getType()).getElementType().isF32())
      return err(describe(op) + ": only per-tensor dequantize to f32 has a "
                                "CPU kernel");
    unsigned w = u.getStorageTypeIntegralWidth();
    int dt = w == 32 ? 2 : u.isSigned() ? 1 : 0;
    if (w != 8 && w != 32)
      return err(describe(op) + ": dequantize of " + llvm::Twine(w) +
                 "-bit values has no CPU kernel");
    auto in = use(d.getInput(), op);
    if (!in)
      return in.takeError();
    auto out = newBuf(d.getResult(), op);
    if (!out)
      return out.takeError();
    Lin n = numel(bufs[*out].shape);
    Step s;
    s.what = describe(op);
    s.kernel = "dequantize";
    s.tmpl = {dt, u.getZeroPoint()};
    s.args = {Arg::integer(n.perB), Arg::integer(n.c),
              Arg::real(static_cast<float>(u.getScale())), Arg::ptr(*in),
              Arg::ptr(*out)};
    s.writes = {*out};
    addStep(std::move(s));
    return llvm::Error::success();
  }
  if (auto rq = dyn_cast<RequantizeOp>(op)) {
    auto inType = cast<RankedTensorType>(rq.getInput().getType());
    auto po = perTensor(rq.getType());
    // 8-bit to 8-bit with the same scale, zero point and signedness into a
    // range that contains the input's (e.g. a relu-narrowed [0, 127] widened
    // back to [-127, 127]): every value maps to itself, so the bytes alias.
    if (auto pi = perTensor(inType); pi && po && !rq.getMultiplier()) {
      if (pi->scale == po->scale && pi->zp == po->zp &&
          pi->isUnsigned == po->isUnsigned && po->qmin <= pi->qmin &&
          pi->qmax <= po->qmax)
        return alias(rq.getInput(), rq.getResult());
      return err(describe(op) + ": requantize between 8-bit types with "
                                "different scales or zero points has no CPU "
                                "kernel");
    }
    int64_t N = inType.getShape().back();
    auto scales = ShapedType::isDynamic(N) ? std::nullopt
                                           : accScales(inType, N);
    if (rq.getMultiplier() || !po || !scales)
      return err(describe(op) + ": only requantize of i32 accumulators (per "
                                "tensor or per last dim, zero point 0) to "
                                "per-tensor 8-bit has a CPU kernel");
    std::vector<float> mult(N);
    for (int64_t n = 0; n < N; ++n)
      mult[n] = (*scales)[n] / static_cast<float>(po->scale);
    auto in = use(rq.getInput(), op);
    if (!in)
      return in.takeError();
    auto out = newBuf(rq.getResult(), op);
    if (!out)
      return out.takeError();
    int mb = addWeightVec(mult);
    Lin rows = rowsOf(bufs[*out].shape, 1);
    Step s;
    s.what = describe(op);
    s.kernel = "requantize";
    s.tmpl = {N, 1, po->isUnsigned ? 1 : 0, po->zp, po->qmin, po->qmax};
    s.args = {Arg::integer(rows.perB), Arg::integer(rows.c), Arg::ptr(*in),
              Arg::ptr(mb), Arg::ptr(*out)};
    s.writes = {*out};
    addStep(std::move(s));
    return llvm::Error::success();
  }
  if (isa<DynamicQuantizeOp>(op))
    return err(describe(op) + ": dynamic (run-time scale) quantization has "
                              "no CPU kernel yet; use static W8A8 or "
                              "weight-only for the CPU library");
  if (auto mi = dyn_cast<MatMulIntegerOp>(op)) {
    // Two activations (attention): (A - za) x (B - zb) in int32.
    auto at = cast<RankedTensorType>(mi.getLhs().getType());
    auto bt = cast<RankedTensorType>(mi.getRhs().getType());
    auto pa = perTensor(at), pb = perTensor(bt);
    if (mi.getLhsZeroPoint() || mi.getRhsZeroPoint() || !pa || !pb ||
        isConstLike(mi.getRhs()) || at.getRank() < 2 || bt.getRank() < 2)
      return err(describe(op) + ": this int8 matmul has no CPU kernel (int8 "
                                "linear layers need the qopt.fused \"linear\" "
                                "form of qopt-fold-qdq + qopt-fuse with "
                                "symmetric per-tensor/per-channel weights; "
                                "products of two activations need per-tensor "
                                "8-bit operands)");
    auto as = shapeOf(mi.getLhs(), op);
    if (!as)
      return as.takeError();
    auto bs = shapeOf(mi.getRhs(), op);
    if (!bs)
      return bs.takeError();
    int64_t M = (*as)[as->size() - 2], K = as->back(), N = bs->back();
    SmallVector<int64_t> aLead(as->begin(), as->end() - 2),
        bLead(bs->begin(), bs->end() - 2);
    bool bShared = llvm::all_of(bLead, [](int64_t d) { return d == 1; });
    if ((!bShared && aLead != bLead) || M < 0 || K < 0 || N < 0)
      return err(describe(op) + ": int8 batched matmul needs static M, N, K "
                                "and equal (or no) batch dims");
    auto ab = use(mi.getLhs(), op);
    if (!ab)
      return ab.takeError();
    auto bb = use(mi.getRhs(), op);
    if (!bb)
      return bb.takeError();
    auto out = newBuf(mi.getResult(), op);
    if (!out)
      return out.takeError();
    Lin batch = rowsOf(*as, 2);
    Step s;
    s.what = describe(op);
    s.kernel = "batch_matmul_q8";
    s.tmpl = {M, N, K, pa->isUnsigned ? 1 : 0, pb->isUnsigned ? 1 : 0, pa->zp,
              pb->zp};
    s.args = {Arg::integer(batch.perB), Arg::integer(batch.c),
              Arg::integer(bShared ? 0 : K * N), Arg::ptr(*ab), Arg::ptr(*bb),
              Arg::ptr(*out)};
    s.writes = {*out};
    addStep(std::move(s));
    return llvm::Error::success();
  }
  if (isa<MatMulOp, GemmOp, BatchMatMulOp>(op)) {
    Value a = op->getOperand(0), b = op->getOperand(1);
    auto eval = [&](Value v) { return evalConst(v); };
    auto wb = floatLinearWeights(op, [](Value v) { return v; }, eval);
    if (!wb)
      return wb.takeError();
    if (*wb) {
      auto &[W, bias] = **wb;
      return lowerFloatLinear(op, a, W, bias ? &*bias : nullptr, false,
                              op->getResult(0), op);
    }
    if (!isa<MatMulOp, BatchMatMulOp>(op))
      return err(describe(op) + ": gemm with a non-constant B has no CPU "
                                "kernel");
    auto as = shapeOf(a, op), bs = shapeOf(b, op), os = shapeOf(op->getResult(0), op);
    if (!as || !bs || !os) {
      llvm::consumeError(as.takeError());
      llvm::consumeError(bs.takeError());
      llvm::consumeError(os.takeError());
      return err(describe(op) + ": bad shapes");
    }
    if (as->size() < 2 || bs->size() < 2 ||
        !cast<RankedTensorType>(a.getType()).getElementType().isF32())
      return err(describe(op) + ": batched matmul needs f32 operands of rank "
                                ">= 2");
    int64_t M = (*as)[as->size() - 2], K = as->back(), N = bs->back();
    SmallVector<int64_t> aLead(as->begin(), as->end() - 2),
        bLead(bs->begin(), bs->end() - 2);
    bool bShared = bLead.empty() || llvm::all_of(bLead, [](int64_t d) {
                     return d == 1;
                   });
    if (!bShared && aLead != bLead)
      return err(describe(op) + ": batched matmul with broadcast batch dims "
                                "has no CPU kernel");
    if (M < 0 || K < 0 || N < 0)
      return err(describe(op) + ": matmul dims must be static");
    auto ab = use(a, op);
    if (!ab)
      return ab.takeError();
    auto bb = isConstLike(b) ? constantData(b, op) : use(b, op);
    if (!bb)
      return bb.takeError();
    auto out = newBuf(op->getResult(0), op);
    if (!out)
      return out.takeError();
    Lin batch = rowsOf(*as, 2);
    Step s;
    s.what = describe(op);
    s.kernel = "batch_matmul_f32";
    s.tmpl = {M, N, K, N, 1};
    s.args = {Arg::integer(batch.perB), Arg::integer(batch.c),
              Arg::integer(M * K), Arg::integer(bShared ? 0 : K * N),
              Arg::real(1.0), Arg::ptr(*ab), Arg::ptr(*bb), Arg::ptr(*out)};
    s.writes = {*out};
    addStep(std::move(s));
    return llvm::Error::success();
  }
  // Elementwise.
  if (isa<AddOp>(op))
    return lowerBinary(op, 0);
  if (isa<SubOp>(op))
    return lowerBinary(op, 1);
  if (isa<MulOp>(op))
    return lowerBinary(op, 2);
  if (isa<DivOp>(op))
    return lowerBinary(op, 3);
  if (isa<ReluOp>(op))
    return lowerUnary(op, 0);
  if (auto g = dyn_cast<GeluOp>(op))
    return lowerUnary(op, g.getApproximate() == "tanh" ? 2 : 1);
  if (isa<ErfOp>(op))
    return lowerUnary(op, 3);
  if (isa<TanhOp>(op))
    return lowerUnary(op, 4);
  if (isa<SigmoidOp>(op))
    return lowerUnary(op, 5);
  if (isa<SiluOp>(op))
    return lowerUnary(op, 6);
  if (isa<ExpOp>(op))
    return lowerUnary(op, 7);
  if (isa<SqrtOp>(op))
    return lowerUnary(op, 8);
  if (isa<NegOp>(op))
    return lowerUnary(op, 9);

  if (auto sm = dyn_cast<SoftmaxOp>(op)) {
    auto t = cast<RankedTensorType>(sm.getType());
    int64_t axis = sm.getAxis() < 0 ? sm.getAxis() + t.getRank() : sm.getAxis();
    if (axis != t.getRank() - 1 || !t.getElementType().isF32())
      return err(describe(op) + ": softmax has a CPU kernel only along the "
                                "last axis of f32");
    auto in = use(sm.getInput(), op);
    if (!in)
      return in.takeError();
    auto out = newBuf(sm.getResult(), op);
    if (!out)
      return out.takeError();
    Lin rows = rowsOf(bufs[*out].shape, 1);
    Step s;
    s.what = describe(op);
    s.kernel = "softmax";
    s.tmpl = {t.getShape().back()};
    s.args = {Arg::integer(rows.perB), Arg::integer(rows.c), Arg::ptr(*in),
              Arg::ptr(*out)};
    s.writes = {*out};
    addStep(std::move(s));
    return llvm::Error::success();
  }
  if (isa<LayerNormOp, RMSNormOp>(op)) {
    auto t = cast<RankedTensorType>(op->getResult(0).getType());
    int64_t axis;
    float eps;
    Value scale, bias;
    if (auto ln = dyn_cast<LayerNormOp>(op)) {
      axis = ln.getAxis();
      eps = ln.getEpsilon().convertToFloat();
      scale = ln.getScale();
      bias = ln.getBias();
    } else {
      auto rn = cast<RMSNormOp>(op);
      axis = rn.getAxis();
      eps = rn.getEpsilon().convertToFloat();
      scale = rn.getScale();
    }
    if (axis < 0)
      axis += t.getRank();
    int64_t cols = t.getShape().back();
    auto fullParam = [&](Value v) {
      return v && cast<RankedTensorType>(v.getType()).getNumElements() == cols;
    };
    if (axis != t.getRank() - 1 || !t.getElementType().isF32() ||
        !fullParam(scale) || (bias && !fullParam(bias)) ||
        !isConstLike(scale) || (bias && !isConstLike(bias)))
      return err(describe(op) + ": normalization has a CPU kernel only over "
                                "the last axis of f32 with constant [C] "
                                "scale/bias");
    auto in = use(op->getOperand(0), op);
    if (!in)
      return in.takeError();
    auto g = constantData(scale, op);
    if (!g)
      return g.takeError();
    int bb = *g;
    if (bias) {
      auto b = constantData(bias, op);
      if (!b)
        return b.takeError();
      bb = *b;
    }
    auto out = newBuf(op->getResult(0), op);
    if (!out)
      return out.takeError();
    Lin rows = rowsOf(bufs[*out].shape, 1);
    Step s;
    s.what = describe(op);
    if (isa<LayerNormOp>(op)) {
      s.kernel = "layer_norm";
      s.tmpl = {cols, bias ? 1 : 0};
      s.args = {Arg::integer(rows.perB), Arg::integer(rows.c), Arg::real(eps),
                Arg::ptr(*in), Arg::ptr(*g), Arg::ptr(bb), Arg::ptr(*out)};
    } else {
      s.kernel = "rms_norm";
      s.tmpl = {cols};
      s.args = {Arg::integer(rows.perB), Arg::integer(rows.c), Arg::real(eps),
                Arg::ptr(*in), Arg::ptr(*g), Arg::ptr(*out)};
    }
    s.writes = {*out};
    addStep(std::move(s));
    return llvm::Error::success();
  }
  if (auto tr = dyn_cast<TransposeOp>(op)) {
    if (isConstLike(tr.getInput()))
      return llvm::Error::success();
    auto in = use(tr.getInput(), op);
    if (!in)
      return in.takeError();
    auto inShape = shapeOf(tr.getInput(), op);
    if (!inShape)
      return inShape.takeError();
    SmallVector<int64_t> perm(tr.getPerm());
    if (inShape->size() > 6)
      return err(describe(op) + ": rank > 6");
    if (!perm.empty() && (*inShape)[0] < 0 && perm[0] != 0)
      return err(describe(op) + ": a transpose that moves the batch dim has "
                                "no CPU kernel");
    std::vector<int64_t> layout(inShape->begin(), inShape->end());
    layout.insert(layout.end(), perm.begin(), perm.end());
    auto out = newBuf(tr.getResult(), op);
    if (!out)
      return out.takeError();
    int lb = addWeightVec(layout);
    Step s;
    s.what = describe(op);
    s.kernel = "transpose";
    s.tmpl = {(int64_t)inShape->size(), rtBytes(bufs[*out].type)};
    s.args = {Arg::ptr(lb), Arg::ptr(*in), Arg::ptr(*out)};
    s.writes = {*out};
    addStep(std::move(s));
    return llvm::Error::success();
  }
  if (isa<func::ReturnOp>(op))
    return llvm::Error::success();
  return err(describe(op) + ": op '" + op->getName().getStringRef() +
             "' has no CPU kernel yet (the reference executor runs it: "
             "qopt-run model.mlir)");
}

//===----------------------------------------------------------------------===//
// Arena planning and emission
//===----------------------------------------------------------------------===//

llvm::Error Lowering::planArena(int64_t &perB, int64_t &c) {
  // Place arena buffers in definition order above every placed buffer whose
  // live range overlaps; offsets are linear in the batch (componentwise max
  // of linear forms with non-negative coefficients bounds each of them for
  // every batch >= 0).
  std::vector<int> placed;
  Lin top;
  for (int b = 0; b < (int)bufs.size(); ++b) {
    Buf &x = bufs[b];
    if (x.alias >= 0 || x.kind != Buf::Arena)
      continue;
    int last = std::max(x.lastUse, x.def);
    Lin off;
    for (int p : placed) {
      const Buf &y = bufs[p];
      int ylast = std::max(y.lastUse, y.def);
      if (y.def <= last && x.def <= ylast) {
        Lin end = alignLin({y.offset.perB + y.bytes.perB, y.offset.c + y.bytes.c});
        off.perB = std::max(off.perB, end.perB);
        off.c = std::max(off.c, end.c);
      }
    }
    x.offset = off;
    placed.push_back(b);
    Lin end = alignLin({off.perB + x.bytes.perB, off.c + x.bytes.c});
    top.perB = std::max(top.perB, end.perB);
    top.c = std::max(top.c, end.c);
  }
  perB = top.perB;
  c = top.c;
  return llvm::Error::success();
}

static uint64_t fnv1a(const uint8_t *p, size_t n, uint64_t h) {
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

static std::string cString(llvm::StringRef s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\')
      out += '\\';
    if (static_cast<unsigned char>(ch) < 32)
      out += llvm::formatv("\\{0:o3}", (unsigned)(unsigned char)ch).str();
    else
      out += ch;
  }
  return out + "\"";
}

llvm::Expected<CpuProgram> Lowering::run(func::FuncOp fn) {
  Block &entry = fn.getBody().front();
  // Inputs.
  for (auto [i, arg] : llvm::enumerate(entry.getArguments())) {
    auto t = dyn_cast<RankedTensorType>(arg.getType());
    if (!t)
      return err("input " + llvm::Twine(i) + " is not a ranked tensor");
    auto rt = rtTypeOf(t.getElementType(), fn);
    if (!rt)
      return rt.takeError();
    auto shape = shapeOf(arg, fn);
    if (!shape)
      return shape.takeError();
    Buf b;
    b.kind = Buf::Input;
    b.index = i;
    b.type = *rt;
    b.shape = *shape;
    bufs.push_back(b);
    bufOf[arg] = bufs.size() - 1;
  }
  for (Operation &op : entry)
    if (llvm::Error e = lowerOp(&op))
      return std::move(e);
  // Outputs: a returned arena buffer is written straight into the caller's
  // output; anything else (an input, a constant, a value returned twice) is
  // copied.
  auto ret = cast<func::ReturnOp>(entry.getTerminator());
  SmallVector<int> outBufs;
  DenseSet<int> direct;
  for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
    auto b = use(v, ret);
    if (!b)
      return b.takeError();
    int r = root(*b);
    auto shape = shapeOf(v, ret);
    if (!shape)
      return shape.takeError();
    if (bufs[r].kind == Buf::Arena && !direct.count(r) &&
        bufs[r].bytes.perB == bufs[*b].bytes.perB &&
        bufs[r].bytes.c == bufs[*b].bytes.c) {
      bufs[r].kind = Buf::Output;
      bufs[r].index = i;
      direct.insert(r);
      outBufs.push_back(-1);
    } else {
      outBufs.push_back(*b);
    }
  }
  for (auto [i, b] : llvm::enumerate(outBufs)) {
    if (b < 0)
      continue;
    Buf o;
    o.kind = Buf::Output;
    o.index = i;
    o.type = bufs[b].type;
    o.bytes = bufs[b].bytes;
    bufs.push_back(o);
    Step s;
    s.what = "output " + llvm::Twine(i).str();
    s.kernel = "copy";
    s.args = {Arg::ptr(b), Arg::ptr(bufs.size() - 1),
              Arg::integer(bufs[b].bytes.perB), Arg::integer(bufs[b].bytes.c)};
    steps.push_back(s);
  }
  int64_t perB = 0, c = 0;
  if (llvm::Error e = planArena(perB, c))
    return std::move(e);
  return emit(fn, perB, c);
}

static const char *dtypeEnum(RtType t) {
  switch (t) {
  case RtType::F32:
    return "QOPT_F32";
  case RtType::U8:
    return "QOPT_U8";
  case RtType::I8:
    return "QOPT_I8";
  case RtType::I32:
    return "QOPT_I32";
  case RtType::I64:
    return "QOPT_I64";
  }
  return "QOPT_F32";
}

llvm::Expected<CpuProgram> Lowering::emit(func::FuncOp fn, int64_t perB,
                                          int64_t c) {
  MLIRContext *ctx = module.getContext();
  ctx->getOrLoadDialect<emitc::EmitCDialect>();
  CpuProgram prog;
  prog.target = targetName;
  prog.arenaPerBatch = perB;
  prog.arenaConst = c;

  // Weights header: magic, model id (hash of the contents), size.
  uint64_t h1 = fnv1a(blob.data() + 64, blob.size() - 64, 1469598103934665603ull);
  uint64_t h2 = fnv1a(reinterpret_cast<const uint8_t *>(targetName.data()),
                      targetName.size(), h1 ^ 0x9e3779b97f4a7c15ull);
  prog.modelId = llvm::formatv("{0:x-16}", h1 ^ (h2 << 1)).str();
  if (prog.modelId.size() != 16)
    prog.modelId.resize(16, '0');
  std::memcpy(blob.data(), "QOPTWGT1", 8);
  std::memcpy(blob.data() + 8, prog.modelId.data(), 16);
  uint64_t total = blob.size();
  std::memcpy(blob.data() + 24, &total, 8);

  OpBuilder b(ctx);
  Location loc = fn.getLoc();
  auto m = ModuleOp::create(loc);
  b.setInsertionPointToEnd(m.getBody());
  emitc::IncludeOp::create(b, loc, "qopt_cpu_codegen.h", false);

  // Metadata.
  std::string meta;
  llvm::raw_string_ostream os(meta);
  auto descs = [&](llvm::StringRef what, ArrayRef<Type> types,
                   std::function<std::string(unsigned)> nameOf) {
    os << "static const qopt_tensor_desc qopt_meta_" << what << "[] = {\n";
    for (auto [i, t] : llvm::enumerate(types)) {
      auto rt = cast<RankedTensorType>(t);
      auto e = rtTypeOf(rt.getElementType(), fn);
      os << "  {" << cString(nameOf(i)) << ", "
         << (e ? dtypeEnum(*e) : "QOPT_F32") << ", " << rt.getRank() << ", {";
      if (!e)
        llvm::consumeError(e.takeError());
      for (int64_t d = 0; d < rt.getRank(); ++d)
        os << (d ? ", " : "")
           << (ShapedType::isDynamic(rt.getDimSize(d)) ? -1 : rt.getDimSize(d));
      os << "}},\n";
    }
    if (types.empty())
      os << "  {\"\", QOPT_F32, 0, {0}},\n";
    os << "};\n";
  };
  auto argName = [&](unsigned i) -> std::string {
    if (auto n = fn.getArgAttrOfType<StringAttr>(i, "qopt.name"))
      return n.str();
    return "input" + std::to_string(i);
  };
  auto resName = [&](unsigned i) -> std::string {
    if (auto n = fn.getResultAttrOfType<StringAttr>(i, "qopt.name"))
      return n.str();
    return "output" + std::to_string(i);
  };
  os << "static const char qopt_meta_target[] = " << cString(targetName)
     << ";\n";
  os << "static const char qopt_meta_model_id[] = " << cString(prog.modelId)
     << ";\n";
  os << "static const int64_t qopt_meta_weights_bytes = " << blob.size()
     << ";\n";
  os << "static const int64_t qopt_meta_arena_per_batch = " << perB << ";\n";
  os << "static const int64_t qopt_meta_arena_const = " << c << ";\n";
  os << "static const int qopt_meta_has_batch = " << (hasBatch ? 1 : 0)
     << ";\n";
  os << "static const int qopt_meta_num_inputs = " << fn.getNumArguments()
     << ";\n";
  os << "static const int qopt_meta_num_outputs = " << fn.getNumResults()
     << ";\n";
  descs("inputs", fn.getArgumentTypes(), argName);
  descs("outputs", fn.getResultTypes(), resName);
  emitc::VerbatimOp::create(b, loc, b.getStringAttr(meta));

  // The forward function.
  Type ctxPtr = emitc::PointerType::get(emitc::OpaqueType::get(ctx, "qopt_cg::Ctx"));
  Type bytePtr = emitc::PointerType::get(b.getIntegerType(8, false));
  Type constBytePtr = emitc::OpaqueType::get(ctx, "const uint8_t *");
  auto fnType = b.getFunctionType({ctxPtr}, {});
  auto f = emitc::FuncOp::create(b, loc, "qopt_generated_forward", fnType);
  Block *body = f.addEntryBlock();
  b.setInsertionPointToEnd(body);
  Value ctxArg = body->getArgument(0);
  auto idx = [&](int64_t i) { return b.getIndexAttr(i); };

  // Pointer of each root buffer, created at first use.
  DenseMap<int, Value> ptrOf;
  auto ptr = [&](int bi) -> Value {
    int r = root(bi);
    auto it = ptrOf.find(r);
    if (it != ptrOf.end())
      return it->second;
    const Buf &x = bufs[r];
    auto call = [&](const char *fn, Type type, ArrayRef<int64_t> args) {
      SmallVector<Attribute> attrs{idx(0)};
      for (int64_t a : args)
        attrs.push_back(b.getI64IntegerAttr(a));
      return emitc::CallOpaqueOp::create(b, loc, TypeRange{type}, fn,
                                         ValueRange{ctxArg},
                                         b.getArrayAttr(attrs))
          .getResult(0);
    };
    Value v;
    switch (x.kind) {
    case Buf::Input:
      v = call("qopt_cg::input", constBytePtr, {x.index});
      break;
    case Buf::Weight:
      v = call("qopt_cg::weight", constBytePtr, {x.weightOff});
      break;
    case Buf::Output:
      v = call("qopt_cg::output", bytePtr, {x.index});
      break;
    case Buf::Arena:
      v = call("qopt_cg::arena", bytePtr, {x.offset.perB, x.offset.c});
      break;
    }
    ptrOf[r] = v;
    return v;
  };

  for (const Step &s : steps) {
    prog.calls.push_back({s.kernel, s.what});
    emitc::VerbatimOp::create(b, loc, b.getStringAttr("// " + s.what));
    SmallVector<Value> operands{ctxArg};
    SmallVector<Attribute> args{idx(0)};
    for (const Arg &a : s.args) {
      switch (a.kind) {
      case Arg::Ptr:
        operands.push_back(ptr(a.buf));
        args.push_back(idx(operands.size() - 1));
        break;
      case Arg::Int:
        args.push_back(b.getI64IntegerAttr(a.i));
        break;
      case Arg::Float:
        args.push_back(b.getF32FloatAttr(static_cast<float>(a.f)));
        break;
      }
    }
    SmallVector<Attribute> tmpl;
    for (int64_t t : s.tmpl)
      tmpl.push_back(b.getI64IntegerAttr(t));
    emitc::CallOpaqueOp::create(b, loc, TypeRange{}, "qopt_cg::" + s.kernel,
                                operands, b.getArrayAttr(args),
                                tmpl.empty() ? ArrayAttr()
                                             : b.getArrayAttr(tmpl));
  }
  emitc::ReturnOp::create(b, loc, Value());
  b.setInsertionPointToEnd(m.getBody());
  emitc::IncludeOp::create(b, loc, "qopt_cpu_api.h", false);
  if (failed(mlir::verify(m)))
    return err("internal error: the generated EmitC program does not verify");
  prog.program = OwningOpRef<ModuleOp>(m);
  prog.weights = std::move(blob);
  return prog;
}

} // namespace

//===----------------------------------------------------------------------===//
// Entry points
//===----------------------------------------------------------------------===//

llvm::Expected<CpuProgram>
qopt::codegen::lowerToCpu(ModuleOp module, const CpuCodegenOptions &options) {
  std::string target = options.target;
  if (target.empty())
    if (auto a = module->getAttrOfType<StringAttr>("qopt.target"))
      target = a.str();
  if (target.empty())
    target = qopt::hostCpuTarget();
  qopt_cpu::Target t;
  if (target == "cpu:avx512-vnni")
    t = qopt_cpu::Target::AVX512VNNI;
  else if (target == "cpu:avx2")
    t = qopt_cpu::Target::AVX2;
  else if (target == "cpu:generic")
    t = qopt_cpu::Target::Generic;
  else
    return err("target '" + target +
               "' is not a CPU target (cpu:avx512-vnni, cpu:avx2, "
               "cpu:generic)");

  // Work on a fused copy.
  OwningOpRef<ModuleOp> copy(cast<ModuleOp>(module->clone()));
  bool fused = false;
  copy->walk([&](FusedOp) { fused = true; });
  if (!fused) {
    PassManager pm(module.getContext());
    pm.addPass(qopt::createQOptFusePass());
    std::string diag;
    {
      ScopedDiagnosticHandler h(module.getContext(), [&](Diagnostic &d) {
        diag += d.str();
        return success();
      });
      if (failed(pm.run(*copy)))
        return err("qopt-fuse failed: " + diag);
    }
  }
  func::FuncOp fn;
  if (!options.function.empty())
    fn = copy->lookupSymbol<func::FuncOp>(options.function);
  else if (!(fn = copy->lookupSymbol<func::FuncOp>("main"))) {
    auto fns = llvm::to_vector(copy->getOps<func::FuncOp>());
    if (fns.size() == 1)
      fn = fns.front();
  }
  if (!fn || fn.isExternal())
    return err(options.function.empty()
                   ? "no @main function (name one with --function)"
                   : "no function @" + options.function);
  Lowering lowering(*copy, t, target);
  return lowering.run(fn);
}

llvm::Error qopt::codegen::printCpp(CpuProgram &program, llvm::raw_ostream &os) {
  std::string diag;
  ScopedDiagnosticHandler h(program.program->getContext(), [&](Diagnostic &d) {
    diag += d.str();
    return success();
  });
  os << "// Generated by qopt-translate --emit=cpu-library for "
     << program.target << ". Do not edit.\n";
  if (failed(emitc::translateToCpp(program.program.get(), os)))
    return err("C++ emission failed: " + diag);
  return llvm::Error::success();
}
