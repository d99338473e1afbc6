"""Read the ILSVRC-2012 devkit's ``meta.mat`` without SciPy: a minimal MATLAB v5 reader.

The devkit numbers its 1000 classes by ILSVRC2012 ID (1 = n02119789 "kit fox", not the
sorted-wnid order), and only ``meta.mat`` says which wnid each ID is. This reader handles
what that file uses: compressed elements, structs, cells, char and numeric arrays.
Format: MathWorks, "MAT-File Format", version 5 (the level-5 MAT-file chapter).
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from tinyalex.data.errors import DataError

MI_MATRIX, MI_COMPRESSED = 14, 15
MI_UTF8, MI_UTF16 = 16, 17
# Data-element type -> NumPy dtype character.
MI_DTYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8",
             12: "i8", 13: "u8", MI_UTF8: "u1", MI_UTF16: "u2", 18: "u4"}
MX_CELL, MX_STRUCT, MX_CHAR = 1, 2, 4
MX_NUMERIC = set(range(6, 16))


class MatReader:
    """Walks the data elements of one level-5 MAT-file held in memory."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.path = path
        if len(data) < 128 or data[126:128] not in (b"IM", b"MI"):
            raise DataError(f"{path}: not a MATLAB level-5 MAT-file (v7.3/HDF5 is not supported)")
        self.endian = "<" if data[126:128] == b"IM" else ">"
        self.data = data

    def element(self, buf: bytes, pos: int) -> tuple[int, bytes, int]:
        """(type, payload, position of the next element) of the element at ``pos``."""
        (tag,) = struct.unpack_from(self.endian + "I", buf, pos)
        if tag >> 16:  # small data element: size and type share the first four bytes
            size, kind = tag >> 16, tag & 0xFFFF
            return kind, buf[pos + 4:pos + 4 + size], pos + 8
        (size,) = struct.unpack_from(self.endian + "I", buf, pos + 4)
        end = pos + 8 + size
        if tag != MI_COMPRESSED:
            end += -size % 8
        return tag, buf[pos + 8:pos + 8 + size], end

    def numbers(self, kind: int, payload: bytes) -> np.ndarray:
        if kind not in MI_DTYPES:
            raise DataError(f"{self.path}: unsupported MAT data type {kind}")
        return np.frombuffer(payload, dtype=self.endian + MI_DTYPES[kind])

    def variables(self) -> dict[str, Any]:
        """All top-level variables by name."""
        out, pos = {}, 128
        while pos + 8 <= len(self.data):
            kind, payload, pos = self.element(self.data, pos)
            if kind == MI_COMPRESSED:
                kind, payload, _ = self.element(zlib.decompress(payload), 0)
            if kind == MI_MATRIX:
                name, value = self.matrix(payload)
                out[name] = value
        return out

    def matrix(self, buf: bytes) -> tuple[str, Any]:
        """(name, value) of an miMATRIX payload; structs become lists of dicts."""
        if not buf:
            return "", None
        _, flags, pos = self.element(buf, 0)
        mx_class = int(self.numbers(6, flags)[0]) & 0xFF
        kind, dims, pos = self.element(buf, pos)
        shape = tuple(int(d) for d in self.numbers(kind, dims))
        _, name, pos = self.element(buf, pos)
        count = int(np.prod(shape))
        if mx_class == MX_CELL:
            cells = []
            for _ in range(count):
                _, payload, pos = self.element(buf, pos)
                cells.append(self.matrix(payload)[1])
            return name.decode(), cells
        if mx_class == MX_STRUCT:
            kind, length, pos = self.element(buf, pos)
            width = int(self.numbers(kind, length)[0])
            _, raw, pos = self.element(buf, pos)
            fields = [raw[i:i + width].split(b"\0")[0].decode() for i in range(0, len(raw), width)]
            records = []
            for _ in range(count):
                record = {}
                for field in fields:
                    _, payload, pos = self.element(buf, pos)
                    record[field] = self.matrix(payload)[1]
                records.append(record)
            return name.decode(), records
        kind, real, pos = self.element(buf, pos)
        if mx_class == MX_CHAR:
            if kind == MI_UTF8:
                return name.decode(), real.decode("utf-8")
            return name.decode(), "".join(map(chr, self.numbers(kind, real)))
        if mx_class in MX_NUMERIC:
            return name.decode(), self.numbers(kind, real).reshape(shape, order="F")
        raise DataError(f"{self.path}: unsupported MATLAB array class {mx_class}")


def read_mat(path: str | Path) -> dict[str, Any]:
    """Top-level variables of a level-5 MAT-file (structs as lists of dicts, column order)."""
    path = Path(path)
    try:
        return MatReader(path.read_bytes(), path).variables()
    except DataError:
        raise
    except (struct.error, zlib.error, IndexError, ValueError) as exc:
        raise DataError(f"{path}: damaged MAT-file ({exc})") from None


def read_devkit_synsets(path: str | Path) -> dict[int, str]:
    """ILSVRC2012 ID -> wnid from the devkit's ``meta.mat`` (its ``synsets`` struct array)."""
    synsets = read_mat(path).get("synsets")
    if not isinstance(synsets, list) or not synsets or "WNID" not in synsets[0]:
        raise DataError(f"{path}: expected the devkit's 'synsets' struct with ILSVRC2012_ID and WNID")
    return {int(np.asarray(s["ILSVRC2012_ID"]).ravel()[0]): s["WNID"] for s in synsets}
