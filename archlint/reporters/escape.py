"""One escaping layer for every untrusted string archlint writes as text.

Layer names, file names, notes, error text and messages can come from a
hostile model file or repository. :func:`safe_text` makes such a string inert
on a terminal and in a CI log, with *visible* escapes (nothing is dropped, so
two different names stay different):

- control characters (C0, DEL, C1; newlines and tabs included, so a name can
  never start a new line) become ``\\x1b``, ``\\n`` ...: ANSI colour and OSC
  sequences (window titles, hyperlinks, clipboard writes) cannot act;
- bidirectional controls (U+202A-U+202E, U+2066-U+2069, LRM/RLM/ALM),
  zero-width characters and line/paragraph separators become ``\\u202e`` ...:
  text cannot be reordered or split invisibly;
- a string that would start a GitHub Actions workflow command (``::name``,
  the legacy ``##[name]``) gets its first character escaped (``\\x3a:``), so
  ``::error``, ``::add-mask::`` and ``::stop-commands::`` from a model never
  reach the runner.

Backslashes are kept as they are (frontends already show undecodable bytes as
``\xff``), so a name that spells ``\x1b`` and one holding an ESC print alike:
the display is safe, not unique; JSON keeps them apart.

The text, github and stderr writers call it on every untrusted field; JSON and
SARIF keep the exact strings (their encoders escape control characters).
"""

from __future__ import annotations

import re

_BIDI_AND_INVISIBLE = (
    "\u061c\u200b\u200c\u200d\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
)
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI_AND_INVISIBLE}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_COMMAND_START = re.compile(r"^(\s*)(::|##\[)")


def _escape_char(m: re.Match[str]) -> str:
    ch = m.group(0)
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(value: object) -> str:
    """``value`` as a string safe to write to a terminal or a CI log (see the module docstring)."""
    text = _UNSAFE.sub(_escape_char, str(value))
    m = _COMMAND_START.match(text)
    if m:
        i = m.end(1)
        text = f"{text[:i]}\\x{ord(text[i]):02x}{text[i + 1:]}"
    return text


_JSON_INVISIBLE = re.compile(f"[\x7f-\x9f{_BIDI_AND_INVISIBLE}]")


def json_invisible_escaped(text: str) -> str:
    """JSON text with DEL, C1 controls, bidi and zero-width characters written as ``\\uXXXX``
    (``json.dumps(..., ensure_ascii=False)`` escapes C0 only): the same document to a parser, inert
    on a terminal. These characters only occur inside JSON strings, where the escape is valid."""
    return _JSON_INVISIBLE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def safe_lines(text: str) -> str:
    """A multi-line text (a traceback) with each line made safe; line breaks kept."""
    return "\n".join(safe_text(line) for line in text.split("\n"))


#: ints with more bits than this are written as text in JSON/SARIF (Python
#: refuses to print ints of over 4,300 digits; no model has such a number)
MAX_JSON_INT_BITS = 256


def json_safe(obj: object, _depth: int = 0) -> object:
    """``obj`` with every int too large to print (``10**5000`` from a model
    file) turned into a short text, and non-finite floats into text, so the
    JSON and SARIF reports are always complete, valid JSON."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        if obj.bit_length() <= MAX_JSON_INT_BITS:
            return obj
        return f"{'-' if obj < 0 else ''}<integer of about {int(obj.bit_length() * 0.30103) + 1} digits>"
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else str(obj)
    if _depth > 100:
        return "<nested too deeply>"
    if isinstance(obj, dict):
        return {str(k): json_safe(v, _depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v, _depth + 1) for v in obj]
    return obj
