//===- LlamaBuilder.cpp - LlamaForCausalLM forward graph in qopt ----------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Builds the prefill forward pass of a Hugging Face LlamaForCausalLM for a
// static [batch, seq_len] i64 `input_ids` and returns `logits`
// [batch, seq_len, vocab]. No KV cache, no padding mask: every sequence
// starts at position 0 and attends causally.
//
//   h = embed_tokens[input_ids]
//   per layer:  x = rms_norm(h);  q, k, v = x Wq, x Wk, x Wv  (+ biases)
//               heads, rotary embedding (rotate_half), GQA repeat of k / v,
//               softmax(q k^T / sqrt(head_dim) + causal_mask) v, o_proj
//               h += attn;  x = rms_norm(h);  h += down(silu(gate x) * up x)
//   logits = rms_norm(h) W_lm_head  (embed_tokens when tied)
//
//===----------------------------------------------------------------------===//

#include "SafeTensorsImporterImpl.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace qopt;
using namespace qopt::safetensors_import;

namespace {
struct LlamaConfig {
  int64_t vocab, hidden, intermediate, layers, heads, kvHeads, headDim;
  double eps, theta;
  bool attentionBias, mlpBias, tied;
};
} // namespace

static FailureOr<LlamaConfig> readConfig(ConfigReader &c,
                                         const SafeTensorsImportOptions &opt) {
  LlamaConfig cfg;
  FailureOr<int64_t> vocab = c.positiveInt("vocab_size");
  FailureOr<int64_t> hidden = c.positiveInt("hidden_size");
  FailureOr<int64_t> inter = c.positiveInt("intermediate_size");
  FailureOr<int64_t> layers = c.positiveInt("num_hidden_layers");
  FailureOr<int64_t> heads = c.positiveInt("num_attention_heads");
  if (failed(vocab) || failed(hidden) || failed(inter) || failed(layers) ||
      failed(heads))
    return failure();
  cfg.vocab = *vocab;
  cfg.hidden = *hidden;
  cfg.intermediate = *inter;
  cfg.layers = *layers;
  cfg.heads = *heads;

  FailureOr<int64_t> kvHeads = c.positiveInt("num_key_value_heads", *heads);
  if (failed(kvHeads))
    return failure();
  cfg.kvHeads = *kvHeads;
  if (cfg.heads % cfg.kvHeads != 0)
    return c.error() << c.path() << ": num_attention_heads (" << cfg.heads
                     << ") is not a multiple of num_key_value_heads ("
                     << cfg.kvHeads << ")";

  if (c.isAbsent("head_dim")) {
    if (cfg.hidden % cfg.heads != 0)
      return c.error() << c.path() << ": hidden_size (" << cfg.hidden
                       << ") is not a multiple of num_attention_heads ("
                       << cfg.heads << ") and no head_dim is given";
    cfg.headDim = cfg.hidden / cfg.heads;
  } else {
    FailureOr<int64_t> hd = c.positiveInt("head_dim", 0);
    if (failed(hd))
      return failure();
    cfg.headDim = *hd;
  }
  if (cfg.headDim % 2 != 0)
    return c.error() << c.path() << ": the head dimension (" << cfg.headDim
                     << ") must be even for rotary embeddings";

  FailureOr<double> eps = c.positiveNumber("rms_norm_eps", 1e-6);
  FailureOr<double> theta = c.positiveNumber("rope_theta", 10000.0);
  if (failed(eps) || failed(theta))
    return failure();
  cfg.eps = *eps;
  cfg.theta = *theta;

  if (const llvm::json::Value *rs = c.get("rope_scaling")) {
    std::string type = "?";
    if (const llvm::json::Object *o = rs->getAsObject()) {
      if (auto t = o->getString("rope_type"))
        type = t->str();
      else if (auto t2 = o->getString("type"))
        type = t2->str();
    }
    return c.error() << c.path() << ": rope_scaling of type '" << type
                     << "' is not supported; only null (plain RoPE) is";
  }

  FailureOr<std::string> act = c.string("hidden_act", "silu");
  if (failed(act))
    return failure();
  if (*act != "silu")
    return c.error() << c.path() << ": hidden_act '" << *act
                     << "' is not supported for Llama; only 'silu' is";

  FailureOr<bool> attnBias = c.boolean("attention_bias", false);
  FailureOr<bool> mlpBias = c.boolean("mlp_bias", false);
  FailureOr<bool> tied = c.boolean("tie_word_embeddings", false);
  if (failed(attnBias) || failed(mlpBias) || failed(tied))
    return failure();
  cfg.attentionBias = *attnBias;
  cfg.mlpBias = *mlpBias;
  cfg.tied = *tied;

  FailureOr<int64_t> maxPos =
      c.positiveInt("max_position_embeddings", opt.seqLen);
  if (failed(maxPos))
    return failure();
  if (opt.seqLen > *maxPos)
    return c.error() << "the sequence length " << opt.seqLen
                     << " exceeds max_position_embeddings (" << *maxPos
                     << ") in " << c.path();
  return cfg;
}

