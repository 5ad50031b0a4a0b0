func.func @main(%x: tensor<1x4xf32>) -> tensor<1x2xf32> {
  %0 = qopt.slice %x {starts = array<i64: 0, 0>, ends = array<i64: 1, 2>, steps = array<i64: 1, 1>} : (tensor<1x4xf32>) -> tensor<1x2xf32> loc("cut")
  return %0 : tensor<1x2xf32>
}
