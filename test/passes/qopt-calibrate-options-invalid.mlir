// RUN: qopt %s --qopt-calibrate=calibration-data=%t.does-not-exist.npz -verify-diagnostics
// RUN: not qopt %s --qopt-calibrate="calibration-data=x.npz method=median" 2>&1 | FileCheck %s --check-prefix=METHOD
// RUN: not qopt %s --qopt-calibrate 2>&1 | FileCheck %s --check-prefix=NOFILE
// RUN: not qopt %s --qopt-calibrate="calibration-data=x.npz num-bins=64" 2>&1 | FileCheck %s --check-prefix=BINS

// RUN: not qopt %s --qopt-calibrate="calibration-data=x.npz percentile=0" 2>&1 | FileCheck %s --check-prefix=PCT

// METHOD: error: qopt-calibrate: method must be minmax, percentile, entropy or mse, got 'median'
// NOFILE: error: qopt-calibrate: calibration-data is required (an .npz of sample inputs)
// BINS: error: qopt-calibrate: num-bins must be at least 128, got 64
// PCT: error: qopt-calibrate: percentile must be in (0, 100], got 0

// A data file that cannot be read: the error is on the module and names it.
// expected-error @+1 {{does-not-exist.npz' as an .npz (zip) archive}}
module {
  func.func @main(%x: tensor<?x4xf32> {qopt.name = "x"}) -> tensor<?x4xf32> {
    %0 = qopt.observe %x {name = "in"} : tensor<?x4xf32>
    return %0 : tensor<?x4xf32>
  }
}
