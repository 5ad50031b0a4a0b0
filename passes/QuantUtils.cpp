//===- QuantUtils.cpp - weight quantization shared by the passes ----------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#include "qopt/passes/QuantUtils.h"

#include "qopt/dialects/qopt/QOptOps.h"
#include "qopt/executor/Interpreter.h"
#include "qopt/executor/Kernels.h"

#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace qopt;

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

std::string WeightScheme::name() const {
  std::string s = "w" + std::to_string(bits);
  s += groupSize > 0 ? "-g" + std::to_string(groupSize) : "-channel";
  s += symmetric ? "-sym" : "-asym";
  if (clipSearch)
    s += "-clip";
  return s;
}

std::string qopt::locationName(Operation *op) {
  std::string name;
  op->getLoc()->walk([&](Location l) {
    if (auto n = dyn_cast<NameLoc>(l)) {
      name = n.getName().str();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return name;
}

std::string qopt::opDisplayName(Operation *op) {
  std::string name = locationName(op);
  return name.empty() ? op->getName().getStringRef().str() : name;
}

static bool isConstant(Value v) { return v && v.getDefiningOp<ConstantOp>(); }

std::optional<WeightSite> qopt::weightSiteOf(Operation *op) {
  return llvm::TypeSwitch<Operation *, std::optional<WeightSite>>(op)
      .Case([&](MatMulOp o) -> std::optional<WeightSite> {
        if (!isConstant(o.getRhs()))
          return std::nullopt;
        return WeightSite{1, 1, 0};
      })
      .Case([&](GemmOp o) -> std::optional<WeightSite> {
        if (!isConstant(o.getB()))
          return std::nullopt;
        return o.getTransB() ? WeightSite{1, 0, 1} : WeightSite{1, 1, 0};
      })
      .Case([&](Conv2DOp o) -> std::optional<WeightSite> {
        if (!isConstant(o.getFilter()))
          return std::nullopt;
        return WeightSite{1, 0, 1};
      })
      .Default([](Operation *) { return std::nullopt; });
}

std::optional<WeightSite> qopt::embeddingSiteOf(Operation *op) {
  auto gather = dyn_cast<GatherOp>(op);
  if (!gather || !isConstant(gather.getData()))
    return std::nullopt;
  auto type = cast<RankedTensorType>(gather.getData().getType());
  if (!isa<FloatType>(type.getElementType()) || type.getRank() < 2)
    return std::nullopt;
  int64_t axis = gather.getAxis();
  if (axis < 0)
    axis += type.getRank();
  return WeightSite{0, axis, axis == 0 ? 1 : 0};
}

llvm::Expected<Tensor> qopt::constantValue(Value v) {
  auto c = v ? v.getDefiningOp<ConstantOp>() : ConstantOp();
  if (!c)
    return makeError("value is not produced by a qopt.constant");
  auto t = tensorFromAttr(c.getValue());
  if (!t)
    return t.takeError();
  if (t->dtype() == DType::F32)
    return t;
  return kernels::cast(*t, DType::F32);
}

IntegerType qopt::storageType(MLIRContext *ctx, int64_t bits, bool isSigned) {
  unsigned width = bits <= 2 ? 2 : bits <= 4 ? 4 : 8;
  return IntegerType::get(ctx, width,
                          isSigned ? IntegerType::Signless
                                   : IntegerType::Unsigned);
}

namespace {
/// Maps every element of a weight to its channel / group index and back.
struct GroupLayout {
  std::vector<int64_t> shape;      // weight shape
  std::vector<int64_t> paramShape; // scale shape
  int64_t axis = 0, block = 0;     // block 0: per channel along axis

  int64_t numGroups() const {
    int64_t n = 1;
    for (int64_t d : paramShape)
      n *= d;
    return n;
  }
  /// Calls f(i, group) for every element i in row-major order. The weight
  /// is viewed as [outer, shape[axis], inner]; per channel the group is the
  /// axis index, blocked it is the row-major index into paramShape (the
  /// weight's shape with dim `axis` shortened to ceil(n / block)). Computed
  /// on the fly: no per-element table.
  template <typename F> void forEach(F f) const {
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis; ++d)
      outer *= shape[d];
    for (size_t d = axis + 1; d < shape.size(); ++d)
      inner *= shape[d];
    int64_t n = shape[axis];
    int64_t nb = block ? (n + block - 1) / block : 0;
    int64_t i = 0;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t k = 0; k < n; ++k) {
        int64_t base = block ? (o * nb + k / block) * inner : k;
        for (int64_t j = 0; j < inner; ++j, ++i)
          f(i, block ? base + j : base);
      }
  }
};

struct Range {
  float lo = 0.0f, hi = 0.0f; // always includes 0
};

/// Scale and zero point of one group for a clipped range.
void paramsFor(Range r, float ratio, const WeightScheme &s, int64_t qmin,
               int64_t qmax, float &scale, int64_t &zp) {
  float lo = r.lo * ratio, hi = r.hi * ratio;
  if (s.symmetric) {
    float m = std::max(-lo, hi);
    scale = m > 0 ? m / static_cast<float>(qmax) : 1.0f;
    zp = 0;
  } else {
    scale = hi > lo ? (hi - lo) / static_cast<float>(qmax - qmin) : 1.0f;
    double z = std::nearbyint(static_cast<double>(qmin) - lo / scale);
    zp = static_cast<int64_t>(std::clamp<double>(z, qmin, qmax));
  }
  if (!std::isfinite(scale) || scale < std::numeric_limits<float>::min())
    scale = 1.0f, zp = s.symmetric ? 0 : zp;
}

/// Squared error of quantizing x with (scale, zp) in [qmin, qmax].
inline double qerr(float x, float scale, int64_t zp, int64_t qmin,
                   int64_t qmax) {
  float q = std::nearbyint(x / scale) + static_cast<float>(zp);
  q = std::clamp(q, static_cast<float>(qmin), static_cast<float>(qmax));
  float d = (q - static_cast<float>(zp)) * scale - x;
  return static_cast<double>(d) * d;
}
} // namespace

llvm::Expected<QuantizedWeight>
qopt::quantizeWeight(const Tensor &w, const WeightSite &site,
                     const WeightScheme &scheme) {
  if (w.dtype() != DType::F32)
    return makeError("weight " + w.describe() + " is not f32");
  if (scheme.bits < 2 || scheme.bits > 8)
    return makeError(llvm::formatv("weight bits must be in 2..8, got {0}",
                                   scheme.bits)
                         .str());
  if (scheme.groupSize < 0)
    return makeError("group size must be >= 0");
  if (site.outAxis >= w.rank() || site.inAxis >= w.rank())
    return makeError("weight " + w.describe() + " has too few dims");
  QuantizedWeight q;
  q.bits = scheme.bits;
  q.isSigned = scheme.symmetric;
  if (scheme.symmetric) {
    q.qmax = (int64_t(1) << (scheme.bits - 1)) - 1;
    q.qmin = -q.qmax;
  } else {
    q.qmin = 0;
    q.qmax = (int64_t(1) << scheme.bits) - 1;
  }
  GroupLayout layout;
  layout.shape = w.shape();
  int64_t k = w.dim(site.inAxis);
  if (scheme.groupSize > 0 && scheme.groupSize < k) {
    layout.axis = site.inAxis;
    layout.block = scheme.groupSize;
    layout.paramShape = w.shape();
    layout.paramShape[site.inAxis] = (k + scheme.groupSize - 1) / scheme.groupSize;
  } else {
    layout.axis = site.outAxis;
    layout.block = 0;
    layout.paramShape = {w.dim(site.outAxis)};
  }
  int64_t ng = layout.numGroups();
  std::vector<Range> ranges(ng);
  const float *x = w.data<float>();
  int64_t n = w.numElements();
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i]))
      return makeError(llvm::formatv("weight element {0} is not finite", i).str());
  layout.forEach([&](int64_t i, int64_t g) {
    Range &r = ranges[g];
    r.lo = std::min(r.lo, x[i]);
    r.hi = std::max(r.hi, x[i]);
  });
  std::vector<float> ratio(ng, 1.0f);
  if (scheme.clipSearch) {
    constexpr int kSteps = 11; // 1.0, 0.95, ..., 0.5
    std::vector<double> err(static_cast<size_t>(ng) * kSteps, 0.0);
    std::vector<float> scales(static_cast<size_t>(ng) * kSteps);
    std::vector<int64_t> zps(static_cast<size_t>(ng) * kSteps);
    for (int64_t g = 0; g < ng; ++g)
      for (int s = 0; s < kSteps; ++s)
        paramsFor(ranges[g], 1.0f - 0.05f * s, scheme, q.qmin, q.qmax,
                  scales[g * kSteps + s], zps[g * kSteps + s]);
    layout.forEach([&](int64_t i, int64_t g) {
      for (int s = 0; s < kSteps; ++s)
        err[g * kSteps + s] += qerr(x[i], scales[g * kSteps + s],
                                    zps[g * kSteps + s], q.qmin, q.qmax);
    });
    for (int64_t g = 0; g < ng; ++g) {
      int best = 0;
      for (int s = 1; s < kSteps; ++s)
        if (err[g * kSteps + s] < err[g * kSteps + best])
          best = s;
      ratio[g] = 1.0f - 0.05f * best;
    }
  }
  DType storage = scheme.symmetric ? DType::I8 : DType::U8;
  q.scale = Tensor(DType::F32, layout.paramShape);
  q.zeroPoint = Tensor(storage, layout.paramShape);
  for (int64_t g = 0; g < ng; ++g) {
    float s;
    int64_t zp;
    paramsFor(ranges[g], ratio[g], scheme, q.qmin, q.qmax, s, zp);
    q.scale.mutableData<float>()[g] = s;
    q.zeroPoint.setFromDouble(g, static_cast<double>(zp));
  }
  q.axis = layout.axis;
  q.blockSize = layout.block;
  auto values = kernels::quantizeLinear(w, q.scale, &q.zeroPoint, q.axis,
                                        q.blockSize, storage, q.qmin, q.qmax);
  if (!values)
    return values.takeError();
  q.values = std::move(*values);
  return q;
}

