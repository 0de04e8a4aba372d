"""What a PNG file is, read with the standard library: signature, chunk CRCs, IHDR, and
image data that inflates to exactly one filter byte plus one row of pixels per line."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel


@dataclass(frozen=True, kw_only=True)
class Png:
    width: int
    height: int
    channels: int
    filters: frozenset[int]  # the row filter types used (0-4)


def read(data: bytes) -> Png:
    """The PNG's structure; AssertionError when it is not a whole, valid 8-bit PNG."""
    assert data.startswith(SIGNATURE), "not a PNG"
    pos, chunks, idat = len(SIGNATURE), [], bytearray()
    header = b""
    while pos < len(data):
        (size,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + size]
        (crc,) = struct.unpack(">I", data[pos + 8 + size : pos + 12 + size])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r} chunk"
        chunks.append(kind)
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + size
    assert chunks[0] == b"IHDR", "IHDR must come first"
    assert chunks[-1] == b"IEND", "truncated: no IEND"
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8, f"bit depth {depth}"
    assert interlace == 0, "interlaced"
    channels = CHANNELS[colour]
    raw = zlib.decompress(bytes(idat))
    stride = width * channels + 1
    assert len(raw) == height * stride, "image data does not fill the image"
    filters = frozenset(raw[row * stride] for row in range(height))
    assert filters <= {0, 1, 2, 3, 4}, f"unknown row filter in {sorted(filters)}"
    return Png(width=width, height=height, channels=channels, filters=filters)
