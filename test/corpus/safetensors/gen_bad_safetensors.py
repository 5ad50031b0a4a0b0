#!/usr/bin/python3
# ===- gen_bad_safetensors.py - Malformed safetensors corpus ---------------===#
#
# SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
#
# ===---------------------------------------------------------------------===#
"""Writes one tiny malformed .safetensors file per format rule, plus
EXPECTED.txt mapping each file to a substring its error message must contain.

The files are committed next to this script; rerun it after changing a rule:
    /usr/bin/python3 test/corpus/safetensors/gen_bad_safetensors.py
Output is deterministic. Every file is at most a few hundred bytes.
"""

import argparse
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def raw(header_bytes, data=b"", length=None):
    """8-byte little-endian length (default: len(header)), header, data."""
    n = len(header_bytes) if length is None else length
    return struct.pack("<Q", n) + header_bytes + data


def js(obj):
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def entry(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape),
            "data_offsets": list(offsets)}


# (file stem, bytes, expected substring). Tensors are called "w", "a", "b".
CASES = [
    # --- framing --------------------------------------------------------
    ("file_too_small", b"\x08\x00\x00\x00",
     "file is too small (4 bytes)"),
    ("header_too_big", raw(b"{}", length=100 * 1000 * 1000 + 1),
     "header length 100000001 exceeds the limit of 100000000 bytes"),
    ("header_beyond_eof", raw(b"{}", length=1000),
     "header length 1000 extends past the end of the file"),
    ("invalid_utf8", raw(b'{"w\xff":' + js(entry()) + b"}", b"\0" * 8),
     "header is not valid UTF-8"),
    ("not_json", raw(b'{"w": {"dtype": "F32",'),
     "header is not valid JSON"),
    ("json_not_object", raw(b"[1, 2, 3]"),
     "header is not a JSON object"),
    ("deep_nesting", raw(b"[" * 65 + b"]" * 65),
     "header JSON nests deeper than 64 levels"),
    # --- keys -----------------------------------------------------------
    ("duplicate_key",
     raw(b'{"w":' + js(entry()) + b',"w":' + js(entry()) + b"}", b"\0" * 8),
     "duplicate key 'w' in the header"),
    ("duplicate_key_escaped",
     raw(b'{"w":' + js(entry()) + b',"\\u0077":' + js(entry()) + b"}",
         b"\0" * 8),
     "duplicate key 'w' in the header"),
    ("duplicate_field",
     raw(b'{"w":{"dtype":"F32","dtype":"F32","shape":[2],'
         b'"data_offsets":[0,8]}}', b"\0" * 8),
     "tensor 'w': duplicate key 'dtype' in its entry"),
    # --- tensor entries -------------------------------------------------
    ("entry_not_object", raw(js({"w": [1, 2]})),
     "tensor 'w': entry is not a JSON object"),
    ("missing_field",
     raw(js({"w": {"dtype": "F32", "data_offsets": [0, 8]}}), b"\0" * 8),
     "tensor 'w': missing field 'shape'"),
    ("extra_field",
     raw(js({"w": dict(entry(), extra=1)}), b"\0" * 8),
     "tensor 'w': unexpected field 'extra'"),
    ("dtype_not_string", raw(js({"w": entry(dtype=32)}), b"\0" * 8),
     "tensor 'w': 'dtype' is not a string"),
    ("unknown_dtype", raw(js({"w": entry(dtype="F128")}), b"\0" * 8),
     "tensor 'w': unknown dtype 'F128'"),
    ("negative_dim", raw(js({"w": entry(shape=(-2,))}), b"\0" * 8),
     "tensor 'w': negative dimension -2"),
    ("non_integer_shape", raw(js({"w": entry(shape=(2.5,))}), b"\0" * 8),
     "tensor 'w': shape element 0 is not a non-negative integer"),
    ("shape_not_array", raw(js({"w": dict(entry(), shape="2")}), b"\0" * 8),
     "tensor 'w': 'shape' is not an array"),
    ("shape_overflow",
     raw(js({"w": entry(dtype="U8", shape=(2**32, 2**32))}), b"\0" * 8),
     "tensor 'w': shape [4294967296, 4294967296] overflows"),
    ("bytes_overflow",
     raw(js({"w": entry(dtype="I64", shape=(2**31, 2**31))}), b"\0" * 8),
     "byte size does not fit in 64 bits"),
    ("size_mismatch", raw(js({"w": entry(shape=(3,))}), b"\0" * 8),
     "tensor 'w': byte size mismatch: shape [3] of F32 needs 12 bytes but "
     "data_offsets [0, 8] span 8"),
    ("sub_byte_dtype",
     raw(js({"w": entry(dtype="F4", shape=(3,), offsets=(0, 1))}), b"\0"),
     "tensor 'w': shape [3] of F4 does not fill a whole number of bytes"),
    ("offsets_wrong_length",
     raw(js({"w": entry(offsets=(0, 8, 16))}), b"\0" * 8),
     "tensor 'w': 'data_offsets' must have exactly 2 elements, has 3"),
    ("offsets_negative",
     raw(js({"w": entry(offsets=(-8, 0))}), b"\0" * 8),
     "tensor 'w': 'data_offsets' elements must be non-negative integers"),
    ("offsets_reversed",
     raw(js({"w": entry(shape=(0,), offsets=(8, 0))}), b"\0" * 8),
     "tensor 'w': data_offsets begin 8 is greater than end 0"),
    # --- layout of the data buffer --------------------------------------
    ("offsets_not_zero",
     raw(js({"w": entry(offsets=(4, 12))}), b"\0" * 12),
     "tensor 'w': data does not start at offset 0"),
    ("gap",
     raw(js({"a": entry(), "b": entry(offsets=(12, 20))}), b"\0" * 20),
     "tensor 'b': gap of 4 bytes in the data buffer"),
    ("overlap",
     raw(js({"a": entry(), "b": entry(offsets=(4, 12))}), b"\0" * 12),
     "tensor 'b': data_offsets [4, 12] overlap tensor 'a'"),
    ("out_of_bounds",
     raw(js({"w": entry(shape=(4,), offsets=(0, 16))}), b"\0" * 8),
     "tensor 'w': data_offsets [0, 16] are out of bounds of the data buffer "
     "(8 bytes)"),
    ("trailing_bytes", raw(js({"w": entry()}), b"\0" * 11),
     "trailing bytes: 3 bytes of the data buffer after offset 8"),
    ("bool_value",
     raw(js({"w": entry(dtype="BOOL", shape=(3,), offsets=(0, 3))}),
         b"\x01\x00\x02"),
     "tensor 'w': BOOL element 2 has byte value 2 (must be 0 or 1)"),
    # --- __metadata__ ---------------------------------------------------
    ("metadata_not_object",
     raw(js({"__metadata__": ["format", "pt"], "w": entry()}), b"\0" * 8),
     "__metadata__ is not a JSON object"),
    ("metadata_value",
     raw(js({"__metadata__": {"format": 1}, "w": entry()}), b"\0" * 8),
     "__metadata__ value for key 'format' is not a string"),
    ("metadata_duplicate",
     raw(b'{"__metadata__":{"k":"a","k":"b"},"w":' + js(entry()) + b"}",
         b"\0" * 8),
     "duplicate key 'k' in __metadata__"),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=HERE, help="output directory")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    stems = [c[0] for c in CASES]
    assert len(stems) == len(set(stems)), "duplicate case name"
    lines = [
        "# Generated by gen_bad_safetensors.py; do not edit by hand.",
        "# <file>: <substring the error message must contain>",
    ]
    for stem, data, expected in CASES:
        name = f"bad_{stem}.safetensors"
        assert len(data) <= 512, name
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(data)
        lines.append(f"{name}: {expected}")
    with open(os.path.join(args.out, "EXPECTED.txt"), "w",
              encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
