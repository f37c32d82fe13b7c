"""Canonical JSON after RFC 8785 (JCS) for the JSON subset envelopes use.

Objects have their members sorted by the UTF-16 code units of the names, no whitespace is emitted,
strings are escaped as ECMAScript's JSON.stringify does, and numbers are written as ECMAScript's
Number.prototype.toString writes them (shortest round-trip digits; exponent form below 1e-6 and from
1e21; integers beyond ±2^53 become the nearest double). Non-finite numbers and non-JSON types are refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring

from .errors import FaultAt, MalformedInput

MAX_SAFE_INTEGER = 2**53 - 1


def canonical(value: object) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value."""
    out: list[str] = []
    try:
        _write(value, out)
    except FaultAt as exc:
        raise MalformedInput(exc.described()) from None
    try:
        return "".join(out).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedInput(f"a string holds a lone surrogate at character {exc.start}") from exc


def _write(value: object, out: list[str]) -> None:
    # concrete types first: isinstance against the abstract Mapping and Sequence is slow
    if isinstance(value, str):
        out.append(encode_basestring(value))
    elif value is None or isinstance(value, bool):
        out.append({None: "null", True: "true", False: "false"}[value])
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise FaultAt(f"{value} is not a finite JSON number")
        out.append(number(value))
    elif isinstance(value, int):
        # JSON numbers are IEEE doubles: beyond ±2^53 an integer is written as the double ECMAScript reads
        out.append(str(value) if abs(value) <= MAX_SAFE_INTEGER else number(float(value)))
    elif isinstance(value, dict | Mapping):
        _write_object(value, out)
    elif isinstance(value, list | tuple) or (isinstance(value, Sequence) and not isinstance(value, bytes | bytearray)):
        out.append("[")
        for i, item in enumerate(value):
            out.append("," if i else "")
            try:
                _write(item, out)
            except FaultAt as exc:
                raise exc.under(f"[{i}]") from None
        out.append("]")
    else:
        raise FaultAt(f"{type(value).__name__} is not a JSON type")


def _write_object(value: Mapping[object, object], out: list[str]) -> None:
    names = [k for k in value if isinstance(k, str)]
    if len(names) != len(value):
        raise FaultAt("object member names must be strings")
    # UTF-16 code-unit order is code-point order below U+10000 and so Python's own order for ASCII names
    ordered = sorted(names) if all(k.isascii() for k in names) else sorted(names, key=lambda k: k.encode("utf-16-be"))
    out.append("{")
    for i, key in enumerate(ordered):
        out.append("," if i else "")
        out.append(encode_basestring(key) + ":")
        try:
            _write(value[key], out)
        except FaultAt as exc:
            raise exc.under(f".{key}") from None
    out.append("}")


def number(x: float) -> str:
    """A float written as ECMAScript Number.prototype.toString writes it (ECMA-262 §6.1.6.1.20)."""
    if not math.isfinite(x):
        raise MalformedInput(f"{x} is not a finite JSON number")
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    mantissa, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mantissa.partition(".")
    # value = 0.d1…dk × 10^n with d1 ≠ 0 (ECMAScript's k and n)
    digits = whole + frac
    n = len(whole) + int(exp or 0) - (len(digits) - len(digits.lstrip("0")))
    digits = digits.strip("0")
    k = len(digits)
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        body = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e > 0 else "-") + str(abs(e))
    return sign + body
