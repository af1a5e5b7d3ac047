"""Fuzzing the write path: bad input gets a ``Status``, never a 5xx, and never half-writes.

Hypothesis starts from valid objects of a dozen kinds and breaks them — a value of the
wrong type at a random path, a required field removed, an unknown field added, a value
nested thousands deep, a YAML-only value (a date, bytes, a set, a number as a key) — and
sends them to a real ``kubelite server`` as creates, updates and every kind of patch
(merge, strategic merge, JSON patch, server-side apply), now and then with
``fieldValidation``, ``dryRun`` or ``fieldManager``; and it sends bodies that are not
objects at all: truncated JSON, bytes that are not UTF-8, unknown content types.

What every answer must be (``Fuzzer.check``): a success, or a Kubernetes ``Status`` whose
``code`` is the HTTP code, with a reason and a message that is not Python's own words;
never a 5xx, never a traceback. A write that succeeded reads back, alone and in a list (also
as the Table ``kubectl get`` asks for); a refused or dry-run write leaves the object as it
was, and a refused or dry-run create stores nothing.

The requests are raw HTTP with the kubeconfig's token, so no client validates anything
first, to a server of the module's own (a find may crash it: it is restarted, and the
crash fails the last tests). Bugs found are pinned as explicit examples (``found``), which
every run checks first. With the default budget the module runs in well under a minute
on two slow cores; CI (``CI=true``) runs the same examples every time and does not
shrink; a developer hunting new bugs sets ``KUBELITE_FUZZ_EXAMPLES=2000`` (generated
examples per test; the pinned ones are skipped then).
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.support import processes
from tests.support.fuzz import (
    BREAKING,
    KINDS,
    TABLE,
    Deep,
    Fuzzer,
    Kind,
    Mutation,
    WriteCase,
    encode,
    fuzz_settings,
    head_and_tail,
    json_patches,
    mutate,
    mutations,
    short,
    write_cases,
    write_params,
)
from tests.support.rawapi import Api

Obj = dict[str, Any]
Steps = tuple[str | int, ...]


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzer]:
    """A server of the module's own: a fuzzer's find can take a server down, and must not
    take the session's shared one (and every later test module) with it."""
    server = processes.ServerProcess(data_dir=tmp_path_factory.mktemp("kubelite-fuzz-server")).start()
    try:
        fz = Fuzzer(Api(server.kubeconfig), server, f"fuzz-{uuid.uuid4().hex[:6]}")
        created = fz.send("POST", "/api/v1/namespaces", body=json.dumps({"metadata": {"name": fz.ns}}).encode())
        assert created.status == 201, created
        yield fz
    finally:
        server.stop()


# --- the tests ------------------------------------------------------------------------------

def kind_of(resource: str) -> Kind:
    """The kind at ``resource`` ("v1/pods", "policy/v1/poddisruptionbudgets")."""
    return next(k for k in KINDS if f"{k.api_version}/{k.plural}" == resource)


def found(resource: str, *plan: Mutation, fmt: str = "json", params: dict[str, str] | None = None,
          extra: Any = None) -> WriteCase:
    """A case with which this fuzzer found a bug, kept as an explicit example: every run,
    CI's included, checks it first, however few examples the run generates."""
    return WriteCase(kind_of(resource), list(plan), fmt, params or {}, extra)


@fuzz_settings(60)
@given(case=write_cases())
@example(case=found("v1/pods", Mutation("replace", ("spec", "containers", 0, "name"), 5)))
@example(case=found("v1/configmaps", Mutation("unknown", (), 1, key="a\nb")))  # a field name in a header
@example(case=found("v1/configmaps", Mutation("unknown", (), Deep(300, "["), key="x")))
@example(case=found("v1/configmaps", Mutation("unknown", (), b"\x00\xffbinary", key="x"), fmt="yaml"))
@example(case=found("v1/configmaps", Mutation("unknown", (), Deep(50_000, "["), key="x"), fmt="yaml"))
@example(case=found("v1/events", Mutation("replace", ("source",), "x")))  # stored, then no Table
@example(case=found("policy/v1/poddisruptionbudgets", Mutation("replace", ("spec",), True)))
def test_a_broken_object_is_refused_with_a_status_or_created_readably(fuzzer: Fuzzer, case: WriteCase) -> None:
    name = fuzzer.name(case.kind)
    body, ctype = encode(mutate(case.kind.build(name, fuzzer.ns), case.plan), case.fmt)
    ex = fuzzer.send("POST", case.kind.collection(fuzzer.ns), body=body, content_type=ctype, params=case.params)
    fuzzer.after_write(case.kind, ex, before=None, name=name)
    if ex.ok and case.params.get("dryRun") != "All":
        fuzzer.remove(case.kind, json.loads(ex.text)["metadata"]["name"])


