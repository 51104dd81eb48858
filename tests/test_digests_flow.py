"""Digests end to end on the console's stack (real Bolt app, real actors and Lua on the private
Redis, fake Slack, vendor sandbox), with the clock's tick driven by hand on a controllable time:
added with the schedule in words, run now, fired once per tick, skip-empty, failures that pause,
missed runs after an outage, refusals that change nothing, and Slack's per-channel pace."""

from __future__ import annotations

import json
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.clock import Clock
from devkit.sandbox import Sandbox
from devkit.slack import LocalSlack, Message
from tests.harness import wait_until
from tests.inprocess import InProcessStack
from tests.test_flow import CHANNEL
from workers.digests.store import Digest
from workers.sweeper import PUBLISH_PATIENCE

ADMIN = "UADMIN"
BERLIN = ZoneInfo("Europe/Berlin")


def answer(stack: InProcessStack, text: str, *, user: str = ADMIN, channel: str = CHANNEL) -> str:
    response = stack.command(text, user=user, channel=channel)
    assert response.status_code == 200, response.text
    return str(response.json()["text"])


def add(stack: InProcessStack, text: str) -> Digest:
    said = answer(stack, f"digest add {text}")
    assert "added" in said, said
    digest_id = said.split("`")[1]
    found = stack.rt.digests.get(digest_id)
    assert found is not None, said
    return found


def digest_jobs(stack: InProcessStack, digest_id: str) -> list[dict[str, str]]:
    jobs = [stack.job(k.decode().split(":")[-1]) for k in stack.redis.scan_iter("adops:job:*")]
    return [j for j in jobs if j.get("digest") and json.loads(j["digest"])["id"] == digest_id]


def posts(slack: LocalSlack, digest_id: str, channel: str = CHANNEL) -> list[Message]:
    return [m for m in slack.messages(channel) if f"Digest `{digest_id}`" in json.dumps(m.blocks) and not m.ephemeral]


def at(stack: InProcessStack, when: float) -> Clock:
    """A clock whose "now" is ``when``."""
    assert stack.rt is not None
    stack.rt.clock = lambda: when
    return Clock(stack.rt, "test")


def test_add_says_the_schedule_in_words_and_the_next_three_runs(stack: InProcessStack) -> None:
    said = answer(stack, 'digest add "0 9 * * MON-FRI" tz=Europe/Berlin funnel yesterday by=stream_id')
    assert "at 09:00, Monday to Friday, Berlin time" in said, said
    digest = stack.rt.digests.get(said.split("`")[1])
    assert digest is not None and digest.command == "funnel yesterday by=stream_id tz=Europe/Berlin" and digest.tz == "Europe/Berlin"
    next_runs = said.split("Next runs: ")[1]
    assert next_runs.count("09:00") == 3 and not any(day in next_runs for day in ("Sat", "Sun")), said
    assert stack.redis.zscore("adops:digests:due", digest.id) == digest.next_at
    assert datetime.fromtimestamp(digest.next_at, BERLIN).strftime("%H:%M") == "09:00"
    listed = answer(stack, "digest list", user="UALICE")  # anyone may list
    assert digest.id in listed and "funnel yesterday by=stream_id" in listed and "not run yet" in listed


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('"0 25 * * *" funnel yesterday', "hour"),
        ('"0 9 * *" funnel yesterday', "5 fields"),
        ('"0 9 * * MON" tz=Europe/Berlni funnel yesterday', "Europe/Berlin"),
        ('"*/1 * * * *" funnel yesterday', "ADOPS_DIGEST_MIN_INTERVAL"),
        ('"0 9 * * *" monitor all on', "changes state"),
        ('"0 9 * * *" stream all Money', "changes state"),
        ('"0 9 * * *" jobs', "isn't a report"),
        ('"0 9 * * *" funnl yesterday', "funnel"),
    ],
)
def test_a_bad_digest_is_refused_with_what_to_fix_and_nothing_stored(stack: InProcessStack, text: str,
                                                                    says: str) -> None:
    said = answer(stack, f"digest add {text}")
    assert says in said and not said.startswith("Digest"), said
    assert stack.redis.zcard("adops:digests:due") == 0 and not list(stack.redis.scan_iter("adops:digest:*"))


