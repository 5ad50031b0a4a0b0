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
           "Samples per run (slices along dim 0)">,
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

#endif // QOPT_PASSES_PASSES_TD