@fuzz_settings(40)
@given(case=write_cases(extra=lambda kind: st.booleans()))
@example(case=found("v1/configmaps", Mutation("replace", ("metadata", "resourceVersion"), [1]), extra=True))
@example(case=found("v1/services", Mutation("replace", ("spec",), [])))
@example(case=found("v1/services", Mutation("replace", ("spec",), None)))
def test_a_broken_update_is_refused_with_a_status_and_changes_nothing(fuzzer: Fuzzer, case: WriteCase) -> None:
    before = fuzzer.create_valid(case.kind)
    name = before["metadata"]["name"]
    sent = copy.deepcopy(before)
    if not case.extra:  # mostly an unconditional update: controllers write status meanwhile
        del sent["metadata"]["resourceVersion"]
    body, ctype = encode(mutate(sent, case.plan), case.fmt)
    ex = fuzzer.send("PUT", case.kind.item(fuzzer.ns, name), body=body, content_type=ctype, params=case.params)
    fuzzer.after_write(case.kind, ex, before=before, name=name)
    fuzzer.remove(case.kind, name)


def patches(kind: Kind) -> st.SearchStrategy[tuple[str, list[Any] | None]]:
    """(shape, JSON patch operations): a merge or strategic merge patch made from the case's
    plan (the whole object, or "sparse": only the branch to the first mutation), or a JSON patch."""
    merge_shapes = st.sampled_from(("merge", "merge-sparse", "strategic", "strategic-sparse"))
    return st.one_of(st.tuples(merge_shapes, st.none()), st.tuples(st.just("json"), json_patches(kind)))


def _branch(doc: Any, path: Steps) -> Any:
    """Only the part of ``doc`` on the way to ``path`` (a list is kept whole, as a merge patch sends it)."""
    if not path or not isinstance(doc, dict) or path[0] not in doc:
        return doc
    return {path[0]: _branch(doc[path[0]], path[1:])}


@fuzz_settings(60)
@given(case=write_cases(ops=BREAKING + ("directive",), fmts=("json", "json-raw"), extra=patches))
@example(case=found("v1/configmaps", Mutation("unknown", (), Deep(600, "["), key="x"), extra=("merge", None)))
@example(case=found("apps/v1/deployments", Mutation("replace", ("spec", "template", "metadata"), True),
                    extra=("strategic-sparse", None)))
def test_a_broken_patch_is_refused_with_a_status_and_changes_nothing(fuzzer: Fuzzer, case: WriteCase) -> None:
    before = fuzzer.create_valid(case.kind)
    name = before["metadata"]["name"]
    shape, operations = case.extra
    if shape == "json":
        body, _ = encode(operations, case.fmt)
        ctype = "application/json-patch+json"
    else:
        current = {k: v for k, v in before.items() if k != "status"}
        current["metadata"] = {k: v for k, v in before["metadata"].items() if k != "resourceVersion"}
        plan = [m for m in case.plan if m.op != "directive" or shape.startswith("strategic")]
        patch = mutate(current, plan)
        if shape.endswith("sparse"):
            patch = _branch(patch, case.plan[0].path)
        body, _ = encode(patch, case.fmt)
        ctype = f"application/{shape.removesuffix('-sparse')}-patch+json"
    ex = fuzzer.send("PATCH", case.kind.item(fuzzer.ns, name), body=body, content_type=ctype, params=case.params)
    fuzzer.after_write(case.kind, ex, before=before, name=name)
    fuzzer.remove(case.kind, name)


APPLY_PARAMS = write_params(fieldManager=st.sampled_from(("fuzz", "fuzz", "fuzz", "", "m" * 200, "\u00fc")),
                            force=st.sampled_from(("true", "false", "maybe")))


