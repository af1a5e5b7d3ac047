"""The benchmark's load generator reads HTTP/1.1 answers off a byte buffer
(``bench/loadgen.parse_answer``): whole, cut anywhere, several at once, chunked."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench import loadgen

CREATED = b'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{"kind":"P"}\n'
CHUNKED = (b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n")


def test_a_whole_answer_and_what_follows_it() -> None:
    assert loadgen.parse_answer(CREATED + b"HTTP/1.1 2") == (201, b'{"kind":"P"}\n', len(CREATED))


@pytest.mark.parametrize("answer, expected", [(CREATED, (201, b'{"kind":"P"}\n')), (CHUNKED, (500, b"hello, world"))])
def test_an_answer_cut_anywhere_waits_for_the_rest(answer: bytes, expected: tuple[int, bytes]) -> None:
    for cut in range(len(answer)):
        assert loadgen.parse_answer(answer[:cut]) is None, cut
    assert loadgen.parse_answer(answer) == (*expected, len(answer))


def test_an_answer_without_a_body() -> None:
    answer = b"HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n"
    assert loadgen.parse_answer(answer) == (204, b"", len(answer))


def test_the_name_of_a_generated_object_is_read_off_its_answer() -> None:
    body = b'{"metadata":{"generateName":"pod-","namespace":"default","name":"pod-x7k2q"},"spec":{}}'
    assert loadgen.created_name(body) == "pod-x7k2q"
    assert loadgen.created_name(b'{"metadata":{"name":"plain"}}') == "plain"
