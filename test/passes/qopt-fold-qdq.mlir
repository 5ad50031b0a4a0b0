// RUN: qopt %s --qopt-fold-qdq --mlir-print-debuginfo --mlir-print-local-scope | FileCheck %s
// RUN: qopt %s --qopt-fold-qdq=integer-ops=false | FileCheck %s --check-prefix=EXACT --implicit-check-not=_integer
// The result is a fixpoint: a second run changes nothing.
// RUN: qopt %s --qopt-fold-qdq -o %t.1.mlir
// RUN: qopt %t.1.mlir --qopt-fold-qdq -o %t.2.mlir
// RUN: diff %t.1.mlir %t.2.mlir

!u8 = !quant.uniform<u8:f32, 0.05:10>
!u8b = !quant.uniform<u8:f32, 0.04:10>
!s8 = !quant.uniform<i8:f32, 0.05>
!pa = !quant.uniform<i8:f32:1, {0.1, 0.2}>
!w = !quant.uniform<i8<-127:127>:f32:0, {0.01, 0.02, 0.04}>
!wk = !quant.uniform<i8<-127:127>:f32:1, {0.01, 0.02, 0.04}>

//===----------------------------------------------------------------------===//
// 1. quantize(dequantize), requantize chains, constants
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @pair
// CHECK-NEXT: %[[Q:.*]] = qopt.quantize %arg0
// CHECK-NEXT: return %[[Q]]
func.func @pair(%x: tensor<2x4xf32>) -> tensor<2x4x!u8> {
  %q = qopt.quantize %x : (tensor<2x4xf32>) -> tensor<2x4x!u8>
  %d = qopt.dequantize %q : (tensor<2x4x!u8>) -> tensor<2x4xf32>
  %q2 = qopt.quantize %d : (tensor<2x4xf32>) -> tensor<2x4x!u8>
  return %q2 : tensor<2x4x!u8>
}

// Different parameters: not exact, stays.
// CHECK-LABEL: func.func @different_params
// CHECK-NEXT: %[[D:.*]] = qopt.dequantize %arg0
// CHECK-NEXT: %[[Q:.*]] = qopt.quantize %[[D]] : (tensor<2x4xf32>) -> tensor<2x4x!quant.uniform<u8:f32, 4.000000e-02:10>>
// CHECK-NEXT: return %[[Q]]
func.func @different_params(%q: tensor<2x4x!u8>) -> tensor<2x4x!u8b> {
  %d = qopt.dequantize %q : (tensor<2x4x!u8>) -> tensor<2x4xf32>
  %q2 = qopt.quantize %d : (tensor<2x4xf32>) -> tensor<2x4x!u8b>
  return %q2 : tensor<2x4x!u8b>
}

// requantize T -> T is the identity for 8-bit types (not for i32: f32(acc)
// rounds above 2^24). A clamp-only outer requantize (same scale and zero
// point, narrower range) merges; a widening one (the relu form) does not.
// CHECK-LABEL: func.func @requant
// CHECK-NEXT: %[[I32:.*]] = qopt.requantize %arg0 : {{.*}} -> tensor<4x!quant.uniform<i32:f32, 1.000000e-03>>
// CHECK-NEXT: %[[M:.*]] = qopt.requantize %arg0 : {{.*}} -> tensor<4x!quant.uniform<i8<0:100>:f32, 1.000000e-01:3>>
// CHECK-NEXT: %[[N:.*]] = qopt.requantize %arg0 : {{.*}} -> tensor<4x!quant.uniform<i8<0:127>:f32, 5.000000e-02>>
// CHECK-NEXT: %[[W:.*]] = qopt.requantize %[[N]] : {{.*}} -> tensor<4x!quant.uniform<i8:f32, 5.000000e-02>>
// CHECK-NEXT: return %[[I32]], %[[M]], %[[W]], %arg1
func.func @requant(%acc: tensor<4x!quant.uniform<i32:f32, 0.001>>, %q: tensor<4x!s8>) -> (tensor<4x!quant.uniform<i32:f32, 0.001>>, tensor<4x!quant.uniform<i8<0:100>:f32, 0.1:3>>, tensor<4x!s8>, tensor<4x!s8>) {
  %0 = qopt.requantize %acc : (tensor<4x!quant.uniform<i32:f32, 0.001>>) -> tensor<4x!quant.uniform<i32:f32, 0.001>>
  %1 = qopt.requantize %acc : (tensor<4x!quant.uniform<i32:f32, 0.001>>) -> tensor<4x!quant.uniform<i8:f32, 0.1:3>>
  %2 = qopt.requantize %1 : (tensor<4x!quant.uniform<i8:f32, 0.1:3>>) -> tensor<4x!quant.uniform<i8<0:100>:f32, 0.1:3>>
  %3 = qopt.requantize %acc : (tensor<4x!quant.uniform<i32:f32, 0.001>>) -> tensor<4x!quant.uniform<i8<0:127>:f32, 0.05>>
  %4 = qopt.requantize %3 : (tensor<4x!quant.uniform<i8<0:127>:f32, 0.05>>) -> tensor<4x!s8>
  %5 = qopt.requantize %q : (tensor<4x!s8>) -> tensor<4x!s8>
  return %0, %2, %4, %5 : tensor<4x!quant.uniform<i32:f32, 0.001>>, tensor<4x!quant.uniform<i8<0:100>:f32, 0.1:3>>, tensor<4x!s8>, tensor<4x!s8>
}

