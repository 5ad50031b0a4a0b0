#!/usr/bin/python3
# ===- run_backend_tests.py - ONNX backend node tests against qopt-run ---===#
#
# SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
#
# ===---------------------------------------------------------------------===#
"""Runs the ONNX backend node test suite against qopt's reference executor.

Usage:
  /usr/bin/python3 test/onnx-backend/run_backend_tests.py \
      [--qopt-run build/bin/qopt-run] [--data-dir DIR] [-j N] \
      [--filter REGEX] [--verbose] [--timeout SECONDS] [--run-excluded]

The suite is Debian's libonnx-testdata (default data dir
/usr/share/libonnx-testdata/data/node). Only `onnx` and `numpy` are used; no
ONNX Runtime is needed.

Selection. A test directory `<data-dir>/<test>/` is SELECTED when every node of
model.onnx (subgraphs of If/Loop/Scan included) has an op type that
`qopt-run --list-onnx-ops` prints. Nodes of the default domain ('' or
'ai.onnx') match a listed `OpType`; nodes of another domain match a listed
`<domain>.<OpType>` (e.g. `ai.onnx.preview.training.Adam`). A selected test is
still skipped (with the reason printed) when its data cannot be expressed as a
.npz file: sequence/optional/map graph inputs or outputs, string tensors, and
bfloat16 tensors (NumPy has no bfloat16 dtype). test/onnx-backend/excluded.txt
lists selected tests that use a feature qopt deliberately does not support, one
per line as `test_name  # reason`; they are skipped and printed with their
reason (`--run-excluded` runs them anyway, to find entries that can go).

Running. For each selected test and each test_data_set_*, input_<i>.pb and
output_<i>.pb (onnx.TensorProto) are mapped by position to the i-th graph
input that is not an initializer and to graph.output[i], written to in.npz /
ref.npz in a temporary directory, and

  qopt-run model.onnx --inputs in.npz --outputs out.npz \
           --compare ref.npz --rtol R --atol A --quiet

is run. --timeout (default 60 s) bounds the whole test, all its data sets
together; running past it (a hang) is a failure. qopt-run
takes one tolerance pair per run; it is the loosest one over the test's
outputs:

  float16, float32, float64   rtol 1e-3, atol 1e-7 (the ONNX backend runner's
                              values, which it uses for every float type; an
                              element fails when |got - want| > atol + rtol *
                              |want|, as in np.testing.assert_allclose)
  integer, bool               exact (rtol 0, atol 0)

--rtol/--atol override the float pair. Because a float tolerance also
reaches the integer outputs of a mixed test (TopK values + indices), the runner
re-reads out.npz and additionally requires, for every output, the reference's
shape and dtype (as the ONNX runner does), exact equality for integer/bool
outputs, and NaN exactly where the reference has NaN.

Output: one line `FAIL <test>: <reason>` per failing test (the reason is
qopt-run's first error or MISMATCH line, or what the runner's own check found), one line
`SKIP <test>: <reason>` per excluded or non-expressible test, with --verbose
also `PASS <test>` lines and the not-selected tests with their missing op types,
and finally exactly

  onnx-backend: N passed, N failed, N skipped

where skipped = not selected + excluded + not expressible. Exit status 1 when
any selected test failed, 2 on a usage error (e.g. qopt-run not found).
"""

import argparse
import concurrent.futures
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

import numpy as np
import onnx
from onnx import numpy_helper

_PRINT_LOCK = threading.Lock()


def say(line):
    """Prints one whole line; workers and the main thread never interleave."""
    with _PRINT_LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


DEFAULT_DATA_DIR = "/usr/share/libonnx-testdata/data/node"
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_EXCLUDED = os.path.join(HERE, "excluded.txt")
BUILD_QOPT_RUN = os.path.join(HERE, "..", "..", "build", "bin", "qopt-run")


def default_qopt_run():
    """qopt-run on PATH, else build/bin/qopt-run of this checkout."""
    return shutil.which("qopt-run") or os.path.normpath(BUILD_QOPT_RUN)

