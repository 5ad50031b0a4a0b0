#!/usr/bin/python3
# ===- make_variants.py - Variants of the generated test checkpoints -----===#
#
# SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
#
# ===---------------------------------------------------------------------===#
"""Derives checkpoints for the importer's lit tests from the models that
gen_safetensors.py writes (it never changes them).

  make_variants.py config SRC DST [KEY=JSON ...] [--delete KEY ...]
      Copies checkpoint directory SRC to DST and patches DST/config.json
      (JSON values: 5, "gelu", null, {"rope_type": "llama3"}, ...).

  make_variants.py tensors SRC DST [--drop NAME] [--int8 NAME]
                                   [--transpose NAME] [--prefix P]
                                   [--add NAME]
      Rewrites SRC/model.safetensors into DST (config.json copied): drops
      tensors, stores one as I8, swaps a 2-D tensor's dimensions, prefixes
      every name, or adds an unrelated F32 tensor.

  make_variants.py numerics MODELS OUT
      From the models under MODELS writes, under OUT, checkpoints with
      inputs.npz ("input_ids") and expected.npz (the outputs of a float64
      numpy forward pass):
        llama_bf16/        Llama weights stored as BF16 (norms as F16)
        llama_tied_bias/   multi-head (no GQA), attention and MLP biases,
                           tied embeddings (no lm_head.weight), no head_dim
        llama_batch2/      the Llama model with a [2, 8] input
        bert_prefixed/     BertForMaskedLM layout: "bert." names, a cls.*
                           head, no pooler
        bert_batch2/       the BERT model with a [2, 8] input
      The forward passes are checked against MODELS/*/reference.npz first.
"""

import argparse
import json
import math
import os
import shutil
import struct
import sys

import numpy as np

# ---------------------------------------------------------------------------
# safetensors I/O (F32, F16, BF16, I8, I64 are all the tests need)
# ---------------------------------------------------------------------------