@fuzz_settings(40)
@given(case=write_cases(fmts=("yaml", "json"), params=APPLY_PARAMS, extra=lambda kind: st.booleans()))
@example(case=found("v1/configmaps", Mutation("replace", ("metadata",), "x"), fmt="yaml",
                    params={"fieldManager": "fuzz"}, extra=False))
@example(case=found("v1/configmaps", Mutation("replace", ("metadata",), None), fmt="yaml",
                    params={"fieldManager": "fuzz"}, extra=False))
def test_a_broken_apply_is_refused_with_a_status_and_changes_nothing(fuzzer: Fuzzer, case: WriteCase) -> None:
    before = fuzzer.create_valid(case.kind) if case.extra else None  # apply updates, or creates
    name = before["metadata"]["name"] if before else fuzzer.name(case.kind)
    body, _ = encode(mutate(case.kind.build(name, fuzzer.ns), case.plan), case.fmt)
    ex = fuzzer.send("PATCH", case.kind.item(fuzzer.ns, name), body=body, content_type="application/apply-patch+yaml",
                     params=case.params)
    fuzzer.after_write(case.kind, ex, before=before, name=name)
    if before is not None or (ex.ok and case.params.get("dryRun") != "All"):
        fuzzer.remove(case.kind, name)


NOT_OBJECTS = (b"[]", b"[1, 2]", b"1", b"-0", b'"text"', b"null", b"true", b"[{}]", b'[{"op": "add"}]', b"{}",
               b'{"": ""}', b"", b"   ", b"\n")
MALFORMED = (b'{"a": NaN}', b'{"a": Infinity}', b"{'single': 'quotes'}", b'{"a": 1,}', b'{"a" 1}',
             b"\xef\xbb\xbf{}", b'{"kind": "ConfigMap"}\n{"second": 1}', b"1e999999", b'{"n": 1e999}',
             b'{"metadata": {"name": 123456789012345678901234567890}}', b"{" * 100_000, b"[" * 100_000,
             b'{"a": "\\ud800"}', b'{"a": "\\u0000"}', b'{"metadata": {"name": "x", "name": "y"}}')
