"""``/adops lookup click|conversion``: one 24Metrics record, as a card."""

from __future__ import annotations

from typing import Any

from workers.errors import Refused
from workers.jobs import Job
from workers.render import Mrkdwn, Rendered, code, ellipsize, fallback, fields, join, md, note, section
from workers.runtime import Runtime
from workers.tasks import Task
from workers.vendors.metrics24.access import client
from workers.vendors.metrics24.rows import is_rejected, publisher_of, rejection_reason

__all__ = ["card"]

#: What a fraud analyst reads first, in this order; other fields follow in a compact line.
FIRST = (
    "tx_id", "real_tx_id", "hash", "created_at", "request_date", "click_time", "conversion_time",
    "offer", "offer_name", "publisher", "publisher_name", "country", "country_code", "ip",
    "device", "os", "browser", "isp", "sub1", "payout",
)
MAX_FIELDS = 10  # a section holds at most ten fields


def lookup(rt: Runtime, job: Job) -> dict[str, Any]:
    p = job.params
    params = {"request_date": p["date"], "offer": p["offer"], "publisher": p["publisher"], "integration": p["integration"]}
    api = client(rt)
    row = api.click(p["id"], params) if p["what"] == "click" else api.conversion(p["id"], params)
    if row is None:
        raise Refused(
            f"24Metrics has no {p['what']} `{p['id']}` for offer {p['offer']}, publisher {p['publisher']} on {p['date']}. "
            "Check the id, the day (in the integration's time zone) and the offer/publisher."
        )
    return {"what": p["what"], "id": p["id"], "row": row}


def card(result: dict[str, Any]) -> Rendered:
    """A record as a card (pure): verdict first, then the fields that matter, then the rest.

    Every key and value is the vendor's text, escaped through ``workers.render``."""
    row: dict[str, Any] = result["row"]
    what = result["what"]
    if is_rejected(row):
        verdict = md(":no_entry: *Rejected*: {}", rejection_reason(row) or "no reason given")
        detail = row.get("rejected_advanced_reason")
        if detail:
            verdict = md("{} ({})", verdict, _text(detail))
    else:
        verdict = Mrkdwn(":white_check_mark: *Approved*")
    publisher, name = publisher_of(row)
    named = " " + name if name else ""
    head = md("*24Metrics {}* {} · publisher {}{}\n{}", what, code(result["id"]), publisher, named, verdict)
    shown = [k for k in FIRST if _present(row.get(k))][:MAX_FIELDS]
    blocks = [section(head)]
    if shown:
        blocks.append(fields([md("*{}*\n{}", k, _text(row[k])) for k in shown]))
    rest = [
        md("{}={}", k, _text(v)) for k, v in row.items()
        if k not in shown and _present(v) and not isinstance(v, (dict, list))
    ]
    if rest:
        blocks.append(note(join(" · ", rest)))
    return Rendered(fallback("24Metrics {} {}", what, result["id"]), blocks)


def _present(value: Any) -> bool:
    return value not in (None, "", [], {})


def _text(value: Any) -> str:
    return ellipsize(str(value), 300)


TASKS = (Task("lookup", lookup, lambda job: card(job.result)),)
