"""A vendor that exists only for the tests: one folder, one command, one task, one sandbox route.

It proves that a vendor is one folder plus one registration line: nothing outside this folder
names it, and the test that registers it (``test_vendor_folder.py``) adds it to a catalogue the
way ``workers/vendors/registry.py`` lists the real ones.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import AnyHttpUrl, SecretStr
from pydantic_settings import SettingsConfigDict

from devkit.sandbox.base import Request, Response, Route, VendorApp
from workers.errors import Refused
from workers.grammar.spec import CommandSpec, Parsed, Positional
from workers.intake import Context, Submit
from workers.jobs import Job
from workers.render import Rendered, escape, section
from workers.runtime import Runtime
from workers.settings import VendorSettings
from workers.tasks import Task
from workers.vendors.http import VendorHTTP
from workers.vendors.spec import VendorSpec

NAME = "echo"


class EchoSettings(VendorSettings):
    model_config = SettingsConfigDict(env_prefix="ECHO_")
    name: ClassVar[str] = NAME

    api_key: SecretStr | None = None
    base_url: AnyHttpUrl = AnyHttpUrl("https://echo.invalid")


class EchoClient:
    def __init__(self, base_url: str, key: str, timeout: float) -> None:
        self.http = VendorHTTP("Echo", base_url, headers={"X-Echo-Key": key}, key_variable="ECHO_API_KEY", timeout=timeout)

    def say(self, word: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.http.json("GET", "/say", params={"word": word})
        return answer


def _client(settings: EchoSettings, timeout: float) -> EchoClient:
    assert settings.api_key is not None
    return EchoClient(str(settings.base_url), settings.api_key.get_secret_value(), timeout)


def _echo(parsed: Parsed, ctx: Context) -> Submit:
    return Submit.task(NAME, "echo_say", {"word": parsed.args["word"]}, f"Echo {parsed.args['word']}")


def _say(rt: Runtime, job: Job) -> dict[str, Any]:
    client: EchoClient = rt.client(NAME)
    answer = client.say(job.params["word"])
    if not answer.get("echo"):
        raise Refused("Echo had nothing to say.")
    return {"echo": answer["echo"]}


def _render(job: Job) -> Rendered:
    text = f":loud_sound: Echo says *{escape(job.result['echo'])}*"
    return Rendered(text=text, blocks=[section(text)])


class EchoApp(VendorApp):
    name = NAME

    def routes(self) -> list[Route]:
        return [Route("GET", f"{self.prefix}/say", "say", self.say)]

    def say(self, request: Request) -> Response:
        if request.header("X-Echo-Key") != "sandbox-token":
            return Response.json({"detail": "bad key"}, 401)
        word = (request.query.get("word") or [""])[0]
        return Response.json({"echo": word.upper()})


VENDOR = VendorSpec(
    name=NAME,
    display="Echo",
    settings=EchoSettings,
    client=_client,
    commands=(
        CommandSpec(
            words=("echo",),
            summary="Ask the echo vendor to shout a word back.",
            positionals=(Positional("word", "word", "What to shout."),),
            examples=("echo hello",),
            handler=_echo,
        ),
    ),
    tasks=(Task("echo_say", _say, _render),),
    sandbox=EchoApp,
    sandbox_env=lambda base_url, token: {"ECHO_API_KEY": token, "ECHO_BASE_URL": base_url},
)

__all__ = ["VENDOR"]
