"""How ``netnode serve`` and ``netnode agent`` write their logs (``--log-format``):

- ``text``: the message as it always was, one per line, after the request's id in
  brackets when it was written while serving an API request;
- ``json``: one object per line with ``time`` (UTC, ISO 8601), ``level``, ``logger``,
  ``message``, ``request_id`` (null outside a request) and, on the reconcile loop's
  lines about a pass, ``unit``, ``action``, ``duration`` (seconds) and ``outcome``;
  an exception's traceback under ``exception``.

Both redact secrets before anything is written (``redact``): passwords in URLs
(``postgresql://user:pass@host``), PEM private keys, the values of token and password
fields, and the store's password (``--db``) wherever it turns up.

(``netnode serve`` keeps no token in the clear to leak: its tokens file may hold only
their digests, and it keeps only digests in memory.)"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import unquote

FORMATS = ("text", "json")
# Extra fields of a record that the JSON lines carry when a line sets them.
FIELDS = ("unit", "action", "duration", "outcome")
REDACTED = "***"

_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*):[^@\s/]*@")
_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?P<kind>[A-Z ]*)PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
_SECRET_FIELD = re.compile(
    r"(?P<key>\b(?:x-auth-token|x-subject-token|token|password|passwd|secret)\b"
    r"[\"']?\s*[:=]\s*[\"']?)(?P<value>[^\s\"',;}&]+)",
    re.IGNORECASE,
)


class Secrets:
    """Values never to be written, whatever line they turn up in."""

    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, value: str) -> None:
        if len(value) >= 4:  # a shorter one would mask ordinary words
            self._values.add(value)

    def mask(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text


secrets = Secrets()


def redact(text: str) -> str:
    """``text`` with the secrets it may hold replaced by ``***``."""
    text = _PRIVATE_KEY.sub(lambda m: f"[{m['kind'].lower()}private key {REDACTED}]", text)
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}:{REDACTED}@", text)
    text = _SECRET_FIELD.sub(lambda m: f"{m['key']}{REDACTED}", text)
    return secrets.mask(text)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        rid = getattr(record, "request_id", None)
        if rid:
            text = f"[{rid}] {text}"
        return redact(text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", None),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, default=str)


def formatter(name: str) -> logging.Formatter:
    if name not in FORMATS:
        raise ValueError(f"--log-format {name!r}: give one of {', '.join(FORMATS)}")
    return JsonFormatter() if name == "json" else TextFormatter()


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is when a line is written (a command run
    in-process, its output redirected, leaves no handler on a closed stream)."""

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__(stream)
        self._fixed = stream

    @property
    def stream(self) -> TextIO:
        return self._fixed or sys.stdout

    @stream.setter
    def stream(self, value: TextIO | None) -> None:
        self._fixed = value


# The loggers netnode writes to: its own, and the API server's.
LOGGERS = ("netnode", "uvicorn")


def configure(
    name: str,
    stream: TextIO | None = None,
    level: int = logging.INFO,
    db_url: str | None = None,
) -> None:
    """netnode's loggers (``netnode.*``) and uvicorn's write to ``stream`` (stdout) in
    format ``name``. The password of ``db_url`` (``--db``) is never written, in a URL
    or not. Called again, it replaces what it installed before and nothing else."""
    password = _password(db_url)
    if password:
        secrets.add(password)
    handler = _StdoutHandler(stream)
    handler.setFormatter(formatter(name))
    for logger_name in LOGGERS:
        logger = logging.getLogger(logger_name)
        for old in [h for h in logger.handlers if isinstance(h, _StdoutHandler)]:
            logger.removeHandler(old)
        logger.addHandler(handler)
    logging.getLogger("netnode").setLevel(level)


def _password(url: str | None) -> str | None:
    match = re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:(?P<password>[^@\s/]*)@", url or "")
    return None if match is None else unquote(match["password"])


def add_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--log-format",
        choices=FORMATS,
        default="text",
        help="text (default): one message a line; json: one object a line with time, "
        "level, logger, message, request_id (and unit, action, duration, outcome for the "
        "reconcile loop's passes)",
    )