def test_only_admins_change_digests_and_ids_work_only_in_their_channel(stack: InProcessStack) -> None:
    assert "Only admins" in answer(stack, 'digest add "0 9 * * *" account', user="UALICE")
    digest = add(stack, '"0 9 * * *" account')
    assert "Only admins" in answer(stack, f"digest pause {digest.id}", user="UALICE")
    assert "no digest" in answer(stack, f"digest pause {digest.id}", channel="COTHER")
    assert "no digest" in answer(stack, f"digest run {digest.id}", channel="COTHER")
    stored = stack.rt.digests.get(digest.id)
    assert stored is not None and not stored.paused


def test_run_now_posts_the_report_titled_as_a_digest_once(stack: InProcessStack, slack: LocalSlack) -> None:
    digest = add(stack, '"0 9 * * *" tz=Europe/Berlin account')
    said = answer(stack, f"digest run {digest.id}", user="UALICE")
    assert "Running digest" in said
    assert "a moment ago" in answer(stack, f"digest run {digest.id}", user="UALICE")  # a double click
    message = slack.wait_for(lambda: posts(slack, digest.id) and posts(slack, digest.id)[0])
    shown = json.dumps(message.blocks)
    assert "run now by <@UALICE>" in shown and "at 09:00 every day, Berlin time" in shown
    assert "Adspect" in shown  # the account's own rendering follows the digest's line
    stack.wait_idle()
    assert len(posts(slack, digest.id)) == 1 and len(digest_jobs(stack, digest.id)) == 1
    # No progress message: the run's one message is its outcome.
    assert not [m for m in slack.messages(CHANNEL) if "asking" in m.text]
    wait_until(lambda: (d := stack.rt.digests.get(digest.id)) and d.last_state == "delivered")


def test_each_tick_fires_once_and_a_second_fire_of_a_run_is_refused(stack: InProcessStack, slack: LocalSlack) -> None:
    digest = add(stack, '"0 9 * * *" tz=Europe/Berlin account')
    due = digest.next_at
    clock = at(stack, due + 0.2)
    clock.tick()
    clock.tick()  # the same tick again: the run has moved on
    stack.wait_idle()
    jobs = digest_jobs(stack, digest.id)
    assert len(jobs) == 1 and json.loads(jobs[0]["digest"])["at"] == due
    # A second fire of the same run (a redelivery, a second clock) makes no second job.
    assert stack.rt is not None
    stack.rt.dispatch.digest(digest.id, due)
    stack.wait_idle()
    assert len(digest_jobs(stack, digest.id)) == 1
    message = slack.wait_for(lambda: posts(slack, digest.id) and posts(slack, digest.id)[0])
    assert "scheduled by <@UADMIN>" in json.dumps(message.blocks)
    assert len(posts(slack, digest.id)) == 1
    after = stack.rt.digests.get(digest.id)
    assert after is not None and after.next_at == due + 86_400


def test_pause_resume_and_remove(stack: InProcessStack) -> None:
    digest = add(stack, '"0 9 * * *" account')
    assert "paused" in answer(stack, f"digest pause {digest.id}")
    at(stack, digest.next_at + 1).tick()
    stack.wait_idle()
    assert digest_jobs(stack, digest.id) == [], "a paused digest does not run"
    assert "paused by <@UADMIN>" in answer(stack, "digest list")
    stack.rt.clock = time.time
    assert "running again" in answer(stack, f"digest resume {digest.id}")
    resumed = stack.rt.digests.get(digest.id)
    assert resumed is not None and not resumed.paused and stack.redis.zscore("adops:digests:due", digest.id)
    assert "removed" in answer(stack, f"digest remove {digest.id}")
    assert stack.rt.digests.get(digest.id) is None and not stack.redis.zscore("adops:digests:due", digest.id)
    assert "No digests" in answer(stack, "digest list")


def test_skip_empty_leaves_out_a_run_with_nothing_to_report(stack: InProcessStack, slack: LocalSlack) -> None:
    digest = add(stack, '"0 9 * * *" skip-empty filters name~"no such group anywhere"')
    assert digest.skip_empty
    answer(stack, f"digest run {digest.id}")
    wait_until(lambda: (d := stack.rt.digests.get(digest.id)) and d.last_state == "skipped", what="the run skipped")
    stack.wait_idle()
    assert posts(slack, digest.id) == []
    [job] = digest_jobs(stack, digest.id)
    assert job["state"] == "delivered" and job["outcome_posted"] == "1"


