"""The sRGB ICC profile embedded in every export that can carry one (PNG, TIFF, JPEG, WebP, PSD).

Without a profile some programs guess: Krita opens a 16-bit PSD without one as linear light, so the
page looks washed out. Our pixels are sRGB, so we say so. The profile is LittleCMS's built-in sRGB
(from Pillow, 588 bytes); reading it back through LittleCMS is an exact identity for 8-bit RGB.

Helpers for the encoders Pillow does not drive: :func:`png_with_icc` inserts an ``iCCP`` chunk into
PNG bytes, :func:`tiff_with_icc` adds the ICC tag (34675) to a little- or big-endian TIFF's first IFD.
"""

from __future__ import annotations

import functools
import hashlib
import struct
import zlib

from PIL import ImageCms

__all__ = ["SRGB_PROFILE_NAME", "srgb_icc", "png_with_icc", "tiff_with_icc"]

SRGB_PROFILE_NAME = b"sRGB"
_TIFF_ICC_TAG = 34675
_TIFF_UNDEFINED = 7


#: Creation date written into the profile header (LittleCMS stamps the current time; a fixed date keeps
#: exports byte-identical from run to run).
_PROFILE_DATE = struct.pack(">6H", 2026, 1, 1, 0, 0, 0)


@functools.cache
def srgb_icc() -> bytes:
    """The sRGB ICC profile as bytes (created once; header date fixed, profile ID recomputed if set)."""
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    data[24:36] = _PROFILE_DATE
    if any(data[84:100]):  # ICC v4 profile ID: MD5 with flags, intent and the ID itself zeroed
        scratch = bytearray(data)
        scratch[44:48] = scratch[64:68] = bytes(4)
        scratch[84:100] = bytes(16)
        data[84:100] = hashlib.md5(scratch, usedforsecurity=False).digest()
    return bytes(data)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_chunk_types(data: bytes) -> set[bytes]:
    """The chunk types before the first ``IDAT`` (where colour chunks must be)."""
    types: set[bytes] = set()
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I", data[pos:pos + 4])[0], data[pos + 4:pos + 8]
        if kind == b"IDAT":
            break
        types.add(kind)
        pos += 12 + length
    return types


def png_with_icc(data: bytes, icc: bytes | None = None) -> bytes:
    """PNG bytes with an ``iCCP`` chunk (the sRGB profile by default) right after ``IHDR``.

    Raises:
        ValueError: ``data`` is not a PNG starting with IHDR, or already has a colour profile chunk.
    """
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    if _png_chunk_types(data) & {b"iCCP", b"sRGB"}:
        raise ValueError("the PNG already has a colour profile")
    ihdr_end = 8 + 8 + struct.unpack(">I", data[8:12])[0] + 4
    body = SRGB_PROFILE_NAME + b"\x00\x00" + zlib.compress(icc or srgb_icc())
    return data[:ihdr_end] + _png_chunk(b"iCCP", body) + data[ihdr_end:]


def tiff_with_icc(data: bytes, icc: bytes | None = None) -> bytes:
    """TIFF bytes whose first IFD also holds the ICC profile tag (the sRGB profile by default).

    The profile and a rewritten first IFD (its entries plus the ICC entry, sorted by tag, same
    next-IFD link) are appended; the header points at the new IFD. Nothing else moves.

    Raises:
        ValueError: not a classic TIFF, or the first IFD already has an ICC profile.
    """
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None or struct.unpack(order + "H", data[2:4])[0] != 42:
        raise ValueError("not a classic TIFF file")
    profile = icc or srgb_icc()
    ifd = struct.unpack(order + "I", data[4:8])[0]
    count = struct.unpack(order + "H", data[ifd:ifd + 2])[0]
    entries = [data[ifd + 2 + 12 * i: ifd + 14 + 12 * i] for i in range(count)]
    next_ifd = data[ifd + 2 + 12 * count: ifd + 6 + 12 * count]
    if any(struct.unpack(order + "H", e[:2])[0] == _TIFF_ICC_TAG for e in entries):
        raise ValueError("the TIFF already has a colour profile")
    out = bytearray(data)
    if len(out) % 2:
        out += b"\x00"  # TIFF offsets are word-aligned
    profile_at = len(out)
    out += profile
    if len(out) % 2:
        out += b"\x00"
    entries.append(struct.pack(order + "HHII", _TIFF_ICC_TAG, _TIFF_UNDEFINED, len(profile), profile_at))
    entries.sort(key=lambda e: struct.unpack(order + "H", e[:2])[0])
    new_ifd = len(out)
    out += struct.pack(order + "H", len(entries)) + b"".join(entries) + next_ifd
    out[4:8] = struct.pack(order + "I", new_ifd)
    return bytes(out)
