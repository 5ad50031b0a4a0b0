// RUN: qopt %s --split-input-file --qopt-quantize | FileCheck %s --check-prefix=STATIC
// RUN: qopt %s --split-input-file --qopt-quantize=activation-type=s8 | FileCheck %s --check-prefix=S8
// RUN: qopt %s --split-input-file --qopt-quantize=mode=dynamic | FileCheck %s --check-prefix=DYN
// RUN: qopt %s --split-input-file --qopt-quantize=weight-bits=7 | FileCheck %s --check-prefix=W7
// RUN: qopt %s --split-input-file --qopt-quantize="mode=weight-only weight-bits=4 group-size=3 weight-symmetric=false" | FileCheck %s --check-prefix=W4ASYM
// RUN: qopt %s --split-input-file --qopt-quantize="mode=weight-only weight-bits=8" | FileCheck %s --check-prefix=W8
// RUN: qopt %s --split-input-file --qopt-quantize="mode=static exclude=^fc$" | FileCheck %s --check-prefix=EXCL
// RUN: qopt %s --split-input-file --qopt-quantize="mode=static exclude-types=qopt.matmul" | FileCheck %s --check-prefix=EXCL
// RUN: qopt %s --split-input-file --qopt-quantize="mode=weight-only embeddings=true" | FileCheck %s --check-prefix=EMB

// One matmul: weights per output channel (dim 1 of [K, N]), symmetric narrow
// range; scale = max|W_col| / 127 (1/127 and 4/127); 0.5 / (1/127) = 63.5
// in f32 rounds half to even (64), -2 / (4/127) = -63.5 to -64.
// The activation range [-1, 3] gives u8 scale 4/255 and zero point
// round(1 / (4/255)) = 64; s8 uses max(|min|, |max|) / 127 = 3/127.

func.func @main(%x: tensor<?x4xf32> {qopt.name = "x"}) -> tensor<?x2xf32> {
  %w = qopt.constant dense<[[1.0, -2.0], [0.5, 4.0], [-1.0, 1.0], [0.25, -0.5]]> : tensor<4x2xf32>
  %0 = qopt.observe %x {name = "fc:lhs", stats = {min = -1.0 : f32, max = 3.0 : f32}} : tensor<?x4xf32>
  %y = qopt.matmul %0, %w : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32> loc("fc")
  return %y : tensor<?x2xf32>
}
// STATIC-LABEL: func.func @main
// STATIC: %[[Q:.*]] = qopt.quantize %arg0 : (tensor<?x4xf32>) -> tensor<?x4x!quant.uniform<u8:f32, 0.015686275437474251:64>>
// STATIC: %[[DQ:.*]] = qopt.dequantize %[[Q]]
// STATIC: %[[W:.*]] = qopt.constant dense<{{\[}}[127, -64], [64, 127], [-127, 32], [32, -16]]> : tensor<4x2xi8>
// STATIC: %[[WQ:.*]] = quant.scast %[[W]] : tensor<4x2xi8> to tensor<4x2x!quant.uniform<i8<-127:127>:f32:1, {0.0078740157186985015,0.031496062874794006}>>
// STATIC: %[[WD:.*]] = qopt.dequantize %[[WQ]]
// STATIC: qopt.matmul %[[DQ]], %[[WD]] {qopt.scheme = "w8a8-static-u8"}
// STATIC-NOT: qopt.observe

// 7-bit static weights: int8 storage in [-63, 63] (scale amax / 63; the f32
// scale is a hair above 1/63, so 0.5 -> 31.49.. -> 31).
// W7-LABEL: func.func @main
// W7: qopt.constant dense<{{\[}}[63, -31], [31, 63], [-63, 16], [16, -8]]> : tensor<4x2xi8>
// W7: tensor<4x2x!quant.uniform<i8<-63:63>:f32:1, {0.01587301678955555,0.063492067158222198}>>
// W7: qopt.matmul {{.*}} {qopt.scheme = "w8a8-static-u8"}

// S8: qopt.quantize %arg0 : (tensor<?x4xf32>) -> tensor<?x4x!quant.uniform<i8<-127:127>:f32, 0.023622047156095505>>
// S8: qopt.matmul {{.*}} {qopt.scheme = "w8a8-static-s8"}

// Dynamic: per-token symmetric scales at run time; the probe goes away.
// DYN-LABEL: func.func @main
// DYN: %[[Q:[a-z_0-9]+]], %[[S:[a-z_0-9]+]], %[[Z:[a-z_0-9]+]] = qopt.dynamic_quantize %arg0 {per_token} : tensor<?x4xf32> -> tensor<?x4xi8>, tensor<?x1xf32>, tensor<?x1xi8>
// DYN: %[[DQ:.*]] = qopt.dequantize %[[Q]], %[[S]], %[[Z]] {block_size = 4 : i64}
// DYN: qopt.matmul %[[DQ]], %{{.*}} {qopt.scheme = "w8a8-dynamic-per-token"}
// DYN-NOT: qopt.observe

