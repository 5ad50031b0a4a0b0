#!/usr/bin/python3
#===- train_digits.py - train and export qopt's bundled example model -----===#
#
# SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
#
#===----------------------------------------------------------------------===#
"""Trains a small MLP on scikit-learn's 8x8 digits and exports it to ONNX.

Usage: /usr/bin/python3 examples/digits/train_digits.py [--out DIR] [--epochs N] [--seed S]

Data: sklearn.datasets.load_digits() (1797 images of 8x8 pixels with values
0..16; shipped with scikit-learn, nothing is downloaded). Pixels are scaled to
[0, 1] (pixel / 16). Fixed split: sklearn's train_test_split(test_size=360,
random_state=0) gives 1437 training and 360 held-out test samples.

Model: 64 -> 64 -> 32 -> 10, ReLU between the layers, trained with pure NumPy
(float64 arithmetic for reproducibility across BLAS builds, softmax
cross-entropy, Adam, mini-batches of 64, fixed seed).

Writes to --out (default: the folder of this script):
  digits_mlp.onnx       opset 17; input "x" f32 [batch, 64] (dynamic batch,
                        dim_param "batch"), output "logits" f32 [batch, 10];
                        nodes fc1, relu1, fc2, relu2, fc3 (Gemm with
                        transB=1, weights [out, in] as initializers
                        fcK.weight/fcK.bias)
  calib.npz             x: 200 training samples, f32 [200, 64] (calibration)
  eval.npz              x: the 360 test samples f32 [360, 64], y: i64 labels
  expected_logits.npz   logits: the model's outputs on eval x, f32 [360, 10]
                        (computed in float64 from the exported f32 weights and
                        inputs, then rounded to f32)
and prints the train and test accuracy.
"""
import argparse
import os
import sys
import zipfile

# Single-threaded BLAS: the same summation order on every run.
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

SIZES = [64, 64, 32, 10]
NUM_TEST = 360
NUM_CALIB = 200
BATCH = 64


def write_npz(path, arrays):
    """Writes an uncompressed .npz with fixed timestamps (byte-reproducible)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            with zf.open(info, "w") as f:
                np.lib.format.write_array(f, np.ascontiguousarray(arr), allow_pickle=False)


def init_params(rng):
    params = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        w = rng.standard_normal((fan_out, fan_in)) * np.sqrt(2.0 / fan_in)  # He init
        params.append([w, np.zeros(fan_out)])
    return params


def forward(params, x):
    """Returns the logits and the activations of every layer (inputs first)."""
    acts = [x]
    h = x
    for i, (w, b) in enumerate(params):
        h = h @ w.T + b
        if i + 1 < len(params):
            h = np.maximum(h, 0.0)
        acts.append(h)
    return h, acts


def train(params, x, y, epochs, rng, lr=3e-3, beta1=0.9, beta2=0.999, eps=1e-8,
          weight_decay=1e-4):
    m = [[np.zeros_like(p) for p in layer] for layer in params]
    v = [[np.zeros_like(p) for p in layer] for layer in params]
    step = 0
    n = x.shape[0]
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, BATCH):
            idx = order[start:start + BATCH]
            xb, yb = x[idx], y[idx]
            logits, acts = forward(params, xb)
            # Softmax cross-entropy gradient.
            z = logits - logits.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(yb)), yb] -= 1.0
            grad = p / len(yb)
            step += 1
            for i in reversed(range(len(params))):
                w, b = params[i]
                gw = grad.T @ acts[i] + weight_decay * w
                gb = grad.sum(axis=0)
                if i > 0:
                    grad = (grad @ w) * (acts[i] > 0)
                for j, g in enumerate((gw, gb)):
                    m[i][j] = beta1 * m[i][j] + (1 - beta1) * g
                    v[i][j] = beta2 * v[i][j] + (1 - beta2) * g * g
                    mhat = m[i][j] / (1 - beta1 ** step)
                    vhat = v[i][j] / (1 - beta2 ** step)
                    params[i][j] = params[i][j] - lr * mhat / (np.sqrt(vhat) + eps)
    return params


def export_onnx(params, path):
    names = ["fc1", "fc2", "fc3"]
    inits, nodes = [], []
    prev = "x"
    for i, ((w, b), name) in enumerate(zip(params, names)):
        inits.append(numpy_helper.from_array(w.astype(np.float32), f"{name}.weight"))
        inits.append(numpy_helper.from_array(b.astype(np.float32), f"{name}.bias"))
        out = "logits" if i + 1 == len(params) else f"{name}_out"
        nodes.append(helper.make_node("Gemm", [prev, f"{name}.weight", f"{name}.bias"], [out],
                                      name=name, transB=1))
        prev = out
        if i + 1 < len(params):
            relu = f"relu{i + 1}"
            nodes.append(helper.make_node("Relu", [prev], [f"{relu}_out"], name=relu))
            prev = f"{relu}_out"
    graph = helper.make_graph(
        nodes, "digits_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", SIZES[0]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", SIZES[-1]])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="qopt-examples-train_digits")
    model.ir_version = 8
    model.doc_string = ("64-64-32-10 ReLU MLP trained on sklearn's 8x8 digits "
                        "(pixels / 16); see train_digits.py")
    onnx.checker.check_model(model)
    onnx.save(model, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)),
                    help="output folder (default: this script's folder)")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    digits = load_digits()
    x_all = digits.data.astype(np.float64) / 16.0
    y_all = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x_all, y_all, test_size=NUM_TEST,
                                                        random_state=0)

    rng = np.random.RandomState(args.seed)
    params = init_params(rng)
    params = train(params, x_train, y_train, args.epochs, rng)

    # Everything below uses the exported float32 weights and inputs.
    params32 = [[p.astype(np.float32) for p in layer] for layer in params]
    x_train32 = x_train.astype(np.float32)
    x_test32 = x_test.astype(np.float32)

    def logits_of(x32):
        as64 = [[p.astype(np.float64) for p in layer] for layer in params32]
        return forward(as64, x32.astype(np.float64))[0].astype(np.float32)

    train_acc = float((logits_of(x_train32).argmax(axis=1) == y_train).mean())
    test_logits = logits_of(x_test32)
    test_acc = float((test_logits.argmax(axis=1) == y_test).mean())

    os.makedirs(args.out, exist_ok=True)
    export_onnx(params32, os.path.join(args.out, "digits_mlp.onnx"))
    calib_idx = np.random.RandomState(args.seed + 1).choice(len(x_train32), NUM_CALIB,
                                                            replace=False)
    write_npz(os.path.join(args.out, "calib.npz"), {"x": x_train32[np.sort(calib_idx)]})
    write_npz(os.path.join(args.out, "eval.npz"), {"x": x_test32, "y": y_test})
    write_npz(os.path.join(args.out, "expected_logits.npz"), {"logits": test_logits})

    print(f"train accuracy: {train_acc:.4f} ({len(y_train)} samples)")
    print(f"test accuracy: {test_acc:.4f} ({len(y_test)} samples)")
    print(f"wrote digits_mlp.onnx, calib.npz, eval.npz, expected_logits.npz to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