/// `x` [B, h, S, D] with rotary position embedding applied, HF convention:
/// x * cos + rotate_half(x) * sin, rotate_half(x) = concat(-x2, x1).
static Value applyRope(GraphBuilder &g, Value x, Value cos, Value sin,
                       Location l) {
  int64_t d = GraphBuilder::typeOf(x).getShape().back();
  Value x1 = g.sliceAxis(x, 3, 0, d / 2, l);
  Value x2 = g.sliceAxis(x, 3, d / 2, d, l);
  Value neg = NegOp::create(g.b, l, x2);
  Value rotated = ConcatOp::create(g.b, l, ValueRange{neg, x1}, 3);
  Value xCos = MulOp::create(g.b, l, x, cos);
  Value rotatedSin = MulOp::create(g.b, l, rotated, sin);
  return AddOp::create(g.b, l, xCos, rotatedSin);
}

/// [B, kv, S, D] -> [B, kv * rep, S, D] where head j * rep + r is kv head j
/// (HF repeat_kv): reshape to [B, kv, 1, S, D], concat rep copies on axis 2,
/// reshape back.
static Value repeatKV(GraphBuilder &g, Value x, int64_t rep, Location l) {
  if (rep == 1)
    return x;
  ArrayRef<int64_t> s = GraphBuilder::typeOf(x).getShape();
  Value e = g.reshape(x, {s[0], s[1], 1, s[2], s[3]}, l);
  SmallVector<Value> copies(rep, e);
  Value c = ConcatOp::create(g.b, l, copies, 2);
  return g.reshape(c, {s[0], s[1] * rep, s[2], s[3]}, l);
}