// Weight-only, 4-bit asymmetric groups of 3 along K = 4 (a ragged last
// group of 1): ui4 values, a [2, 2] scale and zero point; the probe stays.
// W4ASYM: qopt.observe %arg0
// W4ASYM: %[[W:.*]] = qopt.constant dense<{{\[}}[14, 0], [11, 15], [0, 7], [15, 0]]> : tensor<4x2xui4>
// W4ASYM: %[[S:.*]] = qopt.constant dense<{{\[}}[0.13333334, 4.000000e-01], [0.0166666675, 0.0333333351]]> : tensor<2x2xf32>
// W4ASYM: %[[Z:.*]] = qopt.constant dense<{{\[}}[7, 5], [0, 15]]> : tensor<2x2xui4>
// W4ASYM: qopt.dequantize %[[W]], %[[S]], %[[Z]] {axis = 0 : i64, block_size = 3 : i64} : (tensor<4x2xui4>, tensor<2x2xf32>, tensor<2x2xui4>) -> tensor<4x2xf32>
// W4ASYM: qopt.matmul {{.*}} {qopt.scheme = "w4-g3-asym"}

// W8-LABEL: func.func @main
// W8: %[[P:.*]] = qopt.observe %arg0
// W8: quant.scast {{.*}} : tensor<4x2xi8> to tensor<4x2x!quant.uniform<i8<-127:127>:f32:1, {0.0078740157186985015,0.031496062874794006}>>
// W8: qopt.matmul %[[P]], {{.*}} {qopt.scheme = "w8-channel-sym"}

// EXCL-NOT: qopt.quantize
// EXCL-NOT: qopt.scheme
// EXCL: qopt.matmul %{{.*}}, %{{.*}} : (tensor<?x4xf32>, tensor<4x2xf32>)

// -----

// gemm with trans_b: the weight is [N, K], so channels are dim 0. A probe
// shared by two consumers gives one quantize/dequantize pair. The conv's
// filter is OIHW (channels dim 0). batch_matmul quantizes both operands in
// the static mode only. qopt.precision from qopt-mixed-precision overrides.

func.func @main(%x: tensor<2x4xf32> {qopt.name = "x"}, %img: tensor<1x1x3x3xf32> {qopt.name = "img"}, %a: tensor<2x3x4xf32>, %b: tensor<2x4x5xf32>) -> (tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x2x2xf32>, tensor<2x3x5xf32>) {
  %w = qopt.constant dense<[[1.0, 2.0, 3.0, 4.0], [-1.0, 0.0, 0.0, 0.5]]> : tensor<2x4xf32>
  %f = qopt.constant dense<[[[[1.0, 2.0], [3.0, 4.0]]], [[[0.0, -8.0], [2.0, 1.0]]]]> : tensor<2x1x2x2xf32>
  %p = qopt.observe %x {name = "g1:a", stats = {min = 0.0 : f32, max = 2.0 : f32}} : tensor<2x4xf32>
  %g1 = qopt.gemm %p, %w {trans_b = true} : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x2xf32> loc("g1")
  %g2 = qopt.gemm %p, %w {trans_b = true, qopt.precision = "float"} : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x2xf32> loc("g2")
  %pi = qopt.observe %img {name = "conv:input", stats = {min = -1.0 : f32, max = 1.0 : f32}} : tensor<1x1x3x3xf32>
  %c = qopt.conv2d %pi, %f : (tensor<1x1x3x3xf32>, tensor<2x1x2x2xf32>) -> tensor<1x2x2x2xf32> loc("conv")
  %pa = qopt.observe %a {name = "bmm:lhs", stats = {min = -1.0 : f32, max = 1.0 : f32}} : tensor<2x3x4xf32>
  %pb = qopt.observe %b {name = "bmm:rhs", stats = {min = -2.0 : f32, max = 2.0 : f32}} : tensor<2x4x5xf32>
  %m = qopt.batch_matmul %pa, %pb : (tensor<2x3x4xf32>, tensor<2x4x5xf32>) -> tensor<2x3x5xf32> loc("bmm")
  return %g1, %g2, %c, %m : tensor<2x2xf32>, tensor<2x2xf32>, tensor<1x2x2x2xf32>, tensor<2x3x5xf32>
}
// STATIC-LABEL: func.func @main
// STATIC: %[[P:.*]] = qopt.observe %arg0 {name = "g1:a"
// STATIC-COUNT-1: qopt.quantize %arg0 : (tensor<2x4xf32>) -> tensor<2x4x!quant.uniform<u8:f32, 0.0078431377187371254>>
// STATIC: quant.scast {{.*}} : tensor<2x4xi8> to tensor<2x4x!quant.uniform<i8<-127:127>:f32:0, {0.031496062874794006,0.0078740157186985015}>>
// STATIC: qopt.gemm {{.*}} {qopt.scheme = "w8a8-static-u8", trans_b = true}
// g2 stays float and still reads the probe.
// STATIC: qopt.gemm %[[P]], %{{.*}} {qopt.precision = "float", trans_b = true} : (tensor<2x4xf32>, tensor<2x4xf32>)
// STATIC: qopt.quantize %arg1 : (tensor<1x1x3x3xf32>) -> tensor<1x1x3x3x!quant.uniform<u8:f32, 0.0078431377187371254:127>>
// STATIC: quant.scast {{.*}} : tensor<2x1x2x2xi8> to tensor<2x1x2x2x!quant.uniform<i8<-127:127>:f32:0, {0.031496062874794006,0.062992125749588013}>>
// STATIC: qopt.conv2d {{.*}} {qopt.scheme = "w8a8-static-u8"}
// STATIC: qopt.quantize %arg2
// STATIC: qopt.quantize %arg3
// STATIC: qopt.batch_matmul {{.*}} {qopt.scheme = "a8a8-static-u8"}

