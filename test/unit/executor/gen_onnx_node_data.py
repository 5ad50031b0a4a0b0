#!/usr/bin/python3
# ===- gen_onnx_node_data.py - Embed ONNX backend node tests for KernelsTest -===#
#
# SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
#
# ===------------------------------------------------------------------------===#
#
# Reads single-node tests of the ONNX backend test suite (libonnx-testdata)
# for the ops the reference kernels implement and writes them, inputs,
# attributes and expected outputs, as C++ initializers (OnnxNodeData.inc), so
# KernelsTest.cpp needs neither protobuf nor the data files at run time.
#
# Usage: /usr/bin/python3 gen_onnx_node_data.py [testdata-root] > OnnxNodeData.inc
#
# ===------------------------------------------------------------------------===#

import glob
import math
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

ROOT = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/libonnx-testdata/data/node"

OPS = {
    "MatMul", "Gemm", "Conv", "MaxPool", "AveragePool", "GlobalAveragePool",
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sqrt", "Exp", "Erf",
    "Tanh", "Sigmoid", "Relu", "Neg", "Abs", "Softmax", "LayerNormalization",
    "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "Transpose", "Concat",
    "Slice", "Gather", "Where", "Cast", "QuantizeLinear", "DequantizeLinear",
    "MatMulInteger", "ConvInteger", "DynamicQuantizeLinear", "QLinearMatMul",
    "QLinearConv",
}

# TensorProto.DataType -> qopt::DType enumerator.
DTYPES = {
    1: "F32", 2: "U8", 3: "I8", 4: "U16", 5: "I16", 6: "I32", 7: "I64",
    9: "Bool", 10: "F16", 11: "F64", 12: "U32", 13: "U64", 16: "BF16",
}

MAX_ELEMENTS = 1300  # per test, inputs + outputs

# Large tests whose variants add nothing but size (the same kernels are
# covered by the kept variants and by the unit tests).
SKIP = {
    "test_slice_default_axes", "test_slice_default_steps",
    "test_slice_negative_axes", "test_averagepool_1d_default",
    "test_maxpool_1d_default", "test_layer_normalization_4d_axis_negative_2",
    "test_layer_normalization_4d_axis_negative_3",
    "test_layer_normalization_4d_axis_negative_4",
}


def fmt_value(v, is_float, double):
    if is_float:
        v = float(v)
        if math.isnan(v):
            return "NAN"
        if math.isinf(v):
            return "INFINITY" if v > 0 else "-INFINITY"
        if v == int(v) and abs(v) < 1e15:
            return str(int(v))
        # 9 significant digits identify an f32/f16/bf16 value and lie far
        # inside its rounding interval, so parsing via double is exact.
        return repr(v) if double else "%.9g" % v
    return str(int(v))


def tensor_init(t, declared=None):
    if t is None:
        return "{false, DType::F32, {}, {}}"
    if t.data_type not in DTYPES:
        return None
    arr = numpy_helper.to_array(t)
    dt = DTYPES[t.data_type]
    # The suite stores bfloat16 data as uint16 bit patterns.
    if declared == 16 and t.data_type == 4:
        dt = "BF16"
    is_float = dt in ("F32", "F64", "F16", "BF16")
    if dt == "BF16" and arr.dtype == np.uint16:
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    flat = arr.reshape(-1)
    if not is_float and flat.size and np.max(np.abs(flat.astype(np.float64))) > 2**53:
        return None
    vals = ", ".join(fmt_value(v, is_float, dt == "F64") for v in flat)
    shape = ", ".join(str(d) for d in arr.shape)
    return "{true, DType::%s, {%s}, {%s}}" % (dt, shape, vals)


def load(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return t


def main():
    out = []
    for d in sorted(os.listdir(ROOT)):
        if d.endswith("_expanded") or d in SKIP:
            continue
        model_path = os.path.join(ROOT, d, "model.onnx")
        if not os.path.exists(model_path):
            continue
        m = onnx.load(model_path)
        if len(m.graph.node) != 1:
            continue
        node = m.graph.node[0]
        if node.op_type not in OPS:
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if "auto_pad" in attrs and attrs["auto_pad"] not in (b"NOTSET", "NOTSET"):
            continue
        if len(node.output) != len(m.graph.output):
            continue
        data_dir = os.path.join(ROOT, d, "test_data_set_0")
        inputs = {}
        for i, name in enumerate(x.name for x in m.graph.input):
            p = os.path.join(data_dir, "input_%d.pb" % i)
            if os.path.exists(p):
                inputs[name] = load(p)
        outputs = [load(p) for p in sorted(glob.glob(os.path.join(data_dir, "output_*.pb")))]
        if len(outputs) != len(node.output):
            continue
        ins = [inputs.get(name) if name else None for name in node.input]
        if any(t is None for name, t in zip(node.input, ins) if name):
            continue  # an input that is an initializer we do not read
        total = sum(numpy_helper.to_array(t).size for t in ins if t is not None)
        total += sum(numpy_helper.to_array(t).size for t in outputs)
        if total > MAX_ELEMENTS:
            continue
        declared = {v.name: v.type.tensor_type.elem_type
                    for v in list(m.graph.input) + list(m.graph.output)}
        in_inits = [tensor_init(t, declared.get(name)) for name, t in zip(node.input, ins)]
        out_inits = [tensor_init(t, declared.get(name))
                     for name, t in zip(node.output, outputs)]
        if any(x is None for x in in_inits + out_inits):
            continue
        attr_inits = []
        for k, v in sorted(attrs.items()):
            if isinstance(v, (bytes, str)):
                continue
            vals = v if isinstance(v, (list, tuple)) else [v]
            attr_inits.append('{"%s", {%s}}' % (k, ", ".join(repr(float(x)) for x in vals)))
        out.append('{"%s", "%s", {%s},\n {%s},\n {%s}},' % (
            d, node.op_type, ", ".join(attr_inits), ",\n  ".join(in_inits),
            ",\n  ".join(out_inits)))
    print("// Generated by gen_onnx_node_data.py from the ONNX backend test data")
    print("// (libonnx-testdata); do not edit. SPDX-License-Identifier: Apache-2.0")
    print("// (the ONNX test data is Apache-2.0, (c) ONNX Project Contributors).")
    print("\n".join(out))


if __name__ == "__main__":
    main()
