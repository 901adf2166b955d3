"""The carrier sample-set codec (beacon.carriers)."""

from __future__ import annotations

import numpy as np
import pytest

from beacon.carriers import BoolArray, decode, encode, union_count


def mask(samples: int, carriers: list[int] | range) -> BoolArray:
    out = np.zeros(samples, dtype=bool)
    out[list(carriers)] = True
    return out


def u32(*indexes: int) -> bytes:
    return b"".join(i.to_bytes(4, "little") for i in indexes)


@pytest.mark.parametrize(
    ("samples", "carriers", "blob"),
    [
        pytest.param(0, [], b"S", id="no-samples"),
        pytest.param(8, [], b"S", id="no-carriers"),
        pytest.param(1000, [], b"S", id="no-carriers-many-samples"),
        pytest.param(64, [0], b"S" + u32(0), id="one-of-64"),
        pytest.param(64, [1, 63], b"S" + u32(1, 63), id="sparse-equal-size-prefers-sparse"),
        pytest.param(64, [0, 1, 2], b"D" + bytes([0b111]) + bytes(7), id="dense-when-smaller"),
        pytest.param(1000, [999], b"S" + u32(999), id="rare-in-many"),
        pytest.param(8, range(8), b"D\xff", id="all-of-8"),
        pytest.param(10, range(10), b"D\xff\x03", id="all-of-10"),
        pytest.param(9, [8], b"D\x00\x01", id="dense-beats-4-bytes"),
        pytest.param(33, [32], b"S" + u32(32), id="sparse-4-bytes-vs-5"),
        pytest.param(1, [0], b"D\x01", id="single-sample"),
    ],
)
def test_encode(samples: int, carriers: list[int], blob: bytes) -> None:
    assert encode(mask(samples, carriers)) == blob


@pytest.mark.parametrize(
    ("samples", "carriers"),
    [
        (0, []),
        (1, []),
        (1, [0]),
        (7, [6]),
        (8, range(8)),
        (9, [0, 8]),
        (64, [1, 63]),
        (64, [0, 1, 2]),
        (1000, []),
        (1000, [999]),
        (1000, range(0, 1000, 7)),
        (1000, range(1000)),
        (2504, range(3, 2504, 400)),
    ],
)
def test_round_trip(samples: int, carriers: list[int]) -> None:
    original = mask(samples, carriers)
    decoded = decode(encode(original), samples)
    assert decoded.dtype == np.bool_
    assert decoded.tolist() == original.tolist()


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("density", [0.001, 0.03, 0.5, 1.0])
def test_round_trip_random(seed: int, density: float) -> None:
    original = np.random.default_rng(seed).random(3001) < density
    assert np.array_equal(decode(encode(original), 3001), original)


@pytest.mark.parametrize(
    ("masks", "expected"),
    [
        pytest.param([], 0, id="nothing"),
        pytest.param([[]], 0, id="one-empty"),
        pytest.param([[1, 63]], 2, id="one-sparse"),
        pytest.param([[0, 1, 2]], 3, id="one-dense"),
        pytest.param([[1, 63], [0, 1, 2]], 4, id="sparse-and-dense-overlapping"),
        pytest.param([[0, 1, 2], [0, 1, 2]], 3, id="same-allele-twice"),
        pytest.param([[5], [6], [7]], 3, id="disjoint-sparse"),
        pytest.param([range(64), [1, 63]], 64, id="all-carriers"),
        pytest.param([range(0, 64, 2), range(1, 64, 2)], 64, id="two-dense-halves"),
    ],
)
def test_union_count(masks: list[list[int]], expected: int) -> None:
    blobs = [encode(mask(64, carriers)) for carriers in masks]
    assert union_count(blobs, 64) == expected


def test_union_count_mixes_encodings() -> None:
    blobs = [encode(mask(64, [1, 63])), encode(mask(64, [0, 1, 2]))]
    assert [blob[:1] for blob in blobs] == [b"S", b"D"]
    assert union_count(iter(blobs), 64) == 4


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"X" + u32(1), "unknown carrier encoding tag 88"),
        (b"s" + u32(1), "unknown carrier encoding tag 115"),
        (b"\x00", "unknown carrier encoding tag 0"),
    ],
)
def test_bad_tag(blob: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        decode(blob, 64)
    with pytest.raises(ValueError, match=f"^{message}$"):
        union_count([encode(mask(64, [1])), blob], 64)
