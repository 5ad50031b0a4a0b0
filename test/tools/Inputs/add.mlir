func.func @main(%a: tensor<2x3xf32> {qopt.name = "a"}, %b: tensor<3xf32> {qopt.name = "b"}) -> (tensor<2x3xf32> {qopt.name = "sum"}) {
  %0 = qopt.add %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}
