"""A broken environment becomes one line naming every bad variable, and exit code 2."""

from __future__ import annotations

import pytest
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from booking_contract.settings import ConfigError, command_line, describe, fail, load, wants_help


class Example(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    example_database_url: SecretStr
    example_port: int = Field(default=8001, ge=1, le=65535)
    example_mode: str = "auto"
    example_plans: dict[str, int] = Field(default_factory=dict)

    @field_validator("example_database_url")
    @classmethod
    def _postgres(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("postgresql://"):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("example_mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        if value not in {"auto", "off"}:
            raise ValueError("must be 'auto' or 'off'")
        return value


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EXAMPLE_DATABASE_URL", "EXAMPLE_PORT", "EXAMPLE_MODE", "EXAMPLE_PLANS"):
        monkeypatch.delenv(name, raising=False)


def test_a_good_environment_gives_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_DATABASE_URL", "postgresql://u:p@h/db")
    assert load(Example).example_port == 8001


def test_a_missing_variable_is_named_as_not_set() -> None:
    with pytest.raises(ConfigError) as error:
        load(Example)
    assert str(error.value) == "EXAMPLE_DATABASE_URL is not set"


def test_every_bad_variable_is_named_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_PORT", "0")
    monkeypatch.setenv("EXAMPLE_MODE", "maybe")
    with pytest.raises(ConfigError) as error:
        load(Example)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("EXAMPLE_DATABASE_URL is not set; ")
    assert "EXAMPLE_PORT: " in message
    assert "EXAMPLE_MODE: must be 'auto' or 'off'" in message


def test_the_rejected_value_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_DATABASE_URL", "mysql://admin:hunter2@db/x")
    with pytest.raises(ConfigError) as error:
        load(Example)
    assert str(error.value) == "EXAMPLE_DATABASE_URL: must be a postgresql:// URL"


def test_a_variable_that_is_not_json_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_DATABASE_URL", "postgresql://u:p@h/db")
    monkeypatch.setenv("EXAMPLE_PLANS", "{not json")
    with pytest.raises(ConfigError, match="example_plans"):
        load(Example)


def test_describe_names_nested_fields_by_their_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_DATABASE_URL", "postgresql://u:p@h/db")
    monkeypatch.setenv("EXAMPLE_PLANS", '{"1m": "thirty"}')
    with pytest.raises(ValidationError) as error:
        Example()  # type: ignore[call-arg]
    assert describe(error.value).startswith("EXAMPLE_PLANS.1m: ")


def test_fail_prints_one_line_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        fail("booking-example", "A is not set;\n B: wrong")
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "booking-example: configuration error: A is not set; B: wrong\n"


def test_help_is_asked_for_with_either_flag() -> None:
    assert wants_help(["--help"]) and wants_help(["run", "-h"])
    assert not wants_help(["run"]) and not wants_help([])


USAGE = "usage: python -m example [run|migrate]"


def test_no_arguments_choose_the_first_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert command_line([], USAGE, ("run", "migrate")) == "run"
    assert capsys.readouterr() == ("", "")


def test_a_component_without_commands_runs_on_an_empty_command_line() -> None:
    assert command_line([], USAGE) == ""


def test_a_named_command_is_chosen() -> None:
    assert command_line(["migrate"], USAGE, ("run", "migrate")) == "migrate"


def test_help_prints_the_usage_on_stdout_and_returns_none(capsys: pytest.CaptureFixture[str]) -> None:
    assert command_line(["migrate", "--help"], USAGE, ("run", "migrate")) is None
    assert capsys.readouterr() == (USAGE + "\n", "")


@pytest.mark.parametrize(
    ("args", "commands"),
    [
        (["serve"], ("run", "migrate")),  # an unknown command
        (["migrate", "now"], ("run", "migrate")),  # an argument the command does not take
        (["run"], ()),  # a component that takes no command at all
        (["--verbose"], ()),
    ],
)
def test_anything_else_prints_the_usage_on_stderr_and_exits_2(
    capsys: pytest.CaptureFixture[str], args: list[str], commands: tuple[str, ...]
) -> None:
    with pytest.raises(SystemExit) as exited:
        command_line(args, USAGE, commands)
    assert exited.value.code == 2
    assert capsys.readouterr() == ("", USAGE + "\n")


def test_only_the_commands_named_take_the_rest_of_the_command_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    commands = ("serve", "refund")
    assert (
        command_line(["refund", "pay_1", "--reason", "x"], USAGE, commands, with_arguments={"refund"})
        == "refund"
    )
    with pytest.raises(SystemExit):
        command_line(["serve", "pay_1"], USAGE, commands, with_arguments={"refund"})
    assert capsys.readouterr().err == USAGE + "\n"
