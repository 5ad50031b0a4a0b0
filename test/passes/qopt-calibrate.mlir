// RUN: %python -c "import numpy as np; x = np.arange(32, dtype=np.float32).reshape(8, 4) - 10; np.savez('%t.npz', x=x)"
// RUN: qopt %s --qopt-calibrate=calibration-data=%t.npz | FileCheck %s
// RUN: qopt %s --qopt-calibrate="calibration-data=%t.npz batch-size=4" | FileCheck %s
// RUN: qopt %s --qopt-calibrate="calibration-data=%t.npz batch-size=3" | FileCheck %s
// RUN: qopt %s --qopt-calibrate="calibration-data=%t.npz max-samples=2" | FileCheck %s --check-prefix=MAX
// RUN: qopt %S/Inputs/calibrate-static.mlir --qopt-calibrate="calibration-data=%t.npz batch-size=3" 2>&1 | FileCheck %s --check-prefix=STATIC

// Values -10..21, sample-major: x[s][c] = 4 s + c - 10. minmax records the
// extremes, per channel too, whatever the batch size; the ReLU output starts
// at 0. Two samples: -10..-3.
// A static batch dim takes whole batches: 6 of the 8 samples (-10..13).
// STATIC: warning: qopt-calibrate: the arguments have a static dim 0, so the last 2 sample(s) (a partial batch) are skipped
// STATIC: name = "in", stats = {abs_max = 1.300000e+01 : f32, max = 1.300000e+01 : f32, method = "minmax", min = -1.000000e+01 : f32, samples = 6 : i64}

// CHECK-LABEL: func.func @main
// CHECK: qopt.observe %arg0 {axis = 1 : i64, granularity = "per_channel", name = "in", stats = {abs_max = 2.100000e+01 : f32, channel_max = array<f32: 1.800000e+01, 1.900000e+01, 2.000000e+01, 2.100000e+01>, channel_min = array<f32: -1.000000e+01, -9.000000e+00, -8.000000e+00, -7.000000e+00>, max = 2.100000e+01 : f32, method = "minmax", min = -1.000000e+01 : f32, samples = 8 : i64}}
// CHECK: qopt.observe %{{.*}} {name = "relu", stats = {abs_max = 2.100000e+01 : f32, max = 2.100000e+01 : f32, method = "minmax", min = 0.000000e+00 : f32, samples = 8 : i64}}
// MAX: name = "in", stats = {abs_max = 1.000000e+01 : f32, {{.*}}max = -3.000000e+00 : f32, method = "minmax", min = -1.000000e+01 : f32, samples = 2 : i64}
func.func @main(%x: tensor<?x4xf32> {qopt.name = "x"}) -> tensor<?x4xf32> {
  %0 = qopt.observe %x {name = "in", granularity = "per_channel", axis = 1} : tensor<?x4xf32>
  %1 = qopt.relu %0 : tensor<?x4xf32>
  %2 = qopt.observe %1 {name = "relu"} : tensor<?x4xf32>
  return %2 : tensor<?x4xf32>
}