// quantize of a constant: signed storage folds (0.1/0.05 = 2, -5, 20, 2000
// saturates to 127); unsigned storage cannot be quant.scast from signless
// integers that the executor runs, so it stays.
// CHECK-LABEL: func.func @quantize_constant
// CHECK-DAG: %[[U:.*]] = qopt.constant dense<[1.000000e-01, -2.500000e-01]> : tensor<2xf32>
// CHECK-DAG: %[[C:.*]] = qopt.constant dense<[2, -5, 20, 127]> : tensor<4xi8>
// CHECK: %[[S:.*]] = quant.scast %[[C]] : tensor<4xi8> to tensor<4x!quant.uniform<i8:f32, 5.000000e-02>>
// CHECK: %[[UQ:.*]] = qopt.quantize %[[U]]
// CHECK: return %[[S]], %[[UQ]]
func.func @quantize_constant() -> (tensor<4x!s8>, tensor<2x!u8>) {
  %c = qopt.constant dense<[0.1, -0.25, 1.0, 100.0]> : tensor<4xf32>
  %q = qopt.quantize %c : (tensor<4xf32>) -> tensor<4x!s8>
  %c2 = qopt.constant dense<[0.1, -0.25]> : tensor<2xf32>
  %q2 = qopt.quantize %c2 : (tensor<2xf32>) -> tensor<2x!u8>
  return %q, %q2 : tensor<4x!s8>, tensor<2x!u8>
}

//===----------------------------------------------------------------------===//
// 2. Data movement on quantized values
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @data_movement
// CHECK-NOT: qopt.dequantize
// CHECK: %[[R:.*]] = qopt.reshape %arg0 : (tensor<2x6x!quant.uniform<u8:f32, 5.000000e-02:10>>) -> tensor<2x3x2x!quant.uniform<u8:f32, 5.000000e-02:10>>
// CHECK-NEXT: %[[T:.*]] = qopt.transpose %[[R]] {perm = array<i64: 1, 0, 2>} : (tensor<2x3x2x!quant.uniform<u8:f32, 5.000000e-02:10>>) -> tensor<3x2x2x!quant.uniform<u8:f32, 5.000000e-02:10>>
// CHECK-NEXT: %[[S:.*]] = qopt.slice %[[T]] {{.*}} -> tensor<3x2x1x!quant.uniform<u8:f32, 5.000000e-02:10>>
// CHECK-NEXT: %[[S2:.*]] = qopt.reshape %[[S]] {{.*}} -> tensor<3x2x!quant.uniform<u8:f32, 5.000000e-02:10>>
// CHECK-NEXT: %[[CAT:.*]] = qopt.concat %arg0, %arg1 {axis = 0 : i64} : {{.*}} -> tensor<4x6x!quant.uniform<u8:f32, 5.000000e-02:10>>
// u8 max_pool: exact requantize to i8 storage (zero point 10 - 128), pool the
// storage integers, back to u8.
// CHECK-NEXT: %[[P4:.*]] = qopt.reshape %arg0
// CHECK-NEXT: %[[SQ:.*]] = qopt.requantize %[[P4]] : {{.*}} -> tensor<1x1x2x6x!quant.uniform<i8:f32, 5.000000e-02:-118>>
// CHECK-NEXT: %[[SI:.*]] = quant.scast %[[SQ]] : {{.*}} to tensor<1x1x2x6xi8>
// CHECK-NEXT: %[[MP:.*]] = qopt.max_pool2d %[[SI]] {{.*}} : (tensor<1x1x2x6xi8>) -> tensor<1x1x2x2xi8>
// CHECK-NEXT: %[[MQ:.*]] = quant.scast %[[MP]] : tensor<1x1x2x2xi8> to tensor<1x1x2x2x!quant.uniform<i8:f32, 5.000000e-02:-118>>
// CHECK-NEXT: %[[MU:.*]] = qopt.requantize %[[MQ]] : {{.*}} -> tensor<1x1x2x2x!quant.uniform<u8:f32, 5.000000e-02:10>>
// CHECK-NEXT: %[[MR:.*]] = qopt.reshape %[[MU]]
// CHECK-NEXT: %[[G:.*]] = qopt.gather %arg0, %arg2 : (tensor<2x6x!quant.uniform<u8:f32, 5.000000e-02:10>>, tensor<2xi64>) -> tensor<2x6x!quant.uniform<u8:f32, 5.000000e-02:10>>
// CHECK-NEXT: return %[[S2]], %[[CAT]], %[[MR]], %[[G]]
func.func @data_movement(%q: tensor<2x6x!u8>, %r: tensor<2x6x!u8>, %ids: tensor<2xi64>) -> (tensor<3x2x!u8>, tensor<4x6x!u8>, tensor<2x2x!u8>, tensor<2x6x!u8>) {
  %d = qopt.dequantize %q : (tensor<2x6x!u8>) -> tensor<2x6xf32>
  %e = qopt.dequantize %r : (tensor<2x6x!u8>) -> tensor<2x6xf32>
  %a = qopt.reshape %d : (tensor<2x6xf32>) -> tensor<2x3x2xf32>
  %b = qopt.transpose %a {perm = array<i64: 1, 0, 2>} : (tensor<2x3x2xf32>) -> tensor<3x2x2xf32>
  %c = qopt.slice %b {starts = array<i64: 0, 0, 1>, ends = array<i64: 3, 2, 2>, steps = array<i64: 1, 1, 1>} : (tensor<3x2x2xf32>) -> tensor<3x2x1xf32>
  %c2 = qopt.reshape %c : (tensor<3x2x1xf32>) -> tensor<3x2xf32>
  %cq = qopt.quantize %c2 : (tensor<3x2xf32>) -> tensor<3x2x!u8>
  %cat = qopt.concat %d, %e {axis = 0 : i64} : (tensor<2x6xf32>, tensor<2x6xf32>) -> tensor<4x6xf32>
  %catq = qopt.quantize %cat : (tensor<4x6xf32>) -> tensor<4x6x!u8>
  %p4 = qopt.reshape %d : (tensor<2x6xf32>) -> tensor<1x1x2x6xf32>
  %mp = qopt.max_pool2d %p4 {kernel_shape = array<i64: 1, 3>, strides = array<i64: 1, 3>} : (tensor<1x1x2x6xf32>) -> tensor<1x1x2x2xf32>
  %mp2 = qopt.reshape %mp : (tensor<1x1x2x2xf32>) -> tensor<2x2xf32>
  %mpq = qopt.quantize %mp2 : (tensor<2x2xf32>) -> tensor<2x2x!u8>
  %g = qopt.gather %d, %ids {axis = 0 : i64} : (tensor<2x6xf32>, tensor<2xi64>) -> tensor<2x6xf32>
  %gq = qopt.quantize %g : (tensor<2x6xf32>) -> tensor<2x6x!u8>
  return %cq, %catq, %mpq, %gq : tensor<3x2x!u8>, tensor<4x6x!u8>, tensor<2x2x!u8>, tensor<2x6x!u8>
}

