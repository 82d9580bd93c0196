"""The artifact storage interface, the same on the local folder and on S3 (moto)."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from minio import Minio

from webriskops.storage import LocalStorage, S3Storage, create_storage


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    """A fresh, empty store of each backend."""
    if request.param == "local":
        return create_storage({"ARTIFACTS_DIR": str(tmp_path / "artifacts")})
    settings: dict[str, Any] = request.getfixturevalue("s3_server")
    return create_storage({**settings, "S3_BUCKET": f"wro-{uuid.uuid4().hex[:12]}"})


def test_put_get_exists_list_delete(store):
    assert not store.exists("scan-runs/1/a.png")
    store.put("scan-runs/1/a.png", b"one", "image/png")
    store.put("scan-runs/1/deep/b.html", b"<p>two</p>", "text/html")
    store.put("scan-runs/10/c.png", b"three", "image/png")
    assert store.get("scan-runs/1/a.png") == b"one"
    assert store.exists("scan-runs/1/deep/b.html")
    assert sorted(store.list("scan-runs/1/")) == ["scan-runs/1/a.png", "scan-runs/1/deep/b.html"]

    store.put("scan-runs/1/a.png", b"replaced", "image/png")
    assert store.get("scan-runs/1/a.png") == b"replaced"

    store.delete("scan-runs/1/deep/b.html")
    store.delete("scan-runs/1/never-existed.png")
    assert list(store.list("scan-runs/1/")) == ["scan-runs/1/a.png"]
    with pytest.raises(KeyError):
        store.get("scan-runs/1/deep/b.html")
    assert list(store.list("scan-runs/2/")) == []
    store.ping()


def test_objects_stream_in_and_out(store):
    data = bytes(range(256)) * 40_000  # 10 MB: several chunks, and S3 multipart parts
    with tempfile.TemporaryFile() as handle:
        handle.write(data)
        handle.seek(0)
        store.put_file("scan-runs/1/big.html", handle, len(data), "text/html")
    chunks = list(store.chunks("scan-runs/1/big.html", size=1 << 20))
    assert len(chunks) >= 10
    assert b"".join(chunks) == data
    assert not [key for key in store.list("scan-runs/1/") if key != "scan-runs/1/big.html"]
    with pytest.raises(KeyError):
        next(store.chunks("scan-runs/1/missing.html"))


def test_the_s3_bucket_is_created_when_missing(s3_server):
    bucket = f"wro-{uuid.uuid4().hex[:12]}"
    client = Minio(
        s3_server["S3_ENDPOINT"],
        access_key=s3_server["S3_ACCESS_KEY"],
        secret_key=s3_server["S3_SECRET_KEY"],
        secure=False,
    )
    assert not client.bucket_exists(bucket)
    store = create_storage({**s3_server, "S3_BUCKET": bucket})
    assert isinstance(store, S3Storage)
    store.put("scan-runs/1/a.png", b"x")
    assert client.bucket_exists(bucket)
    # A second process finding the bucket already there is fine too.
    create_storage({**s3_server, "S3_BUCKET": bucket}).ping()


def test_local_keys_cannot_leave_the_folder(tmp_path: Path):
    store = LocalStorage(tmp_path / "artifacts")
    (tmp_path / "secret.txt").write_text("outside")
    with pytest.raises(KeyError):
        store.get("../secret.txt")
    with pytest.raises(KeyError):
        store.put("scan-runs/1/../../../secret.txt", b"overwrite")
    assert not store.exists("../secret.txt")
    store.delete("../secret.txt")
    assert (tmp_path / "secret.txt").read_text() == "outside"


def test_local_delete_removes_emptied_folders(tmp_path: Path):
    store = LocalStorage(tmp_path / "artifacts")
    store.put("scan-runs/7/page-0/shot.png", b"x")
    store.delete("scan-runs/7/page-0/shot.png")
    assert not (tmp_path / "artifacts" / "scan-runs").exists()
    assert (tmp_path / "artifacts").is_dir()
