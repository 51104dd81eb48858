"""The commands every deployment has, whatever its vendors: ``help``, ``jobs``, ``jobs cancel``,
the ``digest`` commands; and the registry of all commands, built from these and the vendors' own.
"""

from __future__ import annotations

from bot.digests import digest_commands
from workers import render, steps
from workers.grammar.parser import Registry
from workers.grammar.spec import CommandSpec, Parsed, Positional
from workers.intake import Context, Reply
from workers.vendors.spec import Catalogue

__all__ = ["build_registry"]


#: How many of everyone's latest jobs a non-admin's `jobs all` looks through for this channel's.
CHANNEL_SCAN = 200


def _jobs(parsed: Parsed, ctx: Context) -> Reply:
    everyone = parsed.args.get("scope") == "all"
    if everyone and not ctx.settings.is_admin(ctx.user_id):
        # Everyone's jobs include private channels and DMs, with their summaries: only admins see
        # them all. Others see everyone's in the channel they ask in, which they can read anyway.
        recent = ctx.rt.store.recent(None, limit=CHANNEL_SCAN)
        jobs = [job for job in recent if job.channel_id == ctx.channel_id][:20]
        message = render.jobs_list(jobs, ctx.rt.clock(), everyone=True)
        note = render.section(render.md("_This channel's jobs only: admins see every channel's._"))
        return Reply(message.text, [*message.blocks, note])
    jobs = ctx.rt.store.recent(None if everyone else ctx.user_id, limit=20 if everyone else 10)
    message = render.jobs_list(jobs, ctx.rt.clock(), everyone=everyone)
    return Reply(message.text, message.blocks)


def _jobs_cancel(parsed: Parsed, ctx: Context) -> Reply:
    return Reply(steps.cancel_for(ctx.rt, parsed.args["job_id"], ctx.user_id))


JOBS = CommandSpec(
    words=("jobs",),
    summary="Your recent jobs and their state; `all` for everyone's.",
    positionals=(
        Positional(
            "scope",
            "choice",
            "`all` lists everyone's jobs in this channel (admins: in every channel), not only yours.",
            choices=("all",),
            optional=True,
            default="mine",
        ),
    ),
    examples=("jobs", "jobs all"),
    handler=_jobs,
)

JOBS_CANCEL = CommandSpec(
    words=("jobs", "cancel"),
    summary="Cancel a queued or running job.",
    # No example: a job id exists only once a job does, and every example must run as printed.
    positionals=(Positional("job_id", "job", "The id from the job's queued line, such as `J7K2P9QXM`."),),
    handler=_jobs_cancel,
)


def _help(registry: Registry) -> CommandSpec:
    def check_topic(parsed: Parsed) -> None:
        # Resolving now turns `help exprot` into a usage error at once, like any other typo.
        registry.help_topic(parsed.args["topic"])

    def handle(parsed: Parsed, ctx: Context) -> Reply:
        message = render.help_message(registry.help_sections(parsed.args.get("topic")))
        return Reply(message.text, message.blocks)

    return CommandSpec(
        words=("help",),
        summary="How to use a command: its usage, options and examples.",
        positionals=(
            Positional(
                "topic",
                "word",
                "A command, or its first words (`export` explains every export).",
                optional=True,
                rest=True,
            ),
        ),
        examples=("help", "help export", "help jobs cancel"),
        validate=check_topic,
        handler=handle,
    )


def build_registry(vendors: Catalogue) -> Registry:
    """Every command, in the order help lists them: ours first, then each vendor's."""
    registry = Registry()
    for spec in (_help(registry), JOBS, JOBS_CANCEL, *digest_commands(registry, vendors), *vendors.commands):
        registry.register(spec)
    return registry