llvm::Expected<Tensor> qopt::dequantizeWeight(const QuantizedWeight &q) {
  return kernels::dequantizeLinear(q.values, q.scale, &q.zeroPoint, q.axis,
                                   q.blockSize);
}

Value qopt::buildConstant(OpBuilder &b, Location loc, const Tensor &t,
                          Type elementType, StringRef blobName) {
  auto type = RankedTensorType::get(t.shape(), elementType);
  unsigned width = elementType.getIntOrFloatBitWidth();
  int64_t n = t.numElements();
  ElementsAttr attr;
  // Packed blobs exist for 2 and 4 bits only; other sub-byte widths keep
  // MLIR's own (unpacked) dense storage.
  bool packable = width == 2 || width == 4;
  if (n <= 16 || (width < 8 && !packable && isa<IntegerType>(elementType))) {
    if (auto it = dyn_cast<IntegerType>(elementType)) {
      SmallVector<APInt> vals;
      for (int64_t i = 0; i < n; ++i)
        vals.push_back(APInt(width, static_cast<uint64_t>(static_cast<int64_t>(
                                        t.getAsDouble(i))),
                             /*isSigned=*/!it.isUnsigned(), /*implicitTrunc=*/true));
      attr = DenseElementsAttr::get(type, vals);
    } else {
      auto ft = cast<FloatType>(elementType);
      SmallVector<APFloat> vals;
      for (int64_t i = 0; i < n; ++i) {
        APFloat v(t.getAsDouble(i));
        bool lost;
        v.convert(ft.getFloatSemantics(), APFloat::rmNearestTiesToEven, &lost);
        vals.push_back(v);
      }
      attr = DenseElementsAttr::get(type, vals);
    }
  } else if (width < 8) {
    std::vector<uint8_t> packed = packSubByte(t, width);
    ArrayRef<char> bytes(reinterpret_cast<const char *>(packed.data()),
                         packed.size());
    attr = DenseResourceElementsAttr::get(
        type, blobName,
        HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, 1,
                                                      /*dataIsMutable=*/false));
  } else {
    auto want = runtimeDType(elementType);
    Tensor data = t;
    if (want && *want != t.dtype()) {
      auto c = kernels::cast(t, *want);
      if (c)
        data = std::move(*c);
      else
        llvm::consumeError(c.takeError());
    }
    ArrayRef<char> bytes(static_cast<const char *>(data.rawData()),
                         data.byteSize());
    attr = DenseResourceElementsAttr::get(
        type, blobName,
        HeapAsmResourceBlob::allocateAndCopyWithAlign(
            bytes, dtypeSize(data.dtype()), /*dataIsMutable=*/false));
  }
  return ConstantOp::create(b, loc, type, attr).getResult();
}

