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

#endif // QOPT_PASSES_PASSES_TD
