// Hand-made QDQ MLP (the form qopt-quantize produces) for the fold-qdq
// translation-validation test: static u8 input (zero point 128), a trans_b
// gemm + bias + relu quantized to u8 (zero point 0: relu folds into
// saturation), data movement on the u8 activations, a matmul + trailing
// bias add + relu quantized to symmetric s8 (zero point 0 > qmin: relu becomes
// a narrowed-range requantize), and a final gemm whose float result is
// returned (dequantized accumulator). check-fold-qdq.py parses the constants
// and types of this file for its NumPy reference.
!x = !quant.uniform<u8:f32, 1.568627e-02:128>
!h1 = !quant.uniform<u8:f32, 1.200000e-02>
!h2 = !quant.uniform<i8:f32, 9.000000e-03>
!w1 = !quant.uniform<i8<-127:127>:f32:0, {2.100788e-03, 3.488741e-03, 2.121401e-03, 2.491568e-03, 5.868593e-03, 4.631043e-03, 3.712881e-03, 4.094961e-03, 5.491237e-03, 3.376843e-03, 4.361164e-03, 4.734737e-03}>
!w2 = !quant.uniform<i8<-127:127>:f32:1, {3.226638e-03, 5.845403e-03, 3.863360e-03, 4.512404e-03, 4.540905e-03, 2.735558e-03, 2.247462e-03, 3.646067e-03}>
!w3 = !quant.uniform<i8<-127:127>:f32:0, {4.297579e-03, 2.158746e-03, 5.206658e-03, 5.840284e-03, 5.416036e-03}>
func.func @main(%x: tensor<?x16xf32> {qopt.name = "x"}) -> (tensor<?x12x!h1> {qopt.name = "h1"}, tensor<?x8x!h2> {qopt.name = "h2"}, tensor<?x5xf32> {qopt.name = "logits"}) {
  %w1 = qopt.constant dense<[[113, 32, 47, 101, 20, 70, 85, -70, -113, -51, -55, 95, 105, -126, 0, 82], [-94, 76, -97, -8, 81, -50, -40, -57, 56, -63, 125, -14, -6, 1, 21, 14], [2, 126, 78, 75, 51, 31, -41, 125, -9, -73, 88, -87, 91, 29, -98, -116], [-14, -118, -91, 4, 120, -9, 79, 106, 82, 33, -15, 4, -60, -1, -31, -64], [126, -124, -103, -78, 120, 49, 97, -76, 56, -33, -3, -127, 30, 84, 42, -88], [9, -59, 119, 97, -80, 2, 112, 89, 53, 36, -117, 62, -7, -104, -65, 10], [58, 2, 29, 95, 47, -35, 37, 25, -100, -112, 41, -29, 25, -45, -70, -89], [-30, 81, -25, -31, 19, 122, -27, 23, -15, 27, -14, 35, 12, 45, 116, -89], [16, -15, -36, -66, -114, -25, 83, -103, -24, 119, 115, -73, -126, 44, -124, -51], [-1, 95, -104, 41, 8, -94, 88, 88, -4, 113, 27, 103, 117, 18, -56, -90], [16, -78, 64, 109, -65, 13, -115, -81, -31, 98, 120, 36, 21, 18, -112, -32], [123, -23, -73, -66, 54, -118, 120, 96, 17, -8, 67, 12, -6, -45, -14, 64]]> : tensor<12x16xi8>
  %w1q = quant.scast %w1 : tensor<12x16xi8> to tensor<12x16x!w1>
  %w1d = qopt.dequantize %w1q : (tensor<12x16x!w1>) -> tensor<12x16xf32>
  %b1 = qopt.constant dense<[-8.675174e-02, 1.145909e-02, 1.591484e-01, 2.455076e-01, -2.093626e-01, 2.600516e-01, -2.968927e-01, 1.517865e-01, 1.863161e-01, -2.179416e-01, -4.865781e-02, 1.891538e-01]> : tensor<12xf32>
  %xq = qopt.quantize %x : (tensor<?x16xf32>) -> tensor<?x16x!x>
  %xd = qopt.dequantize %xq : (tensor<?x16x!x>) -> tensor<?x16xf32>
  %y1 = qopt.gemm %xd, %w1d, %b1 {trans_b = true, qopt.scheme = "w8a8-static"} : (tensor<?x16xf32>, tensor<12x16xf32>, tensor<12xf32>) -> tensor<?x12xf32> loc("fc1")
  %r1 = qopt.relu %y1 : tensor<?x12xf32>
  %h1 = qopt.quantize %r1 : (tensor<?x12xf32>) -> tensor<?x12x!h1>
  %h1d = qopt.dequantize %h1 : (tensor<?x12x!h1>) -> tensor<?x12xf32>
  %m1 = qopt.reshape %h1d : (tensor<?x12xf32>) -> tensor<?x3x4xf32>
  %m2 = qopt.transpose %m1 {perm = array<i64: 0, 2, 1>} : (tensor<?x3x4xf32>) -> tensor<?x4x3xf32>
  %m3 = qopt.reshape %m2 : (tensor<?x4x3xf32>) -> tensor<?x12xf32>
  %m3q = qopt.quantize %m3 : (tensor<?x12xf32>) -> tensor<?x12x!h1>
  %m3d = qopt.dequantize %m3q : (tensor<?x12x!h1>) -> tensor<?x12xf32>
  %w2 = qopt.constant dense<[[120, -124, 93, 33, -4, 75, 115, 3], [-105, 58, -69, -70, -78, -77, 105, -35], [-100, -82, -27, -39, -48, 114, 93, 19], [124, -41, -92, -58, -105, 115, -72, -14], [-76, 123, -87, 4, 115, 5, 102, 101], [68, 62, 20, 21, 84, -19, 114, 96], [-32, -23, 55, 108, -103, -110, -64, -18], [-86, 5, 11, 115, 63, -63, 73, 78], [46, 45, -48, 55, -93, 33, 107, 120], [-51, -43, 30, -26, 59, -76, -84, -115], [-8, -73, -51, 106, 80, 87, 24, -99], [63, 26, 104, -5, -83, 24, -11, 41]]> : tensor<12x8xi8>
  %w2q = quant.scast %w2 : tensor<12x8xi8> to tensor<12x8x!w2>
  %w2d = qopt.dequantize %w2q : (tensor<12x8x!w2>) -> tensor<12x8xf32>
  %b2 = qopt.constant dense<[1.584181e-01, 1.891331e-01, 1.379935e-01, -2.320770e-01, 2.480129e-01, 1.812219e-01, 2.266148e-01, 1.398249e-02]> : tensor<8xf32>
  %y2 = qopt.matmul %m3d, %w2d {qopt.scheme = "w8a8-static"} : (tensor<?x12xf32>, tensor<12x8xf32>) -> tensor<?x8xf32> loc("fc2")
  %y2b = qopt.add %y2, %b2 : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %r2 = qopt.relu %y2b : tensor<?x8xf32>
  %h2 = qopt.quantize %r2 : (tensor<?x8xf32>) -> tensor<?x8x!h2>
  %h2d = qopt.dequantize %h2 : (tensor<?x8x!h2>) -> tensor<?x8xf32>
  %w3 = qopt.constant dense<[[81, 106, -52, -116, -84, -120, -17, -122], [-61, -63, 53, -64, 115, -80, 120, 17], [-65, -118, -50, 23, -100, -85, -98, 45], [-105, -122, -11, -48, 18, 112, 91, 10], [36, 79, -16, 40, -72, 28, -67, -79]]> : tensor<5x8xi8>
  %w3q = quant.scast %w3 : tensor<5x8xi8> to tensor<5x8x!w3>
  %w3d = qopt.dequantize %w3q : (tensor<5x8x!w3>) -> tensor<5x8xf32>
  %b3 = qopt.constant dense<[-2.695742e-01, -9.680395e-02, -1.091981e-01, -2.323698e-01, 7.596709e-02]> : tensor<5xf32>
  %y3 = qopt.gemm %h2d, %w3d, %b3 {trans_b = true, qopt.scheme = "w8a8-static"} : (tensor<?x8xf32>, tensor<5x8xf32>, tensor<5xf32>) -> tensor<?x5xf32> loc("fc3")
  return %h1, %h2, %y3 : tensor<?x12x!h1>, tensor<?x8x!h2>, tensor<?x5xf32>
}
