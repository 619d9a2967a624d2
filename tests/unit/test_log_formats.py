"""``--log-format``: the text and JSON lines of serve and agent, and the redaction of
secrets before anything is written (``netnode/cli/log_formats.py``)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from netnode.cli import log_formats
from netnode.cli.log_formats import JsonFormatter, TextFormatter, redact

KEY = """-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7
-----END PRIVATE KEY-----"""


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("netnode.agent", logging.WARNING, __file__, 1, message, args, None)
    for name, value in extra.items():
        setattr(rec, name, value)
    return rec


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        (
            "store: postgresql+psycopg://netnode:s3cret@db:5432/netnode is unavailable",
            "postgresql+psycopg://netnode:***@db:5432/netnode",
            "s3cret",
        ),
        ("GET / X-Auth-Token: abcdef0123456789", "X-Auth-Token: ***", "abcdef0123456789"),
        ('{"token": "alpha-token-000", "role": "member"}', '"role": "member"', "alpha-token-000"),
        ("password=hunter22 user=x", "user=x", "hunter22"),
        (f"loaded {KEY} done", "private key ***", "MIIEvQIBADAN"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEcut", "rsa private key ***", "MIIEcut"),
    ],
)
def test_secrets_are_redacted(text: str, kept: str, gone: str) -> None:
    out = redact(text)
    assert kept in out
    assert gone not in out


def test_what_is_no_secret_is_left_alone() -> None:
    text = (
        "lb-1: full pass (3 units): 1 created, 0 changed, 0 deleted in 0.120 s; http://10.0.0.5:80/"
    )
    assert redact(text) == text


@pytest.fixture
def configured() -> Iterator[io.StringIO]:
    loggers = [logging.getLogger(name) for name in log_formats.LOGGERS]
    saved = [(list(x.handlers), x.level) for x in loggers]
    out = io.StringIO()
    log_formats.configure("json", stream=out, db_url="postgresql+psycopg://nn:pa%24%24word@db/nn")
    try:
        yield out
    finally:
        for logger, (handlers, level) in zip(loggers, saved, strict=True):
            logger.handlers[:] = handlers
            logger.setLevel(level)


def test_configured_twice_one_handler_of_ours(configured: io.StringIO) -> None:
    log_formats.configure("json", stream=configured)
    logging.getLogger("netnode.agent").info("once")
    assert len(configured.getvalue().splitlines()) == 1
    assert json.loads(configured.getvalue())["message"] == "once"


def test_the_store_password_is_never_written_even_outside_its_url(
    configured: io.StringIO,
) -> None:
    logging.getLogger("netnode.serve").warning("login failed with pa$$word for nn")
    line = json.loads(configured.getvalue())
    assert "pa$$word" not in line["message"]
    assert line["message"] == "login failed with *** for nn"


def test_a_json_line_has_the_fields_and_the_pass_fields() -> None:
    rec = record(
        "%s: full pass", "lb-1", unit="api", action="full pass", duration=0.25, outcome="ok"
    )
    rec.request_id = None
    line = json.loads(JsonFormatter().format(rec))
    assert line["level"] == "WARNING"
    assert line["logger"] == "netnode.agent"
    assert line["message"] == "lb-1: full pass"
    assert line["request_id"] is None
    assert (line["unit"], line["action"], line["duration"], line["outcome"]) == (
        "api",
        "full pass",
        0.25,
        "ok",
    )
    assert line["time"].endswith("+00:00")


def test_a_line_of_a_request_carries_its_id() -> None:
    rec = record("GET /v2/lbaas/loadbalancers: store down", request_id="req-1234")
    assert json.loads(JsonFormatter().format(rec))["request_id"] == "req-1234"
    assert TextFormatter().format(rec) == "[req-1234] GET /v2/lbaas/loadbalancers: store down"
    assert "unit" not in json.loads(JsonFormatter().format(rec))


def test_an_exception_is_one_json_line_and_redacted() -> None:
    try:
        raise RuntimeError("cannot connect to postgresql://u:topsecret@h/db")
    except RuntimeError:
        import sys

        rec = logging.LogRecord(
            "netnode.api", logging.ERROR, __file__, 1, "failed", None, sys.exc_info()
        )
    out = JsonFormatter().format(rec)
    assert "\n" not in out
    assert "topsecret" not in out
    assert "RuntimeError" in json.loads(out)["exception"]


def test_an_unknown_format_is_refused_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="text, json"):
        log_formats.formatter("xml")
