func.func @main(%x: tensor<2x?xf32>) -> tensor<2x?xf32> {
  %0 = qopt.relu %x : tensor<2x?xf32>
  return %0 : tensor<2x?xf32>
}
