"""Alternating A/B runs of a benchmark: this checkout against another commit, in turns.

This machine's speed drifts by tens of percent from minute to minute (see
docs/benchmarks.md), so a change is measured against its baseline run just before or
after it, never against a number from another hour. ``bench/ab.py`` checks the baseline
commit out into a temporary ``git worktree``, then runs the same benchmark command in both
trees in turns (``--pairs`` pairs; who goes first alternates), each with its own
checkout's code on ``PYTHONPATH``, and prints every pair and the mean change of each
number both report::

    .venv/bin/python bench/ab.py --baseline HEAD~1 --pairs 3 -- \\
        bench/scheduler.py --workload SchedulingBasic/5000Nodes_10000Pods

Every benchmark here prints one JSON object per run as its last line; numbers nested one
level (``cpu_us_per_pod.server``) are compared too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def flat_numbers(result: dict[str, Any]) -> dict[str, float]:
    """The numbers of one result line, nested ones as ``outer.inner``."""
    out: dict[str, float] = {}
    for key, value in result.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            out[key] = float(value)
        elif isinstance(value, dict):
            out.update({f"{key}.{k}": float(v) for k, v in value.items()
                        if isinstance(v, int | float) and not isinstance(v, bool)})
    return out


def last_json_line(output: str) -> dict[str, Any]:
    for line in reversed(output.strip().splitlines()):
        if line.startswith("{"):
            parsed = json.loads(line)
            if isinstance(parsed, dict):
                return parsed
    raise RuntimeError(f"the benchmark printed no JSON result line:\n{output[-2000:]}")


def run_in(tree: Path, command: list[str], timeout: float) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.run([sys.executable, *command], cwd=tree, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} in {tree} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return last_json_line(proc.stdout)


def compare(pairs: list[tuple[dict[str, float], dict[str, float]]]) -> list[tuple[str, float, float, float]]:
    """(number, baseline mean, this checkout's mean, mean of the per-pair changes in %)."""
    keys = [k for k in pairs[0][0] if all(k in a and k in b for a, b in pairs)]
    rows = []
    for key in keys:
        base = [a[key] for a, _ in pairs]
        mine = [b[key] for _, b in pairs]
        changes = [(b - a) / a * 100 for a, b in zip(base, mine, strict=True) if a]
        rows.append((key, statistics.fmean(base), statistics.fmean(mine),
                     statistics.fmean(changes) if changes else float("nan")))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", required=True, help="the commit to compare against (e.g. HEAD~1)")
    parser.add_argument("--pairs", type=int, default=3, help="baseline/checkout pairs to run (default 3)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the benchmark and its arguments")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the benchmark to run after --")
    commit = subprocess.run(["git", "rev-parse", "--short", args.baseline], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="kubelite-ab-") as tmp:
        tree = Path(tmp) / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), commit], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            pairs = []
            for i in range(1, args.pairs + 1):
                if i % 2:  # who goes first alternates: a drift within a pair favours neither
                    base = run_in(tree, command, args.timeout)
                    mine = run_in(ROOT, command, args.timeout)
                else:
                    mine = run_in(ROOT, command, args.timeout)
                    base = run_in(tree, command, args.timeout)
                print(json.dumps({"pair": i, "baseline": commit, "baseline_result": base, "result": mine}),
                      flush=True)
                pairs.append((flat_numbers(base), flat_numbers(mine)))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False,
                           capture_output=True)
    print(f"\n{'number':40} {'baseline ' + commit:>18} {'this checkout':>14} {'change':>8}")
    for key, base_mean, mine_mean, change in compare(pairs):
        print(f"{key:40} {base_mean:18.1f} {mine_mean:14.1f} {change:+7.1f}%")


if __name__ == "__main__":
    main()
