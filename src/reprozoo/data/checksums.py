"""SHA-256 of files, computed in bounded memory, and verification against a dataset entry."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from reprozoo.errors import DownloadError

_SHA256_RE = re.compile(r"[0-9a-f]{64}")


def normalize_sha256(value: str, *, source: str) -> str:
    """Return ``value`` as 64 lower-case hex digits, or raise if it is not a sha256 digest.

    ``source`` names where the value came from (a URL, a config field) for the error message.
    Surrounding whitespace and case are ignored, so a digest pasted from ``sha256sum`` works.
    """
    digest = value.strip().lower()
    if not _SHA256_RE.fullmatch(digest):
        raise DownloadError(f"{source}: invalid sha256 {value!r}: expected 64 hexadecimal digits")
    return digest


def sha256_file(path: Path | str, chunk: int = 1 << 20) -> str:
    """Return the hex sha256 digest of the file at ``path``, reading ``chunk`` bytes at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: Path | str, expected: str, *, label: str | None = None) -> None:
    """Raise :class:`DownloadError` unless the file at ``path`` has sha256 ``expected``.

    The message starts with ``label`` when given (e.g. the URL the file came from),
    otherwise with ``path``.
    """
    where = label if label is not None else str(path)
    want = normalize_sha256(expected, source=where)
    got = sha256_file(path)
    if got != want:
        raise DownloadError(f"{where}: sha256 mismatch: expected {want}, got {got}")
