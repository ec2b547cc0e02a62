#!/usr/bin/env python3
"""Writes tests/data/fixtures/gguf/small.gguf with the gguf package's own writer (GGUFWriter), and small.json: what
test_gguf must read from it. Metadata of every value type (and arrays of numbers and of strings), and tensors of
F32, F16, BF16, Q8_0 and Q4_K (quantized by the package where it can, random blocks for Q4_K), 1-D to 3-D.

Run outside CI, in a virtual environment with `pip install gguf numpy`:
    python tests/reference/make_gguf_fixture.py
"""
import json
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

OUT = Path(__file__).resolve().parent.parent / "data" / "fixtures" / "gguf"


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261130)
    w = gguf.GGUFWriter(str(OUT / "small.gguf"), arch="qwen3vl")
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_float32("test.f32", 0.5)
    w.add_bool("test.bool", True)
    w.add_string("test.string", "héllo, wörld")
    w.add_uint64("test.u64", 2**62 + 1)
    w.add_int64("test.i64", -(2**62) - 1)
    w.add_float64("test.f64", 1.0 / 3.0)
    w.add_array("test.ints", [1, 2, 3, 40000])
    w.add_array("test.strings", ["<|im_start|>", "Ġhello", ""])
    w.add_block_count(2)

    tensors = {}
    f32 = rng.normal(0, 1, (3, 64)).astype(np.float32)
    w.add_tensor("t.f32", f32)
    tensors["t.f32"] = {"shape": [3, 64], "type": "F32"}
    f16 = rng.normal(0, 1, (2, 5, 32)).astype(np.float16)
    w.add_tensor("t.f16", f16)
    tensors["t.f16"] = {"shape": [2, 5, 32], "type": "F16"}
    bf16 = gguf.quants.quantize(rng.normal(0, 1, (4, 32)).astype(np.float32), T.BF16)
    w.add_tensor("t.bf16", bf16, raw_dtype=T.BF16)
    tensors["t.bf16"] = {"shape": [4, 32], "type": "BF16"}
    q8_values = rng.normal(0, 0.1, (2, 64)).astype(np.float32)
    q8 = gguf.quants.quantize(q8_values, T.Q8_0)
    w.add_tensor("t.q8_0", q8, raw_dtype=T.Q8_0)
    tensors["t.q8_0"] = {"shape": [2, 64], "type": "Q8_0",
                         "dequantized": gguf.quants.dequantize(q8, T.Q8_0).reshape(-1).tolist()}
    q4k = rng.integers(0, 256, size=(1, 144), dtype=np.uint8)
    q4k[:, 0:2] = np.array([0.01], dtype=np.float16).view(np.uint8)
    q4k[:, 2:4] = np.array([0.002], dtype=np.float16).view(np.uint8)
    w.add_tensor("t.q4_k", q4k, raw_dtype=T.Q4_K)
    tensors["t.q4_k"] = {"shape": [1, 256], "type": "Q4_K",
                         "dequantized": gguf.quants.dequantize(q4k, T.Q4_K).reshape(-1).tolist()}
    w.add_tensor("t.vector", np.arange(32, dtype=np.float32))
    tensors["t.vector"] = {"shape": [32], "type": "F32"}

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    expected = {
        "metadata": {"general.architecture": "qwen3vl", "qwen3vl.block_count": 2, "test.u8": 200, "test.i8": -100,
                     "test.u16": 60000, "test.i16": -30000, "test.u32": 4000000000, "test.i32": -2000000000,
                     "test.f32": 0.5, "test.bool": True, "test.string": "héllo, wörld", "test.u64": 2**62 + 1,
                     "test.i64": -(2**62) - 1, "test.f64": 1.0 / 3.0, "test.ints": [1, 2, 3, 40000],
                     "test.strings": ["<|im_start|>", "Ġhello", ""]},
        "tensors": tensors,
        "f32_first_row": f32[0].tolist(),
    }
    (OUT / "small.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")
    print("wrote", OUT / "small.gguf", (OUT / "small.gguf").stat().st_size, "bytes")


if __name__ == "__main__":
    main()
