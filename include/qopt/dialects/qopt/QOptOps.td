//===- QOptOps.td - qopt dialect operations ----------------*- tablegen -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECTS_QOPT_QOPTOPS_TD
#define QOPT_DIALECTS_QOPT_QOPTOPS_TD

include "qopt/dialects/qopt/QOptBase.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// Op classes
//===----------------------------------------------------------------------===//

// An op whose result type is computed from its operands and attributes.
class QOpt_InferOp<string mnemonic, list<Trait> traits = []>
    : QOpt_Op<mnemonic, traits # [Pure, InferTypeOpAdaptorWithIsCompatible]>;

class QOpt_BinaryOp<string mnemonic, string what>
    : QOpt_InferOp<mnemonic> {
  let summary = "elementwise " # what # " with NumPy broadcasting";
  let description = [{
    Computes `lhs }] # what # [{ rhs` elementwise. Operand shapes are
    broadcast NumPy-style; both operands have the same element type (float or
    signless integer).

    ```mlir
    %0 = qopt.}] # mnemonic # [{ %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$lhs, AnyRankedTensor:$rhs);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat =
      "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

class QOpt_UnaryOp<string mnemonic, string what, list<Trait> traits = []>
    : QOpt_Op<mnemonic, traits # [Pure, SameOperandsAndResultType]> {
  let summary = what;
  let description = [{
    Applies }] # what # [{ elementwise.

    ```mlir
    %0 = qopt.}] # mnemonic # [{ %x : tensor<4x8xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat]>:$input);
  let results = (outs RankedTensorOf<[AnyFloat]>:$output);
  let assemblyFormat = "$input attr-dict `:` type($output)";
}

//===----------------------------------------------------------------------===//
// Constants
//===----------------------------------------------------------------------===//

