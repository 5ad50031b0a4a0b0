#!/usr/bin/python3
# ===- selftest.py - Checks run_backend_tests.py against a fake qopt-run --===#
#
# SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
#
# ===---------------------------------------------------------------------===#
"""Self-test of run_backend_tests.py's selection, exclusion and verdict logic.

Usage: /usr/bin/python3 test/onnx-backend/selftest.py

Needs no qopt binary: it writes, in a temporary directory, a small data dir in
the ONNX backend layout (model.onnx + test_data_set_*/input_*.pb, output_*.pb)
and a fake `qopt-run` (a Python script) that lists a few op types and, per
test, copies the reference to --outputs, fails with a message, hangs, crashes,
or returns wrong integers / dtypes / shapes. It then runs the runner and checks
every verdict line, the summary line and the exit status. Prints
"selftest: ok" and exits 0 on success; a failed check raises AssertionError.
"""

import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(HERE, "run_backend_tests.py")

FAKE_QOPT_RUN = r'''#!PYTHON
import os, signal, sys, time, zipfile
import numpy as np
args = sys.argv[1:]
if args == ["--list-onnx-ops"]:
    print("Relu\nTopK\nIdentity\nIf")
    sys.exit(0)
opts = {}
i = 1
while i < len(args):
    if args[i] == "--quiet":
        i += 1
        continue
    opts[args[i]] = args[i + 1]
    i += 2
test = os.path.basename(os.path.dirname(args[0]))
with open(os.environ["SELFTEST_LOG"], "a") as log:
    log.write("%s %s %s\n" % (test, opts["--rtol"], opts["--atol"]))
inputs = dict(np.load(opts["--inputs"]))
ref = dict(np.load(opts["--compare"]))
if test == "test_relu_error":
    sys.stderr.write("model.onnx: error: boom\nsecond line\n")
    sys.exit(1)
if test == "test_relu_hang":
    time.sleep(60)
if test == "test_relu_crash":
    os.kill(os.getpid(), signal.SIGSEGV)
if test == "test_relu_no_outputs":
    sys.exit(0)
if test == "test_topk_bad_index":
    ref["indices"] = ref["indices"] + 1
if test == "test_relu_dtype":
    ref = {k: v.astype(np.float64) for k, v in ref.items()}
if test == "test_relu_shape":
    ref = {k: v.reshape(-1) for k, v in ref.items()}
if test == "test_relu_like":
    assert "like" in inputs, sorted(inputs)
with zipfile.ZipFile(opts["--outputs"], "w") as zf:
    for name, arr in ref.items():
        with zf.open(name + ".npy", "w") as f:
            np.lib.format.write_array(f, arr)
'''


def save_pb(path, array, name):
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(np.asarray(array), name)
                .SerializeToString())


def add_test(data_dir, name, graph, inputs, outputs, data_sets=1):
    """Writes data_dir/name/model.onnx and its test_data_set_* folders."""
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    test_dir = os.path.join(data_dir, name)
    os.makedirs(test_dir)
    onnx.save(model, os.path.join(test_dir, "model.onnx"))
    for k in range(data_sets):
        ds = os.path.join(test_dir, "test_data_set_%d" % k)
        os.makedirs(ds)
        for i, (n, a) in enumerate(inputs):
            save_pb(os.path.join(ds, "input_%d.pb" % i), a, n)
        for i, (n, a) in enumerate(outputs):
            save_pb(os.path.join(ds, "output_%d.pb" % i), a, n)


def relu_graph(extra_inputs=()):
    return helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])] +
        list(extra_inputs),
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])


