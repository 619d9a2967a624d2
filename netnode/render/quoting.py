"""How a value from the topology becomes text in haproxy.cfg that cannot inject. Pure.

HAProxy reads its configuration in layers, and each layer has its own special
characters:

1. the line tokenizer: space separates words, ``#`` starts a comment, ``'`` and ``"``
   quote, ``\\`` escapes, and inside double quotes ``$NAME``/``${NAME}`` expand from
   the environment. ``word`` writes a value as one double-quoted word in which every
   character but letters, digits and a few inert marks is ``\\xNN``, so the word the
   tokenizer hands on is the value, byte for byte;
2. sample fetch arguments (``req.hdr(<name>)``): ``'``, ``"`` and ``\\`` quote or escape
   again. ``fetch_arg`` backslash-escapes them before ``word`` quotes the whole fetch;
3. log-format strings (a redirect's location, a returned header's value): ``%`` starts
   a variable. ``log_format_literal`` doubles it.

Values reach here already validated by the model (printable ASCII, no space, quote or
``#`` where the model says so); these functions still refuse what they cannot write
(control characters, non-ASCII) rather than render something else.
"""

from __future__ import annotations

# Characters that mean nothing to HAProxy's tokenizer, quoted or not: a word made only
# of them is written bare (readable), any other is double-quoted with these kept as they
# are and the rest as \xNN.
_PLAIN = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:/,;+=@!?()[]*^~|<>&%"
)
# What a sample fetch argument parser treats as quoting or escaping.
_ARG_SPECIAL = frozenset("\\'\"")


def _check(text: str) -> None:
    if not text:
        raise ValueError("an empty value cannot be written into haproxy.cfg")
    bad = [c for c in text if not 0x20 <= ord(c) <= 0x7E]
    if bad:
        raise ValueError(f"not printable ASCII, refused for haproxy.cfg: {text!r}")


def word(text: str) -> str:
    """``text`` as one word of haproxy.cfg: bare when it holds nothing special, else
    double-quoted with every other character as ``\\xNN``."""
    _check(text)
    if all(c in _PLAIN for c in text):
        return text
    return '"' + "".join(c if c in _PLAIN else f"\\x{ord(c):02x}" for c in text) + '"'


def fetch_arg(text: str) -> str:
    """``text`` as an argument inside a sample fetch's parentheses (before ``word``).

    ``,`` and ``)`` would end the argument; the model's header, cookie and DN field
    names never hold them, so they are refused instead of escaped."""
    _check(text)
    if any(c in ",()" for c in text):
        raise ValueError(f"cannot be a sample fetch argument: {text!r}")
    return "".join(f"\\{c}" if c in _ARG_SPECIAL else c for c in text)


def log_format_literal(text: str) -> str:
    """``text`` as literal text of a log-format string (before ``word``)."""
    _check(text)
    return text.replace("%", "%%")
