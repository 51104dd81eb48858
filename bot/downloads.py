"""``GET /files/<token>``: the web process serving a file the bot built, to whoever holds a
signed link to it (:mod:`workers.links`).

The file is streamed from disk (the server's ``wsgi.file_wrapper``, sendfile under gunicorn, or
64 KiB chunks), never read into memory, as an attachment. A token that is not ours or was
tampered with gets 403, an expired one 410, a good one whose file was swept 404; none of them
any byte of a file. Where links are not set up (no ``ADOPS_LINK_SECRET``) the route is 404.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from workers import files, links
from workers.settings import Settings

__all__ = ["serve"]

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]

_TEXT = [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")]


def serve(settings: Settings, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """The WSGI answer to a request under ``/files/``."""
    method = environ.get("REQUEST_METHOD", "GET")
    if method not in ("GET", "HEAD"):
        return _text(start_response, "405 Method Not Allowed", "Only GET.", [("Allow", "GET, HEAD")])
    token = str(environ.get("PATH_INFO", ""))[len(links.ROUTE):]
    if settings.adops_link_secret is None:
        return _text(start_response, "404 Not Found", "No file links here.")
    try:
        target = links.verify(settings, token)
    except links.Expired:
        return _text(start_response, "410 Gone", "This link has expired. Run the command again for a new file.")
    except links.Tampered:
        log.info("refused a file link with a bad signature")
        return _text(start_response, "403 Forbidden", "This link is not valid.")
    path = files.locate(settings, target.job_id, target.name)
    try:
        if path is None:
            raise FileNotFoundError(target.name)
        f = path.open("rb")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return _text(start_response, "404 Not Found", "This file is no longer here. Run the command again.")
    # Once open, the file can be swept meanwhile: this descriptor still reads all of it.
    size = os.fstat(f.fileno()).st_size
    start_response("200 OK", [
        ("Content-Type", files.content_type(target.name)),
        ("Content-Length", str(size)),
        # files.locate admits only plain names (no quotes, no separators): safe in the header.
        ("Content-Disposition", f'attachment; filename="{target.name}"'),
        ("Cache-Control", "private, no-store"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
    ])
    if method == "HEAD":
        f.close()
        return []
    wrapper = environ.get("wsgi.file_wrapper")
    return wrapper(f, files.CHUNK) if wrapper is not None else _chunks(f)


def _chunks(f: IO[bytes]) -> Iterator[bytes]:
    # The server closes the iterable when the response ends (or the client goes): so is the file.
    try:
        while chunk := f.read(files.CHUNK):
            yield chunk
    finally:
        f.close()


def _text(start_response: StartResponse, status: str, text: str,
          extra: list[tuple[str, str]] | None = None) -> list[bytes]:
    body = (text + "\n").encode()
    start_response(status, [*_TEXT, ("Content-Length", str(len(body))), *(extra or [])])
    return [body]
