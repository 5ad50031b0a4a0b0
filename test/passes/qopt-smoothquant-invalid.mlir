// Invalid options are errors on the module.
// RUN: not qopt %s --qopt-smoothquant=alpha=1.5 2>&1 | FileCheck %s --check-prefix=RANGE
// RUN: not qopt %s --qopt-smoothquant=alpha=-0.1 2>&1 | FileCheck %s --check-prefix=NEG
// RUN: not qopt %s --qopt-smoothquant=alpha=half 2>&1 | FileCheck %s --check-prefix=WORD
// RUN: not qopt %s --qopt-smoothquant=alpha=nan 2>&1 | FileCheck %s --check-prefix=NAN
// RUN: not qopt %s --qopt-smoothquant=alpha=auto 2>&1 | FileCheck %s --check-prefix=AUTO
// RUN: not qopt %s --qopt-smoothquant="alpha=auto calibration-data=x.npz max-samples=0" 2>&1 | FileCheck %s --check-prefix=MAX
// RUN: qopt %s --qopt-smoothquant="alpha=auto calibration-data=%t.missing.npz" -verify-diagnostics

// RANGE: error: qopt-smoothquant: alpha must be a number in [0, 1] or auto, got '1.5'
// NEG: error: qopt-smoothquant: alpha must be a number in [0, 1] or auto, got '-0.1'
// WORD: error: qopt-smoothquant: alpha must be a number in [0, 1] or auto, got 'half'
// NAN: error: qopt-smoothquant: alpha must be a number in [0, 1] or auto, got 'nan'
// AUTO: error: qopt-smoothquant: alpha=auto needs calibration-data (an .npz of sample inputs to choose alpha on)
// MAX: error: qopt-smoothquant: max-samples must be at least 1, got 0

// alpha=auto with a data file that cannot be read: the error is on the
// module and names the file.
// expected-error @+1 {{missing.npz' as an .npz (zip) archive}}
module {
  func.func @main(%x: tensor<?x2xf32> {qopt.name = "x"}) -> tensor<?x2xf32> {
    %p = qopt.observe %x {axis = 1 : i64, granularity = "per_channel", name = "fc:lhs", stats = {abs_max = 4.0 : f32, channel_max = array<f32: 2.0, 1.0>, channel_min = array<f32: -4.0, -1.0>, max = 2.0 : f32, method = "minmax", min = -4.0 : f32, samples = 8 : i64}} : tensor<?x2xf32>
    %w = qopt.constant dense<[[1.0, 0.25], [-4.0, 1.0]]> : tensor<2x2xf32>
    %y = qopt.matmul %p, %w : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
    return %y : tensor<?x2xf32>
  }
}