// Concat of different quant types does not move.
// CHECK-LABEL: func.func @concat_mixed
// CHECK: qopt.concat %{{.*}}, %{{.*}} {axis = 0 : i64} : (tensor<2x6xf32>, tensor<2x6xf32>) -> tensor<4x6xf32>
func.func @concat_mixed(%q: tensor<2x6x!u8>, %r: tensor<2x6x!u8b>) -> tensor<4x6x!u8> {
  %d = qopt.dequantize %q : (tensor<2x6x!u8>) -> tensor<2x6xf32>
  %e = qopt.dequantize %r : (tensor<2x6x!u8b>) -> tensor<2x6xf32>
  %cat = qopt.concat %d, %e {axis = 0 : i64} : (tensor<2x6xf32>, tensor<2x6xf32>) -> tensor<4x6xf32>
  %catq = qopt.quantize %cat : (tensor<4x6xf32>) -> tensor<4x6x!u8>
  return %catq : tensor<4x6x!u8>
}

// Per-axis types move only where the quantized dim keeps its index and size:
// a slice along dim 0 does; a transpose does not.
// CHECK-LABEL: func.func @per_axis
// CHECK: %[[D:.*]] = qopt.dequantize %arg0
// CHECK: %[[S:.*]] = qopt.slice %arg0 {{.*}} -> tensor<2x2x!quant.uniform<i8:f32:1, {1.000000e-01,2.000000e-01}>>
// CHECK: %[[SD:.*]] = qopt.dequantize %[[S]]
// CHECK: %[[T:.*]] = qopt.transpose %[[D]] {{.*}} : (tensor<3x2xf32>) -> tensor<2x3xf32>
// CHECK: return %[[SD]], %[[T]]
func.func @per_axis(%q: tensor<3x2x!pa>) -> (tensor<2x2xf32>, tensor<2x3xf32>) {
  %d = qopt.dequantize %q : (tensor<3x2x!pa>) -> tensor<3x2xf32>
  %t = qopt.slice %d {starts = array<i64: 1, 0>, ends = array<i64: 3, 2>, steps = array<i64: 1, 1>} : (tensor<3x2xf32>) -> tensor<2x2xf32>
  %t2 = qopt.transpose %d {perm = array<i64: 1, 0>} : (tensor<3x2xf32>) -> tensor<2x3xf32>
  return %t, %t2 : tensor<2x2xf32>, tensor<2x3xf32>
}

