// RUN: %python -c "import numpy as np; np.savez('%t.npz', x=np.random.default_rng(1).standard_normal((8, 4)).astype(np.float32))"
// RUN: qopt %s --qopt-mixed-precision="calibration-data=%t.npz budget-bits=32 print-table" | FileCheck %s

// Every column of "exact"'s weight is a multiple of (its max / 7): the int4
// round trip is exact (SQNR +inf), int8 (scale max / 127) is not, so even
// with room for float, "exact" stays int4: nothing more precise reduces the
// output noise (4x4 at int4 in groups of 4: 4 bits + 32 / 4 for the scale).
// The head (last projection) takes float. The qopt.mul by a
// constant is no site, nor is the add.

// CHECK:      qopt-mixed-precision: 2 weight(s), 8 sample(s)
// CHECK-NEXT: op type weight elements sqnr int8 sqnr int4 decision bits
// CHECK-NEXT: exact qopt.matmul 4x4 16 {{[0-9.]+}} dB inf dB int4 12.00
// CHECK-NEXT: head qopt.matmul 4x2 8 {{[0-9.]+}} dB ({{[0-9.]+}} dB) float 32.00
// CHECK-NEXT: (sqnr): measured, not allowed (last projection before an output)
// CHECK-NEXT: total: 18.67 bits per weight, 56 bytes (58.3% of 96 float bytes); budget 32.00 bits per weight (96 bytes)

// CHECK-LABEL: func.func @main
// CHECK: qopt.matmul %arg0, %{{.*}} {qopt.precision = "int4", qopt.precision_reason = "sqnr int8 {{[0-9.]+}} dB, int4 inf dB; int4: cheapest allowed; a higher precision would not reduce the output noise", qopt.sensitivity = {int4 = 0x7FF0000000000000 : f64, int8 = {{[0-9.e+]+}} : f64}}
// CHECK: qopt.mul
// CHECK-NOT: qopt.precision
// CHECK: qopt.add
// CHECK-NOT: qopt.precision
// CHECK: qopt.matmul {{.*}} {qopt.precision = "float", qopt.precision_reason = "last projection before an output (int4 not allowed); sqnr int8 {{[0-9.]+}} dB, int4 {{[0-9.]+}} dB; upgraded int8 -> float (step 1): best noise reduction per byte"
func.func @main(%x: tensor<?x4xf32> {qopt.name = "x"}) -> tensor<?x2xf32> {
  %w = qopt.constant dense<[[0.5, -1.0, 3.5, 0.0], [1.5, 2.0, -3.5, 1.0], [-0.5, 0.5, 1.0, 3.5], [3.5, -3.5, 2.5, -2.0]]> : tensor<4x4xf32>
  %s = qopt.constant dense<[0.5, 2.0, 1.0, -1.0]> : tensor<4xf32>
  %h = qopt.constant dense<[[0.3, -0.7], [1.1, 0.2], [-0.4, 0.9], [0.05, -1.3]]> : tensor<4x2xf32>
  %0 = qopt.matmul %x, %w : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32> loc("exact")
  %1 = qopt.mul %0, %s : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %2 = qopt.add %1, %x : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %3 = qopt.matmul %2, %h : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32> loc("head")
  return %3 : tensor<?x2xf32>
}
