"""``bench/ab.py``: the numbers of a result line, and the mean change over pairs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench import ab


def test_flat_numbers_takes_nested_numbers_and_skips_the_rest() -> None:
    result = {"bench": "scheduler", "pods_per_s": 1500, "quick": False,
              "cpu_us_per_pod": {"server": 700, "scheduler": 400.5, "note": "x"}}
    assert ab.flat_numbers(result) == {"pods_per_s": 1500.0, "cpu_us_per_pod.server": 700.0,
                                       "cpu_us_per_pod.scheduler": 400.5}


def test_last_json_line_is_the_result() -> None:
    out = 'starting\n{"pair": 0}\nlog line\n{"pods_per_s": 10}\n'
    assert ab.last_json_line(out) == {"pods_per_s": 10}
    with pytest.raises(RuntimeError):
        ab.last_json_line("no result here\n")


def test_compare_averages_the_change_of_each_pair() -> None:
    pairs = [({"rate": 100.0, "only_base": 1.0}, {"rate": 90.0}), ({"rate": 200.0, "only_base": 1.0}, {"rate": 220.0})]
    [(key, base, mine, change)] = ab.compare(pairs)
    assert key == "rate" and base == 150.0 and mine == 155.0
    assert change == pytest.approx(0.0)  # -10 % and +10 %
