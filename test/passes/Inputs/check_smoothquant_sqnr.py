#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
"""SQNR of quantized model outputs against the float outputs.

usage: check_smoothquant_sqnr.py REF.npz MARGIN_DB BASE.npz NAME=OTHER.npz...

Prints the SQNR (10 log10(sum ref^2 / sum (ref - out)^2)) of BASE and of each
OTHER and fails unless every OTHER beats BASE by at least MARGIN_DB.
"""
import sys

import numpy as np


def sqnr(ref, out):
    ref = ref.astype(np.float64)
    err = ((ref - out.astype(np.float64)) ** 2).sum()
    return float("inf") if err == 0 else 10 * np.log10((ref ** 2).sum() / err)


def load(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def main():
    ref = load(sys.argv[1])
    margin = float(sys.argv[2])
    base = load(sys.argv[3])
    base_db = min(sqnr(ref[k], base[k]) for k in ref)
    print(f"SQNR without smoothing: {base_db:.2f} dB")
    ok = True
    for arg in sys.argv[4:]:
        name, path = arg.split("=", 1)
        out = load(path)
        db = min(sqnr(ref[k], out[k]) for k in ref)
        print(f"SQNR with {name}: {db:.2f} dB ({db - base_db:+.2f} dB)")
        if not db >= base_db + margin:
            print(f"FAIL: {name} improves SQNR by less than {margin} dB")
            ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
