// RUN: qopt %s --qopt-smoothquant | FileCheck %s
// RUN: qopt %s --qopt-smoothquant=alpha=1 | FileCheck %s --check-prefix=ALPHA1
// RUN: qopt %s --qopt-smoothquant=alpha=0.5 | qopt --qopt-smoothquant=alpha=0 | FileCheck %s --check-prefix=TWICE

// Every function computes what it computed before smoothing.
// RUN: %python -c "import numpy as np; r = np.random.default_rng(0); [np.savez('%t.' + n + '.npz', input_0=(r.normal(0, 3, s) * np.array([1, 8] + [1] * (s[-1] - 2))).astype(np.float32)) for n, s in [('a', (4, 2)), ('b', (1, 5, 2)), ('c', (2, 3))]]"
// RUN: qopt %s --qopt-smoothquant -o %t.smooth.mlir
// RUN: qopt-run %s --function norm_fold --inputs %t.a.npz --outputs %t.norm.npz --force --quiet
// RUN: qopt-run %t.smooth.mlir --function norm_fold --inputs %t.a.npz --compare %t.norm.npz --rtol 1e-5 --atol 1e-6 --quiet | FileCheck %s --check-prefix=SAME
// RUN: qopt-run %s --function linear_fold --inputs %t.a.npz --outputs %t.linear.npz --force --quiet
// RUN: qopt-run %t.smooth.mlir --function linear_fold --inputs %t.a.npz --compare %t.linear.npz --rtol 1e-5 --atol 1e-6 --quiet | FileCheck %s --check-prefix=SAME
// RUN: qopt-run %s --function gemm_fold --inputs %t.a.npz --outputs %t.gemm.npz --force --quiet
// RUN: qopt-run %t.smooth.mlir --function gemm_fold --inputs %t.a.npz --compare %t.gemm.npz --rtol 1e-5 --atol 1e-6 --quiet | FileCheck %s --check-prefix=SAME
// RUN: qopt-run %s --function explicit_mul --inputs %t.a.npz --outputs %t.mul.npz --force --quiet
// RUN: qopt-run %t.smooth.mlir --function explicit_mul --inputs %t.a.npz --compare %t.mul.npz --rtol 1e-5 --atol 1e-6 --quiet | FileCheck %s --check-prefix=SAME
// RUN: qopt-run %s --function shared_qkv --inputs %t.b.npz --outputs %t.qkv.npz --force --quiet
// RUN: qopt-run %t.smooth.mlir --function shared_qkv --inputs %t.b.npz --compare %t.qkv.npz --rtol 1e-5 --atol 1e-6 --quiet | FileCheck %s --check-prefix=SAME3
// RUN: qopt-run %s --function zero_channels --inputs %t.c.npz --outputs %t.zero.npz --force --quiet
// RUN: qopt-run %t.smooth.mlir --function zero_channels --inputs %t.c.npz --compare %t.zero.npz --rtol 1e-5 --atol 1e-6 --quiet | FileCheck %s --check-prefix=SAME2
// SAME: qopt-run: 1 output(s) match
// SAME2: qopt-run: 2 output(s) match
// SAME3: qopt-run: 3 output(s) match

// Hand-computed cases, alpha = 0.5: s_j = sqrt(max|X_j|) / sqrt(max|W_j|),
// max|X_j| from channel_min/channel_max, max|W_j| over the weight's row j
// (over all the weights of a shared activation).

