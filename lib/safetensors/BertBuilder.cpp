//===- BertBuilder.cpp - BertModel forward graph in qopt ------------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Builds the forward pass of a Hugging Face BertModel (the encoder) for a
// static [batch, seq_len] i64 `input_ids`; token_type_ids are all 0 and
// there is no attention mask (every token attends to every token).
//
//   h = LayerNorm(word[input_ids] + position[0:S] + token_type[0])
//   per layer:  a = softmax(q k^T / sqrt(head_dim)) v, dense
//               h = LayerNorm(h + a)
//               h = LayerNorm(h + dense(act(dense(h))))
//   results:    last_hidden_state = h
//               pooler_output = tanh(dense(h[:, 0]))   (when pooler weights
//                                                        exist)
//
// Weights may carry the "bert." prefix of BertFor* checkpoints; task heads
// (cls.*, classifier.*) are ignored.
//
//===----------------------------------------------------------------------===//

#include "SafeTensorsImporterImpl.h"

#include <cmath>

using namespace mlir;
using namespace qopt;
using namespace qopt::safetensors_import;

namespace {
struct BertConfig {
  int64_t vocab, hidden, intermediate, layers, heads, maxPositions, typeVocab;
  double eps;
  /// Activation of the intermediate dense: "gelu" (erf), "gelu_tanh",
  /// "relu" or "silu".
  std::string act;
};
} // namespace

static FailureOr<BertConfig> readConfig(ConfigReader &c,
                                        const SafeTensorsImportOptions &opt) {
  BertConfig cfg;
  FailureOr<int64_t> vocab = c.positiveInt("vocab_size");
  FailureOr<int64_t> hidden = c.positiveInt("hidden_size");
  FailureOr<int64_t> inter = c.positiveInt("intermediate_size");
  FailureOr<int64_t> layers = c.positiveInt("num_hidden_layers");
  FailureOr<int64_t> heads = c.positiveInt("num_attention_heads");
  FailureOr<int64_t> maxPos = c.positiveInt("max_position_embeddings");
  if (failed(vocab) || failed(hidden) || failed(inter) || failed(layers) ||
      failed(heads) || failed(maxPos))
    return failure();
  FailureOr<int64_t> typeVocab = c.positiveInt("type_vocab_size", 2);
  FailureOr<double> eps = c.positiveNumber("layer_norm_eps", 1e-12);
  if (failed(typeVocab) || failed(eps))
    return failure();
  cfg.vocab = *vocab;
  cfg.hidden = *hidden;
  cfg.intermediate = *inter;
  cfg.layers = *layers;
  cfg.heads = *heads;
  cfg.maxPositions = *maxPos;
  cfg.typeVocab = *typeVocab;
  cfg.eps = *eps;

  if (cfg.hidden % cfg.heads != 0)
    return c.error() << c.path() << ": hidden_size (" << cfg.hidden
                     << ") is not a multiple of num_attention_heads ("
                     << cfg.heads << ")";
  if (opt.seqLen > cfg.maxPositions)
    return c.error() << "the sequence length " << opt.seqLen
                     << " exceeds max_position_embeddings (" << cfg.maxPositions
                     << ") in " << c.path();

  FailureOr<std::string> posType =
      c.string("position_embedding_type", "absolute");
  if (failed(posType))
    return failure();
  if (*posType != "absolute")
    return c.error() << c.path() << ": position_embedding_type '" << *posType
                     << "' is not supported; only 'absolute' is";

  FailureOr<std::string> act = c.string("hidden_act", "gelu");
  if (failed(act))
    return failure();
  if (*act == "gelu")
    cfg.act = "gelu";
  else if (*act == "gelu_new" || *act == "gelu_pytorch_tanh")
    cfg.act = "gelu_tanh";
  else if (*act == "relu")
    cfg.act = "relu";
  else if (*act == "silu" || *act == "swish")
    cfg.act = "silu";
  else
    return c.error() << c.path() << ": hidden_act '" << *act
                     << "' is not supported for BERT (supported: gelu, "
                        "gelu_new, gelu_pytorch_tanh, relu, silu, swish)";
  return cfg;
}

/// LayerNorm over the last dimension with "<module>.weight" / ".bias".
static Value layerNorm(GraphBuilder &g, Value x, const std::string &module,
                       const APFloat &eps) {
  Value gamma = g.weight(module + ".weight");
  Value beta = g.weight(module + ".bias");
  return LayerNormOp::create(g.b, g.loc(module), x, gamma, beta, -1, eps);
}

FailureOr<OwningOpRef<ModuleOp>>
qopt::safetensors_import::buildBert(GraphBuilder &g, ConfigReader &config,
                                    const SafeTensorsImportOptions &opt) {
  FailureOr<BertConfig> parsed = readConfig(config, opt);
  if (failed(parsed))
    return failure();
  const BertConfig &cfg = *parsed;
  const int64_t B = opt.batch, S = opt.seqLen, H = cfg.hidden, NH = cfg.heads,
                D = H / NH, I = cfg.intermediate;

  const std::vector<std::vector<int64_t>> largest = {
      {B, NH, S, S}, {B, S, I}, {B, S, H}, {cfg.vocab, H}};
  for (const std::vector<int64_t> &dims : largest)
    if (!checkedNumElements(dims))
      return g.fileError() << "the BERT graph for batch " << B
                           << " and sequence length " << S
                           << " has tensors too large to address";

  // BertModel checkpoints have no prefix; BertFor* ones nest it in "bert.".
  std::string prefix = "";
  if (!g.has("embeddings.word_embeddings.weight") &&
      g.has("bert.embeddings.word_embeddings.weight"))
    prefix = "bert.";

  SmallVector<TensorSpec> specs;
  auto add = [&](std::string name, SmallVector<int64_t, 4> shape) {
    specs.push_back({std::move(name), std::move(shape)});
  };
  auto addLinear = [&](const std::string &module, int64_t out, int64_t in) {
    add(module + ".weight", {out, in});
    add(module + ".bias", {out});
  };
  auto addNorm = [&](const std::string &module) {
    add(module + ".weight", {H});
    add(module + ".bias", {H});
  };
  std::string e = prefix + "embeddings.";
  add(e + "word_embeddings.weight", {cfg.vocab, H});
  add(e + "position_embeddings.weight", {cfg.maxPositions, H});
  add(e + "token_type_embeddings.weight", {cfg.typeVocab, H});
  addNorm(e + "LayerNorm");
  for (int64_t i = 0; i < cfg.layers; ++i) {
    std::string p = prefix + "encoder.layer." + std::to_string(i) + ".";
    addLinear(p + "attention.self.query", H, H);
    addLinear(p + "attention.self.key", H, H);
    addLinear(p + "attention.self.value", H, H);
    addLinear(p + "attention.output.dense", H, H);
    addNorm(p + "attention.output.LayerNorm");
    addLinear(p + "intermediate.dense", I, H);
    addLinear(p + "output.dense", H, I);
    addNorm(p + "output.LayerNorm");
  }
  std::string pooler = prefix + "pooler.dense";
  bool hasPooler = g.has(pooler + ".weight");
  if (hasPooler)
    addLinear(pooler, H, H);
  if (failed(g.require(specs, "BertModel")))
    return failure();

  OwningOpRef<ModuleOp> module = g.createModule("bert");
  auto idsType = RankedTensorType::get({B, S}, g.b.getI64Type());
  func::FuncOp func = g.createMain(*module, {{"input_ids", idsType}});
  Value ids = func.getArgument(0);
  OpBuilder &b = g.b;
  APFloat eps(static_cast<float>(cfg.eps));

  // Embeddings: positions 0 .. S-1 are the first S rows of the table, and
  // token type 0 is its first row; both broadcast over the batch.
  Location embLoc = g.loc(prefix + "embeddings");
  Value words =
      GatherOp::create(b, g.loc(e + "word_embeddings"),
                       g.weight(e + "word_embeddings.weight"), ids, 0);
  Value positions = g.sliceAxis(g.weight(e + "position_embeddings.weight"), 0,
                                0, S, g.loc(e + "position_embeddings"));
  Value tokenType = g.sliceAxis(g.weight(e + "token_type_embeddings.weight"), 0,
                                0, 1, g.loc(e + "token_type_embeddings"));
  Value h = AddOp::create(b, embLoc, words, positions);
  h = AddOp::create(b, embLoc, h, tokenType);
  h = layerNorm(g, h, e + "LayerNorm", eps);

  Value scale = g.scalarF32(static_cast<float>(1.0 / std::sqrt(double(D))),
                            g.loc("attention_scale"));
  for (int64_t i = 0; i < cfg.layers; ++i) {
    std::string p = prefix + "encoder.layer." + std::to_string(i) + ".";
    Location attnLoc = g.loc(p + "attention.self");

    Value q = g.linear(h, p + "attention.self.query", true);
    Value k = g.linear(h, p + "attention.self.key", true);
    Value v = g.linear(h, p + "attention.self.value", true);
    q = g.transpose(g.reshape(q, {B, S, NH, D}, attnLoc), {0, 2, 1, 3},
                    attnLoc);
    // k goes straight to [B, NH, D, S] for q k^T.
    Value kt = g.transpose(g.reshape(k, {B, S, NH, D}, attnLoc), {0, 2, 3, 1},
                           attnLoc);
    v = g.transpose(g.reshape(v, {B, S, NH, D}, attnLoc), {0, 2, 1, 3},
                    attnLoc);
    Value scores = BatchMatMulOp::create(b, attnLoc, q, kt);
    scores = MulOp::create(b, attnLoc, scores, scale);
    Value probs = SoftmaxOp::create(b, attnLoc, scores, -1);
    Value ctx = BatchMatMulOp::create(b, attnLoc, probs, v);
    ctx =
        g.reshape(g.transpose(ctx, {0, 2, 1, 3}, attnLoc), {B, S, H}, attnLoc);
    Value a = g.linear(ctx, p + "attention.output.dense", true);
    h = AddOp::create(b, g.loc(p + "attention.output"), a, h);
    h = layerNorm(g, h, p + "attention.output.LayerNorm", eps);

    Value inter = g.linear(h, p + "intermediate.dense", true);
    Location actLoc = g.loc(p + "intermediate.intermediate_act_fn");
    if (cfg.act == "gelu")
      inter = GeluOp::create(b, actLoc, inter, "none");
    else if (cfg.act == "gelu_tanh")
      inter = GeluOp::create(b, actLoc, inter, "tanh");
    else if (cfg.act == "relu")
      inter = ReluOp::create(b, actLoc, inter);
    else
      inter = SiluOp::create(b, actLoc, inter);
    Value o = g.linear(inter, p + "output.dense", true);
    h = AddOp::create(b, g.loc(p + "output"), o, h);
    h = layerNorm(g, h, p + "output.LayerNorm", eps);
  }

  SmallVector<std::pair<std::string, Value>> results{{"last_hidden_state", h}};
  if (hasPooler) {
    Location poolLoc = g.loc(prefix + "pooler");
    Value first = g.reshape(g.sliceAxis(h, 1, 0, 1, poolLoc), {B, H}, poolLoc);
    Value pooled = g.linear(first, pooler, true);
    results.emplace_back(
        "pooler_output",
        TanhOp::create(b, g.loc(prefix + "pooler.activation"), pooled));
  }
  g.finishMain(func, results);
  if (g.hadError)
    return failure();
  return module;
}
