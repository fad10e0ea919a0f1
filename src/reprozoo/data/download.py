"""Resumable, retrying, checksum-verified download of ``http(s)://`` and ``s3://`` URLs.

Bytes go to ``<dest>.part``; a later attempt (or a later run) resumes from its size with
a ranged request. The finished file is verified against the expected sha256 *before* it
is renamed to ``dest``, so ``dest`` only ever holds verified data; a mismatching download
is deleted. S3 access uses boto3's own configuration: credentials from the environment,
``~/.aws`` or an instance role, and the endpoint from ``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL`` (read by botocore itself, which also switches to path-style
addressing for such custom endpoints, as MinIO and SeaweedFS need).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
import urllib3.exceptions
from tqdm import tqdm

from reprozoo.data.archives import extract
from reprozoo.data.checksums import normalize_sha256, sha256_file, verify_sha256
from reprozoo.errors import DownloadError

CHUNK_SIZE = 1 << 16
# First retry waits this long; each further retry doubles it, up to _BACKOFF_MAX_S.
_BACKOFF_BASE_S = 0.5
_BACKOFF_MAX_S = 30.0
# HTTP statuses worth retrying; every other non-2xx status fails at once.
_RETRYABLE_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
# S3 error codes worth retrying besides any 5xx.
_RETRYABLE_S3_CODES = frozenset({"RequestTimeout", "SlowDown", "Throttling", "ThrottlingException"})
# Plain-words causes for the S3 errors users meet most.
_S3_CAUSES = {
    "404": "object not found",
    "NoSuchKey": "object not found",
    "NoSuchBucket": "bucket not found",
    "403": "access denied",
    "AccessDenied": "access denied",
}

# One attempt at fetching a URL into a ``.part`` file: ``fetch(part, progress)``.
_Fetch = Callable[[Path, bool], None]


class _Transient(Exception):
    """A failed attempt worth retrying (connection dropped, timeout, 5xx, short body)."""


def _describe(exc: BaseException) -> str:
    """``"<ExceptionType>: <message>"`` folded onto one line, for error messages."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def download(
    url: str,
    dest: Path | str,
    *,
    sha256: str | None,
    progress: bool = True,
    timeout: float = 60,
    retries: int = 3,
) -> Path:
    """Download ``url`` to ``dest`` and return ``dest``.

    Args:
        url: ``http://``, ``https://`` or ``s3://bucket/key``.
        dest: final file path; its parent directories are created.
        sha256: expected hex digest. When given, an existing ``dest`` with this digest is
            returned without any network access, and a download that does not match is
            deleted and reported. When None, an existing ``dest`` is trusted as is.
        progress: show a tqdm bar on stderr (only when stderr is a terminal).
        timeout: seconds to wait for the connection and between received bytes.
        retries: how many more attempts after the first one fails transiently
            (connection error, timeout, HTTP 5xx/408/429, truncated body); each resumes
            from the ``.part`` file after an exponential backoff.

    Raises:
        DownloadError: one-line message naming ``url`` and the cause: unsupported scheme,
            HTTP 4xx or S3 access error (at once), retries exhausted (the ``.part`` is kept
            for the next run to resume), or sha256 mismatch (the ``.part`` is deleted).
    """
    dest = Path(dest)
    expected = normalize_sha256(sha256, source=url) if sha256 is not None else None
    fetch_into = _fetcher_for(url, timeout)
    if dest.is_file() and (expected is None or sha256_file(dest) == expected):
        return dest

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_suffix(dest.suffix + ".part")
    failures = 0
    while True:
        try:
            fetch_into(part, progress)
            break
        except _Transient as exc:
            failures += 1
            if failures > retries:
                raise DownloadError(
                    f"{url}: download failed after {failures} attempt(s): {exc} "
                    f"(partial data kept in {part}; rerun to resume)"
                ) from exc
            time.sleep(min(_BACKOFF_BASE_S * 2 ** (failures - 1), _BACKOFF_MAX_S))

    if expected is not None:
        try:
            verify_sha256(part, expected, label=url)
        except DownloadError:
            part.unlink(missing_ok=True)
            raise
    part.replace(dest)
    return dest


