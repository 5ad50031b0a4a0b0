// RUN: qopt %s --qopt-quantize=mode=dynamic | FileCheck %s

// Edge cases: a dynamic K cannot have per-token scales (one run-time u8
// scale per tensor instead); an empty weight is left alone.
func.func @main(%x: tensor<2x?xf32>, %y: tensor<2x0xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
  %w = qopt.constant dense<1.0> : tensor<4x3xf32>
  %e = qopt.constant dense<1.0> : tensor<0x3xf32>
  %a = qopt.matmul %x, %w : (tensor<2x?xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  %b = qopt.matmul %y, %e : (tensor<2x0xf32>, tensor<0x3xf32>) -> tensor<2x3xf32>
  return %a, %b : tensor<2x3xf32>, tensor<2x3xf32>
}
// CHECK-LABEL: func.func @main(%arg0: tensor<2x?xf32>
// CHECK: qopt.dynamic_quantize %arg0 : tensor<2x?xf32> -> tensor<2x?xui8>, tensor<f32>, tensor<ui8>
// CHECK: qopt.matmul {{.*}} {qopt.scheme = "w8a8-dynamic-per-tensor"}
// CHECK: qopt.matmul %arg1, %{{.*}} : (tensor<2x0xf32>, tensor<0x3xf32>)
