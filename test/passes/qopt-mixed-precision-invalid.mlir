// RUN: %python -c "import numpy as np; x = np.ones((3, 4), np.float32); np.savez('%t.calibration-data.npz', x=x, empty=np.zeros((0, 4), np.float32), three=x)"
// RUN: qopt %s --split-input-file --qopt-mixed-precision="calibration-data=%t.calibration-data.npz budget-bits=3" -verify-diagnostics

// Option errors name the option (every split reports it; check the first).
// RUN: not qopt %s --split-input-file --qopt-mixed-precision 2>&1 | FileCheck %s --check-prefix=NODATA
// RUN: not qopt %s --split-input-file --qopt-mixed-precision="calibration-data=%t.calibration-data.npz budget-bits=0" 2>&1 | FileCheck %s --check-prefix=BITS
// RUN: not qopt %s --split-input-file --qopt-mixed-precision="calibration-data=%t.calibration-data.npz budget-bits=-2" 2>&1 | FileCheck %s --check-prefix=NEGBITS
// RUN: not qopt %s --split-input-file --qopt-mixed-precision="calibration-data=%t.calibration-data.npz budget-bytes=-1" 2>&1 | FileCheck %s --check-prefix=BYTES
// RUN: not qopt %s --split-input-file --qopt-mixed-precision="calibration-data=%t.calibration-data.npz group-size=0" 2>&1 | FileCheck %s --check-prefix=GROUP
// RUN: not qopt %s --split-input-file --qopt-mixed-precision="calibration-data=%t.calibration-data.npz max-samples=-1" 2>&1 | FileCheck %s --check-prefix=MAX
// RUN: not qopt %s --split-input-file --qopt-mixed-precision="calibration-data=%t.nonexistent.npz" 2>&1 | FileCheck %s --check-prefix=FILE
// A byte budget below the minimum (96 bytes here, see the first case).
// RUN: not qopt %s --split-input-file --qopt-mixed-precision="calibration-data=%t.calibration-data.npz budget-bytes=95" 2>&1 | FileCheck %s --check-prefix=MINBYTES
// NODATA: error: qopt-mixed-precision: calibration-data is required (an .npz of sample inputs keyed by argument name)
// BITS: error: qopt-mixed-precision: budget-bits must be positive, got 0
// NEGBITS: error: qopt-mixed-precision: budget-bits must be positive, got -2
// BYTES: error: qopt-mixed-precision: budget-bytes must be positive (or 0 to use budget-bits), got -1
// GROUP: error: qopt-mixed-precision: group-size must be at least 1, got 0
// MAX: error: qopt-mixed-precision: max-samples must be 0 (all) or positive, got -1
// FILE: error: qopt-mixed-precision: {{.*}}nonexistent.npz
// MINBYTES: error: qopt-mixed-precision: budget-bytes=95 cannot be met: the smallest choice (int4 where allowed, int8 for embedding tables and last projections, scales included) takes 96 bytes (12.00 bits per weight)

// The budget cannot be met: fc1 (4x8) at int4 in groups of 4 takes
// 4 * 32 + 32 * 8 = 384 bits, the last projection (8x4) at int8 takes
// 8 * 32 + 32 * 4 = 384 bits: 768 bits for 64 weights.
// expected-error @+1 {{qopt-mixed-precision: budget-bits=3.00 cannot be met: the minimum is 12.00 bits per weight (int4 where allowed, int8 for embedding tables and last projections, scales included)}}
module {
  func.func @main(%x: tensor<?x4xf32> {qopt.name = "x"}) -> tensor<?x4xf32> {
    %w1 = qopt.constant dense<0.5> : tensor<4x8xf32>
    %w2 = qopt.constant dense<0.25> : tensor<8x4xf32>
    %0 = qopt.matmul %x, %w1 : (tensor<?x4xf32>, tensor<4x8xf32>) -> tensor<?x8xf32> loc("fc1")
    %1 = qopt.matmul %0, %w2 : (tensor<?x8xf32>, tensor<8x4xf32>) -> tensor<?x4xf32> loc("fc2")
    return %1 : tensor<?x4xf32>
  }
}

// -----

// No samples.
// expected-error @+1 {{calibration-data.npz: no calibration samples (the arrays have 0 samples)}}
module {
  func.func @main(%x: tensor<?x4xf32> {qopt.name = "empty"}) -> tensor<?x4xf32> {
    %w = qopt.constant dense<0.5> : tensor<4x4xf32>
    %0 = qopt.matmul %x, %w : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
    return %0 : tensor<?x4xf32>
  }
}

// -----

// An argument without an array.
// expected-error @+1 {{calibration-data.npz: no array 'missing' for the function argument of that name (the file has 'x', 'empty', 'three')}}
module {
  func.func @main(%x: tensor<?x4xf32> {qopt.name = "missing"}) -> tensor<?x4xf32> {
    %w = qopt.constant dense<0.5> : tensor<4x4xf32>
    %0 = qopt.matmul %x, %w : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
    return %0 : tensor<?x4xf32>
  }
}

// -----

// A static dim 0 of 4 and only 3 samples.
// expected-error @+1 {{calibration-data.npz: 3 sample(s) do not fill one batch of 4 (the arguments have a static dim 0)}}
module {
  func.func @main(%x: tensor<4x4xf32> {qopt.name = "three"}) -> tensor<4x4xf32> {
    %w = qopt.constant dense<0.5> : tensor<4x4xf32>
    %0 = qopt.matmul %x, %w : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>
    return %0 : tensor<4x4xf32>
  }
}

// -----

// Which function runs is ambiguous.
// expected-error @+1 {{qopt-mixed-precision: the module has no 'main' function and not exactly one function}}
module {
  func.func @f(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
    return %x : tensor<?x4xf32>
  }
  func.func @g(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
    return %x : tensor<?x4xf32>
  }
}

// -----

// Nothing to decide: a warning, and the module is unchanged; norms have no
// weight site.
// expected-warning @+1 {{qopt-mixed-precision: no op with a constant weight in 'main'; nothing to decide}}
module {
  func.func @main(%x: tensor<?x4xf32> {qopt.name = "x"}) -> tensor<?x4xf32> {
    %g = qopt.constant dense<1.0> : tensor<4xf32>
    %0 = qopt.rms_norm %x, %g : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
    return %0 : tensor<?x4xf32>
  }
}