def test_failures_post_once_each_then_pause_the_digest_naming_who_can_resume(
        make_stack, slack: LocalSlack, vendor: Sandbox) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(ADOPS_DIGEST_FAILURES="2")
    digest = add(stack, '"0 9 * * *" account')
    vendor.inject("adspect", "account", "status", status=401, count=10)
    due = digest.next_at
    for day in range(2):
        at(stack, due + day * 86_400 + 1).tick()
        wait_until(lambda n=day + 1: (d := stack.rt.digests.get(digest.id)) and d.failures == n, what="a failure")
    stack.wait_idle()
    shown = [json.dumps(m.blocks) for m in posts(slack, digest.id)]
    assert len(shown) == 2 and all("ADSPECT_API_KEY" in s or "key" in s.lower() for s in shown), shown
    assert "paused itself" not in shown[0] and "paused itself" in shown[1]
    assert "<@UADMIN>" in shown[1] and "/adops digest resume" in shown[1]
    paused = stack.rt.digests.get(digest.id)
    assert paused is not None and paused.paused and paused.paused_by == ""
    at(stack, due + 2 * 86_400 + 1).tick()
    stack.wait_idle()
    assert len(digest_jobs(stack, digest.id)) == 2, "a paused digest makes no third run"


def test_a_short_outage_fires_the_latest_run_once_and_says_what_it_stands_for(make_stack,  # type: ignore[no-untyped-def]
                                                                           slack: LocalSlack) -> None:
    stack = make_stack(ADOPS_DIGEST_MIN_INTERVAL="60")
    digest = add(stack, '"*/5 * * * *" account')
    clock = at(stack, digest.next_at + 10 * 60 + 5)  # three runs came due while no clock ran
    clock.tick()
    stack.wait_idle()
    [job] = digest_jobs(stack, digest.id)
    about = json.loads(job["digest"])
    assert about["at"] == digest.next_at + 600 and about["missed"] == 2
    message = slack.wait_for(lambda: posts(slack, digest.id) and posts(slack, digest.id)[0])
    assert "2 earlier runs were missed" in json.dumps(message.blocks)


def test_a_long_outage_fires_no_backlog_and_the_next_run_says_so(stack: InProcessStack, slack: LocalSlack) -> None:
    digest = add(stack, '"0 9 * * *" account')
    grace = stack.rt.settings.adops_digest_grace
    at(stack, digest.next_at + 86_400 + grace + 60).tick()  # two days' runs, both long past
    stack.wait_idle()
    assert digest_jobs(stack, digest.id) == []
    stored = stack.rt.digests.get(digest.id)
    assert stored is not None and stored.missed == 2 and stored.next_at == digest.next_at + 2 * 86_400
    at(stack, stored.next_at + 1).tick()
    message = slack.wait_for(lambda: posts(slack, digest.id) and posts(slack, digest.id)[0])
    assert "2 earlier runs were missed" in json.dumps(message.blocks)
    wait_until(lambda: (d := stack.rt.digests.get(digest.id)) and d.missed == 0, what="the missed runs said")


