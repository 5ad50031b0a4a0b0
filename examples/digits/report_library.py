"""Prints the CPU-library table of scripts/quickstart.sh: quality and
latency of each compiled model (OUTDIR/lib-NAME), from the JSON reports of
`qopt-run DIR --reference ... --benchmark=N --json`.

usage: report_library.py OUTDIR NAME...
"""
import json
import os
import sys

out, names = sys.argv[1], sys.argv[2:]
rows = []
for name in names:
    full = json.load(open(os.path.join(out, f"lib-{name}.json")))
    one = json.load(open(os.path.join(out, f"lib-{name}.one.json")))
    acc = full["accuracy"]
    o = full["outputs"][0]
    b, b1 = full["benchmark"], one["benchmark"]
    sqnr = o["sqnr_db"]
    sqnr = f"{sqnr:.1f}" if isinstance(sqnr, (int, float)) else str(sqnr)
    weights = os.path.getsize(os.path.join(out, f"lib-{name}", "weights.bin"))
    rows.append((name, f"{acc['candidate_pct']:.2f}%", sqnr,
                 f"{b['median_ms'] * 1000:.1f} us", f"{b['p90_ms'] * 1000:.1f} us",
                 f"{b1['median_ms'] * 1000:.2f} us", f"{weights / 1024:.1f} KiB"))
header = ("library", "top-1", "SQNR dB", f"{full['samples']} samples (median)",
          "p90", "1 sample, 1 thread", "weights")
widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
for r in rows:
    print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
print(f"(target {b['runner']}; SQNR against the float ONNX model in the "
      "reference executor; the float row is the float model compiled by qopt)")
