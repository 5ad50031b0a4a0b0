func.func @f(%x: tensor<4xf32>) -> tensor<4x!quant.uniform<i8:f32, 0.0>> {
  %0 = qopt.quantize %x : (tensor<4xf32>) -> tensor<4x!quant.uniform<i8:f32, 0.0>>
  return %0 : tensor<4x!quant.uniform<i8:f32, 0.0>>
}