TP = onnx.TensorProto
FLOAT_TOL = {
    TP.FLOAT: (1e-3, 1e-7),
    TP.DOUBLE: (1e-3, 1e-7),
    TP.FLOAT16: (1e-3, 1e-7),
}
# Element types the .npz exchange cannot carry (or qopt has no dtype for).
UNEXPRESSIBLE = {
    TP.STRING: "string tensors",
    TP.BFLOAT16: "bfloat16 tensors (NumPy has no bfloat16 dtype)",
    TP.COMPLEX64: "complex tensors",
    TP.COMPLEX128: "complex tensors",
}
NON_TENSOR = {
    "sequence_type": "a sequence",
    "optional_type": "an optional",
    "map_type": "a map",
    "sparse_tensor_type": "a sparse tensor",
}


def die(message):
    """A usage or setup error: message on stderr, exit status 2."""
    sys.stderr.write(message + "\n")
    sys.exit(2)


def read_excluded(path):
    """Returns {test_name: reason} from an excluded.txt file."""
    excluded = {}
    if not os.path.exists(path):
        return excluded
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, reason = line.partition("#")
            name = name.strip()
            reason = reason.strip()
            if not sep or not reason or len(name.split()) != 1:
                die("%s:%d: error: expected 'test_name  # reason', got %r"
                         % (path, lineno, line))
            if name in excluded:
                die("%s:%d: error: '%s' is listed twice"
                         % (path, lineno, name))
            excluded[name] = reason
    return excluded


def list_supported_ops(qopt_run):
    """Returns the set printed by `qopt-run --list-onnx-ops`."""
    try:
        proc = subprocess.run([qopt_run, "--list-onnx-ops"],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        die("run_backend_tests.py: error: cannot run '%s "
                 "--list-onnx-ops': %s" % (qopt_run, e))
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or ["(no stderr)"])[0]
        die("run_backend_tests.py: error: '%s --list-onnx-ops' exited "
                 "with %d: %s" % (qopt_run, proc.returncode, first))
    ops = {line.strip() for line in proc.stdout.splitlines() if line.strip()}
    if not ops:
        die("run_backend_tests.py: error: '%s --list-onnx-ops' printed "
                 "no op types" % qopt_run)
    return ops