// A dequantized value with a second float user: the data movement moves to
// the integers, but the dequantize stays for the float user.
// CHECK-LABEL: func.func @second_float_user
// CHECK-DAG: %[[D:.*]] = qopt.dequantize %arg0
// CHECK-DAG: %[[R:.*]] = qopt.reshape %arg0 : (tensor<2x6x!quant.uniform<u8:f32, 5.000000e-02:10>>) -> tensor<12x!quant.uniform<u8:f32, 5.000000e-02:10>>
// CHECK: %[[S:.*]] = qopt.softmax %[[D]]
// CHECK: return %[[R]], %[[S]]
func.func @second_float_user(%q: tensor<2x6x!u8>) -> (tensor<12x!u8>, tensor<2x6xf32>) {
  %d = qopt.dequantize %q : (tensor<2x6x!u8>) -> tensor<2x6xf32>
  %a = qopt.reshape %d : (tensor<2x6xf32>) -> tensor<12xf32>
  %aq = qopt.quantize %a : (tensor<12xf32>) -> tensor<12x!u8>
  %s = qopt.softmax %d : tensor<2x6xf32>
  return %aq, %s : tensor<12x!u8>, tensor<2x6xf32>
}

//===----------------------------------------------------------------------===//
// 3. Linear ops
//===----------------------------------------------------------------------===//

