#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
"""Runs `qopt` on every malformed file of the corpus and checks it is rejected cleanly.

Usage: run_corpus.py --qopt PATH [--corpus DIR]

Each sub-folder (onnx/, safetensors/, mlir/) has an EXPECTED.txt with lines
`<file>: <substring>`. For every listed file, `qopt <file>` must exit with code 1
(not a signal, not an abort) within 60 s, and print exactly one line containing
"error:" that names the file and contains the substring. Every bad_* file in a
folder must be listed. Prints `corpus: N passed, N failed`.
"""
import argparse
import os
import subprocess
import sys


def load_expected(folder):
    path = os.path.join(folder, "EXPECTED.txt")
    expected = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            name, _, sub = line.partition(":")
            expected[name.strip()] = sub.strip()
    return expected


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qopt", required=True)
    ap.add_argument("--corpus", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()
    passed = failed = 0
    for sub in sorted(os.listdir(args.corpus)):
        folder = os.path.join(args.corpus, sub)
        if not os.path.isfile(os.path.join(folder, "EXPECTED.txt")):
            continue
        expected = load_expected(folder)
        listed = set(expected)
        for name in sorted(os.listdir(folder)):
            if name.startswith("bad_") and name not in listed:
                print(f"FAIL {sub}/{name}: not listed in EXPECTED.txt")
                failed += 1
        for name, substring in sorted(expected.items()):
            path = os.path.join(folder, name)
            problems = []
            if not os.path.lexists(path):
                problems.append("file missing")
            else:
                try:
                    proc = subprocess.run([args.qopt, path, "-o", os.devnull],
                                          capture_output=True, timeout=60)
                    err = proc.stderr.decode("utf-8", "replace")
                    if proc.returncode != 1:
                        problems.append(f"exit code {proc.returncode} (want 1)")
                    error_lines = [l for l in err.splitlines() if "error:" in l]
                    if len(error_lines) != 1:
                        problems.append(f"{len(error_lines)} error lines (want 1)")
                    elif name not in error_lines[0]:
                        problems.append(f"error line does not name the file: {error_lines[0]!r}")
                    elif substring not in error_lines[0]:
                        problems.append(f"error line lacks {substring!r}: {error_lines[0]!r}")
                    for bad in ("Assertion", "Stack dump", "AddressSanitizer", "runtime error:",
                                "terminate called", "PLEASE submit a bug report"):
                        if bad in err:
                            problems.append(f"stderr contains {bad!r}")
                except subprocess.TimeoutExpired:
                    problems.append("timed out (hang)")
            if problems:
                failed += 1
                print(f"FAIL {sub}/{name}: " + "; ".join(problems))
            else:
                passed += 1
    print(f"corpus: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