Value qopt::buildDequantizedWeight(OpBuilder &b, Location loc,
                                   const QuantizedWeight &q,
                                   RankedTensorType floatType,
                                   StringRef blobName) {
  MLIRContext *ctx = b.getContext();
  IntegerType st = storageType(ctx, q.bits, q.isSigned);
  Value values = buildConstant(b, loc, q.values, st,
                               (blobName + ".q").str());
  // quant.scast wants signless storage, so unsigned (asymmetric) weights
  // use the operand form like group-wise ones.
  if (q.blockSize == 0 && q.isSigned) {
    SmallVector<double> scales;
    SmallVector<int64_t> zps;
    for (int64_t i = 0; i < q.scale.numElements(); ++i) {
      scales.push_back(q.scale.data<float>()[i]);
      zps.push_back(static_cast<int64_t>(q.zeroPoint.getAsDouble(i)));
    }
    Type qt = quant::UniformQuantizedPerAxisType::get(
        q.isSigned ? quant::QuantizationFlags::Signed : 0, st,
        floatType.getElementType(), scales, zps, q.axis, q.qmin, q.qmax);
    auto qtype = RankedTensorType::get(floatType.getShape(), qt);
    Value cast = quant::StorageCastOp::create(b, loc, qtype, values);
    return DequantizeOp::create(b, loc, floatType, cast, Value(), Value(),
                                b.getI64IntegerAttr(1), b.getI64IntegerAttr(0))
        .getResult();
  }
  Value scale = buildConstant(b, loc, q.scale, b.getF32Type(),
                              (blobName + ".scale").str());
  Value zp;
  if (!q.isSigned)
    zp = buildConstant(b, loc, q.zeroPoint, st, (blobName + ".zero_point").str());
  return DequantizeOp::create(b, loc, floatType, values, scale, zp,
                              b.getI64IntegerAttr(q.axis),
                              b.getI64IntegerAttr(q.blockSize))
      .getResult();
}

double qopt::sqnrDb(const Tensor &reference, const Tensor &candidate) {
  double sig = 0, noise = 0;
  int64_t n = std::min(reference.numElements(), candidate.numElements());
  for (int64_t i = 0; i < n; ++i) {
    double r = reference.getAsDouble(i), c = candidate.getAsDouble(i);
    sig += r * r;
    noise += (r - c) * (r - c);
  }
  if (noise == 0)
    return std::numeric_limits<double>::infinity();
  if (sig == 0)
    return -std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(sig / noise);
}