// gemm(trans_b) + bias + relu -> u8 with zero point 0: the relu is the
// requantize's saturation. The [N, K] weight becomes a transposed [K, N]
// constant; bias / (0.05 * s_w) = [1000, -250, 500].
// CHECK-LABEL: func.func @gemm_relu
// CHECK-DAG: %[[B:.*]] = qopt.constant dense<[1000, -250, 500]> : tensor<3xi32> loc("fc1.bias_i32"("fc1"))
// CHECK-DAG: %[[W:.*]] = qopt.constant dense<{{\[}}[1, -1, 5], [2, -2, 0], [3, -3, -5], [4, -4, 127]]> : tensor<4x3xi8>
// CHECK: %[[X:.*]] = qopt.quantize %arg0
// CHECK: %[[WQ:.*]] = quant.scast %[[W]] : tensor<4x3xi8> to tensor<4x3x!quant.uniform<i8<-127:127>:f32:1, {1.000000e-02,2.000000e-02,4.000000e-02}>>
// CHECK: %[[ACC:.*]] = qopt.matmul_integer %[[X]], %[[WQ]] {qopt.scheme = "w8a8-static"} : {{.*}} -> tensor<?x3xi32> loc("fc1.acc"("fc1"))
// CHECK: %[[ACCB:.*]] = qopt.add %[[ACC]], %[[B]] : (tensor<?x3xi32>, tensor<3xi32>) -> tensor<?x3xi32>
// CHECK: %[[AQ:.*]] = quant.scast %[[ACCB]] : tensor<?x3xi32> to tensor<?x3x!quant.uniform<i32:f32:1, {5.0000002374872565E-4,0.0010000000474974513,0.0020000000949949026}>>
// CHECK: %[[Y:.*]] = qopt.requantize %[[AQ]] {qopt.scheme = "w8a8-static"} : {{.*}} -> tensor<?x3x!quant.uniform<u8:f32, 1.000000e-01>> loc("fc1")
// CHECK-NOT: qopt.relu
// CHECK: return %[[Y]]
func.func @gemm_relu(%x: tensor<?x4xf32>) -> tensor<?x3x!quant.uniform<u8:f32, 0.1>> {
  %w = qopt.constant dense<[[1, 2, 3, 4], [-1, -2, -3, -4], [5, 0, -5, 127]]> : tensor<3x4xi8>
  %wq = quant.scast %w : tensor<3x4xi8> to tensor<3x4x!w>
  %wd = qopt.dequantize %wq : (tensor<3x4x!w>) -> tensor<3x4xf32>
  %b = qopt.constant dense<[0.5, -0.25, 1.0]> : tensor<3xf32>
  %xq = qopt.quantize %x : (tensor<?x4xf32>) -> tensor<?x4x!u8>
  %xd = qopt.dequantize %xq : (tensor<?x4x!u8>) -> tensor<?x4xf32>
  %y = qopt.gemm %xd, %wd, %b {trans_b = true, qopt.scheme = "w8a8-static"} : (tensor<?x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<?x3xf32> loc("fc1")
  %r = qopt.relu %y : tensor<?x3xf32>
  %rq = qopt.quantize %r : (tensor<?x3xf32>) -> tensor<?x3x!quant.uniform<u8:f32, 0.1>>
  return %rq : tensor<?x3x!quant.uniform<u8:f32, 0.1>>
}

// matmul + trailing bias add (either operand order) + relu -> symmetric s8:
// zero point 0 > qmin, so the relu is a requantize into i8<0:127> and an exact
// widening requantize, which carries the layer's name.
// CHECK-LABEL: func.func @matmul_bias_relu_s8
// CHECK: %[[ACC:.*]] = qopt.matmul_integer %{{.*}}, %{{.*}} {qopt.scheme = "w8a8-static"} : (tensor<2x3x4x!quant.uniform<i8:f32, 5.000000e-02>>, tensor<4x3x!quant.uniform<i8<-127:127>:f32:1, {1.000000e-02,2.000000e-02,4.000000e-02}>>) -> tensor<2x3x3xi32>
// CHECK: %[[ACCB:.*]] = qopt.add %[[ACC]], %{{.*}} : (tensor<2x3x3xi32>, tensor<3xi32>) -> tensor<2x3x3xi32>
// CHECK: %[[AQ:.*]] = quant.scast %[[ACCB]] : tensor<2x3x3xi32> to tensor<2x3x3x!quant.uniform<i32:f32:2, {{.*}}>>
// CHECK: %[[N:.*]] = qopt.requantize %[[AQ]] {{.*}} -> tensor<2x3x3x!quant.uniform<i8<0:127>:f32, 5.000000e-02>> loc("fc2.relu"("fc2"))
// CHECK: %[[Y:.*]] = qopt.requantize %[[N]] {{.*}} -> tensor<2x3x3x!quant.uniform<i8:f32, 5.000000e-02>> loc("fc2")
// CHECK: return %[[Y]]
func.func @matmul_bias_relu_s8(%x: tensor<2x3x4xf32>) -> tensor<2x3x3x!s8> {
  %w = qopt.constant dense<[[1, 2, 3], [-1, -2, -3], [5, 0, -5], [7, 8, 9]]> : tensor<4x3xi8>
  %wq = quant.scast %w : tensor<4x3xi8> to tensor<4x3x!wk>
  %wd = qopt.dequantize %wq : (tensor<4x3x!wk>) -> tensor<4x3xf32>
  %b = qopt.constant dense<[0.5, -0.25, 1.0]> : tensor<3xf32>
  %xq = qopt.quantize %x : (tensor<2x3x4xf32>) -> tensor<2x3x4x!s8>
  %xd = qopt.dequantize %xq : (tensor<2x3x4x!s8>) -> tensor<2x3x4xf32>
  %y = qopt.matmul %xd, %wd {qopt.scheme = "w8a8-static"} : (tensor<2x3x4xf32>, tensor<4x3xf32>) -> tensor<2x3x3xf32> loc("fc2")
  %yb = qopt.add %b, %y : (tensor<3xf32>, tensor<2x3x3xf32>) -> tensor<2x3x3xf32>
  %r = qopt.relu %yb : tensor<2x3x3xf32>
  %rq = qopt.quantize %r : (tensor<2x3x3xf32>) -> tensor<2x3x3x!s8>
  return %rq : tensor<2x3x3x!s8>
}

// conv2d + bias + relu + max_pool -> quantize: the quantize is hoisted above
// the pool, the conv becomes conv2d_integer with a [O, 1, 1] int32 bias and a
// per-channel (dim 1) requantize, the pool runs on i8.
// CHECK-LABEL: func.func @conv
// CHECK-DAG: %[[B:.*]] = qopt.constant dense<{{\[}}{{\[}}[1000]], {{\[}}[-250]], {{\[}}[500]]]> : tensor<3x1x1xi32>
// CHECK: %[[ACC:.*]] = qopt.conv2d_integer %{{.*}}, %{{.*}} : (tensor<1x2x5x5x!quant.uniform<i8:f32, 5.000000e-02>>, tensor<3x2x2x2x!quant.uniform<i8<-127:127>:f32:0, {1.000000e-02,2.000000e-02,4.000000e-02}>>) -> tensor<1x3x4x4xi32> loc("conv1.acc"("conv1"))
// CHECK: %[[ACCB:.*]] = qopt.add %[[ACC]], %[[B]] : (tensor<1x3x4x4xi32>, tensor<3x1x1xi32>) -> tensor<1x3x4x4xi32>
// CHECK: quant.scast %[[ACCB]] : tensor<1x3x4x4xi32> to tensor<1x3x4x4x!quant.uniform<i32:f32:1, {{.*}}>>
// CHECK: qopt.requantize {{.*}} -> tensor<1x3x4x4x!quant.uniform<i8<0:127>:f32, 5.000000e-02>>
// CHECK: %[[Y:.*]] = qopt.requantize {{.*}} -> tensor<1x3x4x4x!quant.uniform<i8:f32, 5.000000e-02>> loc("conv1")
// CHECK: %[[YI:.*]] = quant.scast %[[Y]] : {{.*}} to tensor<1x3x4x4xi8>
// CHECK: %[[P:.*]] = qopt.max_pool2d %[[YI]] {{.*}} : (tensor<1x3x4x4xi8>) -> tensor<1x3x2x2xi8>
// CHECK: %[[PQ:.*]] = quant.scast %[[P]] : tensor<1x3x2x2xi8> to tensor<1x3x2x2x!quant.uniform<i8:f32, 5.000000e-02>>
// CHECK: return %[[PQ]]
func.func @conv(%x: tensor<1x2x5x5xf32>) -> tensor<1x3x2x2x!s8> {
  %w = qopt.constant dense<1> : tensor<3x2x2x2xi8>
  %wq = quant.scast %w : tensor<3x2x2x2xi8> to tensor<3x2x2x2x!w>
  %wd = qopt.dequantize %wq : (tensor<3x2x2x2x!w>) -> tensor<3x2x2x2xf32>
  %b = qopt.constant dense<[0.5, -0.25, 1.0]> : tensor<3xf32>
  %xq = qopt.quantize %x : (tensor<1x2x5x5xf32>) -> tensor<1x2x5x5x!s8>
  %xd = qopt.dequantize %xq : (tensor<1x2x5x5x!s8>) -> tensor<1x2x5x5xf32>
  %y = qopt.conv2d %xd, %wd, %b : (tensor<1x2x5x5xf32>, tensor<3x2x2x2xf32>, tensor<3xf32>) -> tensor<1x3x4x4xf32> loc("conv1")
  %r = qopt.relu %y : tensor<1x3x4x4xf32>
  %p = qopt.max_pool2d %r {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<1x3x4x4xf32>) -> tensor<1x3x2x2xf32>
  %pq = qopt.quantize %p : (tensor<1x3x2x2xf32>) -> tensor<1x3x2x2x!s8>
  return %pq : tensor<1x3x2x2x!s8>
}

// batch_matmul of two per-tensor activations: one accumulator scale.
// CHECK-LABEL: func.func @batch_matmul
// CHECK: %[[ACC:.*]] = qopt.matmul_integer %{{.*}}, %{{.*}} : (tensor<2x3x4x!quant.uniform<i8:f32, 5.000000e-02>>, tensor<2x4x5x!quant.uniform<u8:f32, 5.000000e-02:10>>) -> tensor<2x3x5xi32>
// CHECK: %[[AQ:.*]] = quant.scast %[[ACC]] : tensor<2x3x5xi32> to tensor<2x3x5x!quant.uniform<i32:f32, 0.0025000001769512892>>
// CHECK: qopt.requantize %[[AQ]] {{.*}} -> tensor<2x3x5x!quant.uniform<i8:f32, 5.000000e-02>> loc("scores")
func.func @batch_matmul(%a: tensor<2x3x4xf32>, %b: tensor<2x4x5xf32>) -> tensor<2x3x5x!s8> {
  %aq = qopt.quantize %a : (tensor<2x3x4xf32>) -> tensor<2x3x4x!s8>
  %ad = qopt.dequantize %aq : (tensor<2x3x4x!s8>) -> tensor<2x3x4xf32>
  %bq = qopt.quantize %b : (tensor<2x4x5xf32>) -> tensor<2x4x5x!u8>
  %bd = qopt.dequantize %bq : (tensor<2x4x5x!u8>) -> tensor<2x4x5xf32>
  %y = qopt.batch_matmul %ad, %bd : (tensor<2x3x4xf32>, tensor<2x4x5xf32>) -> tensor<2x3x5xf32> loc("scores")
  %yq = qopt.quantize %y : (tensor<2x3x5xf32>) -> tensor<2x3x5x!s8>
  return %yq : tensor<2x3x5x!s8>
}

// No quantize follows (the logits): dequantize the int32 accumulator and add
// the float bias (beta applied), which carries the layer's name.
// CHECK-LABEL: func.func @last_layer
// CHECK-DAG: %[[B:.*]] = qopt.constant dense<[1.000000e+00, -5.000000e-01, 2.000000e+00]> : tensor<3xf32>
// CHECK: %[[ACC:.*]] = qopt.matmul_integer %arg0, %{{.*}} -> tensor<?x3xi32> loc("head.acc"("head"))
// CHECK: %[[AQ:.*]] = quant.scast %[[ACC]]
// CHECK: %[[D:.*]] = qopt.dequantize %[[AQ]] : (tensor<?x3x!quant.uniform<i32:f32:1, {{.*}}>>) -> tensor<?x3xf32>
// CHECK: %[[Y:.*]] = qopt.add %[[D]], %[[B]] {{.*}} loc("head")
// CHECK: return %[[Y]]
func.func @last_layer(%xq: tensor<?x4x!u8>) -> tensor<?x3xf32> {
  %w = qopt.constant dense<[[1, 2, 3, 4], [-1, -2, -3, -4], [5, 0, -5, 127]]> : tensor<3x4xi8>
  %wq = quant.scast %w : tensor<3x4xi8> to tensor<3x4x!w>
  %wd = qopt.dequantize %wq : (tensor<3x4x!w>) -> tensor<3x4xf32>
  %b = qopt.constant dense<[0.5, -0.25, 1.0]> : tensor<3xf32>
  %xd = qopt.dequantize %xq : (tensor<?x4x!u8>) -> tensor<?x4xf32>
  %y = qopt.gemm %xd, %wd, %b {trans_b = true, beta = 2.0 : f32, qopt.scheme = "w8a8-static"} : (tensor<?x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<?x3xf32> loc("head")
  return %y : tensor<?x3xf32>
}

// The layer's float result has a second user: no requantize epilogue (that
// would keep the float gemm too); the accumulator is dequantized for both.
// CHECK-LABEL: func.func @output_second_user
// CHECK: qopt.matmul_integer
// CHECK: %[[D:.*]] = qopt.dequantize %{{.*}} : (tensor<?x3x!quant.uniform<i32:f32:1, {{.*}}>>) -> tensor<?x3xf32> loc("fc")
// CHECK: %[[Q:.*]] = qopt.quantize %[[D]]
// CHECK-NOT: qopt.requantize
// CHECK: return %[[Q]], %[[D]]
func.func @output_second_user(%xq: tensor<?x4x!u8>) -> (tensor<?x3x!u8>, tensor<?x3xf32>) {
  %w = qopt.constant dense<[[1, 2, 3, 4], [-1, -2, -3, -4], [5, 0, -5, 127]]> : tensor<3x4xi8>
  %wq = quant.scast %w : tensor<3x4xi8> to tensor<3x4x!w>
  %wd = qopt.dequantize %wq : (tensor<3x4x!w>) -> tensor<3x4xf32>
  %xd = qopt.dequantize %xq : (tensor<?x4x!u8>) -> tensor<?x4xf32>
  %y = qopt.gemm %xd, %wd {trans_b = true} : (tensor<?x4xf32>, tensor<3x4xf32>) -> tensor<?x3xf32> loc("fc")
  %yq = qopt.quantize %y : (tensor<?x3xf32>) -> tensor<?x3x!u8>
  return %yq, %y : tensor<?x3x!u8>, tensor<?x3xf32>
}

// gemm with alpha != 1 stays float.
// CHECK-LABEL: func.func @alpha
// CHECK-NOT: matmul_integer
// CHECK: qopt.gemm {{.*}}alpha = 2.000000e+00 : f32
// CHECK: qopt.quantize
func.func @alpha(%xq: tensor<?x4x!u8>) -> tensor<?x3x!u8> {
  %w = qopt.constant dense<[[1, 2, 3, 4], [-1, -2, -3, -4], [5, 0, -5, 127]]> : tensor<3x4xi8>
  %wq = quant.scast %w : tensor<3x4xi8> to tensor<3x4x!w>
  %wd = qopt.dequantize %wq : (tensor<3x4x!w>) -> tensor<3x4xf32>
  %xd = qopt.dequantize %xq : (tensor<?x4x!u8>) -> tensor<?x4xf32>
  %y = qopt.gemm %xd, %wd {trans_b = true, alpha = 2.0 : f32} : (tensor<?x4xf32>, tensor<3x4xf32>) -> tensor<?x3xf32>
  %yq = qopt.quantize %y : (tensor<?x3xf32>) -> tensor<?x3x!u8>
  return %yq : tensor<?x3x!u8>
}

// A matmul weight that is not a constant stays float.
// CHECK-LABEL: func.func @nonconst_weight
// CHECK-NOT: matmul_integer
// CHECK: qopt.matmul
func.func @nonconst_weight(%xq: tensor<?x4x!u8>, %w: tensor<4x3xf32>) -> tensor<?x3x!u8> {
  %wq = qopt.quantize %w : (tensor<4x3xf32>) -> tensor<4x3x!s8>
  %wd = qopt.dequantize %wq : (tensor<4x3x!s8>) -> tensor<4x3xf32>
  %xd = qopt.dequantize %xq : (tensor<?x4x!u8>) -> tensor<?x4xf32>
  %y = qopt.matmul %xd, %wd : (tensor<?x4xf32>, tensor<4x3xf32>) -> tensor<?x3xf32>
  %yq = qopt.quantize %y : (tensor<?x3xf32>) -> tensor<?x3x!u8>
  return %yq : tensor<?x3x!u8>
}

//===----------------------------------------------------------------------===//
// 4. Per-token dynamic activations
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @per_token
// CHECK-DAG: %[[WS:.*]] = qopt.constant dense<[0.00999999977, 2.000000e-02, 4.000000e-02]> : tensor<3xf32>
// CHECK-DAG: %[[WQ:.*]] = quant.scast
// CHECK: %[[Q:.*]], %[[S:.*]], %{{.*}} = qopt.dynamic_quantize %arg0 {per_token}
// CHECK: %[[ACC:.*]] = qopt.matmul_integer %[[Q]], %[[WQ]] {qopt.scheme = "w8a8-dynamic"} : (tensor<?x4xi8>, {{.*}}) -> tensor<?x3xi32>
// CHECK: %[[F:.*]] = qopt.cast %[[ACC]] : tensor<?x3xi32> to tensor<?x3xf32>
// CHECK: %[[T:.*]] = qopt.mul %[[F]], %[[S]] : (tensor<?x3xf32>, tensor<?x1xf32>) -> tensor<?x3xf32>
// CHECK: %[[Y:.*]] = qopt.mul %[[T]], %[[WS]] {qopt.scheme = "w8a8-dynamic"} : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32> loc("fc_dyn")
// CHECK: return %[[Y]]
func.func @per_token(%x: tensor<?x4xf32>) -> tensor<?x3xf32> {
  %w = qopt.constant dense<[[1, 2, 3], [-1, -2, -3], [5, 0, -5], [7, 8, 9]]> : tensor<4x3xi8>
  %wq = quant.scast %w : tensor<4x3xi8> to tensor<4x3x!wk>
  %wd = qopt.dequantize %wq : (tensor<4x3x!wk>) -> tensor<4x3xf32>
  %q, %s, %zp = qopt.dynamic_quantize %x {per_token} : tensor<?x4xf32> -> tensor<?x4xi8>, tensor<?x1xf32>, tensor<?x1xi8>
  %xd = qopt.dequantize %q, %s, %zp {axis = 1 : i64, block_size = 4 : i64} : (tensor<?x4xi8>, tensor<?x1xf32>, tensor<?x1xi8>) -> tensor<?x4xf32>
  %y = qopt.matmul %xd, %wd {qopt.scheme = "w8a8-dynamic"} : (tensor<?x4xf32>, tensor<4x3xf32>) -> tensor<?x3xf32> loc("fc_dyn")
  return %y : tensor<?x3xf32>
}

// Weight-only group-wise weights (operand-form dequantize) are left alone.
// CHECK-LABEL: func.func @weight_only_group
// CHECK: %[[D:.*]] = qopt.dequantize %{{.*}}, %{{.*}} {axis = 0 : i64, block_size = 4 : i64}
// CHECK: qopt.matmul %arg0, %[[D]]
func.func @weight_only_group(%x: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %w = qopt.constant dense<[[1, -2], [3, -4], [5, -6], [7, -8], [1, 1], [2, 2], [3, 3], [4, 4]]> : tensor<8x2xi4>
  %s = qopt.constant dense<[[0.1, 0.2], [0.3, 0.4]]> : tensor<2x2xf32>
  %wd = qopt.dequantize %w, %s {axis = 0 : i64, block_size = 4 : i64} : (tensor<8x2xi4>, tensor<2x2xf32>) -> tensor<8x2xf32>
  %y = qopt.matmul %x, %wd {qopt.scheme = "w4-g4-sym"} : (tensor<?x8xf32>, tensor<8x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// integer-ops=false: the exact folds only; every linear op stays float (no
// *_integer op anywhere).
// EXACT-LABEL: func.func @gemm_relu
// EXACT: qopt.gemm
// EXACT: qopt.relu
// EXACT-LABEL: func.func @conv
// EXACT: %[[R:.*]] = qopt.relu
// EXACT: %[[Q:.*]] = qopt.quantize %[[R]] : (tensor<1x3x4x4xf32>) -> tensor<1x3x4x4x!quant.uniform<i8:f32, 5.000000e-02>>
// EXACT: quant.scast %[[Q]]
// EXACT: qopt.max_pool2d {{.*}} : (tensor<1x3x4x4xi8>) -> tensor<1x3x2x2xi8>
// EXACT-LABEL: func.func @per_token
// EXACT: qopt.matmul

// quantize is hoisted above a slice or gather only when their input is a
// constant (which then folds): quantizing all of a run-time tensor to use
// part of it would cost more.
// CHECK-LABEL: func.func @hoist_slice_gather
// CHECK-DAG: %[[T:.*]] = qopt.constant dense<{{\[}}[2, 4], [6, 8], [10, 12]]> : tensor<3x2xi8>
// CHECK-DAG: %[[TQ:.*]] = quant.scast %[[T]]
// CHECK-DAG: %[[G:.*]] = qopt.gather %[[TQ]], %arg1 : (tensor<3x2x!quant.uniform<i8:f32, 5.000000e-02>>, tensor<2xi64>) -> tensor<2x2x!quant.uniform<i8:f32, 5.000000e-02>>
// CHECK-DAG: %[[S:.*]] = qopt.slice %arg0 {{.*}} : (tensor<4x6xf32>) -> tensor<1x6xf32>
// CHECK-DAG: %[[SQ:.*]] = qopt.quantize %[[S]]
// CHECK: return %[[SQ]], %[[G]]
func.func @hoist_slice_gather(%x: tensor<4x6xf32>, %ids: tensor<2xi64>) -> (tensor<1x6x!s8>, tensor<2x2x!s8>) {
  %s = qopt.slice %x {starts = array<i64: 0, 0>, ends = array<i64: 1, 6>, steps = array<i64: 1, 1>} : (tensor<4x6xf32>) -> tensor<1x6xf32>
  %sq = qopt.quantize %s : (tensor<1x6xf32>) -> tensor<1x6x!s8>
  %t = qopt.constant dense<[[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]> : tensor<3x2xf32>
  %g = qopt.gather %t, %ids {axis = 0 : i64} : (tensor<3x2xf32>, tensor<2xi64>) -> tensor<2x2xf32>
  %gq = qopt.quantize %g : (tensor<2x2xf32>) -> tensor<2x2x!s8>
  return %sq, %gq : tensor<1x6x!s8>, tensor<2x2x!s8>
}
