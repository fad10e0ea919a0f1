"""reprozoo.data.download.download over HTTP against a local server."""

from __future__ import annotations

import hashlib
import io
import random
import sys
from pathlib import Path

import pytest

from reprozoo.data.download import download
from reprozoo.errors import DownloadError

from .fileserver import FileServer

DATA = random.Random(7).randbytes(300_000)
SHA = hashlib.sha256(DATA).hexdigest()
PATH = "/files/blob.bin"


def _part(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def test_download_verifies_and_puts_file_in_place(server: FileServer, tmp_path: Path) -> None:
    url = server.add(PATH, DATA)
    dest = tmp_path / "cache" / "blob.bin"
    assert download(url, dest, sha256=SHA, progress=False) == dest
    assert dest.read_bytes() == DATA
    assert not _part(dest).exists()
    (get,) = server.gets(PATH)
    assert "Range" not in get.headers
    assert get.headers.get("Accept-Encoding") == "identity"


def test_cache_hit_makes_no_request(server: FileServer, tmp_path: Path) -> None:
    url = server.add(PATH, DATA)
    dest = tmp_path / "blob.bin"
    dest.write_bytes(DATA)
    assert download(url, dest, sha256=SHA, progress=False) == dest
    assert server.requests == []


def test_existing_file_with_wrong_digest_is_downloaded_again(
    server: FileServer, tmp_path: Path
) -> None:
    url = server.add(PATH, DATA)
    dest = tmp_path / "blob.bin"
    dest.write_bytes(b"stale content")
    download(url, dest, sha256=SHA, progress=False)
    assert dest.read_bytes() == DATA
    assert len(server.gets(PATH)) == 1


def test_resume_across_runs_uses_range(server: FileServer, tmp_path: Path) -> None:
    url = server.add(PATH, DATA)
    dest = tmp_path / "blob.bin"
    server.drop_next(PATH, after=100_000)
    with pytest.raises(DownloadError, match="rerun to resume") as info:
        download(url, dest, sha256=SHA, progress=False, retries=0)
    assert url in str(info.value)
    assert _part(dest).stat().st_size == 100_000  # every byte received is kept
    assert not dest.exists()

    download(url, dest, sha256=SHA, progress=False, retries=0)
    first, second = server.gets(PATH)
    assert "Range" not in first.headers
    assert second.headers["Range"] == "bytes=100000-"
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == SHA
    assert not _part(dest).exists()


def test_retry_within_one_call_resumes(server: FileServer, tmp_path: Path) -> None:
    url = server.add(PATH, DATA)
    dest = tmp_path / "blob.bin"
    server.drop_next(PATH, after=70_000)
    server.drop_next(PATH, after=50_000)
    download(url, dest, sha256=SHA, progress=False, retries=2)
    ranges = [g.headers.get("Range") for g in server.gets(PATH)]
    assert ranges == [None, "bytes=70000-", "bytes=120000-"]
    assert dest.read_bytes() == DATA


def test_server_ignoring_range_restarts_the_file(server: FileServer, tmp_path: Path) -> None:
    url = server.add(PATH, DATA)
    dest = tmp_path / "blob.bin"
    _part(dest).write_bytes(b"x" * 1000)  # garbage that must not end up in dest
    server.honor_range = False
    download(url, dest, sha256=SHA, progress=False)
    (get,) = server.gets(PATH)
    assert get.headers["Range"] == "bytes=1000-"
    assert dest.read_bytes() == DATA


def test_complete_part_file_is_finished_on_416(server: FileServer, tmp_path: Path) -> None:
    url = server.add(PATH, DATA)
    dest = tmp_path / "blob.bin"
    _part(dest).write_bytes(DATA)
    download(url, dest, sha256=SHA, progress=False, retries=0)
    (get,) = server.gets(PATH)
    assert get.headers["Range"] == f"bytes={len(DATA)}-"
    assert dest.read_bytes() == DATA


def test_retry_after_500(server: FileServer, tmp_path: Path) -> None:
    url = server.add(PATH, DATA)
    dest = tmp_path / "blob.bin"
    server.fail_next(PATH, 500)
    download(url, dest, sha256=SHA, progress=False, retries=1)
    assert len(server.gets(PATH)) == 2
    assert dest.read_bytes() == DATA


def test_retries_exhausted_reports_attempts_and_status(server: FileServer, tmp_path: Path) -> None:
    url = server.add(PATH, DATA)
    dest = tmp_path / "blob.bin"
    server.fail_next(PATH, 503, times=3)
    with pytest.raises(DownloadError) as info:
        download(url, dest, sha256=SHA, progress=False, retries=1)
    message = str(info.value)
    assert message.startswith(url) and "after 2 attempt(s)" in message and "HTTP 503" in message
    assert len(server.gets(PATH)) == 2
    assert not dest.exists()


@pytest.mark.parametrize("status", [404, 403])
def test_client_error_fails_at_once_with_one_line(
    server: FileServer, tmp_path: Path, status: int
) -> None:
    url = server.add(PATH, DATA)
    server.fail_next(PATH, status)
    dest = tmp_path / "blob.bin"
    with pytest.raises(DownloadError) as info:
        download(url, dest, sha256=SHA, progress=False, retries=3)
    message = str(info.value)
    assert message.startswith(f"{url}: HTTP {status}")
    assert "\n" not in message
    assert len(server.gets(PATH)) == 1
    assert not dest.exists() and not _part(dest).exists()


def test_missing_file_is_404(server: FileServer, tmp_path: Path) -> None:
    url = server.base_url + "/nope.tar.gz"
    with pytest.raises(DownloadError, match=r"/nope\.tar\.gz: HTTP 404"):
        download(url, tmp_path / "nope.tar.gz", sha256=SHA, progress=False)


def test_tampered_download_is_deleted(server: FileServer, tmp_path: Path) -> None:
    url = server.add(PATH, DATA[:-1] + b"!")
    dest = tmp_path / "blob.bin"
    with pytest.raises(DownloadError, match="sha256 mismatch") as info:
        download(url, dest, sha256=SHA, progress=False)
    assert str(info.value).startswith(url)
    assert SHA in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_malformed_sha256_fails_before_any_request(server: FileServer, tmp_path: Path) -> None:
    url = server.add(PATH, DATA)
    with pytest.raises(DownloadError, match="invalid sha256"):
        download(url, tmp_path / "blob.bin", sha256="1234", progress=False)
    assert server.requests == []


def test_connection_refused_is_retried_then_reported(tmp_path: Path) -> None:
    with FileServer() as srv:  # start and stop to get a port nothing listens on
        url = srv.base_url + "/blob.bin"
    with pytest.raises(DownloadError, match="after 2 attempt") as info:
        download(url, tmp_path / "blob.bin", sha256=SHA, progress=False, retries=1, timeout=2)
    assert str(info.value).startswith(url)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("url", ["ftp://example.org/x.tar.gz", "file:///etc/passwd", "x.tar.gz"])
def test_unsupported_scheme(tmp_path: Path, url: str) -> None:
    with pytest.raises(DownloadError, match="unsupported URL scheme"):
        download(url, tmp_path / "x", sha256=None, progress=False)
    assert list(tmp_path.iterdir()) == []


class _FakeTerminal(io.StringIO):
    """A stderr that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("progress", [True, False])
def test_progress_bar_only_when_asked_and_on_a_terminal(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, progress: bool
) -> None:
    url = server.add(PATH, DATA)
    terminal = _FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    download(url, tmp_path / "blob.bin", sha256=SHA, progress=progress)
    shown = terminal.getvalue()
    if progress:
        assert "blob.bin:" in shown  # labelled with the file name
        assert "/293k" in shown  # and sized from Content-Length (300,000 B)
    else:
        assert shown == ""
