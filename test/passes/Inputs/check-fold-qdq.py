#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
"""Translation validation of qopt-fold-qdq's integer rewrite on
fold-qdq-mlp.mlir.

  check-fold-qdq.py make-input X.npz
      writes 4096 samples of x (uniform in [-2.2, 2.2], so the input quantizer
      also saturates).
  check-fold-qdq.py make-ops-inputs DIR
      writes DIR/<function>.npz inputs for functions of qopt-fold-qdq.mlir.
  check-fold-qdq.py accuracy EVAL.npz A.npz B.npz
      argmax accuracy of the 'logits' of A and B against EVAL's labels 'y'
      and how often their predictions agree; fails when B is more than one
      point less accurate than A.
  check-fold-qdq.py check MODEL.mlir X.npz QDQ.npz FOLDED.npz
      recomputes the model's integer arithmetic independently in NumPy from
      the constants and quant types of MODEL.mlir (the unfolded QDQ input):
      quantize in f32 with round half to even, int32 accumulation, int32 bias
      round_half_even(f64(bias) / f64(f32(s_x) * f32(s_w))), requantize
      saturate(rne(f32(acc) * (f32(s_acc) / f32(s_out))) + zp) in f32, relu
      as saturation at the zero point, and the last layer's dequantized
      accumulator f32(acc) * f32(s_acc) + bias. FOLDED.npz (qopt-run on the
      folded model) must equal it bit for bit; it is then compared with
      QDQ.npz (qopt-run on the unfolded model): quantized outputs must be
      within one quantization step, and the mismatch rates are printed.
"""
import re
import sys

import numpy as np

f32 = np.float32


def parse_types(text):
    types = {}
    for name, body in re.findall(r"^!(\w+) = !quant\.uniform<(.*)>$", text, re.M):
        m = re.match(r"(u|i)(\d+)(?:<(-?\d+):(-?\d+)>)?:f32(?::(\d+))?, (.*)$", body)
        signed = m.group(1) == "i"
        bits = int(m.group(2))
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        if m.group(3):
            lo, hi = int(m.group(3)), int(m.group(4))
        params = m.group(6)
        if params.startswith("{"):
            scales = [float(s) for s in params.strip("{}").split(",")]
            types[name] = dict(scale=np.array(scales, dtype=np.float64), zp=0, lo=lo, hi=hi,
                               axis=int(m.group(5)))
        else:
            s, _, zp = params.partition(":")
            types[name] = dict(scale=float(s), zp=int(zp or 0), lo=lo, hi=hi)
    return types


def parse_constants(text):
    consts = {}
    for name, lit, ty in re.findall(r"%(\w+) = qopt\.constant dense<(.*)> : tensor<[\dx]+(\w+)>", text):
        consts[name] = np.array(eval(lit), dtype=np.int64 if ty.startswith("i") else np.float32)
    return consts


def quantize(x, t):
    q = np.rint(f32(x) / f32(t["scale"])) + t["zp"]
    return np.clip(q, t["lo"], t["hi"]).astype(np.int64)


def linear(xq, xt, w, wt, bias, out_t, relu):
    """Integer layer: w is [K, N]; returns the requantized integers."""
    acc = ((xq - xt["zp"]) @ w).astype(np.int64)
    acc = ((acc + 2**31) % 2**32 - 2**31)  # int32 wrap (never hit here)
    s_acc = f32(xt["scale"]) * wt["scale"].astype(f32)
    bq = np.rint(bias.astype(np.float64) / s_acc.astype(np.float64)).astype(np.int64)
    acc = acc + bq
    if out_t is None:
        return acc, s_acc
    mult = s_acc / f32(out_t["scale"])
    y = np.rint(acc.astype(f32) * mult) + out_t["zp"]
    lo = max(out_t["lo"], out_t["zp"]) if relu else out_t["lo"]
    return np.clip(y, lo, out_t["hi"]).astype(np.int64), s_acc


def reference(text, x):
    t = parse_types(text)
    c = parse_constants(text)
    xq = quantize(x, t["x"])
    h1, _ = linear(xq, t["x"], c["w1"].T, t["w1"], c["b1"], t["h1"], relu=True)
    m = h1.reshape(-1, 3, 4).transpose(0, 2, 1).reshape(-1, 12)
    # fc2's bias is a trailing qopt.add; it folds into the int32 bias too.
    h2, _ = linear(m, t["h1"], c["w2"], t["w2"], c["b2"], t["h2"], relu=True)
    acc3 = ((h2 - t["h2"]["zp"]) @ c["w3"].T).astype(np.int64)
    s3 = f32(t["h2"]["scale"]) * t["w3"]["scale"].astype(f32)
    logits = acc3.astype(f32) * s3 + c["b3"]
    return {"h1": h1, "h2": h2, "logits": logits.astype(f32)}


