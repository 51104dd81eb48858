"""Instal's Advertiser Report Export API: request a CSV export, then poll its Celery task.

Documented: ``POST {EXPORTS_PATH}`` answers ``{"result": "QUEUED"|"ERROR", "task_id": ...}``;
the task answers ``{"state": "SUCCESS"|"PENDING", "result": <url>|null}``. The service is
Django + Celery, so the other Celery states (``STARTED``, ``RETRY``, ``FAILURE``, ``REVOKED``)
can appear too and are mapped here. The retrieve path's prefix is inferred (see NOTES.md), so
each path is one constant.

Instal has no idempotency key and no list of exports, so a create is never sent twice: when a
create may have reached Instal without our hearing the answer (a read timeout, a connection
broken after the request went out, a worker that died mid-call), the job fails with what to
check instead of risking a second export. A create that surely reached nothing (no connection,
a 429 or 503 answer) is retried as usual.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import urljoin

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from workers.errors import VendorError, VendorExportFailed, VendorProtocolError, VendorRejected, VendorTransient
from workers.vendors.exports import ExportStatus, request_may_have_landed
from workers.vendors.http import VendorHTTP
from workers.vendors.reasons import short_reason

__all__ = [
    "EXPORTS_PATH",
    "EXPORT_PATH",
    "INTERVALS",
    "KEY_VARIABLE",
    "SORTINGS",
    "VENDOR",
    "InstalClient",
    "export_body",
    "status_from_answer",
    "task_id_from_answer",
]

VENDOR = "Instal"
KEY_VARIABLE = "INSTAL_TOKEN"

EXPORTS_PATH = "/advertiser/api/v1/reports/exports/"
#: Inferred: the docs print the retrieve URL with its prefix missing.
EXPORT_PATH = EXPORTS_PATH + "{task_id}/"

#: The documented choices; the vendor's default sort is ``campaign_id``.
SORTINGS = ("time", "campaign", "aff_sub_id", "cr", "campaign_id")
INTERVALS = ("hourly", "daily", "monthly")

FAILED_STATES = frozenset({"FAILURE", "ERROR", "REVOKED"})
_PENDING_NOTES = {
    "PENDING": "queued at Instal",
    "RECEIVED": "received by Instal",
    "STARTED": "Instal is building the file",
    "RETRY": "Instal is retrying the export",
}
_OPTIONAL = ("sorting", "interval", "csv_headers", "format")
_REASON_FIELDS = ("detail", "error", "errors", "message", "reason")
# Celery ids are UUIDs; anything that could step out of the path segment is refused.
_TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


class CreateAnswer(BaseModel):
    model_config = ConfigDict(extra="allow")

    result: str
    task_id: str | int | None = None


class TaskAnswer(BaseModel):
    model_config = ConfigDict(extra="allow")

    state: str
    result: Any = None  # the URL on SUCCESS; Celery puts the exception there on FAILURE


def export_body(params: dict[str, Any]) -> dict[str, Any]:
    """The JSON body for a create request from the job's params (dates as date or YYYY-MM-DD)."""
    unknown = set(params) - {"start_date", "stop_date", *_OPTIONAL}
    if unknown:
        raise ValueError(f"unknown Instal export parameters: {', '.join(sorted(unknown))}")
    body: dict[str, Any] = {}
    for name in ("start_date", "stop_date"):
        value = params.get(name)
        if value is None:
            raise ValueError(f"Instal export needs {name}")
        body[name] = value.isoformat() if isinstance(value, date) else str(value)
    for name in _OPTIONAL:
        if params.get(name) is not None:
            body[name] = bool(params[name]) if name == "csv_headers" else str(params[name])
    return body


def _reason(payload: dict[str, Any], fields: tuple[str, ...], secrets: tuple[str, ...]) -> str | None:
    for field in fields:
        value = payload.get(field)
        if isinstance(value, dict) and "exc_message" in value:  # Celery's serialized exception
            value = value["exc_message"]
        if isinstance(value, list):
            value = " ".join(str(v) for v in value)
        reason = short_reason(value, secrets=secrets) if value not in (None, "", {}, []) else None
        if reason:
            return reason
    return None


def _model(model: type[BaseModel], payload: Any, what: str) -> Any:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "body" for e in exc.errors())
        message = f"{VENDOR} sent an unexpected answer to {what} (bad or missing: {fields})."
        raise VendorProtocolError(VENDOR, message) from None


