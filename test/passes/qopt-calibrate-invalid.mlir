// RUN: %python -c "import numpy as np; n = np.zeros((3, 4), np.float32); n[1, 2] = np.nan; i = np.zeros((2, 4), np.float32); i[1, 3] = np.inf; np.savez('%t.calibration-data.npz', nan=n, inf=i, empty=np.zeros((0, 4), np.float32), bad=np.zeros((3, 5), np.float32), f64=np.zeros((3, 4)))"
// RUN: qopt %s --split-input-file --qopt-calibrate=calibration-data=%t.calibration-data.npz -verify-diagnostics

// NaN activations: the error names the probe and the sample.
func.func @main(%x: tensor<?x4xf32> {qopt.name = "nan"}) -> tensor<?x4xf32> {
  // expected-error @+1 {{qopt-calibrate: probe 'in': non-finite value nan at element 2 of f32[1x4] (sample 1)}}
  %0 = qopt.observe %x {name = "in"} : tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// Infinities too, behind another op.
func.func @main(%x: tensor<?x4xf32> {qopt.name = "inf"}) -> tensor<?x4xf32> {
  %r = qopt.relu %x : tensor<?x4xf32>
  %n = qopt.neg %r : tensor<?x4xf32>
  // expected-error @+1 {{qopt-calibrate: probe 'neg': non-finite value -inf at element 3 of f32[1x4] (sample 1)}}
  %0 = qopt.observe %n {name = "neg"} : tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// No samples.
// expected-error @+1 {{calibration-data.npz: no calibration samples (the arrays have 0 samples)}}
module {
  func.func @main(%x: tensor<?x4xf32> {qopt.name = "empty"}) -> tensor<?x4xf32> {
    %0 = qopt.observe %x {name = "in"} : tensor<?x4xf32>
    return %0 : tensor<?x4xf32>
  }
}

// -----

// expected-error @+1 {{no array 'missing' for the function argument of that name (the file has 'nan', 'inf', 'empty', 'bad', 'f64')}}
module {
  func.func @main(%x: tensor<?x4xf32> {qopt.name = "missing"}) -> tensor<?x4xf32> {
    %0 = qopt.observe %x {name = "in"} : tensor<?x4xf32>
    return %0 : tensor<?x4xf32>
  }
}

// -----

// expected-error @+1 {{array 'bad' is f32[3x5]: dim 1 is 5 but argument type tensor<?x4xf32> needs 4}}
module {
  func.func @main(%x: tensor<?x4xf32> {qopt.name = "bad"}) -> tensor<?x4xf32> {
    %0 = qopt.observe %x {name = "in"} : tensor<?x4xf32>
    return %0 : tensor<?x4xf32>
  }
}

// -----

// expected-error @+1 {{array 'f64' is f64[3x4] but argument 'f64' has type tensor<?x4xf32>}}
module {
  func.func @main(%x: tensor<?x4xf32> {qopt.name = "f64"}) -> tensor<?x4xf32> {
    %0 = qopt.observe %x {name = "in"} : tensor<?x4xf32>
    return %0 : tensor<?x4xf32>
  }
}

// -----

// A static dim 0 must equal batch-size.
// expected-error @+1 {{argument 'nan' has type tensor<3x4xf32>: its dim 0 must be dynamic or equal to the batch size (1)}}
module {
  func.func @main(%x: tensor<3x4xf32> {qopt.name = "nan"}) -> tensor<3x4xf32> {
    %0 = qopt.observe %x {name = "in"} : tensor<3x4xf32>
    return %0 : tensor<3x4xf32>
  }
}

// -----

// expected-error @+1 {{qopt-calibrate: the module has no qopt.observe probes; run --qopt-insert-observers first}}
module {
  func.func @main(%x: tensor<?x4xf32> {qopt.name = "nan"}) -> tensor<?x4xf32> {
    return %x : tensor<?x4xf32>
  }
}
