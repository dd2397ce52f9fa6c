"""Minimal safetensors reader/writer (the `safetensors` Python package is not installed here).

Format (https://github.com/huggingface/safetensors): an 8-byte little-endian header length N, then N
bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the raw
little-endian tensor bytes, offsets relative to the end of the header.
F32, F16 and BF16 are read into float64 torch tensors; BF16 is widened exactly by shifting its 16 bits
into the high half of a float32.
"""
import json
import struct

import numpy as np
import torch

_NP = {'F64': np.float64, 'F32': np.float32, 'F16': np.float16, 'I64': np.int64, 'I32': np.int32}


def read_safetensors(path):
    """Returns {name: torch.float64 tensor} for every tensor in the file."""
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n].decode('utf-8'))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        begin, end = info['data_offsets']
        buf = raw[base + begin: base + end]
        shape = info['shape']
        dt = info['dtype']
        if dt == 'BF16':
            u16 = np.frombuffer(buf, dtype='<u2').astype(np.uint32) << 16
            arr = u16.view(np.float32)
        elif dt in _NP:
            arr = np.frombuffer(buf, dtype=np.dtype(_NP[dt]).newbyteorder('<'))
        else:
            raise ValueError(f'{path}: tensor {name} has unsupported dtype {dt}')
        out[name] = torch.from_numpy(arr.astype(np.float64).reshape(shape))
    return out


def _encode(t, dtype):
    a = t.detach().to(torch.float32).cpu().numpy()
    if dtype == 'F32':
        return a.astype('<f4').tobytes()
    if dtype == 'F16':
        return a.astype('<f2').tobytes()
    if dtype == 'BF16':
        # Round to nearest even, as torch's .to(torch.bfloat16) does.
        b = torch.from_numpy(a.copy()).to(torch.bfloat16).view(torch.int16).numpy()
        return b.astype('<i2').tobytes()
    raise ValueError(dtype)


def write_safetensors(path, tensors, dtype='F32', metadata=None):
    """tensors: ordered {name: tensor}; every tensor is stored with `dtype` (F32, F16 or BF16)."""
    header = {}
    chunks = []
    offset = 0
    for name, t in tensors.items():
        data = _encode(t, dtype)
        header[name] = {'dtype': dtype, 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if metadata is not None:
        header['__metadata__'] = metadata
    hjson = json.dumps(header, separators=(',', ':')).encode('utf-8')
    hjson += b' ' * ((8 - len(hjson) % 8) % 8)  # keep tensor data 8-byte aligned, as the reference writer does
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(hjson)))
        f.write(hjson)
        for c in chunks:
            f.write(c)
