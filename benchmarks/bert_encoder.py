#!/usr/bin/env python3
# ===- benchmarks/bert_encoder.py - BERT-base-shaped encoder as ONNX -------===#
# SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
#
# Writes a BERT-base-shaped transformer encoder (hidden 768, 12 heads of 64,
# FFN 3072, post-LayerNorm, GELU in its Erf form) with random weights, built
# from standard ONNX ops only (opset 17: MatMul, Add, Reshape, Transpose,
# Mul, Softmax, LayerNormalization, Erf, Div), plus the inputs to run it:
#
#   OUT/bert_encoder.onnx   input x: float [1, SEQ, 768], output y: same shape
#   OUT/calib.npz           x: float [CALIB, SEQ, 768] (dim 0 = samples; the
#                           layout qopt's calibration loader and
#                           benchmarks/ort_bench.py read)
#   OUT/eval.npz            x: float [1, SEQ, 768]
#
# Weights ~ normal(0, 0.02) (BERT's initializer range), biases ~ normal(0,
# 0.02), LayerNorm gamma 1 / beta 0; inputs ~ normal(0, 1) like the
# LayerNorm'd embeddings a real encoder sees. Fixed seed: the same files on
# every run.
# ===----------------------------------------------------------------------===#
import argparse
import math
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HIDDEN, HEADS, FFN = 768, 12, 3072
HEAD_DIM = HIDDEN // HEADS


def build(layers, seq, rng):
    nodes, inits = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def node(op, ins, name, **attrs):
        nodes.append(helper.make_node(op, ins, [name], name=name, **attrs))
        return name

    def linear(x, k, n, prefix):
        w = const(prefix + ".weight",
                  rng.normal(0, 0.02, (k, n)).astype(np.float32))
        b = const(prefix + ".bias", rng.normal(0, 0.02, n).astype(np.float32))
        return node("Add", [node("MatMul", [x, w], prefix + ".matmul"), b],
                    prefix + ".add")

    def layer_norm(x, prefix):
        g = const(prefix + ".gamma", np.ones(HIDDEN, np.float32))
        b = const(prefix + ".beta", np.zeros(HIDDEN, np.float32))
        return node("LayerNormalization", [x, g, b], prefix, axis=-1,
                    epsilon=1e-12)

    split_shape = const("shape.split_heads",
                        np.array([1, seq, HEADS, HEAD_DIM], np.int64))
    merge_shape = const("shape.merge_heads",
                        np.array([1, seq, HIDDEN], np.int64))
    inv_sqrt_d = const("const.inv_sqrt_head_dim",
                       np.array(1.0 / math.sqrt(HEAD_DIM), np.float32))
    sqrt2 = const("const.sqrt2", np.array(math.sqrt(2.0), np.float32))
    one = const("const.one", np.array(1.0, np.float32))
    half = const("const.half", np.array(0.5, np.float32))

    x = "x"
    for l in range(layers):
        p = f"layer{l}"

        def heads(t, perm, name):
            r = node("Reshape", [t, split_shape], name + ".reshape")
            return node("Transpose", [r], name + ".transpose", perm=perm)

        q = heads(linear(x, HIDDEN, HIDDEN, p + ".attn.q"), [0, 2, 1, 3],
                  p + ".attn.q_heads")
        k = heads(linear(x, HIDDEN, HIDDEN, p + ".attn.k"), [0, 2, 3, 1],
                  p + ".attn.k_heads")
        v = heads(linear(x, HIDDEN, HIDDEN, p + ".attn.v"), [0, 2, 1, 3],
                  p + ".attn.v_heads")
        scores = node("MatMul", [q, k], p + ".attn.scores")
        scaled = node("Mul", [scores, inv_sqrt_d], p + ".attn.scale")
        probs = node("Softmax", [scaled], p + ".attn.softmax", axis=-1)
        ctx = node("MatMul", [probs, v], p + ".attn.context")
        ctx = node("Transpose", [ctx], p + ".attn.context.transpose",
                   perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, merge_shape], p + ".attn.context.reshape")
        attn = linear(ctx, HIDDEN, HIDDEN, p + ".attn.out")
        x = layer_norm(node("Add", [attn, x], p + ".attn.residual"),
                       p + ".attn.ln")

        h = linear(x, HIDDEN, FFN, p + ".ffn.up")
        # GELU, Erf form: 0.5 * h * (1 + erf(h / sqrt(2)))
        e = node("Erf", [node("Div", [h, sqrt2], p + ".ffn.gelu.div")],
                 p + ".ffn.gelu.erf")
        e = node("Add", [e, one], p + ".ffn.gelu.add")
        g = node("Mul", [node("Mul", [h, half], p + ".ffn.gelu.half"), e],
                 p + ".ffn.gelu")
        d = linear(g, FFN, HIDDEN, p + ".ffn.down")
        x = layer_norm(node("Add", [d, x], p + ".ffn.residual"),
                       p + ".ffn.ln")

    nodes[-1].output[0] = "y"
    graph = helper.make_graph(
        nodes, f"bert_base_encoder_{layers}l", [
            helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                          [1, seq, HIDDEN])
        ], [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                          [1, seq, HIDDEN])], inits)
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="qopt-benchmarks")
    model.ir_version = 8  # readable by ONNX Runtime and Debian's onnx 1.12
    onnx.checker.check_model(model)
    return model


def main():
    ap = argparse.ArgumentParser(description="BERT-base-shaped encoder ONNX + inputs")
    ap.add_argument("--out", default="build/bench",
                    help="output directory (default build/bench)")
    ap.add_argument("--layers", type=int, default=2,
                    help="encoder layers (default 2; BERT-base has 12)")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--calib", type=int, default=16,
                    help="calibration samples (default 16)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    model = build(args.layers, args.seq, rng)
    onnx.save(model, os.path.join(args.out, "bert_encoder.onnx"))
    np.savez(os.path.join(args.out, "calib.npz"),
             x=rng.normal(0, 1, (args.calib, args.seq, HIDDEN))
             .astype(np.float32))
    np.savez(os.path.join(args.out, "eval.npz"),
             x=rng.normal(0, 1, (1, args.seq, HIDDEN)).astype(np.float32))
    print(f"bert_encoder: {args.layers} layers, seq {args.seq} -> "
          f"{args.out}/bert_encoder.onnx, calib.npz ({args.calib} samples), "
          "eval.npz")


if __name__ == "__main__":
    main()
