"""A threaded loopback HTTP/1.1 server for one WSGI app: keep-alive, chunked streaming, no Nagle.

wsgiref's server speaks HTTP/1.0 and closes every connection, while the vendors keep
connections alive and our clients pool them; so this gateway adapts :mod:`http.server` to call
a WSGI app instead. A body of unknown length goes out chunked, one chunk per item the app
yields, so a big synthetic file streams. :class:`~devkit.sandbox.wsgi.DropConnection` raised by
the app closes the socket without an answer.
"""

from __future__ import annotations

import io
import logging
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit
from wsgiref.types import WSGIApplication, WSGIEnvironment

from devkit.sandbox.wsgi import DropConnection

__all__ = ["WSGIServer"]

log = logging.getLogger(__name__)

_ExcInfo = tuple[type[BaseException], BaseException, Any] | tuple[None, None, None]


class WSGIServer(ThreadingHTTPServer):
    """Serves ``app`` on ``address``, a thread per connection; ``serve_forever`` as usual."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: WSGIApplication) -> None:
        super().__init__(address, _Gateway)
        self.app = app

    @property
    def root(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Gateway(BaseHTTPRequestHandler):
    server: WSGIServer
    protocol_version = "HTTP/1.1"  # keep-alive, like the vendors; lets clients pool connections
    # Headers and body go out in separate writes; with Nagle on, a kept-alive connection waits
    # for the client's delayed ACK (~40 ms) on every answer.
    disable_nagle_algorithm = True
    server_version = "adops-sandbox/1"

    def _serve(self) -> None:
        self._status: tuple[str, list[tuple[str, str]]] | None = None
        self._headers_sent = False
        self._chunked = False
        try:
            result = self.server.app(self._environ(), self._start_response)
        except DropConnection:
            self.close_connection = True
            return
        except Exception:
            log.exception("sandbox WSGI app failed on %s %s", self.command, self.path)
            self._fail()
            return
        try:
            for chunk in result:
                if chunk:
                    self._send_headers(final=False)
                    self._send_body(chunk)
            self._send_headers(final=True)
            if self._chunked:
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            raise
        except DropConnection:
            self.close_connection = True
        except Exception:
            log.exception("sandbox WSGI body failed on %s %s", self.command, self.path)
            self._fail()
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def _environ(self) -> WSGIEnvironment:
        parts = urlsplit(self.path)
        host, port = self.server.server_address[:2]
        environ: WSGIEnvironment = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(parts.path, "latin-1"),
            "QUERY_STRING": parts.query,
            "SERVER_NAME": str(host),
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            # Read in full up front: a body the app leaves unread would be taken for the next
            # request on this kept-alive connection.
            "wsgi.input": io.BytesIO(self._read_body()),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            environ["CONTENT_LENGTH"] = str(len(environ["wsgi.input"].getvalue()))
        return environ

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: _ExcInfo | None = None
    ) -> Any:
        if exc_info is not None and exc_info[1] is not None and self._headers_sent:
            raise exc_info[1].with_traceback(exc_info[2])
        self._status = (status, list(headers))
        return self._legacy_write

    def _legacy_write(self, data: bytes) -> None:
        # WSGI's write() callable: the same path as a chunk the app yields.
        if data:
            self._send_headers(final=False)
            self._send_body(data)

    def _send_headers(self, *, final: bool) -> None:
        if self._headers_sent:
            return
        if self._status is None:
            raise RuntimeError("the WSGI app did not call start_response")
        status, headers = self._status
        code, _, phrase = status.partition(" ")
        self.send_response(int(code), phrase or None)
        for name, value in headers:
            self.send_header(name, value)
        if self.command != "HEAD" and not any(name.lower() == "content-length" for name, _ in headers):
            if final:  # the whole body was empty
                self.send_header("Content-Length", "0")
            elif self.request_version >= "HTTP/1.1":
                self.send_header("Transfer-Encoding", "chunked")
                self._chunked = True
            else:  # an HTTP/1.0 client learns where the body ends when the connection closes
                self.close_connection = True
        self.end_headers()
        self._headers_sent = True

    def _send_body(self, chunk: bytes) -> None:
        if self.command == "HEAD":
            return
        if self._chunked:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        else:
            self.wfile.write(chunk)

    def _fail(self) -> None:
        self.close_connection = True
        if not self._headers_sent:
            self._status = ("500 Internal Server Error", [("Content-Type", "text/plain; charset=utf-8")])
            self._send_headers(final=True)

    def handle_one_request(self) -> None:
        # A client that gave up (a short timeout in a test) leaves a dead socket behind.
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("sandbox %s " + format, self.address_string(), *args)
