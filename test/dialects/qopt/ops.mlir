// RUN: qopt %s | FileCheck %s
// RUN: qopt %s | qopt | FileCheck %s
// RUN: qopt %s --mlir-print-op-generic | qopt | FileCheck %s
// Round-trip of every qopt op.

!q8 = !quant.uniform<i8:f32, 0.05:-3>
!u8 = !quant.uniform<u8:f32, 0.1:128>
!acc = !quant.uniform<i32:f32, 0.0005>
!w8 = !quant.uniform<i8:f32:1, {0.1, 0.2, 0.3}>
!g4 = !quant.uniform<i4:f32:{0:4}, {{0.1, 0.2, 0.3}, {0.4, 0.5, 0.6}}>

// CHECK-LABEL: func.func @linalg
func.func @linalg(%x: tensor<2x8x32xf32>, %w: tensor<32x16xf32>, %a: tensor<4x32xf32>,
                  %b: tensor<16x32xf32>, %c: tensor<16xf32>, %q: tensor<1x4x8x16xf32>,
                  %k: tensor<1x1x16x8xf32>) -> (tensor<2x8x16xf32>, tensor<4x16xf32>, tensor<1x4x8x8xf32>) {
  // CHECK: qopt.matmul %{{.*}}, %{{.*}} : (tensor<2x8x32xf32>, tensor<32x16xf32>) -> tensor<2x8x16xf32>
  %0 = qopt.matmul %x, %w : (tensor<2x8x32xf32>, tensor<32x16xf32>) -> tensor<2x8x16xf32>
  // CHECK: qopt.gemm %{{.*}}, %{{.*}}, %{{.*}} {alpha = 2.000000e+00 : f32, trans_b = true}
  %1 = qopt.gemm %a, %b, %c {alpha = 2.0 : f32, trans_b = true} : (tensor<4x32xf32>, tensor<16x32xf32>, tensor<16xf32>) -> tensor<4x16xf32>
  // CHECK: qopt.batch_matmul {{.*}} -> tensor<1x4x8x8xf32>
  %2 = qopt.batch_matmul %q, %k : (tensor<1x4x8x16xf32>, tensor<1x1x16x8xf32>) -> tensor<1x4x8x8xf32>
  return %0, %1, %2 : tensor<2x8x16xf32>, tensor<4x16xf32>, tensor<1x4x8x8xf32>
}

// CHECK-LABEL: func.func @cnn
func.func @cnn(%x: tensor<1x4x16x16xf32>, %w: tensor<8x2x3x3xf32>, %b: tensor<8xf32>) -> tensor<1x8x1x1xf32> {
  // CHECK: qopt.conv2d %{{.*}}, %{{.*}}, %{{.*}} {dilations = array<i64: 2, 2>, groups = 2 : i64, pads = array<i64: 2, 2, 2, 2>, strides = array<i64: 2, 2>}
  %0 = qopt.conv2d %x, %w, %b {strides = array<i64: 2, 2>, pads = array<i64: 2, 2, 2, 2>, dilations = array<i64: 2, 2>, groups = 2 : i64}
      : (tensor<1x4x16x16xf32>, tensor<8x2x3x3xf32>, tensor<8xf32>) -> tensor<1x8x8x8xf32>
  // CHECK: qopt.relu %{{.*}} : tensor<1x8x8x8xf32>
  %1 = qopt.relu %0 : tensor<1x8x8x8xf32>
  // CHECK: qopt.max_pool2d {{.*}}ceil_mode = true{{.*}} -> tensor<1x8x4x4xf32>
  %2 = qopt.max_pool2d %1 {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, ceil_mode = true} : (tensor<1x8x8x8xf32>) -> tensor<1x8x4x4xf32>
  // CHECK: qopt.avg_pool2d {{.*}}count_include_pad = true
  %3 = qopt.avg_pool2d %2 {kernel_shape = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, count_include_pad = true} : (tensor<1x8x4x4xf32>) -> tensor<1x8x5x5xf32>
  // CHECK: qopt.global_avg_pool %{{.*}} : (tensor<1x8x5x5xf32>) -> tensor<1x8x1x1xf32>
  %4 = qopt.global_avg_pool %3 : (tensor<1x8x5x5xf32>) -> tensor<1x8x1x1xf32>
  return %4 : tensor<1x8x1x1xf32>
}