YAML_ODDITIES = (b"!!python/object/apply:os.system ['true']", b"a: &a [*a]", b"--- {}\n--- {}\n",
                 b"key: value\n\tindented: tab", b"? [a, b]\n: complex key", b"? {a: 1}\n: mapping key",
                 b"a: !!binary AAEC", b"a: !!set {x, y}", b"1: int key", b"~: null key", b"a: 2024-01-01",
                 b"metadata: {name: !!float 1}", b"? " * 50_000 + b"a", b"- " * 50_000 + b"a",
                 (b"a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                  b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                  b"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"))  # 10^5 x's from 300 bytes
BAD_UTF8 = (b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80", b"\xc0\xaf")
CONTENT_TYPES = ("application/json", "application/yaml", "text/plain", "application/xml",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                 "application/vnd.kubernetes.protobuf", "application/json; charset=utf-16", "application/cbor",
                 "application/apply-patch+cbor", "*/*", "", "application/", "json", ";;;",
                 "application/merge-patch+json", "application/json-patch+json",
                 "application/strategic-merge-patch+json", "application/apply-patch+yaml")
VERB_TYPES = {"POST": "application/json", "PUT": "application/json", "DELETE": "application/json",
              "PATCH merge": "application/merge-patch+json",
              "PATCH strategic": "application/strategic-merge-patch+json",
              "PATCH json": "application/json-patch+json", "PATCH apply": "application/apply-patch+yaml"}
DELETE_OPTIONS = {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                  "propagationPolicy": "Background", "preconditions": {"uid": "x"}, "dryRun": ["All"]}


@st.composite
def raw_bodies(draw: st.DrawFn, kind: Kind) -> bytes:
    """A body that is not a (valid) object, or a valid one for the content type to spoil."""
    valid = json.dumps(kind.build("raw-body", "ns")).encode()
    family = draw(st.sampled_from(("not-object", "malformed", "yaml", "truncated", "bad-utf8", "binary",
                                   "protobuf", "valid", "delete-options")))
    if family == "not-object":
        return draw(st.sampled_from(NOT_OBJECTS))
    if family == "malformed":
        return draw(st.sampled_from(MALFORMED))
    if family == "yaml":
        return draw(st.sampled_from(YAML_ODDITIES))
    if family == "truncated":
        return valid[:draw(st.integers(0, len(valid) - 1))]
    if family == "bad-utf8":
        at = draw(st.integers(0, len(valid)))
        return valid[:at] + draw(st.sampled_from(BAD_UTF8)) + valid[at:]
    if family == "binary":
        return draw(st.binary(max_size=200))
    if family == "protobuf":
        return b"k8s\x00" + draw(st.binary(max_size=200))
    if family == "delete-options":
        options = mutate(DELETE_OPTIONS, draw(st.lists(mutations(KINDS[0], BREAKING), max_size=2)))
        return encode(options, "json")[0]
    return valid


@dataclass(frozen=True)
class RawCase:
    kind: Kind
    verb: str
    body: bytes
    content_type: str

    def __repr__(self) -> str:
        return f"RawCase({self.kind!r}, {self.verb!r}, {short(self.body)}, {self.content_type!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


@st.composite
def raw_cases(draw: st.DrawFn) -> RawCase:
    kind = draw(st.sampled_from(KINDS))
    verb = draw(st.sampled_from(sorted(VERB_TYPES)))
    ctype = draw(st.one_of(st.just(VERB_TYPES[verb]), st.sampled_from(CONTENT_TYPES)))
    return RawCase(kind, verb, draw(raw_bodies(kind)), ctype)


@fuzz_settings(60)
@given(case=raw_cases())
@example(case=RawCase(kind_of("v1/configmaps"), "POST", b"~: x\n", "application/yaml"))  # a null key
@example(case=RawCase(kind_of("v1/configmaps"), "POST", b"? " * 50_000 + b"a", "application/yaml"))  # nested keys
def test_a_body_that_is_not_an_object_is_refused_with_a_status(fuzzer: Fuzzer, case: RawCase) -> None:
    method = case.verb.split()[0]
    before = None if method == "POST" else fuzzer.create_valid(case.kind)
    path = case.kind.collection(fuzzer.ns) if before is None else case.kind.item(fuzzer.ns, before["metadata"]["name"])
    params = {"fieldManager": "fuzz"} if case.verb == "PATCH apply" else {}
    ex = fuzzer.send(method, path, body=case.body, content_type=case.content_type, params=params)
    answer = fuzzer.check(ex)
    if method == "POST":
        if ex.ok:
            fuzzer.assert_readable(case.kind, answer, ex)
            fuzzer.remove(case.kind, answer["metadata"]["name"])
        return
    assert before is not None
    if method == "DELETE":
        if not ex.ok:
            fuzzer.assert_unchanged(case.kind, before, ex)
    elif ex.ok:
        fuzzer.assert_readable(case.kind, answer, ex)
    else:
        fuzzer.assert_unchanged(case.kind, before, ex)
    fuzzer.remove(case.kind, before["metadata"]["name"])


def test_the_server_survived_and_every_kind_still_lists(fuzzer: Fuzzer) -> None:
    ready = fuzzer.send("GET", "/readyz")  # restarts a server the last test took down (a crash on record)
    assert ready.status == 200, ready
    for kind in KINDS:  # what the fuzzing stored, read back after a restart too
        for namespace in (fuzzer.ns, None):
            for accept in (None, TABLE):
                listed = fuzzer.send("GET", kind.collection(namespace), accept=accept)
                fuzzer.check(listed)
                assert listed.status == 200, listed
    crashes = fuzzer.crashes
    assert not crashes, f"the fuzzing took the server down {len(crashes)} times; the first:\n{crashes[0]}"


LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d ", re.MULTILINE)  # how each of the server's log records starts


def test_no_part_of_the_server_logged_a_traceback_while_fuzzing(fuzzer: Fuzzer) -> None:
    """Objects the API accepted must not crash the controllers or the scheduler that read them either."""
    records = LOG_RECORD.split(fuzzer.log_since(fuzzer.log_start))
    failures = [r for r in records if "Traceback (most recent call last)" in r]
    shown = "\n".join(head_and_tail(r) for r in failures[:3])
    assert not failures, f"{len(failures)} tracebacks in the server's log; the first ones:\n{shown}"
