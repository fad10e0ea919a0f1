"""A small threaded HTTP file server on 127.0.0.1 for download tests.

It serves in-memory files, honours ``Range: bytes=a-[b]`` (206/416), answers HEAD (enough
for boto3's ``head_object``/``get_object`` against a path-style endpoint), records every
request, and can be told to misbehave on the next GETs of a path: answer with a status
(500, 404, ...) or send the headers for the whole body but drop the connection after N bytes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass(frozen=True)
class _Fault:
    status: int | None = None
    drop_after: int | None = None


class FileServer:
    """In-memory files served over HTTP with scripted faults; use as a context manager."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[Recorded] = []
        self.honor_range = True
        self._faults: dict[str, list[_Fault]] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.file_server = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}
        )

    @property
    def base_url(self) -> str:
        """The server's root URL, ``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self._httpd.server_port}"

    def add(self, path: str, data: bytes) -> str:
        """Serve ``data`` at ``path`` (starting with '/'); return its URL."""
        self.files[path] = data
        return self.base_url + path

    def fail_next(self, path: str, status: int, times: int = 1) -> None:
        """Answer the next ``times`` GETs of ``path`` with ``status`` and a short body."""
        with self._lock:
            self._faults.setdefault(path, []).extend([_Fault(status=status)] * times)

    def drop_next(self, path: str, after: int) -> None:
        """On the next GET of ``path``, close the connection after ``after`` body bytes."""
        with self._lock:
            self._faults.setdefault(path, []).append(_Fault(drop_after=after))

    def gets(self, path: str) -> list[Recorded]:
        """The GET requests received for ``path``, in order."""
        return [r for r in self.requests if r.method == "GET" and r.path == path]

    def take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            queue = self._faults.get(path)
            return queue.pop(0) if queue else None

    def record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def _serve(self, send_body: bool) -> None:
        state: FileServer = self.server.file_server  # type: ignore[attr-defined]
        path = unquote(urlsplit(self.path).path)
        state.record(Recorded(self.command, path, dict(self.headers.items())))
        data = state.files.get(path)
        fault = state.take_fault(path) if send_body else None
        if fault is not None and fault.status is not None:
            self._send_simple(fault.status, send_body)
            return
        if data is None:
            self._send_simple(404, send_body)
            return

        status, start, end = 200, 0, len(data)
        requested = self.headers.get("Range")
        if requested and state.honor_range and requested.startswith("bytes="):
            first, _, last = requested[len("bytes=") :].partition("-")
            start = int(first)
            end = min(int(last) + 1, len(data)) if last else len(data)
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        body = data[start:end]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", '"fixed-etag"')
        self.send_header("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        self.end_headers()
        if not send_body:
            return
        if fault is not None and fault.drop_after is not None:
            self.wfile.write(body[: fault.drop_after])
            self.close_connection = True
            return
        self.wfile.write(body)

    def _send_simple(self, status: int, send_body: bool) -> None:
        body = f"status {status}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)
