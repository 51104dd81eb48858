"""What the ingress answers at once, through the console's stack (real Bolt app, real actors on
Redis with the job store's Lua, the fake Slack, the sandbox): double submits, limits said
before anything is sent, vendors not set up, names with spaces, admin-only commands."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta

from bot.builtin import build_registry
from devkit.sandbox import Sandbox
from devkit.slack import LocalSlack
from tests.inprocess import InProcessStack
from tests.test_flow import CHANNEL, queued_job
from workers.vendors.metrics24.client import Metrics24Client
from workers.vendors.metrics24.sandbox import DEFAULT_INTEGRATION, group_id
from workers.vendors.registry import CATALOGUE, VENDORS
from workers.vendors.spec import Catalogue

ADMIN = "UADMIN"
GROUP = group_id(DEFAULT_INTEGRATION, 1)  # "EU Mobile – strict": monitoring off, active, when seeded


def _jobs(stack: InProcessStack) -> int:
    return len(stack.redis.keys("adops:job:*"))


def test_a_double_enter_is_one_job_even_when_the_first_has_finished(stack: InProcessStack) -> None:
    first = queued_job(stack.command("fraud yesterday"))
    stack.wait_job(first, ("delivered",))
    second = stack.command("fraud yesterday").json()["text"]
    assert f"it is job `{first}`, which has already finished" in second, second
    assert _jobs(stack) == 1
    # Someone else asking the same is their own job.
    assert queued_job(stack.command("fraud yesterday", user="UBOB")) != first


def test_a_double_enter_while_the_first_runs_names_it_with_how_to_stop_it(stack: InProcessStack, vendor: Sandbox) -> None:
    vendor.set_ready_after(30)
    first = queued_job(stack.command("export 24metrics clicks yesterday"))
    second = stack.command("export 24metrics clicks yesterday").json()["text"]
    assert f"it is job `{first}`. `/adops jobs cancel {first}` stops it." in second
    assert _jobs(stack) == 1


def test_an_export_longer_than_the_download_centers_window_is_cut_at_once(
    make_stack: Callable[..., InProcessStack], vendor: Sandbox
) -> None:
    stack = make_stack(METRICS24_EXPORT_MAX_DAYS="30")
    end = date.today() - timedelta(days=1)
    start = end - timedelta(days=99)
    body = stack.command(f"export 24metrics clicks {start}..{end}").json()["text"]
    cut = end - timedelta(days=29)
    assert "Queued as job" in body and f"this export covers {cut}..{end} (the last 30 of the 100 days" in body, body
    job_id = re.search(r"J[0-9A-Z]{8}", body).group(0)  # type: ignore[union-attr]
    assert stack.job(job_id)["params"].count(f'"start_date":"{cut}"') == 1
    # Within the window, nothing is said.
    assert "at most" not in stack.command(f"export 24metrics clicks {cut}..{end}").json()["text"]


#: A vendor people may name that no deployment has: this test's own catalogue plans it, so the
#: test keeps its meaning whichever real vendors are registered by then.
PLANNED_ONLY = Catalogue(VENDORS, absent={"acmeads": "Acme Ads"})


def test_a_vendor_that_is_not_installed_is_said_to_be_not_set_up(make_stack: Callable[..., InProcessStack]) -> None:
    stack = make_stack(vendors=PLANNED_ONLY)
    body = stack.command("export acmeads yesterday").json()["text"]
    assert body.startswith("Acme Ads is not set up here") and "Unknown subcommand" not in body
    assert "connector" not in body  # the admin's detail
    assert "connector installed" in stack.command("export acmeads last7d", user=ADMIN).json()["text"]
    # A real typo is still a typo.
    assert "Unknown subcommand `export everthing`" in stack.command("export everthing yesterday").json()["text"]
    assert _jobs(stack) == 0


def test_no_default_integration_is_said_in_plain_words_except_to_admins(
    make_stack: Callable[..., InProcessStack],
) -> None:
    stack = make_stack(METRICS24_INTEGRATION_ID="")
    text = stack.command("filters").json()["text"]
    assert "Which 24Metrics integration?" in text and "METRICS24_" not in text
    assert "METRICS24_INTEGRATION_ID" in stack.command("filters", user=ADMIN).json()["text"]
    assert "METRICS24_INTEGRATION_ID is not set" in stack.logs()


def test_a_group_name_with_spaces_needs_no_quotes(stack: InProcessStack, vendor: Sandbox) -> None:
    with Metrics24Client(vendor.base_url("24metrics"), vendor.TOKEN, integration_id=DEFAULT_INTEGRATION) as m24:
        assert m24.get_filter_group(GROUP).monitoring_mode is False
        job_id = queued_job(stack.command("monitor EU Mobile – strict on", user=ADMIN))
        stack.wait_job(job_id, ("delivered",))
        assert m24.get_filter_group(GROUP).monitoring_mode is True
        job_id = queued_job(stack.command("filters active EU Mobile – strict off", user=ADMIN))
        stack.wait_job(job_id, ("delivered",))
        assert m24.get_filter_group(GROUP).active is False


def test_every_admin_only_command_is_refused_before_anything_is_posted(
    stack: InProcessStack, slack: LocalSlack
) -> None:
    admin_only = [spec for spec in build_registry(CATALOGUE).values() if spec.admin_only]
    assert {spec.name for spec in admin_only} >= {"monitor", "filters active", "filters delete", "export 24metrics delete"}
    for spec in admin_only:
        for example in spec.examples:
            body = stack.command(example).json()
            assert body["text"] == f"Only admins can use `/adops {spec.name}`; nothing was changed.", body
            assert "blocks" not in body  # no button, so no confirm dialog
    assert _jobs(stack) == 0 and stack.broker_idle()
    assert [m for m in slack.messages(CHANNEL) if not m.ephemeral] == []
    assert "not in ADOPS_ADMINS" in stack.logs()