// Dynamic: conv activations get one run-time scale per tensor (u8), and
// batch_matmul stays float.
// DYN-LABEL: func.func @main
// DYN-DAG: qopt.dynamic_quantize %arg0 {per_token}
// DYN-DAG: qopt.dynamic_quantize %arg1 : tensor<1x1x3x3xf32> -> tensor<1x1x3x3xui8>, tensor<f32>, tensor<ui8>
// DYN: qopt.gemm {{.*}} {qopt.scheme = "w8a8-dynamic-per-token", trans_b = true}
// DYN: qopt.gemm %arg0, %{{.*}} {qopt.precision = "float", trans_b = true}
// DYN: qopt.conv2d {{.*}} {qopt.scheme = "w8a8-dynamic-per-tensor"}
// DYN: qopt.batch_matmul %arg2, %arg3 :

// -----

// Mixed precision: int4 means weight-only groups (default 128, here the
// whole K), int8 the W8A8 weights.
func.func @main(%x: tensor<2x4xf32>) -> (tensor<2x2xf32>, tensor<2x2xf32>) {
  %w = qopt.constant dense<[[1.0, 2.0, 3.0, 4.0], [-1.0, 0.0, 0.0, 0.5]]> : tensor<2x4xf32>
  %p = qopt.observe %x {name = "in", stats = {min = 0.0 : f32, max = 2.0 : f32}} : tensor<2x4xf32>
  %a = qopt.gemm %p, %w {trans_b = true, qopt.precision = "int4"} : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x2xf32> loc("a")
  %b = qopt.gemm %p, %w {trans_b = true, qopt.precision = "int8"} : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x2xf32> loc("b")
  return %a, %b : tensor<2x2xf32>, tensor<2x2xf32>
}
// W8-LABEL: func.func @main(%arg0: tensor<2x4xf32>) ->
// W8: quant.scast {{.*}} : tensor<2x4xi4> to tensor<2x4x!quant.uniform<i4<-7:7>:f32:0, {0.57142859697341919,0.1428571492433548}>>
// W8: qopt.gemm {{.*}} {qopt.precision = "int4", qopt.scheme = "w4-g128-sym", trans_b = true}
// W8: quant.scast {{.*}} : tensor<2x4xi8> to tensor<2x4x!quant.uniform<i8<-127:127>:f32:0,
// W8: qopt.gemm {{.*}} {qopt.precision = "int8", qopt.scheme = "w8-channel-sym", trans_b = true}

// -----

// Embedding tables: only with embeddings=true (or a qopt.precision decision),
// int8 with one scale per row; the indices stay integers.
func.func @main(%ids: tensor<1x3xi64>) -> tensor<1x3x2xf32> {
  %t = qopt.constant dense<[[1.0, -2.0], [0.5, 0.25], [0.0, 0.0], [4.0, 1.0]]> : tensor<4x2xf32>
  %e = qopt.gather %t, %ids {axis = 0 : i64} : (tensor<4x2xf32>, tensor<1x3xi64>) -> tensor<1x3x2xf32> loc("embed")
  return %e : tensor<1x3x2xf32>
}
// EMB-LABEL: func.func @main(%arg0: tensor<1x3xi64>)
// EMB: %[[T:.*]] = qopt.constant dense<{{\[}}[64, -127], [127, 64], [0, 0], [127, 32]]> : tensor<4x2xi8>
// EMB: %[[Q:.*]] = quant.scast %[[T]] : tensor<4x2xi8> to tensor<4x2x!quant.uniform<i8<-127:127>:f32:0, {0.015748031437397003,0.0039370078593492508,1.000000e+00,0.031496062874794006}>>
// EMB: %[[D:.*]] = qopt.dequantize %[[Q]]
// EMB: qopt.gather %[[D]], %arg0 {qopt.scheme = "w8-channel-sym"}
// W8-LABEL: func.func @main(%arg0: tensor<1x3xi64>)
// W8: qopt.gather %{{.*}}, %arg0 : (tensor<4x2xf32>

