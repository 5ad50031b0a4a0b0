#!/usr/bin/python3
#===- quality_check.py - models and a checker for qopt-run's quality gate -===#
#
# SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
#
#===----------------------------------------------------------------------===#
"""Test helper for qopt-run-quality.test.

  quality_check.py gen OUT_DIR
      Writes, all from np.random.RandomState(0):
        float.onnx      x[N,16] -> Gemm fc1 -> Relu relu1 -> Gemm fc2 -> Relu
                        relu2 -> Gemm fc3 -> logits[N,5] (dynamic batch N)
        perturbed.onnx  the same graph and node names, fc2's weight and fc3's
                        bias perturbed
        quant.mlir      a QDQ-style "quantized" float model with a static
                        batch of 1: weights rounded to a power-of-two grid,
                        activations through qopt.quantize/qopt.dequantize
                        carrying the layer's name (plus an input quantizer
                        named x_quant that the float model does not have)
        fused.mlir      quant.mlir with relu1 folded into fc1's quantized
                        output, which is per-channel quantized
        eval.npz        x[64,16] f32 and labels y[64] i64 (the float model's
                        argmax, except that 8 rows are deliberately wrong:
                        float accuracy 87.5%)
        nolabels.npz    x only
        badlabels.npz   x and a y of 63 labels
        weights.npz     every model's weights, for the numpy forward passes
  quality_check.py expect-exit CODE -- CMD...
      Runs CMD, prints its stdout and stderr, fails unless it exits with CODE.
  quality_check.py check REPORT.json CAND_OUT.npz REF_OUT.npz INPUTS.npz
                   WEIGHTS.npz CAND_MODEL [--layers a,b,c] [--cand-only a,b]
      Recomputes every number of the report with numpy: the output metrics
      from the two models' written outputs (tight tolerance), the accuracy
      from the labels, per-layer SQNR from numpy forward passes of both models
      (CAND_MODEL is 'perturbed', 'quant' or 'fused'; 0.001 dB), the gate's drop.
  quality_check.py check-svg CHART.svg NAME...
      Parses the chart as XML and checks it has one bar per layer name.
"""
import json
import math
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np

F32 = np.float32
DIMS = [16, 24, 16, 5]
SAMPLES = 64


def weights():
    rng = np.random.RandomState(0)
    w = {}
    for i in range(3):
        w[f"fc{i+1}.weight"] = (rng.randn(DIMS[i + 1], DIMS[i]) /
                                math.sqrt(DIMS[i])).astype(F32)
        w[f"fc{i+1}.bias"] = (rng.randn(DIMS[i + 1]) * 0.1).astype(F32)
    p = dict(w)
    p["fc2.weight"] = (w["fc2.weight"] +
                       rng.randn(*w["fc2.weight"].shape) * 0.08).astype(F32)
    p["fc3.bias"] = (w["fc3.bias"] + rng.randn(5) * 0.05).astype(F32)
    x = rng.randn(SAMPLES, DIMS[0]).astype(F32)
    return w, p, x


# Power-of-two grids: every division and multiply below is exact in f32, so
# numpy and the executor agree bit for bit on the quantization steps.
W_SCALE = F32(2.0 ** -6)
X_SCALE = F32(2.0 ** -4)


def pow2_scale(max_abs, levels):
    return F32(2.0 ** math.ceil(math.log2(max_abs / levels)))


def fake_quant(x, scale, zp, lo, hi):
    q = np.clip(np.rint(x / scale) + zp, lo, hi)
    return ((q - zp).astype(F32) * scale).astype(F32)


def gemm(x, w, b):
    return (x.astype(F32) @ w.T.astype(F32) + b).astype(F32)


def forward_float(w, x):
    """Per-layer values of float.onnx / perturbed.onnx."""
    v = {}
    v["fc1"] = gemm(x, w["fc1.weight"], w["fc1.bias"])
    v["relu1"] = np.maximum(v["fc1"], 0)
    v["fc2"] = gemm(v["relu1"], w["fc2.weight"], w["fc2.bias"])
    v["relu2"] = np.maximum(v["fc2"], 0)
    v["fc3"] = gemm(v["relu2"], w["fc3.weight"], w["fc3.bias"])
    return v


def quant_params(w, x):
    """Weights on the grid and the activation scales of quant.mlir."""
    qw = {k: (fake_quant(a, W_SCALE, 0, -128, 127) if k.endswith("weight")
              else a) for k, a in w.items()}
    f = forward_float(w, x)
    s1 = pow2_scale(np.abs(f["relu1"]).max(), 255)
    s2 = pow2_scale(np.abs(f["relu2"]).max(), 255)
    return qw, s1, s2


def fused_scales(s1):
    """Per-channel scales of fc1's output in fused.mlir."""
    return np.array([s1 if c % 2 == 0 else s1 / 2 for c in range(DIMS[1])],
                    dtype=F32)


def forward_quant(w, x, qw, s1, s2, fused=False):
    """Per-layer values of quant.mlir (fused.mlir): the last float result
    under a name."""
    v = {}
    v["x_quant"] = fake_quant(x, X_SCALE, 0, -128, 127)
    v["fc1"] = gemm(v["x_quant"], qw["fc1.weight"], qw["fc1.bias"])
    v["relu1"] = fake_quant(np.maximum(v["fc1"], 0),
                            fused_scales(s1) if fused else s1, -128, -128, 127)
    v["fc2"] = gemm(v["relu1"], qw["fc2.weight"], qw["fc2.bias"])
    v["relu2"] = fake_quant(np.maximum(v["fc2"], 0), s2, -128, -128, 127)
    v["fc3"] = gemm(v["relu2"], qw["fc3.weight"], qw["fc3.bias"])
    return v


def onnx_model(w, path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    nodes = []
    prev = "x"
    for i in range(3):
        nodes.append(helper.make_node(
            "Gemm", [prev, f"fc{i+1}.weight", f"fc{i+1}.bias"],
            [f"fc{i+1}_out" if i < 2 else "logits"], name=f"fc{i+1}",
            transB=1))
        prev = f"fc{i+1}_out"
        if i < 2:
            nodes.append(helper.make_node("Relu", [prev], [f"relu{i+1}_out"],
                                          name=f"relu{i+1}"))
            prev = f"relu{i+1}_out"
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 5])],
        [numpy_helper.from_array(a, k) for k, a in sorted(w.items())])
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def dense(a):
    def rec(x):
        if x.ndim == 1:
            return "[" + ", ".join(repr(float(v)) for v in x) + "]"
        return "[" + ", ".join(rec(r) for r in x) + "]"
    return "dense<" + rec(a) + ">"


def quant_mlir(qw, s1, s2, path, fused=False):
    def t(*dims, e="f32"):
        return "tensor<" + "x".join(str(d) for d in dims) + "x" + e + ">"
    qx = f"!quant.uniform<i8:f32, {float(X_SCALE)!r}>"
    q1 = f"!quant.uniform<i8:f32, {float(s1)!r}:-128>"
    if fused:  # per channel, the axis of fc1's output features
        q1 = ("!quant.uniform<i8:f32:1, {" + ", ".join(
            f"{float(c)!r}:-128" for c in fused_scales(s1)) + "}>")
    q2 = f"!quant.uniform<i8:f32, {float(s2)!r}:-128>"
    lines = [
        "// Written by quality_check.py gen: a QDQ-style quantized MLP.",
        "module {",
        '  func.func @main(%x: tensor<1x16xf32> {qopt.name = "x"}) -> '
        '(tensor<1x5xf32> {qopt.name = "logits"}) {',
    ]
    for i in range(3):
        wname, bname = f"fc{i+1}.weight", f"fc{i+1}.bias"
        lines.append(f"    %w{i+1} = qopt.constant {dense(qw[wname])} : "
                     f"{t(DIMS[i+1], DIMS[i])} loc(\"{wname}\")")
        lines.append(f"    %b{i+1} = qopt.constant {dense(qw[bname])} : "
                     f"{t(DIMS[i+1])} loc(\"{bname}\")")
    lines += [
        f"    %xq = qopt.quantize %x : ({t(1, 16)}) -> {t(1, 16, e=qx)} "
        'loc("x_quant")',
        f"    %xd = qopt.dequantize %xq : ({t(1, 16, e=qx)}) -> {t(1, 16)} "
        'loc("x_quant")',
        f"    %h1 = qopt.gemm %xd, %w1, %b1 {{trans_b = true}} : "
        f"({t(1, 16)}, {t(24, 16)}, {t(24)}) -> {t(1, 24)} loc(\"fc1\")",
    ] + ([
        # relu1 folded into the quantized range of fc1's output, whose last
        # result is quantized (compared dequantized); the dequantize is named
        # after its consumer.
        f"    %r1q = qopt.quantize %h1 : ({t(1, 24)}) -> {t(1, 24, e=q1)} "
        'loc("fc1")',
        f"    %r1d = qopt.dequantize %r1q : ({t(1, 24, e=q1)}) -> {t(1, 24)} "
        'loc("fc2.input")',
    ] if fused else [
        f"    %r1 = qopt.relu %h1 : {t(1, 24)} loc(\"relu1\")",
        f"    %r1q = qopt.quantize %r1 : ({t(1, 24)}) -> {t(1, 24, e=q1)} "
        'loc("relu1")',
        f"    %r1d = qopt.dequantize %r1q : ({t(1, 24, e=q1)}) -> {t(1, 24)} "
        'loc("relu1")',
    ]) + [
        f"    %h2 = qopt.gemm %r1d, %w2, %b2 {{trans_b = true}} : "
        f"({t(1, 24)}, {t(16, 24)}, {t(16)}) -> {t(1, 16)} loc(\"fc2\")",
        f"    %r2 = qopt.relu %h2 : {t(1, 16)} loc(\"relu2\")",
        f"    %r2q = qopt.quantize %r2 : ({t(1, 16)}) -> {t(1, 16, e=q2)} "
        'loc("relu2")',
        f"    %r2d = qopt.dequantize %r2q : ({t(1, 16, e=q2)}) -> {t(1, 16)} "
        'loc("relu2")',
        f"    %h3 = qopt.gemm %r2d, %w3, %b3 {{trans_b = true}} : "
        f"({t(1, 16)}, {t(5, 16)}, {t(5)}) -> {t(1, 5)} loc(\"fc3\")",
        f"    return %h3 : {t(1, 5)}",
        "  }",
        "}",
    ]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def gen(out):
    os.makedirs(out, exist_ok=True)
    w, p, x = weights()
    onnx_model(w, os.path.join(out, "float.onnx"))
    onnx_model(p, os.path.join(out, "perturbed.onnx"))
    qw, s1, s2 = quant_params(w, x)
    quant_mlir(qw, s1, s2, os.path.join(out, "quant.mlir"))
    quant_mlir(qw, s1, s2, os.path.join(out, "fused.mlir"), fused=True)
    pred = forward_float(w, x)["fc3"].argmax(-1)
    y = pred.astype(np.int64)
    y[:8] = (y[:8] + 1) % 5  # 8 of 64 wrong: float accuracy 87.5%
    np.savez(os.path.join(out, "eval.npz"), x=x, y=y)
    np.savez(os.path.join(out, "nolabels.npz"), x=x)
    np.savez(os.path.join(out, "badlabels.npz"), x=x, y=y[:63])
    np.savez(os.path.join(out, "weights.npz"),
             **{"float/" + k: a for k, a in w.items()},
             **{"perturbed/" + k: a for k, a in p.items()},
             **{"quant/" + k: a for k, a in qw.items()},
             s1=np.array(s1), s2=np.array(s2))
    # The test needs both models to be measurably worse than the float one.
    for name, logits in (("perturbed", forward_float(p, x)["fc3"]),
                         ("quant", forward_quant(w, x, qw, s1, s2)["fc3"]),
                         ("fused", forward_quant(w, x, qw, s1, s2,
                                                 fused=True)["fc3"])):
        agree = (logits.argmax(-1) == pred).mean() * 100
        acc = (logits.argmax(-1) == y).mean() * 100
        assert agree < 100 and acc < 87.5, (name, agree, acc)
        print(f"{name}: top-1 agreement {agree:.2f}%, accuracy {acc:.2f}%")


