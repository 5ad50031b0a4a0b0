// RUN: qopt %s --qopt-fuse | FileCheck %s
// RUN: qopt %s --qopt-fuse=kinds=elementwise | FileCheck %s --check-prefix=ONLYEW
// RUN: qopt %s --qopt-fuse --mlir-print-debuginfo --mlir-print-local-scope | FileCheck %s --check-prefix=LOC
// The fused form prints, parses and verifies; a second run changes nothing
// (fused ops have regions and never join a group).
// RUN: qopt %s --qopt-fuse -o %t.1.mlir
// RUN: qopt %t.1.mlir --qopt-fuse -o %t.2.mlir
// RUN: diff %t.1.mlir %t.2.mlir
// RUN: not qopt %s --qopt-fuse=kinds=linear,bogus 2>&1 | FileCheck %s --check-prefix=BADKIND
// BADKIND: error: qopt-fuse: unknown kind 'bogus' (expected linear, dequant_matmul, norm_quantize or elementwise)

!u8 = !quant.uniform<u8:f32, 0.05:10>
!w = !quant.uniform<i8<-127:127>:f32:1, {0.01, 0.02, 0.04}>
!acc = !quant.uniform<i32:f32:1, {0.0005, 0.001, 0.002}>
!w4 = !quant.uniform<i4<-7:7>:f32:0, {0.1, 0.2, 0.3}>
!w4t = !quant.uniform<i4<-7:7>:f32, 0.1>

//===----------------------------------------------------------------------===//
// linear
//===----------------------------------------------------------------------===//

// matmul + bias + relu: operands in the anchor's order, then the bias; the
// fused op takes the anchor's location.
// CHECK-LABEL: func.func @matmul_bias_relu
// CHECK-DAG:   %[[W:.*]] = qopt.constant dense<1.000000e+00> : tensor<4x3xf32>
// CHECK-DAG:   %[[B:.*]] = qopt.constant dense<5.000000e-01> : tensor<3xf32>
// CHECK:       %[[F:.*]] = qopt.fused "linear" (%arg0, %[[W]], %[[B]]) : (tensor<?x4xf32>, tensor<4x3xf32>, tensor<3xf32>) -> tensor<?x3xf32> {
// CHECK-NEXT:  ^bb0(%[[X:.*]]: tensor<?x4xf32>, %[[WA:.*]]: tensor<4x3xf32>, %[[BA:.*]]: tensor<3xf32>):
// CHECK-NEXT:    %[[M:.*]] = qopt.matmul %[[X]], %[[WA]]
// CHECK-NEXT:    %[[A:.*]] = qopt.add %[[M]], %[[BA]]
// CHECK-NEXT:    %[[R:.*]] = qopt.relu %[[A]]
// CHECK-NEXT:    qopt.yield %[[R]] : tensor<?x3xf32>
// CHECK-NEXT:  }
// CHECK-NEXT:  return %[[F]]
// kinds=elementwise: the matmul stays alone, its bias add and relu are an
// elementwise chain.
// ONLYEW-LABEL: func.func @matmul_bias_relu
// ONLYEW:       %[[M:.*]] = qopt.matmul
// ONLYEW-NEXT:  qopt.fused "elementwise" (%[[M]], %{{.*}})
// ONLYEW-NEXT:  ^bb0(
// ONLYEW-NEXT:    qopt.add
// ONLYEW-NEXT:    qopt.relu
func.func @matmul_bias_relu(%x: tensor<?x4xf32>) -> tensor<?x3xf32> {
  %w = qopt.constant dense<1.0> : tensor<4x3xf32>
  %b = qopt.constant dense<0.5> : tensor<3xf32>
  %m = qopt.matmul %x, %w : (tensor<?x4xf32>, tensor<4x3xf32>) -> tensor<?x3xf32>
  %a = qopt.add %m, %b : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %r = qopt.relu %a : tensor<?x3xf32>
  return %r : tensor<?x3xf32>
}

