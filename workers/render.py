"""What the bot shows in Slack, as pure functions from records to (fallback text, blocks).

Every renderer builds its mrkdwn with the helpers re-exported here from :mod:`workers.mrkdwn`
(``md``, ``escape``, ``code``, ``link``, ``mention``…; its docstring says how values are escaped and
why). Two more guarantees are kept here:

- Every mrkdwn text object is sent with ``verbatim: true``: Slack then does not turn bare URLs,
  ``#channel`` names or ``@here`` in a value into links or mentions (our ``<…>`` sequences work).
- :class:`Rendered` is the only way out, and on construction it passes its ``text`` and every
  mrkdwn object that is not :class:`Mrkdwn` through :func:`sanitize`: a renderer that forgets to
  escape shows inert text, never a mention or a link.

Built with slack_sdk's Block Kit models; long text is clipped (never inside an entity or a
``<…>`` sequence) so a vendor's chatty error cannot make Slack reject the message.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from workers.jobs import Job
from workers.mrkdwn import (
    TEXT_LIMIT,
    Mrkdwn,
    UnsafeLink,
    clip,
    code,
    code_block,
    date,
    ellipsize,
    escape,
    fallback,
    join,
    link,
    md,
    mention,
    sanitize,
)
from workers.words import age, retry_line, size, vendor_state

__all__ = [
    "CANCEL_ACTION", "Mrkdwn", "Rendered", "UnsafeLink", "age", "audit_entry", "build_progress", "clip", "count", "code", "code_block",
    "confirm", "date", "ellipsize", "escape", "failure_message", "fallback", "fields", "help_message",
    "jobs_list", "join", "link", "md", "mention", "note", "outcome", "progress", "queued", "refusal", "retracted",
    "sanitize", "section", "text_message", "vendor_state", "with_delivery", "with_meta",
]

CANCEL_ACTION = "job_cancel"
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
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


# -- blocks -------------------------------------------------------------------------------------


def _safe(text: str) -> Mrkdwn:
    return text if isinstance(text, Mrkdwn) else sanitize(text)


def _obj(text: str, limit: int = SECTION_LIMIT) -> MarkdownTextObject:
    return MarkdownTextObject(text=clip(_safe(text), limit), verbatim=True)


def section(text: str, block_id: str | None = None, accessory: ButtonElement | None = None) -> dict[str, Any]:
    """A mrkdwn section as a dict, clipped to Slack's limit."""
    return SectionBlock(block_id=block_id, text=_obj(text), accessory=accessory).to_dict()


def fields(texts: Sequence[str]) -> dict[str, Any]:
    """A section of up to ten short mrkdwn fields."""
    return SectionBlock(fields=[_obj(t, FIELD_LIMIT) for t in texts[:10]]).to_dict()


def note(*parts: str, block_id: str | None = None) -> dict[str, Any]:
    """A one-line context block; the parts are joined with `` · ``."""
    text = Mrkdwn(" · ".join(_safe(p) for p in parts if p))
    return ContextBlock(block_id=block_id, elements=[_obj(text)]).to_dict()


def confirm(title: str, text: str, yes: str, no: str, style: str) -> ConfirmObject:
    """A button's confirm dialog; ``title``, ``yes`` and ``no`` are plain text, ``text`` mrkdwn."""
    return ConfirmObject(
        title=ellipsize(title, 100), text=_obj(text, 300), confirm=ellipsize(yes, 30), deny=ellipsize(no, 30),
        style=style,
    )


