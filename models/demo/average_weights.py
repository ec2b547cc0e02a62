#!/usr/bin/env python3
"""Averages the weights of model folders of one lineage (stretches of the same run) into a new model.safetensors:
each tensor the mean of its values in the inputs, computed in fp32 and stored in the first input's dtype (bf16 rounds
to nearest, ties to even). Checkpoints along one training path lie in one basin, and their mean usually answers
better than each of them (TRAINING.md, stretch 14). Python's standard library only.
    python3 models/demo/average_weights.py OUT.safetensors A/model.safetensors B/model.safetensors [...]
"""
import json
import struct
import sys
from array import array

WIDTHS = {"F32": 4, "BF16": 2}


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise SystemExit(f"{path}: not a safetensors file (shorter than its header's length)")
    length = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + length])
    return header, memoryview(blob)[8 + length:]


def as_floats(dtype, raw):
    if dtype == "F32":
        return array("f", bytes(raw))
    halves = array("H", bytes(raw))
    return array("f", array("I", (h << 16 for h in halves)).tobytes())


def from_floats(dtype, values):
    if dtype == "F32":
        return values.tobytes()
    bits = array("I", values.tobytes())
    # Round to nearest, ties to even, as torch's bf16 conversion does (no NaNs in trained weights).
    return array("H", (((b + 0x7FFF + ((b >> 16) & 1)) >> 16) & 0xFFFF for b in bits)).tobytes()


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    out, inputs = sys.argv[1], sys.argv[2:]
    files = [read(p) for p in inputs]
    first = {k: v for k, v in files[0][0].items() if k != "__metadata__"}
    for path, (header, _) in zip(inputs[1:], files[1:]):
        tensors = {k: v for k, v in header.items() if k != "__metadata__"}
        if tensors.keys() != first.keys():
            raise SystemExit(f"{path}: other tensors than {inputs[0]} ({sorted(tensors.keys() ^ first.keys())[:3]} ...)")
        for name, entry in first.items():
            if tensors[name]["shape"] != entry["shape"]:
                raise SystemExit(f"{path}: tensor {name} has shape {tensors[name]['shape']}, {inputs[0]} {entry['shape']}")
    header, blobs, offset = {}, [], 0
    for name, entry in first.items():
        dtype = entry["dtype"]
        if dtype not in WIDTHS:
            raise SystemExit(f"{inputs[0]}: tensor {name} is {dtype}; only F32 and BF16 are averaged")
        total = None
        for h, data in files:
            begin, end = h[name]["data_offsets"]
            values = as_floats(h[name]["dtype"], data[begin:end])
            total = values if total is None else array("f", (a + b for a, b in zip(total, values)))
        mean = array("f", (v / len(files) for v in total))
        raw = from_floats(dtype, mean)
        header[name] = {"dtype": dtype, "shape": entry["shape"], "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if "__metadata__" in files[0][0]:
        header["__metadata__"] = files[0][0]["__metadata__"]
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(out, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    print(f"wrote {out}: the mean of {len(files)} models, {len(first)} tensors")


if __name__ == "__main__":
    main()