// The folded static W8A8 form: the weight's scast, matmul_integer, int32
// bias, accumulator scast and the requantize to the next op's scale. The
// requantize closes the group: the dequantize after it stays outside. The
// fused op is named after the layer (fc1), not the helper (fc1.acc).
// CHECK-LABEL: func.func @integer_linear
// CHECK:       %[[WI:.*]] = qopt.constant dense<1> : tensor<4x3xi8>
// CHECK:       %[[F:.*]] = qopt.fused "linear" (%arg0, %[[WI]], %{{.*}}) : (tensor<?x4x!quant.uniform<u8:f32, 5.000000e-02:10>>, tensor<4x3xi8>, tensor<3xi32>) -> tensor<?x3x!quant.uniform<u8:f32, 5.000000e-02:10>> {
// CHECK-NEXT:  ^bb0(
// CHECK-NEXT:    quant.scast
// CHECK-NEXT:    qopt.matmul_integer
// CHECK-NEXT:    qopt.add
// CHECK-NEXT:    quant.scast
// CHECK-NEXT:    %[[RQ:.*]] = qopt.requantize
// CHECK-NEXT:    qopt.yield %[[RQ]]
// CHECK-NEXT:  }
// CHECK-NEXT:  %[[D:.*]] = qopt.dequantize %[[F]]
// CHECK-NEXT:  return %[[D]]
// LOC-LABEL:   func.func @integer_linear
// LOC:         qopt.fused "linear"
// LOC:         qopt.matmul_integer {{.*}} loc("fc1.acc")
// LOC:         qopt.yield
// LOC-NEXT:    } loc("fc1")
func.func @integer_linear(%xq: tensor<?x4x!u8>) -> tensor<?x3xf32> {
  %w = qopt.constant dense<1> : tensor<4x3xi8>
  %bias = qopt.constant dense<7> : tensor<3xi32>
  %wq = quant.scast %w : tensor<4x3xi8> to tensor<4x3x!w>
  %acc = qopt.matmul_integer %xq, %wq : (tensor<?x4x!u8>, tensor<4x3x!w>) -> tensor<?x3xi32> loc("fc1.acc")
  %accb = qopt.add %acc, %bias : (tensor<?x3xi32>, tensor<3xi32>) -> tensor<?x3xi32> loc("fc1.bias")
  %accq = quant.scast %accb : tensor<?x3xi32> to tensor<?x3x!acc> loc("fc1.acc_q")
  %y = qopt.requantize %accq : (tensor<?x3x!acc>) -> tensor<?x3x!u8> loc("fc1")
  %d = qopt.dequantize %y : (tensor<?x3x!u8>) -> tensor<?x3xf32>
  return %d : tensor<?x3xf32>
}

// conv2d + silu; gemm + residual add + gelu.
// CHECK-LABEL: func.func @conv_and_gemm
// CHECK:       qopt.fused "linear" (%arg0, %{{.*}}) : (tensor<1x2x4x4xf32>, tensor<3x2x1x1xf32>) -> tensor<1x3x4x4xf32>
// CHECK-NEXT:  ^bb0(
// CHECK-NEXT:    qopt.conv2d
// CHECK-NEXT:    qopt.silu
// CHECK-NEXT:    qopt.yield
// CHECK:       qopt.fused "linear" (%arg1, %{{.*}}, %arg2) : (tensor<2x4xf32>, tensor<3x4xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:  ^bb0(
// CHECK-NEXT:    qopt.gemm
// CHECK-NEXT:    qopt.add
// CHECK-NEXT:    qopt.gelu
// CHECK-NEXT:    qopt.yield
func.func @conv_and_gemm(%x: tensor<1x2x4x4xf32>, %a: tensor<2x4xf32>, %res: tensor<2x3xf32>) -> (tensor<1x3x4x4xf32>, tensor<2x3xf32>) {
  %f = qopt.constant dense<0.25> : tensor<3x2x1x1xf32>
  %c = qopt.conv2d %x, %f : (tensor<1x2x4x4xf32>, tensor<3x2x1x1xf32>) -> tensor<1x3x4x4xf32>
  %s = qopt.silu %c : tensor<1x3x4x4xf32>
  %w = qopt.constant dense<0.5> : tensor<3x4xf32>
  %g = qopt.gemm %a, %w {trans_b = true} : (tensor<2x4xf32>, tensor<3x4xf32>) -> tensor<2x3xf32>
  %r = qopt.add %g, %res : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %e = qopt.gelu %r : tensor<2x3xf32>
  return %s, %e : tensor<1x3x4x4xf32>, tensor<2x3xf32>
}

// A matmul result with a second user is not fused: the relu stays outside
// and the matmul alone forms no group.
// CHECK-LABEL: func.func @second_user
// CHECK-NOT:   qopt.fused
// CHECK:       %[[M:.*]] = qopt.matmul
// CHECK-NEXT:  %[[R:.*]] = qopt.relu %[[M]]
// CHECK-NEXT:  return %[[M]], %[[R]]
func.func @second_user(%x: tensor<2x4xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
  %w = qopt.constant dense<1.0> : tensor<4x3xf32>
  %m = qopt.matmul %x, %w : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  %r = qopt.relu %m : tensor<2x3xf32>
  return %m, %r : tensor<2x3xf32>, tensor<2x3xf32>
}

// The bias-added value has a second user: matmul + add fuse and the add's
// value is the group's result, used by the relu (outside) and the return.
// CHECK-LABEL: func.func @second_user_mid
// CHECK:       %[[F:.*]] = qopt.fused "linear"
// CHECK-NEXT:  ^bb0(
// CHECK-NEXT:    qopt.matmul
// CHECK-NEXT:    %[[A:.*]] = qopt.add
// CHECK-NEXT:    qopt.yield %[[A]]
// CHECK-NEXT:  }
// CHECK-NEXT:  %[[R:.*]] = qopt.relu %[[F]]
// CHECK-NEXT:  return %[[F]], %[[R]]
func.func @second_user_mid(%x: tensor<2x4xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
  %w = qopt.constant dense<1.0> : tensor<4x3xf32>
  %b = qopt.constant dense<1.0> : tensor<3xf32>
  %m = qopt.matmul %x, %w : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  %a = qopt.add %m, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %r = qopt.relu %a : tensor<2x3xf32>
  return %a, %r : tensor<2x3xf32>, tensor<2x3xf32>
}

// A quantize closes the epilogue: the dequantize and add after it do not
// join (they form no group of their own: dequantize is not elementwise).
// CHECK-LABEL: func.func @quantize_closes
// CHECK:       %[[F:.*]] = qopt.fused "linear"
// CHECK-NEXT:  ^bb0(
// CHECK-NEXT:    qopt.matmul
// CHECK-NEXT:    qopt.relu
// CHECK-NEXT:    %[[Q:.*]] = qopt.quantize
// CHECK-NEXT:    qopt.yield %[[Q]]
// CHECK-NEXT:  }
// CHECK-NEXT:  %[[D:.*]] = qopt.dequantize %[[F]]
// CHECK-NEXT:  qopt.add %[[D]]
func.func @quantize_closes(%x: tensor<2x4xf32>, %y: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %w = qopt.constant dense<1.0> : tensor<4x3xf32>
  %m = qopt.matmul %x, %w : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  %r = qopt.relu %m : tensor<2x3xf32>
  %q = qopt.quantize %r : (tensor<2x3xf32>) -> tensor<2x3x!u8>
  %d = qopt.dequantize %q : (tensor<2x3x!u8>) -> tensor<2x3xf32>
  %a = qopt.add %d, %y : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %a : tensor<2x3xf32>
}

// SwiGLU: the gate's silu and the multiply by the up projection join the
// gate's group; the up projection (a matmul alone) stays outside and is an
// operand.
// CHECK-LABEL: func.func @swiglu
// CHECK:       %[[UP:.*]] = qopt.matmul %arg0
// CHECK-NEXT:  qopt.fused "linear" (%arg0, %{{.*}}, %[[UP]])
// CHECK-NEXT:  ^bb0(
// CHECK-NEXT:    qopt.matmul
// CHECK-NEXT:    qopt.silu
// CHECK-NEXT:    qopt.mul
// CHECK-NEXT:    qopt.yield
func.func @swiglu(%x: tensor<2x4xf32>) -> tensor<2x8xf32> {
  %wg = qopt.constant dense<0.5> : tensor<4x8xf32>
  %wu = qopt.constant dense<0.25> : tensor<4x8xf32>
  %g = qopt.matmul %x, %wg : (tensor<2x4xf32>, tensor<4x8xf32>) -> tensor<2x8xf32>
  %s = qopt.silu %g : tensor<2x8xf32>
  %u = qopt.matmul %x, %wu : (tensor<2x4xf32>, tensor<4x8xf32>) -> tensor<2x8xf32>
  %m = qopt.mul %s, %u : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  return %m : tensor<2x8xf32>
}

//===----------------------------------------------------------------------===//
// dequant_matmul
//===----------------------------------------------------------------------===//

