"""s3:// URLs: parsing, and downloads through boto3 with the local server as a path-style endpoint.

The server stands in for an S3-compatible store (MinIO, SeaweedFS): boto3 sends HEAD and
GET requests to ``<endpoint>/<bucket>/<key>`` and ignores the lack of checksum headers.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from reprozoo.data.download import download, parse_s3_url, url_basename
from reprozoo.errors import DownloadError

from .fileserver import FileServer

DATA = random.Random(11).randbytes(200_000)
SHA = hashlib.sha256(DATA).hexdigest()
BUCKET_PATH = "/datasets/pose/v1/train.tar.gz"
URL = "s3://datasets/pose/v1/train.tar.gz"


@pytest.mark.parametrize(
    ("url", "bucket", "key"),
    [
        ("s3://datasets/train.tar.gz", "datasets", "train.tar.gz"),
        ("s3://datasets/pose/v1/train.tar.gz", "datasets", "pose/v1/train.tar.gz"),
        ("S3://b/odd?name#1%20.zip", "b", "odd?name#1%20.zip"),
    ],
)
def test_parse_s3_url(url: str, bucket: str, key: str) -> None:
    assert parse_s3_url(url) == (bucket, key)


@pytest.mark.parametrize(
    ("url", "cause"),
    [
        ("s3://", "no bucket"),
        ("s3:///key.zip", "no bucket"),
        ("s3://bucket", "no object key"),
        ("s3://bucket/", "no object key"),
        ("s3://bucket/folder/", "no object key"),
        ("https://bucket/key", "not an s3:// URL"),
    ],
)
def test_parse_s3_url_rejects(url: str, cause: str) -> None:
    with pytest.raises(DownloadError, match=cause) as info:
        parse_s3_url(url)
    assert str(info.value).startswith(url)


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("s3://datasets/pose/v1/train.tar.gz", "train.tar.gz"),
        ("https://example.org/a/b/data%20set.zip?token=abc#frag", "data set.zip"),
        ("http://example.org/data.tgz", "data.tgz"),
    ],
)
def test_url_basename(url: str, name: str) -> None:
    assert url_basename(url) == name


@pytest.mark.parametrize("url", ["https://example.org/", "https://example.org/a/.."])
def test_url_basename_rejects_urls_without_a_file_name(url: str) -> None:
    with pytest.raises(DownloadError, match="cannot derive a file name"):
        url_basename(url)


@pytest.fixture
def s3_endpoint(server: FileServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FileServer:
    """Point boto3 at the local server through the environment only, with dummy credentials."""
    for var in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_SESSION_TOKEN",
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", server.base_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    server.add(BUCKET_PATH, DATA)
    return server


def test_s3_download_uses_env_endpoint_path_style(s3_endpoint: FileServer, tmp_path: Path) -> None:
    dest = tmp_path / "cache" / "train.tar.gz"
    assert download(URL, dest, sha256=SHA, progress=False) == dest
    assert dest.read_bytes() == DATA
    (get,) = s3_endpoint.gets(BUCKET_PATH)
    assert "Range" not in get.headers
    assert get.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=test-key/")
    assert not dest.with_name("train.tar.gz.part").exists()


def test_s3_resume_uses_ranged_get(s3_endpoint: FileServer, tmp_path: Path) -> None:
    dest = tmp_path / "train.tar.gz"
    s3_endpoint.drop_next(BUCKET_PATH, after=80_000)
    with pytest.raises(DownloadError, match="rerun to resume"):
        download(URL, dest, sha256=SHA, progress=False, retries=0)
    assert dest.with_name("train.tar.gz.part").stat().st_size == 80_000

    download(URL, dest, sha256=SHA, progress=False, retries=0)
    assert s3_endpoint.gets(BUCKET_PATH)[-1].headers["Range"] == "bytes=80000-"
    assert dest.read_bytes() == DATA


def test_s3_missing_object_fails_at_once(s3_endpoint: FileServer, tmp_path: Path) -> None:
    url = "s3://datasets/missing.zip"
    dest = tmp_path / "dl" / "missing.zip"
    with pytest.raises(DownloadError) as info:
        download(url, dest, sha256=SHA, progress=False, retries=3)
    assert str(info.value).startswith(f"{url}: object not found")
    assert "404" in str(info.value)
    assert len([r for r in s3_endpoint.requests if r.path == "/datasets/missing.zip"]) == 1
    assert not dest.exists() and not dest.with_name("missing.zip.part").exists()


def test_s3_tampered_object_is_deleted(s3_endpoint: FileServer, tmp_path: Path) -> None:
    dest = tmp_path / "dl" / "train.tar.gz"
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        download(URL, dest, sha256="0" * 64, progress=False)
    assert list(dest.parent.iterdir()) == []
