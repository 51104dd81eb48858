"""Adspect end to end on the console's stack (real Bolt app, real actors on Redis, fake Slack,
the Adspect sandbox): the funnel as a table with names, rates and totals, cut with the CSV,
by date with a chart; typos refused before any report; stream modes switched once by admins
only; several streams asked first and restored; the account's warnings."""

from __future__ import annotations

import csv
import json
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from devkit.sandbox import Sandbox
from devkit.slack import LocalSlack, Message
from tests.harness import wait_until
from tests.inprocess import InProcessStack
from tests.test_flow import CHANNEL, job_messages, queued_job
from workers.vendors.adspect.sandbox import AdspectApp
from workers.vendors.adspect.sandbox_data import STREAMS

ADMIN = "UADMIN"
#: "UK Native – Retarget": Money mode when the sandbox starts.
TARGET = next(s for s in STREAMS if s["name"] == "UK Native – Retarget")


def shown(stack: InProcessStack, slack: LocalSlack, command: str, *, user: str = ADMIN) -> tuple[dict[str, str], Message]:
    job_id = queued_job(stack.command(command, user=user))
    stack.wait_job(job_id, ("delivered",))
    # Shown once the outcome is marked posted: a result with files is posted, then its files go
    # into its thread, then it is edited to list them.
    wait_until(lambda: stack.job(job_id).get("outcome_posted") == "1", what="the outcome posted")
    message = slack.wait_for(lambda: next((m for m in job_messages(slack, job_id) if "Adspect" in m.text + str(m.blocks)), None))
    return stack.job(job_id), message


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's signature and IHDR chunk (the first chunk, by the spec)."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", head
    return struct.unpack(">II", head[16:24])


def test_funnel_by_stream_reads_names_rates_and_a_totals_row(stack: InProcessStack, slack: LocalSlack,
                                                            vendor: Sandbox) -> None:
    job, message = shown(stack, slack, 'funnel yesterday metrics=clicks,money_hits,quality stream="US Search – Brand",'
                                       '"UK Native – Retarget"')
    table = message.blocks[0]["text"]["text"]
    assert "US Search – Brand" in table and "UK Native – Retarget" in table
    assert not any(s["stream_id"] in table for s in STREAMS), "stream ids are shown as names"
    lines = table.splitlines()
    total = next(line for line in lines if line.startswith("Total"))
    rows = [line for line in lines[3:] if line and not line.startswith(("-", "Total", "`"))]
    assert len(rows) == 2 and all(line.rstrip().endswith("%") for line in rows + [total]), lines
    clicks = [int(line.split()[-3].replace(",", "")) for line in rows]
    assert int(total.split()[-3].replace(",", "")) == sum(clicks) and "," in total  # thousands grouped
    assert "100.0%" in table, "a Money-mode stream sends every click to the offer"
    assert json.loads(job["result"])["files"] == [], "a table that fits attaches nothing"
    assert vendor.stats()["adspect.funnel"] == 1


