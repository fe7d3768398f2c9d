#!/usr/bin/env python3
"""Checking and timing for bench/peer.sh: detc hunt and rsigma on twin events.

Checks that both find the same matches per rule id (detc's `id`, rsigma's rule id), then
times each case PEER runs (median wall and CPU), with the peak RSS of one run under
/usr/bin/time -v, and prints a Markdown table. Python stdlib only.
"""

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import die, load_average, peak_rss_time_v, print_machine  # noqa: E402


def rule_id(match: dict) -> str:
    """The rule id of one output line of either tool."""
    for key in ("id", "rule_id"):
        if isinstance(match.get(key), str):
            return match[key]
    rule = match.get("rule")
    if isinstance(rule, dict) and isinstance(rule.get("id"), str):
        return rule["id"]
    die(f"no rule id in output line: {json.dumps(match)[:300]}")


def run(cmd: list[str], out_path: str | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of one run; stdout to out_path (or discarded)."""
    out = open(out_path, "wb") if out_path else subprocess.DEVNULL
    # stderr to a file: a pipe nobody reads would stop a tool that writes much there.
    with tempfile.TemporaryFile() as errf:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=errf)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        errf.seek(0)
        err = errf.read().decode("utf-8", "replace")
    if out_path:
        out.close()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1) or (code == 1 and "error" in err.lower() and "detc" in cmd[0]):
        die(f"`{' '.join(cmd)}` exited {code}:\n{err[-3000:]}")
    return wall, ru.ru_utime + ru.ru_stime


def counts(path: str) -> collections.Counter:
    c: collections.Counter = collections.Counter()
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                c[rule_id(json.loads(line))] += 1
    return c


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for a in ("--detc", "--rsigma", "--tmp", "--one"):
        ap.add_argument(a, required=True)
    ap.add_argument("--events", type=int, required=True)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    t = args.tmp
    cases = {
        "all rules": (
            [args.detc, "hunt", f"{t}/det", "--events", f"{t}/ecs.ndjson"],
            [args.rsigma, "engine", "eval", "-r", f"{t}/sigma", "-e", f"@{t}/sysmon.ndjson"],
        ),
        "one rule": (
            [args.detc, "hunt", f"{t}/one-det", "--events", f"{t}/ecs.ndjson"],
            [args.rsigma, "engine", "eval", "-r", f"{t}/one-sigma", "-e", f"@{t}/sysmon.ndjson"],
        ),
    }

    # Same answers first: per rule id, on every case.
    for case, (d, r) in cases.items():
        run(d, f"{t}/detc.out")
        run(r, f"{t}/rsigma.out")
        cd, cr = counts(f"{t}/detc.out"), counts(f"{t}/rsigma.out")
        if cd != cr:
            diff = sorted(set(cd) | set(cr), key=lambda k: -abs(cd[k] - cr[k]))
            rows = "\n".join(f"  {k}: detc {cd[k]}, rsigma {cr[k]}" for k in diff if cd[k] != cr[k])
            die(f"{case}: the tools disagree ({sum(cd.values())} vs {sum(cr.values())} matches):\n{rows[:4000]}")
        print(f"peer: {case}: both find {sum(cd.values()):,} matches of {len(cd)} rules", file=sys.stderr)

    rows = []
    for case, cmds in cases.items():
        for tool, cmd in zip(("detc hunt", "rsigma 0.23.0"), cmds):
            walls, cpus = zip(*(run(cmd) for _ in range(args.runs)))
            wall, cpu = statistics.median(walls), statistics.median(cpus)
            rss = peak_rss_time_v(cmd, os.getcwd(), t)
            rows.append(f"| {case} | {tool} | {args.events:,} | {args.runs} | {wall:.2f} | {cpu:.2f} | "
                        f"{args.events / wall:,.0f} | {args.events / cpu:,.0f} | {rss / 1024:.1f} |")
    # The machine's load around the timings (peer.sh set the start).
    os.environ.setdefault("BENCH_LOAD_END", load_average())
    print_machine()
    print()
    print("| case | tool | events | runs | wall s (median) | CPU s (median) | events/s | events/s per CPU s | peak RSS MB |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
