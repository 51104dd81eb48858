"""What the bot shows in Slack, as pure functions from records to (fallback text, blocks).

Built with slack_sdk's Block Kit models, which check Slack's own limits when serialized; long
free text is clipped here first so a vendor's chatty error can never make Slack reject the whole
message with ``invalid_blocks``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from workers.jobs import Job

__all__ = [
    "CANCEL_ACTION",
    "Rendered",
    "audit_entry",
    "ellipsize",
    "escape",
    "help_message",
    "jobs_list",
    "outcome",
    "note",
    "progress",
    "queued",
    "section",
    "text_message",
]

CANCEL_ACTION = "job_cancel"
SECTION_LIMIT = 3000
MAX_BLOCKS = 50

_STATE_LABEL = {
    "queued": "queued",
    "requesting": "asking {vendor} for the export",
    "waiting": "waiting for {vendor} to build the file",
    "delivered": "delivered",
    "failed": "failed",
    "cancelled": "cancelled",
}
_STATE_ICON = {
    "queued": ":hourglass:",
    "requesting": ":hourglass_flowing_sand:",
    "waiting": ":hourglass_flowing_sand:",
    "delivered": ":white_check_mark:",
    "failed": ":x:",
    "cancelled": ":no_entry_sign:",
}


@dataclass(frozen=True)
class Rendered:
    text: str  # notification / fallback text
    blocks: list[dict[str, Any]]


def escape(text: str) -> str:
    """Slack mrkdwn escaping: only &, < and > are special."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def ellipsize(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=ellipsize(text, SECTION_LIMIT)))


def _context(*parts: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=ellipsize(" · ".join(p for p in parts if p), SECTION_LIMIT))])


def section(text: str, block_id: str | None = None) -> dict[str, Any]:
    """A mrkdwn section as a dict, clipped to Slack's limit (for renderers that build lists)."""
    return SectionBlock(block_id=block_id, text=MarkdownTextObject(text=ellipsize(text, SECTION_LIMIT))).to_dict()


def note(text: str, block_id: str | None = None) -> dict[str, Any]:
    """A one-line context block as a dict."""
    return ContextBlock(block_id=block_id, elements=[MarkdownTextObject(text=ellipsize(text, SECTION_LIMIT))]).to_dict()


def _finish(text: str, blocks: Iterable[Block]) -> Rendered:
    dicts = [b.to_dict() for b in blocks][:MAX_BLOCKS]
    return Rendered(text=ellipsize(text, 3000), blocks=dicts)


def age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _when(epoch: float) -> str:
    # Slack renders <!date^...> in each reader's own time zone; the fallback is UTC.
    fallback = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(epoch)}^{{date_short_pretty}} {{time}}|{fallback}>"


def _cancel_button(job: Job) -> ButtonElement:
    return ButtonElement(
        text="Cancel",
        action_id=CANCEL_ACTION,
        value=job.id,
        style="danger",
        confirm=ConfirmObject(
            title="Cancel this job?",
            text=ellipsize(f"Stop {escape(job.summary)} ({job.id})? Nothing more will be posted for it.", 300),
            confirm="Cancel job",
            deny="Keep it",
            style="danger",
        ),
    )


def queued(job: Job) -> str:
    return (
        f"Queued as job `{job.id}`: {escape(job.summary)}. Progress will appear in this channel; "
        f"`/adops jobs cancel {job.id}` stops it."
    )


def progress(job: Job, now: float, vendor: str) -> Rendered:
    """The in-channel message that is edited in place while the job runs; ``vendor`` is the
    vendor's display name."""
    label = _STATE_LABEL[job.state].format(vendor=vendor)
    if job.kind == "task" and job.state == "requesting":
        label = f"asking {vendor}"
    detail = f" ({job.vendor_state.lower()})" if job.state == "waiting" and job.vendor_state else ""
    head = f"{_STATE_ICON[job.state]} *{escape(job.summary)}*: {label}{detail}"
    checks = f"checked {job.polls} time{'s' if job.polls != 1 else ''}" if job.polls else ""
    blocks: list[Block] = [
        _section(head),
        _context(f"`{job.id}`", f"asked by <@{job.user_id}>", f"running {age(now - job.created_at)}", checks),
    ]
    if not job.terminal:
        blocks.append(ActionsBlock(block_id=f"job:{job.id}", elements=[_cancel_button(job)]))
    return _finish(f"{job.summary}: {label}", blocks)


