"""``/adops lookup click|conversion``: one 24Metrics record, as a card.

What a fraud analyst asks of one record, in the order they ask it: was it let through, and if
not why; then where it came from (offer, publisher, country, device, when), each a labelled field
with the names the row carries beside the ids. A search that finds nothing is the person's to
fix (a wrong id, day, offer or publisher), so it is a :class:`~workers.errors.Refused` that says
what was searched and what to check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from workers.errors import Refused
from workers.jobs import Job
from workers.render import Mrkdwn, Rendered, code, ellipsize, fallback, fields, md, note, section
from workers.runtime import Runtime
from workers.tasks import Task
from workers.vendors.metrics24.access import client
from workers.vendors.metrics24.rows import is_rejected, publisher_of, rejection_reason, when

__all__ = ["FIELDS", "FIRST", "card", "not_found"]

Row = Mapping[str, Any]


def _first(row: Row, *keys: str) -> str | None:
    for key in keys:
        value = row.get(key)
        if value not in (None, "", [], {}) and not isinstance(value, (dict, list)):
            return str(value)
    return None


def _joined(row: Row, *keys: str, sep: str = " · ") -> str | None:
    parts = [str(row[k]) for k in keys if row.get(k) not in (None, "", [], {}) and not isinstance(row[k], (dict, list))]
    return sep.join(parts) or None


def _offer(row: Row) -> str | None:
    # Conversions carry "312 - Puzzle Quest – DE", which names the id already.
    return _first(row, "offer_id_name", "offer_name") or _first(row, "offer", "offer_id", "real_offer_id")


def _publisher(row: Row) -> str | None:
    publisher, name = publisher_of(row)
    return " · ".join(p for p in (publisher, name) if p) or None


def _advertiser(row: Row) -> str | None:
    return _joined(row, "advertiser", "advertiser_name")


def _country(row: Row) -> str | None:
    return _joined(row, "country", "city", sep=", ") or _first(row, "country_code")


def _device(row: Row) -> str | None:
    os_name = _joined(row, "os_name", "os_version", sep=" ") or _first(row, "os")
    parts = [_first(row, "device_type", "device"), os_name, _first(row, "browser_name", "browser")]
    return " · ".join(p for p in parts if p) or None


def _money(row: Row) -> str | None:
    payout, revenue = row.get("payout"), row.get("revenue")
    if not payout and not revenue:
        return None
    return " · ".join(f"{label} {value}" for label, value in (("payout", payout), ("revenue", revenue)) if value)


#: The card's labelled fields, in reading order; Slack shows at most ten.
FIELDS: tuple[tuple[str, Callable[[Row], str | None]], ...] = (
    ("Offer", _offer),
    ("Publisher", _publisher),
    ("Advertiser", _advertiser),
    ("Country", _country),
    ("Device", _device),
    ("IP", lambda row: _first(row, "conversion_ip", "click_ip", "ip")),
    ("ISP", lambda row: _first(row, "isp")),
    ("Event", lambda row: _first(row, "event_name")),
    ("Payout", _money),
    ("Sub id", lambda row: _first(row, "sub_id", "sub1")),
)
#: The time fields, first present wins: when the record happened.
TIMES = ("conversion_time", "click_time", "request_time", "created_at", "request_date")
#: The row keys the card reads (the property tests draw rows from these).
FIRST = (
    "tx_id", "real_tx_id", "hash", "click_tx_id", *TIMES, "offer", "offer_id_name", "publisher", "publisher_name",
    "advertiser", "advertiser_name", "country", "city", "click_ip", "conversion_ip", "isp", "device_type", "os_name",
    "os_version", "browser_name", "event_name", "payout", "revenue", "sub_id", "filter_group_id", "monitoring_mode",
)
MAX_FIELDS = 10  # a section holds at most ten fields


def not_found(params: Mapping[str, Any]) -> Refused:
    """The refusal for a lookup that found nothing: what was searched, and what to check."""
    what, key = params["what"], ("tx_id" if params["what"] == "click" else "hash")
    return Refused(
        f"24Metrics has no {what} `{params['id']}` for offer `{params['offer']}`, publisher `{params['publisher']}` "
        f"on {params['date']} (integration `{params['integration']}`). Check the {what}'s {key}, the day (in the "
        f"integration's time zone), and that `offer=` and `publisher=` are the ones the {what} was made for."
    )


def lookup(rt: Runtime, job: Job) -> dict[str, Any]:
    p = job.params
    params = {"request_date": p["date"], "offer": p["offer"], "publisher": p["publisher"], "integration": p["integration"]}
    api = client(rt)
    row = api.click(p["id"], params) if p["what"] == "click" else api.conversion(p["id"], params)
    if row is None:
        raise not_found(p)
    return {"what": p["what"], "id": p["id"], "row": row}


def _verdict(row: Row) -> Mrkdwn:
    if not is_rejected(row):
        return Mrkdwn(":white_check_mark: *Approved*")
    verdict = md(":no_entry: *Rejected*: {}", rejection_reason(row) or "no reason given")
    detail = _first(row, "rejected_advanced_reason", "real_rejected_advanced_reason")
    if detail:
        verdict = md("{} ({})", verdict, ellipsize(detail, 300))
    if row.get("monitoring_mode") and not row.get("blocked"):
        verdict = md("{}, but let through: its filter group is in monitoring mode", verdict)
    return verdict


def card(result: dict[str, Any]) -> Rendered:
    """A record as a card (pure): the verdict and why first, then where it came from, labelled.

    Every value is the vendor's text, escaped through ``workers.render``."""
    row: Row = result["row"]
    what = str(result["what"])
    moment = when(_first(row, *TIMES))
    head = md("*24Metrics {}* {}", what, code(str(result["id"])))
    if moment:
        head = md("{} · {}", head, moment)
    shown = [(label, value) for label, read in FIELDS if (value := read(row))][:MAX_FIELDS]
    blocks = [section(md("{}\n{}", head, _verdict(row)))]
    if shown:
        blocks.append(fields([md("*{}*\n{}", label, ellipsize(value, 300)) for label, value in shown]))
    ids = [
        md("{} {}", label, code(ellipsize(value, 80)))
        for label, key in (("click", "click_tx_id"), ("transaction", "real_tx_id"), ("filter group", "filter_group_id"))
        if (value := _first(row, key)) and value != str(result["id"])
    ]
    if ids:
        blocks.append(note(*ids))
    verdict_text = "rejected" if is_rejected(row) else "approved"
    return Rendered(fallback("24Metrics {} {}: {}", what, result["id"], verdict_text), blocks)


TASKS = (Task("lookup", lookup, lambda job: card(job.result)),)
