"""Write BGZF files: gzip members of at most 64 KiB each, as htslib reads them."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

__all__ = ["BLOCK_PAYLOAD", "EOF_BLOCK", "BgzfWriter"]

# htslib's BGZF_BLOCK_SIZE: leaves room for deflate overhead within the 64 KiB cap.
BLOCK_PAYLOAD = 0xFF00

# Member header: magic, CM=deflate, FLG=FEXTRA, MTIME=0, XFL=0, OS=unknown,
# XLEN=6, then the 'BC' subfield whose 2-byte value is the member size minus one.
_HEADER = struct.Struct("<4BIBBHBBHH")
_FOOTER = struct.Struct("<II")
_MEMBER_OVERHEAD = _HEADER.size + _FOOTER.size

EOF_BLOCK = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def _member(payload: bytes | memoryview, level: int) -> bytes:
    """Compress one payload (<= BLOCK_PAYLOAD bytes) into a complete BGZF member."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    body = compressor.compress(payload) + compressor.flush()
    size = len(body) + _MEMBER_OVERHEAD
    header = _HEADER.pack(31, 139, 8, 4, 0, 0, 255, 6, 66, 67, 2, size - 1)
    footer = _FOOTER.pack(zlib.crc32(payload), len(payload))
    return header + body + footer


class BgzfWriter:
    """Buffered BGZF writer over a path; close() flushes and appends the EOF marker.

    `level` is the zlib compression level (0-9); 6 is zlib's and bgzip's default.
    """

    def __init__(self, path: Path | str, level: int = 6) -> None:
        self._file: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed by close()
        self._level = level
        self._buffer = bytearray()
        self._closed = False

    def write(self, data: bytes) -> None:
        """Buffer data and emit every full block; raises ValueError once closed."""
        if self._closed:
            raise ValueError("write to a closed BgzfWriter")
        self._buffer += data
        full = len(self._buffer) - len(self._buffer) % BLOCK_PAYLOAD
        if not full:
            return
        with memoryview(self._buffer) as view:
            for start in range(0, full, BLOCK_PAYLOAD):
                with view[start : start + BLOCK_PAYLOAD] as chunk:
                    self._file.write(_member(chunk, self._level))
        del self._buffer[:full]

    def close(self) -> None:
        """Flush the last partial block, write the EOF block and close the file; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._buffer:
                self._file.write(_member(bytes(self._buffer), self._level))
                self._buffer.clear()
            self._file.write(EOF_BLOCK)
        finally:
            self._file.close()

    def __enter__(self) -> BgzfWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