def expect_exit(argv):
    code = int(argv[0])
    assert argv[1] == "--", argv
    r = subprocess.run(argv[2:], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    sys.stdout.write(r.stdout)
    if r.returncode != code:
        print(f"expect-exit: exit code {r.returncode}, expected {code}")
        sys.exit(1)
    print(f"expect-exit: exit code {code} as expected")


def close(got, want, rel, what, abs_tol=0.0):
    if isinstance(want, float) and math.isinf(want):
        ok = got == ("inf" if want > 0 else "-inf")
    else:
        ok = (isinstance(got, (int, float)) and
              abs(got - want) <= max(abs_tol, rel * abs(want)))
    if not ok:
        print(f"MISMATCH {what}: report {got!r}, numpy {want!r}")
        sys.exit(1)


def sqnr(ref, out):
    ref, out = ref.astype(np.float64), out.astype(np.float64)
    noise = ((ref - out) ** 2).sum()
    return math.inf if noise == 0 else 10 * math.log10((ref ** 2).sum() / noise)


def check(argv):
    report_path, cand_path, ref_path, inputs_path, weights_path, model = argv[:6]
    opts = dict(zip(argv[6::2], argv[7::2]))
    with open(report_path) as f:
        rep = json.load(f)
    cand, ref = np.load(cand_path), np.load(ref_path)
    inputs, wts = np.load(inputs_path), np.load(weights_path)

    # Output metrics from the written outputs.
    assert [o["name"] for o in rep["outputs"]] == list(cand.keys()), rep
    for o in rep["outputs"]:
        c = cand[o["name"]].astype(np.float64)
        r = ref[o["reference_name"]].astype(np.float64)
        assert o["shape"] == list(c.shape), (o["shape"], c.shape)
        d = np.abs(c - r)
        close(o["max_abs_err"], float(d.max()), 1e-9, "max_abs_err")
        close(o["mean_abs_err"], float(d.mean()), 1e-9, "mean_abs_err")
        cos = float((c * r).sum() / math.sqrt((c * c).sum() * (r * r).sum()))
        close(o["cosine"], cos, 1e-9, "cosine")
        close(o["sqnr_db"], sqnr(r, c), 1e-9, "sqnr_db")
        agree = int((c.argmax(-1) == r.argmax(-1)).sum())
        assert o["top1_agree"] == agree and o["rows"] == c.shape[0], (o, agree)
        close(o["top1_agreement_pct"], 100.0 * agree / c.shape[0], 1e-12,
              "top1_agreement_pct")
        print(f"output {o['name']}: sqnr {o['sqnr_db']} dB, cosine "
              f"{o['cosine']:.6f}, top-1 agreement {agree}/{c.shape[0]}: ok")

    # Accuracy.
    acc = rep["accuracy"]
    if "y" in inputs:
        y = inputs["y"]
        out = acc["output"]
        cc = int((cand[out].argmax(-1) == y).sum())
        rc = int((ref[out].argmax(-1) == y).sum())
        assert acc["count"] == len(y), acc
        assert acc["candidate_correct"] == cc and acc["reference_correct"] == rc, (acc, cc, rc)
        close(acc["candidate_pct"], 100.0 * cc / len(y), 1e-12, "candidate_pct")
        close(acc["reference_pct"], 100.0 * rc / len(y), 1e-12, "reference_pct")
        close(acc["drop_pct_points"], 100.0 * (rc - cc) / len(y), 1e-9,
              "drop_pct_points", 1e-9)
        print(f"accuracy: candidate {cc}/{len(y)}, reference {rc}/{len(y)}: ok")
    else:
        assert acc is None, acc

    # The gate.
    gate = rep["gate"]
    if gate is not None:
        o = rep["outputs"][0]
        if acc is not None:
            want, metric = acc["drop_pct_points"], "accuracy_drop"
        else:
            want, metric = 100.0 - o["top1_agreement_pct"], "top1_disagreement"
        assert gate["metric"] == metric, gate
        close(gate["drop_pct_points"], want, 1e-9, "gate drop", 1e-9)
        assert gate["passed"] == (want <= gate["max_degradation_pct"]), gate
        assert rep["exit_code"] == (0 if gate["passed"] else 3), rep
        print(f"gate: {metric} {want:.4f} vs {gate['max_degradation_pct']}: "
              f"{'passed' if gate['passed'] else 'failed'}: ok")

    # Per-layer SQNR from numpy forward passes.
    if "--layers" in opts:
        names = opts["--layers"].split(",")
        got = [l["name"] for l in rep["per_layer"]]
        assert got == names, (got, names)
        cand_only = opts.get("--cand-only", "")
        cand_only = cand_only.split(",") if cand_only else []
        assert rep["per_layer_unmatched"]["candidate_only"] == cand_only, rep
        assert rep["per_layer_unmatched"]["reference_only"] == [], rep
        x = inputs["x"]
        fw = {k[len("float/"):]: wts[k] for k in wts if k.startswith("float/")}
        fv = forward_float(fw, x)
        if model == "perturbed":
            pw = {k[len("perturbed/"):]: wts[k] for k in wts
                  if k.startswith("perturbed/")}
            cv = forward_float(pw, x)
        else:
            qw = {k[len("quant/"):]: wts[k] for k in wts
                  if k.startswith("quant/")}
            cv = forward_quant(fw, x, qw, F32(wts["s1"]), F32(wts["s2"]),
                               fused=model == "fused")
        for l in rep["per_layer"]:
            # "fc1+relu1": the candidate's fc1 is relu1's value.
            key = l["name"].split("+")[-1]
            want = sqnr(fv[key], cv[key])
            assert l["elements"] == fv[key].size, l
            if math.isinf(want):
                close(l["sqnr_db"], want, 0, "sqnr " + l["name"])
            else:
                close(l["sqnr_db"], want, 0, "sqnr " + l["name"], 0.001)
            print(f"layer {l['name']}: sqnr {l['sqnr_db']} dB "
                  f"(numpy {want:.3f}): ok")
    print("report ok")


def check_svg(argv):
    path, names = argv[0], argv[1:]
    root = ET.parse(path).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == ns + "svg", root.tag
    bars = [g for g in root.iter(ns + "g") if g.find(ns + "rect") is not None]
    titles = [g.find(ns + "title").text.split(":")[0] for g in root.iter(ns + "g")]
    assert titles == names, (titles, names)
    print(f"svg ok: {len(titles)} layers, {len(bars)} bars")


def main():
    cmd, argv = sys.argv[1], sys.argv[2:]
    {"gen": lambda a: gen(a[0]), "expect-exit": expect_exit, "check": check,
     "check-svg": check_svg}[cmd](argv)


if __name__ == "__main__":
    main()
