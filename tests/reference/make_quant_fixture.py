#!/usr/bin/env python3
"""Writes tests/data/fixtures/quant/: what the gguf package (gguf.quants, the reference of GGUF's block formats)
makes of fixed values, for test_quant_formats to compare with bit for bit.

- values.f32: 16384 float32 values (64 rows of 256): normal(0, s) with s from 1e-3 to 30 per row, an all-zero
  block, exact halves (x.5 after scaling) to test rounding ties, and values at the edges of float16 (subnormals,
  65504, 65519, 65520, 1e5, the smallest float16 ties).
- <format>.bin for f16, bf16, q8_0, q4_0: gguf.quants.quantize(values) as bytes; <format>.dequantized.f32: the
  package's dequantize of those bytes.
- q4_k.bin, q6_k.bin: random super-blocks (random bytes, with finite float16 scales) and their .dequantized.f32:
  the package defines only the dequantization of K-quants.

Run outside CI, in a virtual environment with `pip install gguf numpy`:
    python tests/reference/make_quant_fixture.py
"""
import json
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

OUT = Path(__file__).resolve().parent.parent / "data" / "fixtures" / "quant"


def values():
    rng = np.random.default_rng(20261130)
    rows = []
    for r in range(64):
        scale = 10.0 ** rng.uniform(-3, 1.5)
        rows.append(rng.normal(0, scale, 256).astype(np.float32))
    v = np.concatenate(rows)
    v[32:64] = 0  # an all-zero block
    # Ties after Q8_0's scaling: a block whose largest value is 127 holds exact halves.
    tie = np.arange(-15.5, 16.5, 1.0, dtype=np.float32)
    tie[-1] = 127.0
    v[64:96] = tie
    # float16 edges (one block of 32)
    edges = np.array([6.0e-8, 5.96e-8, 2.98e-8, 2.9e-8, 8.9e-8, 1.0e-7, 6.1e-5, 6.09e-5, 6.104e-5, 65504.0, 65519.0,
                      65520.0, 1.0e5, -65520.0, 1.00048828125, 1.0009765625, 1.00146484375, -2.0004882812,
                      3.0e-45, -0.0, 0.333333343, 1.0e-3, 2049.0, 2051.0, 4097.0, 4099.0, -7.0e-6, 1.2e-38,
                      33.0e3, 0.1, 0.2, 0.3], dtype=np.float32)
    v[96:128] = edges
    return v


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    v = values()
    v.tofile(OUT / "values.f32")
    index = {"values": len(v), "formats": {}}
    for name, qtype in [("f16", T.F16), ("bf16", T.BF16), ("q8_0", T.Q8_0), ("q4_0", T.Q4_0)]:
        data = v
        if name in ("q8_0", "q4_0"):
            # A block scale past float16's range is not what weights hold: the block formats get every block but
            # the float16 edge block.
            data = np.concatenate([v[:96], v[128:]])
        q = quants.quantize(data.reshape(-1, 32), qtype)
        raw = np.ascontiguousarray(q).view(np.uint8).reshape(-1)
        raw.tofile(OUT / f"{name}.bin")
        back = quants.dequantize(raw.reshape(q.shape[0], -1), qtype).astype(np.float32).reshape(-1)
        back.tofile(OUT / f"{name}.dequantized.f32")
        index["formats"][name] = {"from": "values" if len(data) == len(v) else "values without the float16 edge block",
                                  "values": len(data), "bytes": int(raw.size)}
    rng = np.random.default_rng(7)
    for name, qtype, block_bytes, scale_offsets in [("q4_k", T.Q4_K, 144, [0, 2]), ("q6_k", T.Q6_K, 210, [208])]:
        blocks = rng.integers(0, 256, size=(32, block_bytes), dtype=np.uint8)
        for offset in scale_offsets:  # finite float16 scales of realistic size
            scales = (rng.normal(0, 0.01, 32)).astype(np.float16).view(np.uint8).reshape(32, 2)
            blocks[:, offset:offset + 2] = scales
        blocks.reshape(-1).tofile(OUT / f"{name}.bin")
        back = quants.dequantize(blocks, qtype).astype(np.float32).reshape(-1)
        back.tofile(OUT / f"{name}.dequantized.f32")
        index["formats"][name] = {"from": "random blocks", "values": int(back.size), "bytes": int(blocks.size)}
    (OUT / "cases.json").write_text(json.dumps(index, indent=2) + "\n")
    print(json.dumps(index))


if __name__ == "__main__":
    main()
