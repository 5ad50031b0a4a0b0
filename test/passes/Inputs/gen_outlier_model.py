#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
"""Writes a small ONNX model whose matmul activations have outlier channels,
with calibration and evaluation inputs, for the SmoothQuant tests:

    x[N, 64] -> LayerNormalization -> MatMul(64x96) + Add -> Relu
             -> MatMul(96x32) + Add -> y[N, 32]

A few LayerNorm gamma entries and a few columns of the first weight (and
bias) are 50-100x larger than the rest, so a few channels of both matmul
activations are 50-100x larger than the others, like the activation outliers
of large language models.

usage: gen_outlier_model.py OUTDIR   (writes model.onnx, calib.npz, eval.npz)
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

D_IN, D_HID, D_OUT = 64, 96, 32


def build(rng):
    gamma = rng.uniform(0.5, 1.5, D_IN).astype(np.float32)
    beta = rng.normal(0, 0.1, D_IN).astype(np.float32)
    for j, f in zip([3, 17, 40, 58], [60.0, 100.0, 75.0, 50.0]):
        gamma[j] *= f  # activation outlier channels of the first matmul
    w1 = rng.normal(0, 1 / np.sqrt(D_IN), (D_IN, D_HID)).astype(np.float32)
    b1 = rng.normal(0, 0.1, D_HID).astype(np.float32)
    for j, f in zip([5, 30, 77], [80.0, 50.0, 100.0]):
        w1[:, j] *= f  # outlier channels of the second matmul's input
        b1[j] = abs(b1[j]) * f
    w2 = rng.normal(0, 1 / np.sqrt(D_HID), (D_HID, D_OUT)).astype(np.float32)
    b2 = rng.normal(0, 0.1, D_OUT).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in
             [(gamma, "ln.gamma"), (beta, "ln.beta"), (w1, "fc1.weight"),
              (b1, "fc1.bias"), (w2, "fc2.weight"), (b2, "fc2.bias")]]
    nodes = [
        helper.make_node("LayerNormalization", ["x", "ln.gamma", "ln.beta"],
                         ["ln"], name="ln", axis=-1, epsilon=1e-5),
        helper.make_node("MatMul", ["ln", "fc1.weight"], ["fc1.mm"], name="fc1"),
        helper.make_node("Add", ["fc1.mm", "fc1.bias"], ["fc1.out"], name="fc1.add"),
        helper.make_node("Relu", ["fc1.out"], ["act"], name="act"),
        helper.make_node("MatMul", ["act", "fc2.weight"], ["fc2.mm"], name="fc2"),
        helper.make_node("Add", ["fc2.mm", "fc2.bias"], ["y"], name="fc2.add"),
    ]
    graph = helper.make_graph(
        nodes, "outlier_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", D_IN])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", D_OUT])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(1234)
    onnx.save(build(rng), os.path.join(out, "model.onnx"))
    np.savez(os.path.join(out, "calib.npz"),
             x=rng.normal(0, 1, (128, D_IN)).astype(np.float32))
    np.savez(os.path.join(out, "eval.npz"),
             x=rng.normal(0, 1, (256, D_IN)).astype(np.float32))


if __name__ == "__main__":
    main()