// A layer_norm producer takes 1/s in gamma and beta.
// max|X| = [4, 1], max|W| = [1, 4]: s = [2, 0.5].
// CHECK-LABEL: func.func @norm_fold
// The constants that were replaced are gone.
// CHECK-NOT: dense<[1.000000e+00, 1.000000e+00]>
// CHECK-DAG: %[[G:.*]] = qopt.constant dense<[5.000000e-01, 2.000000e+00]> : tensor<2xf32>
// CHECK-DAG: %[[B:.*]] = qopt.constant dense<[2.500000e-01, -2.000000e+00]> : tensor<2xf32>
// CHECK: %[[N:.*]] = qopt.layer_norm %arg0, %[[G]], %[[B]]
// CHECK: %[[P:.*]] = qopt.observe %[[N]] {axis = 1 : i64, granularity = "per_channel", name = "fc:lhs", stats = {abs_max = 2.000000e+00 : f32, channel_max = array<f32: 1.000000e+00, 2.000000e+00>, channel_min = array<f32: -2.000000e+00, -2.000000e+00>, max = 2.000000e+00 : f32, method = "minmax", min = -2.000000e+00 : f32, samples = 8 : i64}}
// CHECK: %[[W:.*]] = qopt.constant dense<{{\[}}[2.000000e+00, 5.000000e-01], [-2.000000e+00, 5.000000e-01]]> : tensor<2x2xf32>
// CHECK: qopt.matmul %[[P]], %[[W]] {qopt.smoothquant_alpha = 5.000000e-01 : f64}
// ALPHA1-LABEL: func.func @norm_fold
// ALPHA1: qopt.observe {{.*}}channel_max = array<f32: 5.000000e-01, 1.000000e+00>, channel_min = array<f32: -1.000000e+00, -1.000000e+00>
// ALPHA1: qopt.matmul {{.*}}{qopt.smoothquant_alpha = 1.000000e+00 : f64}
// Smoothing twice: the second run (alpha = 0) divides by 1 / max|W'_j|.
// TWICE-LABEL: func.func @norm_fold
// TWICE: qopt.observe {{.*}}channel_max = array<f32: 2.000000e+00, 4.000000e+00>, channel_min = array<f32: -4.000000e+00, -4.000000e+00>
// TWICE: qopt.matmul {{.*}}{qopt.smoothquant_alpha = 0.000000e+00 : f64}
func.func @norm_fold(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %g = qopt.constant dense<[1.0, 1.0]> : tensor<2xf32>
  %b = qopt.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %n = qopt.layer_norm %x, %g, %b : (tensor<?x2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  %p = qopt.observe %n {axis = 1 : i64, granularity = "per_channel", name = "fc:lhs", stats = {abs_max = 4.0 : f32, channel_max = array<f32: 2.0, 1.0>, channel_min = array<f32: -4.0, -1.0>, max = 2.0 : f32, method = "percentile", min = -4.0 : f32, samples = 8 : i64}} : tensor<?x2xf32>
  %w = qopt.constant dense<[[1.0, 0.25], [-4.0, 1.0]]> : tensor<2x2xf32>
  %y = qopt.matmul %p, %w : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// A preceding matmul + bias add takes 1/s in its output channels (weight
// columns and bias); the consumer is a gemm with a transposed weight, whose
// own bias is left alone. max|X| = [8, 0.25], max|W| = [2, 1]: s = [2, 0.5].
// CHECK-LABEL: func.func @linear_fold
// CHECK: %[[W1:.*]] = qopt.constant dense<{{\[}}[5.000000e-01, 4.000000e+00], [1.500000e+00, 8.000000e+00]]> : tensor<2x2xf32>
// CHECK: %[[H:.*]] = qopt.matmul %arg0, %[[W1]]
// CHECK-NOT: qopt.smoothquant_alpha
// CHECK: %[[B1:.*]] = qopt.constant dense<[5.000000e-01, -4.000000e+00]> : tensor<2xf32>
// CHECK: %[[A:.*]] = qopt.add %[[H]], %[[B1]]
// CHECK: %[[P:.*]] = qopt.observe %[[A]] {{.*}}stats = {abs_max = 4.000000e+00 : f32, channel_max = array<f32: 4.000000e+00, 5.000000e-01>, channel_min = array<f32: -4.000000e+00, 0.000000e+00>, max = 4.000000e+00 : f32, method = "minmax", min = -4.000000e+00 : f32, samples = 3 : i64}}
// CHECK: %[[W2:.*]] = qopt.constant dense<{{\[}}[1.000000e+00, 5.000000e-01], [-4.000000e+00, 2.500000e-01], [2.000000e+00, 0.000000e+00]]> : tensor<3x2xf32>
// CHECK: qopt.gemm %[[P]], %[[W2]], %{{.*}} {qopt.smoothquant_alpha = 5.000000e-01 : f64, trans_b = true}
// CHECK-NOT: qopt.mul
func.func @linear_fold(%x: tensor<4x2xf32>) -> tensor<4x3xf32> {
  %w1 = qopt.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %b1 = qopt.constant dense<[1.0, -2.0]> : tensor<2xf32>
  %h = qopt.matmul %x, %w1 : (tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32>
  %a = qopt.add %h, %b1 : (tensor<4x2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  %p = qopt.observe %a {axis = 1 : i64, granularity = "per_channel", name = "fc2:a", stats = {abs_max = 8.0 : f32, channel_max = array<f32: 8.0, 0.25>, channel_min = array<f32: -8.0, 0.0>, max = 8.0 : f32, method = "minmax", min = -8.0 : f32, samples = 3 : i64}} : tensor<4x2xf32>
  %w2 = qopt.constant dense<[[0.5, 1.0], [-2.0, 0.5], [1.0, 0.0]]> : tensor<3x2xf32>
  %c = qopt.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %y = qopt.gemm %p, %w2, %c {trans_b = true} : (tensor<4x2xf32>, tensor<3x2xf32>, tensor<3xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// A preceding gemm with a transposed weight and a bias C takes 1/s in its
// weight rows (its output channels) and C. max|X| = [8, 0.25],
// max|W| = [2, 1]: s = [2, 0.5].
// CHECK-LABEL: func.func @gemm_fold
// CHECK-DAG: %[[W1:.*]] = qopt.constant dense<{{\[}}[5.000000e-01, 1.000000e+00], [6.000000e+00, 8.000000e+00]]> : tensor<2x2xf32>
// CHECK-DAG: %[[C1:.*]] = qopt.constant dense<[5.000000e-01, -4.000000e+00]> : tensor<2xf32>
// CHECK: %[[H:.*]] = qopt.gemm %arg0, %[[W1]], %[[C1]] {trans_b = true}
// CHECK: %[[P:.*]] = qopt.observe %[[H]]
// CHECK: %[[W2:.*]] = qopt.constant dense<{{\[}}[4.000000e+00, 0.000000e+00], [5.000000e-01, 5.000000e-01]]> : tensor<2x2xf32>
// CHECK: qopt.matmul %[[P]], %[[W2]] {qopt.smoothquant_alpha = 5.000000e-01 : f64}
func.func @gemm_fold(%x: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %w1 = qopt.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %c1 = qopt.constant dense<[1.0, -2.0]> : tensor<2xf32>
  %h = qopt.gemm %x, %w1, %c1 {trans_b = true} : (tensor<4x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  %p = qopt.observe %h {axis = 1 : i64, granularity = "per_channel", name = "fc2:lhs", stats = {abs_max = 8.0 : f32, channel_max = array<f32: 8.0, 0.25>, channel_min = array<f32: -8.0, 0.0>, max = 8.0 : f32, method = "minmax", min = -8.0 : f32, samples = 3 : i64}} : tensor<4x2xf32>
  %w2 = qopt.constant dense<[[2.0, 0.0], [1.0, 1.0]]> : tensor<2x2xf32>
  %y = qopt.matmul %p, %w2 : (tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// No producer to fold into (a function argument): an explicit multiply by
// 1/s before the probe. max|X| = [1, 100], max|W| = [4, 1]: s = [0.5, 10].
// CHECK-LABEL: func.func @explicit_mul
// CHECK: %[[S:.*]] = qopt.constant dense<[2.000000e+00, 1.000000e-01]> : tensor<2xf32>
// CHECK: %[[M:.*]] = qopt.mul %arg0, %[[S]] : (tensor<?x2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
// CHECK: %[[P:.*]] = qopt.observe %[[M]] {{.*}}stats = {abs_max = 1.000000e+01 : f32, channel_max = array<f32: 2.000000e+00, 5.000000e+00>, channel_min = array<f32: -2.000000e+00, -1.000000e+01>, max = 5.000000e+00 : f32, method = "minmax", min = -1.000000e+01 : f32, samples = 8 : i64}}
// CHECK: %[[W:.*]] = qopt.constant dense<{{\[}}[2.000000e+00, 5.000000e-01], [1.000000e+01, 1.000000e+01]]> : tensor<2x2xf32>
// CHECK: qopt.matmul %[[P]], %[[W]]
// alpha = 1: s = max|X_j|, every channel is scaled into [-1, 1].
// ALPHA1-LABEL: func.func @explicit_mul
// ALPHA1: qopt.constant dense<[1.000000e+00, 0.00999999977]> : tensor<2xf32>
// ALPHA1: qopt.observe {{.*}}stats = {abs_max = 1.000000e+00 : f32, channel_max = array<f32: 1.000000e+00, 5.000000e-01>, channel_min = array<f32: -1.000000e+00, -1.000000e+00>, max = 1.000000e+00 : f32, method = "minmax", min = -1.000000e+00 : f32, samples = 8 : i64}}
// ALPHA1: qopt.constant dense<{{\[}}[4.000000e+00, 1.000000e+00], [1.000000e+02, 1.000000e+02]]> : tensor<2x2xf32>
func.func @explicit_mul(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %p = qopt.observe %x {axis = -1 : i64, granularity = "per_channel", name = "fc:lhs", stats = {abs_max = 100.0 : f32, channel_max = array<f32: 1.0, 50.0>, channel_min = array<f32: -1.0, -100.0>, max = 50.0 : f32, method = "minmax", min = -100.0 : f32, samples = 8 : i64}} : tensor<?x2xf32>
  %w = qopt.constant dense<[[4.0, 1.0], [1.0, 1.0]]> : tensor<2x2xf32>
  %y = qopt.matmul %p, %w : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// Q, K and V share one probe after an rms_norm and one s, from the largest
// weight magnitude of each row over the three weights: max|X| = [81, 16],
// max|W| = [9, 1]: s = [3, 4] (Q's weight alone would give s_0 = 9).
// CHECK-LABEL: func.func @shared_qkv
// CHECK: %[[G:.*]] = qopt.constant dense<[0.333333343, 5.000000e-01]> : tensor<2xf32>
// CHECK: %[[N:.*]] = qopt.rms_norm %arg0, %[[G]]
// CHECK: %[[P:.*]] = qopt.observe %[[N]] {{.*}}stats = {abs_max = 2.700000e+01 : f32, channel_max = array<f32: 2.700000e+01, 2.000000e+00>, channel_min = array<f32: -2.700000e+01, -4.000000e+00>, max = 2.700000e+01 : f32, method = "minmax", min = -2.700000e+01 : f32, samples = 8 : i64}}
// CHECK: %[[WQ:.*]] = qopt.constant dense<{{\[}}[3.000000e+00, 0.000000e+00], [0.000000e+00, 4.000000e+00]]>
// CHECK: qopt.matmul %[[P]], %[[WQ]] {qopt.smoothquant_alpha = 5.000000e-01 : f64}
// CHECK: %[[WK:.*]] = qopt.constant dense<{{\[}}[1.200000e+01, 0.000000e+00], [0.000000e+00, 1.000000e+00]]>
// CHECK: qopt.matmul %[[P]], %[[WK]] {qopt.smoothquant_alpha = 5.000000e-01 : f64}
// CHECK: %[[WV:.*]] = qopt.constant dense<{{\[}}[-2.700000e+01, 3.000000e+00], [4.000000e+00, 4.000000e+00]]>
// CHECK: qopt.matmul %[[P]], %[[WV]] {qopt.smoothquant_alpha = 5.000000e-01 : f64}
// CHECK-NOT: qopt.mul
func.func @shared_qkv(%x: tensor<1x5x2xf32>) -> (tensor<1x5x2xf32>, tensor<1x5x2xf32>, tensor<1x5x2xf32>) {
  %g = qopt.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %n = qopt.rms_norm %x, %g : (tensor<1x5x2xf32>, tensor<2xf32>) -> tensor<1x5x2xf32>
  %p = qopt.observe %n {axis = 2 : i64, granularity = "per_channel", name = "q:lhs", stats = {abs_max = 81.0 : f32, channel_max = array<f32: 81.0, 8.0>, channel_min = array<f32: -81.0, -16.0>, max = 81.0 : f32, method = "minmax", min = -81.0 : f32, samples = 8 : i64}} : tensor<1x5x2xf32>
  %wq = qopt.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %wk = qopt.constant dense<[[4.0, 0.0], [0.0, 0.25]]> : tensor<2x2xf32>
  %wv = qopt.constant dense<[[-9.0, 1.0], [1.0, 1.0]]> : tensor<2x2xf32>
  %q = qopt.matmul %p, %wq : (tensor<1x5x2xf32>, tensor<2x2xf32>) -> tensor<1x5x2xf32>
  %k = qopt.matmul %p, %wk : (tensor<1x5x2xf32>, tensor<2x2xf32>) -> tensor<1x5x2xf32>
  %v = qopt.matmul %p, %wv : (tensor<1x5x2xf32>, tensor<2x2xf32>) -> tensor<1x5x2xf32>
  return %q, %k, %v : tensor<1x5x2xf32>, tensor<1x5x2xf32>, tensor<1x5x2xf32>
}

// Zero channels get s = 1: an all-zero activation channel (0) and an
// all-zero weight row (1). Only channel 2 moves: max|X| = 16, max|W| = 1:
// s = 4. The norm result feeds something else too, so the fold is a mul.
// CHECK-LABEL: func.func @zero_channels
// CHECK: %[[S:.*]] = qopt.constant dense<[1.000000e+00, 1.000000e+00, 2.500000e-01]> : tensor<3xf32>
// CHECK: %[[M:.*]] = qopt.mul %[[N:.*]], %[[S]]
// CHECK: qopt.observe %[[M]] {{.*}}stats = {abs_max = 4.000000e+00 : f32, channel_max = array<f32: 0.000000e+00, 3.000000e+00, 4.000000e+00>, channel_min = array<f32: 0.000000e+00, -3.000000e+00, -2.000000e+00>, max = 4.000000e+00 : f32, method = "minmax", min = -3.000000e+00 : f32
// CHECK: qopt.constant dense<{{\[}}[1.000000e+00], [0.000000e+00], [4.000000e+00]]> : tensor<3x1xf32>
// CHECK: qopt.relu %[[N]]
func.func @zero_channels(%x: tensor<2x3xf32>) -> (tensor<2x1xf32>, tensor<2x3xf32>) {
  %g = qopt.constant dense<[1.0, 1.0, 1.0]> : tensor<3xf32>
  %n = qopt.rms_norm %x, %g : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %p = qopt.observe %n {axis = 1 : i64, granularity = "per_channel", name = "fc:lhs", stats = {abs_max = 16.0 : f32, channel_max = array<f32: 0.0, 3.0, 16.0>, channel_min = array<f32: 0.0, -3.0, -8.0>, max = 16.0 : f32, method = "minmax", min = -8.0 : f32, samples = 8 : i64}} : tensor<2x3xf32>
  %w = qopt.constant dense<[[1.0], [0.0], [1.0]]> : tensor<3x1xf32>
  %y = qopt.matmul %p, %w : (tensor<2x3xf32>, tensor<3x1xf32>) -> tensor<2x1xf32>
  %r = qopt.relu %n : tensor<2x3xf32>
  return %y, %r : tensor<2x1xf32>, tensor<2x3xf32>
}