def read_safetensors(path):
    """Returns [(name, dtype, shape, raw bytes)] in header order."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        out.append((name, info["dtype"], list(info["shape"]),
                    data[base + b:base + e]))
    return out


def write_safetensors(path, tensors):
    """tensors: [(name, dtype, shape, raw bytes)]."""
    header = {}
    offset = 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, _, _, raw in tensors:
            f.write(raw)


def f32_entry(name, arr):
    arr = np.ascontiguousarray(arr, dtype="<f4")
    return (name, "F32", list(arr.shape), arr.tobytes())


def bf16_round(arr):
    """float32 -> nearest bfloat16 (ties to even), returned as (float32
    values, raw little-endian bytes)."""
    u = np.ascontiguousarray(arr, dtype=np.float32).view(np.uint32)
    u = u.astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint32)
    values = (r << 16).astype(np.uint32).view(np.float32)
    return values, r.astype("<u2").tobytes()


def load_f32(path):
    """{name: float32 array} of an all-F32 checkpoint."""
    out = {}
    for name, dtype, shape, raw in read_safetensors(path):
        assert dtype == "F32", (name, dtype)
        out[name] = np.frombuffer(raw, dtype="<f4").reshape(shape)
    return out


def read_config(d):
    with open(os.path.join(d, "config.json"), encoding="utf-8") as f:
        return json.load(f)


def write_config(d, cfg):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)


# ---------------------------------------------------------------------------
# float64 reference forward passes
# ---------------------------------------------------------------------------


def _softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def llama_reference(cfg, w, ids):
    """LlamaForCausalLM logits; w maps names to arrays."""
    w = {k: np.asarray(v, dtype=np.float64) for k, v in w.items()}
    h_sz = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads") or nh
    hd = cfg.get("head_dim") or h_sz // nh
    eps = cfg["rms_norm_eps"]
    theta = cfg.get("rope_theta", 10000.0)
    attn_bias = cfg.get("attention_bias", False)
    mlp_bias = cfg.get("mlp_bias", False)
    b, s = ids.shape

    def norm(x, g):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g

    def lin(x, m, bias):
        y = x @ w[m + ".weight"].T
        return y + w[m + ".bias"] if bias else y

    def rope(x):
        inv = theta ** (-np.arange(0, hd, 2) / hd)
        ang = np.arange(s)[:, None] * inv[None]
        cos = np.cos(np.concatenate([ang, ang], -1))
        sin = np.sin(np.concatenate([ang, ang], -1))
        rot = np.concatenate([-x[..., hd // 2:], x[..., :hd // 2]], -1)
        return x * cos + rot * sin

    h = w["model.embed_tokens.weight"][ids]
    mask = np.where(np.arange(s)[None] > np.arange(s)[:, None], -np.inf, 0.0)
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        x = norm(h, w[p + "input_layernorm.weight"])
        q = lin(x, p + "self_attn.q_proj", attn_bias)
        k = lin(x, p + "self_attn.k_proj", attn_bias)
        v = lin(x, p + "self_attn.v_proj", attn_bias)
        q = rope(q.reshape(b, s, nh, hd).transpose(0, 2, 1, 3))
        k = rope(k.reshape(b, s, nkv, hd).transpose(0, 2, 1, 3))
        v = v.reshape(b, s, nkv, hd).transpose(0, 2, 1, 3)
        k = np.repeat(k, nh // nkv, axis=1)
        v = np.repeat(v, nh // nkv, axis=1)
        a = _softmax(q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) + mask) @ v
        a = a.transpose(0, 2, 1, 3).reshape(b, s, nh * hd)
        h = h + lin(a, p + "self_attn.o_proj", attn_bias)
        x = norm(h, w[p + "post_attention_layernorm.weight"])
        g = lin(x, p + "mlp.gate_proj", mlp_bias)
        u = lin(x, p + "mlp.up_proj", mlp_bias)
        h = h + lin(g / (1 + np.exp(-g)) * u, p + "mlp.down_proj", mlp_bias)
    h = norm(h, w["model.norm.weight"])
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return {"logits": (h @ head.T).astype(np.float32)}


_erf = np.vectorize(math.erf, otypes=[np.float64])


def bert_reference(cfg, w, ids, prefix=""):
    """BertModel outputs (pooler_output only when the pooler exists)."""
    w = {k[len(prefix):]: np.asarray(v, dtype=np.float64)
         for k, v in w.items() if k.startswith(prefix)}
    h_sz = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    hd = h_sz // nh
    eps = cfg["layer_norm_eps"]
    b, s = ids.shape

    def ln(x, m):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * w[m + ".weight"] + w[m + ".bias"]

    def lin(x, m):
        return x @ w[m + ".weight"].T + w[m + ".bias"]

    def heads(x):
        return x.reshape(b, s, nh, hd).transpose(0, 2, 1, 3)

    e = "embeddings."
    h = (w[e + "word_embeddings.weight"][ids]
         + w[e + "position_embeddings.weight"][:s][None]
         + w[e + "token_type_embeddings.weight"][0])
    h = ln(h, e + "LayerNorm")
    for i in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d." % i
        q = heads(lin(h, p + "attention.self.query"))
        k = heads(lin(h, p + "attention.self.key"))
        v = heads(lin(h, p + "attention.self.value"))
        a = _softmax(q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd)) @ v
        a = lin(a.transpose(0, 2, 1, 3).reshape(b, s, h_sz),
                p + "attention.output.dense")
        h = ln(a + h, p + "attention.output.LayerNorm")
        x = lin(h, p + "intermediate.dense")
        x = 0.5 * x * (1 + _erf(x / math.sqrt(2)))
        h = ln(lin(x, p + "output.dense") + h, p + "output.LayerNorm")
    out = {"last_hidden_state": h.astype(np.float32)}
    if "pooler.dense.weight" in w:
        out["pooler_output"] = np.tanh(lin(h[:, 0], "pooler.dense")).astype(
            np.float32)
    return out


def check_against(reference, ours, what):
    for key, want in ours.items():
        got = reference[key]
        if not np.allclose(got, want, rtol=1e-5, atol=1e-5):
            sys.exit("make_variants.py: my %s forward disagrees with the "
                     "generator's reference for %s" % (what, key))


# ---------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------


def copy_checkpoint(src, dst):
    os.makedirs(dst, exist_ok=True)
    for f in os.listdir(src):
        if f.endswith(".safetensors") or f.endswith(".json"):
            shutil.copyfile(os.path.join(src, f), os.path.join(dst, f))


def cmd_config(args):
    copy_checkpoint(args.src, args.dst)
    cfg = read_config(args.dst)
    for kv in args.set:
        key, _, value = kv.partition("=")
        cfg[key] = json.loads(value)
    for key in args.delete:
        cfg.pop(key, None)
    write_config(args.dst, cfg)


def cmd_tensors(args):
    tensors = read_safetensors(os.path.join(args.src, "model.safetensors"))
    out = []
    for name, dtype, shape, raw in tensors:
        if name in args.drop:
            continue
        if name in args.int8:
            n = int(np.prod(shape))
            dtype, raw = "I8", np.zeros(n, dtype=np.int8).tobytes()
        if name in args.transpose:
            shape = [shape[1], shape[0]]
        out.append((args.prefix + name, dtype, shape, raw))
    for name in args.add:
        out.append(f32_entry(name, np.arange(4, dtype=np.float32)))
    write_safetensors(os.path.join(args.dst, "model.safetensors"), out)
    shutil.copyfile(os.path.join(args.src, "config.json"),
                    os.path.join(args.dst, "config.json"))


def save_case(d, ids, expected):
    np.savez(os.path.join(d, "inputs.npz"), input_ids=ids)
    np.savez(os.path.join(d, "expected.npz"), **expected)


def cmd_numerics(args):
    ids1 = np.array([[1, 5, 9, 3, 7, 2, 8, 4]], dtype=np.int64)
    ids2 = np.array([[1, 5, 9, 3, 7, 2, 8, 4], [60, 0, 33, 12, 12, 63, 2, 41]],
                    dtype=np.int64)

    # Llama: first reproduce the generator's reference.
    src = os.path.join(args.models, "llama")
    cfg = read_config(src)
    w = load_f32(os.path.join(src, "model.safetensors"))
    ref = np.load(os.path.join(src, "reference.npz"))
    check_against(ref, llama_reference(cfg, w, ref["input_ids"]), "Llama")

    # llama_bf16: BF16 weights, F16 norms.
    d = os.path.join(args.out, "llama_bf16")
    tensors, rounded = [], {}
    for name, arr in w.items():
        if name.endswith("norm.weight"):
            v = arr.astype(np.float16)
            rounded[name] = v.astype(np.float32)
            tensors.append((name, "F16", list(arr.shape),
                            v.astype("<f2").tobytes()))
        else:
            v, raw = bf16_round(arr)
            rounded[name] = v.reshape(arr.shape)
            tensors.append((name, "BF16", list(arr.shape), raw))
    write_safetensors(os.path.join(d, "model.safetensors"), tensors)
    write_config(d, dict(cfg, torch_dtype="bfloat16"))
    save_case(d, ids1, llama_reference(cfg, rounded, ids1))

    # llama_batch2: same model, two sequences.
    d = os.path.join(args.out, "llama_batch2")
    copy_checkpoint(src, d)
    save_case(d, ids2, llama_reference(cfg, w, ids2))

    # llama_tied_bias: fresh weights, MHA, biases, tied embeddings.
    d = os.path.join(args.out, "llama_tied_bias")
    tcfg = dict(cfg, num_key_value_heads=4, attention_bias=True,
                mlp_bias=True, tie_word_embeddings=True)
    del tcfg["head_dim"]
    rng = np.random.default_rng(7)
    h, inter, vocab = tcfg["hidden_size"], tcfg["intermediate_size"], \
        tcfg["vocab_size"]
    tw = {"model.embed_tokens.weight": rng.standard_normal((vocab, h))}

    def linear(m, out_f, in_f):
        tw[m + ".weight"] = rng.standard_normal((out_f, in_f)) / math.sqrt(in_f)
        tw[m + ".bias"] = 0.1 * rng.standard_normal(out_f)

    for i in range(tcfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        tw[p + "input_layernorm.weight"] = 1 + 0.1 * rng.standard_normal(h)
        for m in ("q_proj", "k_proj", "v_proj", "o_proj"):
            linear(p + "self_attn." + m, h, h)
        tw[p + "post_attention_layernorm.weight"] = \
            1 + 0.1 * rng.standard_normal(h)
        linear(p + "mlp.gate_proj", inter, h)
        linear(p + "mlp.up_proj", inter, h)
        linear(p + "mlp.down_proj", h, inter)
    tw["model.norm.weight"] = 1 + 0.1 * rng.standard_normal(h)
    tw = {k: v.astype(np.float32) for k, v in tw.items()}
    write_safetensors(os.path.join(d, "model.safetensors"),
                      [f32_entry(k, v) for k, v in tw.items()])
    write_config(d, tcfg)
    save_case(d, ids1, llama_reference(tcfg, tw, ids1))

    # BERT: reproduce the generator's reference.
    src = os.path.join(args.models, "bert")
    bcfg = read_config(src)
    bw = load_f32(os.path.join(src, "model.safetensors"))
    ref = np.load(os.path.join(src, "reference.npz"))
    check_against(ref, bert_reference(bcfg, bw, ref["input_ids"]), "BERT")

    d = os.path.join(args.out, "bert_batch2")
    copy_checkpoint(src, d)
    save_case(d, ids2, bert_reference(bcfg, bw, ids2))

    # bert_prefixed: BertForMaskedLM names, no pooler, an MLM head.
    d = os.path.join(args.out, "bert_prefixed")
    pw = {"bert." + k: v for k, v in bw.items() if not k.startswith("pooler.")}
    pw["cls.predictions.bias"] = np.zeros(bcfg["vocab_size"], np.float32)
    write_safetensors(os.path.join(d, "model.safetensors"),
                      [f32_entry(k, v) for k, v in pw.items()])
    write_config(d, dict(bcfg, architectures=["BertForMaskedLM"]))
    save_case(d, ids1, bert_reference(bcfg, pw, ids1, prefix="bert."))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("config")
    c.add_argument("src")
    c.add_argument("dst")
    c.add_argument("set", nargs="*", metavar="KEY=JSON")
    c.add_argument("--delete", action="append", default=[])
    t = sub.add_parser("tensors")
    t.add_argument("src")
    t.add_argument("dst")
    for opt in ("drop", "int8", "transpose", "add"):
        t.add_argument("--" + opt, action="append", default=[])
    t.add_argument("--prefix", default="")
    n = sub.add_parser("numerics")
    n.add_argument("models")
    n.add_argument("out")
    args = ap.parse_args()
    {"config": cmd_config, "tensors": cmd_tensors,
     "numerics": cmd_numerics}[args.cmd](args)


if __name__ == "__main__":
    main()