def build(data_dir):
    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    relu = ([("x", x)], [("y", np.maximum(x, 0))])
    for name in ["test_relu_ok", "test_relu_error", "test_relu_hang",
                 "test_relu_crash", "test_relu_no_outputs", "test_relu_dtype",
                 "test_relu_shape", "test_relu_excluded"]:
        add_test(data_dir, name, relu_graph(), *relu)
    add_test(data_dir, "test_relu_two_sets", relu_graph(), *relu, data_sets=2)
    # An input named like one of np.savez's keyword arguments.
    like = helper.make_tensor_value_info("like", TensorProto.DOUBLE, [1])
    add_test(data_dir, "test_relu_like", relu_graph([like]),
             relu[0] + [("like", np.zeros(1))], relu[1])

    topk = helper.make_graph(
        [helper.make_node("TopK", ["x", "k"], ["values", "indices"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4]),
         helper.make_tensor_value_info("k", TensorProto.INT64, [1])],
        [helper.make_tensor_value_info("values", TensorProto.FLOAT, [2]),
         helper.make_tensor_value_info("indices", TensorProto.INT64, [2])])
    t_in = [("x", np.array([1, 4, 2, 3], np.float32)),
            ("k", np.array([2], np.int64))]
    t_out = [("values", np.array([4, 3], np.float32)),
             ("indices", np.array([1, 3], np.int64))]
    add_test(data_dir, "test_topk_ok", topk, t_in, t_out)
    add_test(data_dir, "test_topk_bad_index", topk, t_in, t_out)

    sin = helper.make_graph(
        [helper.make_node("Sin", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    add_test(data_dir, "test_sin_not_selected", sin, *relu)

    # If is listed, but its branch uses Sin: not selected.
    branch = helper.make_graph(
        [helper.make_node("Sin", ["x"], ["b"])], "branch", [],
        [helper.make_tensor_value_info("b", TensorProto.FLOAT, [2, 3])])
    if_graph = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], then_branch=branch,
                          else_branch=branch)], "g",
        [helper.make_tensor_value_info("c", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    add_test(data_dir, "test_if_nested_sin", if_graph,
             [("c", np.array(True)), ("x", x)], relu[1])

    seq_type = helper.make_sequence_type_proto(
        helper.make_tensor_type_proto(TensorProto.FLOAT, [2, 3]))
    seq = helper.make_graph(
        [helper.make_node("Identity", ["s"], ["t"])], "g",
        [helper.make_value_info("s", seq_type)],
        [helper.make_value_info("t", seq_type)])
    add_test(data_dir, "test_identity_sequence", seq, [], [])


def run(cmd, log):
    env = dict(os.environ, SELFTEST_LOG=log)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                          timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def verdicts(stdout):
    """{test: (kind, reason)} from FAIL/SKIP/PASS lines."""
    out = {}
    for line in stdout.splitlines():
        m = re.match(r"(FAIL|SKIP|PASS) (\S+?)(?:: (.*)|\s.*)?$", line)
        if m:
            out[m.group(2)] = (m.group(1), m.group(3) or "")
    return out


def main():
    with tempfile.TemporaryDirectory(prefix="qopt-backend-selftest-") as tmp:
        data_dir = os.path.join(tmp, "node")
        build(data_dir)
        fake = os.path.join(tmp, "qopt-run")
        with open(fake, "w") as f:
            f.write(FAKE_QOPT_RUN.replace("PYTHON", sys.executable))
        os.chmod(fake, 0o755)
        excluded = os.path.join(tmp, "excluded.txt")
        with open(excluded, "w") as f:
            f.write("# comment\n\ntest_relu_excluded  # a deliberate limit\n")
        log = os.path.join(tmp, "log.txt")
        base = [sys.executable, RUNNER, "--data-dir", data_dir,
                "--qopt-run", fake, "--excluded", excluded, "--timeout", "3"]

        for jobs in ("1", "3"):
            rc, out, err = run(base + ["-j", jobs, "--verbose"], log)
            assert rc == 1, (rc, out, err)
            v = verdicts(out)
            expect = {
                "test_relu_ok": "PASS", "test_relu_two_sets": "PASS",
                "test_relu_like": "PASS", "test_topk_ok": "PASS",
                "test_relu_error": "FAIL", "test_relu_hang": "FAIL",
                "test_relu_crash": "FAIL", "test_relu_no_outputs": "FAIL",
                "test_relu_dtype": "FAIL", "test_relu_shape": "FAIL",
                "test_topk_bad_index": "FAIL",
                "test_relu_excluded": "SKIP", "test_identity_sequence": "SKIP",
            }
            for test, kind in expect.items():
                assert v.get(test, ("missing",))[0] == kind, (test, v, out)
            assert "test_sin_not_selected" not in v, out
            assert "test_if_nested_sin" not in v, out
            assert "NOT SELECTED test_if_nested_sin: unsupported op(s) Sin" \
                in out, out
            assert v["test_relu_error"][1].endswith("model.onnx: error: boom"), v
            assert "ran past 3 s" in v["test_relu_hang"][1] or \
                "timed out" in v["test_relu_hang"][1], v
            assert "signal 11" in v["test_relu_crash"][1], v
            assert "no --outputs" in v["test_relu_no_outputs"][1], v
            assert "dtype float64, expected float32" in \
                v["test_relu_dtype"][1], v
            assert "shape (6,), expected (2, 3)" in v["test_relu_shape"][1], v
            assert "exact match required" in v["test_topk_bad_index"][1], v
            assert "a deliberate limit" in v["test_relu_excluded"][1], v
            assert "a sequence" in v["test_identity_sequence"][1], v
            summary = out.strip().splitlines()[-1]
            assert summary == "onnx-backend: 4 passed, 7 failed, 4 skipped", \
                summary

        # Tolerances: float outputs get the float pair, integer-only exact.
        with open(log) as f:
            tol = {line.split()[0]: tuple(map(float, line.split()[1:]))
                   for line in f}
        assert tol["test_relu_ok"][0] > 0 and tol["test_relu_ok"][1] > 0, tol
        assert tol["test_topk_ok"] == tol["test_relu_ok"], tol

        rc, out, _ = run(base + ["--filter", "^test_relu_(ok|two_sets)$"], log)
        assert rc == 0, out
        assert out.strip().splitlines()[-1] == \
            "onnx-backend: 2 passed, 0 failed, 0 skipped", out

        rc, out, _ = run(base + ["--filter", "excluded", "--run-excluded"],
                         log)
        assert rc == 0 and "1 passed, 0 failed, 0 skipped" in out, out

        with open(excluded, "a") as f:
            f.write("test_no_reason\n")
        rc, _, err = run(base, log)
        assert rc == 2 and "expected 'test_name  # reason'" in err, (rc, err)

        rc, _, err = run(base[:4] + ["--qopt-run", os.path.join(tmp, "none")],
                         log)
        assert rc == 2 and "not an executable" in err, (rc, err)
    print("selftest: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
