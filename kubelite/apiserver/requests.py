"""Request options: parsing query strings and bodies into list/delete/write options.

The HTTP handlers call these; the registry receives plain dataclasses. Booleans follow
Go's ``strconv.ParseBool`` (older Python clients send ``True``), and malformed values
are 400s with a message naming the parameter.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from kubelite.api import errors

_TRUE = {"1", "t", "T", "true", "TRUE", "True"}
_FALSE = {"0", "f", "F", "false", "FALSE", "False"}


def parse_bool(query: Mapping[str, str], name: str, default: bool = False) -> bool:
    value = query.get(name)
    if value is None or value == "":
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise errors.BadRequest(f'invalid value for {name}: "{value}" is not a boolean')


def parse_int(query: Mapping[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise errors.BadRequest(f'invalid value for {name}: "{value}" is not an integer') from None


OMIT_MANAGED_FIELDS = "omitManagedFields"  # the query parameter of ListOptions.omit_managed_fields


@dataclass
class ListOptions:
    label_selector: str = ""
    field_selector: str = ""
    limit: int = 0
    continue_token: str = ""
    resource_version: str = ""
    resource_version_match: str = ""
    watch: bool = False
    allow_bookmarks: bool = False
    send_initial_events: bool | None = None
    timeout_seconds: int | None = None
    # kubelite's own extension, for its components (upstream's ignore it): objects without
    # metadata.managedFields, which they drop on arrival anyway (``managedfields.omitted``)
    omit_managed_fields: bool = False

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> ListOptions:
        limit = parse_int(query, "limit") or 0
        if limit < 0:
            raise errors.BadRequest("limit must be a non-negative integer")
        sie = query.get("sendInitialEvents")
        opts = cls(
            label_selector=query.get("labelSelector", ""),
            field_selector=query.get("fieldSelector", ""),
            limit=limit,
            continue_token=query.get("continue", ""),
            resource_version=query.get("resourceVersion", ""),
            resource_version_match=query.get("resourceVersionMatch", ""),
            watch=parse_bool(query, "watch"),
            allow_bookmarks=parse_bool(query, "allowWatchBookmarks"),
            send_initial_events=None if sie in (None, "") else parse_bool(query, "sendInitialEvents"),
            timeout_seconds=parse_int(query, "timeoutSeconds"),
            omit_managed_fields=parse_bool(query, OMIT_MANAGED_FIELDS),
        )
        opts._validate()
        return opts

    def _validate(self) -> None:
        if self.resource_version and not self.resource_version.isdigit():
            raise errors.BadRequest(f'invalid resource version "{self.resource_version}"')
        if self.resource_version_match not in ("", "NotOlderThan", "Exact"):
            raise errors.BadRequest(
                f'resourceVersionMatch: Unsupported value: "{self.resource_version_match}": '
                'supported values: "Exact", "NotOlderThan"')
        if self.resource_version_match and not self.resource_version and not self.send_initial_events:
            raise errors.Invalid("resourceVersionMatch is forbidden unless resourceVersion is provided")
        if self.resource_version_match == "Exact" and self.resource_version == "0":
            raise errors.Invalid('resourceVersionMatch "Exact" is forbidden for resourceVersion "0"')
        if self.continue_token and self.resource_version not in ("", "0") and not self.watch:
            raise errors.BadRequest("specifying resource version is not allowed when using continue")
        if self.send_initial_events is not None:
            if not self.watch:
                raise errors.Invalid("sendInitialEvents is forbidden for list")
            if self.send_initial_events and self.resource_version_match != "NotOlderThan":
                raise errors.Invalid("sendInitialEvents requires setting resourceVersionMatch to NotOlderThan")


@dataclass(frozen=True)
class ContinueToken:
    """Opaque to clients: where a paged list resumes, and at which revision."""

    revision: int
    start_key: str

    def encode(self) -> str:
        raw = orjson.dumps({"v": "kubelite/1", "rv": self.revision, "start": self.start_key})
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> ContinueToken:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            data = orjson.loads(raw)
            return cls(revision=int(data["rv"]), start_key=str(data["start"]))
        except Exception:
            raise errors.BadRequest("continue key is not valid: invalid continue token") from None


@dataclass
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    orphan_dependents: bool | None = None
    preconditions: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False

    @classmethod
    def parse(cls, query: Mapping[str, str], body: dict[str, Any] | None) -> DeleteOptions:
        body = body or {}
        if body and body.get("kind", "DeleteOptions") != "DeleteOptions":
            raise errors.BadRequest(f'expected DeleteOptions in the request body, got {body.get("kind")}')
        opts = cls()
        grace = body.get("gracePeriodSeconds", parse_int(query, "gracePeriodSeconds"))
        if grace is not None:
            if not isinstance(grace, int) or isinstance(grace, bool):
                raise errors.BadRequest("gracePeriodSeconds must be an integer")
            opts.grace_period_seconds = grace
        policy = body.get("propagationPolicy", query.get("propagationPolicy")) or None
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise errors.Invalid(
                f'propagationPolicy: Unsupported value: "{policy}": supported values: '
                '"Foreground", "Background", "Orphan"')
        opts.propagation_policy = policy
        orphan = body.get("orphanDependents")
        if orphan is None and "orphanDependents" in query:
            orphan = parse_bool(query, "orphanDependents")
        opts.orphan_dependents = orphan
        if policy and orphan is not None:
            raise errors.Invalid("orphanDependents and propagationPolicy cannot both be set")
        pre = body.get("preconditions") or {}
        if not isinstance(pre, dict):
            raise errors.BadRequest("preconditions must be an object")
        opts.preconditions = {k: v for k, v in pre.items() if v}
        opts.dry_run = parse_dry_run(body.get("dryRun") or query_list(query, "dryRun"))
        return opts


def query_list(query: Mapping[str, str], name: str) -> list[str]:
    """All values of a repeated query parameter (aiohttp's MultiDict or a plain dict)."""
    getall = getattr(query, "getall", None)
    if getall is not None:
        return list(getall(name, []))
    return [query[name]] if name in query else []


def parse_dry_run(values: Any) -> bool:
    if not values:
        return False
    if isinstance(values, str):
        values = [values]
    for v in values:
        if v != "All":
            raise errors.BadRequest(f'dryRun: Unsupported value: "{v}": supported values: "All"')
    return True


@dataclass
class WriteOptions:
    """CreateOptions / UpdateOptions / PatchOptions."""

    dry_run: bool = False
    field_manager: str = ""
    field_validation: str = "Warn"
    force: bool = False
    user_agent: str = ""  # names the manager when fieldManager is not given
    apply: bool = False  # a server-side apply: it records its own managedFields entry

    @classmethod
    def parse(cls, query: Mapping[str, str], user_agent: str = "") -> WriteOptions:
        dry = query_list(query, "dryRun")
        fv = query.get("fieldValidation", "") or "Warn"
        if fv not in ("Ignore", "Warn", "Strict"):
            raise errors.BadRequest(
                f'fieldValidation: Unsupported value: "{fv}": supported values: "Ignore", "Strict", "Warn"')
        manager = query.get("fieldManager", "")
        if len(manager) > 128:
            raise errors.Invalid("fieldManager: Too long: may not be more than 128 bytes")
        return cls(dry_run=parse_dry_run(dry), field_manager=manager, field_validation=fv,
                   force=parse_bool(query, "force"), user_agent=user_agent)