def fetch_archive(
    url: str,
    sha256: str | None,
    target_dir: Path | str,
    *,
    cache_dir: Path | str,
    progress: bool = True,
) -> Path:
    """Download ``url`` into ``cache_dir``, verify its sha256, and extract it into ``target_dir``.

    The cached file is named after the URL's last path component, so a second call with
    the same URL and sha256 reuses it without a request. ``target_dir`` is replaced as a
    whole only if extraction succeeds (see :func:`reprozoo.data.archives.extract`).
    Returns ``target_dir``.
    """
    archive = download(url, Path(cache_dir) / url_basename(url), sha256=sha256, progress=progress)
    target = Path(target_dir)
    extract(archive, target)
    return target


def url_basename(url: str) -> str:
    """Return the file name at the end of ``url``'s path (percent-decoded for http(s))."""
    if url.startswith("s3://"):
        name = PurePosixPath(parse_s3_url(url)[1]).name
    else:
        name = PurePosixPath(unquote(urlsplit(url).path)).name
    if name in ("", ".", ".."):
        raise DownloadError(f"{url}: cannot derive a file name from the URL path")
    return name


def parse_s3_url(url: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into ``(bucket, key)``.

    The key is taken verbatim (S3 keys may contain ``?``, ``#`` or ``%``); it must not be empty.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != "s3":
        raise DownloadError(f"{url}: not an s3:// URL")
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise DownloadError(f"{url}: S3 URL has no bucket (expected s3://bucket/key)")
    if not key or key.endswith("/"):
        raise DownloadError(f"{url}: S3 URL names no object key (expected s3://bucket/key)")
    return bucket, key


def _fetcher_for(url: str, timeout: float) -> _Fetch:
    """Return ``fetch(part, progress)`` performing one attempt for ``url``'s scheme."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        return lambda part, progress: _http_attempt(url, part, progress, timeout)
    if scheme == "s3":
        bucket, key = parse_s3_url(url)
        return _S3Fetcher(url, bucket, key, timeout)
    raise DownloadError(
        f"{url}: unsupported URL scheme {scheme or '(none)'!r} (expected http, https or s3)"
    )


def _write_chunks(
    part: Path, chunks: Iterable[bytes], *, append: bool, total: int | None, progress: bool
) -> None:
    """Write ``chunks`` to ``part`` (appending or from scratch); fail transiently if short.

    The tqdm bar counts bytes and is shown only when ``progress`` and stderr is a terminal.
    """
    with open(part, "ab" if append else "wb") as fh:
        start = fh.tell()
        with tqdm(
            total=total,
            initial=start,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=part.stem,
            disable=not progress or not sys.stderr.isatty(),
            leave=False,
        ) as bar:
            for chunk in chunks:
                fh.write(chunk)
                bar.update(len(chunk))
        size = fh.tell()
    if total is not None and size != total:
        raise _Transient(f"received {size} of {total} bytes")


def _parse_content_range(value: str | None) -> tuple[int | None, int | None]:
    """Return ``(first_byte, total)`` from a ``Content-Range`` header; None where unknown."""
    if not value or not value.startswith("bytes "):
        return None, None
    span, _, total = value[len("bytes ") :].partition("/")
    first = span.split("-", 1)[0]
    return (
        int(first) if first.isdigit() else None,
        int(total) if total.isdigit() else None,
    )


def _raw_body(resp: requests.Response) -> Iterator[bytes]:
    """Yield the body bytes exactly as sent, as they arrive.

    Unlike ``iter_content`` this keeps the bytes of a short last read when the connection
    drops, so a resume loses nothing; and it never undoes a ``Content-Encoding`` (servers
    that label ``.gz`` files ``Content-Encoding: gzip`` would otherwise corrupt them).
    """
    while chunk := resp.raw.read1(CHUNK_SIZE, decode_content=False):
        yield chunk


def _http_attempt(url: str, part: Path, progress: bool, timeout: float) -> None:
    """One HTTP(S) attempt: resume ``part`` with a Range request, or restart it on a 200."""
    offset = part.stat().st_size if part.exists() else 0
    # identity: byte ranges and the sha256 refer to the file itself, not a compressed form.
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        with requests.get(url, headers=headers, stream=True, timeout=timeout) as resp:
            status = resp.status_code
            if status == 416 and offset:
                _, total = _parse_content_range(resp.headers.get("Content-Range"))
                if total == offset:
                    return  # the previous run had already received every byte
                part.unlink()
                raise _Transient("server refused to resume the partial download (HTTP 416)")
            if status in _RETRYABLE_HTTP or status >= 500:
                raise _Transient(f"HTTP {status} {resp.reason}")
            if status not in (200, 206):
                raise DownloadError(f"{url}: HTTP {status} {resp.reason}".rstrip())
            length = resp.headers.get("Content-Length")
            if status == 206:
                first, total = _parse_content_range(resp.headers.get("Content-Range"))
                if first != offset:
                    part.unlink()
                    raise _Transient(f"server resumed at byte {first}, not {offset}")
                if total is None and length is not None and length.isdigit():
                    total = offset + int(length)
            else:
                total = int(length) if length is not None and length.isdigit() else None
            _write_chunks(
                part,
                _raw_body(resp),
                append=status == 206,
                total=total,
                progress=progress,
            )
    except requests.exceptions.SSLError as exc:
        raise DownloadError(f"{url}: TLS error: {_describe(exc)}") from exc
    except (
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
        urllib3.exceptions.HTTPError,
    ) as exc:
        raise _Transient(_describe(exc)) from exc
    except requests.exceptions.RequestException as exc:
        raise DownloadError(f"{url}: {_describe(exc)}") from exc


class _S3Fetcher:
    """One-attempt-per-call fetcher for ``s3://bucket/key`` using a lazily built boto3 client."""

    def __init__(self, url: str, bucket: str, key: str, timeout: float) -> None:
        self._url, self._bucket, self._key, self._timeout = url, bucket, key, timeout
        self._client: Any = None

    def __call__(self, part: Path, progress: bool) -> None:
        """Resume ``part`` from its size with a ranged ``get_object``."""
        import botocore.exceptions as bex

        try:
            client = self._get_client()
            head = client.head_object(Bucket=self._bucket, Key=self._key)
            total = int(head["ContentLength"])
            offset = part.stat().st_size if part.exists() else 0
            if offset == total:
                return
            if offset > total:
                part.unlink()
                offset = 0
            ranged = {"Range": f"bytes={offset}-"} if offset else {}
            body = client.get_object(Bucket=self._bucket, Key=self._key, **ranged)["Body"]
            try:
                _write_chunks(
                    part,
                    body.iter_chunks(CHUNK_SIZE),
                    append=bool(offset),
                    total=total,
                    progress=progress,
                )
            finally:
                body.close()
        except (bex.NoCredentialsError, bex.PartialCredentialsError) as exc:
            raise DownloadError(
                f"{self._url}: no usable AWS credentials ({_describe(exc)}); set "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
            ) from exc
        except bex.ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "?"))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if status >= 500 or code in _RETRYABLE_S3_CODES:
                raise _Transient(f"S3 {code} (HTTP {status})") from exc
            cause = _S3_CAUSES.get(code, "S3 request refused")
            raise DownloadError(f"{self._url}: {cause}: S3 error {code} (HTTP {status})") from exc
        except (
            bex.ConnectionError,
            bex.HTTPClientError,
            bex.IncompleteReadError,
        ) as exc:
            raise _Transient(_describe(exc)) from exc

    def _get_client(self) -> Any:
        """Build the S3 client once; botocore reads endpoint, region and credentials itself."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3",
                config=Config(
                    connect_timeout=self._timeout,
                    read_timeout=self._timeout,
                ),
            )
        return self._client
