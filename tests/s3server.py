"""moto's S3 server as the tests' object store, run as a process of its own like the private Redis.

``python -m tests.s3server PORT`` serves moto's S3 on 127.0.0.1:PORT. moto accepts a presigned
URL at any age, so this wraps its WSGI app with the one rule of AWS's signature version 4 that
the tests need (documented in "Authenticating Requests: Using Query Parameters"): a request whose
``X-Amz-Date`` plus ``X-Amz-Expires`` seconds is past gets ``403 AccessDenied``, "Request has
expired", and no byte of the object. Everything else is moto's.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

__all__ = ["expiring"]

_EXPIRED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
            b"<Message>Request has expired</Message></Error>")


def expiring(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """``app`` refusing presigned requests past their expiry, as S3 does."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if "X-Amz-Expires" in query and "X-Amz-Date" in query:
            signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
            if time.time() > signed + int(query["X-Amz-Expires"][0]):
                start_response("403 Forbidden", [("Content-Type", "application/xml"),
                                                 ("Content-Length", str(len(_EXPIRED)))])
                return [_EXPIRED]
        return app(environ, start_response)

    return wrapped


def main(port: int) -> None:
    server = make_server("127.0.0.1", port, expiring(DomainDispatcherApplication(create_backend_app)),
                         threaded=True, request_handler=MotoRequestHandler)
    server.serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]))
