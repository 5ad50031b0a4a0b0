// A float model with one group of each kind (see fuse-exec.test).
!u8 = !quant.uniform<u8:f32, 0.03:128>
func.func @main(%x: tensor<?x8xf32> {qopt.name = "x"}) -> (tensor<?x4xf32> {qopt.name = "y"}, tensor<?x8xf32> {qopt.name = "z"}) {
  %g = qopt.constant dense<[0.9967, 1.0884, 0.9416, 0.9888, 1.0110, 1.0064, 0.8775, 1.0076]> : tensor<8xf32>
  %beta = qopt.constant dense<[0.1359, -0.1547, 0.0859, 0.0119, -0.0641, 0.2000, 0.0762, -0.1199]> : tensor<8xf32>
  %n = qopt.layer_norm %x, %g, %beta : (tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8xf32> loc("ln")
  %q = qopt.quantize %n : (tensor<?x8xf32>) -> tensor<?x8x!u8> loc("ln.q")
  %d = qopt.dequantize %q : (tensor<?x8x!u8>) -> tensor<?x8xf32>
  %w = qopt.constant dense<[[0.0012, 0.2987, -0.2741, -0.8906], [-0.4547, -0.9916, 0.0601, 1.3402], [-0.4922, -0.6205, 0.4898, 0.3569], [0.1054, -0.9305, -0.0293, 0.6953], [-1.3442, -0.4576, -1.9012, -1.2895], [-1.8417, -0.2351, -1.2674, 0.2713], [0.1568, -0.1869, -2.5168, -0.5387], [-0.0485, 0.1133, -1.5301, -0.4778]]> : tensor<8x4xf32>
  %b = qopt.constant dense<[-0.9785, -0.8088, 1.0609, -0.8075]> : tensor<4xf32>
  %m = qopt.matmul %d, %w : (tensor<?x8xf32>, tensor<8x4xf32>) -> tensor<?x4xf32> loc("fc1")
  %a = qopt.add %m, %b : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32> loc("fc1.bias")
  %e = qopt.gelu %a : tensor<?x4xf32> loc("gelu")
  %qw = qopt.constant dense<[[10, 6, 9, 5], [3, 2, 6, 13], [6, 6, 9, 15], [6, 9, 7, 9]]> : tensor<4x4xui4>
  %s = qopt.constant dense<[[0.0819, 0.0838, 0.0575, 0.0720], [0.0620, 0.0701, 0.0548, 0.0984]]> : tensor<2x4xf32>
  %z = qopt.constant dense<[[9, 6, 5, 8], [5, 6, 7, 9]]> : tensor<2x4xui4>
  %w2 = qopt.dequantize %qw, %s, %z {axis = 0 : i64, block_size = 2 : i64} : (tensor<4x4xui4>, tensor<2x4xf32>, tensor<2x4xui4>) -> tensor<4x4xf32>
  %m2 = qopt.matmul %e, %w2 : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32> loc("fc2")
  %y = qopt.tanh %m2 : tensor<?x4xf32> loc("tanh")
  %xs = qopt.constant dense<[-0.4632, -0.0973, 1.2570, 0.6894, -0.3272, -0.3686, -0.2502, 1.5235]> : tensor<8xf32>
  %c = qopt.constant dense<0.25> : tensor<f32>
  %x1 = qopt.mul %x, %xs : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32> loc("scale")
  %x2 = qopt.add %x1, %c : (tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xf32>
  %x3 = qopt.sigmoid %x2 : tensor<?x8xf32>
  %x4 = qopt.mul %x3, %x : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return %y, %x4 : tensor<?x4xf32>, tensor<?x8xf32>
}
