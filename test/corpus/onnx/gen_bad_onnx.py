#!/usr/bin/python3
# ===- gen_bad_onnx.py - Malformed ONNX corpus -----------------------------===#
#
# SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
#
# ===---------------------------------------------------------------------===#
"""Writes one tiny malformed ONNX model per importer rule, plus EXPECTED.txt
mapping each model to a substring its (single) error line must contain.

The files are committed next to this script; rerun it after changing a rule:
    /usr/bin/python3 test/corpus/onnx/gen_bad_onnx.py
It needs Debian's python3-onnx and python3-numpy (call /usr/bin/python3).
Output is deterministic. Besides the bad_*.onnx models it writes the
external-data file ext_data.bin and the symlink ext_link.bin -> ext_data.bin
(committed as a symlink: the importer must refuse to follow it).
"""

import argparse
import os
import random

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

HERE = os.path.dirname(os.path.abspath(__file__))

EXT_DATA = "ext_data.bin"  # 32 bytes: 8 float32 values 0..7
EXT_LINK = "ext_link.bin"  # symlink to EXT_DATA


def vi(name, elem=T.FLOAT, shape=(1, 4)):
    return h.make_tensor_value_info(name, elem, list(shape)
                                    if shape is not None else None)


def model(nodes, inputs=None, outputs=None, inits=(), opset=17,
          domain=""):
    inputs = [vi("x")] if inputs is None else inputs
    outputs = [vi("y")] if outputs is None else outputs
    graph = h.make_graph(nodes, "g", inputs, outputs,
                         initializer=list(inits))
    opsets = [h.make_opsetid(domain, opset)] if opset is not None else []
    m = h.make_model(graph, opset_imports=opsets, producer_name="qopt-test")
    m.ir_version = 8
    return m.SerializeToString()


def relu_model(**kw):
    return model([h.make_node("Relu", ["x"], ["y"], name="relu")], **kw)


def external(name, location, offset=None, length=None, shape=(8,)):
    """A FLOAT initializer whose data lives in an external file."""
    t = T()
    t.name = name
    t.data_type = T.FLOAT
    t.dims.extend(shape)
    t.data_location = T.EXTERNAL
    for key, value in (("location", location), ("offset", offset),
                       ("length", length)):
        if value is not None:
            e = t.external_data.add()
            e.key = key
            e.value = str(value)
    return t


def add_model(init):
    """y = x + w with w an initializer of shape [8]."""
    return model([h.make_node("Add", ["x", init.name], ["y"], name="add")],
                 inputs=[vi("x", shape=(8,))], outputs=[vi("y", shape=(8,))],
                 inits=[init])


def raw_tensor(name, dtype, dims, raw):
    t = T()
    t.name = name
    t.data_type = dtype
    t.dims.extend(dims)
    t.raw_data = raw
    return t