def task_id_from_answer(payload: Any, *, secrets: tuple[str, ...] = ()) -> str:
    """The task id from a create answer; VendorExportFailed when Instal says ERROR."""
    answer: CreateAnswer = _model(CreateAnswer, payload, "the export request")
    if answer.result.upper() == "ERROR":
        reason = _reason(payload, _REASON_FIELDS, secrets)
        message = f"{VENDOR} refused to start the export" + (f": {reason}" if reason else "")
        raise VendorExportFailed(
            VENDOR, message.rstrip(".") + ". Check the dates and options, then try again.",
            reason=reason, vendor_state="ERROR",
        )
    task_id = "" if answer.task_id is None else str(answer.task_id)
    if not _TASK_ID.fullmatch(task_id):
        raise VendorProtocolError(VENDOR, f"{VENDOR} accepted the export ({answer.result}) but sent no usable task id.")
    return task_id


def status_from_answer(
    payload: Any, *, base_url: str | None = None, secrets: tuple[str, ...] = ()
) -> ExportStatus:
    """Map a task answer to an ExportStatus; unknown states are not ready yet."""
    answer: TaskAnswer = _model(TaskAnswer, payload, "the export status")
    state = answer.state.strip().upper()
    if state == "SUCCESS":
        url = answer.result if isinstance(answer.result, str) else ""
        if url.startswith("/") and base_url:
            url = urljoin(base_url, url)
        if not url.startswith(("https://", "http://")):
            raise VendorProtocolError(VENDOR, f"{VENDOR} says the export is ready but sent no download link.")
        return ExportStatus(state="ready", vendor_state=state, url=url)
    if state in FAILED_STATES:
        reason = _reason(payload, ("result", *_REASON_FIELDS), secrets)
        if reason is None and state == "REVOKED":
            reason = "the export was cancelled at Instal"
        return ExportStatus(state="failed", vendor_state=state, reason=reason)
    return ExportStatus(state="pending", vendor_state=state, note=_PENDING_NOTES.get(state, f"Instal says {state}"))


class InstalClient:
    """The Instal export adapter (:class:`~workers.vendors.exports.ExportAdapter`). Thread-safe."""

    vendor = VENDOR

    def __init__(
        self,
        base_url: str,
        token: SecretStr | str,
        *,
        timeout: float = 20.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        secret = token.get_secret_value() if isinstance(token, SecretStr) else token
        if not secret or not secret.strip():
            raise ValueError(f"{KEY_VARIABLE} is empty")
        self.base_url = base_url
        # Kept only to scrub it from any text the vendor sends back.
        self._secrets = (secret.strip(),)
        self._http = VendorHTTP(
            VENDOR,
            base_url,
            headers={"Authorization": f"Token {secret.strip()}"},
            key_variable=KEY_VARIABLE,
            timeout=timeout,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"InstalClient({self.base_url!r})"

    def create(self, params: dict[str, Any]) -> str:
        body = export_body(params)
        try:
            payload = self._http.json("POST", EXPORTS_PATH, json=body)
            return task_id_from_answer(payload, secrets=self._secrets)
        except VendorTransient as exc:
            if request_may_have_landed(exc):
                raise self._maybe_started(body) from exc
            raise

    def recover(self, params: dict[str, Any], *, since: float) -> str | None:
        """An earlier create of this job may have reached Instal: Instal cannot be asked, so fail."""
        raise self._maybe_started(export_body(params))

    def _maybe_started(self, body: dict[str, Any]) -> VendorError:
        span = f"{body['start_date']}..{body['stop_date']}"
        return VendorError(
            VENDOR,
            f"{VENDOR} may have started this export ({span}) but its answer never reached us, and "
            f"{VENDOR} offers no way to look it up, so it was not asked again (that could make a second "
            f"export). Look for an advertiser report export of {span} in Instal's dashboard; if there is "
            "none, run the command again.",
        )

    def check(self, export_id: str) -> ExportStatus:
        if not _TASK_ID.fullmatch(export_id):
            raise ValueError(f"not an Instal task id: {export_id[:80]!r}")
        try:
            payload = self._http.json("GET", EXPORT_PATH.format(task_id=export_id))
        except VendorRejected as exc:
            if exc.status != 404:
                raise
            raise VendorRejected(
                VENDOR,
                f"{VENDOR} no longer knows export {export_id} (404); it may have expired. Run the command again.",
                status=404,
                reason=exc.reason,
            ) from None
        return status_from_answer(payload, base_url=self.base_url, secrets=self._secrets)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> InstalClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
