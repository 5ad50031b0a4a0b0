// A fused body whose add cannot broadcast at run time (see fuse-exec.test).
func.func @main(%x: tensor<?x8xf32> {qopt.name = "x"}) -> tensor<?x8xf32> {
  %c = qopt.constant dense<1.0> : tensor<3xf32>
  %0 = qopt.fused "elementwise" (%x, %c) : (tensor<?x8xf32>, tensor<3xf32>) -> tensor<?x8xf32> {
  ^bb0(%a: tensor<?x8xf32>, %b: tensor<3xf32>):
    %r = qopt.relu %a : tensor<?x8xf32>
    %d = qopt.reshape %b : (tensor<3xf32>) -> tensor<?xf32>
    %t = qopt.add %r, %d : (tensor<?x8xf32>, tensor<?xf32>) -> tensor<?x8xf32> loc("inner")
    qopt.yield %t : tensor<?x8xf32>
  } loc("grp")
  return %0 : tensor<?x8xf32>
}