def truncated():
    good = add_model(nh.from_array(np.arange(8, dtype=np.float32), "w"))
    return good[: len(good) // 2]


def garbage():
    rng = random.Random(1234)
    # 0xff starts a field with the invalid wire type 7.
    return b"\xff" + bytes(rng.randrange(256) for _ in range(95))


def string_init():
    t = T()
    t.name = "s"
    t.data_type = T.STRING
    t.dims.append(1)
    t.string_data.append(b"hello")
    return model([h.make_node("Identity", ["s"], ["y"], name="id")],
                 inputs=[], outputs=[vi("y", T.STRING, (1,))], inits=[t])


def typed_count():
    t = T()
    t.name = "w"
    t.data_type = T.FLOAT
    t.dims.append(8)
    t.float_data.extend([1.0, 2.0, 3.0])
    return add_model(t)


def int8_range():
    t = T()
    t.name = "w"
    t.data_type = T.INT8
    t.dims.append(2)
    t.int32_data.extend([1, 300])
    return model([h.make_node("Cast", ["w"], ["y"], name="cast", to=T.FLOAT)],
                 inputs=[], outputs=[vi("y", shape=(2,))], inits=[t])


def conv_1d_kernel():
    w = nh.from_array(np.ones((2, 1, 3, 3), np.float32), "w")
    return model([h.make_node("Conv", ["x", "w"], ["y"], name="conv",
                              kernel_shape=[3])],
                 inputs=[vi("x", shape=(1, 1, 5, 5))],
                 outputs=[vi("y", shape=None)], inits=[w])


# (file stem, model bytes, expected substring of the error line).
CASES = [
    # --- the file ---------------------------------------------------------
    ("empty", b"", "the file is empty"),
    ("truncated", truncated(),
     "not a valid ONNX model: the protobuf is truncated or corrupt"),
    ("garbage", garbage(),
     "not a valid ONNX model: the protobuf is truncated or corrupt"),
    ("no_default_opset", relu_model(opset=None),
     "does not import the default ONNX opset"),
    ("opset_too_new", relu_model(opset=22),
     "ONNX opset 22 is not supported"),
    # --- graph structure --------------------------------------------------
    ("undefined_input",
     model([h.make_node("Add", ["x", "nope"], ["y"], name="add")]),
     "node 'add' (Add) uses tensor 'nope', which no node, graph input or "
     "initializer defines"),
    ("cycle",
     model([h.make_node("Add", ["x", "b"], ["a"], name="n1"),
            h.make_node("Relu", ["a"], ["b"], name="n2"),
            h.make_node("Relu", ["a"], ["y"], name="n3")]),
     "the graph has a cycle: 'n1' (Add) -> 'n2' (Relu) -> 'n1' (Add)"),
    ("duplicate_output",
     model([h.make_node("Relu", ["x"], ["t"], name="r1"),
            h.make_node("Sigmoid", ["x"], ["t"], name="r2"),
            h.make_node("Relu", ["t"], ["y"], name="r3")]),
     "tensor 't' is defined twice: by node 'r1' (Relu) and by node 'r2' "
     "(Sigmoid)"),
    ("duplicate_initializer",
     model([h.make_node("Add", ["x", "w"], ["y"], name="add")],
           inits=[nh.from_array(np.ones((1, 4), np.float32), "w"),
                  nh.from_array(np.ones((1, 4), np.float32), "w")]),
     "initializer 'w' is defined twice"),
    ("undefined_output", relu_model(outputs=[vi("y"), vi("z")]),
     "graph output 'z' is not defined"),
    ("unknown_ops",
     model([h.make_node("FooOp", ["x"], ["a"], name="f1"),
            h.make_node("BarOp", ["a"], ["b"], name="b1"),
            h.make_node("FooOp", ["b"], ["y"], name="f2")]),
     "unsupported ONNX ops: FooOp (nodes: f1, f2), BarOp (nodes: b1)"),
    ("custom_domain_op",
     model([h.make_node("FusedGelu", ["x"], ["y"], name="fg",
                        domain="com.microsoft")]),
     "unsupported ONNX ops: com.microsoft.FusedGelu (nodes: fg)"),
    # --- tensors ----------------------------------------------------------
    ("raw_data_size",
     add_model(raw_tensor("w", T.FLOAT, [8], b"\0" * 20)),
     "initializer 'w' has 20 bytes of raw_data but shape [8] of FLOAT needs "
     "32"),
    ("negative_dim",
     add_model(raw_tensor("w", T.FLOAT, [-2, 4], b"")),
     "initializer 'w' has a negative dimension -2"),
    ("overflow_dims",
     add_model(raw_tensor("w", T.FLOAT, [1 << 40, 1 << 40], b"")),
     "initializer 'w': the size of shape [1099511627776, 1099511627776] "
     "overflows"),
    ("string_dtype", string_init(),
     "initializer 's' has data type STRING, which qopt does not support"),
    ("typed_data_count", typed_count(),
     "initializer 'w' has 3 float_data values but its shape needs 8"),
    ("int32_data_range", int8_range(),
     "int32_data value 300 is out of range for INT8"),
    ("string_input",
     model([h.make_node("Identity", ["x"], ["y"], name="id")],
           inputs=[vi("x", T.STRING, (2,))],
           outputs=[vi("y", T.STRING, (2,))]),
     "graph input 'x' has element type STRING"),
    ("negative_input_dim",
     relu_model(inputs=[vi("x", shape=(1, -3))]),
     "graph input 'x' has a negative dimension -3"),
    # --- external data ----------------------------------------------------
    ("ext_traversal", add_model(external("w", "../" + EXT_DATA)),
     "contains a '..' component"),
    ("ext_absolute", add_model(external("w", "/tmp/qopt_ext_data.bin")),
     "is an absolute path"),
    ("ext_missing", add_model(external("w", "no_such_file.bin")),
     "location 'no_such_file.bin' cannot be resolved"),
    ("ext_beyond_end",
     add_model(external("w", EXT_DATA, offset=16, length=32)),
     "initializer 'w' external data [16, 16 + 32) is beyond the end of "
     "'ext_data.bin' (32 bytes)"),
    ("ext_offset_beyond_end",
     add_model(external("w", EXT_DATA, offset=64)),
     "initializer 'w' external data offset 64 is beyond the end of "
     "'ext_data.bin'"),
    ("ext_length_mismatch",
     add_model(external("w", EXT_DATA, offset=0, length=16)),
     "initializer 'w' has 16 bytes of external data but shape [8] of FLOAT "
     "needs 32"),
    ("ext_symlink", add_model(external("w", EXT_LINK)),
     "goes through a symlink"),
    # --- ops --------------------------------------------------------------
    ("conv_1d_kernel", conv_1d_kernel(),
     "node 'conv' (Conv): attribute 'kernel_shape' has 1 values; only 2-D "
     "kernels are supported"),
    ("attr_wrong_type",
     model([h.make_node("Softmax", ["x"], ["y"], name="sm", axis=1.5)]),
     "node 'sm' (Softmax): attribute 'axis' must be an int, got a float"),
    ("reshape_runtime_shape",
     model([h.make_node("Reshape", ["x", "shape"], ["y"], name="rs")],
           inputs=[vi("x"), vi("shape", T.INT64, (2,))]),
     "node 'rs' (Reshape): the shape input 'shape' must be a constant"),
    ("maxpool_indices",
     model([h.make_node("MaxPool", ["x"], ["y", "idx"], name="mp",
                        kernel_shape=[2, 2])],
           inputs=[vi("x", shape=(1, 1, 4, 4))],
           outputs=[vi("y", shape=None), vi("idx", T.INT64, None)]),
     "node 'mp' (MaxPool): the Indices output (output 1, 'idx') is not "
     "supported"),
    ("softmax_coerced_axis",
     model([h.make_node("Softmax", ["x"], ["y"], name="sm", axis=1)],
           inputs=[vi("x", shape=(2, 3, 4))],
           outputs=[vi("y", shape=(2, 3, 4))], opset=11),
     "before opset 13 Softmax flattens the input to 2-D"),
    ("quantize_zero_scale",
     model([h.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], name="q")],
           outputs=[vi("y", T.UINT8)],
           inits=[nh.from_array(np.array(0.0, np.float32), "s"),
                  nh.from_array(np.array(0, np.uint8), "z")]),
     "is invalid: scales must be positive and finite"),
    ("slice_dynamic_input",
     model([h.make_node("Slice", ["x", "st", "en"], ["y"], name="sl")],
           inputs=[vi("x", shape=("N", 4))], outputs=[vi("y", shape=None)],
           inits=[nh.from_array(np.array([1], np.int64), "st"),
                  nh.from_array(np.array([3], np.int64), "en")]),
     "node 'sl' (Slice): Slice needs a static input shape"),
    ("old_opset_add",
     model([h.make_node("Add", ["x", "x"], ["y"], name="add")], opset=6),
     "node 'add' (Add): the opset 6 version of Add is not supported"),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=HERE, help="output directory")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    stems = [c[0] for c in CASES]
    assert len(stems) == len(set(stems)), "duplicate case name"

    with open(os.path.join(args.out, EXT_DATA), "wb") as f:
        f.write(np.arange(8, dtype=np.float32).tobytes())
    link = os.path.join(args.out, EXT_LINK)
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(EXT_DATA, link)

    lines = [
        "# Generated by gen_bad_onnx.py; do not edit by hand.",
        "# <file>: <substring the error message must contain>",
    ]
    for stem, data, expected in CASES:
        name = f"bad_{stem}.onnx"
        assert len(data) <= 1024, name
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(data)
        lines.append(f"{name}: {expected}")
    with open(os.path.join(args.out, "EXPECTED.txt"), "w",
              encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
