#!/usr/bin/python3
#===- gen_test_models.py - small ONNX models with numpy reference outputs -===#
#
# SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
#
#===----------------------------------------------------------------------===#
"""Writes small, valid ONNX models and their reference inputs/outputs.

Usage: /usr/bin/python3 test/models/gen_test_models.py OUT_DIR [--only NAME ...]

For every model NAME it writes OUT_DIR/NAME.onnx, NAME.inputs.npz (keys =
graph input names) and NAME.expected.npz (keys = graph output names), plus
OUT_DIR/external_data.weights for the external-data model. The
expected outputs are computed here with NumPy (no ONNX Runtime): float paths in
float64 and rounded to float32 once at the end; quantization steps exactly as
docs/numerics.md defines them (f32 division / multiply, round half to even,
saturate), so integer outputs are bit-exact and float outputs agree within
qopt-run's default tolerances (rtol 1e-3, atol 1e-5).

Models (opset 17, every weight an initializer, every model passes
onnx.checker):
  mlp            Gemm(transB=0) + Relu + Gemm(transB=1, alpha/beta) + Softmax
  cnn            Conv (asymmetric pads, strides 2) + Relu + MaxPool + Conv
                 (group=2, pads 1) + GlobalAveragePool + Flatten + Gemm
  bert_block     one BERT encoder layer: Q/K/V MatMul+Add, Reshape, Transpose,
                 MatMul, Div, Softmax, MatMul, Transpose, Reshape, MatMul, Add
                 residual, LayerNormalization, MatMul + GELU as
                 0.5*x*(1+Erf(x/sqrt 2)), MatMul, Add, LayerNormalization
  llama_block    one Llama decoder layer: Gather embedding, RMSNorm as
                 Pow/ReduceMean/Add/Sqrt/Div/Mul, rotary embedding with Slice
                 (cos/sin tables and rotate-half), Neg, Concat, causal mask
                 via Where, Softmax, SiLU as x*Sigmoid(x), residual Adds
  qdq_matmul     QuantizeLinear/DequantizeLinear (per-tensor uint8) on the
                 activation, DequantizeLinear (per-axis int8) on the weight,
                 MatMul, Add
  qlinear_mlp    two QLinearMatMul (uint8 x int8; per-tensor, then
                 per-column weight scales), integer outputs (bit-exact)
  dynamic_batch  input x [N, 16] with a symbolic batch dim 'N' (the inputs
                 use N = 3; fix it with qopt --input-shape=x:3x16)
  external_data  MatMul + Add + Relu + MatMul + Add whose four weights live in
                 the side file external_data.weights (data_location EXTERNAL,
                 relative location; tensors at offsets 0, 4096, 8192 and 9216,
                 the first without an 'offset' key and the last without a
                 'length' key, i.e. "to the end of the file"), plus one inline
                 initializer; meant to be memory-mapped by the importer

Every model is built from np.random.RandomState(0) (one fresh generator per
model, so --only gives the same bytes), so reruns are byte-identical.
"""
import argparse
import math
import os
import sys
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
F32 = np.float32


class GraphBuilder:
    """Collects nodes, initializers and value infos of one graph."""

    def __init__(self, name):
        self.name = name
        self.nodes, self.inits, self.inputs, self.outputs = [], [], [], []
        self.counter = 0

    def init(self, name, array):
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, name=None, out=None, **attrs):
        self.counter += 1
        name = name or f"{op.lower()}_{self.counter}"
        out = out or f"{name}_out"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    def input(self, name, elem, shape):
        self.inputs.append(helper.make_tensor_value_info(name, elem, shape))
        return name

    def output(self, name, elem, shape):
        self.outputs.append(helper.make_tensor_value_info(name, elem, shape))

    def model(self, check=True):
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs,
                                  initializer=self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="qopt-test-models")
        m.ir_version = 8
        if check:
            onnx.checker.check_model(m, full_check=True)
        return m


# --- NumPy references (float64 unless stated) ---------------------------------

