"""reprozoo.data.download.fetch_archive: download into a cache, verify, extract."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from reprozoo.data.download import fetch_archive
from reprozoo.errors import DownloadError

from .archive_builders import file_member, sample_files, sample_tar_gz, sample_zip, write_tar
from .fileserver import FileServer


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("name", ["train.tar.gz", "train.zip"])
def test_fetch_archive_downloads_verifies_extracts(
    server: FileServer, tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    build = sample_zip if name.endswith(".zip") else sample_tar_gz
    payload = build(tmp_path / name).read_bytes()
    url = server.add(f"/releases/{name}", payload) + "?download=1"
    cache, target = tmp_path / "cache", tmp_path / "data" / "raw"

    assert fetch_archive(url, _sha(payload), target, cache_dir=cache) == target

    assert (cache / name).read_bytes() == payload
    for member, data in sample_files().items():
        assert (target / member).read_bytes() == data
    assert capsys.readouterr().err == ""  # progress bar stays off when stderr is no terminal


def test_second_fetch_uses_cache_without_request(server: FileServer, tmp_path: Path) -> None:
    payload = sample_tar_gz(tmp_path / "train.tar.gz").read_bytes()
    url = server.add("/train.tar.gz", payload)
    cache, target = tmp_path / "cache", tmp_path / "raw"
    fetch_archive(url, _sha(payload), target, cache_dir=cache, progress=False)
    (target / "stray.txt").write_text("left over from an older run")
    server.requests.clear()

    fetch_archive(url, _sha(payload), target, cache_dir=cache, progress=False)

    assert server.requests == []
    assert not (target / "stray.txt").exists()
    assert (target / "dataset/labels.csv").read_bytes() == sample_files()["dataset/labels.csv"]


def test_tampered_archive_leaves_no_trace(server: FileServer, tmp_path: Path) -> None:
    genuine = sample_tar_gz(tmp_path / "genuine.tar.gz").read_bytes()
    tampered = write_tar(tmp_path / "tampered.tar.gz", [file_member("dataset/labels.csv", b"x\n")])
    url = server.add("/train.tar.gz", tampered.read_bytes())
    cache, target = tmp_path / "cache", tmp_path / "raw"

    with pytest.raises(DownloadError, match="sha256 mismatch") as info:
        fetch_archive(url, _sha(genuine), target, cache_dir=cache, progress=False)

    assert str(info.value).startswith(url)
    assert list(cache.iterdir()) == []  # neither train.tar.gz nor train.tar.gz.part
    assert not target.exists()


def test_unsafe_archive_with_right_checksum_is_not_extracted(
    server: FileServer, tmp_path: Path
) -> None:
    evil = write_tar(
        tmp_path / "evil.tar.gz", [file_member("ok.txt", b"ok"), file_member("../pwned", b"x")]
    )
    payload = evil.read_bytes()
    url = server.add("/evil.tar.gz", payload)
    target = tmp_path / "out" / "raw"

    with pytest.raises(DownloadError, match=r"unsafe member '\.\./pwned'"):
        fetch_archive(url, _sha(payload), target, cache_dir=tmp_path / "cache", progress=False)

    assert not (tmp_path / "out").exists()  # not even the target's parent was created
