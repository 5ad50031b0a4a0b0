//===- QuantUtils.h - weight quantization shared by the passes --*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Weight quantization math and IR building blocks used by qopt-quantize,
// qopt-mixed-precision and qopt-smoothquant. The arithmetic is the executor's
// (kernels::quantizeLinear / dequantizeLinear), so what a pass predicts is
// what qopt-run computes.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_PASSES_QUANTUTILS_H
#define QOPT_PASSES_QUANTUTILS_H

#include "qopt/support/Tensor.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Operation.h"
#include "llvm/Support/Error.h"

#include <optional>
#include <string>

namespace qopt {

/// How a weight tensor is quantized.
struct WeightScheme {
  int64_t bits = 8;       ///< 2..8
  int64_t groupSize = 0;  ///< input channels per scale; 0 = per output channel
  bool symmetric = true;  ///< zero point 0, narrow range [-(2^(b-1)-1), 2^(b-1)-1]
  bool clipSearch = false;///< search a clipping ratio per channel/group
  /// "w8-channel-sym", "w4-g128-asym", ...
  std::string name() const;
};

/// Where a weight-bearing op keeps its constant weight.
struct WeightSite {
  unsigned operand = 1; ///< operand index of the weight
  int64_t outAxis = 1;  ///< output-channel dim of the weight
  int64_t inAxis = 0;   ///< reduction (input-channel) dim: groups run along it
};

/// qopt.matmul ([K,N]: out 1, in 0), qopt.gemm (B [K,N] or [N,K] with
/// trans_b), qopt.conv2d (OIHW: out 0, in 1) whose weight operand is produced
/// by a qopt.constant; std::nullopt otherwise.
std::optional<WeightSite> weightSiteOf(mlir::Operation *op);

/// qopt.gather whose table (operand 0) is a float constant of rank >= 2:
/// one scale per gathered row (slices along the gather axis); std::nullopt
/// otherwise. Embedding tables are never quantized below 8 bits.
std::optional<WeightSite> embeddingSiteOf(mlir::Operation *op);

/// The first NameLoc in the op's location (the ONNX node or Hugging Face
/// module name); empty when there is none.
std::string locationName(mlir::Operation *op);

/// locationName(op), else the op name ("qopt.matmul").
std::string opDisplayName(mlir::Operation *op);

/// A quantized weight. `values` has the weight's shape (I8 for signed, U8 for
/// unsigned storage). Per channel: `scale`/`zeroPoint` are 1-D along `axis`
/// (= outAxis) and blockSize is 0. Group-wise: they have the weight's rank,
/// dim `axis` (= inAxis) shortened to ceil(K / blockSize), as
/// kernels::quantizeLinear's blocked form wants.
struct QuantizedWeight {
  Tensor values;
  Tensor scale;     ///< F32
  Tensor zeroPoint; ///< values' dtype
  int64_t axis = 0;
  int64_t blockSize = 0;
  int64_t qmin = 0, qmax = 0;
  int64_t bits = 8;
  bool isSigned = true;
};

/// Quantizes an f32 weight. A channel or group whose values are all 0 gets
/// scale 1 (its values quantize to the zero point).
llvm::Expected<QuantizedWeight> quantizeWeight(const Tensor &w,
                                               const WeightSite &site,
                                               const WeightScheme &scheme);

/// (values - zeroPoint) * scale, as f32 with the weight's shape.
llvm::Expected<Tensor> dequantizeWeight(const QuantizedWeight &q);

/// The f32 value of a qopt.constant (any float type is converted); an error
/// when `v` is not produced by a qopt.constant.
llvm::Expected<Tensor> constantValue(mlir::Value v);

/// Builds a `qopt.constant` holding `t` with element type `elementType`
/// (which may be a sub-byte integer type: values are then packed, see
/// docs/numerics.md). Tensors with more than 16 elements become
/// dense_resource blobs named `blobName` (made unique by the context).
mlir::Value buildConstant(mlir::OpBuilder &b, mlir::Location loc,
                          const Tensor &t, mlir::Type elementType,
                          llvm::StringRef blobName);

/// The integer storage type for `bits`: 2 -> i2, 3..4 -> i4, 5..8 -> i8
/// (ui* when unsigned).
mlir::IntegerType storageType(mlir::MLIRContext *ctx, int64_t bits,
                              bool isSigned);

/// Builds the IR that yields the dequantized f32 weight of `q` for an op at
/// `loc`: symmetric per channel, a packed integer constant, quant.scast to a
/// per-axis !quant.uniform type and qopt.dequantize; otherwise (group-wise or
/// asymmetric: quant.scast only takes signless storage) constants for values,
/// scale (and zero point when asymmetric) and the operand form of
/// qopt.dequantize with axis/block_size.
mlir::Value buildDequantizedWeight(mlir::OpBuilder &b, mlir::Location loc,
                                   const QuantizedWeight &q,
                                   mlir::RankedTensorType floatType,
                                   llvm::StringRef blobName);

/// Signal-to-quantization-noise ratio in dB: 10 log10(sum x^2 / sum (x-y)^2);
/// +inf when equal.
double sqnrDb(const Tensor &reference, const Tensor &candidate);

} // namespace qopt

#endif // QOPT_PASSES_QUANTUTILS_H
