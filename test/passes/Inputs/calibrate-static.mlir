// A static batch dim of 3 (used by qopt-calibrate.mlir).
func.func @main(%x: tensor<3x4xf32> {qopt.name = "x"}) -> tensor<3x4xf32> {
  %0 = qopt.observe %x {name = "in"} : tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}
