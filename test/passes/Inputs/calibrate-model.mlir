// Two independent inputs, one probe each (used by qopt-calibrate-methods.test).
func.func @main(%x: tensor<?x4xf32> {qopt.name = "x"}, %c: tensor<?x3xf32> {qopt.name = "c"}) -> (tensor<?x4xf32>, tensor<?x3xf32>) {
  %0 = qopt.observe %x {name = "x"} : tensor<?x4xf32>
  %1 = qopt.observe %c {name = "c"} : tensor<?x3xf32>
  return %0, %1 : tensor<?x4xf32>, tensor<?x3xf32>
}
