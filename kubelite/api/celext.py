"""Kubernetes' CEL extension libraries, as far as they are cheap to provide, for ``celpy``.

``kubelite.api.celrules`` binds ``FUNCTIONS`` into every compiled rule. Upstream's CEL
environment for CRD validation rules adds libraries on top of the CEL standard: cel-go's
strings and lists extensions and Kubernetes' own lists, regex, URL, quantity and IP/CIDR
libraries. celpy calls a method ``x.f(a)`` as the function ``f(x, a)``, so one name serves
every receiver type (``indexOf`` on strings and lists); a function given arguments it has
no overload for raises ``TypeError``, which celpy reports as "no such overload".

``FUNCTIONS`` also replaces a few of celpy's operators where cel-go, as Kubernetes
configures it, behaves otherwise (``OPERATORS``: ints and doubles compare by value, an
error where ``&&``, ``||`` or ``?:`` wants a bool is that error) and gives the optional
``oldSelf`` of ``optionalOldSelf`` rules its methods (``hasValue``, ``value``, ``orValue``).

A rule calling an upstream function this module lacks (docs/compatibility.md lists them)
is accepted when its CRD is written and skipped when objects are validated (logged once
per rule), so a valid upstream CRD is never refused.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Callable
from fractions import Fraction
from typing import Any, Final

import celpy  # type: ignore[import-untyped]
from celpy import celtypes

from kubelite.api import goregex, quantity

# --- strings (cel-go ext.Strings) -----------------------------------------------------


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"no such overload for {type(value).__name__}")
    return value


def _char_at(s: Any, i: Any) -> celtypes.StringType:
    s, i = _str(s), int(i)
    if not 0 <= i <= len(s):
        raise IndexError(f"index out of range: {i}")
    return celtypes.StringType(s[i:i + 1])


def _index_of(container: Any, item: Any, start: Any = 0) -> celtypes.IntType:
    if isinstance(container, list):  # Kubernetes' lists library
        for i, v in enumerate(container):
            if v == item:
                return celtypes.IntType(i)
        return celtypes.IntType(-1)
    s, sub, begin = _str(container), _str(item), int(start)
    if not 0 <= begin <= len(s):
        raise IndexError(f"index out of range: {begin}")
    return celtypes.IntType(s.find(sub, begin))


def _last_index_of(container: Any, item: Any, end: Any = None) -> celtypes.IntType:
    if isinstance(container, list):
        for i in range(len(container) - 1, -1, -1):
            if container[i] == item:
                return celtypes.IntType(i)
        return celtypes.IntType(-1)
    s, sub = _str(container), _str(item)
    if end is None:
        return celtypes.IntType(s.rfind(sub))
    stop = int(end)
    if not 0 <= stop < max(len(s), 1):
        raise IndexError(f"index out of range: {stop}")
    return celtypes.IntType(s.rfind(sub, 0, stop + len(sub)))


def _lower_ascii(s: Any) -> celtypes.StringType:
    return celtypes.StringType("".join(c.lower() if c.isascii() else c for c in _str(s)))


def _upper_ascii(s: Any) -> celtypes.StringType:
    return celtypes.StringType("".join(c.upper() if c.isascii() else c for c in _str(s)))


def _replace(s: Any, old: Any, new: Any, limit: Any = -1) -> celtypes.StringType:
    return celtypes.StringType(_str(s).replace(_str(old), _str(new), int(limit)))


def _split(s: Any, sep: Any, limit: Any = -1) -> celtypes.ListType:
    text, separator, n = _str(s), _str(sep), int(limit)
    if n == 0:
        return celtypes.ListType([])
    if separator == "":
        parts = list(text)
        if n > 0 and len(parts) > n:
            parts = parts[:n - 1] + ["".join(parts[n - 1:])]
    else:
        parts = text.split(separator, n - 1 if n > 0 else -1)
    return celtypes.ListType([celtypes.StringType(p) for p in parts])


def _substring(s: Any, start: Any, end: Any = None) -> celtypes.StringType:
    text = _str(s)
    begin, stop = int(start), len(text) if end is None else int(end)
    if not 0 <= begin <= stop <= len(text):
        raise IndexError(f"index out of range: {begin}, {stop}")
    return celtypes.StringType(text[begin:stop])


def _trim(s: Any) -> celtypes.StringType:
    return celtypes.StringType(_str(s).strip())


def _join(items: Any, sep: Any = "") -> celtypes.StringType:
    if not isinstance(items, list):
        raise TypeError("join needs a list")
    return celtypes.StringType(_str(sep).join(_str(i) for i in items))


def _reverse(value: Any) -> Any:
    if isinstance(value, list):
        return celtypes.ListType(list(reversed(value)))
    return celtypes.StringType(_str(value)[::-1])


_FORMAT_VERB: Final = re.compile(r"%(\.\d+)?([sdfeboxX%])")


def _format(template: Any, args: Any) -> celtypes.StringType:
    """``"%s of %d".format([a, b])``: the verbs Kubernetes rules use."""
    text, values = _str(template), list(args) if isinstance(args, list) else None
    if values is None:
        raise TypeError("format needs a list")
    position = 0

    def one(m: re.Match[str]) -> str:
        nonlocal position
        if m.group(2) == "%":
            return "%"
        if position >= len(values):
            raise IndexError("index out of range for format arguments")
        value, position = values[position], position + 1
        verb, precision = m.group(2), m.group(1)
        if verb == "d":
            return str(int(value))
        if verb in "fe":
            return f"{float(value):{precision or '.6'}{verb}}"
        if verb == "b":
            return format(int(value), "b")
        if verb == "o":
            return format(int(value), "o")
        if verb in "xX":
            return format(int(value), verb) if isinstance(value, int) else str(value).encode().hex()
        return _display(value)

    return celtypes.StringType(_FORMAT_VERB.sub(one, text))


def _display(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_display(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_display(k)}: {_display(v)}" for k, v in value.items()) + "}"
    if value is None:
        return "null"
    return str(value)


# --- lists (Kubernetes' lists library and cel-go ext.Lists) ----------------------------


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"no such overload for {type(value).__name__}")
    return value


def _is_sorted(items: Any) -> celtypes.BoolType:
    values = _list(items)
    return celtypes.BoolType(all(values[i] <= values[i + 1] for i in range(len(values) - 1)))


def _sum(items: Any) -> Any:
    values = _list(items)
    if not values:
        return celtypes.IntType(0)
    total = values[0]
    for v in values[1:]:
        total = total + v
    return total


def _max(items: Any, *more: Any) -> Any:
    values = [items, *more] if more or not isinstance(items, list) else _list(items)
    if not values:
        raise ValueError("max of an empty list")
    return max(values)


def _slice(items: Any, start: Any, end: Any) -> celtypes.ListType:
    values, begin, stop = _list(items), int(start), int(end)
    if not 0 <= begin <= stop <= len(values):
        raise IndexError(f"index out of range: {begin}, {stop}")
    return celtypes.ListType(values[begin:stop])


def _flatten(items: Any, depth: Any = 1) -> celtypes.ListType:
    out: list[Any] = []
    for v in _list(items):
        if isinstance(v, list) and int(depth) > 0:
            out.extend(_flatten(v, int(depth) - 1))
        else:
            out.append(v)
    return celtypes.ListType(out)


def _distinct(items: Any) -> celtypes.ListType:
    out: list[Any] = []
    for v in _list(items):
        if v not in out:
            out.append(v)
    return celtypes.ListType(out)


def _sort(items: Any) -> celtypes.ListType:
    return celtypes.ListType(sorted(_list(items)))


# --- regex (Kubernetes' regex library, and the standard matches with Go's syntax) -------


def _matches(s: Any, pattern: Any) -> celtypes.BoolType:
    return celtypes.BoolType(goregex.compile(_str(pattern)).search(_str(s)) is not None)


def _find(s: Any, pattern: Any) -> celtypes.StringType:
    m = goregex.compile(_str(pattern)).search(_str(s))
    return celtypes.StringType(m.group(0) if m else "")


def _find_all(s: Any, pattern: Any, limit: Any = -1) -> celtypes.ListType:
    found = [m.group(0) for m in goregex.compile(_str(pattern)).finditer(_str(s))]
    n = int(limit)
    return celtypes.ListType([celtypes.StringType(f) for f in (found if n < 0 else found[:n])])


# --- URLs (Kubernetes' URLs library) ---------------------------------------------------


class URL(celtypes.StringType):  # type: ignore[misc]
    """A parsed URL; compares and prints as its text."""

    parsed: urllib.parse.SplitResult


def _parse_url(text: str) -> URL | None:
    # Go's url.ParseRequestURI: absolute URLs and absolute paths, no fragments
    if not text or "#" in text or any(c in text for c in " \t\n"):
        return None
    try:
        parsed = urllib.parse.urlsplit(text)
        parsed.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        return None
    if not (parsed.scheme or text.startswith("/")):
        return None
    url = URL(text)
    url.parsed = parsed
    return url


def _url(s: Any) -> URL:
    url = _parse_url(_str(s))
    if url is None:
        raise ValueError(f"URL parse error during conversion from string: {s}")
    return url


def _is_url(s: Any) -> celtypes.BoolType:
    return celtypes.BoolType(_parse_url(_str(s)) is not None)


def _url_part(getter: Callable[[urllib.parse.SplitResult], str | None]) -> Callable[[Any], celtypes.StringType]:
    def get(url: Any) -> celtypes.StringType:
        if not isinstance(url, URL):
            raise TypeError("needs a URL")
        return celtypes.StringType(getter(url.parsed) or "")
    return get


def _hostname(p: urllib.parse.SplitResult) -> str:
    return p.hostname or ""


def _host(p: urllib.parse.SplitResult) -> str:
    return p.netloc.rpartition("@")[2]


def _port(p: urllib.parse.SplitResult) -> str:
    return str(p.port) if p.port is not None else ""


def _get_query(url: Any) -> celtypes.MapType:
    if not isinstance(url, URL):
        raise TypeError("needs a URL")
    query = urllib.parse.parse_qs(url.parsed.query, keep_blank_values=True)
    return celtypes.MapType({celtypes.StringType(k): celtypes.ListType([celtypes.StringType(x) for x in v])
                             for k, v in query.items()})


# --- quantities (Kubernetes' quantity library) -----------------------------------------


class Quantity(celtypes.StringType):  # type: ignore[misc]
    """A parsed resource quantity; compares by value through its methods, as upstream."""

    value: Fraction


def _quantity(s: Any) -> Quantity:
    parsed = quantity.parse(_str(s))
    if parsed is None:
        raise ValueError(f"quantities must match the regular expression: {s}")
    out = Quantity(s)
    out.value = parsed.value
    return out


def _is_quantity(s: Any) -> celtypes.BoolType:
    return celtypes.BoolType(isinstance(s, str) and quantity.parse(s) is not None)


def _qv(q: Any) -> Fraction:
    if isinstance(q, Quantity):
        return q.value
    if isinstance(q, int) and not isinstance(q, bool):
        return Fraction(q)
    raise TypeError("needs a quantity")


def _q_of(value: Fraction) -> Quantity:
    out = Quantity(quantity.canonical(value))
    out.value = value
    return out


def _as_integer(q: Any) -> celtypes.IntType:
    v = _qv(q)
    if v.denominator != 1:
        raise ValueError("cannot convert value to integer")
    return celtypes.IntType(int(v))


QUANTITY_FUNCTIONS: Final[dict[str, Any]] = {
    "quantity": _quantity, "isQuantity": _is_quantity,
    "sign": lambda q: celtypes.IntType((_qv(q) > 0) - (_qv(q) < 0)),
    "isInteger": lambda q: celtypes.BoolType(_qv(q).denominator == 1),
    "asInteger": _as_integer,
    "asApproximateFloat": lambda q: celtypes.DoubleType(float(_qv(q))),
    "add": lambda a, b: _q_of(_qv(a) + _qv(b)), "sub": lambda a, b: _q_of(_qv(a) - _qv(b)),
    "isGreaterThan": lambda a, b: celtypes.BoolType(_qv(a) > _qv(b)),
    "isLessThan": lambda a, b: celtypes.BoolType(_qv(a) < _qv(b)),
    "compareTo": lambda a, b: celtypes.IntType((_qv(a) > _qv(b)) - (_qv(a) < _qv(b))),
}


# --- IP addresses and CIDRs (Kubernetes' IP and CIDR libraries) ------------------------


class IP(celtypes.StringType):  # type: ignore[misc]
    address: ipaddress.IPv4Address | ipaddress.IPv6Address


class CIDR(celtypes.StringType):  # type: ignore[misc]
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    address: ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse_ip(text: str) -> IP | None:
    if "%" in text:  # zones are refused upstream
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return None
    out = IP(text)
    out.address = address
    return out


def _ip(value: Any) -> IP:
    if isinstance(value, CIDR):  # cidr('10.0.0.0/8').ip()
        out = IP(str(value.address))
        out.address = value.address
        return out
    parsed = _parse_ip(_str(value))
    if parsed is None:
        raise ValueError(f"IP Address {value!r} parse error during conversion from string")
    return parsed


def _parse_cidr(text: str) -> CIDR | None:
    address, _, bits = text.partition("/")
    if not bits or _parse_ip(address) is None:
        return None
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    out = CIDR(text)
    out.network, out.address = network, ipaddress.ip_address(address)
    return out


def _cidr(value: Any) -> CIDR:
    parsed = _parse_cidr(_str(value))
    if parsed is None:
        raise ValueError(f"network address {value!r} parse error during conversion from string")
    return parsed


def _addr(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(value, IP):
        return value.address
    raise TypeError("needs an IP")


def _contains_ip(cidr: Any, ip: Any) -> celtypes.BoolType:
    if not isinstance(cidr, CIDR):
        raise TypeError("needs a CIDR")
    address = ip.address if isinstance(ip, IP) else _ip(ip).address
    return celtypes.BoolType(address in cidr.network)


def _contains_cidr(cidr: Any, other: Any) -> celtypes.BoolType:
    if not isinstance(cidr, CIDR):
        raise TypeError("needs a CIDR")
    sub = other if isinstance(other, CIDR) else _cidr(other)
    return celtypes.BoolType(sub.network.version == cidr.network.version
                             and sub.network.subnet_of(cidr.network))  # type: ignore[arg-type]


def _masked(cidr: Any) -> CIDR:
    if not isinstance(cidr, CIDR):
        raise TypeError("needs a CIDR")
    return _cidr(str(cidr.network))


def _family(value: Any) -> celtypes.IntType:
    return celtypes.IntType(_addr(value).version)


IP_FUNCTIONS: Final[dict[str, Any]] = {
    "ip": _ip, "isIP": lambda s: celtypes.BoolType(isinstance(s, str) and _parse_ip(s) is not None),
    "cidr": _cidr, "isCIDR": lambda s: celtypes.BoolType(isinstance(s, str) and _parse_cidr(s) is not None),
    "family": _family,
    "isUnspecified": lambda ip: celtypes.BoolType(_addr(ip).is_unspecified),
    "isLoopback": lambda ip: celtypes.BoolType(_addr(ip).is_loopback),
    "isLinkLocalMulticast": lambda ip: celtypes.BoolType(_addr(ip).is_multicast and _addr(ip).is_link_local),
    "isLinkLocalUnicast": lambda ip: celtypes.BoolType(_addr(ip).is_link_local and not _addr(ip).is_multicast),
    "isGlobalUnicast": lambda ip: celtypes.BoolType(
        not (_addr(ip).is_unspecified or _addr(ip).is_loopback or _addr(ip).is_multicast
             or _addr(ip).is_link_local or str(_addr(ip)) == "255.255.255.255")),
    "containsIP": _contains_ip, "containsCIDR": _contains_cidr, "masked": _masked,
    "prefixLength": lambda c: celtypes.IntType(c.network.prefixlen) if isinstance(c, CIDR) else _bad(),
}


def _bad() -> Any:
    raise TypeError("no such overload")


# --- optionals (for optionalOldSelf) ----------------------------------------------------


class Optional:
    """CEL's ``optional_type``, as far as ``oldSelf`` needs it."""

    def __init__(self, value: Any = None, *, present: bool) -> None:
        self.present, self.payload = present, value