// CHECK-LABEL: func.func @elementwise
func.func @elementwise(%a: tensor<2x3xf32>, %b: tensor<3xf32>, %c: tensor<2x3xi1>) -> tensor<2x3xf32> {
  // CHECK: qopt.add {{.*}} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %0 = qopt.add %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %1 = qopt.sub %0, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %2 = qopt.mul %1, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %3 = qopt.div %2, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %4 = qopt.pow %3, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  // CHECK: qopt.sqrt
  %5 = qopt.sqrt %4 : tensor<2x3xf32>
  %6 = qopt.exp %5 : tensor<2x3xf32>
  %7 = qopt.erf %6 : tensor<2x3xf32>
  %8 = qopt.tanh %7 : tensor<2x3xf32>
  %9 = qopt.sigmoid %8 : tensor<2x3xf32>
  %10 = qopt.silu %9 : tensor<2x3xf32>
  %11 = qopt.neg %10 : tensor<2x3xf32>
  // CHECK: qopt.gelu %{{.*}} {approximate = "tanh"} : tensor<2x3xf32>
  %12 = qopt.gelu %11 {approximate = "tanh"} : tensor<2x3xf32>
  // CHECK: qopt.softmax %{{.*}} {axis = 0 : i64}
  %13 = qopt.softmax %12 {axis = 0 : i64} : tensor<2x3xf32>
  // CHECK: qopt.where
  %14 = qopt.where %c, %13, %a : (tensor<2x3xi1>, tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %14 : tensor<2x3xf32>
}

// CHECK-LABEL: func.func @norms_reductions
func.func @norms_reductions(%x: tensor<1x8x32xf32>, %g: tensor<32xf32>, %b: tensor<32xf32>) -> (tensor<1x8x1xf32>, tensor<f32>, tensor<1x32xf32>) {
  // CHECK: qopt.layer_norm %{{.*}}, %{{.*}}, %{{.*}} {epsilon = 9.99999996E-13 : f32}
  %0 = qopt.layer_norm %x, %g, %b {epsilon = 1.0e-12 : f32} : (tensor<1x8x32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<1x8x32xf32>
  // CHECK: qopt.rms_norm
  %1 = qopt.rms_norm %0, %g : (tensor<1x8x32xf32>, tensor<32xf32>) -> tensor<1x8x32xf32>
  // CHECK: qopt.reduce_mean %{{.*}} {axes = array<i64: -1>} : (tensor<1x8x32xf32>) -> tensor<1x8x1xf32>
  %2 = qopt.reduce_mean %1 {axes = array<i64: -1>} : (tensor<1x8x32xf32>) -> tensor<1x8x1xf32>
  // CHECK: qopt.reduce_sum %{{.*}} {keepdims = false} : (tensor<1x8x32xf32>) -> tensor<f32>
  %3 = qopt.reduce_sum %1 {keepdims = false} : (tensor<1x8x32xf32>) -> tensor<f32>
  // CHECK: qopt.reduce_max
  %4 = qopt.reduce_max %1 {axes = array<i64: 1>, keepdims = false} : (tensor<1x8x32xf32>) -> tensor<1x32xf32>
  return %2, %3, %4 : tensor<1x8x1xf32>, tensor<f32>, tensor<1x32xf32>
}

// CHECK-LABEL: func.func @data_movement
func.func @data_movement(%x: tensor<1x8x32xf32>, %t: tensor<64x32xf32>, %ids: tensor<1x8xi64>) -> (tensor<1x4x8x8xf32>, tensor<1x8x64xf32>, tensor<1x3x32xf32>, tensor<1x8x32xf16>) {
  // CHECK: qopt.reshape %{{.*}} : (tensor<1x8x32xf32>) -> tensor<1x8x4x8xf32>
  %0 = qopt.reshape %x : (tensor<1x8x32xf32>) -> tensor<1x8x4x8xf32>
  // CHECK: qopt.transpose %{{.*}} {perm = array<i64: 0, 2, 1, 3>}
  %1 = qopt.transpose %0 {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x8x4x8xf32>) -> tensor<1x4x8x8xf32>
  // CHECK: qopt.gather {{.*}} -> tensor<1x8x32xf32>
  %2 = qopt.gather %t, %ids : (tensor<64x32xf32>, tensor<1x8xi64>) -> tensor<1x8x32xf32>
  // CHECK: qopt.concat {{.*}} {axis = 2 : i64}
  %3 = qopt.concat %x, %2 {axis = 2 : i64} : (tensor<1x8x32xf32>, tensor<1x8x32xf32>) -> tensor<1x8x64xf32>
  // CHECK: qopt.slice %{{.*}} {ends = array<i64: 1, -1, 32>, starts = array<i64: 0, 7, 0>, steps = array<i64: 1, -3, 1>}
  %4 = qopt.slice %x {starts = array<i64: 0, 7, 0>, ends = array<i64: 1, -1, 32>, steps = array<i64: 1, -3, 1>} : (tensor<1x8x32xf32>) -> tensor<1x3x32xf32>
  // CHECK: qopt.cast %{{.*}} : tensor<1x8x32xf32> to tensor<1x8x32xf16>
  %5 = qopt.cast %x : tensor<1x8x32xf32> to tensor<1x8x32xf16>
  return %1, %3, %4, %5 : tensor<1x4x8x8xf32>, tensor<1x8x64xf32>, tensor<1x3x32xf32>, tensor<1x8x32xf16>
}

// CHECK-LABEL: func.func @quantization
func.func @quantization(%x: tensor<1x3xf32>, %s: tensor<f32>, %zp: tensor<ui8>, %w: tensor<8x3xf32>, %w3: tensor<3x3xf32>) -> (tensor<1x3xf32>, tensor<3x3xui8>, tensor<8x3xf32>, tensor<1x3x!q8>) {
  // CHECK: qopt.observe %{{.*}} {axis = 1 : i64, granularity = "per_channel", name = "x", stats = {max = 2.000000e+00 : f32, min = -1.000000e+00 : f32}} : tensor<1x3xf32>
  %o = qopt.observe %x {name = "x", granularity = "per_channel", axis = 1 : i64, stats = {min = -1.0 : f32, max = 2.0 : f32}} : tensor<1x3xf32>
  // CHECK: qopt.quantize %{{.*}} : (tensor<1x3xf32>) -> tensor<1x3x!quant.uniform<i8:f32, 5.000000e-02:-3>>
  %q = qopt.quantize %o : (tensor<1x3xf32>) -> tensor<1x3x!q8>
  // CHECK: qopt.dequantize
  %d = qopt.dequantize %q : (tensor<1x3x!q8>) -> tensor<1x3xf32>
  // CHECK: qopt.quantize %{{.*}}, %{{.*}}, %{{.*}} : (tensor<1x3xf32>, tensor<f32>, tensor<ui8>) -> tensor<1x3xui8>
  %r = qopt.quantize %x, %s, %zp : (tensor<1x3xf32>, tensor<f32>, tensor<ui8>) -> tensor<1x3xui8>
  %wq = qopt.quantize %w3 : (tensor<3x3xf32>) -> tensor<3x3x!w8>
  %g = qopt.quantize %w : (tensor<8x3xf32>) -> tensor<8x3x!g4>
  // CHECK: qopt.dequantize %{{.*}} : (tensor<8x3x!quant.uniform<i4:f32:{0:4}
  %gd = qopt.dequantize %g : (tensor<8x3x!g4>) -> tensor<8x3xf32>
  // CHECK: qopt.matmul_integer
  %acc = qopt.matmul_integer %q, %wq : (tensor<1x3x!q8>, tensor<3x3x!w8>) -> tensor<1x3xi32>
  %rt = qopt.reshape %r : (tensor<1x3xui8>) -> tensor<3x1xui8>
  %acc2 = qopt.matmul_integer %rt, %r, %zp, %zp : (tensor<3x1xui8>, tensor<1x3xui8>, tensor<ui8>, tensor<ui8>) -> tensor<3x3xi32>
  %m = qopt.constant dense<0.5> : tensor<f32>
  // CHECK: qopt.requantize %{{.*}}, %{{.*}}, %{{.*}} : (tensor<3x3xi32>, tensor<f32>, tensor<ui8>) -> tensor<3x3xui8>
  %rq = qopt.requantize %acc2, %m, %zp : (tensor<3x3xi32>, tensor<f32>, tensor<ui8>) -> tensor<3x3xui8>
  %accq = quant.scast %acc : tensor<1x3xi32> to tensor<1x3x!acc>
  // CHECK: qopt.requantize %{{.*}} : (tensor<1x3x!quant.uniform<i32:f32, 5.000000e-04>>) -> tensor<1x3x!quant.uniform<i8:f32, 5.000000e-02:-3>>
  %rs = qopt.requantize %accq : (tensor<1x3x!acc>) -> tensor<1x3x!q8>
  // CHECK: qopt.dynamic_quantize %{{.*}} : tensor<1x3xf32> -> tensor<1x3xui8>, tensor<f32>, tensor<ui8>
  %dq:3 = qopt.dynamic_quantize %x : tensor<1x3xf32> -> tensor<1x3xui8>, tensor<f32>, tensor<ui8>
  return %d, %rq, %gd, %rs : tensor<1x3xf32>, tensor<3x3xui8>, tensor<8x3xf32>, tensor<1x3x!q8>
}

// CHECK-LABEL: func.func @conv_integer
func.func @conv_integer(%x: tensor<1x1x3x3xui8>, %w: tensor<2x1x2x2xui8>, %xzp: tensor<ui8>, %wzp: tensor<2xui8>) -> tensor<1x2x2x2xi32> {
  // CHECK: qopt.conv2d_integer
  %0 = qopt.conv2d_integer %x, %w, %xzp, %wzp : (tensor<1x1x3x3xui8>, tensor<2x1x2x2xui8>, tensor<ui8>, tensor<2xui8>) -> tensor<1x2x2x2xi32>
  return %0 : tensor<1x2x2x2xi32>
}

// CHECK-LABEL: func.func @dynamic_shapes
func.func @dynamic_shapes(%x: tensor<?x64xf32>, %w: tensor<64x10xf32>) -> tensor<?x10xf32> {
  // CHECK: qopt.matmul {{.*}} -> tensor<?x10xf32>
  %0 = qopt.matmul %x, %w : (tensor<?x64xf32>, tensor<64x10xf32>) -> tensor<?x10xf32>
  return %0 : tensor<?x10xf32>
}