def _safe_tree(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
            return {**node, "text": _safe(node["text"]), "verbatim": True}
        return {key: _safe_tree(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_safe_tree(item) for item in node]
    return node


@dataclass(frozen=True)
class Rendered:
    """A message: ``text`` (notification / fallback) and blocks, both made safe on construction."""

    text: str
    blocks: list[dict[str, Any]]

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", clip(_safe(self.text), TEXT_LIMIT))
        object.__setattr__(self, "blocks", [_safe_tree(b) for b in self.blocks[:MAX_BLOCKS]])


# -- the messages ---------------------------------------------------------------------------------


def _cancel_button(job: Job) -> ButtonElement:
    return ButtonElement(
        text="Cancel", action_id=CANCEL_ACTION, value=job.id, style="danger",
        confirm=confirm(
            "Cancel this job?",
            md("Stop {} ({})? Nothing more will be posted for it.", ellipsize(job.summary, 200), job.id),
            "Cancel job", "Keep it", "danger",
        ),
    )


def queued(job: Job) -> Mrkdwn:
    return md(
        "Queued as job {id}: {summary}. Progress will appear in this channel; {cancel} stops it.",
        id=code(job.id), summary=job.summary, cancel=code(f"/adops jobs cancel {job.id}"),
    )


def _meta(job: Job, *extra: str) -> dict[str, Any]:
    return note(code(job.id), md("asked by {}", mention(job.user_id)), *extra)


def progress(job: Job, now: float, vendor: str) -> Rendered:
    """The in-channel message that is edited in place while the job runs; ``vendor`` is the
    vendor's display name."""
    label = _STATE_LABEL[job.state].format(vendor=vendor)
    if job.kind == "task" and job.state in ("queued", "requesting"):
        label = f"asking {vendor}"
    if job.kind == "build" and not job.terminal:
        label = build_progress(job) or label
    words = vendor_state(job.vendor_state)
    detail = f" ({words})" if job.state == "waiting" and words else ""
    head = md("{icon} *{summary}*: {label}{detail}", icon=Mrkdwn(_STATE_ICON[job.state]), summary=job.summary,
              label=label, detail=detail)
    retry = retry_line(job.retry_note, job.next_try_at, job.tries, job.max_tries, now) if not job.terminal else ""
    if retry:
        head = md("{}\n:warning: {}", head, retry)
    checks = f"checked {job.polls} time{'s' if job.polls != 1 else ''}" if job.polls else ""
    blocks = [section(head), _meta(job, escape(f"running {age(now - job.created_at)}"), escape(checks))]
    if not job.terminal:
        blocks.append(ActionsBlock(block_id=f"job:{job.id}", elements=[_cancel_button(job)]).to_dict())
    return Rendered(fallback("{}: {}", job.summary, label), blocks)


def count(n: int) -> str:
    """A count as people read it in progress: "61 400"."""
    return f"{n:,}".replace(",", " ")


def build_progress(job: Job) -> str:
    """Where a build is, in the builder's words: "window 7 of 12, 61 400 impressions so far"
    ("" before it is planned). Parts run in parallel, so it counts those done; the total grows
    when a part hands back follow-ups (a window split because it was over the vendor's cap)."""
    if not job.part_word:
        return ""
    done, total, word = job.parts_done, job.parts_total, job.part_word
    rows = f"{count(job.rows_done)} {job.unit}"
    if job.span > 0:
        # Parts that hand back follow-ups (a walk over a range) make "7 of 12" a growing total:
        # how much of the range is covered is the honest measure.
        asked = f"{count(job.requests)} request{'s' if job.requests != 1 else ''}"
        if done == 0:
            return "starting"
        if done >= total:
            return f"all of the range fetched, {rows} in {asked}; writing the file"
        share = min(99, 100 * job.covered // job.span)
        return f"{rows} so far, {share} % of the range covered, {asked}"
    if done == 0:
        return f"{total} {word}{'s' if total != 1 else ''} to fetch"
    if done >= total:
        return f"all {total} {word}{'s' if total != 1 else ''} fetched, {rows}; writing the file"
    return f"{word} {done} of {total}, {rows} so far"


def _download(url: str) -> Mrkdwn:
    try:
        return md("is ready: {}", link(url, "download the file"))
    except UnsafeLink:
        # Not a link we would open ourselves; shown as text so the person can judge it.
        return md("is ready, but the vendor's download link is not an http(s) address: {}", code(ellipsize(url, 300)))


def outcome(job: Job) -> Rendered:
    """The message that replaces the progress message when the job ends."""
    took = age((job.finished_at or job.updated_at) - job.created_at)
    meta = _meta(job, code(f"/adops {job.command}"), escape(f"took {took}"))
    if job.state == "delivered":
        # A file the bot built has no vendor link: what it has is listed by ``with_delivery``.
        url = str(job.result.get("url", ""))
        ready = _download(url) if url or "file" not in job.result else Mrkdwn("is ready")
        lines = [md("{} *{}* {}", Mrkdwn(_STATE_ICON["delivered"]), job.summary, ready)]
        if job.result.get("rows") is not None:
            lines.append(md("{:,} rows", int(job.result["rows"])))
        if job.result.get("expires_at"):
            lines.append(md("link expires {}", date(float(job.result["expires_at"]))))
        if job.result.get("note"):
            lines.append(sanitize(str(job.result["note"])))
        return Rendered(fallback("{} {}", job.summary, ready), [section(Mrkdwn("\n".join(lines))), meta])
    if job.state == "cancelled":
        who = md(" by {}", mention(job.finished_by)) if job.finished_by else ""
        head = md("{} *{}* was cancelled{}.", Mrkdwn(_STATE_ICON["cancelled"]), job.summary, who)
        return Rendered(fallback("{} was cancelled", job.summary), [section(head), meta])
    reason = sanitize(job.error or "it stopped without a reason")
    head = md("{} *{}* failed: {}", Mrkdwn(_STATE_ICON["failed"]), job.summary, reason)
    return Rendered(fallback("{} failed: {}", job.summary, reason), [section(head), meta])


def with_meta(message: Rendered, job: Job) -> Rendered:
    """A task's result with the line that ties it to its job and the person who asked."""
    meta = _meta(job, code(f"/adops {job.command}"))
    return Rendered(text=message.text, blocks=[*message.blocks[: MAX_BLOCKS - 1], meta])


def with_delivery(message: Rendered, job: Job) -> Rendered:
    """``message`` with what became of the job's file (``result["delivery"]``, written by
    :mod:`workers.filedelivery`): uploaded, linked, or why it could not be delivered. Put above
    the message's closing context line (the one naming the job), if it has one."""
    deliveries = [job.result.get("delivery"), *(job.result.get("deliveries") or [])]
    lines = [line for d in deliveries if isinstance(d, dict) for line in _delivery_lines(d)]
    if not lines:
        return message
    block = section(Mrkdwn("\n".join(lines)))
    blocks = list(message.blocks[: MAX_BLOCKS - 1])
    at = len(blocks) - 1 if blocks and blocks[-1].get("type") == "context" else len(blocks)
    return Rendered(text=message.text, blocks=[*blocks[:at], block, *blocks[at:]])


def _delivery_lines(d: dict[str, Any]) -> list[Mrkdwn]:
    name = str(d.get("name", "the file"))
    about = md("{}{}", size(int(d.get("bytes", 0))), ", gzipped" if d.get("gzipped") else "")
    lines: list[Mrkdwn] = []
    if d.get("file_id"):
        where = "in this message's thread" if d.get("thread") else "in this channel"
        lines.append(md(":paperclip: {} ({}) is uploaded to Slack {}.", code(name), about, where))
    if d.get("link"):
        try:
            target = link(str(d["link"]), "Download " + name)
        except UnsafeLink:  # ADOPS_PUBLIC_URL is validated as http(s): not expected
            target = code(str(d["link"]))
        shown = md(" ({})", about) if not d.get("file_id") else ""
        expires = md("; the link expires {}", date(float(d["expires_at"]))) if d.get("expires_at") else ""
        lines.append(md(":link: {}{}{}.", target, shown, expires))
        if d.get("upload_error"):
            lines.append(md("Not uploaded to Slack: {}; the link works instead.", sanitize(str(d["upload_error"]))))
    elif not d.get("file_id"):
        why = [sanitize(str(d[k])) for k in ("error", "upload_error", "link_error", "store_error") if d.get(k)]
        lines.append(md(":warning: The file could not be delivered: {}.", Mrkdwn("; ".join(why) or "no route took it")))
    if d.get("file_id") and d.get("store_error") and not d.get("link"):  # files on S3: say why no link
        lines.append(md("No link: {}.", sanitize(str(d["store_error"]))))
    if d.get("gzipped") and (d.get("file_id") or d.get("link")):
        lines.append(Mrkdwn("It is gzipped (.gz) because it is large; any unzip tool opens it."))
    return lines


def jobs_list(jobs: Sequence[Job], now: float, *, everyone: bool) -> Rendered:
    if not jobs:
        said = "Nobody has any recent jobs here." if everyone else "You have no recent jobs."
        return Rendered(fallback(said), [section(md("{} Try `/adops help`.", said))])
    title = "Recent jobs" if everyone else "Your recent jobs"
    lines = []
    for job in jobs:
        who = md(" · {}", mention(job.user_id)) if everyone else ""
        icon, label, extra = _job_line(job, now, everyone=everyone)
        lines.append(md(
            "{} {} {} · *{}* · {} ago{}{}", Mrkdwn(icon), code(job.id), job.summary, label,
            age(now - job.created_at), who, extra,
        ))
    blocks = [section(md("*{}*", title)), *(section(chunk) for chunk in _chunks(lines, SECTION_LIMIT))]
    blocks.append(note(md("`/adops jobs cancel &lt;id&gt;` stops one"), md("`/adops jobs all` shows everyone's")))
    return Rendered(fallback("{}", title), blocks)


_LIST_LABEL = {"requesting": "asking the vendor", "waiting": "waiting for the file"}


def _job_line(job: Job, now: float, *, everyone: bool) -> tuple[str, str, str]:
    """A job's icon, state in words, and what follows in ``jobs``: the retry under way, the
    vendor's state, why it failed. A refusal's reason was the asker's alone: others see that
    it was refused, not why."""
    if job.state == "failed" and job.private:
        why = md(" · {}", sanitize(ellipsize(job.error, 120))) if job.error and not everyone else ""
        return ":no_entry:", "refused", md("{} · told privately", why) if why else " · told privately"
    label = _LIST_LABEL.get(job.state, job.state)
    if job.kind == "build" and not job.terminal:
        label = build_progress(job) or label
    words = vendor_state(job.vendor_state) if job.state == "waiting" else ""
    if words:
        label = f"{label} ({words})"
    retry = retry_line(job.retry_note, job.next_try_at, job.tries, job.max_tries, now) if not job.terminal else ""
    if retry:
        return _STATE_ICON[job.state], label, md(" · :warning: {}", retry)
    if job.state == "failed" and job.error:
        return _STATE_ICON[job.state], label, md(" · {}", sanitize(ellipsize(job.error, 120)))
    return _STATE_ICON[job.state], label, ""


def help_message(sections: Sequence[str]) -> Rendered:
    """Help, one section per command (the grammar keeps each under Slack's section limit).

    Help is ours, written from the command specs: its formatting stays; only the placeholders
    (``<range>``, which mrkdwn would read as a link) need entities."""
    trusted = [Mrkdwn(s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")) for s in sections]
    return Rendered(Mrkdwn("adops help"), [section(s) for s in trusted])


def text_message(text: str) -> Rendered:
    """A short notice of ours (a refusal, an answer to a click), as text and one section.

    It arrives as a plain string through the queue, so it is sanitized; mentions of valid user ids
    stay (callers escape whatever else they put in, as ``steps.cancel_for`` does)."""
    safe = sanitize(text, mentions=True) or Mrkdwn("(no details)")  # Slack refuses an empty section
    return Rendered(safe, [section(safe)])


def failure_message(reason: str) -> Rendered:
    """A job's failure told privately to the person who clicked: no mention in it stays live."""
    safe = sanitize(reason or "it stopped without a reason")
    return Rendered(safe, [section(safe)])


def refusal(job: Job) -> Rendered:
    """A job refused for the person's own mistake, told to them alone: the reason (with the
    candidates, where the task gave some) and the command it answers."""
    reason = sanitize(job.error or "it could not be done")
    head = md(":no_entry: {}", reason)
    return Rendered(fallback("{}", reason), [section(head), note(code(job.id), code(f"/adops {job.command}"),
                                                                 "only you can see this")])


def retracted(job: Job) -> Rendered:
    """What stays of a progress message whose job's answer went privately (when it could not be
    deleted): a neutral line that says nothing of the request."""
    line = md(":information_source: Job {} ended; its answer was sent privately.", code(job.id))
    return Rendered(fallback("Job {} ended; its answer was sent privately.", job.id), [section(line)])


def audit_entry(who: str, what: str, before: str, after: str, when: float) -> Rendered:
    text = md(":memo: {} {}: {} → {}", mention(who), what, before, after)
    return Rendered(text, [section(text), note(date(when))])


def _chunks(lines: Iterable[Mrkdwn], limit: int) -> list[Mrkdwn]:
    """Pack lines into texts of at most ``limit`` characters, splitting only at line ends."""
    chunks: list[Mrkdwn] = []
    current = ""
    for line in lines:
        line = clip(line, limit)
        if current and len(current) + 1 + len(line) > limit:
            chunks.append(Mrkdwn(current))
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(Mrkdwn(current))
    return chunks
