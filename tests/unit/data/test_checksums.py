"""reprozoo.data.checksums."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from reprozoo.data.checksums import normalize_sha256, sha256_file, verify_sha256
from reprozoo.errors import DownloadError


def test_sha256_file_matches_hashlib_across_chunk_boundaries(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path, chunk=1000) == hashlib.sha256(data).hexdigest()


def test_verify_accepts_upper_case_and_whitespace(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"abc")
    verify_sha256(path, "  " + hashlib.sha256(b"abc").hexdigest().upper() + "\n")


def test_verify_mismatch_names_path_and_both_digests(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"abc")
    wrong = "0" * 64
    with pytest.raises(DownloadError) as info:
        verify_sha256(path, wrong)
    message = str(info.value)
    assert message.startswith(f"{path}: sha256 mismatch")
    assert wrong in message and hashlib.sha256(b"abc").hexdigest() in message
    assert "\n" not in message


@pytest.mark.parametrize("bad", ["", "abc", "g" * 64, "0" * 63, "sha256:" + "0" * 64])
def test_malformed_digest_is_rejected(bad: str) -> None:
    with pytest.raises(DownloadError, match=r"datasets\.yaml: invalid sha256"):
        normalize_sha256(bad, source="datasets.yaml")
