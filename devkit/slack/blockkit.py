"""Block Kit as Slack checks it on messages: the limits, and ``block_errors``, which names every
violation the way Slack's ``invalid_blocks`` answer does. Pure: no server, no state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devkit.slack.model import ApiError

__all__ = ["MAX_MESSAGE_TEXT", "block_errors", "check_content"]

# Block Kit limits, as Slack enforces them on messages (not modals or App Home).
MAX_BLOCKS = 50
MAX_MESSAGE_TEXT = 40_000
MAX_SECTION_TEXT = 3_000
MAX_FIELD_TEXT = 2_000
MAX_FIELDS = 10
MAX_HEADER_TEXT = 150
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2_000
MAX_URL = 3_000
MAX_ACTION_ID = 255
MAX_BLOCK_ID = 255
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_BUTTON = 30
MAX_ALT_TEXT = 2_000
MAX_OPTIONS = 100
MAX_OVERFLOW_OPTIONS = 5
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_MARKDOWN_BLOCK_TEXT = 12_000

_KNOWN_BLOCKS = frozenset(
    {
        "actions",
        "context",
        "context_actions",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)
_BUTTON_STYLES = frozenset({"primary", "danger"})


def block_errors(blocks: Any) -> list[str]:
    """Return Slack-style error strings for ``blocks``; an empty list means Slack would accept them.

    Each string names the offending spot with a JSON pointer the way Slack's ``errors`` do, e.g.
    ``"must be less than 3001 characters [json-pointer:/blocks/0/text/text]"``.
    """
    errors: list[str] = []
    if not isinstance(blocks, list):
        return [_err("must be an array", "/blocks")]
    if len(blocks) > MAX_BLOCKS:
        errors.append(_err(f"no more than {MAX_BLOCKS} items allowed", "/blocks"))
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        ptr = f"/blocks/{i}"
        if not isinstance(block, dict):
            errors.append(_err("must be an object", ptr))
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not _str_within(block_id, MAX_BLOCK_ID):
                errors.append(_too_long(MAX_BLOCK_ID, f"{ptr}/block_id"))
            elif block_id in block_ids:
                errors.append(_err(f"duplicate block_id {block_id!r}", f"{ptr}/block_id"))
            block_ids.add(block_id)
        kind = block.get("type")
        check = _BLOCK_CHECKS.get(kind) if isinstance(kind, str) else None
        if kind not in _KNOWN_BLOCKS:
            errors.append(_err(f"unsupported type {kind!r}", f"{ptr}/type"))
        elif check is not None:
            check(block, ptr, errors)
    return errors


def _err(message: str, pointer: str) -> str:
    return f"{message} [json-pointer:{pointer}]"


def _too_long(limit: int, pointer: str) -> str:
    return _err(f"must be less than {limit + 1} characters", pointer)


def _str_within(value: Any, limit: int) -> bool:
    return isinstance(value, str) and len(value) <= limit


def _text(obj: Any, ptr: str, errors: list[str], *, limit: int, plain_only: bool = False) -> None:
    if not isinstance(obj, dict):
        errors.append(_err("must be a text object", ptr))
        return
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if obj.get("type") not in allowed:
        errors.append(_err(f"must be one of {list(allowed)}", f"{ptr}/type"))
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        errors.append(_err("must be more than 0 characters", f"{ptr}/text"))
    elif len(text) > limit:
        errors.append(_too_long(limit, f"{ptr}/text"))


def _confirm(obj: Any, ptr: str, errors: list[str]) -> None:
    if not isinstance(obj, dict):
        errors.append(_err("must be a confirmation dialog object", ptr))
        return
    _text(obj.get("title"), f"{ptr}/title", errors, limit=MAX_CONFIRM_TITLE, plain_only=True)
    _text(obj.get("text"), f"{ptr}/text", errors, limit=MAX_CONFIRM_TEXT)
    _text(obj.get("confirm"), f"{ptr}/confirm", errors, limit=MAX_CONFIRM_BUTTON, plain_only=True)
    _text(obj.get("deny"), f"{ptr}/deny", errors, limit=MAX_CONFIRM_BUTTON, plain_only=True)
    if obj.get("style") is not None and obj["style"] not in _BUTTON_STYLES:
        errors.append(_err("must be one of ['primary', 'danger']", f"{ptr}/style"))


def _options(options: Any, ptr: str, errors: list[str], *, most: int) -> None:
    if not isinstance(options, list) or not options:
        errors.append(_err("must provide at least 1 items", ptr))
        return
    if len(options) > most:
        errors.append(_err(f"no more than {most} items allowed", ptr))
    for j, option in enumerate(options):
        optr = f"{ptr}/{j}"
        if not isinstance(option, dict):
            errors.append(_err("must be an option object", optr))
            continue
        _text(option.get("text"), f"{optr}/text", errors, limit=MAX_OPTION_TEXT)
        if not _str_within(option.get("value"), MAX_OPTION_VALUE):
            errors.append(_too_long(MAX_OPTION_VALUE, f"{optr}/value"))


def _element(el: Any, ptr: str, errors: list[str]) -> str | None:
    """Check one interactive element; return its action_id for the uniqueness check."""
    if not isinstance(el, dict) or not isinstance(el.get("type"), str):
        errors.append(_err("must be a block element", ptr))
        return None
    action_id = el.get("action_id")
    if action_id is not None and not _str_within(action_id, MAX_ACTION_ID):
        errors.append(_too_long(MAX_ACTION_ID, f"{ptr}/action_id"))
    if "confirm" in el:
        _confirm(el["confirm"], f"{ptr}/confirm", errors)
    kind = el["type"]
    if kind == "button":
        _text(el.get("text"), f"{ptr}/text", errors, limit=MAX_BUTTON_TEXT, plain_only=True)
        if "value" in el and not _str_within(el["value"], MAX_BUTTON_VALUE):
            errors.append(_too_long(MAX_BUTTON_VALUE, f"{ptr}/value"))
        if "url" in el and not _str_within(el["url"], MAX_URL):
            errors.append(_too_long(MAX_URL, f"{ptr}/url"))
        if el.get("style") is not None and el["style"] not in _BUTTON_STYLES:
            errors.append(_err("must be one of ['primary', 'danger']", f"{ptr}/style"))
    elif kind == "overflow":
        _options(el.get("options"), f"{ptr}/options", errors, most=MAX_OVERFLOW_OPTIONS)
    elif kind in ("static_select", "multi_static_select", "radio_buttons", "checkboxes"):
        if "option_groups" not in el:
            _options(el.get("options"), f"{ptr}/options", errors, most=MAX_OPTIONS)
    return action_id if isinstance(action_id, str) else None


def _elements(elements: Any, ptr: str, errors: list[str], *, most: int) -> None:
    if not isinstance(elements, list) or not elements:
        errors.append(_err("must provide at least 1 items", ptr))
        return
    if len(elements) > most:
        errors.append(_err(f"no more than {most} items allowed", ptr))
    seen: set[str] = set()
    for j, el in enumerate(elements):
        action_id = _element(el, f"{ptr}/{j}", errors)
        if action_id is not None:
            if action_id in seen:
                errors.append(_err(f"duplicate action_id {action_id!r}", f"{ptr}/{j}/action_id"))
            seen.add(action_id)


def _section(block: dict[str, Any], ptr: str, errors: list[str]) -> None:
    if "text" not in block and "fields" not in block:
        errors.append(_err("must provide either text or fields", ptr))
    if "text" in block:
        _text(block["text"], f"{ptr}/text", errors, limit=MAX_SECTION_TEXT)
    if "fields" in block:
        fields = block["fields"]
        if not isinstance(fields, list) or not fields:
            errors.append(_err("must provide at least 1 items", f"{ptr}/fields"))
        else:
            if len(fields) > MAX_FIELDS:
                errors.append(_err(f"no more than {MAX_FIELDS} items allowed", f"{ptr}/fields"))
            for j, item in enumerate(fields):
                _text(item, f"{ptr}/fields/{j}", errors, limit=MAX_FIELD_TEXT)
    if "accessory" in block:
        _element(block["accessory"], f"{ptr}/accessory", errors)


def _header(block: dict[str, Any], ptr: str, errors: list[str]) -> None:
    _text(block.get("text"), f"{ptr}/text", errors, limit=MAX_HEADER_TEXT, plain_only=True)


def _actions(block: dict[str, Any], ptr: str, errors: list[str]) -> None:
    _elements(block.get("elements"), f"{ptr}/elements", errors, most=MAX_ACTIONS_ELEMENTS)


def _context(block: dict[str, Any], ptr: str, errors: list[str]) -> None:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        errors.append(_err("must provide at least 1 items", f"{ptr}/elements"))
        return
    if len(elements) > MAX_CONTEXT_ELEMENTS:
        errors.append(_err(f"no more than {MAX_CONTEXT_ELEMENTS} items allowed", f"{ptr}/elements"))
    for j, el in enumerate(elements):
        if isinstance(el, dict) and el.get("type") == "image":
            continue
        _text(el, f"{ptr}/elements/{j}", errors, limit=MAX_SECTION_TEXT)


def _image(block: dict[str, Any], ptr: str, errors: list[str]) -> None:
    if "image_url" not in block and "slack_file" not in block:
        errors.append(_err("must provide either image_url or slack_file", ptr))
    if "image_url" in block and not _str_within(block["image_url"], MAX_URL):
        errors.append(_too_long(MAX_URL, f"{ptr}/image_url"))
    alt = block.get("alt_text")
    if not isinstance(alt, str) or not alt:
        errors.append(_err("must be more than 0 characters", f"{ptr}/alt_text"))
    elif len(alt) > MAX_ALT_TEXT:
        errors.append(_too_long(MAX_ALT_TEXT, f"{ptr}/alt_text"))


def _markdown(block: dict[str, Any], ptr: str, errors: list[str]) -> None:
    text = block.get("text")
    if not isinstance(text, str) or not text:
        errors.append(_err("must be more than 0 characters", f"{ptr}/text"))
    elif len(text) > MAX_MARKDOWN_BLOCK_TEXT:
        errors.append(_too_long(MAX_MARKDOWN_BLOCK_TEXT, f"{ptr}/text"))


_BLOCK_CHECKS: dict[str, Callable[[dict[str, Any], str, list[str]], None]] = {
    "section": _section,
    "header": _header,
    "actions": _actions,
    "context": _context,
    "image": _image,
    "markdown": _markdown,
}


def check_content(params: dict[str, Any]) -> None:
    """Raise the ``ApiError`` Slack answers for a message's ``text``/``blocks``/``attachments``,
    the same for ``chat.*`` and a ``response_url``."""
    text = params.get("text")
    if text is not None and not isinstance(text, str):
        raise ApiError("invalid_arguments")
    blocks = params.get("blocks")
    if blocks is not None:
        errors = block_errors(blocks)
        if errors:
            raise ApiError(
                "invalid_blocks",
                errors=errors,
                response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
            )
    if not text and not blocks and not params.get("attachments"):
        raise ApiError("no_text")
    if text and len(text) > MAX_MESSAGE_TEXT:
        raise ApiError("msg_too_long")
