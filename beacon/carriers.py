"""Compact sample sets: which of a dataset's samples carry an allele.

Encoded as bytes with a one-byte tag: `S` + little-endian uint32 sample indexes (sparse: rare
alleles, a few bytes) or `D` + a little-endian bit-packed mask (dense: common alleles, n/8 bytes),
whichever is smaller. Unions over many alleles are what `/individuals` counts.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

_SPARSE = ord("S")
_DENSE = ord("D")

BoolArray = npt.NDArray[np.bool_]


def encode(mask: BoolArray) -> bytes:
    """A boolean carrier mask over the dataset's samples -> compact bytes."""
    indexes = np.flatnonzero(mask).astype("<u4")
    dense_size = (mask.size + 7) // 8
    if indexes.size * 4 <= dense_size:
        return bytes([_SPARSE]) + indexes.tobytes()
    return bytes([_DENSE]) + np.packbits(mask, bitorder="little").tobytes()


def decode(blob: bytes, samples: int) -> BoolArray:
    """Compact bytes -> boolean mask of length `samples`; raises ValueError on a bad tag."""
    return union([blob], samples)


def union(blobs: Iterable[bytes], samples: int) -> BoolArray:
    """The samples carrying at least one of the alleles, as a mask of length `samples`."""
    mask = np.zeros(samples, dtype=bool)
    for blob in blobs:
        _or_into(mask, blob)
    return mask


def union_count(blobs: Iterable[bytes], samples: int) -> int:
    """How many distinct samples carry at least one of the alleles."""
    return int(np.count_nonzero(union(blobs, samples)))


def indexes(blobs: Iterable[bytes], samples: int) -> tuple[int, ...]:
    """The indexes of the samples carrying at least one of the alleles, ascending."""
    return tuple(int(i) for i in np.flatnonzero(union(blobs, samples)))


def _or_into(mask: BoolArray, blob: bytes) -> None:
    tag, body = blob[0], blob[1:]
    if tag == _SPARSE:
        mask[np.frombuffer(body, dtype="<u4")] = True
    elif tag == _DENSE:
        bits = np.unpackbits(np.frombuffer(body, dtype=np.uint8), bitorder="little")
        mask |= bits[: mask.size].astype(bool)
    else:
        raise ValueError(f"unknown carrier encoding tag {tag!r}")
