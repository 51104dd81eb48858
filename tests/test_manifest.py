"""manifest.yml is what installs adops in a workspace: it must be a valid manifest and agree with
the code about where Slack sends requests and what the bot may do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "manifest.yml"
# Slack's published manifest schema (MIT, Slack Technologies; LICENSE-manifest-schema beside it).
SCHEMA = Path(__file__).resolve().parent / "data" / "slack" / "manifest.schema.1.0.0.json"

EVENTS_PATH = "/slack/events"  # served by the `web` process for commands and interactivity
NEEDED_BOT_SCOPES = {"commands", "chat:write", "files:write"}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA.read_text(encoding="utf-8"))


def test_manifest_validates_against_slack_schema(manifest: dict[str, Any], schema: dict[str, Any]) -> None:
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors)


def test_schema_rejects_what_slack_rejects(manifest: dict[str, Any], schema: dict[str, Any]) -> None:
    # guards the test above against a schema that accepts anything
    broken = {**manifest, "features": {**manifest["features"], "slash_commands": [{"command": "adops"}]}}
    validator_class = jsonschema.validators.validator_for(schema)
    assert list(validator_class(schema).iter_errors(broken))


def test_command_and_interactivity_share_the_events_url(manifest: dict[str, Any]) -> None:
    [command] = manifest["features"]["slash_commands"]
    interactivity = manifest["settings"]["interactivity"]

    assert command["command"] == "/adops"
    assert interactivity["is_enabled"] is True
    assert command["url"] == interactivity["request_url"]
    assert command["url"].startswith("https://") and command["url"].endswith(EVENTS_PATH)
    assert command.get("usage_hint") and command.get("description")


def test_bot_identity_and_mode(manifest: dict[str, Any]) -> None:
    assert manifest["display_information"]["name"] == "adops"
    assert manifest["features"]["bot_user"]["display_name"] == "adops"
    settings = manifest["settings"]
    assert (settings["socket_mode_enabled"], settings["org_deploy_enabled"], settings["token_rotation_enabled"]) == (
        False,
        False,
        False,
    )


def test_bot_scopes_cover_what_the_code_calls(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert NEEDED_BOT_SCOPES <= set(scopes)
    assert len(scopes) == len(set(scopes))
    assert "user" not in manifest["oauth_config"]["scopes"], "adops acts as its bot, never as a user"
