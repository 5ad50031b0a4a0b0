//===- QOptBase.td - qopt dialect definition ---------------*- tablegen -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECTS_QOPT_QOPTBASE_TD
#define QOPT_DIALECTS_QOPT_QOPTBASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def QOpt_Dialect : Dialect {
  let name = "qopt";
  let cppNamespace = "::qopt";
  let summary = "Quantization-aware tensor graphs";
  let description = [{
    The `qopt` dialect represents neural-network graphs (MLPs, CNNs, BERT-style
    encoders, Llama-style decoders) on builtin ranked tensors, in float and in
    quantized form. Quantized element types are the upstream
    `!quant.uniform` types (per-tensor, per-axis and sub-channel).

    Conventions:
    * Layouts follow ONNX: convolutions and pooling are NCHW, convolution
      filters are OIHW, `matmul` weights are `[K, N]`.
    * Elementwise binary ops use NumPy multidirectional broadcasting.
    * Negative `axis` attributes count from the end (`-1` is the last dim)
      and are accepted wherever an axis is taken.
    * Every op with a computable result shape implements
      `InferTypeOpInterface`; a declared result type may be more static than
      the inferred one but never contradict it.

    Numerics of the quantization ops (the reference executor implements
    exactly this): `quantize` computes
    `q = saturate(round_half_to_even(x / scale) + zero_point)` in `f32`,
    `dequantize` computes `(q - zero_point) * scale`, and `requantize`
    computes `saturate(round_half_to_even(f32(acc) * multiplier) + zp)` with
    `multiplier = scale_in / scale_out` in `f32`.
  }];
  let dependentDialects = ["::mlir::quant::QuantDialect"];
  let hasConstantMaterializer = 1;
}

class QOpt_Op<string mnemonic, list<Trait> traits = []>
    : Op<QOpt_Dialect, mnemonic, traits>;

#endif // QOPT_DIALECTS_QOPT_QOPTBASE_TD