def softmax(x, axis=-1):
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def layer_norm(x, gamma, beta, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def conv2d(x, w, b, strides, pads, group=1):
    """x [N,C,H,W], w [M,C/group,kh,kw], pads [top, left, bottom, right]."""
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (h + pads[0] + pads[2] - kh) // strides[0] + 1
    ow = (wd + pads[1] + pads[3] - kw) // strides[1] + 1
    y = np.zeros((n, m, oh, ow))
    mg = m // group
    for g in range(group):
        xs = xp[:, g * cg:(g + 1) * cg]
        ws = w[g * mg:(g + 1) * mg]
        for i in range(oh):
            for j in range(ow):
                patch = xs[:, :, i * strides[0]:i * strides[0] + kh,
                           j * strides[1]:j * strides[1] + kw]
                y[:, g * mg:(g + 1) * mg, i, j] = np.einsum("nckl,mckl->nm", patch, ws)
    return y + b.reshape(1, -1, 1, 1)


def maxpool2d(x, k, s):
    n, c, h, w = x.shape
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    y = np.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = x[:, :, i * s:i * s + k, j * s:j * s + k].max(axis=(2, 3))
    return y


def quantize(x, scale, zp, qmin, qmax):
    """docs/numerics.md: saturate(rint(f32(x) / f32(scale)) + zp)."""
    q = np.rint(x.astype(F32) / np.asarray(scale, F32)) + zp
    return np.clip(q, qmin, qmax)


def dequantize(q, scale, zp):
    """docs/numerics.md: f32(q - zp) * f32(scale), one f32 multiply."""
    return (q.astype(np.int64) - zp).astype(F32) * np.asarray(scale, F32)


def qlinear_matmul(a, a_s, a_zp, b, b_s, b_zp, y_s, y_zp, out_dtype):
    """int32 accumulate, f32 multiplier (a_s*b_s)/y_s, rint in f32, saturate."""
    acc = (a.astype(np.int64) - a_zp) @ (b.astype(np.int64) - b_zp)
    assert np.abs(acc).max() < 2 ** 31
    mult = (np.asarray(a_s, F32) * np.asarray(b_s, F32)) / np.asarray(y_s, F32)
    y = np.rint(acc.astype(np.int32).astype(F32) * mult) + F32(y_zp)
    info = np.iinfo(out_dtype)
    return np.clip(y, info.min, info.max).astype(out_dtype)


def write_npz(path, arrays):
    """Uncompressed .npz with fixed timestamps: byte-identical on reruns, and
    array names are never taken as np.savez's own keyword arguments."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            with zf.open(info, "w") as f:
                np.lib.format.write_array(f, np.ascontiguousarray(arr), allow_pickle=False)


def check_external_data(path, model):
    """onnx.load (which follows the external references) must give back the
    arrays the in-memory model describes."""
    loaded = {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
    base = os.path.dirname(path)
    for t in model.graph.initializer:
        if t.data_location != TensorProto.EXTERNAL:
            continue
        kv = {e.key: e.value for e in t.external_data}
        with open(os.path.join(base, kv["location"]), "rb") as f:
            f.seek(int(kv.get("offset", 0)))
            raw = f.read(int(kv["length"])) if "length" in kv else f.read()
        want = np.frombuffer(raw, "<f4").reshape(tuple(t.dims))
        assert np.array_equal(loaded[t.name], want), t.name


# --- models --------------------------------------------------------------------

def make_mlp(rng):
    g = GraphBuilder("mlp")
    x = g.input("x", TensorProto.FLOAT, [2, 16])
    w1 = (rng.standard_normal((16, 32)) * 0.3).astype(F32)
    b1 = (rng.standard_normal(32) * 0.1).astype(F32)
    w2 = (rng.standard_normal((8, 32)) * 0.3).astype(F32)
    b2 = (rng.standard_normal(8) * 0.1).astype(F32)
    h = g.node("Gemm", [x, g.init("fc1.weight", w1), g.init("fc1.bias", b1)], name="fc1")
    h = g.node("Relu", [h], name="relu")
    h = g.node("Gemm", [h, g.init("fc2.weight", w2), g.init("fc2.bias", b2)], name="fc2",
               transB=1, alpha=0.5, beta=2.0)
    g.node("Softmax", [h], name="softmax", out="probs", axis=-1)
    g.output("probs", TensorProto.FLOAT, [2, 8])
    xv = rng.standard_normal((2, 16)).astype(F32)
    hv = np.maximum(xv.astype(np.float64) @ w1 + b1, 0)
    yv = softmax(0.5 * (hv @ w2.T.astype(np.float64)) + 2.0 * b2)
    return g.model(), {"x": xv}, {"probs": yv.astype(F32)}


def make_cnn(rng):
    g = GraphBuilder("cnn")
    x = g.input("image", TensorProto.FLOAT, [2, 3, 16, 16])
    w1 = (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(F32)
    b1 = (rng.standard_normal(8) * 0.1).astype(F32)
    w2 = (rng.standard_normal((8, 4, 3, 3)) * 0.2).astype(F32)
    b2 = (rng.standard_normal(8) * 0.1).astype(F32)
    w3 = (rng.standard_normal((5, 8)) * 0.5).astype(F32)
    b3 = (rng.standard_normal(5) * 0.1).astype(F32)
    pads1 = [1, 0, 0, 1]  # top, left, bottom, right
    h = g.node("Conv", [x, g.init("conv1.weight", w1), g.init("conv1.bias", b1)],
               name="conv1", kernel_shape=[3, 3], pads=pads1, strides=[2, 2])
    h = g.node("Relu", [h], name="relu1")
    h = g.node("MaxPool", [h], name="pool1", kernel_shape=[2, 2], strides=[2, 2])
    h = g.node("Conv", [h, g.init("conv2.weight", w2), g.init("conv2.bias", b2)],
               name="conv2", kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=2)
    h = g.node("GlobalAveragePool", [h], name="gap")
    h = g.node("Flatten", [h], name="flatten", axis=1)
    g.node("Gemm", [h, g.init("fc.weight", w3), g.init("fc.bias", b3)], name="fc",
           out="logits", transB=1)
    g.output("logits", TensorProto.FLOAT, [2, 5])
    xv = rng.standard_normal((2, 3, 16, 16)).astype(F32)
    hv = conv2d(xv.astype(np.float64), w1.astype(np.float64), b1, [2, 2], pads1)
    hv = maxpool2d(np.maximum(hv, 0), 2, 2)
    hv = conv2d(hv, w2.astype(np.float64), b2, [1, 1], [1, 1, 1, 1], group=2)
    hv = hv.mean(axis=(2, 3))
    yv = hv @ w3.T.astype(np.float64) + b3
    return g.model(), {"image": xv}, {"logits": yv.astype(F32)}


def make_bert_block(rng):
    B, S, H, NH = 2, 4, 16, 2
    D, FF = H // NH, 32
    eps = 1e-12
    g = GraphBuilder("bert_block")
    x = g.input("hidden_states", TensorProto.FLOAT, [B, S, H])

    def w(name, shape, scale):
        return (rng.standard_normal(shape) * scale).astype(F32)

    P = {n: w(n, s, sc) for n, s, sc in [
        ("q.weight", (H, H), 0.3), ("q.bias", (H,), 0.1),
        ("k.weight", (H, H), 0.3), ("k.bias", (H,), 0.1),
        ("v.weight", (H, H), 0.3), ("v.bias", (H,), 0.1),
        ("o.weight", (H, H), 0.3), ("o.bias", (H,), 0.1),
        ("ln1.gamma", (H,), 0.2), ("ln1.beta", (H,), 0.1),
        ("ffn1.weight", (H, FF), 0.3), ("ffn1.bias", (FF,), 0.1),
        ("ffn2.weight", (FF, H), 0.2), ("ffn2.bias", (H,), 0.1),
        ("ln2.gamma", (H,), 0.2), ("ln2.beta", (H,), 0.1)]}
    P["ln1.gamma"] += 1
    P["ln2.gamma"] += 1
    for name, value in P.items():
        g.init(name, value)
    g.init("heads_shape", np.array([B, S, NH, D], np.int64))
    g.init("merged_shape", np.array([0, 0, -1], np.int64))
    g.init("sqrt_d", np.array(math.sqrt(D), F32))
    g.init("half", np.array(0.5, F32))
    g.init("one", np.array(1.0, F32))
    g.init("sqrt2", np.array(math.sqrt(2.0), F32))

    def linear(inp, prefix):
        mm = g.node("MatMul", [inp, f"{prefix}.weight"], name=f"{prefix}_matmul")
        return g.node("Add", [mm, f"{prefix}.bias"], name=f"{prefix}_add")

    def heads(inp, prefix, perm):
        r = g.node("Reshape", [inp, "heads_shape"], name=f"{prefix}_reshape")
        return g.node("Transpose", [r], name=f"{prefix}_transpose", perm=perm)

    q = heads(linear(x, "q"), "q", [0, 2, 1, 3])
    k = heads(linear(x, "k"), "k", [0, 2, 3, 1])
    v = heads(linear(x, "v"), "v", [0, 2, 1, 3])
    scores = g.node("MatMul", [q, k], name="scores")
    scores = g.node("Div", [scores, "sqrt_d"], name="scale")
    probs = g.node("Softmax", [scores], name="softmax", axis=-1)
    ctx = g.node("MatMul", [probs, v], name="context")
    ctx = g.node("Transpose", [ctx], name="context_transpose", perm=[0, 2, 1, 3])
    ctx = g.node("Reshape", [ctx, "merged_shape"], name="context_reshape")
    attn = linear(ctx, "o")
    res1 = g.node("Add", [attn, x], name="residual1")
    h1 = g.node("LayerNormalization", [res1, "ln1.gamma", "ln1.beta"], name="ln1",
                axis=-1, epsilon=eps)
    f = linear(h1, "ffn1")
    # GELU: 0.5 * f * (1 + erf(f / sqrt(2)))
    e = g.node("Erf", [g.node("Div", [f, "sqrt2"], name="gelu_div")], name="gelu_erf")
    e = g.node("Add", [e, "one"], name="gelu_add")
    e = g.node("Mul", [f, e], name="gelu_mul")
    e = g.node("Mul", [e, "half"], name="gelu_half")
    f2 = linear(e, "ffn2")
    res2 = g.node("Add", [f2, h1], name="residual2")
    g.node("LayerNormalization", [res2, "ln2.gamma", "ln2.beta"], name="ln2",
           out="output", axis=-1, epsilon=eps)
    g.output("output", TensorProto.FLOAT, [B, S, H])

    p = {n: v.astype(np.float64) for n, v in P.items()}
    xv = rng.standard_normal((B, S, H)).astype(F32)
    xd = xv.astype(np.float64)

    def lin(t, prefix):
        return t @ p[f"{prefix}.weight"] + p[f"{prefix}.bias"]

    def split(t):
        return t.reshape(B, S, NH, D).transpose(0, 2, 1, 3)

    qv, kv, vv = split(lin(xd, "q")), split(lin(xd, "k")), split(lin(xd, "v"))
    pr = softmax(qv @ kv.transpose(0, 1, 3, 2) / math.sqrt(D))
    cv = (pr @ vv).transpose(0, 2, 1, 3).reshape(B, S, H)
    h1v = layer_norm(lin(cv, "o") + xd, p["ln1.gamma"], p["ln1.beta"], eps)
    fv = lin(h1v, "ffn1")
    gv = 0.5 * fv * (1.0 + erf(fv / math.sqrt(2.0)))
    yv = layer_norm(lin(gv, "ffn2") + h1v, p["ln2.gamma"], p["ln2.beta"], eps)
    return g.model(), {"hidden_states": xv}, {"output": yv.astype(F32)}


def make_llama_block(rng):
    V, S, MAXPOS, H, FF = 32, 6, 8, 16, 24
    half = H // 2
    eps = 1e-6
    g = GraphBuilder("llama_block")
    ids = g.input("input_ids", TensorProto.INT64, [1, S])

    def w(shape, scale):
        return (rng.standard_normal(shape) * scale).astype(F32)

    P = {"embed": w((V, H), 1.0),
         "norm1.weight": (1 + w((H,), 0.1)).astype(F32),
         "q.weight": w((H, H), 0.3), "k.weight": w((H, H), 0.3),
         "v.weight": w((H, H), 0.3), "o.weight": w((H, H), 0.3),
         "norm2.weight": (1 + w((H,), 0.1)).astype(F32),
         "gate.weight": w((H, FF), 0.3), "up.weight": w((H, FF), 0.3),
         "down.weight": w((FF, H), 0.2)}
    inv_freq = 1.0 / (10000 ** (np.arange(0, half) / half))
    ang = np.outer(np.arange(MAXPOS), inv_freq)
    ang = np.concatenate([ang, ang], axis=-1)
    P["cos_cached"] = np.cos(ang).astype(F32)
    P["sin_cached"] = np.sin(ang).astype(F32)
    causal = np.tril(np.ones((S, S), bool))
    for name, value in P.items():
        g.init(name, value)
    g.init("causal_mask", causal)
    g.init("mask_fill", np.array(np.finfo(F32).min, F32))
    g.init("two", np.array(2.0, F32))
    g.init("eps", np.array(eps, F32))
    g.init("scale", np.array(math.sqrt(H), F32))
    g.init("pos_start", np.array([0], np.int64))
    g.init("pos_end", np.array([S], np.int64))
    g.init("axis0", np.array([0], np.int64))
    g.init("lo_start", np.array([0], np.int64))
    g.init("lo_end", np.array([half], np.int64))
    g.init("hi_start", np.array([half], np.int64))
    g.init("hi_end", np.array([H], np.int64))
    g.init("last_axis", np.array([-1], np.int64))

    def rmsnorm(inp, prefix):
        sq = g.node("Pow", [inp, "two"], name=f"{prefix}_pow")
        ms = g.node("ReduceMean", [sq], name=f"{prefix}_mean", axes=[-1], keepdims=1)
        ms = g.node("Add", [ms, "eps"], name=f"{prefix}_add_eps")
        rms = g.node("Sqrt", [ms], name=f"{prefix}_sqrt")
        n = g.node("Div", [inp, rms], name=f"{prefix}_div")
        return g.node("Mul", [n, f"{prefix}.weight"], name=f"{prefix}_mul")

    cos = g.node("Slice", ["cos_cached", "pos_start", "pos_end", "axis0"], name="cos_slice")
    sin = g.node("Slice", ["sin_cached", "pos_start", "pos_end", "axis0"], name="sin_slice")

    def rotary(inp, prefix):
        lo = g.node("Slice", [inp, "lo_start", "lo_end", "last_axis"], name=f"{prefix}_lo")
        hi = g.node("Slice", [inp, "hi_start", "hi_end", "last_axis"], name=f"{prefix}_hi")
        neg = g.node("Neg", [hi], name=f"{prefix}_neg")
        rot = g.node("Concat", [neg, lo], name=f"{prefix}_rotate_half", axis=-1)
        a = g.node("Mul", [inp, cos], name=f"{prefix}_mul_cos")
        b = g.node("Mul", [rot, sin], name=f"{prefix}_mul_sin")
        return g.node("Add", [a, b], name=f"{prefix}_rope")

    emb = g.node("Gather", ["embed", ids], name="embed_tokens", axis=0)
    n1 = rmsnorm(emb, "norm1")
    q = rotary(g.node("MatMul", [n1, "q.weight"], name="q_proj"), "q")
    k = rotary(g.node("MatMul", [n1, "k.weight"], name="k_proj"), "k")
    v = g.node("MatMul", [n1, "v.weight"], name="v_proj")
    kt = g.node("Transpose", [k], name="k_transpose", perm=[0, 2, 1])
    scores = g.node("MatMul", [q, kt], name="scores")
    scores = g.node("Div", [scores, "scale"], name="scores_scale")
    scores = g.node("Where", ["causal_mask", scores, "mask_fill"], name="causal_where")
    probs = g.node("Softmax", [scores], name="softmax", axis=-1)
    ctx = g.node("MatMul", [probs, v], name="context")
    attn = g.node("MatMul", [ctx, "o.weight"], name="o_proj")
    h = g.node("Add", [emb, attn], name="residual1")
    n2 = rmsnorm(h, "norm2")
    gate = g.node("MatMul", [n2, "gate.weight"], name="gate_proj")
    silu = g.node("Mul", [gate, g.node("Sigmoid", [gate], name="silu_sigmoid")],
                  name="silu_mul")
    up = g.node("MatMul", [n2, "up.weight"], name="up_proj")
    down = g.node("MatMul", [g.node("Mul", [silu, up], name="gate_mul_up"), "down.weight"],
                  name="down_proj")
    g.node("Add", [h, down], name="residual2", out="hidden")
    g.output("hidden", TensorProto.FLOAT, [1, S, H])

    p = {n: v.astype(np.float64) for n, v in P.items()}
    idv = rng.randint(0, V, size=(1, S)).astype(np.int64)
    e = p["embed"][idv]

    def rms(t, wt):
        return t / np.sqrt((t ** 2).mean(axis=-1, keepdims=True) + np.float64(F32(eps))) * wt

    def rope(t):
        c, s = p["cos_cached"][:S], p["sin_cached"][:S]
        rot = np.concatenate([-t[..., half:], t[..., :half]], axis=-1)
        return t * c + rot * s

    n1v = rms(e, p["norm1.weight"])
    qv, kv = rope(n1v @ p["q.weight"]), rope(n1v @ p["k.weight"])
    vv = n1v @ p["v.weight"]
    sc = qv @ kv.transpose(0, 2, 1) / np.float64(F32(math.sqrt(H)))
    sc = np.where(causal, sc, np.float64(np.finfo(F32).min))
    hv = e + (softmax(sc) @ vv) @ p["o.weight"]
    n2v = rms(hv, p["norm2.weight"])
    gv = n2v @ p["gate.weight"]
    yv = hv + ((gv * sigmoid(gv)) * (n2v @ p["up.weight"])) @ p["down.weight"]
    return g.model(), {"input_ids": idv}, {"hidden": yv.astype(F32)}


def make_qdq_matmul(rng):
    M, K, N = 4, 16, 8
    g = GraphBuilder("qdq_matmul")
    x = g.input("x", TensorProto.FLOAT, [M, K])
    x_scale, x_zp = F32(0.0375), np.uint8(128)
    w = rng.standard_normal((K, N)) * 0.5
    w_scale = (np.abs(w).max(axis=0) / 127).astype(F32)  # per output column
    w_zp = np.zeros(N, np.int8)
    w_q = quantize(w, w_scale, 0, -127, 127).astype(np.int8)
    bias = (rng.standard_normal(N) * 0.1).astype(F32)
    g.init("x_scale", np.array(x_scale, F32))
    g.init("x_zero_point", np.array(x_zp, np.uint8))
    g.init("w_quantized", w_q)
    g.init("w_scale", w_scale)
    g.init("w_zero_point", w_zp)
    g.init("bias", bias)
    xq = g.node("QuantizeLinear", [x, "x_scale", "x_zero_point"], name="x_quantize")
    xd = g.node("DequantizeLinear", [xq, "x_scale", "x_zero_point"], name="x_dequantize")
    wd = g.node("DequantizeLinear", ["w_quantized", "w_scale", "w_zero_point"],
                name="w_dequantize", axis=1)
    mm = g.node("MatMul", [xd, wd], name="matmul")
    g.node("Add", [mm, "bias"], name="bias_add", out="y")
    g.output("y", TensorProto.FLOAT, [M, N])
    xv = (rng.standard_normal((M, K)) * 2.5).astype(F32)  # some values saturate
    xdv = dequantize(quantize(xv, x_scale, int(x_zp), 0, 255), x_scale, int(x_zp))
    wdv = dequantize(w_q, w_scale, 0)
    yv = xdv.astype(np.float64) @ wdv.astype(np.float64) + bias
    return g.model(), {"x": xv}, {"y": yv.astype(F32)}


def make_qlinear_mlp(rng):
    M, K, H, N = 4, 16, 32, 8
    g = GraphBuilder("qlinear_mlp")
    x = g.input("x_quantized", TensorProto.UINT8, [M, K])
    a_s, a_zp = F32(0.02), np.uint8(120)
    w1 = rng.randint(-127, 128, size=(K, H)).astype(np.int8)
    w1_s, w1_zp = F32(0.004), np.int8(0)
    h_s, h_zp = F32(0.05), np.uint8(100)
    w2 = rng.randint(-127, 128, size=(H, N)).astype(np.int8)
    w2_s = (rng.uniform(0.002, 0.006, size=N)).astype(F32)  # per column
    w2_zp = np.zeros(N, np.int8)
    y_s, y_zp = F32(0.08), np.uint8(128)
    for name, value in [("x_scale", np.array(a_s, F32)), ("x_zero_point", np.array(a_zp)),
                        ("w1", w1), ("w1_scale", np.array(w1_s, F32)),
                        ("w1_zero_point", np.array(w1_zp)),
                        ("h_scale", np.array(h_s, F32)), ("h_zero_point", np.array(h_zp)),
                        ("w2", w2), ("w2_scale", w2_s), ("w2_zero_point", w2_zp),
                        ("y_scale", np.array(y_s, F32)), ("y_zero_point", np.array(y_zp))]:
        g.init(name, value)
    h = g.node("QLinearMatMul", [x, "x_scale", "x_zero_point", "w1", "w1_scale",
                                 "w1_zero_point", "h_scale", "h_zero_point"], name="fc1")
    g.node("QLinearMatMul", [h, "h_scale", "h_zero_point", "w2", "w2_scale",
                             "w2_zero_point", "y_scale", "y_zero_point"], name="fc2",
           out="y_quantized")
    g.output("y_quantized", TensorProto.UINT8, [M, N])
    xv = rng.randint(0, 256, size=(M, K)).astype(np.uint8)
    hv = qlinear_matmul(xv, a_s, int(a_zp), w1, w1_s, int(w1_zp), h_s, int(h_zp), np.uint8)
    yv = qlinear_matmul(hv, h_s, int(h_zp), w2, w2_s, w2_zp.astype(np.int64), y_s,
                        int(y_zp), np.uint8)
    # The test is only meaningful when the outputs are neither all saturated nor constant.
    assert 0 < np.count_nonzero((yv > 0) & (yv < 255)) and len(np.unique(yv)) > 4
    return g.model(), {"x_quantized": xv}, {"y_quantized": yv}


def make_dynamic_batch(rng):
    g = GraphBuilder("dynamic_batch")
    x = g.input("x", TensorProto.FLOAT, ["N", 16])
    w = (rng.standard_normal((16, 4)) * 0.3).astype(F32)
    b = (rng.standard_normal(4) * 0.1).astype(F32)
    h = g.node("MatMul", [x, g.init("weight", w)], name="matmul")
    h = g.node("Add", [h, g.init("bias", b)], name="bias_add")
    g.node("Relu", [h], name="relu", out="y")
    g.output("y", TensorProto.FLOAT, ["N", 4])
    xv = rng.standard_normal((3, 16)).astype(F32)
    yv = np.maximum(xv.astype(np.float64) @ w + b, 0)
    return g.model(), {"x": xv}, {"y": yv.astype(F32)}


EXTERNAL_FILE = "external_data.weights"


def make_external_data(rng):
    """Weights in a side file; returns the model and the side file's bytes."""
    g = GraphBuilder("external_data")
    x = g.input("x", TensorProto.FLOAT, [2, 16])
    w1 = (rng.standard_normal((16, 32)) * 0.3).astype(F32)
    b1 = (rng.standard_normal(32) * 0.1).astype(F32)
    w2 = (rng.standard_normal((32, 8)) * 0.3).astype(F32)
    b2 = (rng.standard_normal(8) * 0.1).astype(F32)
    out_scale = F32(1.5)
    # (name, array, offset, write the 'offset' key, write the 'length' key)
    layout = [("fc1.weight", w1, 0, False, True),
              ("fc1.bias", b1, 4096, True, True),
              ("fc2.weight", w2, 8192, True, True),
              ("fc2.bias", b2, 9216, True, False)]
    blob = bytearray()
    for name, arr, offset, with_offset, with_length in layout:
        assert len(blob) <= offset
        blob += b"\0" * (offset - len(blob))
        data = arr.astype("<f4").tobytes()
        blob += data
        t = TensorProto()
        t.name = name
        t.data_type = TensorProto.FLOAT
        t.dims.extend(arr.shape)
        t.data_location = TensorProto.EXTERNAL
        entries = [("location", EXTERNAL_FILE)]
        if with_offset:
            entries.append(("offset", str(offset)))
        if with_length:
            entries.append(("length", str(len(data))))
        for key, value in entries:
            e = t.external_data.add()
            e.key, e.value = key, value
        g.inits.append(t)
    g.init("out_scale", np.array(out_scale, F32))  # inline, not external
    h = g.node("MatMul", [x, "fc1.weight"], name="fc1")
    h = g.node("Add", [h, "fc1.bias"], name="fc1_bias")
    h = g.node("Relu", [h], name="relu")
    h = g.node("MatMul", [h, "fc2.weight"], name="fc2")
    h = g.node("Add", [h, "fc2.bias"], name="fc2_bias")
    g.node("Mul", [h, "out_scale"], name="scale", out="y")
    g.output("y", TensorProto.FLOAT, [2, 8])
    xv = rng.standard_normal((2, 16)).astype(F32)
    hv = np.maximum(xv.astype(np.float64) @ w1 + b1, 0)
    yv = (hv @ w2.astype(np.float64) + b2) * np.float64(out_scale)
    model = g.model(check=False)  # checked from the saved file (needs the side file)
    return model, {"x": xv}, {"y": yv.astype(F32)}, {EXTERNAL_FILE: bytes(blob)}


MODELS = {
    "mlp": make_mlp,
    "cnn": make_cnn,
    "bert_block": make_bert_block,
    "llama_block": make_llama_block,
    "qdq_matmul": make_qdq_matmul,
    "qlinear_mlp": make_qlinear_mlp,
    "dynamic_batch": make_dynamic_batch,
    "external_data": make_external_data,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--only", nargs="+", choices=sorted(MODELS), help="models to write")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    for name in args.only or MODELS:
        rng = np.random.RandomState(0)
        model, inputs, expected, *side = MODELS[name](rng)
        side_files = side[0] if side else {}
        for file_name, data in side_files.items():
            with open(os.path.join(args.out_dir, file_name), "wb") as f:
                f.write(data)
        path = os.path.join(args.out_dir, f"{name}.onnx")
        onnx.save(model, path)
        if side_files:
            # The path form resolves external data relative to the model.
            onnx.checker.check_model(path, full_check=True)
            check_external_data(path, model)
        write_npz(os.path.join(args.out_dir, f"{name}.inputs.npz"), inputs)
        write_npz(os.path.join(args.out_dir, f"{name}.expected.npz"), expected)
        extra = "".join(f" + {f}" for f in side_files)
        print(f"wrote {name}.onnx{extra} ({len(model.graph.node)} nodes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