def outcome(job: Job) -> Rendered:
    """The message that replaces the progress message when the job ends."""
    took = age((job.finished_at or job.updated_at) - job.created_at)
    meta = _context(f"`{job.id}`", f"asked by <@{job.user_id}>", f"`/adops {escape(job.command)}`", f"took {took}")
    if job.state == "delivered":
        url = job.result.get("url", "")
        lines = [f"{_STATE_ICON['delivered']} *{escape(job.summary)}* is ready: <{url}|download the file>"]
        if job.result.get("rows") is not None:
            lines.append(f"{int(job.result['rows']):,} rows")
        if job.result.get("expires_at"):
            lines.append(f"link expires {_when(float(job.result['expires_at']))}")
        if job.result.get("note"):
            lines.append(escape(str(job.result["note"])))
        return _finish(f"{job.summary} is ready: {url}", [_section("\n".join(lines)), meta])
    if job.state == "cancelled":
        who = f" by <@{job.finished_by}>" if job.finished_by else ""
        return _finish(
            f"{job.summary} was cancelled",
            [_section(f"{_STATE_ICON['cancelled']} *{escape(job.summary)}* was cancelled{who}."), meta],
        )
    reason = job.error or "it stopped without a reason"
    return _finish(
        f"{job.summary} failed: {reason}",
        [_section(f"{_STATE_ICON['failed']} *{escape(job.summary)}* failed: {escape(reason)}"), meta],
    )


def with_meta(message: Rendered, job: Job) -> Rendered:
    """A task's result with the line that ties it to its job and the person who asked."""
    meta = _context(f"`{job.id}`", f"asked by <@{job.user_id}>", f"`/adops {escape(job.command)}`").to_dict()
    return Rendered(text=message.text, blocks=[*message.blocks[: MAX_BLOCKS - 1], meta])


def jobs_list(jobs: Sequence[Job], now: float, *, everyone: bool) -> Rendered:
    if not jobs:
        whose = "Nobody has" if everyone else "You have"
        return _finish(f"{whose} no recent jobs.", [_section(f"{whose} no recent jobs. Try `/adops help`.")])
    title = "Recent jobs" if everyone else "Your recent jobs"
    lines = []
    for job in jobs:
        who = f" · <@{job.user_id}>" if everyone else ""
        extra = f" · {escape(ellipsize(job.error, 120))}" if job.state == "failed" and job.error else ""
        lines.append(
            f"{_STATE_ICON[job.state]} `{job.id}` {escape(job.summary)} · *{job.state}*"
            f" · {age(now - job.created_at)} ago{who}{extra}"
        )
    blocks: list[Block] = [_section(f"*{title}*")]
    blocks += [_section(chunk) for chunk in _chunks(lines, SECTION_LIMIT)]
    blocks.append(_context("`/adops jobs cancel &lt;id&gt;` stops one", "`/adops jobs all` shows everyone's"))
    return _finish(title, blocks)


def help_message(sections: Sequence[str]) -> Rendered:
    """Help, one section per command (the grammar keeps each under Slack's section limit)."""
    # The grammar writes placeholders as <range>; in mrkdwn an unescaped <...> is a link.
    return _finish("adops help", [_section(escape(text)) for text in sections])


def text_message(text: str) -> Rendered:
    return _finish(text, [_section(text)])


def audit_entry(who: str, what: str, before: str, after: str, when: float) -> Rendered:
    text = f":memo: <@{who}> {escape(what)}: {escape(before)} → {escape(after)}"
    return _finish(text, [_section(text), _context(_when(when))])


def _chunks(lines: Iterable[str], limit: int) -> list[str]:
    """Pack lines into texts of at most ``limit`` characters, splitting only at line ends."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        line = ellipsize(line, limit)
        if current and len(current) + 1 + len(line) > limit:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks
