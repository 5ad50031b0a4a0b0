#!/usr/bin/python3
# ===- gen_safetensors.py - Valid safetensors test models + references ---===#
#
# SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
#
# ===---------------------------------------------------------------------===#
"""Writes small, valid safetensors checkpoints for qopt's tests.

The safetensors format is written by hand (struct + json) so the files do not
depend on the `safetensors` Python package. Everything is deterministic
(np.random.default_rng(0) per model): rerunning gives byte-identical
.safetensors and .json files and identical arrays in the .npz files.

Output (under --out, default ./safetensors-models):

  single/model.safetensors      one file, every importable dtype, known values
                                (see single_file_tensors()), a scalar, an
                                empty tensor and __metadata__
  llama/                        tiny Llama (GQA) in Hugging Face layout:
                                config.json, model.safetensors, reference.npz
  llama_sharded/                the same weights split into two shards plus
                                model.safetensors.index.json and config.json
  bert/                         tiny BERT: config.json, model.safetensors,
                                reference.npz

reference.npz holds "input_ids" (int64 [1, 8]) and the outputs of a pure-numpy
forward pass computed in float64 and stored as float32: Llama "logits"
[1, 8, vocab] and "last_hidden_state" (after the final norm); BERT
"last_hidden_state" [1, 8, hidden] and "pooler_output" [1, hidden].

Usage: /usr/bin/python3 gen_safetensors.py [--out DIR]
"""

import argparse
import json
import math
import os
import struct

import numpy as np

INPUT_IDS = np.array([[1, 5, 9, 3, 7, 2, 8, 4]], dtype=np.int64)

DTYPE_NAMES = {
    np.dtype(np.float64): "F64",
    np.dtype(np.float32): "F32",
    np.dtype(np.float16): "F16",
    np.dtype(np.int8): "I8",
    np.dtype(np.uint8): "U8",
    np.dtype(np.int16): "I16",
    np.dtype(np.uint16): "U16",
    np.dtype(np.int32): "I32",
    np.dtype(np.uint32): "U32",
    np.dtype(np.int64): "I64",
    np.dtype(np.uint64): "U64",
    np.dtype(np.bool_): "BOOL",
}


class BF16:
    """A float32 array to be stored as bfloat16 (round to nearest even)."""

    def __init__(self, values):
        self.values = np.asarray(values, dtype=np.float32)

    def encode(self):
        u = self.values.view(np.uint32).astype(np.uint64)
        rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
        return rounded.astype("<u2").tobytes(), list(self.values.shape)


def encode_tensor(value):
    """Returns (dtype name, shape, little-endian bytes)."""
    if isinstance(value, BF16):
        data, shape = value.encode()
        return "BF16", shape, data
    arr = np.asarray(value)
    name = DTYPE_NAMES[arr.dtype]
    le = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    return name, list(arr.shape), np.ascontiguousarray(le).tobytes()


def write_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, value) in the order to write them."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    chunks = []
    offset = 0
    for name, value in tensors:
        dtype, shape, data = encode_tensor(value)
        header[name] = {
            "dtype": dtype,
            "shape": shape,
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    # Pad with spaces (valid JSON whitespace) so the data buffer starts at a
    # multiple of 8 bytes, as the reference writer does.
    text += b" " * ((8 - len(text) % 8) % 8)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


def write_json(path, obj):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


# ---------------------------------------------------------------------------
# single/model.safetensors: every importable dtype with values a C++ test can
# recompute without numpy.
# ---------------------------------------------------------------------------


def single_file_tensors():
    return [
        # f32[2,3] = 0.5 * i
        ("f32", (np.arange(6, dtype=np.float32) * 0.5).reshape(2, 3)),
        # f64[3] = i - 1.25
        ("f64", np.arange(3, dtype=np.float64) - 1.25),
        # f16[4] = i * 0.25 (exact in half)
        ("f16", np.arange(4, dtype=np.float16) * np.float16(0.25)),
        # bf16[2,2] = i + 0.5 (exact in bfloat16)
        ("bf16", BF16((np.arange(4, dtype=np.float32) + 0.5).reshape(2, 2))),
        ("i8", np.array([-128, -1, 0, 127], dtype=np.int8)),
        ("u8", np.array([0, 1, 255], dtype=np.uint8)),
        ("i16", np.array([-32768, 12345], dtype=np.int16)),
        ("u16", np.array([65535, 7], dtype=np.uint16)),
        ("i32", np.array([[-7, 0], [7, 2147483647]], dtype=np.int32)),
        ("u32", np.array([4294967295, 3], dtype=np.uint32)),
        ("i64", np.array([-(2**62), 5], dtype=np.int64)),
        ("u64", np.array([2**63, 9], dtype=np.uint64)),
        ("bool", np.array([True, False, True], dtype=np.bool_)),
        ("scalar", np.array(3.5, dtype=np.float32)),
        ("empty", np.zeros((0, 4), dtype=np.float32)),
    ]


# ---------------------------------------------------------------------------
# Tiny Llama
# ---------------------------------------------------------------------------

LLAMA_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "vocab_size": 64,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 8,
    "hidden_act": "silu",
    "max_position_embeddings": 128,
    "rms_norm_eps": 1e-05,
    "rope_theta": 10000.0,
    "rope_scaling": None,
    "attention_bias": False,
    "attention_dropout": 0.0,
    "mlp_bias": False,
    "tie_word_embeddings": False,
    "initializer_range": 0.02,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "torch_dtype": "float32",
}


