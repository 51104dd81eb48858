"""The `digest` commands: schedule any report command for a channel, and manage the schedules.

Everything a digest will need is checked when it is added, in front of the admin who types it:
the schedule (a bad field is named), the zone (the nearest is suggested), how often it runs
(``ADOPS_DIGEST_MIN_INTERVAL``), and the command itself, which must read, must be a report (a
command that changes state never runs unattended) and must be one this deployment can run. The
command is then stored as the parser writes it back and read again at every run.

A digest belongs to the channel it was added in: its id works only there, so nobody can pause or
run another channel's digest by guessing an id.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from workers import audit
from workers.digests import fire
from workers.digests.cron import Cron, CronError, parse_cron, zone_words
from workers.digests.outcome import local_time, schedule_words
from workers.digests.store import Digest, new_digest_id
from workers.errors import UsageError
from workers.grammar.parser import Registry
from workers.grammar.spec import CommandSpec, Option, Parsed, Positional
from workers.grammar.values import convert_option
from workers.intake import Context, Reply
from workers.mrkdwn import Mrkdwn, code, md, mention
from workers.mrkdwn import date as slack_date
from workers.vendors.spec import Catalogue

__all__ = ["digest_commands"]

#: `digest run` by anyone: the same digest again within this long is a double click.
RUN_AGAIN_AFTER = 10
_ID = re.compile(r"D[0-9A-HJKMNP-TV-Z]{5}")
_OWN_WORDS = ("tz", "skip-empty")

SCHEDULE = Positional("schedule", "word", "A cron schedule in quotes: minute hour day-of-month month day-of-week, "
                      "as in `\"0 9 * * MON-FRI\"` (an optional leading seconds field, and `@daily`, work too).",
                      metavar="\"cron\"")
DIGEST_ID = Positional("digest_id", "word", "The digest's id, from `digest list`, such as `D7K2P9`.", metavar="digest-id")
TZ = Option("tz", "tz", "The zone the schedule and date words are read in; default ADOPS_TIMEZONE.")


def _check_id(parsed: Parsed) -> str | None:
    value = str(parsed.args["digest_id"]).upper()
    if not _ID.fullmatch(value):
        return f"`{parsed.args['digest_id']}` is not a digest id: D followed by 5 letters or digits, as `digest list` shows."
    return None


def _check_schedule(parsed: Parsed) -> str | None:
    try:
        parse_cron(str(parsed.args["schedule"]))
    except CronError as exc:
        return str(exc)
    return None


def digest_commands(registry: Registry, vendors: Catalogue) -> tuple[CommandSpec, ...]:
    """The `digest` commands; ``registry`` (all commands) reads the scheduled command."""

    def add(parsed: Parsed, ctx: Context) -> Reply:
        try:
            inner = _own_options_at_end(registry, str(parsed.args["command"]), parsed)
        except UsageError as exc:
            return Reply(f"No digest was added: {exc.message}")
        tz = parsed.args.get("tz") or inner.tz or ctx.settings.adops_timezone
        cron = parse_cron(str(parsed.args["schedule"]))
        too_often = _too_often(cron, tz, ctx)
        if too_often:
            return Reply(too_often)
        today = datetime.fromtimestamp(ctx.rt.clock(), ZoneInfo(tz)).date()
        try:
            command = registry.parse(inner.text, today=today)
        except UsageError as exc:
            return Reply(f"That command doesn't read, so no digest was added: {exc}")
        own = command.spec.option("tz")
        if own is not None and own.kind == "tz" and command.args.get("tz") is None:
            # Its days are read in the digest's zone, as its date words are: said in the command.
            command = registry.parse(f"{command.text} tz={tz}", today=today)
        what = fire.prepare(ctx.rt, vendors, registry, command.text, user_id=ctx.user_id, channel_id=ctx.channel_id,
                            today=today)
        if isinstance(what, str):
            return Reply(f"No digest was added: {what}")
        now = ctx.rt.clock()
        digest = Digest(id=new_digest_id(), channel_id=ctx.channel_id, command=command.text, cron=cron.text, tz=tz,
                        skip_empty="skip-empty" in parsed.flags or inner.skip_empty, created_by=ctx.user_id,
                        created_at=now, next_at=cron.next_after(now, ZoneInfo(tz)))
        ctx.rt.digests.add(digest)
        _audit(ctx, "digest add", digest.id, "", f"{cron.text} ({tz}) /adops {digest.command}")
        empty = " Runs with nothing to report are left out." if digest.skip_empty else ""
        return Reply(str(md("Digest {} added: {}, {}.{} Next runs: {}. {} shows it now.", code(digest.id),
                            code(f"/adops {digest.command}"), schedule_words(cron.text, tz), empty,
                            _next_runs(cron, tz, now), code(f"/adops digest run {digest.id}"))))

    @_found
    def edit(digest: Digest, parsed: Parsed, ctx: Context) -> Reply:
        tz = parsed.args.get("tz") or digest.tz
        cron = parse_cron(str(parsed.args["schedule"]))
        too_often = _too_often(cron, tz, ctx)
        if too_often:
            return Reply(too_often)
        now = ctx.rt.clock()
        ctx.rt.digests.reschedule(digest.id, cron=cron.text, tz=tz, next_at=cron.next_after(now, ZoneInfo(tz)),
                                  by=ctx.user_id, now=now)
        _audit(ctx, "digest edit", digest.id, f"{digest.cron} ({digest.tz})", f"{cron.text} ({tz})")
        paused = " It stays paused until resumed." if digest.paused else f" Next runs: {_next_runs(cron, tz, now)}."
        return Reply(str(md("Digest {} now runs {}.", code(digest.id), schedule_words(cron.text, tz))) + paused)

    def listing(parsed: Parsed, ctx: Context) -> Reply:
        digests = ctx.rt.digests.in_channel(ctx.channel_id)
        if not digests:
            return Reply("No digests in this channel yet. An admin adds one with "
                         "`/adops digest add \"0 9 * * MON-FRI\" funnel yesterday`.")
        lines = [_line(d) for d in digests]
        return Reply(str(md("*Digests in this channel* ({})", len(digests))) + "\n" + "\n".join(lines))

    @_found
    def pause(digest: Digest, parsed: Parsed, ctx: Context) -> Reply:
        if digest.paused:
            return Reply(f"Digest `{digest.id}` is paused already. `/adops digest resume {digest.id}` resumes it.")
        ctx.rt.digests.pause(digest.id, by=ctx.user_id, now=ctx.rt.clock())
        _audit(ctx, "digest pause", digest.id, "active", "paused")
        return Reply(f"Digest `{digest.id}` is paused: it won't run until `/adops digest resume {digest.id}`.")

    @_found
    def resume(digest: Digest, parsed: Parsed, ctx: Context) -> Reply:
        if not digest.paused:
            return Reply(f"Digest `{digest.id}` isn't paused; it next runs {_when(digest.next_at, digest.tz)}.")
        now = ctx.rt.clock()
        next_at = parse_cron(digest.cron).next_after(now, ZoneInfo(digest.tz))
        ctx.rt.digests.resume(digest.id, next_at=next_at)
        _audit(ctx, "digest resume", digest.id, "paused", "active")
        return Reply(f"Digest `{digest.id}` is running again; next run {_when(next_at, digest.tz)}.")

    @_found
    def remove(digest: Digest, parsed: Parsed, ctx: Context) -> Reply:
        ctx.rt.digests.remove(digest)
        _audit(ctx, "digest remove", digest.id, f"{digest.cron} ({digest.tz}) /adops {digest.command}", "")
        return Reply(str(md("Digest {} removed ({}). A run already under way still posts.", code(digest.id),
                            code(f"/adops {digest.command}"))))

    @_found
    def run_now(digest: Digest, parsed: Parsed, ctx: Context) -> Reply:
        if not ctx.rt.store.claim(f"digest-run:{digest.id}", RUN_AGAIN_AFTER):
            return Reply(f"Digest `{digest.id}` was run a moment ago; its outcome is on its way to this channel.")
        ctx.rt.dispatch.digest(digest.id, ctx.rt.clock(), by=ctx.user_id)
        return Reply(str(md("Running digest {} now ({}); its outcome will appear in this channel.", code(digest.id),
                            code(f"/adops {digest.command}"))))

    def spec(words: str, summary: str, handler: Callable[[Parsed, Context], Reply], *, admin: bool = True,
             schedule: bool = False, examples: tuple[str, ...] = ()) -> CommandSpec:
        return CommandSpec(
            words=("digest", words), summary=summary,
            positionals=(DIGEST_ID, SCHEDULE) if schedule else (DIGEST_ID,),
            options=(TZ,) if schedule else (), admin_only=admin, changes_state=True, examples=examples,
            validate=_both(_check_id, _check_schedule) if schedule else _check_id, handler=handler,
        )

    return (
        CommandSpec(
            words=("digest", "add"),
            summary="Post a report command's outcome in this channel on a schedule.",
            positionals=(SCHEDULE, Positional("command", "word", "The report command to run, as you would type it.",
                                              metavar="command", raw=True)),
            options=(TZ,), flags=("skip-empty",), admin_only=True, changes_state=True,
            examples=('digest add "0 9 * * MON-FRI" tz=Europe/Berlin funnel yesterday by=stream_id',
                      'digest add "30 8 * * *" skip-empty fraud yesterday'),
            validate=_check_schedule, handler=add,
        ),
        CommandSpec(words=("digest", "list"), summary="This channel's digests: schedule, command, next and last run.",
                    examples=("digest list",), handler=listing),
        spec("edit", "Give a digest a new schedule (and zone).", edit, schedule=True),
        spec("pause", "Stop a digest from running until it is resumed.", pause),
        spec("resume", "Run a paused digest on its schedule again.", resume),
        spec("remove", "Delete a digest.", remove),
        spec("run", "Run a digest once, now (its schedule is unchanged).", run_now, admin=False),
    )


class _Inner(NamedTuple):
    """The scheduled command, with the digest's own options taken off its end."""

    text: str
    tz: str | None
    skip_empty: bool


