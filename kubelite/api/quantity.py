"""Resource quantities as apimachinery's ``resource.Quantity`` computes and prints them.

Pure arithmetic, no I/O. Quota admission and the ResourceQuota controller add, subtract
and compare quantities and print them in upstream's messages and ``status.used``; the
LimitRanger prints them in its refusals. What a user sees depends on two Go details kept
here: a quantity remembers its *format* (``DecimalSI`` for ``500m`` or ``2``, ``BinarySI``
for ``1Gi``, ``DecimalExponent`` for ``1e3``), a sum takes the format of its left operand
unless that one is zero; and ``String()`` prints the canonical form of the value in that
format: ``1500m``, ``2``, ``1k``, ``1536Mi``, ``2Gi`` (a BinarySI value below 1024 or not
a whole number prints as DecimalSI).

Values are exact fractions; upstream keeps nano precision and rounds finer values up,
which ``parse`` does too.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final

DECIMAL_SI: Final = "DecimalSI"
BINARY_SI: Final = "BinarySI"
DECIMAL_EXPONENT: Final = "DecimalExponent"

_NANO: Final = Fraction(1, 10**9)
_DECIMAL_SUFFIXES: Final = {-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}
_BINARY_SUFFIXES: Final = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")


@dataclass(frozen=True, slots=True)
class Quantity:
    """A value and the format it prints in; compared by value only (``cmp``)."""

    value: Fraction
    format: str = DECIMAL_SI

    def __str__(self) -> str:
        return canonical(self.value, self.format)

    def __add__(self, other: Quantity) -> Quantity:
        return Quantity(self.value + other.value, other.format if self.value == 0 else self.format)

    def __sub__(self, other: Quantity) -> Quantity:
        return Quantity(self.value - other.value, other.format if self.value == 0 else self.format)

    def milli(self) -> int:
        """``MilliValue()``: the value in thousandths, rounded up."""
        return math.ceil(self.value * 1000)

    def whole(self) -> int:
        """``Value()``: the value rounded up to a whole number."""
        return math.ceil(self.value)


ZERO: Final = Quantity(Fraction(0))


_QUANTITY: Final = re.compile(
    r"([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][-+]?[0-9]+)?")
_SCALE: Final = {
    "": Fraction(1), "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000),
    "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
    "P": Fraction(10**15), "E": Fraction(10**18), "Ki": Fraction(2**10), "Mi": Fraction(2**20),
    "Gi": Fraction(2**30), "Ti": Fraction(2**40), "Pi": Fraction(2**50), "Ei": Fraction(2**60),
}


@functools.lru_cache(maxsize=4096)
def _parse_text(text: str) -> Quantity | None:
    # cached: the same few quantities ("100m", "64Mi") arrive on almost every pod
    m = _QUANTITY.fullmatch(text.strip())
    if m is None:
        return None
    number, suffix = Fraction(m.group(1)), m.group(2) or ""
    if suffix[:1] in ("e", "E") and len(suffix) > 1:
        value, fmt = number * Fraction(10) ** int(suffix[1:]), DECIMAL_EXPONENT
    else:
        value, fmt = number * _SCALE[suffix], BINARY_SI if suffix.endswith("i") else DECIMAL_SI
    if (value / _NANO).denominator != 1:
        value = Fraction(math.ceil(value / _NANO)) * _NANO
    return Quantity(value, fmt)


def parse(raw: Any) -> Quantity | None:
    """A quantity from its JSON form (``"100m"``, ``"1Gi"``, ``2``), None when invalid.
    Finer than a nano unit rounds up to one, as upstream."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return Quantity(Fraction(raw))
    if isinstance(raw, float):
        return _parse_text(repr(raw)) if math.isfinite(raw) else None
    if not isinstance(raw, str):
        return None
    return _parse_text(raw)


def must(raw: Any) -> Quantity:
    """``parse`` for values validation already accepted; an invalid one counts as zero."""
    return parse(raw) or ZERO


def canonical(value: Fraction, fmt: str = DECIMAL_SI) -> str:
    """``Quantity.String()`` of ``value`` in format ``fmt``."""
    if value == 0:
        return "0"
    if fmt == BINARY_SI and (abs(value) < 1024 or value.denominator != 1):
        fmt = DECIMAL_SI
    if fmt == BINARY_SI:
        amount, power = int(value), 0
        while amount % 1024 == 0 and power < len(_BINARY_SUFFIXES) - 1:
            amount //= 1024
            power += 1
        return f"{amount}{_BINARY_SUFFIXES[power]}"
    # mantissa × 10^exponent with every factor of ten in the exponent, then the exponent
    # brought down to a multiple of three (AsCanonicalBytes)
    exponent = 0
    scaled = value
    while scaled.denominator != 1:
        scaled *= 10
        exponent -= 1
    mantissa = int(scaled)
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    shift = exponent % 3
    mantissa *= 10**shift
    exponent -= shift
    if fmt == DECIMAL_EXPONENT:
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    suffix = _DECIMAL_SUFFIXES.get(exponent)
    if suffix is None:
        return f"{mantissa}e{exponent}"
    return f"{mantissa}{suffix}"


ResourceList = dict[str, Quantity]


def resource_list(raw: Any) -> ResourceList:
    """A ``ResourceList`` map of the JSON form (what validation accepted)."""
    if not isinstance(raw, dict):
        return {}
    return {str(k): must(v) for k, v in raw.items()}


def to_json(items: ResourceList) -> dict[str, str]:
    return {k: str(v) for k, v in sorted(items.items())}
