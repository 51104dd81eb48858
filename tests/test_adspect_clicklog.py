"""The Adspect click log builder, driven by a small synchronous driver (plan, then every part,
rows into one CSV) against the Adspect sandbox mounted in-process: complete, no click twice,
filters and typos as documented. The engine that runs builders in parallel is tested apart."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.sandbox import Sandbox
from devkit.sandbox.base import SANDBOX_TOKEN
from workers.builds import Fetched, Part, first_seen, merge_tally
from workers.errors import Refused
from workers.vendors.adspect.clicklog import CLICKS
from workers.vendors.adspect.client import AdspectClient
from workers.vendors.adspect.sandbox import AdspectApp


class BigLog(AdspectApp):
    clicks_per_day = 100_000


class CsvSink:
    """Rows straight to an open CSV, as the engine's part files take them: nothing kept."""

    def __init__(self, writer: csv.writer, columns: list[str]) -> None:  # type: ignore[valid-type]
        self.writer, self.columns = writer, columns

    def write(self, row: Any) -> None:
        self.writer.writerow([row.get(c, "") for c in self.columns])  # type: ignore[attr-defined]


def drive(client: AdspectClient, params: dict[str, Any], out: Path) -> tuple[int, int, dict[str, dict[str, int]]]:
    """Plan, then fetch every part (and its follow-ups) in key order into ``out``: rows,
    requests, tally."""
    plan = CLICKS.plan(client, params)
    todo: list[Part] = sorted(plan.parts, key=lambda p: p.key)
    rows = requests = 0
    tally: dict[str, dict[str, int]] = {}
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        columns = list(params.get("columns") or ())
        header_written = False
        while todo:
            part = todo.pop(0)
            cols = list(part.params["columns"])
            if not header_written:
                writer.writerow(CLICKS.columns(first_seen([cols])))
                columns, header_written = cols, True
            got: Fetched = CLICKS.fetch(client, params, part, CsvSink(writer, columns))
            rows, requests = rows + got.rows, requests + got.requests
            tally = merge_tally(tally, got.tally)
            todo = sorted([*todo, *got.then], key=lambda p: p.key)
    return rows, requests, tally


@pytest.fixture()
def big() -> Iterator[tuple[Sandbox, AdspectClient]]:
    box = Sandbox(apps=(BigLog,))
    with AdspectClient(box.base_url("adspect"), SANDBOX_TOKEN, transport=box.transport()) as client:
        yield box, client


def test_a_click_log_of_200_000_rows_is_complete_with_no_click_twice(big: tuple[Sandbox, AdspectClient],
                                                                     tmp_path: Path) -> None:
    box, client = big
    params = {"start": "2026-11-01", "end": "2026-11-02", "tz": "Europe/Berlin",
              "columns": ["timestamp", "click_id", "country_code", "stream_id", "target"]}
    rows, requests, tally = drive(client, params, tmp_path / "clicks.csv")
    assert rows == 200_000 and requests == 2
    with (tmp_path / "clicks.csv").open(newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == params["columns"]
        ids, days = set(), set()
        for line in reader:
            ids.add(line[1])
            days.add(line[0][:10])
    assert len(ids) == 200_000, "every click once"
    assert days == {"2026-11-01", "2026-11-02"}, "days are the zone's, with no click of a neighbour"
    assert sum(tally["country"].values()) == 200_000
    assert box.stats() == {"adspect.collection": 1, "adspect.log": 2}  # columns only: nothing else was typed


def test_filters_and_typos(tmp_path: Path) -> None:
    box = Sandbox(apps=(AdspectApp,))
    with AdspectClient(box.base_url("adspect"), SANDBOX_TOKEN, transport=box.transport()) as client:
        rows, _, tally = drive(client, {"start": "2026-11-01", "end": "2026-11-01", "tz": "UTC", "countries": ["us"],
                                        "columns": ["ip_address", "country_code"]}, tmp_path / "us.csv")
        assert 0 < rows < AdspectApp.clicks_per_day and set(tally["country"]) == {"US"}
        with pytest.raises(Refused, match=r"Did you mean `columns=ip_address`\?"):
            CLICKS.plan(client, {"start": "2026-11-01", "end": "2026-11-01", "tz": "UTC", "columns": ["ip_adress"]})
    assert box.stats().get("adspect.log") == 1, "the typo asked for no log"