def graph_op_keys(graph):
    """Op keys of every node in `graph` and in its nested subgraphs."""
    keys = set()
    for node in graph.node:
        if node.domain in ("", "ai.onnx"):
            keys.add(node.op_type)
        else:
            keys.add("%s.%s" % (node.domain, node.op_type))
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                keys |= graph_op_keys(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    keys |= graph_op_keys(g)
    return keys


def unexpressible_reason(model):
    """Why the test's data cannot travel as .npz, or None."""
    for kind, values in (("input", model.graph.input),
                         ("output", model.graph.output)):
        for v in values:
            which = v.type.WhichOneof("value")
            if which != "tensor_type":
                return "graph %s '%s' is %s, not a tensor" % (
                    kind, v.name, NON_TENSOR.get(which, "of unknown type"))
            et = v.type.tensor_type.elem_type
            if et in UNEXPRESSIBLE:
                return "graph %s '%s' has %s" % (kind, v.name,
                                                 UNEXPRESSIBLE[et])
    return None


def tolerances(model, args):
    """(rtol, atol) for qopt-run: the loosest over the float outputs."""
    rtol, atol = 0.0, 0.0
    for v in model.graph.output:
        et = v.type.tensor_type.elem_type
        if et in FLOAT_TOL:
            r, a = FLOAT_TOL[et]
            r = args.rtol if args.rtol is not None else r
            a = args.atol if args.atol is not None else a
            rtol, atol = max(rtol, r), max(atol, a)
    return rtol, atol


def load_tensor(path):
    tensor = TP()
    with open(path, "rb") as f:
        tensor.ParseFromString(f.read())
    return np.asarray(numpy_helper.to_array(tensor))


def pb_files(data_set, prefix):
    """input_0.pb, input_1.pb, ... in numeric order (input_10 after input_9)."""
    files = glob.glob(os.path.join(data_set, prefix + "_*.pb"))
    def index(path):
        m = re.match(prefix + r"_(\d+)\.pb$", os.path.basename(path))
        return int(m.group(1)) if m else -1
    files = sorted(files, key=index)
    for i, path in enumerate(files):
        if index(path) != i:
            raise ValueError("%s: expected %s_%d.pb" % (data_set, prefix, i))
    return files


def write_npz(path, arrays):
    """Writes an uncompressed .npz. np.savez(**arrays) is not used: it takes
    names such as 'file', 'allow_pickle' or 'like' as its own arguments and
    silently drops or misreads those arrays."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, arr in arrays.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(arr),
                                          allow_pickle=False)


def to_npz(files, values, path, what):
    """Writes the tensors in `files` to `path`, keyed by graph value names."""
    if len(files) != len(values):
        raise ValueError("%d %s_*.pb files for %d graph %ss" %
                         (len(files), what, len(values), what))
    arrays = {}
    for f, v in zip(files, values):
        arrays[v.name] = load_tensor(f)
    write_npz(path, arrays)
    return arrays


def failure_line(stderr, stdout):
    """What qopt-run said went wrong: its first error line, else its first
    MISMATCH line, else its first line of output."""
    lines = [l.strip() for l in (stderr + "\n" + stdout).splitlines()
             if l.strip()]
    for marker in ("error:", "MISMATCH"):
        for line in lines:
            if marker in line:
                return line
    return lines[0] if lines else ""


def check_outputs(out_path, refs):
    """The runner's own strict check of qopt-run's outputs; None when fine."""
    if not os.path.exists(out_path):
        return "qopt-run wrote no --outputs file"
    with np.load(out_path, allow_pickle=False) as got:
        for name, ref in refs.items():
            if name not in got.files:
                return "output '%s' missing from qopt-run's outputs" % name
            out = got[name]
            if out.shape != ref.shape:
                return "output '%s': shape %s, expected %s" % (
                    name, out.shape, ref.shape)
            if out.dtype != ref.dtype:
                return "output '%s': dtype %s, expected %s" % (
                    name, out.dtype, ref.dtype)
            if ref.dtype.kind in "biu":
                if not np.array_equal(out, ref):
                    bad = int(np.count_nonzero(out != ref))
                    return ("output '%s': %d of %d integer elements differ "
                            "(exact match required)" % (name, bad, ref.size))
            elif ref.dtype.kind == "f":
                if not np.array_equal(np.isnan(out), np.isnan(ref)):
                    return "output '%s': NaN positions differ" % name
    return None


def run_test(test_dir, model, args):
    """Runs every data set of one test; returns None on success or a reason."""
    model_path = os.path.join(test_dir, "model.onnx")
    data_sets = sorted(glob.glob(os.path.join(test_dir, "test_data_set_*")))
    if not data_sets:
        return "no test_data_set_* directory"
    rtol, atol = tolerances(model, args)
    # input_<i>.pb belongs to the i-th graph input that is not an initializer.
    initializers = {t.name for t in model.graph.initializer}
    inputs = [v for v in model.graph.input if v.name not in initializers]
    deadline = time.monotonic() + args.timeout
    with tempfile.TemporaryDirectory(prefix="qopt-onnx-backend-") as tmp:
        for data_set in data_sets:
            ds = os.path.basename(data_set)
            in_npz = os.path.join(tmp, ds + ".in.npz")
            ref_npz = os.path.join(tmp, ds + ".ref.npz")
            out_npz = os.path.join(tmp, ds + ".out.npz")
            try:
                to_npz(pb_files(data_set, "input"), inputs, in_npz, "input")
                refs = to_npz(pb_files(data_set, "output"), model.graph.output,
                              ref_npz, "output")
            except (ValueError, OSError, onnx.onnx_cpp2py_export.checker.
                    ValidationError) as e:
                return "%s: cannot convert the test data: %s" % (ds, e)
            cmd = [args.qopt_run, model_path, "--inputs", in_npz,
                   "--outputs", out_npz, "--compare", ref_npz,
                   "--rtol", repr(rtol), "--atol", repr(atol), "--quiet"]
            if args.verbose:
                say("RUN " + " ".join(cmd))
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise subprocess.TimeoutExpired(cmd, args.timeout)
                proc = subprocess.run(cmd, capture_output=True, text=True,
                                      errors="replace", timeout=remaining)
            except subprocess.TimeoutExpired:
                return "%s: timed out: the test ran past %g s (hang?)" % (
                    ds, args.timeout)
            except OSError as e:
                return "%s: cannot run qopt-run: %s" % (ds, e)
            if proc.returncode != 0:
                line = failure_line(proc.stderr, proc.stdout)
                if proc.returncode < 0:
                    return "%s: qopt-run killed by signal %d%s" % (
                        ds, -proc.returncode, (": " + line) if line else "")
                return "%s: %s" % (
                    ds, line or "qopt-run exited with %d and no message"
                    % proc.returncode)
            problem = check_outputs(out_npz, refs)
            if problem:
                return "%s: %s" % (ds, problem)
    return None


def main():
    ap = argparse.ArgumentParser(
        description="Run the ONNX backend node tests against qopt-run.")
    ap.add_argument("--data-dir", default=DEFAULT_DATA_DIR,
                    help="directory of test_* folders (default: %(default)s)")
    ap.add_argument("--qopt-run", default=None,
                    help="qopt-run binary (default: qopt-run on PATH, else "
                    "build/bin/qopt-run)")
    ap.add_argument("--excluded", default=DEFAULT_EXCLUDED,
                    help="exclusion list (default: excluded.txt beside this "
                    "script)")
    ap.add_argument("-j", "--jobs", type=int, default=2,
                    help="parallel workers (default: 2)")
    ap.add_argument("--filter", default=None,
                    help="only tests whose name matches this regex "
                    "(re.search)")
    ap.add_argument("--timeout", type=float, default=60.0,
                    help="seconds per test, all data sets together; a test "
                    "running longer fails (default: 60)")
    ap.add_argument("--rtol", type=float, default=None,
                    help="override rtol for float outputs (default 1e-3)")
    ap.add_argument("--atol", type=float, default=None,
                    help="override atol for float outputs (default 1e-7)")
    ap.add_argument("--run-excluded", action="store_true",
                    help="also run the tests listed in excluded.txt")
    ap.add_argument("--verbose", action="store_true",
                    help="print passing and not-selected tests and commands")
    args = ap.parse_args()
    if args.jobs < 1:
        ap.error("-j must be at least 1")
    if args.qopt_run is None:
        args.qopt_run = default_qopt_run()

    if not os.path.isdir(args.data_dir):
        print("run_backend_tests.py: error: data dir '%s' does not exist"
              % args.data_dir, file=sys.stderr)
        return 2
    if not os.access(args.qopt_run, os.X_OK):
        print("run_backend_tests.py: error: qopt-run '%s' is not an "
              "executable file (use --qopt-run)" % args.qopt_run,
              file=sys.stderr)
        return 2
    args.qopt_run = os.path.abspath(args.qopt_run)
    name_filter = re.compile(args.filter) if args.filter else None
    excluded = read_excluded(args.excluded)
    supported = list_supported_ops(args.qopt_run)

    test_dirs = sorted(d for d in glob.glob(os.path.join(args.data_dir, "*"))
                       if os.path.isfile(os.path.join(d, "model.onnx")))
    if not test_dirs:
        print("run_backend_tests.py: error: no */model.onnx under '%s'"
              % args.data_dir, file=sys.stderr)
        return 2
    known = {os.path.basename(d) for d in test_dirs}
    for name in sorted(set(excluded) - known):
        print("warning: excluded.txt names '%s', which is not in %s"
              % (name, args.data_dir), file=sys.stderr)

    skipped = 0
    selected = []
    for test_dir in test_dirs:
        name = os.path.basename(test_dir)
        if name_filter and not name_filter.search(name):
            continue
        try:
            model = onnx.load(os.path.join(test_dir, "model.onnx"))
        except Exception as e:  # a broken model file is a failure of the data
            print("SKIP %s: cannot load model.onnx: %s" % (name, e))
            skipped += 1
            continue
        missing = graph_op_keys(model.graph) - supported
        if missing:
            skipped += 1
            if args.verbose:
                print("NOT SELECTED %s: unsupported op(s) %s"
                      % (name, ", ".join(sorted(missing))))
            continue
        if name in excluded and not args.run_excluded:
            print("SKIP %s: excluded: %s" % (name, excluded[name]))
            skipped += 1
            continue
        reason = unexpressible_reason(model)
        if reason:
            print("SKIP %s: %s" % (name, reason))
            skipped += 1
            continue
        selected.append((name, test_dir, model))

    passed = failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [(name, pool.submit(run_test, test_dir, model, args))
                   for name, test_dir, model in selected]
        for name, future in futures:
            reason = future.result()
            if reason is None:
                passed += 1
                if args.verbose:
                    note = " (listed in excluded.txt)" if name in excluded \
                        else ""
                    say("PASS %s%s" % (name, note))
            else:
                failed += 1
                say("FAIL %s: %s" % (name, reason))

    print("onnx-backend: %d passed, %d failed, %d skipped"
          % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
