"""Checks qopt-quantize's weight quantization against an independent numpy
implementation of the documented arithmetic (docs/passes.md, numerics.md).

Builds an ONNX model with a MatMul ([K, N] weight, groups along dim 0) and a
Gemm with transB ([N, K] weight, groups along dim 1), K = 40 so that groups of
16 leave a ragged last group of 8. For each scheme the quantized model is
written by `qopt`, run by `qopt-run`, and its outputs compared with
x @ dequant(quant(W)) computed here. The dequantized weights must be exact, so
the only differences are f32 summation order (tolerance 2e-5 relative).

usage: check-quantize-numeric.py QOPT QOPT_RUN WORKDIR
"""
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

qopt, qopt_run, work = sys.argv[1:4]
os.makedirs(work, exist_ok=True)
rng = np.random.default_rng(7)
K, N = 40, 24
w1 = (rng.standard_normal((K, N)) * 0.5).astype(np.float32)
w1[:, 3] *= 20.0  # one channel with a wide range
w1[:, 5] = 0.0    # an all-zero channel (scale 1, all zero points)
w2 = (rng.standard_normal((N, K)) * 0.3 + 0.2).astype(np.float32)
x = rng.standard_normal((16, K)).astype(np.float32)

g = helper.make_graph(
    [helper.make_node("MatMul", ["x", "w1"], ["h"], name="mm"),
     helper.make_node("Gemm", ["x", "w2"], ["y2"], name="gemm", transB=1)],
    "g",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", K])],
    [helper.make_tensor_value_info("h", TensorProto.FLOAT, ["n", N]),
     helper.make_tensor_value_info("y2", TensorProto.FLOAT, ["n", N])],
    [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.save(model, os.path.join(work, "m.onnx"))
np.savez(os.path.join(work, "x.npz"), x=x)


def quant(w, in_axis, bits, group, sym):
    """Reference: per output channel or groups along in_axis."""
    wt = np.moveaxis(w, in_axis, 0)  # [K, N]
    k = wt.shape[0]
    g = group if 0 < group < k else k
    if sym:
        qmax = 2 ** (bits - 1) - 1
        qmin = -qmax
    else:
        qmin, qmax = 0, 2 ** bits - 1
    out = np.empty_like(wt)
    for start in range(0, k, g):
        blk = wt[start:start + g]
        lo = np.minimum(blk.min(0), 0).astype(np.float32)
        hi = np.maximum(blk.max(0), 0).astype(np.float32)
        if sym:
            m = np.maximum(-lo, hi)
            scale = np.where(m > 0, m / np.float32(qmax), 1).astype(np.float32)
            zp = np.zeros_like(scale)
        else:
            scale = np.where(hi > lo, (hi - lo) / np.float32(qmax - qmin),
                             1).astype(np.float32)
            zp = np.clip(np.round(np.float64(qmin) - lo / scale), qmin, qmax)
        q = np.clip(np.round(blk / scale) + zp, qmin, qmax)
        out[start:start + g] = ((q - zp).astype(np.float32) * scale).astype(np.float32)
    return np.moveaxis(out, 0, in_axis)


failures = 0
for bits, group, sym in [(8, 0, True), (4, 0, True), (4, 16, True),
                         (4, 16, False), (3, 16, True), (2, 8, False),
                         (8, 16, False), (4, 128, True)]:
    name = f"w{bits}-g{group}-{'sym' if sym else 'asym'}"
    qmodel = os.path.join(work, name + ".mlir")
    out = os.path.join(work, name + ".npz")
    for f in (qmodel, out):
        if os.path.exists(f):
            os.remove(f)
    opts = (f"mode=weight-only weight-bits={bits} group-size={group} "
            f"weight-symmetric={'true' if sym else 'false'}")
    subprocess.run([qopt, os.path.join(work, "m.onnx"),
                    f"--qopt-quantize={opts}", "-o", qmodel], check=True)
    subprocess.run([qopt_run, qmodel, "--inputs", os.path.join(work, "x.npz"),
                    "--outputs", out, "--quiet"], check=True,
                   stdout=subprocess.DEVNULL)
    got = np.load(out)
    want_h = x @ quant(w1, 0, bits, group, sym)
    want_y = x @ quant(w2, 1, bits, group, sym).T
    err = max(np.abs(got["h"] - want_h).max() / np.abs(want_h).max(),
              np.abs(got["y2"] - want_y).max() / np.abs(want_y).max())
    float_err = np.abs(got["h"] - x @ w1).max() / np.abs(x @ w1).max()
    ok = err <= 2e-5
    failures += not ok
    print(f"{name}: max rel diff to numpy {err:.2e}, "
          f"error vs float {float_err:.3f} {'ok' if ok else 'MISMATCH'}")
# Packed sub-byte storage: the 4-bit model's blobs are half the 8-bit size.
size4 = os.path.getsize(os.path.join(work, "w4-g0-sym.mlir"))
size8 = os.path.getsize(os.path.join(work, "w8-g0-sym.mlir"))
print(f"text size w4/w8: {size4 / size8:.2f}")
sys.exit(1 if failures else 0)