def _has_value(o: Any) -> celtypes.BoolType:
    if not isinstance(o, Optional):
        raise TypeError("hasValue needs an optional")
    return celtypes.BoolType(o.present)


def _value(o: Any) -> Any:
    if not isinstance(o, Optional):
        raise TypeError("value needs an optional")
    if not o.present:
        raise ValueError("optional.none() dereference")
    return o.payload


def _or_value(o: Any, default: Any) -> Any:
    if not isinstance(o, Optional):
        raise TypeError("orValue needs an optional")
    return o.payload if o.present else default


# --- numbers of mixed types ---------------------------------------------------------------

_NUMBERS: Final = (celtypes.IntType, celtypes.UintType, celtypes.DoubleType)


def _mixed(a: Any, b: Any) -> bool:
    return isinstance(a, _NUMBERS) and isinstance(b, _NUMBERS) and type(a) is not type(b)


def _numeric(name: str, compare: Callable[[float, float], bool]) -> Callable[[Any, Any], Any]:
    """cel-go as Kubernetes configures it compares int, uint and double with each other
    (``self.ratio >= 0`` on a number field); celpy refuses mixed types: compare them by value."""
    standard = celpy.evaluation.base_functions[name]

    def op(a: Any, b: Any) -> Any:
        if _mixed(a, b):
            as_number = float if isinstance(a, celtypes.DoubleType) or isinstance(b, celtypes.DoubleType) else int
            return celtypes.BoolType(compare(as_number(a), as_number(b)))
        return standard(a, b)
    return op