def _own_options_at_end(registry: Registry, text: str, outer: Parsed) -> _Inner:
    """`digest add "<cron>" funnel yesterday tz=Europe/Berlin` as well as with `tz=` first: a
    trailing `tz=` or `skip-empty` is the digest's, unless the command itself takes it (an
    export with a `tz=` of its own keeps it). Raises UsageError for a trailing zone that isn't one."""
    spec = registry.spec_for(text)
    tz, skip, rest = None, False, text.strip()
    while rest:
        head, _, last = rest.rpartition(" ")
        if last.lower() == "skip-empty" and not (spec and "skip-empty" in spec.flags):
            skip = True
        elif last.lower().startswith("tz=") and not (spec and spec.option("tz")) and outer.args.get("tz") is None:
            tz = _zone(last[3:])
        else:
            break
        rest = head.rstrip()
    return _Inner(rest, tz, skip)


def _zone(value: str) -> str:
    """A trailing `tz=`, read as the option is (nearest zone suggested); raises UsageError."""
    return str(convert_option(TZ, value, lambda message: UsageError(message, ""), date.today()))


def _audit(ctx: Context, what: str, digest_id: str, before: str, after: str) -> None:
    """Who changed which digest, in the audit stream (and ADOPS_AUDIT_CHANNEL), as any change is."""
    audit.record_and_copy(ctx.rt, who=ctx.user_id, what=what, target=f"{digest_id} in {ctx.channel_id}",
                          before=before, after=after)


