"""Signatures drawn on a party's own device: what a signature image and a typed name must be.

A signature arrives as a PNG data URL from a canvas. It is checked here by its bytes, not by
what the client says it is: the PNG signature, an IHDR chunk with a valid CRC and sane
dimensions, an IEND chunk at the end, and a size limit. A typed name is required too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
import zlib
from dataclasses import dataclass

from .errors import ValidationFailed
from .inputs import NUL_MESSAGE

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_SIGNATURE_BYTES = 200_000  # a finger-drawn signature on a phone canvas is 5-40 KB
MAX_SEAL_BYTES = 512_000
MAX_SIDE = 4000  # pixels; a phone canvas at 3x density is about 1200 x 600
MAX_NAME = 100
DATA_URL_PREFIX = "data:image/png;base64,"
_DATA_URL_RE = re.compile(r"^data:image/png;base64,", re.IGNORECASE)


@dataclass(frozen=True)
class Png:
    """A checked PNG: its bytes, its size and the SHA-256 of its bytes."""

    data: bytes
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def data_url(self) -> str:
        return DATA_URL_PREFIX + base64.b64encode(self.data).decode("ascii")


def check_png(data: bytes, *, field: str = "image", max_bytes: int = MAX_SIGNATURE_BYTES) -> Png:
    """`data` as a checked PNG, or ValidationFailed naming `field` and what is wrong with it."""

    def bad(code: str, message: str) -> ValidationFailed:
        return ValidationFailed(f"{field}: {message}", fields={field: code})

    if not data:
        raise bad("required", "an image is required")
    if len(data) > max_bytes:
        raise bad("too_large", f"the image is {len(data)} bytes; at most {max_bytes} are accepted")
    if not data.startswith(PNG_MAGIC):
        raise bad("not_png", "the image is not a PNG")
    if len(data) < len(PNG_MAGIC) + 25 + 12:
        raise bad("not_png", "the PNG is truncated")
    length, kind = struct.unpack(">I4s", data[8:16])
    if kind != b"IHDR" or length != 13:
        raise bad("not_png", "the PNG has no IHDR chunk first")
    body = data[16:29]
    (crc,) = struct.unpack(">I", data[29:33])
    if zlib.crc32(data[12:29]) != crc:
        raise bad("not_png", "the PNG's IHDR chunk is damaged")
    width, height = struct.unpack(">II", body[:8])
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise bad("bad_size", f"the image is {width} x {height} pixels; each side must be 1 to {MAX_SIDE}")
    if data[-12:] != b"\x00\x00\x00\x00IEND\xaeB`\x82":
        raise bad("not_png", "the PNG does not end with an IEND chunk")
    return Png(data, width, height)


def parse_png_data_url(text: object, *, field: str = "image", max_bytes: int = MAX_SIGNATURE_BYTES) -> Png:
    """A `data:image/png;base64,...` URL, decoded and checked as a PNG."""
    if not isinstance(text, str) or not text:
        raise ValidationFailed(f"{field}: a PNG data URL is required", fields={field: "required"})
    if not _DATA_URL_RE.match(text):
        raise ValidationFailed(f"{field}: must be a data:image/png;base64 URL", fields={field: "not_png"})
    encoded = text[len(DATA_URL_PREFIX) :]
    # base64 is 4/3 the size of the bytes: refuse an oversized image before decoding it.
    if len(encoded) > (max_bytes * 4) // 3 + 4:
        raise ValidationFailed(f"{field}: the image is larger than {max_bytes} bytes", fields={field: "too_large"})
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed(f"{field}: the data URL is not valid base64", fields={field: "not_png"}) from None
    return check_png(data, field=field, max_bytes=max_bytes)


def check_name(name: object, *, field: str = "name") -> str:
    """The name a signer typed: required, at most 100 characters, no NUL."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationFailed(f"{field}: type your name to sign", fields={field: "required"})
    if "\x00" in name:
        raise ValidationFailed(f"{field}: {NUL_MESSAGE}", fields={field: NUL_MESSAGE})
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        raise ValidationFailed(f"{field}: at most {MAX_NAME} characters", fields={field: "too_long"})
    return name


SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def check_sha256(value: object, *, field: str = "version_sha256") -> str:
    """A SHA-256 in lower-case hex, as the API hands them out."""
    if not isinstance(value, str) or not SHA256_RE.match(value.lower()):
        raise ValidationFailed(f"{field}: must be the 64-hex-digit SHA-256 of the version", fields={field: "invalid"})
    return value.lower()


@dataclass(frozen=True)
class SignatureInput:
    """One signature as submitted and checked: the version it is for, the typed name, the image."""

    version_sha256: str
    name: str
    image: Png

    @classmethod
    def parse(cls, version_sha256: object, name: object, image: object) -> SignatureInput:
        return cls(check_sha256(version_sha256), check_name(name), parse_png_data_url(image))