FailureOr<OwningOpRef<ModuleOp>>
qopt::safetensors_import::buildLlama(GraphBuilder &g, ConfigReader &config,
                                     const SafeTensorsImportOptions &opt) {
  FailureOr<LlamaConfig> parsed = readConfig(config, opt);
  if (failed(parsed))
    return failure();
  const LlamaConfig &cfg = *parsed;
  const int64_t B = opt.batch, S = opt.seqLen, H = cfg.hidden, D = cfg.headDim,
                NH = cfg.heads, KV = cfg.kvHeads, I = cfg.intermediate,
                V = cfg.vocab;

  // The largest activations must be addressable.
  const std::vector<std::vector<int64_t>> largest = {
      {B, NH, S, S}, {B, S, V}, {B, S, I}, {B, S, NH, D}, {V, H}};
  for (const std::vector<int64_t> &dims : largest)
    if (!checkedNumElements(dims))
      return g.fileError() << "the Llama graph for batch " << B
                           << " and sequence length " << S
                           << " has tensors too large to address";

  // LlamaForCausalLM keeps the decoder under "model."; a bare LlamaModel
  // checkpoint has no prefix.
  std::string prefix = "model.";
  if (!g.has("model.embed_tokens.weight") && g.has("embed_tokens.weight"))
    prefix = "";
  std::string embedName = prefix + "embed_tokens.weight";
  std::string headName = cfg.tied || !g.has("lm_head.weight")
                             ? embedName
                             : std::string("lm_head.weight");

  SmallVector<TensorSpec> specs;
  auto add = [&](std::string name, SmallVector<int64_t, 4> shape) {
    specs.push_back({std::move(name), std::move(shape)});
  };
  auto addLinear = [&](const std::string &module, int64_t out, int64_t in,
                       bool bias) {
    add(module + ".weight", {out, in});
    if (bias)
      add(module + ".bias", {out});
  };
  add(embedName, {V, H});
  for (int64_t i = 0; i < cfg.layers; ++i) {
    std::string p = prefix + "layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", {H});
    addLinear(p + "self_attn.q_proj", NH * D, H, cfg.attentionBias);
    addLinear(p + "self_attn.k_proj", KV * D, H, cfg.attentionBias);
    addLinear(p + "self_attn.v_proj", KV * D, H, cfg.attentionBias);
    addLinear(p + "self_attn.o_proj", H, NH * D, cfg.attentionBias);
    add(p + "post_attention_layernorm.weight", {H});
    addLinear(p + "mlp.gate_proj", I, H, cfg.mlpBias);
    addLinear(p + "mlp.up_proj", I, H, cfg.mlpBias);
    addLinear(p + "mlp.down_proj", H, I, cfg.mlpBias);
  }
  add(prefix + "norm.weight", {H});
  if (headName != embedName)
    add(headName, {V, H});
  if (failed(g.require(specs, "LlamaForCausalLM")))
    return failure();

  OwningOpRef<ModuleOp> module = g.createModule("llama");
  auto idsType = RankedTensorType::get({B, S}, g.b.getI64Type());
  func::FuncOp func = g.createMain(*module, {{"input_ids", idsType}});
  Value ids = func.getArgument(0);
  OpBuilder &b = g.b;

  // Embedding lookup.
  Value h = GatherOp::create(b, g.loc(prefix + "embed_tokens"),
                             g.weight(embedName), ids, 0);

  // Rotary tables for positions 0 .. S-1, computed in double and stored as
  // f32: inv_freq[i] = theta^(-2i/D), emb = [freqs, freqs].
  Location ropeLoc = g.loc(prefix + "rotary_emb");
  auto ropeTable = [&](double (*fn)(double)) {
    return [&, fn](float *out) {
      for (int64_t s = 0; s < S; ++s)
        for (int64_t i = 0; i < D / 2; ++i) {
          double invFreq = 1.0 / std::pow(cfg.theta, double(2 * i) / double(D));
          float v = static_cast<float>(fn(double(s) * invFreq));
          out[s * D + i] = out[s * D + i + D / 2] = v;
        }
    };
  };
  Value cos = g.tableF32({S, D}, "rope_cos", ropeLoc,
                         ropeTable([](double a) { return std::cos(a); }));
  Value sin = g.tableF32({S, D}, "rope_sin", ropeLoc,
                         ropeTable([](double a) { return std::sin(a); }));

  // Additive causal mask: 0 on and below the diagonal, the lowest f32 above
  // it (as Hugging Face does; -inf would poison calibration statistics).
  Value mask =
      g.tableF32({S, S}, "causal_mask", g.loc("causal_mask"), [&](float *out) {
        for (int64_t r = 0; r < S; ++r)
          for (int64_t c = 0; c < S; ++c)
            out[r * S + c] =
                c > r ? std::numeric_limits<float>::lowest() : 0.0f;
      });
  Value scale = g.scalarF32(static_cast<float>(1.0 / std::sqrt(double(D))),
                            g.loc("attention_scale"));

  for (int64_t i = 0; i < cfg.layers; ++i) {
    std::string layer = prefix + "layers." + std::to_string(i);
    std::string p = layer + ".";
    Location layerLoc = g.loc(layer);
    Location attnLoc = g.loc(p + "self_attn");

    // Self-attention.
    Value x = RMSNormOp::create(b, g.loc(p + "input_layernorm"), h,
                                g.weight(p + "input_layernorm.weight"), -1,
                                APFloat(static_cast<float>(cfg.eps)));
    Value q = g.linear(x, p + "self_attn.q_proj", cfg.attentionBias);
    Value k = g.linear(x, p + "self_attn.k_proj", cfg.attentionBias);
    Value v = g.linear(x, p + "self_attn.v_proj", cfg.attentionBias);
    q = g.transpose(g.reshape(q, {B, S, NH, D}, attnLoc), {0, 2, 1, 3},
                    attnLoc);
    k = g.transpose(g.reshape(k, {B, S, KV, D}, attnLoc), {0, 2, 1, 3},
                    attnLoc);
    v = g.transpose(g.reshape(v, {B, S, KV, D}, attnLoc), {0, 2, 1, 3},
                    attnLoc);
    q = applyRope(g, q, cos, sin, attnLoc);
    k = applyRope(g, k, cos, sin, attnLoc);
    k = repeatKV(g, k, NH / KV, attnLoc);
    v = repeatKV(g, v, NH / KV, attnLoc);
    Value kt = g.transpose(k, {0, 1, 3, 2}, attnLoc);
    Value scores = BatchMatMulOp::create(b, attnLoc, q, kt);
    scores = MulOp::create(b, attnLoc, scores, scale);
    scores = AddOp::create(b, attnLoc, scores, mask);
    Value probs = SoftmaxOp::create(b, attnLoc, scores, -1);
    Value ctx = BatchMatMulOp::create(b, attnLoc, probs, v);
    ctx = g.reshape(g.transpose(ctx, {0, 2, 1, 3}, attnLoc), {B, S, NH * D},
                    attnLoc);
    Value attn = g.linear(ctx, p + "self_attn.o_proj", cfg.attentionBias);
    h = AddOp::create(b, layerLoc, h, attn);

    // SwiGLU MLP.
    x = RMSNormOp::create(b, g.loc(p + "post_attention_layernorm"), h,
                          g.weight(p + "post_attention_layernorm.weight"), -1,
                          APFloat(static_cast<float>(cfg.eps)));
    Value gate = g.linear(x, p + "mlp.gate_proj", cfg.mlpBias);
    Value up = g.linear(x, p + "mlp.up_proj", cfg.mlpBias);
    Value act = SiluOp::create(b, g.loc(p + "mlp.act_fn"), gate);
    Value prod = MulOp::create(b, g.loc(p + "mlp"), act, up);
    Value down = g.linear(prod, p + "mlp.down_proj", cfg.mlpBias);
    h = AddOp::create(b, layerLoc, h, down);
  }

  h = RMSNormOp::create(b, g.loc(prefix + "norm"), h,
                        g.weight(prefix + "norm.weight"), -1,
                        APFloat(static_cast<float>(cfg.eps)));
  Value logits =
      MatMulOp::create(b, g.loc("lm_head"), h, g.linearWeight(headName));
  g.finishMain(func, {{"logits", logits}});
  if (g.hadError)
    return failure();
  return module;
}
