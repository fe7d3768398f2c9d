#!/usr/bin/env python3
"""How `detc check` scales with the size of one condition (see BENCHMARKS.md).

Writes one rule per shape and size (a flat `or` chain, a flat `and` chain, a flat `having`
chain, one `in [...]` list), each on one long line as an importer or generator writes
them, checks it with `detc check` (median of RUNS runs, peak RSS from /usr/bin/time), and
prints a Markdown table. Exits 1 when a rule is refused or when the cost per term at the
largest size exceeds MAX_RATIO times the cost at the smallest: checking must stay linear
(issue 16 found a quadratic scan and a flat chain refused as "too deeply nested").

    bench/scaling.py --detc target/release/detc [--sizes 25000,50000,100000,200000] [--runs 3]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

MAX_RATIO = 2.5


def rule(shape: str, n: int) -> str:
    name = f"{shape}_{n}"
    uid = f"0b6c1a8e-1111-4c3e-9a55-{n:012d}"
    head = f'rule {name} "{shape} of {n} terms" {{\n  id = "{uid}"\n  severity = low\n'
    # Sentinel refuses queries over 10,000 characters (E0602), so only unbounded targets.
    head += "  targets = [splunk, elastic]\n"
    if shape == "or_chain":
        cond = " or ".join(f'process.name == "p{i}.exe"' for i in range(n))
        body = f"  from process_start where {cond}\n"
        test = f'  test matches {{ process.name = "p{n - 1}.exe" }}\n'
    elif shape == "and_chain":
        cond = " and ".join(f'process.name != "p{i}.exe"' for i in range(n))
        body = f"  from process_start where {cond}\n"
        test = '  test matches { process.name = "other.exe" }\n'
    elif shape == "having_chain":
        cond = " or ".join(f"count() == {i + 2}" for i in range(n))
        body = f"  from authentication group by user.name window 1h having {cond}\n"
        test = ""
    elif shape == "in_list":
        items = ", ".join(f'"p{i}.exe"' for i in range(n))
        body = f"  from process_start where process.name in [{items}]\n"
        test = f'  test matches {{ process.name = "p{n - 1}.exe" }}\n'
    else:
        raise ValueError(shape)
    return head + body + test + "}\n"


def run(detc: str, path: str) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in KiB, and detc's last stderr line."""
    started = time.perf_counter()
    p = subprocess.run(
        ["/usr/bin/time", "-f", "%M", detc, "check", path],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    lines = p.stderr.strip().splitlines()
    rss = int(lines[-1]) if lines and lines[-1].isdigit() else 0
    summary = lines[-2] if len(lines) >= 2 else ""
    if p.returncode != 0 or "0 errors" not in summary:
        sys.exit(f"scaling: detc check {path} failed:\n{p.stderr[-2000:]}")
    return wall, rss, summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--detc", required=True)
    ap.add_argument("--sizes", default="25000,50000,100000,200000")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    failed = False
    print("| shape | terms | file (MB) | median (s) | µs per term | peak RSS (MB) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory(prefix="detc-scaling.") as tmp:
        for shape in ["or_chain", "and_chain", "having_chain", "in_list"]:
            per_term = []
            for n in sizes:
                path = os.path.join(tmp, f"{shape}_{n}.det")
                with open(path, "w") as f:
                    f.write(rule(shape, n))
                run(args.detc, path)  # warm the page cache
                walls, rss = [], 0
                for _ in range(args.runs):
                    wall, peak, _ = run(args.detc, path)
                    walls.append(wall)
                    rss = max(rss, peak)
                median = statistics.median(walls)
                per_term.append(median / n * 1e6)
                size_mb = os.path.getsize(path) / 1e6
                print(
                    f"| {shape} | {n:,} | {size_mb:.1f} | {median:.3f} | "
                    f"{per_term[-1]:.2f} | {rss / 1024:.0f} |",
                    flush=True,
                )
            ratio = per_term[-1] / per_term[0]
            if ratio > MAX_RATIO:
                failed = True
                print(
                    f"scaling: {shape}: {per_term[-1]:.2f} µs per term at {sizes[-1]:,} "
                    f"against {per_term[0]:.2f} at {sizes[0]:,} (×{ratio:.1f} > ×{MAX_RATIO})",
                    file=sys.stderr,
                )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
