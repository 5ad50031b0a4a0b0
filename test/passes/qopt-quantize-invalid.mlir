// RUN: qopt %s --split-input-file --qopt-quantize -verify-diagnostics
// RUN: not qopt %s --split-input-file --qopt-quantize=mode=fast 2>&1 | FileCheck %s --check-prefix=MODE
// RUN: not qopt %s --split-input-file --qopt-quantize="mode=weight-only weight-bits=9" 2>&1 | FileCheck %s --check-prefix=BITS
// RUN: not qopt %s --split-input-file --qopt-quantize="weight-bits=4" 2>&1 | FileCheck %s --check-prefix=STATIC4
// RUN: not qopt %s --split-input-file --qopt-quantize="activation-type=u16" 2>&1 | FileCheck %s --check-prefix=ACT
// RUN: not qopt %s --split-input-file --qopt-quantize="exclude=fc(" 2>&1 | FileCheck %s --check-prefix=REGEX
// RUN: not qopt %s --split-input-file --qopt-quantize="mode=weight-only group-size=-2" 2>&1 | FileCheck %s --check-prefix=GROUP
// RUN: not qopt %s --split-input-file --qopt-quantize="mode=dynamic weight-symmetric=false" 2>&1 | FileCheck %s --check-prefix=ASYM

// MODE: error: qopt-quantize: mode must be static, dynamic or weight-only, got 'fast'
// BITS: error: qopt-quantize: weight-bits must be in 2..8, got 9
// STATIC4: error: qopt-quantize: mode=static stores weights as int8 (weight-bits 8, or 7 for the narrow range [-63, 63]); weight-bits=4 needs mode=weight-only
// ACT: error: qopt-quantize: activation-type must be u8 or s8, got 'u16'
// REGEX: error: qopt-quantize: exclude pattern 'fc(' is not a valid regex
// GROUP: error: qopt-quantize: group-size must be >= 0, got -2
// ASYM: error: qopt-quantize: mode=dynamic uses symmetric int8 weights; weight-symmetric=false needs mode=weight-only

// Static quantization needs calibrated probes on the activations.
func.func @main(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %w = qopt.constant dense<1.0> : tensor<4x2xf32>
  // expected-error @+1 {{qopt-quantize: the activation input of 'qopt.matmul' has no calibration probe; run qopt-insert-observers and qopt-calibrate before static quantization (or use mode=dynamic / weight-only)}}
  %y = qopt.matmul %x, %w : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// A probe without statistics (qopt-calibrate did not run).
func.func @main(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %w = qopt.constant dense<1.0> : tensor<4x2xf32>
  // expected-error @+1 {{qopt-quantize: probe 'fc:lhs' has no calibrated min/max; run qopt-calibrate before static quantization}}
  %p = qopt.observe %x {name = "fc:lhs"} : tensor<?x4xf32>
  %y = qopt.matmul %p, %w : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// A range that is not a range.
func.func @main(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %w = qopt.constant dense<1.0> : tensor<4x2xf32>
  // expected-error @+1 {{qopt-quantize: probe 'p' has an unusable range [3.000000e+00, -1.000000e+00]}}
  %p = qopt.observe %x {name = "p", stats = {min = 3.0 : f32, max = -1.0 : f32}} : tensor<?x4xf32>
  %y = qopt.matmul %p, %w : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// Non-finite weights cannot be quantized.
func.func @main(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %w = qopt.constant dense<[[1.0, 0x7F800000], [0.0, 1.0]]> : tensor<2x2xf32>
  %p = qopt.observe %x {name = "p", stats = {min = 0.0 : f32, max = 1.0 : f32}} : tensor<?x2xf32>
  // expected-error @+1 {{qopt-quantize: weight of 'qopt.matmul': weight element 1 is not finite}}
  %y = qopt.matmul %p, %w : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// An unknown precision decision.
func.func @main(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %w = qopt.constant dense<1.0> : tensor<2x2xf32>
  // expected-error @+1 {{qopt-quantize: qopt.precision must be float, int8 or int4, got 'int3'}}
  %y = qopt.matmul %x, %w {qopt.precision = "int3"} : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// Non-f32 activations are left alone with a warning.
func.func @main(%a: tensor<2x3x4xf16>, %b: tensor<2x4x5xf16>) -> tensor<2x3x5xf16> {
  %pa = qopt.observe %a {name = "a", stats = {min = -1.0 : f32, max = 1.0 : f32}} : tensor<2x3x4xf16>
  %pb = qopt.observe %b {name = "b", stats = {min = -1.0 : f32, max = 1.0 : f32}} : tensor<2x4x5xf16>
  // expected-warning @+2 {{qopt-quantize: 'qopt.batch_matmul' has a 'tensor<2x3x4xf16>' activation; only f32 activations are quantized}}
  // expected-warning @+1 {{qopt-quantize: 'qopt.batch_matmul' has a 'tensor<2x4x5xf16>' activation; only f32 activations are quantized}}
  %m = qopt.batch_matmul %pa, %pb : (tensor<2x3x4xf16>, tensor<2x4x5xf16>) -> tensor<2x3x5xf16>
  return %m : tensor<2x3x5xf16>
}
