"""Artifact storage: one small interface, an S3/MinIO backend and a local-folder backend.

Scanners upload screenshots and HTML snapshots themselves; WebRiskOps reads them
(to redact snapshots and serve them to customers), rewrites snapshots and deletes
what no run references. Keys look like ``scan-runs/<id>/…``.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

import urllib3
from flask import Flask, current_app
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error


def canonical_key(key: str) -> str:
    """``key`` without empty and ``.`` segments, with ``..`` applied (``a/./b`` -> ``a/b``).

    Ingest refuses such keys; keys stored before it did are compared in this form, so
    that two spellings of one file are never mistaken for two files.
    """
    parts: list[str] = []
    for segment in key.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if parts:
                parts.pop()
            continue
        parts.append(segment)
    return "/".join(parts)


CHUNK = 1 << 20  # bytes per read when an object is streamed


class ObjectStorage(Protocol):
    """What the app needs from artifact storage."""

    def get(self, key: str) -> bytes:
        """The object's bytes; raises KeyError when missing."""

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Create or replace an object."""

    def chunks(self, key: str, size: int = CHUNK) -> Iterator[bytes]:
        """The object's bytes, ``size`` at a time; KeyError (on first use) when missing."""

    def put_file(self, key: str, handle: BinaryIO, length: int, content_type: str) -> None:
        """Create or replace an object from ``length`` bytes of an open file, streamed."""

    def delete(self, key: str) -> None:
        """Remove an object; a missing one is not an error."""

    def delete_many(self, keys: list[str]) -> None:
        """Remove several objects (missing ones are not an error)."""

    def list(self, prefix: str) -> Iterator[str]:
        """Every key under ``prefix``."""

    def exists(self, key: str) -> bool:
        """True when the object exists."""

    def ping(self) -> None:
        """Raise when the storage cannot be reached."""