def llama_weights(cfg):
    rng = np.random.default_rng(0)
    h = cfg["hidden_size"]
    inter = cfg["intermediate_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg["num_key_value_heads"]
    hd = cfg["head_dim"]
    vocab = cfg["vocab_size"]

    def linear(out_f, in_f):
        return (rng.standard_normal((out_f, in_f)) / math.sqrt(in_f)).astype(
            np.float32
        )

    def norm(n):
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    w = [("model.embed_tokens.weight",
          rng.standard_normal((vocab, h)).astype(np.float32))]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w += [
            (p + "input_layernorm.weight", norm(h)),
            (p + "self_attn.q_proj.weight", linear(nh * hd, h)),
            (p + "self_attn.k_proj.weight", linear(nkv * hd, h)),
            (p + "self_attn.v_proj.weight", linear(nkv * hd, h)),
            (p + "self_attn.o_proj.weight", linear(h, nh * hd)),
            (p + "post_attention_layernorm.weight", norm(h)),
            (p + "mlp.gate_proj.weight", linear(inter, h)),
            (p + "mlp.up_proj.weight", linear(inter, h)),
            (p + "mlp.down_proj.weight", linear(h, inter)),
        ]
    w += [("model.norm.weight", norm(h)), ("lm_head.weight", linear(vocab, h))]
    return w


def softmax(x, axis=-1):
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def rms_norm(x, weight, eps):
    var = np.mean(x * x, axis=-1, keepdims=True)
    return x / np.sqrt(var + eps) * weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def repeat_kv(x, n_rep):
    # [B, n_kv, S, D] -> [B, n_kv * n_rep, S, D]; kv head j serves query
    # heads j * n_rep ... j * n_rep + n_rep - 1 (HF repeat_kv).
    return np.repeat(x, n_rep, axis=1)


def llama_forward(cfg, weights, input_ids):
    w = {k: v.astype(np.float64) for k, v in weights}
    nh = cfg["num_attention_heads"]
    nkv = cfg["num_key_value_heads"]
    hd = cfg["head_dim"]
    eps = cfg["rms_norm_eps"]
    theta = cfg["rope_theta"]
    b, s = input_ids.shape

    h = w["model.embed_tokens.weight"][input_ids]  # [B, S, H]
    inv_freq = 1.0 / (theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
    freqs = np.outer(np.arange(s, dtype=np.float64), inv_freq)  # [S, D/2]
    emb = np.concatenate([freqs, freqs], axis=-1)  # [S, D]
    cos, sin = np.cos(emb), np.sin(emb)
    mask = np.triu(np.full((s, s), -np.inf), k=1)

    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        x = rms_norm(h, w[p + "input_layernorm.weight"], eps)
        q = (x @ w[p + "self_attn.q_proj.weight"].T).reshape(b, s, nh, hd)
        k = (x @ w[p + "self_attn.k_proj.weight"].T).reshape(b, s, nkv, hd)
        v = (x @ w[p + "self_attn.v_proj.weight"].T).reshape(b, s, nkv, hd)
        q, k, v = (t.transpose(0, 2, 1, 3) for t in (q, k, v))
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = repeat_kv(k, nh // nkv)
        v = repeat_kv(v, nh // nkv)
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) + mask
        attn = softmax(scores) @ v  # [B, nh, S, D]
        attn = attn.transpose(0, 2, 1, 3).reshape(b, s, nh * hd)
        h = h + attn @ w[p + "self_attn.o_proj.weight"].T
        x = rms_norm(h, w[p + "post_attention_layernorm.weight"], eps)
        gate = x @ w[p + "mlp.gate_proj.weight"].T
        up = x @ w[p + "mlp.up_proj.weight"].T
        silu = gate / (1.0 + np.exp(-gate))
        h = h + (silu * up) @ w[p + "mlp.down_proj.weight"].T

    h = rms_norm(h, w["model.norm.weight"], eps)
    logits = h @ w["lm_head.weight"].T
    return {
        "last_hidden_state": h.astype(np.float32),
        "logits": logits.astype(np.float32),
    }


# ---------------------------------------------------------------------------
# Tiny BERT
# ---------------------------------------------------------------------------

BERT_CONFIG = {
    "architectures": ["BertModel"],
    "model_type": "bert",
    "vocab_size": 64,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 16,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
    "position_embedding_type": "absolute",
    "torch_dtype": "float32",
}


def bert_weights(cfg):
    rng = np.random.default_rng(0)
    h = cfg["hidden_size"]
    inter = cfg["intermediate_size"]

    def mat(shape, scale):
        return (scale * rng.standard_normal(shape)).astype(np.float32)

    def linear(prefix, out_f, in_f):
        return [
            (prefix + ".weight", mat((out_f, in_f), 1.0 / math.sqrt(in_f))),
            (prefix + ".bias", mat(out_f, 0.1)),
        ]

    def layer_norm(prefix):
        return [
            (prefix + ".weight", (1.0 + mat(h, 0.1)).astype(np.float32)),
            (prefix + ".bias", mat(h, 0.1)),
        ]

    w = [
        ("embeddings.word_embeddings.weight", mat((cfg["vocab_size"], h), 1.0)),
        ("embeddings.position_embeddings.weight",
         mat((cfg["max_position_embeddings"], h), 0.5)),
        ("embeddings.token_type_embeddings.weight",
         mat((cfg["type_vocab_size"], h), 0.5)),
    ]
    w += layer_norm("embeddings.LayerNorm")
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        w += linear(p + "attention.self.query", h, h)
        w += linear(p + "attention.self.key", h, h)
        w += linear(p + "attention.self.value", h, h)
        w += linear(p + "attention.output.dense", h, h)
        w += layer_norm(p + "attention.output.LayerNorm")
        w += linear(p + "intermediate.dense", inter, h)
        w += linear(p + "output.dense", h, inter)
        w += layer_norm(p + "output.LayerNorm")
    w += linear("pooler.dense", h, h)
    return w


def layer_norm_fn(x, weight, bias, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu_erf(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def bert_forward(cfg, weights, input_ids):
    w = {k: v.astype(np.float64) for k, v in weights}
    nh = cfg["num_attention_heads"]
    hsz = cfg["hidden_size"]
    hd = hsz // nh
    eps = cfg["layer_norm_eps"]
    b, s = input_ids.shape
    token_type_ids = np.zeros_like(input_ids)

    e = (
        w["embeddings.word_embeddings.weight"][input_ids]
        + w["embeddings.position_embeddings.weight"][np.arange(s)][None]
        + w["embeddings.token_type_embeddings.weight"][token_type_ids]
    )
    h = layer_norm_fn(e, w["embeddings.LayerNorm.weight"],
                      w["embeddings.LayerNorm.bias"], eps)

    def lin(x, prefix):
        return x @ w[prefix + ".weight"].T + w[prefix + ".bias"]

    def heads(x):
        return x.reshape(b, s, nh, hd).transpose(0, 2, 1, 3)

    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q = heads(lin(h, p + "attention.self.query"))
        k = heads(lin(h, p + "attention.self.key"))
        v = heads(lin(h, p + "attention.self.value"))
        probs = softmax(q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd))
        ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(b, s, hsz)
        a = lin(ctx, p + "attention.output.dense")
        h = layer_norm_fn(a + h, w[p + "attention.output.LayerNorm.weight"],
                          w[p + "attention.output.LayerNorm.bias"], eps)
        inter = gelu_erf(lin(h, p + "intermediate.dense"))
        o = lin(inter, p + "output.dense")
        h = layer_norm_fn(o + h, w[p + "output.LayerNorm.weight"],
                          w[p + "output.LayerNorm.bias"], eps)

    pooled = np.tanh(lin(h[:, 0], "pooler.dense"))
    return {
        "last_hidden_state": h.astype(np.float32),
        "pooler_output": pooled.astype(np.float32),
    }


# ---------------------------------------------------------------------------


def write_model(out_dir, config, weights, reference):
    write_json(os.path.join(out_dir, "config.json"), config)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), weights,
                      {"format": "pt"})
    np.savez(os.path.join(out_dir, "reference.npz"), input_ids=INPUT_IDS,
             **reference)


def write_sharded(out_dir, config, weights, num_shards):
    names = [n for n, _ in weights]
    per = math.ceil(len(weights) / num_shards)
    weight_map = {}
    total = 0
    for i in range(num_shards):
        part = weights[i * per:(i + 1) * per]
        shard = f"model-{i + 1:05d}-of-{num_shards:05d}.safetensors"
        write_safetensors(os.path.join(out_dir, shard), part,
                          {"format": "pt"})
        for name, value in part:
            weight_map[name] = shard
            total += np.asarray(value).nbytes
    assert sorted(weight_map) == sorted(names)
    write_json(os.path.join(out_dir, "model.safetensors.index.json"), {
        "metadata": {"total_size": total},
        "weight_map": weight_map,
    })
    write_json(os.path.join(out_dir, "config.json"), config)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="safetensors-models",
                    help="output directory (created if missing)")
    args = ap.parse_args()
    out = args.out

    write_safetensors(os.path.join(out, "single", "model.safetensors"),
                      single_file_tensors(),
                      {"format": "pt", "source": "gen_safetensors.py"})

    lw = llama_weights(LLAMA_CONFIG)
    write_model(os.path.join(out, "llama"), LLAMA_CONFIG, lw,
                llama_forward(LLAMA_CONFIG, lw, INPUT_IDS))
    write_sharded(os.path.join(out, "llama_sharded"), LLAMA_CONFIG, lw, 2)

    bw = bert_weights(BERT_CONFIG)
    write_model(os.path.join(out, "bert"), BERT_CONFIG, bw,
                bert_forward(BERT_CONFIG, bw, INPUT_IDS))


if __name__ == "__main__":
    main()
