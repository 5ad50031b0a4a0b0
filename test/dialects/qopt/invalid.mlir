// RUN: qopt %s -split-input-file -verify-diagnostics

func.func @matmul_k_mismatch(%x: tensor<2x8xf32>, %w: tensor<16x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+2 {{contraction size mismatch: lhs has K=8 but rhs has K=16}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = qopt.matmul %x, %w : (tensor<2x8xf32>, tensor<16x4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @matmul_rank3_weight(%x: tensor<2x8xf32>, %w: tensor<1x8x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+2 {{rhs (the weight) must be rank 2 [K, N]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = qopt.matmul %x, %w : (tensor<2x8xf32>, tensor<1x8x4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @wrong_result_shape(%x: tensor<2x8xf32>, %w: tensor<8x4xf32>) -> tensor<2x5xf32> {
  // expected-error @+2 {{inferred type(s) 'tensor<2x4xf32>' are incompatible with return type(s) of operation 'tensor<2x5xf32>'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = qopt.matmul %x, %w : (tensor<2x8xf32>, tensor<8x4xf32>) -> tensor<2x5xf32>
  return %0 : tensor<2x5xf32>
}

// -----

func.func @no_broadcast(%a: tensor<2x3xf32>, %b: tensor<4xf32>) -> tensor<2x3xf32> {
  // expected-error @+2 {{shapes 'tensor<2x3xf32>' and 'tensor<4xf32>' do not broadcast}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = qopt.add %a, %b : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @mixed_types(%a: tensor<3xf32>, %b: tensor<3xf16>) -> tensor<3xf32> {
  // expected-error @+2 {{operand element types differ: 'f32' vs 'f16'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = qopt.mul %a, %b : (tensor<3xf32>, tensor<3xf16>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

func.func @conv_groups(%x: tensor<1x3x8x8xf32>, %w: tensor<4x2x3x3xf32>) -> tensor<1x4x6x6xf32> {
  // expected-error @+2 {{input has 3 channels but filter expects 2 x 2 groups}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = qopt.conv2d %x, %w {groups = 2 : i64} : (tensor<1x3x8x8xf32>, tensor<4x2x3x3xf32>) -> tensor<1x4x6x6xf32>
  return %0 : tensor<1x4x6x6xf32>
}

// -----

func.func @conv_pads(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32> {
  // expected-error @+2 {{pads must be 4 non-negative values [top, left, bottom, right]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = qopt.conv2d %x, %w {pads = array<i64: 1, 1>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
  return %0 : tensor<1x4x6x6xf32>
}

// -----

func.func @pool_pad(%x: tensor<1x3x8x8xf32>) -> tensor<1x3x8x8xf32> {
  // expected-error @+2 {{padding must be smaller than the kernel}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = qopt.max_pool2d %x {kernel_shape = array<i64: 2, 2>, pads = array<i64: 2, 2, 2, 2>} : (tensor<1x3x8x8xf32>) -> tensor<1x3x8x8xf32>
  return %0 : tensor<1x3x8x8xf32>
}

// -----

func.func @gelu_mode(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{approximate must be "none" or "tanh", got "fast"}}
  %0 = qopt.gelu %x {approximate = "fast"} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @softmax_axis(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{axis 3 out of range for rank 1}}
  %0 = qopt.softmax %x {axis = 3 : i64} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @layer_norm_scale(%x: tensor<2x8xf32>, %g: tensor<4xf32>) -> tensor<2x8xf32> {
  // expected-error @+2 {{scale of type 'tensor<4xf32>' does not broadcast to the normalized dims}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = qopt.layer_norm %x, %g : (tensor<2x8xf32>, tensor<4xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @reduce_twice(%x: tensor<2x8xf32>) -> tensor<2x1xf32> {
  // expected-error @+2 {{axis -1 appears twice}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = qopt.reduce_sum %x {axes = array<i64: 1, -1>} : (tensor<2x8xf32>) -> tensor<2x1xf32>
  return %0 : tensor<2x1xf32>
}

// -----

func.func @reshape_count(%x: tensor<2x8xf32>) -> tensor<3x5xf32> {
  // expected-error @+1 {{element count changes from 16 to 15}}
  %0 = qopt.reshape %x : (tensor<2x8xf32>) -> tensor<3x5xf32>
  return %0 : tensor<3x5xf32>
}

// -----

func.func @transpose_perm(%x: tensor<2x8xf32>) -> tensor<8x2xf32> {
  // expected-error @+2 {{perm is not a permutation of [0, 2)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = qopt.transpose %x {perm = array<i64: 1, 1>} : (tensor<2x8xf32>) -> tensor<8x2xf32>
  return %0 : tensor<8x2xf32>
}

// -----

func.func @concat_mismatch(%a: tensor<2x3xf32>, %b: tensor<4x3xf32>) -> tensor<2x6xf32> {
  // expected-error @+2 {{dim 0 differs between inputs (2 vs 4)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = qopt.concat %a, %b {axis = 1 : i64} : (tensor<2x3xf32>, tensor<4x3xf32>) -> tensor<2x6xf32>
  return %0 : tensor<2x6xf32>
}

// -----

func.func @slice_bounds(%x: tensor<8xf32>) -> tensor<4xf32> {
  // expected-error @+2 {{dim 0: need 0 <= start <= end <= 8, got [2, 10)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = qopt.slice %x {starts = array<i64: 2>, ends = array<i64: 10>, steps = array<i64: 2>} : (tensor<8xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @slice_step(%x: tensor<8xf32>) -> tensor<4xf32> {
  // expected-error @+2 {{step of dim 0 is 0}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = qopt.slice %x {starts = array<i64: 0>, ends = array<i64: 8>, steps = array<i64: 0>} : (tensor<8xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @gather_axis(%t: tensor<64x32xf32>, %i: tensor<4xi64>) -> tensor<4x32xf32> {
  // expected-error @+2 {{axis 2 out of range}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = qopt.gather %t, %i {axis = 2 : i64} : (tensor<64x32xf32>, tensor<4xi64>) -> tensor<4x32xf32>
  return %0 : tensor<4x32xf32>
}

// -----

func.func @cast_shape(%x: tensor<4xf32>) -> tensor<5xf16> {
  // expected-error @+1 {{cannot change the shape}}
  %0 = qopt.cast %x : tensor<4xf32> to tensor<5xf16>
  return %0 : tensor<5xf16>
}

// -----

func.func @observe_granularity(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{granularity must be per_tensor, per_channel or per_token, got "per_row"}}
  %0 = qopt.observe %x {granularity = "per_row"} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @observe_axis(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{per_channel granularity needs an axis}}
  %0 = qopt.observe %x {granularity = "per_channel"} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @quantize_plain_result(%x: tensor<4xf32>) -> tensor<4xi8> {
  // expected-error @+1 {{without scale operands the result element type must be !quant.uniform, got 'i8'}}
  %0 = qopt.quantize %x : (tensor<4xf32>) -> tensor<4xi8>
  return %0 : tensor<4xi8>
}

// -----

func.func @quantize_expressed(%x: tensor<4xf16>) -> tensor<4x!quant.uniform<i8:f32, 0.1>> {
  // expected-error @+1 {{expressed type 'f32' differs from input element type 'f16'}}
  %0 = qopt.quantize %x : (tensor<4xf16>) -> tensor<4x!quant.uniform<i8:f32, 0.1>>
  return %0 : tensor<4x!quant.uniform<i8:f32, 0.1>>
}

// -----

func.func @per_axis_count(%w: tensor<4x3xf32>) -> tensor<4x3x!quant.uniform<i8:f32:1, {0.1, 0.2}>> {
  // expected-error @+1 {{result type has 2 scales but dimension 1 has size 3}}
  %0 = qopt.quantize %w : (tensor<4x3xf32>) -> tensor<4x3x!quant.uniform<i8:f32:1, {0.1, 0.2}>>
  return %0 : tensor<4x3x!quant.uniform<i8:f32:1, {0.1, 0.2}>>
}

// -----

func.func @dynamic_zp_type(%x: tensor<4xf32>, %s: tensor<f32>, %zp: tensor<i8>) -> tensor<4xui8> {
  // expected-error @+1 {{zero_point element type 'i8' must match the integer type 'ui8'}}
  %0 = qopt.quantize %x, %s, %zp : (tensor<4xf32>, tensor<f32>, tensor<i8>) -> tensor<4xui8>
  return %0 : tensor<4xui8>
}

// -----

func.func @dynamic_axis_size(%x: tensor<2x4xi8>, %s: tensor<3xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{scale has 3 values but axis 1 has size 4}}
  %0 = qopt.dequantize %x, %s : (tensor<2x4xi8>, tensor<3xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @requantize_plain(%x: tensor<4xi32>) -> tensor<4xi8> {
  // expected-error @+1 {{without a multiplier operand, input and result element types must both be !quant.uniform}}
  %0 = qopt.requantize %x : (tensor<4xi32>) -> tensor<4xi8>
  return %0 : tensor<4xi8>
}

// -----

func.func @matmul_integer_width(%a: tensor<2x3xi16>, %b: tensor<3x2xi8>) -> tensor<2x2xi32> {
  // expected-error @+1 {{lhs must be an 8-bit integer tensor}}
  %0 = qopt.matmul_integer %a, %b : (tensor<2x3xi16>, tensor<3x2xi8>) -> tensor<2x2xi32>
  return %0 : tensor<2x2xi32>
}

// -----

func.func @matmul_integer_zp(%a: tensor<2x3xui8>, %b: tensor<3x2xui8>, %azp: tensor<3xui8>) -> tensor<2x2xi32> {
  // expected-error @+1 {{lhs_zero_point has 3 values, expected 2}}
  %0 = qopt.matmul_integer %a, %b, %azp : (tensor<2x3xui8>, tensor<3x2xui8>, tensor<3xui8>) -> tensor<2x2xi32>
  return %0 : tensor<2x2xi32>
}

// -----

// expected-error @+1 {{scale -1.000000e-01 out of expressed type range}}
func.func @bad_scale(%x: tensor<4x!quant.uniform<i8:f32, -0.1>>) {
  return
}
