"""A throwaway vendor with a build, for the engine's tests (``tests/test_builds.py``).

"Tally" hands out the whole numbers of a range as rows, the way a raw-data vendor hands out
records: a page at a time, and nothing at all (just the count) when a request covers more than
its cap, so a window over the cap has to be split. The builder cuts ``start..stop`` into windows
of ``width``, reads each window page by page (so a try can fail after writing rows), and splits
a window over the cap into halves as follow-up parts. Rows are deterministic (``n``, its kind, its
square; a ``lucky`` column that only some rows have), so a test can tell a complete output with
no row twice from anything else. ``pace`` (ms) slows every answer, so a build takes long enough
to cancel or to kill a worker in the middle of; ``flaky`` fails every page past a window's first
once (503), after the try has written rows.

Registered only in tests: ``WITH_TALLY`` is the real vendors plus this one.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import AnyHttpUrl, SecretStr
from pydantic_settings import SettingsConfigDict

from devkit.sandbox.base import Request, Response, Route, SandboxConfig, VendorApp
from workers.builds import Fetched, Part, Plan, RowSink, top
from workers.errors import Refused
from workers.grammar.spec import CommandSpec, Option, Parsed
from workers.intake import Context, Submit
from workers.jobs import Job
from workers.render import Rendered, escape, section
from workers.settings import VendorSettings
from workers.vendors.http import VendorHTTP
from workers.vendors.registry import PLANNED, VENDORS
from workers.vendors.spec import Catalogue, VendorSpec

NAME = "tally"
OP = "tally_numbers"


class TallySettings(VendorSettings):
    model_config = SettingsConfigDict(env_prefix="TALLY_")
    name: ClassVar[str] = NAME

    api_key: SecretStr | None = None
    base_url: AnyHttpUrl = AnyHttpUrl("https://tally.invalid")


class TallyClient:
    def __init__(self, base_url: str, key: str, timeout: float) -> None:
        self.http = VendorHTTP("Tally", base_url, headers={"X-Tally-Key": key}, key_variable="TALLY_API_KEY",
                               timeout=timeout)

    def numbers(self, first: int, stop: int, page: int, params: dict[str, Any]) -> dict[str, Any]:
        query = {"from": first, "to": stop, "page": page, "size": params["page"], "cap": params["cap"],
                 "pace": params["pace"], "flaky": params["flaky"]}
        answer: dict[str, Any] = self.http.json("GET", "/numbers", params=query)
        return answer


def _client(settings: TallySettings, timeout: float) -> TallyClient:
    assert settings.api_key is not None
    return TallyClient(str(settings.base_url), settings.api_key.get_secret_value(), timeout)


def _window(first: int, stop: int) -> Part:
    # Keys sort in output order; a half keeps its parent's start, so the end is in the key too.
    return Part(f"{first:08d}-{stop:08d}", {"from": first, "to": stop})


class TallyBuilder:
    op = OP
    unit = "numbers"
    part_word = "window"

    def plan(self, client: Any, params: dict[str, Any]) -> Plan:
        first, stop, width = int(params["start"]), int(params["stop"]), int(params["width"])
        if stop <= first:
            raise Refused(f"Nothing to count: stop={stop} is not above start={first}.")
        return Plan(tuple(_window(a, min(stop, a + width)) for a in range(first, stop, width)))

    def fetch(self, client: TallyClient, params: dict[str, Any], part: Part, sink: RowSink) -> Fetched:
        first, stop = int(part.params["from"]), int(part.params["to"])
        page, requests, rows = 0, 0, 0
        kinds: Counter[str] = Counter()
        while True:
            answer = client.numbers(first, stop, page, params)
            requests += 1
            if answer["count"] and not answer["rows"]:  # over the cap: withheld, so split
                middle = (first + stop) // 2
                return Fetched(then=(_window(first, middle), _window(middle, stop)), requests=requests,
                               note="Windows over the cap were split.")
            for row in answer["rows"]:
                sink.write(row)
                kinds[row["kind"]] += 1
                rows += 1
            if answer.get("next") is None:
                return Fetched(rows=rows, columns=("n", "kind", "square"), tally={"kind": dict(kinds)},
                               requests=requests)
            page = int(answer["next"])

    def columns(self, seen: Sequence[str]) -> list[str]:
        known = ["n", "kind", "square"]
        return [c for c in known if c in seen] + sorted(c for c in seen if c not in known)

    def file_name(self, job: Job) -> str:
        return f"tally-{job.params['start']}-{job.params['stop']}.csv"

    def render(self, job: Job) -> Rendered:
        kinds = ", ".join(f"{name} {n}" for name, n in top(job.result.get("tally", {}).get("kind", {})))
        text = escape(f"Counted {job.result['rows']} numbers ({kinds}) in {job.result['parts']} windows, "
                      f"{job.result['requests']} requests. {job.result.get('note', '')}".strip())
        return Rendered(text=text, blocks=[section(text)])


def _tally(parsed: Parsed, ctx: Context) -> Submit:
    a = parsed.args
    params = {"op": OP, **{k: int(a[k]) for k in ("start", "stop", "width", "cap", "page", "pace", "flaky")}}
    return Submit("build", NAME, params, f"Tally {a['start']}..{a['stop']}")


class TallyApp(VendorApp):
    """The vendor: pages of numbers, the count alone over the cap, every answer ``pace`` ms late.
    It notes how many requests it answered at once at most (``GET /tally/busiest``)."""

    name = NAME

    def __init__(self, config: SandboxConfig) -> None:
        super().__init__(config)
        self._lock = threading.Lock()
        self._inflight = 0
        self._busiest = 0
        self._failed: set[tuple[int, int, int]] = set()

    def routes(self) -> list[Route]:
        return [Route("GET", f"{self.prefix}/numbers", "numbers", self.numbers),
                Route("GET", f"{self.prefix}/busiest", "busiest", self.busiest)]

    def reset(self) -> None:
        with self._lock:
            self._inflight = self._busiest = 0
            self._failed.clear()

    def busiest(self, request: Request) -> Response:
        return Response.json({"busiest": self._busiest})

    def numbers(self, request: Request) -> Response:
        if request.header("X-Tally-Key") != "sandbox-token":
            return Response.json({"detail": "bad key"}, 401)
        q = {k: int(v[0]) for k, v in request.query.items()}
        with self._lock:
            self._inflight += 1
            self._busiest = max(self._busiest, self._inflight)
        try:
            time.sleep(q.get("pace", 0) / 1000)
        finally:
            with self._lock:
                self._inflight -= 1
        first, stop, size, page = q["from"], q["to"], q["size"], q["page"]
        if q.get("flaky") and page > 0:
            with self._lock:
                once = (first, stop, page) not in self._failed
                self._failed.add((first, stop, page))
            if once:  # after the try has written the window's first page
                return Response.json({"detail": "busy, try again"}, 503)
        count = stop - first
        if count > q["cap"]:
            return Response.json({"count": count, "rows": []})
        lo = first + page * size
        hi = min(stop, lo + size)
        rows = [_row(n) for n in range(lo, hi)]
        return Response.json({"count": count, "rows": rows, "next": page + 1 if hi < stop else None})


def _row(n: int) -> dict[str, Any]:
    row: dict[str, Any] = {"n": n, "kind": "even" if n % 2 == 0 else "odd", "square": n * n}
    if n % 7 == 0:
        row["lucky"] = "yes"  # a column only some rows have: the CSV still has it, in a stable place
    return row


VENDOR = VendorSpec(
    name=NAME,
    display="Tally",
    settings=TallySettings,
    client=_client,
    commands=(
        CommandSpec(
            words=("tally",),
            summary="Count the numbers of a range into a CSV (a build, for the tests).",
            options=(
                Option("start", "int", "First number.", required=True, min=0),
                Option("stop", "int", "One past the last number.", required=True, min=0),
                Option("width", "int", "Numbers a window.", default=25, min=1),
                Option("cap", "int", "The most a request may cover.", default=1_000, min=1),
                Option("page", "int", "Rows a page.", default=10, min=1),
                Option("pace", "int", "Milliseconds every answer takes.", default=0, min=0),
                Option("flaky", "int", "1: every page past a window's first fails once (503).", default=0, min=0,
                       max=1),
            ),
            examples=("tally start=0 stop=300",),
            handler=_tally,
        ),
    ),
    builds=(TallyBuilder(),),
    sandbox=TallyApp,
    sandbox_env=lambda base_url, token: {"TALLY_API_KEY": token, "TALLY_BASE_URL": base_url},
)

WITH_TALLY = Catalogue((*VENDORS, VENDOR), absent=PLANNED)

__all__ = ["NAME", "OP", "VENDOR", "WITH_TALLY", "TallyApp", "TallyBuilder"]