def test_funnel_by_date_is_cut_with_the_whole_table_as_csv_and_a_chart(stack: InProcessStack,
                                                                       slack: LocalSlack) -> None:
    job, message = shown(stack, slack, "funnel last7d by=date,stream_id")
    result = json.loads(job["result"])
    files = {f["content_type"]: f for f in result["files"]}
    assert set(files) == {"text/csv", "image/png"}
    assert png_size(Path(files["image/png"]["path"])) == (1200, 700)
    with open(files["text/csv"]["path"], newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == ["date", "stream_id", "stream", "clicks", "money_hits", "safe_hits", "quality"]
    assert len(table) == result["rows"] + 2 == files["text/csv"]["rows"] + 2  # header and totals
    assert table[-1][0] == "Total" and int(table[-1][3]) == sum(int(r[3]) for r in table[1:-1])
    assert result["shown"] == 20 < result["rows"]
    note = str(message.blocks)
    assert f"20 of {result['rows']} rows shown" in note
    assert files["text/csv"]["name"] in note and files["image/png"]["name"] in note
    # Both are attached in Slack, in the thread of the message that shows the table (the task
    # was quicker than a progress message: its outcome is posted first to have a thread).
    shared = {f.name: f for f in slack.files(message.channel)}
    assert set(shared) == {files["text/csv"]["name"], files["image/png"]["name"]}
    assert all(f.thread_ts == message.ts for f in shared.values())
    assert len([m for m in job_messages(slack, job["id"])]) == 1, "one message, edited; not two"
    assert shared[files["image/png"]["name"]].content == Path(files["image/png"]["path"]).read_bytes()
    assert shared[files["text/csv"]["name"]].content.decode().startswith("date,stream_id,stream,clicks")
    assert note.count("is uploaded to Slack") == 2


def test_a_mistyped_metric_or_breakdown_is_refused_with_a_suggestion_and_no_report(
    stack: InProcessStack, slack: LocalSlack, vendor: Sandbox
) -> None:
    for command, hint in (("funnel yesterday metrics=clicks,qualty", "Did you mean `metrics=quality`?"),
                          ("funnel yesterday by=contry_code", "Did you mean `by=country_code`?"),
                          ("funnel yesterday country=XX", "not an Adspect country code")):
        job_id = queued_job(stack.command(command))
        job = stack.wait_job(job_id, ("failed",))
        assert hint in job["error"] and "Nothing was asked of Adspect" in job["error"], job["error"]
    assert vendor.stats().get("adspect.funnel", 0) == 0
    # The collections were read once and kept (Redis, a day), not once a command.
    assert vendor.stats()["adspect.collection"] <= 3


def _mode_button(message: Message, stream_id: str, mode: str) -> dict[str, str]:
    block = next(b for b in message.blocks if b.get("block_id") == f"ad:{stream_id}:set")
    return next(e for e in block["elements"] if e["action_id"] == f"ad_mode_{mode.lower()}")


def test_stream_mode_button_applies_once_for_admins_and_never_for_others(stack: InProcessStack, slack: LocalSlack,
                                                                         vendor: Sandbox) -> None:
    _, message = shown(stack, slack, 'streams name~"UK Native"')
    button = _mode_button(message, TARGET["stream_id"], "Filter")
    assert "check every visitor" in button["confirm"]["text"]["text"]
    assert _mode_button(message, TARGET["stream_id"], "White")["confirm"]["style"] == "primary"
    assert "Money" not in [e["text"]["text"] for b in message.blocks if b.get("block_id") == f"ad:{TARGET['stream_id']}:set"
                           for e in b["elements"]], "no button for the mode it is in"
    # Someone without rights: refused, nothing asked of Adspect.
    url = slack.response_url(CHANNEL, "UALICE", message_ts=message.ts)
    stack.click(button["action_id"], button["value"], user="UALICE", message_ts=message.ts, blocks=message.blocks,
                response_url=url)
    slack.wait_for(lambda: next((m for m in slack.messages(CHANNEL) if m.ephemeral and "Only admins" in m.text), None))
    stack.wait_idle()
    assert vendor.stats().get("adspect.patch", 0) == 0
    # An admin's double click: two payloads, one PATCH, the message re-rendered with who did it.
    for ts in ("300.1", "300.2"):
        stack.click(button["action_id"], button["value"], user=ADMIN, message_ts=message.ts, blocks=message.blocks,
                    action_ts=ts)
    updated = slack.wait_for(lambda: next((m for m in slack.messages(CHANNEL)
                                           if m.ts == message.ts and "switched" in str(m.blocks)), None))
    stack.wait_idle()
    assert vendor.stats().get("adspect.patch") == 1
    text = str(updated.blocks)
    assert f"<@{ADMIN}> switched “UK Native – Retarget” from Money to Filter" in text and "Mode: *Filter*" in text
    entries = stack.redis.xrange("adops:audit")
    assert len(entries) == 1
    entry = {k.decode(): v.decode() for k, v in entries[0][1].items()}
    assert (entry["who"], entry["before"], entry["after"]) == (ADMIN, "Money", "Filter")


def test_several_streams_ask_first_apply_once_and_restore_from_the_audit(stack: InProcessStack, slack: LocalSlack,
                                                                        vendor: Sandbox) -> None:
    job, message = shown(stack, slack, "stream all White name~Test")
    items = json.loads(job["result"])["items"]
    n = sum(1 for s in STREAMS if "Test" in s["name"] and s["mode"] != "White")
    assert len(items) == n > 1 and vendor.stats().get("adspect.patch", 0) == 0, "asking changes nothing"
    apply = message.blocks[0]["accessory"]
    assert f"{n} streams will show every visitor the safe page" in apply["confirm"]["text"]["text"]
    for ts in ("400.1", "400.2"):
        stack.click(apply["action_id"], apply["value"], user=ADMIN, message_ts=message.ts, blocks=message.blocks,
                    action_ts=ts)
    done = slack.wait_for(lambda: next((m for m in slack.messages(CHANNEL) if "puts them back" in str(m.blocks)), None))
    stack.wait_idle()
    assert vendor.stats()["adspect.patch"] == n, "each listed stream once, however often it is clicked"
    restore = done.blocks[0]["accessory"]
    stack.click(restore["action_id"], restore["value"], user=ADMIN, message_ts=done.ts, blocks=done.blocks)
    slack.wait_for(lambda: next((m for m in slack.messages(CHANNEL) if f"put back the modes of {n}" in str(m.blocks)), None))
    stack.wait_idle()
    assert vendor.stats()["adspect.patch"] == 2 * n
    _, page = shown(stack, slack, "streams name~Test")
    before = {s["name"]: s["mode"] for s in STREAMS if "Test" in s["name"]}
    for name, mode in before.items():
        assert f"*{name}*" in str(page.blocks) and f"Mode: *{mode}*" in str(page.blocks)


def test_account_warns_of_expiry_and_a_low_balance(make_stack: Callable[..., InProcessStack], slack: LocalSlack) -> None:
    stack = make_stack(ADSPECT_BALANCE_WARN="100", ADOPS_TIMEZONE="Asia/Tokyo")
    _, message = shown(stack, slack, "account")
    text = str(message.blocks)
    assert "Balance: *42.50*" in text and "(in 3 days)" in text and "<!date^" in text  # the reader's own zone
    assert ":warning: The subscription ends in 3 days" in text and "the balance is under 100" in text
    quiet = make_stack(ADSPECT_EXPIRY_WARN_DAYS="2")
    _, calm = shown(quiet, slack, "account")
    assert ":warning:" not in str(calm.blocks) and "nothing needs attention" in str(calm.blocks)


def test_the_click_log_export_is_built_by_the_engine_into_one_complete_csv(stack: InProcessStack, slack: LocalSlack,
                                                                          vendor: Sandbox) -> None:
    job_id = queued_job(stack.command("export adspect clicks 2026-11-01..2026-11-03 columns=click_id,country_code"))
    job = stack.wait_job(job_id, ("delivered",))
    result = json.loads(job["result"])
    assert result["rows"] == 3 * AdspectApp.clicks_per_day and vendor.stats()["adspect.log"] == 3  # a request a day
    with open(result["file"]["path"], newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == ["click_id", "country_code"] and len({r[0] for r in table[1:]}) == result["rows"]
    slack.wait_for(lambda: next((m for m in job_messages(slack, job_id) if "*4,500* clicks" in str(m.blocks)), None))


def test_a_worker_that_draws_no_chart_never_loads_matplotlib() -> None:
    # ~35 MB a process: a worker exporting a million rows must stay under 150 MB (bench/).
    probe = "import sys, workers.boot, workers.actors, workers.vendors.registry; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "False", out.stderr
