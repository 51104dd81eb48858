"""Plain words: vendors' raw states, a retry under way, and what a retry says happened (pure)."""

from __future__ import annotations

import pytest

from tests.test_render import NOW, job
from workers import render, retries
from workers.errors import VendorProtocolError, VendorRateLimited, VendorTransient
from workers.words import retry_line, vendor_state


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("PENDING", "waiting to start"), ("QUEUED", "waiting to start"), ("pending", "waiting to start"),
        ("STARTED", "in progress"), ("IN_PROGRESS", "in progress"), ("in_progress", "in progress"),
        ("in-progress", "in progress"), ("RETRY", "in progress"),
        ("SUCCESS", "done"), ("COMPLETED", "done"),
        ("FAILURE", "failed"), ("ERROR", "failed"),
        ("CANCELED", "cancelled"), ("REVOKED", "cancelled"), ("EXPIRED", "expired"),
        ("SOMETHING_NEW", "something new"), ("", ""), ("  ", ""),
    ],
)
def test_vendor_states_become_words(raw: str, words: str) -> None:
    assert vendor_state(raw) == words


@pytest.mark.parametrize(
    ("note", "next_in", "tries", "max_tries", "line"),
    [
        ("Instal answered 503", 20, 3, 9, "Instal answered 503; trying again in 20 s, try 3 of 9"),
        ("Instal answered 503", 19.6, 3, 9, "Instal answered 503; trying again in 20 s, try 3 of 9"),
        ("could not reach Instal", 75, 2, 9, "Could not reach Instal; trying again in 1 min 15 s, try 2 of 9"),
        ("Instal answered 503", 0.2, 4, 9, "Instal answered 503; trying again now, try 4 of 9"),
        ("Instal answered 503", -5, 4, 9, "Instal answered 503; trying again now, try 4 of 9"),
        ("Instal answered 503", 3, 0, 0, "Instal answered 503; trying again in 3 s"),
        ("", 20, 3, 9, ""),
    ],
)
def test_retry_line(note: str, next_in: float, tries: int, max_tries: int, line: str) -> None:
    assert retry_line(note, 1000.0 + next_in, tries, max_tries, 1000.0) == line


@pytest.mark.parametrize(
    ("exc", "said"),
    [
        (VendorTransient("Instal", "x", status=503), "Instal answered 503"),
        (VendorTransient("Instal", "x", status=502, retry_after=4), "Instal answered 502"),
        (VendorRateLimited("24Metrics", "x", status=429, retry_after=2), "24Metrics asked us to slow down (429)"),
        (VendorTransient("Instal", "x", kind="timeout"), "Instal did not answer in time"),
        (VendorTransient("Instal", "x", kind="connect"), "could not reach Instal"),
        (VendorTransient("Instal", "x", kind="broken"), "the connection to Instal broke off"),
        (VendorProtocolError("Instal", "x"), "Instal sent an answer we could not read"),
        (VendorTransient("Instal", "x", kind="settle"), "waiting to see whether Instal made the export asked for earlier"),
        (VendorTransient("Instal", "x"), "Instal had a problem"),
    ],
)
def test_what_a_retry_says_happened(exc: VendorTransient, said: str) -> None:
    assert retries.what_happened(exc.vendor, exc) == said


@pytest.mark.parametrize(("done", "low", "high"), [(0, 1.0, 1.25), (1, 2.0, 2.5), (4, 16.0, 20.0), (6, 60.0, 60.0),
                                                    (30, 60.0, 60.0)])
def test_backoff_doubles_from_the_setting_up_to_a_minute(done: int, low: float, high: float) -> None:
    for job_id in ("J0000000A", "J7K2P9QXM", "JZZZZZZZZ"):
        wait = retries.backoff(done, 1.0, job_id)
        assert low <= wait <= high
        assert wait == retries.backoff(done, 1.0, job_id), "the delay said is the delay used"


def test_nine_tries_take_about_three_minutes() -> None:
    total = sum(retries.backoff(n, 1.0) for n in range(retries.VENDOR_RETRIES))
    assert retries.MAX_TRIES == 9 and 150 <= total <= 240


@pytest.mark.parametrize(
    ("fields", "everyone", "shown", "hidden"),
    [
        ({"state": "requesting", "retry_note": "Instal answered 503", "next_try_at": NOW + 20, "tries": 3,
          "max_tries": 9}, False, ["asking the vendor", "Instal answered 503; trying again in 20 s, try 3 of 9"],
         ["*requesting*"]),
        ({"state": "waiting", "vendor_state": "IN_PROGRESS"}, False, ["waiting for the file (in progress)"],
         ["IN_PROGRESS"]),
        ({"state": "delivered", "retry_note": "Instal answered 503", "next_try_at": NOW + 20}, False,
         ["delivered"], ["answered 503"]),
        ({"state": "failed", "private": True, "error": "No filter group is called “nosuch”."}, False,
         ["*refused*", "No filter group is called", "told privately"], ["failed"]),
        ({"state": "failed", "private": True, "error": "No filter group is called “nosuch”."}, True,
         ["*refused*", "told privately"], ["nosuch"]),
        ({"state": "failed", "error": "Instal refused our token; an admin needs to check it."}, True,
         ["*failed*", "an admin needs to check it"], []),
    ],
)
def test_jobs_list_says_what_each_job_is_doing(fields: dict[str, object], everyone: bool, shown: list[str],
                                              hidden: list[str]) -> None:
    listed = job(**fields)
    text = str(render.jobs_list([listed], NOW, everyone=everyone).blocks)
    for part in shown:
        assert part in text
    for part in hidden:
        assert part not in text


def test_progress_shows_the_retry_and_drops_it_once_done() -> None:
    retrying = job(state="requesting", retry_note="Instal answered 503", next_try_at=NOW + 20, tries=3, max_tries=9)
    text = str(render.progress(retrying, NOW, "Instal").blocks)
    assert ":warning: Instal answered 503; trying again in 20 s, try 3 of 9" in text
    done = retrying.model_copy(update={"state": "cancelled"})
    assert "answered 503" not in str(render.progress(done, NOW, "Instal").blocks)
