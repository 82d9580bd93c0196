"""Reading a postback body: size limit (after gzip), media type, then JSON.

The decompressed size is what counts, and decompression stops one byte past the
limit, so a small gzip bomb costs us at most the limit in memory.
"""

from __future__ import annotations

import zlib
from typing import Any

import orjson
from flask import request

from webriskops.errors import ApiError

_CHUNK = 64 * 1024


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413, "PAYLOAD_TOO_LARGE", f"The body is over the limit of {limit} bytes (after gzip)."
    )


def read_body(limit: int) -> bytes:
    """The request body, decompressed when ``Content-Encoding: gzip``, at most ``limit`` bytes."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity", "gzip", "x-gzip"):
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "Content-Encoding must be gzip or left out.")
    gzipped = encoding in ("gzip", "x-gzip")
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)

    stream = request.stream
    raw = bytearray()
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        raw += chunk
        if len(raw) > limit:
            raise _too_large(limit)
    if not gzipped:
        return bytes(raw)
    return _gunzip(bytes(raw), limit)


def _gunzip(data: bytes, limit: int) -> bytes:
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = decompressor.decompress(data, limit + 1)
    except zlib.error:
        raise ApiError(400, "MALFORMED_JSON", "The body is not valid gzip data.") from None
    if len(out) > limit or decompressor.unconsumed_tail:
        raise _too_large(limit)
    if not decompressor.eof:
        raise ApiError(400, "MALFORMED_JSON", "The gzip body is truncated.")
    return out


def require_json_media_type() -> None:
    """Only ``application/json`` (with parameters such as charset) is accepted."""
    if request.mimetype != "application/json":
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json.")


def parse_json(body: bytes) -> Any:
    """Decode JSON or raise 400 MALFORMED_JSON (lone surrogates and deep nesting included)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ApiError(400, "MALFORMED_JSON", f"The body is not valid JSON: {error.msg}.") from None