def _error_first(name: str) -> Callable[..., Any]:
    """``&&``, ``||`` and ``?:`` with an error where a bool belongs yield that error (CEL's
    semantics; celpy turns it into an overload error, hiding upstream's ``no such key``)."""
    standard = celpy.evaluation.base_functions[name]

    def op(first: Any, *rest: Any) -> Any:
        if isinstance(first, celpy.CELEvalError) and (name == "_?_:_" or isinstance(rest[0], celpy.CELEvalError)):
            return first
        return standard(first, *rest)
    return op


OPERATORS: Final[dict[str, Any]] = {
    "_&&_": _error_first("_&&_"), "_||_": _error_first("_||_"), "_?_:_": _error_first("_?_:_"),
    "hasValue": _has_value, "value": _value, "orValue": _or_value,
    "_<_": _numeric("_<_", lambda a, b: a < b), "_<=_": _numeric("_<=_", lambda a, b: a <= b),
    "_>_": _numeric("_>_", lambda a, b: a > b), "_>=_": _numeric("_>=_", lambda a, b: a >= b),
    "_==_": _numeric("_==_", lambda a, b: a == b), "_!=_": _numeric("_!=_", lambda a, b: a != b),
}


FUNCTIONS: Final[dict[str, Any]] = {
    # strings
    "charAt": _char_at, "indexOf": _index_of, "lastIndexOf": _last_index_of, "lowerAscii": _lower_ascii,
    "upperAscii": _upper_ascii, "replace": _replace, "split": _split, "substring": _substring, "trim": _trim,
    "join": _join, "reverse": _reverse, "format": _format,
    # lists (``min`` is a celpy macro already)
    "isSorted": _is_sorted, "sum": _sum, "max": _max, "slice": _slice, "flatten": _flatten,
    "distinct": _distinct, "sort": _sort,
    # regex
    "find": _find, "findAll": _find_all, "matches": _matches,  # RE2 syntax (goregex), not Python's
    # URLs
    "url": _url, "isURL": _is_url,
    "getScheme": _url_part(lambda p: p.scheme), "getHost": _url_part(_host),
    "getHostname": _url_part(_hostname), "getPort": _url_part(_port),
    "getEscapedPath": _url_part(lambda p: p.path), "getQuery": _get_query,
    **QUANTITY_FUNCTIONS,
    **IP_FUNCTIONS,
    **OPERATORS,
}
