"""``/adops streams`` and its mode buttons, ``/adops stream``: list every stream (all pages)
with its mode, and set one stream's mode.

The switch is :mod:`workers.toggles`' (shared with other vendors' switches): set to a mode, never
"next", so a double click PATCHes once; admins only (the ingress checks the click); a lock,
the cancel check and the intent around the PATCH; one audit entry; the message re-rendered
whole from Adspect's state with "who changed what" from the board's log.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

from workers.boards import Board
from workers.errors import Refused
from workers.jobs import Job
from workers.runtime import Runtime
from workers.tasks import Task
from workers.toggles import Switch, admin_page, board_of, log_once, set_once
from workers.vendors.adspect.access import client, collections
from workers.vendors.adspect.client import AdspectClient
from workers.vendors.adspect.lookup import resolve
from workers.vendors.adspect.models import MODES, Stream
from workers.vendors.adspect.streams_render import change_line, list_message, set_message

__all__ = ["PAGE_SIZE", "TASKS", "compact", "listing"]

#: Streams a message: a section and a row of buttons each, within Slack's 50 blocks.
PAGE_SIZE = 20


def compact(s: Stream) -> dict[str, Any]:
    return {"id": s.stream_id, "name": s.name, "mode": s.mode}


def listing(streams: Sequence[Stream], name: str | None, page: int) -> dict[str, Any]:
    """One page of streams (Adspect's order: by name), with the counts its header shows."""
    pages = max(1, math.ceil(len(streams) / PAGE_SIZE))
    page = min(max(0, int(page)), pages - 1)
    counts = Counter(s.mode for s in streams)
    return {"name": name, "page": page, "pages": pages, "total": len(streams),
            "modes": {m: counts.get(m, 0) for m in (*MODES, *sorted(set(counts) - set(MODES)))},
            "streams": [compact(s) for s in streams[page * PAGE_SIZE: (page + 1) * PAGE_SIZE]]}


def _page(rt: Runtime, job: Job, api: AdspectClient) -> dict[str, Any]:
    p = job.params
    return listing(api.all_streams(name=p.get("name")), p.get("name"), int(p.get("page") or 0)) | {
        "admin": admin_page(rt, job)}


def _board_page(rt: Runtime, job: Job, api: AdspectClient, board: Board) -> dict[str, Any]:
    return {"listing": _page(rt, job, api), "changes": board.changes(), "board_version": board.next_version()}


def list_streams(rt: Runtime, job: Job) -> dict[str, Any]:
    api = client(rt)
    board = board_of(rt, job)
    if board is not None:  # a page button: the same message, another page
        with board.locked():
            shown = _board_page(rt, job, api, board)
        return {**shown["listing"], "changes": shown["changes"], "board_version": shown["board_version"]}
    return _page(rt, job, api)


def set_stream(rt: Runtime, job: Job) -> dict[str, Any]:
    p = job.params
    to = collections(rt).check("mode", [p["to"]])[0]
    api = client(rt)
    board = board_of(rt, job)
    with board.locked() if board is not None else nullcontext():
        stream_id = p.get("stream_id") or resolve(api.all_streams(), p["stream"]).stream_id
        switch: Switch[Stream] = Switch(read=lambda: api.stream(stream_id), state=lambda s: s.mode,
                                        write=lambda mode: api.set_mode(stream_id, mode))
        done = set_once(rt, job, switch, to, lock_name=f"adspect:stream:{stream_id}", what="set mode of Adspect stream",
                        target=lambda s: f"{s.name} ({s.stream_id})", word=str)
        if done.item.mode != to:
            raise Refused(f"Adspect kept stream {done.item.name} in {done.item.mode} mode; nothing changed.")
        result: dict[str, Any] = {"stream": compact(done.item), "before": done.before, "after": to,
                                  "changed": done.changed}
        if board is not None:
            if done.changed:
                log_once(rt, job, board, change_line(job.user_id, done.item.name, done.before, to))
            result |= _board_page(rt, job, api, board)
    return result


def _list_message(job: Job) -> Any:
    return list_message(job.result, job.result.get("changes"))


TASKS = (
    Task("ad_streams", list_streams, _list_message),
    Task("ad_stream_set", set_stream, set_message),
)
