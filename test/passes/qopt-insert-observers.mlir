// RUN: qopt %s --split-input-file --qopt-insert-observers | FileCheck %s
// RUN: qopt %s --split-input-file --qopt-insert-observers=granularity=per_channel | FileCheck %s --check-prefix=CHAN

// The activation of each linear op is observed once; constant weights are not.
// CHECK-LABEL: func.func @mlp
// CHECK-SAME: (%[[X:.*]]: tensor<4x64xf32>)
// CHECK: %[[OX:.*]] = qopt.observe %[[X]] {name = "fc1:a"} : tensor<4x64xf32>
// CHECK: %[[H:.*]] = qopt.gemm %[[OX]], %{{.*}}, %{{.*}}
// CHECK: %[[R:.*]] = qopt.relu %[[H]]
// CHECK: %[[OR:.*]] = qopt.observe %[[R]] {name = "fc2:a"}
// CHECK: qopt.gemm %[[OR]], %{{.*}}, %{{.*}}
// CHECK-NOT: qopt.observe
// CHAN-LABEL: func.func @mlp
// CHAN: qopt.observe %{{.*}} {axis = 1 : i64, granularity = "per_channel", name = "fc1:a"}
func.func @mlp(%x: tensor<4x64xf32>) -> tensor<4x10xf32> {
  %w1 = qopt.constant dense<0.5> : tensor<32x64xf32>
  %b1 = qopt.constant dense<0.0> : tensor<32xf32>
  %w2 = qopt.constant dense<0.25> : tensor<10x32xf32>
  %b2 = qopt.constant dense<0.0> : tensor<10xf32>
  %h = qopt.gemm %x, %w1, %b1 {trans_b = true} : (tensor<4x64xf32>, tensor<32x64xf32>, tensor<32xf32>) -> tensor<4x32xf32> loc("fc1")
  %r = qopt.relu %h : tensor<4x32xf32>
  %y = qopt.gemm %r, %w2, %b2 {trans_b = true} : (tensor<4x32xf32>, tensor<10x32xf32>, tensor<10xf32>) -> tensor<4x10xf32> loc("fc2")
  return %y : tensor<4x10xf32>
}

// -----

// Q, K and V projections share one probe on their common input; both operands
// of an activation x activation product are observed.
// CHECK-LABEL: func.func @attention
// CHECK: %[[P:.*]] = qopt.observe %arg0 {name = "q_proj:lhs"}
// CHECK-DAG: %[[Q:.*]] = qopt.matmul %[[P]], %{{.*}} :
// CHECK-DAG: %[[K:.*]] = qopt.matmul %[[P]], %{{.*}} :
// CHECK-DAG: %[[OQ:.*]] = qopt.observe %[[Q]] {name = "scores:lhs"}
// CHECK-DAG: %[[KT:.*]] = qopt.transpose %[[K]]
// CHECK-DAG: %[[OK:.*]] = qopt.observe %[[KT]] {name = "scores:rhs"}
// CHECK: qopt.batch_matmul %[[OQ]], %[[OK]]
// CHAN-LABEL: func.func @attention
// CHAN: name = "q_proj:lhs"
// CHAN: qopt.observe %{{.*}} {axis = 2 : i64, granularity = "per_channel", name = "scores:lhs"}
// CHAN: qopt.observe %{{.*}} {axis = 1 : i64, granularity = "per_channel", name = "scores:rhs"}
func.func @attention(%x: tensor<1x8x16xf32>) -> tensor<1x8x8xf32> {
  %wq = qopt.constant dense<0.5> : tensor<16x16xf32>
  %wk = qopt.constant dense<0.25> : tensor<16x16xf32>
  %q = qopt.matmul %x, %wq : (tensor<1x8x16xf32>, tensor<16x16xf32>) -> tensor<1x8x16xf32> loc("q_proj")
  %k = qopt.matmul %x, %wk : (tensor<1x8x16xf32>, tensor<16x16xf32>) -> tensor<1x8x16xf32> loc("k_proj")
  %kt = qopt.transpose %k {perm = array<i64: 0, 2, 1>} : (tensor<1x8x16xf32>) -> tensor<1x16x8xf32>
  %s = qopt.batch_matmul %q, %kt : (tensor<1x8x16xf32>, tensor<1x16x8xf32>) -> tensor<1x8x8xf32> loc("scores")
  return %s : tensor<1x8x8xf32>
}

// -----

// Convolution inputs: per-channel statistics along dim 1; running the pass
// twice adds nothing.
// CHECK-LABEL: func.func @conv
// CHECK-COUNT-1: qopt.observe
// CHAN-LABEL: func.func @conv
// CHAN: qopt.observe %arg0 {axis = 1 : i64, granularity = "per_channel", name = "qopt.conv2d:input"}
func.func @conv(%x: tensor<1x3x8x8xf32>) -> tensor<1x4x6x6xf32> {
  %w = qopt.constant dense<1.0> : tensor<4x3x3x3xf32>
  %o = qopt.observe %x {name = "already"} : tensor<1x3x8x8xf32>
  %y = qopt.conv2d %x, %w : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
  return %y : tensor<1x4x6x6xf32>
}
