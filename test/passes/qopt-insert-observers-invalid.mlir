// RUN: qopt %s --qopt-insert-observers=granularity=per_row -verify-diagnostics

// expected-error @+1 {{qopt-insert-observers: granularity must be per_tensor, per_channel or per_token, got 'per_row'}}
module {
  func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}
