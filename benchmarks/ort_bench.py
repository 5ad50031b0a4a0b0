#!/usr/bin/env python3
# ===- benchmarks/ort_bench.py - ONNX Runtime fp32 and int8 latency --------===#
# SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
#
# The ONNX Runtime peer of the end-to-end rows of benchmarks/run.sh:
#
#   fp32: the model as given.
#   int8: ONNX Runtime's own static quantization of the same model
#         (quantize_static: QDQ format, MinMax calibration over the
#         calibration .npz, u8 activations, s8 per-channel weights).
#
# Both sessions: CPUExecutionProvider, all graph optimizations,
# intra_op_num_threads = T, inter_op_num_threads = 1, sequential execution.
# Latency: median and p90 of --runs timed runs of one sample after --warmup
# untimed ones. Prints one line per measurement:
#
#   RESULT kind=ort model=NAME variant=fp32|int8 threads=T median_ms=.. p90_ms=..
#
# plus, for int8, the SQNR of ORT int8's output against ORT fp32 on the same
# input (sqnr_db=..), so quality can be read next to speed.
#
# Needs onnxruntime and onnx >= 1.13 (ORT's quantizer imports onnx.reference;
# scripts/setup.sh installs both into build/bench-venv).
# ===----------------------------------------------------------------------===#
import argparse
import os
import sys
import time

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod,
                                      QuantFormat, QuantType, quantize_static)


class NpzReader(CalibrationDataReader):
    """Feeds the samples of an .npz (dim 0 = samples) one at a time, batched
    to the model input's own dim 0."""

    def __init__(self, path, input_meta):
        arrays = np.load(path)
        self.feeds = []
        n = None
        for meta in input_meta:
            if meta.name not in arrays:
                sys.exit(f"ort_bench: {path} has no array '{meta.name}'")
            n = arrays[meta.name].shape[0] if n is None else n
        batch = input_meta[0].shape[0]
        batch = batch if isinstance(batch, int) and batch > 0 else 1
        for i in range(0, n - batch + 1, batch):
            self.feeds.append({
                m.name: arrays[m.name][i:i + batch]
                for m in input_meta
            })
        self.it = iter(self.feeds)

    def get_next(self):
        return next(self.it, None)

    def rewind(self):
        self.it = iter(self.feeds)


def session(path, threads):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def first_sample(path, input_meta):
    arrays = np.load(path)
    feed = {}
    for m in input_meta:
        a = arrays[m.name]
        batch = m.shape[0] if isinstance(m.shape[0], int) else 1
        feed[m.name] = a[:max(batch, 1)]
    return feed


def time_session(sess, feed, warmup, runs):
    for _ in range(warmup):
        sess.run(None, feed)
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feed)
        t.append((time.perf_counter() - t0) * 1e3)
    t = np.array(t)
    return float(np.median(t)), float(np.percentile(t, 90))


def main():
    ap = argparse.ArgumentParser(
        description="ONNX Runtime fp32 and int8 (quantize_static) latency")
    ap.add_argument("model")
    ap.add_argument("--inputs", required=True, help="input .npz (sample 0)")
    ap.add_argument("--calib", required=True, help="calibration .npz")
    ap.add_argument("--name", default=None, help="model name in RESULT lines")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--workdir", default=None,
                    help="where the int8 model goes (default: next to model)")
    args = ap.parse_args()
    name = args.name or os.path.splitext(os.path.basename(args.model))[0]
    workdir = args.workdir or os.path.dirname(os.path.abspath(args.model))
    os.makedirs(workdir, exist_ok=True)
    q_path = os.path.join(workdir, name + ".ort-int8.onnx")

    fp = session(args.model, 1)
    meta = fp.get_inputs()
    feed = first_sample(args.inputs, meta)

    # ORT recommends shape inference + optimization before quantization
    # (onnxruntime.quantization.preprocess); quant_pre_process does both.
    pre_path = os.path.join(workdir, name + ".ort-pre.onnx")
    try:
        from onnxruntime.quantization.shape_inference import quant_pre_process
        quant_pre_process(args.model, pre_path, skip_symbolic_shape=True)
        src = pre_path
    except Exception as e:  # pragma: no cover - fall back to the raw model
        print(f"ort_bench: quant_pre_process failed ({e}); quantizing the "
              "model as given", file=sys.stderr)
        src = args.model
    t0 = time.perf_counter()
    quantize_static(src, q_path, NpzReader(args.calib, meta),
                    quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    print(f"ort_bench: {name}: quantize_static took "
          f"{time.perf_counter() - t0:.1f} s -> {q_path}", file=sys.stderr)

    ref = fp.run(None, feed)[0].astype(np.float64)
    for t in [int(s) for s in args.threads.split(",")]:
        for variant, path in (("fp32", args.model), ("int8", q_path)):
            s = session(path, t)
            extra = ""
            if variant == "int8":
                out = s.run(None, feed)[0].astype(np.float64)
                err = ((out - ref)**2).sum()
                sq = 10 * np.log10((ref**2).sum() / err) if err > 0 else 999
                extra = f" sqnr_db={sq:.2f}"
            med, p90 = time_session(s, feed, args.warmup, args.runs)
            print(f"RESULT kind=ort model={name} variant={variant} "
                  f"threads={t} median_ms={med:.4f} p90_ms={p90:.4f}{extra}",
                  flush=True)


if __name__ == "__main__":
    main()
