// RUN: qopt %s --split-input-file --verify-diagnostics --qopt-fold-qdq=remarks=true

// A gemm weight whose data is missing: the transposed weight cannot be built,
// the pass fails with an error naming the constant (not a crash).
!w = !quant.uniform<i8<-127:127>:f32:0, {0.01, 0.02, 0.04}>
!u8 = !quant.uniform<u8:f32, 0.05:10>
func.func @missing_weight_data(%xq: tensor<?x4x!u8>) -> tensor<?x3x!u8> {
  // expected-error @+1 {{qopt-fold-qdq: cannot read the weight constant: constant resource 'absent' has no data}}
  %w = qopt.constant dense_resource<absent> : tensor<3x4xi8>
  %wq = quant.scast %w : tensor<3x4xi8> to tensor<3x4x!w>
  %wd = qopt.dequantize %wq : (tensor<3x4x!w>) -> tensor<3x4xf32>
  %xd = qopt.dequantize %xq : (tensor<?x4x!u8>) -> tensor<?x4xf32>
  %y = qopt.gemm %xd, %wd {trans_b = true} : (tensor<?x4xf32>, tensor<3x4xf32>) -> tensor<?x3xf32>
  %yq = qopt.quantize %y : (tensor<?x3xf32>) -> tensor<?x3x!u8>
  return %yq : tensor<?x3x!u8>
}

// -----

// A float constant without data cannot be quantized at compile time.
func.func @missing_constant_data() -> tensor<4x!quant.uniform<i8:f32, 0.05>> {
  %c = qopt.constant dense_resource<nothing_here> : tensor<4xf32>
  // expected-error @+1 {{qopt-fold-qdq: cannot read the quantized constant: constant resource 'nothing_here' has no data}}
  %q = qopt.quantize %c : (tensor<4xf32>) -> tensor<4x!quant.uniform<i8:f32, 0.05>>
  return %q : tensor<4x!quant.uniform<i8:f32, 0.05>>
}

// -----

// remarks=true explains every linear op with a dequantized operand that stays
// float.
!w = !quant.uniform<i8<-127:127>:f32:0, {0.01, 0.02, 0.04}>
!u8 = !quant.uniform<u8:f32, 0.05:10>
!i4 = !quant.uniform<i4:f32, 0.05>
func.func @stays_float(%xq: tensor<?x4x!u8>, %xt: tensor<4x2x!u8>, %x4: tensor<?x4x!i4>, %wf: tensor<4x3xf32>) -> (tensor<?x3xf32>, tensor<2x3xf32>, tensor<?x3xf32>, tensor<?x3xf32>) {
  %w = qopt.constant dense<[[1, 2, 3, 4], [-1, -2, -3, -4], [5, 0, -5, 127]]> : tensor<3x4xi8>
  %wq = quant.scast %w : tensor<3x4xi8> to tensor<3x4x!w>
  %wd = qopt.dequantize %wq : (tensor<3x4x!w>) -> tensor<3x4xf32>
  %xd = qopt.dequantize %xq : (tensor<?x4x!u8>) -> tensor<?x4xf32>
  // expected-remark @+1 {{qopt-fold-qdq: stays float: gemm alpha != 1}}
  %0 = qopt.gemm %xd, %wd {trans_b = true, alpha = 2.0 : f32} : (tensor<?x4xf32>, tensor<3x4xf32>) -> tensor<?x3xf32>
  %xtd = qopt.dequantize %xt : (tensor<4x2x!u8>) -> tensor<4x2xf32>
  // expected-remark @+1 {{qopt-fold-qdq: stays float: gemm with trans_a}}
  %1 = qopt.gemm %xtd, %wd {trans_a = true, trans_b = true} : (tensor<4x2xf32>, tensor<3x4xf32>) -> tensor<2x3xf32>
  // expected-remark @+1 {{qopt-fold-qdq: stays float: the weight is not a static dequantize}}
  %2 = qopt.matmul %xd, %wf : (tensor<?x4xf32>, tensor<4x3xf32>) -> tensor<?x3xf32>
  %x4d = qopt.dequantize %x4 : (tensor<?x4x!i4>) -> tensor<?x4xf32>
  // expected-remark @+1 {{qopt-fold-qdq: stays float: the activation is not a per-tensor 8-bit static dequantize}}
  %3 = qopt.gemm %x4d, %wd {trans_b = true} : (tensor<?x4xf32>, tensor<3x4xf32>) -> tensor<?x3xf32>
  return %0, %1, %2, %3 : tensor<?x3xf32>, tensor<2x3xf32>, tensor<?x3xf32>, tensor<?x3xf32>
}