// Weight-only: the operand-form dequantize of constant weights, scales and
// zero points, the matmul and its bias add. The group's operands are the
// activation, the packed weight and its parameters, and the bias.
// CHECK-LABEL: func.func @weight_only_groups
// CHECK:       qopt.fused "dequant_matmul" (%arg0, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : (tensor<?x4xf32>, tensor<4x3xui4>, tensor<2x3xf32>, tensor<2x3xui4>, tensor<3xf32>) -> tensor<?x3xf32>
// CHECK-NEXT:  ^bb0(
// CHECK-NEXT:    qopt.dequantize
// CHECK-NEXT:    qopt.matmul
// CHECK-NEXT:    qopt.add
// CHECK-NEXT:    qopt.yield
func.func @weight_only_groups(%x: tensor<?x4xf32>) -> tensor<?x3xf32> {
  %q = qopt.constant dense<[[14, 0, 1], [11, 15, 2], [0, 7, 3], [15, 0, 4]]> : tensor<4x3xui4>
  %s = qopt.constant dense<0.125> : tensor<2x3xf32>
  %z = qopt.constant dense<7> : tensor<2x3xui4>
  %w = qopt.dequantize %q, %s, %z {axis = 0 : i64, block_size = 2 : i64} : (tensor<4x3xui4>, tensor<2x3xf32>, tensor<2x3xui4>) -> tensor<4x3xf32>
  %b = qopt.constant dense<0.5> : tensor<3xf32>
  %m = qopt.matmul %x, %w : (tensor<?x4xf32>, tensor<4x3xf32>) -> tensor<?x3xf32>
  %a = qopt.add %m, %b : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  return %a : tensor<?x3xf32>
}

