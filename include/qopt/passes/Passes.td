//===- Passes.td - qopt graph-level quantization passes ----*- tablegen -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_PASSES_PASSES_TD
#define QOPT_PASSES_PASSES_TD

include "mlir/Pass/PassBase.td"

def QOptInsertObserversPass : Pass<"qopt-insert-observers", "mlir::ModuleOp"> {
  let summary = "Put calibration probes on the activations that will be quantized";
  let description = [{
    Inserts a `qopt.observe` on every activation operand of the ops that a
    quantization scheme quantizes: the input of `qopt.matmul`, `qopt.gemm`
    and `qopt.conv2d`, and both operands of `qopt.batch_matmul`. Constant
    operands (weights) are not observed; they are quantized from their
    values. A value feeding several such ops gets one probe, named after its
    first consumer (`<op name>:<operand>`, the op name being the ONNX node or
    Hugging Face module in the op's location).

    `granularity` chooses what calibration records: `per_tensor` (one range),
    `per_channel` (one range per input channel: the last dim of a matmul
    input, dim 1 of a convolution input; what SmoothQuant needs) or
    `per_token` (for dynamic schemes).

    Before:

    ```mlir
    %y = qopt.gemm %x, %w, %b {trans_b = true} : (tensor<1x64xf32>, tensor<32x64xf32>, tensor<32xf32>) -> tensor<1x32xf32> loc("fc1")
    ```

    After `--qopt-insert-observers`:

    ```mlir
    %0 = qopt.observe %x {name = "fc1:a"} : tensor<1x64xf32>
    %y = qopt.gemm %0, %w, %b {trans_b = true} : (tensor<1x64xf32>, tensor<32x64xf32>, tensor<32xf32>) -> tensor<1x32xf32>
    ```
  }];
  let options = [
    Option<"granularity", "granularity", "std::string", "\"per_tensor\"",
           "What to record: per_tensor, per_channel or per_token">,
  ];
  let dependentDialects = ["::qopt::QOptDialect"];
}

def QOptCalibratePass : Pass<"qopt-calibrate", "mlir::ModuleOp"> {
  let summary = "Record activation ranges on the calibration probes from sample data";
  let description = [{
    Runs the module's function (`main`, or the only function) with the
    reference executor on calibration samples and records, on every
    `qopt.observe`, the range that quantization will use, as a `stats`
    dictionary:

    * `min`, `max` (f32): the chosen clipping range for `method`;
    * `abs_max` (f32): the largest observed magnitude;
    * `samples` (i64): how many calibration samples were run;
    * `method` (string): the method that chose `min`/`max`;
    * for `per_channel` probes also `channel_min` and `channel_max`
      (`array<f32: ...>`, one entry per index of the probe's `axis`): the
      observed extremes of each channel.

    `calibration-data` is an `.npz` (or `.npy` for a single input) whose
    arrays are named like the function's arguments (`qopt.name`, else
    `input_<i>`); the first dim of every array is the sample dim, and all
    arrays have the same number N of samples. `batch-size` samples are run
    at a time (slices along dim 0), so the argument types must accept the
    slice shape (each dim dynamic or equal). When dim 0 of an argument is
    static and N is not a multiple of the batch size, the last partial batch
    is skipped with a warning. `max-samples` limits N (0: all).

    Methods (the last three are symmetric: they choose a threshold T on
    |x| and clip the observed range to [-T, T]):

    * `minmax`: the observed extremes.
    * `percentile`: T is the `percentile`-th percentile of |x| (linear
      within a histogram bin).
    * `entropy`: TensorRT-style: the T (a bin edge from bin 128 to
      `num-bins`) whose 128-level quantization of the |x| histogram has the
      smallest KL divergence from the clipped histogram.
    * `mse`: the T (same candidates) minimizing the expected squared error
      of symmetric int8 quantization (scale T/127) over the histogram's bin
      centers.

    Statistics are streamed, never keeping activations: a first pass over
    the data records running minima and maxima (per channel too); for the
    histogram methods a second pass fills a `num-bins` histogram of |x| per
    probe over [0, abs_max] from the first pass. The result is deterministic.
    A tensor whose values are all equal gets `min = max =` that value for
    every method. `per_token` probes record the tensor-wide range.

    Errors: a missing array or one whose dtype or shape does not fit its
    argument (naming the array), no samples, and NaN or infinite values at
    a probe (naming the probe and the sample). With N >= 50 it prints about
    ten `calibrate: sample i/N` progress lines to stderr.

    Before:

    ```mlir
    %0 = qopt.observe %x {name = "fc1:a"} : tensor<?x64xf32>
    ```

    After `--qopt-calibrate=calibration-data=calib.npz`:

    ```mlir
    %0 = qopt.observe %x {name = "fc1:a", stats = {abs_max = 1.600000e+01 : f32, max = 1.600000e+01 : f32, method = "minmax", min = 0.000000e+00 : f32, samples = 200 : i64}} : tensor<?x64xf32>
    ```
  }];
  let options = [
    Option<"calibrationData", "calibration-data", "std::string", "",
           "Path to an .npz of sample inputs keyed by argument name (dim 0: samples)">,
    Option<"batchSize", "batch-size", "int64_t", "1",
           "Samples per run (slices along dim 0); 0: the arguments' static "
           "dim 0, else 32">,
    Option<"method", "method", "std::string", "\"minmax\"",
           "Range method: minmax, percentile, entropy or mse">,
    Option<"percentile", "percentile", "double", "99.99",
           "Percentile of |x| kept by the percentile method (0, 100]">,
    Option<"numBins", "num-bins", "int64_t", "2048",
           "Histogram bins for percentile, entropy and mse (at least 128)">,
    Option<"maxSamples", "max-samples", "int64_t", "0",
           "Use at most this many samples (0: all)">,
  ];
  let dependentDialects = ["::qopt::QOptDialect"];
}

def QOptSmoothQuantPass : Pass<"qopt-smoothquant", "mlir::ModuleOp"> {
  let summary = "Migrate activation outliers into the weights (SmoothQuant)";
  let description = [{
    For every `qopt.matmul` / `qopt.gemm` whose weight is a constant and
    whose activation input is a calibrated `per_channel` probe (see
    `qopt-insert-observers{granularity=per_channel}` and `qopt-calibrate`),
    computes per-input-channel scales
    `s_j = max|X_j|^alpha / max|W_j|^(1-alpha)` and rewrites
    `X W = (X diag(1/s)) (diag(s) W)`. `max|X_j|` is
    `max(|channel_min_j|, |channel_max_j|)` of the probe's statistics,
    `max|W_j|` the largest magnitude in input-channel row `j` of the weight.
    A channel whose `max|X_j|` or `max|W_j|` is 0 keeps `s_j = 1`; `s` is
    clamped to [1e-5, 1e5].

    `1/s` is folded into the op that produces `X` when the graph allows:
    the `gamma` (and `beta`) of a preceding `qopt.layer_norm` /
    `qopt.rms_norm` with constant parameters, or the output channels of a
    preceding matmul/gemm with a constant weight (and its constant bias:
    the gemm's `C` or a following `qopt.add`), when the probe is that op's
    only user. Otherwise an explicit `qopt.mul` by a constant `1/s`
    (broadcast along the last dim) is inserted before the probe, so the
    probe, and the activation quantization that replaces it, sees the
    smoothed value. When one activation feeds several linear ops (Q, K and
    V projections) they share one `s`, computed from the largest weight
    magnitude of each channel over all of them. The scaled weights and
    parameters are new constants (a blob `B` becomes `B.smoothed`).

    The probe's statistics are divided by `s`: `channel_min`/`channel_max`
    exactly, `min`/`max` become the extremes over the channels, `abs_max`
    their magnitude, and `method` becomes `minmax` (the clipping of another
    method does not survive the division); run `qopt-calibrate` again after
    smoothing to get the ranges of the method of your choice.

    `alpha` is a number in [0, 1] or `auto`: per probe, the alpha in
    {0, 0.05, ..., 1} whose simulated W8A8 output (weights per output
    channel symmetric int8 in [-127, 127], activations per-tensor symmetric
    int8 from the smoothed range) has the smallest mean squared error
    against the float output, on up to 1024 activation rows (at most 2^20
    values, and fewer rows for layers above 2^27 multiply-adds per alpha)
    per probe, taken evenly from `max-samples` samples of `calibration-data` (same
    conventions as `qopt-calibrate`, run with batch size 1 unless the
    arguments have a static dim 0). The alpha used is recorded as
    `qopt.smoothquant_alpha` (f64) on each smoothed op.

    A linear op that cannot be smoothed (no probe, a `per_tensor` or
    uncalibrated probe, a probe that also feeds another kind of op, a
    non-constant weight, `trans_a`) gets a warning and is left alone.
    Errors: `alpha` neither a number in [0, 1] nor `auto`, `alpha=auto`
    without `calibration-data`, `max-samples` below 1, and unreadable or
    mismatched calibration data.

    Before (`alpha = 0.5`, max|X| = [4, 1], max|W| = [1, 4], so s = [2, 0.5]):

    ```mlir
    %n = qopt.layer_norm %x, %g, %b : (tensor<?x2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
    %p = qopt.observe %n {axis = 1 : i64, granularity = "per_channel", name = "fc:lhs", stats = {abs_max = 4.0 : f32, channel_max = array<f32: 2.0, 1.0>, channel_min = array<f32: -4.0, -1.0>, max = 2.0 : f32, method = "minmax", min = -4.0 : f32, samples = 8 : i64}} : tensor<?x2xf32>
    %w = qopt.constant dense<[[1.0, 0.25], [-4.0, 1.0]]> : tensor<2x2xf32>
    %y = qopt.matmul %p, %w : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
    ```

    After `--qopt-smoothquant` (gamma and beta divided by s, weight rows
    multiplied by s):

    ```mlir
    %g = qopt.constant dense<[5.000000e-01, 2.000000e+00]> : tensor<2xf32>
    %b = qopt.constant dense<[2.500000e-01, -2.000000e+00]> : tensor<2xf32>
    %n = qopt.layer_norm %x, %g, %b : (tensor<?x2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
    %p = qopt.observe %n {axis = 1 : i64, granularity = "per_channel", name = "fc:lhs", stats = {abs_max = 2.000000e+00 : f32, channel_max = array<f32: 1.000000e+00, 2.000000e+00>, channel_min = array<f32: -2.000000e+00, -2.000000e+00>, max = 2.000000e+00 : f32, method = "minmax", min = -2.000000e+00 : f32, samples = 8 : i64}} : tensor<?x2xf32>
    %w = qopt.constant dense<[[2.000000e+00, 5.000000e-01], [-2.000000e+00, 5.000000e-01]]> : tensor<2x2xf32>
    %y = qopt.matmul %p, %w {qopt.smoothquant_alpha = 5.000000e-01 : f64} : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
    ```
  }];
  let options = [
    Option<"alpha", "alpha", "std::string", "\"0.5\"",
           "Migration strength in [0, 1], or auto">,
    Option<"calibrationData", "calibration-data", "std::string", "",
           "Sample inputs (.npz) used by alpha=auto">,
    Option<"maxSamples", "max-samples", "int64_t", "64",
           "Samples used by alpha=auto">,
  ];
  let dependentDialects = ["::qopt::QOptDialect"];
}

def QOptQuantizePass : Pass<"qopt-quantize", "mlir::ModuleOp"> {
  let summary = "Quantize weights (and activations) into quantize/dequantize form";
  let description = [{
    Rewrites every `qopt.matmul`, `qopt.gemm`, `qopt.conv2d` (with a
    constant weight) and, for activation schemes, `qopt.batch_matmul`, into
    quantize/dequantize ("QDQ") form; `qopt-fold-qdq` then turns it into
    integer ops. Modes:

    * `static` (W8A8): weights per-output-channel symmetric int8
      (`!quant.uniform<i8<-127:127>:f32:axis, {...}>`), activations
      per-tensor from the calibrated `qopt.observe` statistics: asymmetric
      `u8` or symmetric `s8` (`activation-type`). Every observe op feeding a
      quantized op is replaced by `qopt.quantize` + `qopt.dequantize`.
      With `weight-bits=7` the int8 weights use the range `[-63, 63]`
      (`i8<-63:63>`): about 6 dB less weight SQNR, and on `cpu:avx2` the
      code generator can then use the faster `vpmaddubsw` kernel, which is
      exact only for such weights (ONNX Runtime's `reduce_range`; see
      docs/codegen.md).
    * `dynamic`: weights as in `static`; activations are quantized at run
      time per token (symmetric s8, one scale per row) with
      `qopt.dynamic_quantize {per_token}`; where the reduction dim is not a
      static last dim (conv2d, gemm with `trans_a`, a dynamic or empty K)
      with one run-time u8 scale per tensor.
    * `weight-only`: only weights, with `weight-bits` in 2..8, per output
      channel (`group-size=0`) or in groups of `group-size` input channels
      (a ragged last group is allowed), symmetric or asymmetric. Symmetric
      per-channel weights carry a per-axis `!quant.uniform` type; group-wise
      and asymmetric weights use the operand form of `qopt.dequantize` with
      constant scale (and zero point) tensors. Only f32 weights and
      activations are quantized (others get a warning); empty weights are
      left alone. Sub-byte weights are packed (see
      docs/numerics.md).

    Symmetric weights use the narrow range `[-(2^(b-1)-1), 2^(b-1)-1]`.
    `clip-search` tries clipping ratios 1.0, 0.95, ..., 0.5 of each
    channel's (group's) range and keeps the one with the smallest squared
    weight error. Ops whose name (location) matches one of the `exclude`
    regexes, or whose op name is in `exclude-types` (e.g. `qopt.gather`),
    stay float. A `qopt.precision` attribute on an op (`float`, `int8`,
    `int4`, set by `qopt-mixed-precision`) overrides the mode's weight
    precision for that op. `qopt.gather` tables (embeddings) are quantized
    only with `embeddings=true` or a `qopt.precision` decision, always to
    int8 with one scale per row (weights only). Each quantized op gets a `qopt.scheme` string
    attribute describing what was done.
  }];
  let options = [
    Option<"mode", "mode", "std::string", "\"static\"",
           "static, dynamic or weight-only">,
    Option<"weightBits", "weight-bits", "int64_t", "8",
           "Weight bits (2..8; static and dynamic: 8, or 7)">,
    Option<"groupSize", "group-size", "int64_t", "0",
           "Input channels per weight scale (0: one scale per output channel)">,
    Option<"weightSymmetric", "weight-symmetric", "bool", "true",
           "Symmetric weights (zero point 0)">,
    Option<"activationType", "activation-type", "std::string", "\"u8\"",
           "Static activations: u8 (asymmetric) or s8 (symmetric)">,
    Option<"clipSearch", "clip-search", "bool", "false",
           "Search a per-channel clipping ratio for weights">,
    Option<"embeddings", "embeddings", "bool", "false",
           "Also quantize qopt.gather tables (int8, one scale per row)">,
    ListOption<"exclude", "exclude", "std::string",
               "Regexes on op names to keep in float">,
    ListOption<"excludeTypes", "exclude-types", "std::string",
               "Op names (e.g. qopt.gather) to keep in float">,
  ];
  let dependentDialects = ["::qopt::QOptDialect", "::mlir::quant::QuantDialect"];
}

def QOptMixedPrecisionPass : Pass<"qopt-mixed-precision", "mlir::ModuleOp"> {
  let summary = "Choose float, int8 or int4-group weights per op under a budget";
  let description = [{
    Measures each weight-bearing op's sensitivity: with only that op's
    weights quantized at a candidate precision (int8 symmetric per output
    channel, int4 symmetric in groups of `group-size` input channels, the
    group clamped to the op's input channels), the SQNR of the model outputs
    (all results of all samples together) against the float model on the
    first `max-samples` samples of `calibration-data` (an `.npz` as for
    `qopt-calibrate`). Then picks a precision per op from {float, int8,
    int4} so that the average weight bits (weighted by element count,
    scales included: 32 bits per output channel for int8, per group for
    int4; `budget-bits`) or the total weight bytes (`budget-bytes`) fit,
    with the smallest predicted output noise: the noise of a choice is
    `10^(-SQNR/10)` of the output power and the per-op noises are summed.
    The choice is a greedy multiple-choice knapsack: every op starts at its
    cheapest allowed precision (an error if even that exceeds the budget),
    then the upgrade with the largest noise reduction per extra bit that
    still fits is applied until none fits.

    Sites are `qopt.matmul`, `qopt.gemm` and `qopt.conv2d` with a constant
    weight and `qopt.gather` with a constant float table. Embedding tables
    (`qopt.gather`, int8 per gathered row) and, with `protect-last`, the last
    projection before an output (a weight op whose result reaches a function
    result through non-weight ops only) stay at 8 bits or more; norms are
    never quantized. A constant shared by several ops is measured per op.

    Writes on each site `qopt.precision` (`"float"`, `"int8"` or `"int4"`;
    what `qopt-quantize` reads), `qopt.precision_reason` (the SQNRs and why)
    and `qopt.sensitivity` (`{int4 = <dB> : f64, int8 = <dB> : f64}`; an
    exact round trip is `+inf`). With `print-table`, prints to stdout a
    table of ops, weight shapes, SQNR per candidate and the decisions, and
    the achieved average bits and bytes against the budget. With 8 or more
    measurement runs it prints up to ten `mixed-precision: run i/N` progress
    lines to stderr.

    Before:

    ```mlir
    %y = qopt.matmul %x, %w : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32> loc("fc2")
    ```

    After `--qopt-mixed-precision="calibration-data=calib.npz budget-bits=6.5"`
    (this is the outlier layer of `test/passes/qopt-mixed-precision.test`):

    ```mlir
    %y = qopt.matmul %x, %w {qopt.precision = "int8", qopt.precision_reason = "sqnr int8 20.4 dB, int4 7.3 dB; upgraded int4 -> int8 (step 1): best noise reduction per byte; float (+12032 bytes) does not fit the remaining budget (128 bytes)", qopt.sensitivity = {int4 = 7.2688969483271624 : f64, int8 = 20.350429494704557 : f64}} : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
    ```
  }];
  let options = [
    Option<"calibrationData", "calibration-data", "std::string", "",
           "Sample inputs (.npz) keyed by argument name">,
    Option<"budgetBits", "budget-bits", "double", "6.0",
           "Average weight bits to fit (ignored when budget-bytes is set)">,
    Option<"budgetBytes", "budget-bytes", "int64_t", "0",
           "Total weight bytes to fit (0: use budget-bits)">,
    Option<"groupSize", "group-size", "int64_t", "128",
           "Group size of the int4 candidate">,
    Option<"maxSamples", "max-samples", "int64_t", "32",
           "Samples used to measure sensitivity (0: all)">,
    Option<"printTable", "print-table", "bool", "false",
           "Print the sensitivity table and the decisions to stdout">,
    Option<"protectLast", "protect-last", "bool", "true",
           "Keep the last projection before each output at 8 bits or more">,
  ];
  let dependentDialects = ["::qopt::QOptDialect"];
}

def QOptFoldQDQPass : Pass<"qopt-fold-qdq", "mlir::ModuleOp"> {
  let summary = "Fold quantize/dequantize pairs and rewrite to integer ops";
  let description = [{
    Cleans up and lowers the quantize/dequantize ("QDQ") form that
    `qopt-quantize` produces. Two phases, each a greedy rewrite to a
    fixpoint.

    Exact folds (always; every value the executor computes stays
    bit-identical):

    * `quantize(dequantize(q))` with equal types becomes `q`;
      `requantize` to its own type is removed (storage up to 24 bits, where
      f32 holds every value exactly), and
      `requantize(requantize(x : A -> B) : B -> C)` becomes one
      `requantize(x : A -> C)` when B and C have the same scale and zero
      point and C's storage range lies inside B's (the outer op only clamps);
    * quantization is moved through data movement: `dequantize` is sunk
      below, and a single-use `quantize` hoisted above, `reshape`,
      `transpose`, `slice`, `gather` (data), `concat` (all inputs of one
      type) and `max_pool2d`, which then run on the quantized tensors
      (per-tensor types; per-axis types where the op keeps the quantized
      dimension; `max_pool2d` runs on the storage integers, unsigned 8-bit
      storage via an exact requantize to signed storage and back);
    * `quantize` of a `qopt.constant` becomes an integer constant and a
      `quant.scast` (signed storage), computed with the executor's kernel.

    Integer lowering (`integer-ops=true`, the default):

    * `dequantize(x) -> matmul / gemm (alpha = 1, no trans_a) / conv2d /
      batch_matmul [-> + constant bias] [-> relu] -> quantize(T)`, with x
      per-tensor 8-bit and the weight a constant (`qopt.constant ->
      quant.scast -> dequantize`, 8-bit, per output channel or per tensor;
      both operands dequantized per tensor for `batch_matmul`), becomes
      `qopt.matmul_integer` / `qopt.conv2d_integer` (int32 accumulation; a
      `trans_b` gemm weight is transposed into a new `[K, N]` constant),
      `qopt.add` of an int32 bias `round_half_even(bias / (s_x * s_w[j]))`,
      `quant.scast` to `!quant.uniform<i32:f32:axis, {s_x * s_w[j]}>` and
      `qopt.requantize` to T. A relu is absorbed: when T's zero point is its
      storage minimum saturation already does it, otherwise the requantize
      goes to T with the storage range narrowed to `[zp, qmax]` followed by
      an exact requantize back to T.
    * Without a following quantize (or when an intermediate value has other
      users) the int32 accumulator is dequantized (`quant.scast` +
      `qopt.dequantize`) and the float bias added.
    * `dequantize(dynamic_quantize {per_token}) -> matmul / gemm` with a
      constant quantized weight becomes `matmul_integer(q, w)`, `qopt.cast`
      to f32, `qopt.mul` by the token scales `[..., 1]`, `qopt.mul` by the
      weight scales `[N]` and `qopt.add` of the bias.

    The op producing a layer's final result keeps the original op's
    location (name); helper ops get `<name>.acc`, `<name>.bias`, ...
    Rewritten ops carry the original `qopt.scheme`. Weight-only group-wise
    dequantizes (operand form) are left alone.

    Numerics: the exact folds are checked bit-identical (`qopt-run
    --compare` with `rtol=0 atol=0`). The integer lowering is not
    bit-identical to the QDQ form, which sums f32 products of dequantized
    values: it computes exact int32 sums and one f32 requantize (see
    docs/numerics.md); the tests check it bit-exactly against an
    independent NumPy implementation of that arithmetic and within one
    quantization step of the QDQ model.

    `remarks` emits a remark on every linear op with a dequantized operand
    that stays float, saying why. A weight or bias constant whose data
    cannot be read is an error.

    Before:

    ```mlir
    %xq = qopt.quantize %x : (tensor<?x64xf32>) -> tensor<?x64x!quant.uniform<u8:f32, 0.0627:0>>
    %xd = qopt.dequantize %xq : (tensor<?x64x!quant.uniform<u8:f32, 0.0627:0>>) -> tensor<?x64xf32>
    %y = qopt.gemm %xd, %wd, %b {trans_b = true} : (tensor<?x64xf32>, tensor<32x64xf32>, tensor<32xf32>) -> tensor<?x32xf32> loc("fc1")
    %r = qopt.relu %y : tensor<?x32xf32>
    %rq = qopt.quantize %r : (tensor<?x32xf32>) -> tensor<?x32x!quant.uniform<u8:f32, 0.02:0>>
    ```

    After `--qopt-fold-qdq`:

    ```mlir
    %acc = qopt.matmul_integer %xq, %wt : (tensor<?x64x!quant.uniform<u8:f32, 0.0627:0>>, tensor<64x32x!quant.uniform<i8<-127:127>:f32:1, {...}>>) -> tensor<?x32xi32> loc("fc1.acc")
    %accb = qopt.add %acc, %bias_i32 : (tensor<?x32xi32>, tensor<32xi32>) -> tensor<?x32xi32> loc("fc1.bias")
    %accq = quant.scast %accb : tensor<?x32xi32> to tensor<?x32x!quant.uniform<i32:f32:1, {...}>> loc("fc1.acc_q")
    %rq = qopt.requantize %accq : (tensor<?x32x!quant.uniform<i32:f32:1, {...}>>) -> tensor<?x32x!quant.uniform<u8:f32, 0.02:0>> loc("fc1")
    ```
  }];
  let options = [
    Option<"integerOps", "integer-ops", "bool", "true",
           "Rewrite linear ops to integer ops (false: only the exact folds)">,
    Option<"remarks", "remarks", "bool", "false",
           "Remark on every linear op with a dequantized operand that stays float">,
  ];
  let dependentDialects = ["::qopt::QOptDialect", "::mlir::quant::QuantDialect"];
}

def QOptFusePass : Pass<"qopt-fuse", "mlir::ModuleOp"> {
  let summary = "Group ops that run as one kernel into qopt.fused region ops";
  let description = [{
    Groups the ops of every function body into `qopt.fused` ops, each of
    which a backend runs as one kernel. Greedy and deterministic: ops are
    visited in program order and an op joins the group of the op producing
    one of its operands only when that value has exactly one user (this op)
    and both ops are in the same block. A value with a second user therefore
    always stays visible outside any group (it is a group result, never an
    internal value). Ops with regions never join a group.

    Kinds (`kinds=` selects a subset; default all):

    * `linear`: an anchor `qopt.matmul`, `qopt.gemm`, `qopt.conv2d`,
      `qopt.matmul_integer` or `qopt.conv2d_integer`; a `quant.scast` of a
      constant weight feeding it; and its epilogue: each following op that
      reads the group's last value, among `add` / `sub` / `mul` / `div`
      (other operand from outside: bias, residual, rescale), `relu`,
      `gelu`, `silu`, `sigmoid`, `tanh`, `quant.scast`, `qopt.cast`,
      `dequantize`, and finally `requantize` or `quantize` (to the next
      op's scale), which closes the group.
    * `dequant_matmul`: the same with a float `matmul` / `gemm` / `conv2d`
      whose weight is the `dequantize` of a constant (a `qopt.constant`,
      possibly through `quant.scast`; constant scale and zero point):
      weight-only layers, dequantized in the kernel.
    * `norm_quantize`: `layer_norm` / `rms_norm` and the `quantize` of its
      result.
    * `elementwise`: at least two of `add`, `sub`, `mul`, `div`, `pow`,
      `relu`, `gelu`, `silu`, `sigmoid`, `tanh`, `exp`, `neg`, `sqrt`,
      `erf` (with broadcasting), connected through single-user values; a
      group may take several chains that meet in a binary op.

    A group needs two ops besides `quant.scast`s (an anchor alone stays
    as it is). Every value a group reads from outside, constants included,
    becomes an operand of the fused op (the region is isolated from above;
    weights stay shared top-level constants that a backend can pre-pack);
    the values used after the group are its results. The fused op is placed
    where the group's last op was and carries the location of the anchor
    (the first op for `elementwise`; for an anchor named like a
    `qopt-fold-qdq` helper, `fc1.acc`, the group op named `fc1`), so
    per-layer reports keep their names. The body's ops keep their own
    locations and attributes. The executor runs the body's ops in order:
    outputs are bit-identical to the unfused module.

    Run it last: the other passes do not look into `qopt.fused` bodies.

    Before (a static W8A8 layer after `qopt-fold-qdq`):

    ```mlir
    %wq = quant.scast %w : tensor<64x32xi8> to tensor<64x32x!quant.uniform<i8<-127:127>:f32:1, {...}>>
    %acc = qopt.matmul_integer %xq, %wq : (...) -> tensor<?x32xi32> loc("fc2.acc")
    %accb = qopt.add %acc, %bias : (tensor<?x32xi32>, tensor<32xi32>) -> tensor<?x32xi32> loc("fc2.bias")
    %accq = quant.scast %accb : tensor<?x32xi32> to tensor<?x32x!quant.uniform<i32:f32:1, {...}>> loc("fc2.acc_q")
    %y = qopt.requantize %accq : (...) -> tensor<?x32x!quant.uniform<u8:f32, 0.0437>> loc("fc2")
    ```

    After `--qopt-fuse`:

    ```mlir
    %y = qopt.fused "linear" (%xq, %w, %bias) : (tensor<?x64x!quant.uniform<u8:f32, 0.015>>, tensor<64x32xi8>, tensor<32xi32>) -> tensor<?x32x!quant.uniform<u8:f32, 0.0437>> {
    ^bb0(%a: tensor<?x64x!quant.uniform<u8:f32, 0.015>>, %b: tensor<64x32xi8>, %c: tensor<32xi32>):
      %0 = quant.scast %b : tensor<64x32xi8> to tensor<64x32x!quant.uniform<i8<-127:127>:f32:1, {...}>>
      %1 = qopt.matmul_integer %a, %0 : (...) -> tensor<?x32xi32>
      %2 = qopt.add %1, %c : (tensor<?x32xi32>, tensor<32xi32>) -> tensor<?x32xi32>
      %3 = quant.scast %2 : tensor<?x32xi32> to tensor<?x32x!quant.uniform<i32:f32:1, {...}>>
      %4 = qopt.requantize %3 : (...) -> tensor<?x32x!quant.uniform<u8:f32, 0.0437>>
      qopt.yield %4 : tensor<?x32x!quant.uniform<u8:f32, 0.0437>>
    } loc("fc2")
    ```
  }];
  let options = [
    ListOption<"kinds", "kinds", "std::string",
               "Kinds of groups to form (linear, dequant_matmul, "
               "norm_quantize, elementwise); empty: all">,
  ];
  let dependentDialects = ["::qopt::QOptDialect", "::mlir::quant::QuantDialect"];
}

def QOptSetTargetPass : Pass<"qopt-set-target", "mlir::ModuleOp"> {
  let summary = "Record the CPU target that code generation specializes for";
  let description = [{
    Sets the module attribute `qopt.target` that kernel generation reads:
    `cpu:avx512-vnni` (AVX-512 with VNNI: `vpdpbusd` int8 dot products),
    `cpu:avx2` (AVX2 + FMA: `vpmaddubsw`/`vpmaddwd` int8, 256-bit f32) or
    `cpu:generic` (no ISA extensions assumed). `target=host` (the default)
    picks the best of these that the CPU running `qopt` supports. Naming a
    target the host cannot run is allowed (cross-compiling) but warned
    about, since the result cannot be checked on this machine. The
    environment variable `QOPT_HOST_TARGET` (a target name) replaces the
    host detection.

    ```mlir
    module attributes {qopt.target = "cpu:avx2"} { ... }
    ```
  }];
  let options = [
    Option<"target", "target", "std::string", "\"host\"",
           "host, cpu:avx512-vnni, cpu:avx2 or cpu:generic">,
  ];
}

#endif // QOPT_PASSES_PASSES_TD