def make_ops_inputs(d):
    rng = np.random.default_rng(5)
    u = lambda *s: rng.uniform(-3, 3, s).astype(f32)
    np.savez(f"{d}/data_movement.npz", input_0=rng.integers(0, 256, (2, 6)).astype(np.uint8),
             input_1=rng.integers(0, 256, (2, 6)).astype(np.uint8),
             input_2=np.array([1, -2], dtype=np.int64))
    np.savez(f"{d}/requant.npz", input_0=rng.integers(-20000, 20000, (4,)).astype(np.int32),
             input_1=rng.integers(-128, 128, (4,)).astype(np.int8))
    np.savez(f"{d}/gemm_relu.npz", input_0=u(64, 4))
    np.savez(f"{d}/matmul_bias_relu_s8.npz", input_0=u(2, 3, 4))
    np.savez(f"{d}/conv.npz", input_0=u(1, 2, 5, 5))
    np.savez(f"{d}/batch_matmul.npz", input_0=u(2, 3, 4), input_1=u(2, 4, 5))
    np.savez(f"{d}/last_layer.npz", input_0=rng.integers(0, 256, (64, 4)).astype(np.uint8))
    np.savez(f"{d}/per_token.npz", input_0=u(64, 4))


def accuracy(evalfile, afile, bfile):
    y = np.load(evalfile)["y"]
    a, b = np.load(afile)["logits"].argmax(1), np.load(bfile)["logits"].argmax(1)
    acc_a, acc_b = (a == y).mean() * 100, (b == y).mean() * 100
    print(f"accuracy: unfolded {acc_a:.2f}%, folded {acc_b:.2f}%, "
          f"same prediction on {(a == b).mean() * 100:.2f}% of {y.size} samples")
    ok = acc_b >= acc_a - 1.0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def main():
    if sys.argv[1] == "make-input":
        rng = np.random.default_rng(1)
        np.savez(sys.argv[2], x=rng.uniform(-2.2, 2.2, (4096, 16)).astype(f32))
        return 0
    if sys.argv[1] == "make-ops-inputs":
        make_ops_inputs(sys.argv[2])
        return 0
    if sys.argv[1] == "accuracy":
        return accuracy(*sys.argv[2:5])
    _, _, model, xfile, qdqfile, foldfile = sys.argv
    text = open(model).read()
    x = np.load(xfile)["x"]
    qdq, folded = np.load(qdqfile), np.load(foldfile)
    ref = reference(text, x)
    ok = True
    for name, want in ref.items():
        got = folded[name]
        if want.dtype == f32:
            same = np.array_equal(got.view(np.uint32), want.view(np.uint32))
        else:
            same = np.array_equal(got.astype(np.int64), want)
        print(f"{name}: folded {'==' if same else '!='} numpy integer reference")
        ok &= same
    for name in ("h1", "h2"):
        d = np.abs(folded[name].astype(np.int64) - qdq[name].astype(np.int64))
        print(f"{name}: vs QDQ max step diff {d.max()}, mismatch rate "
              f"{np.count_nonzero(d)}/{d.size} = {np.count_nonzero(d) / d.size:.4f}")
        ok &= bool(d.max() <= 1)
    # logits: rows whose h2 (the last layer's input) agrees must be within one
    # accumulator step; elsewhere the difference is bounded by what the
    # differing h2 steps contribute through fc3, plus one step.
    t = parse_types(text)
    c = parse_constants(text)
    diff = np.abs(folded["logits"].astype(np.float64) - qdq["logits"])
    step = (f32(t["h2"]["scale"]) * t["w3"]["scale"].astype(f32)).astype(np.float64)
    dh2 = np.abs(folded["h2"].astype(np.int64) - qdq["h2"].astype(np.int64))
    same = ~dh2.any(axis=1)
    bound = (dh2 @ np.abs(c["w3"].T)) * step + step
    print(f"logits: vs QDQ max abs diff {diff.max():.3g}, mismatch rate "
          f"{np.count_nonzero(diff)}/{diff.size} = {np.count_nonzero(diff) / diff.size:.4f}; "
          f"rows with equal h2: {same.sum()}/{same.size}, max diff there "
          f"{(diff[same] / step).max() if same.any() else 0:.3g} accumulator steps")
    ok &= bool((diff[same] <= step).all()) and bool((diff <= bound).all())
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
