// RUN: qopt %s --split-input-file --verify-diagnostics

// The verifier of qopt.fused: known kind, block arguments matching the
// operands, a qopt.yield matching the results.

func.func @unknown_kind(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'qopt.fused' op unknown kind "conv_bn"; expected one of "linear", "dequant_matmul", "norm_quantize", "elementwise"}}
  %0 = qopt.fused "conv_bn" (%x) : (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%a: tensor<4xf32>):
    %r = qopt.relu %a : tensor<4xf32>
    qopt.yield %r : tensor<4xf32>
  }
  return %0 : tensor<4xf32>
}

// -----

func.func @arg_count(%x: tensor<4xf32>, %y: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'qopt.fused' op body has 1 argument(s) but the op has 2 operand(s)}}
  %0 = qopt.fused "elementwise" (%x, %y) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%a: tensor<4xf32>):
    %r = qopt.relu %a : tensor<4xf32>
    qopt.yield %r : tensor<4xf32>
  }
  return %0 : tensor<4xf32>
}

// -----

func.func @arg_type(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'qopt.fused' op body argument 0 has type 'tensor<?xf32>' but operand 0 has type 'tensor<4xf32>'}}
  %0 = qopt.fused "elementwise" (%x) : (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%a: tensor<?xf32>):
    %r = qopt.relu %a : tensor<?xf32>
    %c = qopt.cast %r : tensor<?xf32> to tensor<4xf32>
    qopt.yield %c : tensor<4xf32>
  }
  return %0 : tensor<4xf32>
}

// -----

func.func @yield_count(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'qopt.fused' op body yields 2 value(s) but the op has 1 result(s)}}
  %0 = qopt.fused "elementwise" (%x) : (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%a: tensor<4xf32>):
    %r = qopt.relu %a : tensor<4xf32>
    qopt.yield %r, %a : tensor<4xf32>, tensor<4xf32>
  }
  return %0 : tensor<4xf32>
}

// -----

func.func @yield_type(%x: tensor<4xf32>) -> tensor<4xf16> {
  // expected-error @+1 {{'qopt.fused' op yielded value 0 has type 'tensor<4xf32>' but result 0 has type 'tensor<4xf16>'}}
  %0 = qopt.fused "elementwise" (%x) : (tensor<4xf32>) -> tensor<4xf16> {
  ^bb0(%a: tensor<4xf32>):
    %r = qopt.relu %a : tensor<4xf32>
    qopt.yield %r : tensor<4xf32>
  }
  return %0 : tensor<4xf16>
}

// -----

func.func @no_yield(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'qopt.fused' op body must end with qopt.yield}}
  %0 = qopt.fused "elementwise" (%x) : (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%a: tensor<4xf32>):
    %r = qopt.relu %a : tensor<4xf32>
  }
  return %0 : tensor<4xf32>
}

// -----

// The region is isolated from above: values of the function are operands.
func.func @not_isolated(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-note @+1 {{required by region isolation constraints}}
  %0 = qopt.fused "elementwise" () : () -> tensor<4xf32> {
    // expected-error @+1 {{'qopt.relu' op using value defined outside the region}}
    %r = qopt.relu %x : tensor<4xf32>
    qopt.yield %r : tensor<4xf32>
  }
  return %0 : tensor<4xf32>
}

// -----

func.func @yield_outside(%x: tensor<4xf32>) {
  // expected-error @+1 {{'qopt.yield' op expects parent op 'qopt.fused'}}
  qopt.yield %x : tensor<4xf32>
}