def _too_often(cron: Cron, tz: str, ctx: Context) -> str | None:
    least = ctx.settings.adops_digest_min_interval
    gap = cron.shortest_gap(ctx.rt.clock(), ZoneInfo(tz))
    if gap >= least:
        return None
    return (f"`{cron.text}` would run every {_seconds(gap)}; a digest may run at most every {_seconds(least)} "
            "(ADOPS_DIGEST_MIN_INTERVAL). Nothing was changed.")


def _found(handler: Callable[[Digest, Parsed, Context], Reply]) -> Callable[[Parsed, Context], Reply]:
    """``handler`` run on the digest the command names, if it is one of this channel's."""

    def run(parsed: Parsed, ctx: Context) -> Reply:
        digest_id = str(parsed.args["digest_id"]).upper()
        digest = ctx.rt.digests.get(digest_id)
        if digest is None or digest.channel_id != ctx.channel_id:
            return Reply(f"There is no digest `{digest_id}` in this channel; `/adops digest list` shows them.")
        return handler(digest, parsed, ctx)

    return run


def _line(d: Digest) -> str:
    head = md("{} {} · {}", code(d.id), code(f"/adops {d.command}"), schedule_words(d.cron, d.tz))
    if d.paused:
        state = md("paused by {}", mention(d.paused_by)) if d.paused_by else md(
            "paused itself after {} failures in a row", d.failures)
    else:
        state = md("next {}", Mrkdwn(_when(d.next_at, d.tz)))
    last = md(" · last {} {}", d.last_state, slack_date(d.last_at)) if d.last_state else Mrkdwn(" · not run yet")
    empty = Mrkdwn(" · skip-empty") if d.skip_empty else Mrkdwn("")
    return f"• {head}\n    {state}{last}{empty}"


def _next_runs(cron: Cron, tz: str, now: float) -> str:
    runs = cron.upcoming(now, ZoneInfo(tz), 3)
    return ", ".join(local_time(t, tz) for t in runs) + f" ({zone_words(tz)})"


def _when(at: float, tz: str) -> str:
    return f"{local_time(at, tz)} ({zone_words(tz)})"


def _seconds(value: float) -> str:
    if value >= 3600 and value % 3600 == 0:
        return f"{int(value // 3600)} h"
    if value >= 60 and value % 60 == 0:
        return f"{int(value // 60)} min"
    return f"{value:g} s"


def _both(*checks: Callable[[Parsed], str | None]) -> Callable[[Parsed], str | None]:
    def check(parsed: Parsed) -> str | None:
        return next((problem for c in checks if (problem := c(parsed))), None)

    return check
