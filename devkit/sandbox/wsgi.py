"""The sandbox's WSGI edge: a WSGI environ becomes a :class:`Request`, a :class:`Response` a WSGI answer.

Also the two ways a request can end without an answer. WSGI has no word for either, so the
sandbox raises them out of its WSGI callable and each front end turns them into what its
clients would see: the loopback server (:mod:`devkit.sandbox.httpd`) closes the socket, the
in-process transport (:mod:`devkit.sandbox.mount`) raises the matching httpx error.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from urllib.parse import parse_qs, quote
from wsgiref.types import StartResponse, WSGIEnvironment

from devkit.sandbox.base import Headers, Request, Response

__all__ = ["READ_TIMEOUT_KEY", "DropConnection", "ReadTimeoutElapsed", "request_from_environ", "root_url", "to_wsgi"]

#: Environ key the in-process transport sets to the client's read timeout (seconds or None):
#: without a socket nothing else can stop a held answer when the client would have given up.
READ_TIMEOUT_KEY = "adops.sandbox.read_timeout"


class DropConnection(Exception):
    """End the exchange without an answer, like a server going away (a held answer while stopping)."""


class ReadTimeoutElapsed(Exception):
    """An answer was held past the in-process client's read timeout: the client times out."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no answer within the client's read timeout of {seconds:g} s")
        self.seconds = seconds


def _text(native: str) -> str:
    # PEP 3333 carries the path as latin-1 "bytes in a str"; httpx's WSGITransport hands over
    # the decoded path instead, which latin-1 cannot always encode.
    try:
        return native.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return native


def root_url(environ: WSGIEnvironment) -> str:
    """Scheme, host and mount point the client used (PEP 3333's URL reconstruction, less the path)."""
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST")
    if not host:
        host = environ.get("SERVER_NAME", "localhost")
        port = str(environ.get("SERVER_PORT", ""))
        if port and port != {"http": "80", "https": "443"}.get(scheme):
            host = f"{host}:{port}"
    return f"{scheme}://{host}{quote(_text(environ.get('SCRIPT_NAME', '')))}"


def request_from_environ(environ: WSGIEnvironment) -> Request:
    headers = Headers(
        ((key[5:] if key.startswith("HTTP_") else key).replace("_", "-"), str(value))
        for key, value in environ.items()
        if key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH")
    )
    raw_length = str(environ.get("CONTENT_LENGTH") or "0").strip()
    length = int(raw_length) if raw_length.isdigit() else 0
    return Request(
        method=str(environ["REQUEST_METHOD"]).upper(),
        path=_text(environ.get("PATH_INFO") or "/"),
        query=parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True),
        headers=headers,
        body=environ["wsgi.input"].read(length) if length else b"",
        base_url=root_url(environ),
    )


def to_wsgi(response: Response, start_response: StartResponse, *, head: bool = False) -> Iterable[bytes]:
    """Start the WSGI answer and return its body; an iterable body stays lazy (sent chunked over HTTP)."""
    headers = [(name, value) for name, value in response.headers.items() if name.lower() != "content-length"]
    if isinstance(response.body, (bytes, bytearray)):
        headers.append(("Content-Length", str(len(response.body))))
        body: Iterable[bytes] = [bytes(response.body)]
    else:
        body = response.body
    try:
        phrase = HTTPStatus(response.status).phrase
    except ValueError:
        phrase = "Unknown"
    start_response(f"{response.status} {phrase}", headers)
    # A HEAD answer carries the GET answer's headers and no body, whoever serves it.
    return [] if head else body
