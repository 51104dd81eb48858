"""Mounting the sandbox in-process: an httpx transport that calls its WSGI app, no socket involved.

``httpx.Client(transport=sandbox.transport())`` (or any client taking ``transport=``) talks to
the sandbox inside the calling thread. What a socket would have done, the transport emulates so
a client sees the same httpx errors either way:

- a held answer (the ``timeout`` fault) ends when the client's read timeout would have, with
  ``httpx.ReadTimeout``; a hold shorter than that answers normally after it;
- a dropped answer (a held one while the sandbox stops) is ``httpx.RemoteProtocolError``, what
  httpx raises when a server closes the connection without answering.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import httpx

from devkit.sandbox.wsgi import READ_TIMEOUT_KEY, DropConnection, ReadTimeoutElapsed

__all__ = ["MountedTransport"]

# httpx's WSGITransport builds the environ itself and has no hook for the request's timeout
# extension, so the timeout reaches the app beside it, in the thread that makes the call.
_read_timeout: ContextVar[float | None] = ContextVar("sandbox_read_timeout", default=None)


class MountedTransport(httpx.WSGITransport):
    """An ``httpx.WSGITransport`` over ``app`` that turns withheld answers into httpx's errors."""

    def __init__(self, app: WSGIApplication) -> None:
        super().__init__(app=self._call)
        self.mounted = app

    def _call(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ[READ_TIMEOUT_KEY] = _read_timeout.get()
        return self.mounted(environ, start_response)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout") or {}
        token = _read_timeout.set(timeouts.get("read"))
        try:
            return super().handle_request(request)
        except DropConnection as exc:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request) \
                from exc
        except ReadTimeoutElapsed as exc:
            raise httpx.ReadTimeout(str(exc), request=request) from exc
        finally:
            _read_timeout.reset(token)
