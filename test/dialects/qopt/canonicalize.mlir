// RUN: qopt %s -canonicalize -split-input-file | FileCheck %s

// CHECK-LABEL: func.func @compose_reshapes
// CHECK-NEXT: %[[R:.*]] = qopt.reshape %arg0 : (tensor<2x8xf32>) -> tensor<16xf32>
// CHECK-NEXT: return %[[R]]
func.func @compose_reshapes(%x: tensor<2x8xf32>) -> tensor<16xf32> {
  %0 = qopt.reshape %x : (tensor<2x8xf32>) -> tensor<4x4xf32>
  %1 = qopt.reshape %0 : (tensor<4x4xf32>) -> tensor<16xf32>
  return %1 : tensor<16xf32>
}

// -----

// CHECK-LABEL: func.func @identity_reshape
// CHECK-NEXT: return %arg0
func.func @identity_reshape(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %0 = qopt.reshape %x : (tensor<2x8xf32>) -> tensor<4x4xf32>
  %1 = qopt.reshape %0 : (tensor<4x4xf32>) -> tensor<2x8xf32>
  return %1 : tensor<2x8xf32>
}

// -----

// CHECK-LABEL: func.func @compose_transposes
// CHECK-NEXT: %[[T:.*]] = qopt.transpose %arg0 {perm = array<i64: 2, 0, 1>}
// CHECK-NEXT: return %[[T]]
func.func @compose_transposes(%x: tensor<2x3x4xf32>) -> tensor<4x2x3xf32> {
  %0 = qopt.transpose %x {perm = array<i64: 1, 2, 0>} : (tensor<2x3x4xf32>) -> tensor<3x4x2xf32>
  %1 = qopt.transpose %0 {perm = array<i64: 1, 2, 0>} : (tensor<3x4x2xf32>) -> tensor<4x2x3xf32>
  return %1 : tensor<4x2x3xf32>
}

// -----

// CHECK-LABEL: func.func @inverse_transposes
// CHECK-NEXT: return %arg0
func.func @inverse_transposes(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = qopt.transpose %x {perm = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %1 = qopt.transpose %0 {perm = array<i64: 1, 0>} : (tensor<3x2xf32>) -> tensor<2x3xf32>
  return %1 : tensor<2x3xf32>
}

// -----

// CHECK-LABEL: func.func @add_zero_mul_one
// CHECK-NEXT: return %arg0
func.func @add_zero_mul_one(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %z = qopt.constant dense<0.0> : tensor<3xf32>
  %o = qopt.constant dense<1.0> : tensor<2x3xf32>
  %0 = qopt.add %x, %z : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %1 = qopt.mul %o, %0 : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %1 : tensor<2x3xf32>
}

// -----

// Adding zero must not drop a broadcast.
// CHECK-LABEL: func.func @add_zero_broadcasts
// CHECK: qopt.add
func.func @add_zero_broadcasts(%x: tensor<3xf32>) -> tensor<2x3xf32> {
  %z = qopt.constant dense<0.0> : tensor<2x3xf32>
  %0 = qopt.add %x, %z : (tensor<3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

!q = !quant.uniform<i8:f32, 0.1:2>
// CHECK-LABEL: func.func @dq_q_pair
// CHECK-NEXT: return %arg0
func.func @dq_q_pair(%q: tensor<4x!q>) -> tensor<4x!q> {
  %0 = qopt.dequantize %q : (tensor<4x!q>) -> tensor<4xf32>
  %1 = qopt.quantize %0 : (tensor<4xf32>) -> tensor<4x!q>
  return %1 : tensor<4x!q>
}

// -----

// Different parameters: the pair stays.
// CHECK-LABEL: func.func @dq_q_different
// CHECK: qopt.dequantize
// CHECK: qopt.quantize
func.func @dq_q_different(%q: tensor<4x!quant.uniform<i8:f32, 0.1:2>>) -> tensor<4x!quant.uniform<i8:f32, 0.2:2>> {
  %0 = qopt.dequantize %q : (tensor<4x!quant.uniform<i8:f32, 0.1:2>>) -> tensor<4xf32>
  %1 = qopt.quantize %0 : (tensor<4xf32>) -> tensor<4x!quant.uniform<i8:f32, 0.2:2>>
  return %1 : tensor<4x!quant.uniform<i8:f32, 0.2:2>>
}

// -----

// CHECK-LABEL: func.func @fold_const_reshape
// CHECK-NEXT: %[[C:.*]] = qopt.constant dense<{{\[}}[1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00]]> : tensor<2x2xf32>
// CHECK-NEXT: return %[[C]]
func.func @fold_const_reshape() -> tensor<2x2xf32> {
  %c = qopt.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %0 = qopt.reshape %c : (tensor<4xf32>) -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}