// Per-channel weight-only (scast of a constant, static dequantize) into a
// gemm alone: the dequantize makes the group.
// CHECK-LABEL: func.func @weight_only_per_channel
// CHECK:       qopt.fused "dequant_matmul" (%arg0, %{{.*}}) : (tensor<2x4xf32>, tensor<3x4xi4>) -> tensor<2x3xf32>
// CHECK-NEXT:  ^bb0(
// CHECK-NEXT:    quant.scast
// CHECK-NEXT:    qopt.dequantize
// CHECK-NEXT:    qopt.gemm
// CHECK-NEXT:    qopt.yield
func.func @weight_only_per_channel(%x: tensor<2x4xf32>) -> tensor<2x3xf32> {
  %q = qopt.constant dense<3> : tensor<3x4xi4>
  %wq = quant.scast %q : tensor<3x4xi4> to tensor<3x4x!w4>
  %w = qopt.dequantize %wq : (tensor<3x4x!w4>) -> tensor<3x4xf32>
  %y = qopt.gemm %x, %w {trans_b = true} : (tensor<2x4xf32>, tensor<3x4xf32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// A dequantize of a non-constant weight is not part of the kernel: it stays
// outside; the matmul and its relu still fuse as "linear".
// CHECK-LABEL: func.func @weight_not_constant
// CHECK:       %[[D:.*]] = qopt.dequantize %arg1
// CHECK-NEXT:  qopt.fused "linear" (%arg0, %[[D]])
// CHECK-NEXT:  ^bb0(
// CHECK-NEXT:    qopt.matmul
// CHECK-NEXT:    qopt.relu
// CHECK-NEXT:    qopt.yield
func.func @weight_not_constant(%x: tensor<2x4xf32>, %wq: tensor<4x3x!w4t>) -> tensor<2x3xf32> {
  %w = qopt.dequantize %wq : (tensor<4x3x!w4t>) -> tensor<4x3xf32>
  %m = qopt.matmul %x, %w : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  %r = qopt.relu %m : tensor<2x3xf32>
  return %r : tensor<2x3xf32>
}

// A dequantized weight with a second user stays outside too: no group.
// CHECK-LABEL: func.func @weight_shared
// CHECK-NOT:   qopt.fused
// CHECK:       return
func.func @weight_shared(%x: tensor<2x4xf32>) -> (tensor<2x3xf32>, tensor<3x4xf32>) {
  %q = qopt.constant dense<3> : tensor<3x4xi4>
  %wq = quant.scast %q : tensor<3x4xi4> to tensor<3x4x!w4>
  %w = qopt.dequantize %wq : (tensor<3x4x!w4>) -> tensor<3x4xf32>
  %y = qopt.gemm %x, %w {trans_b = true} : (tensor<2x4xf32>, tensor<3x4xf32>) -> tensor<2x3xf32>
  return %y, %w : tensor<2x3xf32>, tensor<3x4xf32>
}

//===----------------------------------------------------------------------===//
// norm_quantize
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @norm_quantize
// CHECK:       qopt.fused "norm_quantize" (%arg0, %{{.*}}, %{{.*}}) : (tensor<2x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4x!quant.uniform<u8:f32, 5.000000e-02:10>>
// CHECK-NEXT:  ^bb0(
// CHECK-NEXT:    qopt.layer_norm
// CHECK-NEXT:    qopt.quantize
// CHECK-NEXT:    qopt.yield
// CHECK:       qopt.fused "norm_quantize" (%arg1, %{{.*}})
// CHECK-NEXT:  ^bb0(
// CHECK-NEXT:    qopt.rms_norm
// CHECK-NEXT:    qopt.quantize
// CHECK-NEXT:    qopt.yield
func.func @norm_quantize(%x: tensor<2x4xf32>, %y: tensor<2x4xf32>) -> (tensor<2x4x!u8>, tensor<2x4x!u8>) {
  %g = qopt.constant dense<1.0> : tensor<4xf32>
  %b = qopt.constant dense<0.0> : tensor<4xf32>
  %n = qopt.layer_norm %x, %g, %b : (tensor<2x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %q = qopt.quantize %n : (tensor<2x4xf32>) -> tensor<2x4x!u8>
  %r = qopt.rms_norm %y, %g : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %rq = qopt.quantize %r : (tensor<2x4xf32>) -> tensor<2x4x!u8>
  return %q, %rq : tensor<2x4x!u8>, tensor<2x4x!u8>
}

// The normalized value also feeds a residual: no group.
// CHECK-LABEL: func.func @norm_second_user
// CHECK-NOT:   qopt.fused
// CHECK:       return
func.func @norm_second_user(%x: tensor<2x4xf32>) -> (tensor<2x4x!u8>, tensor<2x4xf32>) {
  %g = qopt.constant dense<1.0> : tensor<4xf32>
  %n = qopt.rms_norm %x, %g : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %q = qopt.quantize %n : (tensor<2x4xf32>) -> tensor<2x4x!u8>
  return %q, %n : tensor<2x4x!u8>, tensor<2x4xf32>
}

//===----------------------------------------------------------------------===//
// elementwise
//===----------------------------------------------------------------------===//

// A chain with a broadcast operand: mul, add, sigmoid.
// CHECK-LABEL: func.func @chain
// CHECK:       %[[F:.*]] = qopt.fused "elementwise" (%arg0, %arg1, %{{.*}}) : (tensor<2x4xf32>, tensor<4xf32>, tensor<f32>) -> tensor<2x4xf32>
// CHECK-NEXT:  ^bb0(
// CHECK-NEXT:    qopt.mul
// CHECK-NEXT:    qopt.add
// CHECK-NEXT:    qopt.sigmoid
// CHECK-NEXT:    qopt.yield
// CHECK-NEXT:  }
// CHECK-NEXT:  return %[[F]]
// ONLYEW-LABEL: func.func @chain
// ONLYEW:       qopt.fused "elementwise"
func.func @chain(%x: tensor<2x4xf32>, %s: tensor<4xf32>) -> tensor<2x4xf32> {
  %c = qopt.constant dense<1.0> : tensor<f32>
  %m = qopt.mul %x, %s : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %a = qopt.add %m, %c : (tensor<2x4xf32>, tensor<f32>) -> tensor<2x4xf32>
  %y = qopt.sigmoid %a : tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// Two chains meeting in a binary op form one group, in program order.
// CHECK-LABEL: func.func @two_chains
// CHECK:       qopt.fused "elementwise" (%arg0, %arg1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT:  ^bb0(
// CHECK-NEXT:    qopt.exp
// CHECK-NEXT:    qopt.neg
// CHECK-NEXT:    qopt.sqrt
// CHECK-NEXT:    qopt.add
// CHECK-NEXT:    qopt.yield
func.func @two_chains(%x: tensor<4xf32>, %y: tensor<4xf32>) -> tensor<4xf32> {
  %e = qopt.exp %x : tensor<4xf32>
  %n = qopt.neg %y : tensor<4xf32>
  %s = qopt.sqrt %n : tensor<4xf32>
  %a = qopt.add %e, %s : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %a : tensor<4xf32>
}

// A single elementwise op forms no group; neither do two with a
// non-elementwise op between them, nor a chain through a value with a
// second user.
// CHECK-LABEL: func.func @no_chain
// CHECK-NOT:   qopt.fused
// CHECK:       return
func.func @no_chain(%x: tensor<2x4xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {
  %a = qopt.tanh %x : tensor<2x4xf32>
  %s = qopt.softmax %x {axis = 1 : i64} : tensor<2x4xf32>
  %e = qopt.exp %s : tensor<2x4xf32>
  %t = qopt.softmax %e {axis = 1 : i64} : tensor<2x4xf32>
  %n = qopt.neg %t : tensor<2x4xf32>
  %r = qopt.erf %n : tensor<2x4xf32>
  %u = qopt.add %r, %n : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  return %a, %u, %r : tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>
}

