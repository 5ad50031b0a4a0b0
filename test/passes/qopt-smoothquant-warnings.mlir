// Linear ops that cannot be smoothed get a warning each and are left alone;
// the pass succeeds.
// RUN: qopt %s --split-input-file --qopt-smoothquant -verify-diagnostics | FileCheck %s
// CHECK-NOT: qopt.smoothquant_alpha
// CHECK-NOT: qopt.mul

func.func @no_probe(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %w = qopt.constant dense<[[1.0, 0.25], [-4.0, 1.0]]> : tensor<2x2xf32>
  // expected-warning @+1 {{qopt-smoothquant: 'qopt.matmul' not smoothed: its activation has no qopt.observe probe (run qopt-insert-observers{granularity=per_channel} and qopt-calibrate first)}}
  %y = qopt.matmul %x, %w : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

func.func @per_tensor(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %p = qopt.observe %x {name = "fc1:lhs", stats = {abs_max = 4.0 : f32, max = 2.0 : f32, method = "minmax", min = -4.0 : f32, samples = 8 : i64}} : tensor<?x2xf32>
  %w = qopt.constant dense<[[1.0, 0.25], [-4.0, 1.0]]> : tensor<2x2xf32>
  // expected-warning @+1 {{'qopt.matmul' not smoothed: probe 'fc1:lhs' is per_tensor; SmoothQuant needs per_channel statistics (run qopt-insert-observers{granularity=per_channel})}}
  %y = qopt.matmul %p, %w : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

func.func @not_calibrated(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %p = qopt.observe %x {axis = 1 : i64, granularity = "per_channel", name = "fc1:lhs"} : tensor<?x2xf32>
  %w = qopt.constant dense<[[1.0, 0.25], [-4.0, 1.0]]> : tensor<2x2xf32>
  // expected-warning @+1 {{'qopt.matmul' not smoothed: probe 'fc1:lhs' has no channel_min/channel_max statistics (run qopt-calibrate first)}}
  %y = qopt.matmul %p, %w : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// The probe also feeds an op that would not get compensating weights.
func.func @other_user(%x: tensor<?x2xf32>, %v: tensor<?x2x3xf32>) -> (tensor<?x2xf32>, tensor<?x3xf32>) {
  %p = qopt.observe %x {axis = 1 : i64, granularity = "per_channel", name = "fc1:lhs", stats = {abs_max = 4.0 : f32, channel_max = array<f32: 2.0, 1.0>, channel_min = array<f32: -4.0, -1.0>, max = 2.0 : f32, method = "minmax", min = -4.0 : f32, samples = 8 : i64}} : tensor<?x2xf32>
  %w = qopt.constant dense<[[1.0, 0.25], [-4.0, 1.0]]> : tensor<2x2xf32>
  // expected-warning @+1 {{'qopt.matmul' not smoothed: probe 'fc1:lhs' also feeds qopt.relu, which cannot be smoothed with it}}
  %y = qopt.matmul %p, %w : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  %r = qopt.relu %p : tensor<?x2xf32>
  %e = qopt.reshape %r : (tensor<?x2xf32>) -> tensor<?x1x2xf32>
  %z = qopt.batch_matmul %e, %v : (tensor<?x1x2xf32>, tensor<?x2x3xf32>) -> tensor<?x1x3xf32>
  %o = qopt.reshape %z : (tensor<?x1x3xf32>) -> tensor<?x3xf32>
  return %y, %o : tensor<?x2xf32>, tensor<?x3xf32>
}

// -----

func.func @activation_weight(%x: tensor<?x2xf32>, %w: tensor<2x2xf32>) -> tensor<?x2xf32> {
  // expected-warning @+1 {{'qopt.matmul' not smoothed: its weight is not a constant}}
  %y = qopt.matmul %x, %w : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

func.func @trans_a(%x: tensor<2x4xf32>) -> tensor<4x3xf32> {
  %p = qopt.observe %x {axis = 0 : i64, granularity = "per_channel", name = "fc1:a", stats = {abs_max = 4.0 : f32, channel_max = array<f32: 2.0, 1.0>, channel_min = array<f32: -4.0, -1.0>, max = 2.0 : f32, method = "minmax", min = -4.0 : f32, samples = 8 : i64}} : tensor<2x4xf32>
  %w = qopt.constant dense<[[1.0, 0.25, 2.0], [-4.0, 1.0, 2.0]]> : tensor<2x3xf32>
  // expected-warning @+1 {{'qopt.gemm' not smoothed: its activation is transposed (trans_a)}}
  %y = qopt.gemm %p, %w {trans_a = true} : (tensor<2x4xf32>, tensor<2x3xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

func.func @channel_mismatch(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %p = qopt.observe %x {axis = 1 : i64, granularity = "per_channel", name = "fc1:lhs", stats = {abs_max = 4.0 : f32, channel_max = array<f32: 2.0, 1.0, 1.0>, channel_min = array<f32: -4.0, -1.0, 1.0>, max = 2.0 : f32, method = "minmax", min = -4.0 : f32, samples = 8 : i64}} : tensor<?x2xf32>
  %w = qopt.constant dense<[[1.0, 0.25], [-4.0, 1.0]]> : tensor<2x2xf32>
  // expected-warning @+1 {{'qopt.matmul' not smoothed: probe 'fc1:lhs' has statistics for 3 channels but its last dim is 2}}
  %y = qopt.matmul %p, %w : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}