class LocalStorage:
    """Objects as files under a folder; the embedded default."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise KeyError(key)
        return path

    def get(self, key: str) -> bytes:
        """The object's bytes; raises KeyError when missing."""
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise KeyError(key) from None

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Write atomically: a reader sees the old or the new bytes, never half of them."""
        self.put_file(key, io.BytesIO(data), len(data), content_type)

    def chunks(self, key: str, size: int = CHUNK) -> Iterator[bytes]:
        """The object's bytes, ``size`` at a time; KeyError (on first use) when missing."""
        try:
            handle = self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise KeyError(key) from None
        with handle:
            while chunk := handle.read(size):
                yield chunk

    def put_file(self, key: str, handle: BinaryIO, length: int, content_type: str) -> None:
        """Copy ``handle`` in atomically: a reader sees the old or the new bytes, never half."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(handle, out, CHUNK)
        os.replace(tmp, path)

    def delete(self, key: str) -> None:
        """Remove an object, and folders it leaves empty; a missing one is not an error."""
        try:
            path = self._path(key)
            path.unlink()
        except (FileNotFoundError, KeyError):
            return
        for folder in path.parents:
            if folder == self.root or self.root not in folder.parents:
                break
            try:
                folder.rmdir()
            except OSError:  # not empty (or already gone): stop climbing
                break

    def delete_many(self, keys: list[str]) -> None:
        """Remove several objects (missing ones are not an error)."""
        for key in keys:
            self.delete(key)

    def list(self, prefix: str) -> Iterator[str]:
        """Every key under ``prefix``."""
        base = self.root / prefix.rstrip("/")
        if not base.is_dir():
            return
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.name.startswith(".tmp-"):
                yield path.relative_to(self.root).as_posix()

    def exists(self, key: str) -> bool:
        """True when the object exists."""
        try:
            return self._path(key).is_file()
        except KeyError:
            return False

    def ping(self) -> None:
        """The folder must exist and be writable."""
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK):
            raise OSError(f"{self.root} is not writable")


def _http_client(connect: float, read: float, retries: int) -> urllib3.PoolManager:
    # The SDK's default waits 5 minutes per read and retries 5 times with backoff: a
    # storage outage would hold a web thread for minutes.
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect, read=read),
        maxsize=10,
        retries=urllib3.Retry(
            total=retries, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
        ),
    )


class S3Storage:
    """Objects in an S3-compatible bucket (MinIO in production) through the ``minio`` SDK."""

    def __init__(
        self, endpoint: str, access_key: str, secret_key: str, bucket: str, secure: bool
    ) -> None:
        credentials = {"access_key": access_key, "secret_key": secret_key, "secure": secure}
        self.client = Minio(endpoint, **credentials, http_client=_http_client(2, 30, 2))
        # The readiness probe must answer within a second: short timeouts, no retries.
        self.probe_client = Minio(endpoint, **credentials, http_client=_http_client(0.5, 0.5, 0))
        self.bucket = bucket
        self._bucket_checked = False

    def _ensure_bucket(self) -> None:
        if not self._bucket_checked:
            if not self.client.bucket_exists(self.bucket):
                try:
                    self.client.make_bucket(self.bucket)
                except S3Error as error:  # created meanwhile by another process
                    if error.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
            self._bucket_checked = True

    def get(self, key: str) -> bytes:
        """The object's bytes; raises KeyError when missing."""
        return b"".join(self.chunks(key))

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Create or replace an object."""
        self.put_file(key, io.BytesIO(data), len(data), content_type)

    def chunks(self, key: str, size: int = CHUNK) -> Iterator[bytes]:
        """The object's bytes as they arrive, ``size`` at a time; KeyError when missing."""
        self._ensure_bucket()
        try:
            response = self.client.get_object(self.bucket, key)
        except S3Error as error:
            if error.code in ("NoSuchKey", "NoSuchObject"):
                raise KeyError(key) from None
            raise
        try:
            yield from response.stream(size)
        finally:
            response.close()
            response.release_conn()

    def put_file(self, key: str, handle: BinaryIO, length: int, content_type: str) -> None:
        """Upload ``length`` bytes of ``handle`` (in parts when large: the SDK streams them)."""
        self._ensure_bucket()
        self.client.put_object(self.bucket, key, handle, length, content_type=content_type)

    def delete(self, key: str) -> None:
        """Remove an object; a missing one is not an error."""
        self._ensure_bucket()
        self.client.remove_object(self.bucket, key)

    def delete_many(self, keys: list[str]) -> None:
        """Remove objects with S3's multi-object delete (up to 1000 keys per request)."""
        self._ensure_bucket()
        for start in range(0, len(keys), 1000):
            errors = self.client.remove_objects(
                self.bucket, [DeleteObject(key) for key in keys[start : start + 1000]]
            )
            for error in errors:  # lazily evaluated: iterating sends the request
                if error.code not in ("NoSuchKey", "NoSuchObject"):
                    raise OSError(f"could not delete {error.name}: {error.code}")

    def list(self, prefix: str) -> Iterator[str]:
        """Every key under ``prefix``."""
        self._ensure_bucket()
        for obj in self.client.list_objects(self.bucket, prefix=prefix, recursive=True):
            yield obj.object_name

    def exists(self, key: str) -> bool:
        """True when the object exists."""
        self._ensure_bucket()
        try:
            self.client.stat_object(self.bucket, key)
        except S3Error as error:
            if error.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                return False
            raise
        return True

    def ping(self) -> None:
        """Reach the server quickly and check that the bucket exists."""
        if not self.probe_client.bucket_exists(self.bucket):
            self._bucket_checked = False
            self._ensure_bucket()


def create_storage(config: dict) -> ObjectStorage:
    """S3 when ``WRO_S3_ENDPOINT`` is set, otherwise the local artifacts folder."""
    if config.get("S3_ENDPOINT"):
        return S3Storage(
            config["S3_ENDPOINT"],
            config["S3_ACCESS_KEY"] or "",
            config["S3_SECRET_KEY"] or "",
            config["S3_BUCKET"],
            config["S3_SECURE"],
        )
    return LocalStorage(config["ARTIFACTS_DIR"])


def init_app(app: Flask) -> None:
    """Bind the app's storage backend (no connection until first use)."""
    app.extensions["storage"] = create_storage(app.config)


def storage() -> ObjectStorage:
    """The current app's artifact storage."""
    return current_app.extensions["storage"]
