"""Prints the quantization report of scripts/quickstart.sh: one row per
quantized model, from the JSON quality reports `qopt-run --json` wrote.

usage: report.py OUTDIR NAME...   (reads OUTDIR/NAME.json, .mlirbc, .time)
"""
import json
import os
import sys

out, names = sys.argv[1], sys.argv[2:]
float_size = os.path.getsize(os.path.join(out, "float.mlirbc"))
rows = []
for name in names:
    with open(os.path.join(out, name + ".json")) as f:
        r = json.load(f)
    with open(os.path.join(out, name + ".time")) as f:
        start, end = map(float, f.read().split())
    size = os.path.getsize(os.path.join(out, name + ".mlirbc"))
    o = r["outputs"][0]
    acc = r["accuracy"]
    rows.append((name, f"{acc['candidate_pct']:.2f}%",
                 f"{-acc['drop_pct_points']:+.2f}",
                 f"{o['sqnr_db']:.1f}", f"{o['top1_agreement_pct']:.2f}%",
                 f"{o['cosine']:.5f}", f"{size / 1024:.1f} KiB",
                 f"{(end - start) * 1000:.0f} ms"))
first = json.load(open(os.path.join(out, names[0] + ".json")))["accuracy"]
header = ("model", "top-1", "vs float", "SQNR dB", "agreement", "cosine",
          "size", "compile")
rows.insert(0, ("float (reference)", f"{first['reference_pct']:.2f}%", "",
                "", "", "", f"{float_size / 1024:.1f} KiB", ""))
widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
print(line)
print("-" * len(line))
for r in rows:
    print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
print(f"({first['count']} held-out digits; SQNR, agreement and cosine of the "
      "logits against the float model; size of the MLIR bytecode; compile = "
      "import + calibration + quantization)")