def QOpt_ConstantOp : QOpt_Op<"constant",
    [ConstantLike, Pure, InferTypeOpAdaptor]> {
  let summary = "a constant tensor";
  let description = [{
    A constant tensor. Large weights are `dense_resource` blobs (memory-mapped
    from the model file where possible), small ones are `dense` literals.

    ```mlir
    %w = qopt.constant dense_resource<fc1.weight> : tensor<64x10xf32>
    %b = qopt.constant dense<0.0> : tensor<10xf32>
    ```
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = "attr-dict $value";
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Linear algebra
//===----------------------------------------------------------------------===//

def QOpt_MatMulOp : QOpt_InferOp<"matmul"> {
  let summary = "activation × weight matrix product (a linear layer)";
  let description = [{
    Multiplies `lhs` of shape `[..., M, K]` by a rank-2 `rhs` of shape
    `[K, N]`, giving `[..., M, N]`. This is the form of every linear layer and
    the op weight quantization targets; products of two activations are
    `qopt.batch_matmul`.

    ```mlir
    %y = qopt.matmul %x, %w : (tensor<1x8x32xf32>, tensor<32x64xf32>) -> tensor<1x8x64xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat]>:$lhs,
                       RankedTensorOf<[AnyFloat]>:$rhs);
  let results = (outs RankedTensorOf<[AnyFloat]>:$output);
  let assemblyFormat =
      "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

def QOpt_BatchMatMulOp : QOpt_InferOp<"batch_matmul"> {
  let summary = "batched matrix product with broadcast batch dimensions";
  let description = [{
    `[..., M, K] × [..., K, N] → [..., M, N]` where the leading (batch)
    dimensions broadcast NumPy-style. Both operands have rank ≥ 2.

    ```mlir
    %s = qopt.batch_matmul %q, %kt : (tensor<1x4x8x16xf32>, tensor<1x4x16x8xf32>) -> tensor<1x4x8x8xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat]>:$lhs,
                       RankedTensorOf<[AnyFloat]>:$rhs);
  let results = (outs RankedTensorOf<[AnyFloat]>:$output);
  let assemblyFormat =
      "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

def QOpt_GemmOp : QOpt_InferOp<"gemm"> {
  let summary = "general matrix multiply `alpha * op(A) op(B) + beta * C`";
  let description = [{
    ONNX `Gemm`: `A` and `B` are rank 2 and optionally transposed; `C` is
    optional and broadcasts to `[M, N]`.

    ```mlir
    %y = qopt.gemm %a, %b, %c {trans_b = true} : (tensor<1x784xf32>, tensor<10x784xf32>, tensor<10xf32>) -> tensor<1x10xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat]>:$a,
                       RankedTensorOf<[AnyFloat]>:$b,
                       Optional<RankedTensorOf<[AnyFloat]>>:$c,
                       DefaultValuedAttr<F32Attr, "1.0">:$alpha,
                       DefaultValuedAttr<F32Attr, "1.0">:$beta,
                       DefaultValuedAttr<BoolAttr, "false">:$trans_a,
                       DefaultValuedAttr<BoolAttr, "false">:$trans_b);
  let results = (outs RankedTensorOf<[AnyFloat]>:$output);
  let assemblyFormat =
      "$a `,` $b (`,` $c^)? attr-dict `:` functional-type(operands, results)";
}

def QOpt_Conv2DOp : QOpt_InferOp<"conv2d"> {
  let summary = "2-D convolution (NCHW input, OIHW filter)";
  let description = [{
    Grouped, strided, padded and dilated 2-D convolution. `pads` is
    `[top, left, bottom, right]`; the filter has shape
    `[O, C / groups, KH, KW]`; the optional bias has shape `[O]`.

    ```mlir
    %y = qopt.conv2d %x, %w, %b {strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>}
        : (tensor<1x3x32x32xf32>, tensor<16x3x3x3xf32>, tensor<16xf32>) -> tensor<1x16x16x16xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat]>:$input,
                       RankedTensorOf<[AnyFloat]>:$filter,
                       Optional<RankedTensorOf<[AnyFloat]>>:$bias,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$strides,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0, 0, 0}">:$pads,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$dilations,
                       DefaultValuedAttr<I64Attr, "1">:$groups);
  let results = (outs RankedTensorOf<[AnyFloat]>:$output);
  let assemblyFormat = "$input `,` $filter (`,` $bias^)? attr-dict `:` "
                       "functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Pooling
//===----------------------------------------------------------------------===//

def QOpt_MaxPool2DOp : QOpt_InferOp<"max_pool2d"> {
  let summary = "2-D max pooling (NCHW)";
  let description = [{
    Max pooling with `kernel_shape`, `strides`, `pads` (`[top, left, bottom,
    right]`), `dilations` and `ceil_mode` as in ONNX `MaxPool`. Padding
    positions never win the max.

    ```mlir
    %y = qopt.max_pool2d %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>}
        : (tensor<1x8x16x16xf32>) -> tensor<1x8x8x8xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat, AnyInteger]>:$input,
                       DenseI64ArrayAttr:$kernel_shape,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$strides,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0, 0, 0}">:$pads,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$dilations,
                       DefaultValuedAttr<BoolAttr, "false">:$ceil_mode);
  let results = (outs RankedTensorOf<[AnyFloat, AnyInteger]>:$output);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def QOpt_AvgPool2DOp : QOpt_InferOp<"avg_pool2d"> {
  let summary = "2-D average pooling (NCHW)";
  let description = [{
    Average pooling as in ONNX `AveragePool`; `count_include_pad` decides
    whether padding positions count in the divisor.

    ```mlir
    %y = qopt.avg_pool2d %x {kernel_shape = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>}
        : (tensor<1x8x16x16xf32>) -> tensor<1x8x16x16xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat]>:$input,
                       DenseI64ArrayAttr:$kernel_shape,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$strides,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0, 0, 0}">:$pads,
                       DefaultValuedAttr<BoolAttr, "false">:$ceil_mode,
                       DefaultValuedAttr<BoolAttr, "false">:$count_include_pad);
  let results = (outs RankedTensorOf<[AnyFloat]>:$output);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def QOpt_GlobalAvgPoolOp : QOpt_InferOp<"global_avg_pool"> {
  let summary = "mean over all spatial dimensions";
  let description = [{
    `[N, C, D1, ..., Dk] → [N, C, 1, ..., 1]`.

    ```mlir
    %y = qopt.global_avg_pool %x : (tensor<1x64x7x7xf32>) -> tensor<1x64x1x1xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat]>:$input);
  let results = (outs RankedTensorOf<[AnyFloat]>:$output);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

def QOpt_AddOp : QOpt_BinaryOp<"add", "+"> { let hasFolder = 1; }
def QOpt_SubOp : QOpt_BinaryOp<"sub", "-">;
def QOpt_MulOp : QOpt_BinaryOp<"mul", "*"> { let hasFolder = 1; }
def QOpt_DivOp : QOpt_BinaryOp<"div", "/">;
def QOpt_PowOp : QOpt_BinaryOp<"pow", "to the power of">;

def QOpt_SqrtOp : QOpt_UnaryOp<"sqrt", "square root">;
def QOpt_ExpOp : QOpt_UnaryOp<"exp", "the natural exponential">;
def QOpt_ErfOp : QOpt_UnaryOp<"erf", "the Gauss error function">;
def QOpt_TanhOp : QOpt_UnaryOp<"tanh", "the hyperbolic tangent">;
def QOpt_SigmoidOp : QOpt_UnaryOp<"sigmoid", "the logistic function 1 / (1 + exp(-x))">;
def QOpt_ReluOp : QOpt_UnaryOp<"relu", "max(x, 0)">;
def QOpt_SiluOp : QOpt_UnaryOp<"silu", "x * sigmoid(x) (SiLU / swish)">;
def QOpt_NegOp : QOpt_UnaryOp<"neg", "negation">;

def QOpt_GeluOp : QOpt_Op<"gelu", [Pure, SameOperandsAndResultType]> {
  let summary = "Gaussian error linear unit";
  let description = [{
    `approximate = "none"` computes `0.5 x (1 + erf(x / sqrt(2)))`;
    `approximate = "tanh"` computes
    `0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))`.

    ```mlir
    %y = qopt.gelu %x {approximate = "tanh"} : tensor<1x8x64xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat]>:$input,
                       DefaultValuedStrAttr<StrAttr, "none">:$approximate);
  let results = (outs RankedTensorOf<[AnyFloat]>:$output);
  let assemblyFormat = "$input attr-dict `:` type($output)";
  let hasVerifier = 1;
}

def QOpt_SoftmaxOp : QOpt_Op<"softmax", [Pure, SameOperandsAndResultType]> {
  let summary = "softmax along one axis";
  let description = [{
    `exp(x - max) / sum(exp(x - max))` along `axis` (ONNX opset 13
    semantics).

    ```mlir
    %p = qopt.softmax %s {axis = -1 : i64} : tensor<1x4x8x8xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat]>:$input,
                       DefaultValuedAttr<I64Attr, "-1">:$axis);
  let results = (outs RankedTensorOf<[AnyFloat]>:$output);
  let assemblyFormat = "$input attr-dict `:` type($output)";
  let hasVerifier = 1;
}

def QOpt_LayerNormOp : QOpt_InferOp<"layer_norm"> {
  let summary = "layer normalization over the trailing dimensions";
  let description = [{
    Normalizes over dimensions `[axis, rank)`:
    `(x - mean) / sqrt(var + epsilon) * scale + bias`. `scale` and the
    optional `bias` broadcast to the normalized dimensions.

    ```mlir
    %y = qopt.layer_norm %x, %gamma, %beta {epsilon = 1.0e-12 : f32}
        : (tensor<1x8x32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<1x8x32xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat]>:$input,
                       RankedTensorOf<[AnyFloat]>:$scale,
                       Optional<RankedTensorOf<[AnyFloat]>>:$bias,
                       DefaultValuedAttr<I64Attr, "-1">:$axis,
                       DefaultValuedAttr<F32Attr, "1.0e-5">:$epsilon);
  let results = (outs RankedTensorOf<[AnyFloat]>:$output);
  let assemblyFormat = "$input `,` $scale (`,` $bias^)? attr-dict `:` "
                       "functional-type(operands, results)";
}

def QOpt_RMSNormOp : QOpt_InferOp<"rms_norm"> {
  let summary = "root-mean-square normalization over the trailing dimensions";
  let description = [{
    `x / sqrt(mean(x^2 over [axis, rank)) + epsilon) * scale` (Llama's
    RMSNorm).

    ```mlir
    %y = qopt.rms_norm %x, %g {epsilon = 1.0e-6 : f32}
        : (tensor<1x8x32xf32>, tensor<32xf32>) -> tensor<1x8x32xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat]>:$input,
                       RankedTensorOf<[AnyFloat]>:$scale,
                       DefaultValuedAttr<I64Attr, "-1">:$axis,
                       DefaultValuedAttr<F32Attr, "1.0e-6">:$epsilon);
  let results = (outs RankedTensorOf<[AnyFloat]>:$output);
  let assemblyFormat = "$input `,` $scale attr-dict `:` "
                       "functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

class QOpt_ReduceOp<string mnemonic, string what> : QOpt_InferOp<mnemonic> {
  let summary = what # " over the given axes";
  let description = [{
    Reduces `input` over `axes` (all axes when empty), keeping reduced
    dimensions as size 1 when `keepdims` is true.

    ```mlir
    %m = qopt.}] # mnemonic # [{ %x {axes = array<i64: -1>} : (tensor<1x8x32xf32>) -> tensor<1x8x1xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat, AnyInteger]>:$input,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{}">:$axes,
                       DefaultValuedAttr<BoolAttr, "true">:$keepdims);
  let results = (outs RankedTensorOf<[AnyFloat, AnyInteger]>:$output);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def QOpt_ReduceMeanOp : QOpt_ReduceOp<"reduce_mean", "arithmetic mean">;
def QOpt_ReduceSumOp : QOpt_ReduceOp<"reduce_sum", "sum">;
def QOpt_ReduceMaxOp : QOpt_ReduceOp<"reduce_max", "maximum">;

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

def QOpt_ReshapeOp : QOpt_Op<"reshape", [Pure]> {
  let summary = "reinterpret the shape, keeping row-major element order";
  let description = [{
    The result type gives the new shape; element count and element type are
    unchanged. Quantized element types pass through unchanged.

    ```mlir
    %y = qopt.reshape %x : (tensor<1x8x32xf32>) -> tensor<1x8x4x8xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let hasFolder = 1;
  let hasCanonicalizer = 1;
}

def QOpt_TransposeOp : QOpt_InferOp<"transpose"> {
  let summary = "permute dimensions";
  let description = [{
    `output.shape[i] = input.shape[perm[i]]`.

    ```mlir
    %y = qopt.transpose %x {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x8x4x8xf32>) -> tensor<1x4x8x8xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, DenseI64ArrayAttr:$perm);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasFolder = 1;
  let hasCanonicalizer = 1;
}

def QOpt_ConcatOp : QOpt_InferOp<"concat"> {
  let summary = "concatenate tensors along an axis";
  let description = [{
    ```mlir
    %y = qopt.concat %a, %b {axis = 1 : i64} : (tensor<1x4xf32>, tensor<1x6xf32>) -> tensor<1x10xf32>
    ```
  }];
  let arguments = (ins Variadic<AnyRankedTensor>:$inputs, I64Attr:$axis);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = "$inputs attr-dict `:` functional-type(operands, results)";
  let hasFolder = 1;
}

def QOpt_SliceOp : QOpt_InferOp<"slice"> {
  let summary = "strided slice with one (start, end, step) per dimension";
  let description = [{
    One entry per dimension. `starts`/`ends` are already normalized: for a
    positive step, `0 <= start <= end <= dim`; for a negative step,
    `-1 <= end <= start <= dim - 1` (an `end` of `-1` means "through index
    0"). The importer normalizes ONNX `Slice` (negative indices, clamping,
    omitted axes) into this form.

    ```mlir
    %y = qopt.slice %x {starts = array<i64: 0, 2>, ends = array<i64: 1, 8>, steps = array<i64: 1, 2>}
        : (tensor<1x8xf32>) -> tensor<1x3xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, DenseI64ArrayAttr:$starts,
                       DenseI64ArrayAttr:$ends, DenseI64ArrayAttr:$steps);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def QOpt_GatherOp : QOpt_InferOp<"gather"> {
  let summary = "gather slices along an axis (embedding lookup)";
  let description = [{
    ONNX `Gather`: `output.shape = data.shape[:axis] + indices.shape +
    data.shape[axis+1:]`; negative indices count from the end; an index out of
    range is a runtime error.

    ```mlir
    %e = qopt.gather %table, %ids {axis = 0 : i64} : (tensor<64x32xf32>, tensor<1x8xi64>) -> tensor<1x8x32xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$data,
                       RankedTensorOf<[I32, I64]>:$indices,
                       DefaultValuedAttr<I64Attr, "0">:$axis);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat =
      "$data `,` $indices attr-dict `:` functional-type(operands, results)";
}

def QOpt_WhereOp : QOpt_InferOp<"where"> {
  let summary = "elementwise select with broadcasting";
  let description = [{
    ```mlir
    %y = qopt.where %mask, %a, %b : (tensor<8x8xi1>, tensor<1x4x8x8xf32>, tensor<f32>) -> tensor<1x4x8x8xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[I1]>:$condition,
                       AnyRankedTensor:$true_value, AnyRankedTensor:$false_value);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = "$condition `,` $true_value `,` $false_value attr-dict "
                       "`:` functional-type(operands, results)";
}

def QOpt_CastOp : QOpt_Op<"cast", [Pure]> {
  let summary = "convert element type (ONNX Cast semantics)";
  let description = [{
    Float to integer truncates toward zero; out-of-range values are undefined
    in ONNX and saturate in qopt; anything to `i1` is `x != 0`. For quantized
    conversions use `qopt.quantize` / `qopt.dequantize`.

    ```mlir
    %y = qopt.cast %x : tensor<4xf32> to tensor<4xf16>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($output)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Quantization
//===----------------------------------------------------------------------===//

def QOpt_ObserveOp : QOpt_Op<"observe", [Pure, SameOperandsAndResultType]> {
  let summary = "calibration probe";
  let description = [{
    Passes its input through unchanged and marks a tensor whose value range
    calibration records. `granularity` is `per_tensor`, `per_channel` (with
    `axis`) or `per_token`; calibration stores its statistics in `stats`
    (for example `{min = ..., max = ..., samples = ...}`) so they print in
    the IR. `name` identifies the probe in reports.

    ```mlir
    %y = qopt.observe %x {name = "fc1.input", granularity = "per_tensor"} : tensor<1x64xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat]>:$input,
                       OptionalAttr<StrAttr>:$name,
                       DefaultValuedStrAttr<StrAttr, "per_tensor">:$granularity,
                       OptionalAttr<I64Attr>:$axis,
                       OptionalAttr<DictionaryAttr>:$stats);
  let results = (outs RankedTensorOf<[AnyFloat]>:$output);
  let assemblyFormat = "$input attr-dict `:` type($output)";
  let hasVerifier = 1;
}

def QOpt_QuantizeOp : QOpt_Op<"quantize", [Pure, AttrSizedOperandSegments]> {
  let summary = "float to quantized: saturate(round_half_to_even(x / scale) + zp)";
  let description = [{
    Two forms:

    * **Static**: the result element type is a `!quant.uniform` type
      (per-tensor, per-axis or sub-channel) that carries scale and zero point.
    * **Dynamic** (ONNX `QuantizeLinear` with run-time parameters): `scale`
      (float, scalar or 1-D along `axis`) and optional `zero_point` operands;
      the result is a signless integer tensor. Without `zero_point` the zero
      point is 0.

    ```mlir
    !q = !quant.uniform<i8:f32, 0.05:-3>
    %q = qopt.quantize %x : (tensor<1x64xf32>) -> tensor<1x64x!q>
    %r = qopt.quantize %x, %s, %zp : (tensor<1x64xf32>, tensor<f32>, tensor<ui8>) -> tensor<1x64xui8>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat]>:$input,
                       Optional<RankedTensorOf<[AnyFloat]>>:$scale,
                       Optional<AnyRankedTensor>:$zero_point,
                       DefaultValuedAttr<I64Attr, "1">:$axis,
                       DefaultValuedAttr<I64Attr, "0">:$block_size);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = "$input (`,` $scale^)? (`,` $zero_point^)? attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def QOpt_DequantizeOp : QOpt_Op<"dequantize", [Pure, AttrSizedOperandSegments]> {
  let summary = "quantized to float: (q - zero_point) * scale";
  let description = [{
    Inverse of `qopt.quantize`, with the same two forms: the parameters come
    from the operand's `!quant.uniform` element type, or from `scale` /
    `zero_point` operands (ONNX `DequantizeLinear`).

    ```mlir
    %x = qopt.dequantize %q : (tensor<64x10x!quant.uniform<i8:f32:1, {0.1, 0.2}>>) -> tensor<64x10xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input,
                       Optional<RankedTensorOf<[AnyFloat]>>:$scale,
                       Optional<AnyRankedTensor>:$zero_point,
                       DefaultValuedAttr<I64Attr, "1">:$axis,
                       DefaultValuedAttr<I64Attr, "0">:$block_size);
  let results = (outs RankedTensorOf<[AnyFloat]>:$output);
  let assemblyFormat = "$input (`,` $scale^)? (`,` $zero_point^)? attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

def QOpt_RequantizeOp : QOpt_Op<"requantize", [Pure, AttrSizedOperandSegments]> {
  let summary = "rescale integers: saturate(rne(f32(acc) * multiplier) + zp)";
  let description = [{
    Converts an integer accumulator to another quantized type. Static form:
    input and result element types are `!quant.uniform` and
    `multiplier = scale_in / scale_out` (per axis when either is per-axis).
    Dynamic form (ONNX `QLinearMatMul`/`QLinearConv` epilogue): a float
    `multiplier` operand (scalar or 1-D along `axis`) and optional
    `zero_point`; integer result. All arithmetic is `f32` with round half to
    even, then the output zero point is added and the result saturates.

    ```mlir
    %y = qopt.requantize %acc : (tensor<1x10x!quant.uniform<i32:f32, 0.0005>>) -> tensor<1x10x!quant.uniform<i8:f32, 0.1:4>>
    %z = qopt.requantize %acc, %m, %zp : (tensor<2x4xi32>, tensor<f32>, tensor<ui8>) -> tensor<2x4xui8>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input,
                       Optional<RankedTensorOf<[AnyFloat]>>:$multiplier,
                       Optional<AnyRankedTensor>:$zero_point,
                       DefaultValuedAttr<I64Attr, "1">:$axis);
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = "$input (`,` $multiplier^)? (`,` $zero_point^)? attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

def QOpt_MatMulIntegerOp : QOpt_InferOp<"matmul_integer", [AttrSizedOperandSegments]> {
  let summary = "integer matrix product with int32 accumulation";
  let description = [{
    ONNX `MatMulInteger`: `(lhs - lhs_zero_point) × (rhs - rhs_zero_point)`
    accumulated exactly in `i32`, with NumPy batch broadcasting. Operands are
    8-bit integers (or `!quant.uniform` types, whose zero points are used);
    `lhs_zero_point` is a scalar or one value per row (`[M]`),
    `rhs_zero_point` a scalar or one value per column (`[N]`).

    ```mlir
    %acc = qopt.matmul_integer %a, %b, %azp, %bzp
        : (tensor<4x3xui8>, tensor<3x2xui8>, tensor<ui8>, tensor<ui8>) -> tensor<4x2xi32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$lhs, AnyRankedTensor:$rhs,
                       Optional<AnyRankedTensor>:$lhs_zero_point,
                       Optional<AnyRankedTensor>:$rhs_zero_point);
  let results = (outs RankedTensorOf<[I32]>:$output);
  let assemblyFormat = "$lhs `,` $rhs (`,` $lhs_zero_point^)? (`,` $rhs_zero_point^)? "
                       "attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def QOpt_Conv2DIntegerOp : QOpt_InferOp<"conv2d_integer", [AttrSizedOperandSegments]> {
  let summary = "integer 2-D convolution with int32 accumulation";
  let description = [{
    ONNX `ConvInteger` (NCHW / OIHW): `(x - input_zero_point) ⊛
    (w - filter_zero_point)` accumulated in `i32`. `filter_zero_point` is a
    scalar or one value per output channel. Attributes as in `qopt.conv2d`.

    ```mlir
    %acc = qopt.conv2d_integer %x, %w, %xzp
        : (tensor<1x1x3x3xui8>, tensor<1x1x2x2xui8>, tensor<ui8>) -> tensor<1x1x2x2xi32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$filter,
                       Optional<AnyRankedTensor>:$input_zero_point,
                       Optional<AnyRankedTensor>:$filter_zero_point,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$strides,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0, 0, 0}">:$pads,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$dilations,
                       DefaultValuedAttr<I64Attr, "1">:$groups);
  let results = (outs RankedTensorOf<[I32]>:$output);
  let assemblyFormat = "$input `,` $filter (`,` $input_zero_point^)? "
                       "(`,` $filter_zero_point^)? attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

def QOpt_DynamicQuantizeOp : QOpt_Op<"dynamic_quantize", [Pure]> {
  let summary = "quantize with a scale and zero point computed at run time";
  let description = [{
    Two schemes:

    * default (ONNX `DynamicQuantizeLinear`): the range
      `[min(0, min x), max(0, max x)]` of the whole tensor maps onto
      `[0, 255]`; returns the `ui8` tensor, the scalar scale and zero point.
    * `per_token`: one symmetric scale per row (every index of the leading
      dims): `scale = max|x_row| / 127` (1 for an all-zero row),
      `q = clamp(round_half_to_even(x / scale), -127, 127)` as `i8`; scale
      and zero point (all 0, `i8`) have the input's shape with the last dim
      1, so `qopt.dequantize %q, %s, %zp {axis = rank-1, block_size = K}`
      inverts it. This is what dynamic W8A8 uses.

    Non-finite inputs are a run-time error.

    ```mlir
    %q, %s, %zp = qopt.dynamic_quantize %x : tensor<1x64xf32> -> tensor<1x64xui8>, tensor<f32>, tensor<ui8>
    %t, %ts, %tz = qopt.dynamic_quantize %x {per_token} : tensor<4x64xf32> -> tensor<4x64xi8>, tensor<4x1xf32>, tensor<4x1xi8>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F32]>:$input, UnitAttr:$per_token);
  let results = (outs RankedTensorOf<[UI8, I8]>:$output,
                      RankedTensorOf<[F32]>:$scale,
                      RankedTensorOf<[UI8, I8]>:$zero_point);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type(results)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Fusion
//===----------------------------------------------------------------------===//

def QOpt_FusedOp : QOpt_Op<"fused",
    [IsolatedFromAbove, RecursiveMemoryEffects]> {
  let summary = "a group of ops that runs as one kernel";
  let description = [{
    Written by `qopt-fuse`: the ops of `body` run as one unit (one kernel,
    intermediate values never stored). The region is isolated from above:
    every value the group reads, constants included, is an operand, and the
    entry block's arguments are the operands one for one (same types). The
    body ends with `qopt.yield`, whose values are the op's results. Running
    it is running the body's ops in order, so a fused module computes
    exactly what the unfused one did.

    `kind` says which kernel family the group belongs to:

    * `linear`: `matmul` / `gemm` / `conv2d` / `matmul_integer` /
      `conv2d_integer` with its epilogue (bias add, activation, rescale,
      `quant.scast`, and a final `requantize` / `quantize` to the next op's
      scale, or `dequantize`);
    * `dequant_matmul`: a weight-only layer, the `dequantize` of a constant
      integer weight and the `matmul` / `gemm` / `conv2d` using it (plus the
      epilogue);
    * `norm_quantize`: `layer_norm` / `rms_norm` and the `quantize` of its
      result;
    * `elementwise`: two or more elementwise ops (with broadcasting).

    The op's location is the layer's (the anchor op's name), so per-layer
    reports keep their names.

    ```mlir
    %y = qopt.fused "linear" (%x, %w, %b) : (tensor<?x64xf32>, tensor<64x32xf32>, tensor<32xf32>) -> tensor<?x32xf32> {
    ^bb0(%a: tensor<?x64xf32>, %wt: tensor<64x32xf32>, %bias: tensor<32xf32>):
      %0 = qopt.matmul %a, %wt : (tensor<?x64xf32>, tensor<64x32xf32>) -> tensor<?x32xf32>
      %1 = qopt.add %0, %bias : (tensor<?x32xf32>, tensor<32xf32>) -> tensor<?x32xf32>
      %2 = qopt.relu %1 : tensor<?x32xf32>
      qopt.yield %2 : tensor<?x32xf32>
    }
    ```
  }];
  let arguments = (ins Variadic<AnyRankedTensor>:$inputs, StrAttr:$kind);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$kind ` ` `(` $inputs `)` `:` functional-type($inputs, results) "
                       "attr-dict-with-keyword $body";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The kinds `kind` may name.
    static llvm::ArrayRef<llvm::StringLiteral> knownKinds();
    mlir::Block &getBodyBlock() { return getBody().front(); }
  }];
}

def QOpt_YieldOp : QOpt_Op<"yield",
    [Pure, Terminator, HasParent<"FusedOp">]> {
  let summary = "the results of a `qopt.fused` body";
  let description = [{
    Terminates the body of `qopt.fused`; its operands become the fused op's
    results (same number and types).

    ```mlir
    qopt.yield %2 : tensor<?x32xf32>
    ```
  }];
  let arguments = (ins Variadic<AnyRankedTensor>:$values);
  let assemblyFormat = "($values^ `:` type($values))? attr-dict";
}

#endif // QOPT_DIALECTS_QOPT_QOPTOPS_TD
