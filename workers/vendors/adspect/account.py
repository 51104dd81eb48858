"""``/adops account``: Adspect's balance and subscription expiry, with a warning when either
needs attention (``ADSPECT_EXPIRY_WARN_DAYS``, ``ADSPECT_BALANCE_WARN``). The expiry is shown
with Slack's date token, so each reader sees it in their own time zone, and as "in 3 days"."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from workers.jobs import Job
from workers.render import Mrkdwn, Rendered, date, fallback, md, note, section
from workers.runtime import Runtime
from workers.tasks import Task
from workers.vendors.adspect.access import client, settings

__all__ = ["TASKS", "relative", "render", "run"]


def relative(seconds: float) -> str:
    """"in 3 days", "in 5 hours", "2 days ago": whole units, rounded down."""
    ahead = seconds >= 0
    s = abs(seconds)
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if s >= size:
            n = int(s // size)
            words = f"{n} {unit}{'s' if n != 1 else ''}"
            return f"in {words}" if ahead else f"{words} ago"
    return "now"


def run(rt: Runtime, job: Job) -> dict[str, Any]:
    account = client(rt).account()
    config = settings(rt)
    now = rt.clock()
    warnings = []
    if account.expires_at is not None:
        left = account.expires_at - now
        if left <= 0:
            warnings.append("the subscription has ended: streams stop filtering")
        elif left <= config.expiry_warn_days * 86_400:
            warnings.append(f"the subscription ends {relative(left)} (warning within {config.expiry_warn_days} days)")
    if config.balance_warn is not None and account.balance is not None and account.balance < config.balance_warn:
        warnings.append(f"the balance is under {config.balance_warn}")
    return {"balance": None if account.balance is None else str(account.balance), "expires_at": account.expires_at,
            "now": now, "email": account.email, "warnings": warnings}


def render(job: Job) -> Rendered:
    r = job.result
    balance = "unknown" if r["balance"] is None else f"{Decimal(r['balance']):,.2f}"
    lines = [md("*Adspect account*{}", md(" · {}", r["email"]) if r.get("email") else ""), md("Balance: *{}*", balance)]
    if r["expires_at"]:
        lines.append(md("Subscription ends {} ({})", date(r["expires_at"]), relative(r["expires_at"] - r["now"])))
    else:
        lines.append(Mrkdwn("Subscription end: not given"))
    blocks = [section(Mrkdwn("\n".join(lines)))]
    if r["warnings"]:
        blocks.append(section(md(":warning: {}", "; ".join(r["warnings"]).capitalize() + ".")))
    else:
        blocks.append(note(Mrkdwn("nothing needs attention")))
    warn = md(" · warning: {}", r["warnings"][0]) if r["warnings"] else ""
    return Rendered(fallback("Adspect balance {}{}", balance, warn), blocks)


TASKS = (Task("ad_account", run, render),)