def test_runs_due_together_in_one_channel_post_a_second_apart(make_stack, slack: LocalSlack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(ADOPS_SLACK_CHANNEL_PACE="1.0")
    digests = [add(stack, '"0 9 * * *" account') for _ in range(3)]
    at(stack, max(d.next_at for d in digests) + 1).tick()
    slack.wait_for(lambda: all(posts(slack, d.id) for d in digests), timeout=20)
    times = sorted(c.time for c in slack.calls_of("chat.postMessage") if "Digest" in json.dumps(c.params))
    assert len(times) == 3
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(g >= 0.9 for g in gaps), gaps


def test_edit_moves_the_next_run_and_the_digests_own_options_may_come_last(stack: InProcessStack) -> None:
    # The design's order: the digest's `tz=` and `skip-empty` after the command they schedule.
    digest = add(stack, '"0 9 * * *" account tz=America/New_York skip-empty')
    assert digest.tz == "America/New_York" and digest.skip_empty and digest.command == "account"
    # A command with a zone of its own keeps it; one without it is given the digest's, so its
    # days are the same days its date words name.
    kept = add(stack, '"0 9 * * *" tz=Europe/Berlin funnel yesterday tz=Asia/Tokyo')
    assert (kept.tz, kept.command) == ("Europe/Berlin", "funnel yesterday tz=Asia/Tokyo")
    given = add(stack, '"0 9 * * *" tz=Europe/Berlin funnel yesterday')
    assert given.command == "funnel yesterday tz=Europe/Berlin"
    said = answer(stack, f'digest edit {digest.id} "30 7 * * MON" tz=Asia/Tokyo')
    assert "at 07:30 on Mondays, Tokyo time" in said, said
    edited = stack.rt.digests.get(digest.id)
    assert edited is not None and edited.cron == "30 7 * * MON" and edited.tz == "Asia/Tokyo"
    local = datetime.fromtimestamp(edited.next_at, ZoneInfo("Asia/Tokyo"))
    assert (local.strftime("%a %H:%M"), stack.redis.zscore("adops:digests:due", digest.id)) == ("Mon 07:30", edited.next_at)
    assert "hour" in answer(stack, f'digest edit {digest.id} "0 99 * * *"')
    unchanged = stack.rt.digests.get(digest.id)
    assert unchanged is not None and unchanged.cron == "30 7 * * MON"


def test_a_run_is_counted_once_however_often_it_is_published(stack: InProcessStack, vendor: Sandbox) -> None:
    from workers import steps  # the step itself, run again as a redelivered publish would be

    digest = add(stack, '"0 9 * * *" account')
    vendor.inject("adspect", "account", "status", status=401)
    answer(stack, f"digest run {digest.id}")
    wait_until(lambda: (d := stack.rt.digests.get(digest.id)) and d.failures == 1, what="the failure recorded")
    [job] = digest_jobs(stack, digest.id)
    stack.wait_idle()
    stack.redis.hset(f"adops:job:{job['id']}", "outcome_posted", "0")  # as if the first publish died
    steps.publish(stack.rt, stack.vendors, job["id"], patience=PUBLISH_PATIENCE)
    stored = stack.rt.digests.get(digest.id)
    assert stored is not None and stored.failures == 1 and stored.last_job == job["id"]


def test_a_digest_in_a_channel_no_longer_allowed_makes_no_run(make_stack, slack: LocalSlack) -> None:  # type: ignore[no-untyped-def]
    first = make_stack()
    digest = add(first, '"0 9 * * *" account')
    # The same deployment restarted with an allow-list that no longer has the channel.
    later = make_stack(ADOPS_CHANNELS="COTHER")
    later.redis.flushdb()
    later.rt.digests.add(digest)
    at(later, digest.next_at + 1).tick()
    later.wait_idle()
    assert digest_jobs(later, digest.id) == [] and posts(slack, digest.id) == []
    assert "not in ADOPS_CHANNELS" in later.logs()


def test_every_change_to_a_digest_is_audited_with_who_and_what(stack: InProcessStack) -> None:
    from workers import audit

    digest = add(stack, '"0 9 * * *" account')
    answer(stack, f'digest edit {digest.id} "0 10 * * *"')
    answer(stack, f"digest pause {digest.id}")
    answer(stack, f"digest resume {digest.id}")
    answer(stack, f"digest remove {digest.id}")
    entries = list(reversed(audit.read(stack.redis, "adops:")))
    assert [(e.who, e.what) for e in entries] == [("UADMIN", f"digest {w}") for w in
                                                  ("add", "edit", "pause", "resume", "remove")]
    assert all(e.target == f"{digest.id} in {CHANNEL}" for e in entries)
    assert (entries[1].before, entries[1].after) == ("0 9 * * * (UTC)", "0 10 * * * (UTC)")


def test_an_export_digest_posts_its_download_link_as_the_command_would(stack: InProcessStack,
                                                                     slack: LocalSlack) -> None:
    digest = add(stack, '"0 9 * * *" export instal yesterday')
    answer(stack, f"digest run {digest.id}")
    message = slack.wait_for(lambda: posts(slack, digest.id) and posts(slack, digest.id)[0], timeout=30)
    shown = json.dumps(message.blocks)
    assert "download the file" in shown and "/files/instal/" in shown, shown
    [job] = digest_jobs(stack, digest.id)
    assert job["kind"] == "export" and job["state"] == "delivered"
    stack.wait_idle()
    assert len(posts(slack, digest.id)) == 1, "no progress message beside the outcome"
