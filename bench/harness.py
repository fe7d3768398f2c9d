#!/usr/bin/env python3
"""Timing and reporting helpers for bench/run.sh (Python stdlib only).

  harness.py measure RESULTS NAME RULES RUNS CWD -- CMD [ARGS...]
      Runs CMD once to warm the page cache, then RUNS times, each with stdout sent to
      /dev/null, and records wall time per run. Then runs it once more under
      `/usr/bin/time -v` for the peak RSS ("Maximum resident set size"). Any argument
      equal to {OUT} is replaced by a fresh empty directory for each run (removed
      afterwards), made under $BENCH_OUT_ROOT (default $BENCH_TMP). A non-zero exit status aborts the benchmark with the command's stderr.
      Appends one JSON line to RESULTS.

  harness.py report RESULTS
      Prints the machine description and a Markdown table of RESULTS.
"""

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def die(msg):
    print(f"bench: {msg}", file=sys.stderr)
    sys.exit(1)


def run_once(cmd, cwd, out_root):
    """Run cmd; return (wall seconds, ru_maxrss KB, stderr)."""
    out_dir = None
    if "{OUT}" in cmd:
        out_dir = tempfile.mkdtemp(prefix="out.", dir=out_root)
        cmd = [out_dir if a == "{OUT}" else a for a in cmd]
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if out_dir:
        shutil.rmtree(out_dir)
    if p.returncode != 0:
        die(f"`{' '.join(cmd)}` (in {cwd}) exited {p.returncode}:\n{stderr[-4000:]}")
    return wall, ru.ru_maxrss, stderr


def peak_rss_time_v(cmd, cwd, out_root):
    """Peak RSS in KB as GNU time reports it."""
    out_dir = None
    if "{OUT}" in cmd:
        out_dir = tempfile.mkdtemp(prefix="out.", dir=out_root)
        cmd = [out_dir if a == "{OUT}" else a for a in cmd]
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, cwd=cwd,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if out_dir:
        shutil.rmtree(out_dir)
    if p.returncode != 0:
        die(f"`/usr/bin/time -v {' '.join(cmd)}` exited {p.returncode}:\n{p.stderr[-4000:]}")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    if not m:
        die("no 'Maximum resident set size' in /usr/bin/time -v output")
    return int(m.group(1))


def measure(argv):
    results, name, rules, runs, cwd = argv[:5]
    if argv[5] != "--":
        die("measure: expected -- before the command")
    cmd = argv[6:]
    rules, runs = int(rules), int(runs)
    out_root = (os.environ.get("BENCH_OUT_ROOT") or os.environ.get("BENCH_TMP")
                or tempfile.gettempdir())
    run_once(cmd, cwd, out_root)  # warm-up: page cache, binary, directory entries
    walls, rss_ru = [], []
    for _ in range(runs):
        w, rss, _ = run_once(cmd, cwd, out_root)
        walls.append(w)
        rss_ru.append(rss)
    rss_kb = peak_rss_time_v(cmd, cwd, out_root)
    med = statistics.median(walls)
    rec = {
        "name": name, "rules": rules, "runs": runs, "cmd": " ".join(cmd), "cwd": cwd,
        "median_ms": med * 1000, "min_ms": min(walls) * 1000, "max_ms": max(walls) * 1000,
        "rules_per_s": rules / med if med > 0 else 0.0,
        "peak_rss_mb": rss_kb / 1024, "peak_rss_mb_wait4": max(rss_ru) / 1024,
    }
    with open(results, "a", encoding="utf-8") as f:
        f.write(json.dumps(rec) + "\n")
    print(f"  {name}: median {rec['median_ms']:.1f} ms, min {rec['min_ms']:.1f} ms "
          f"({runs} runs), peak RSS {rec['peak_rss_mb']:.1f} MB", file=sys.stderr)


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = 0.0
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_gb = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    commit = sh(["git", "rev-parse", "--short", "HEAD"])
    if commit and sh(["git", "status", "--porcelain", "--untracked-files=no"]):
        commit += " (working tree modified)"
    return {
        "date": time.strftime("%Y-%m-%d"),
        "cpus": sh(["nproc"]) or str(os.cpu_count()),
        "cpu": cpu or platform.processor() or "unknown",
        "ram": f"{mem_gb:.1f} GiB",
        "kernel": platform.release(),
        "rustc": sh(["rustc", "--version"]) or "unknown",
        "commit": commit or "none (not a git checkout)",
    }


def load_average():
    """The 1, 5 and 15 minute load averages, as /proc/loadavg gives them ('' elsewhere)."""
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return ""


def print_machine():
    """The lines above every results table: date, machine, toolchain, load."""
    m = machine()
    print(f"Date: {m['date']}  ")
    print(f"Machine: {m['cpus']} CPUs ({m['cpu']}), {m['ram']} RAM, Linux {m['kernel']}  ")
    print(f"Toolchain: {m['rustc']}; detc commit {m['commit']}  ")
    print(f"Load average (1/5/15 min) at start: {os.environ.get('BENCH_LOAD_START') or '?'}; "
          f"at end: {os.environ.get('BENCH_LOAD_END') or '?'}")
    print()


def report(argv):
    recs = [json.loads(l) for l in open(argv[0], encoding="utf-8") if l.strip()]
    print_machine()
    print("| case | command | rules | runs | median (ms) | min (ms) | rules/s (median) | peak RSS (MB) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in recs:
        print(f"| {r['name']} | `{r['cmd']}` | {r['rules']:,} | {r['runs']} | "
              f"{r['median_ms']:.1f} | {r['min_ms']:.1f} | {r['rules_per_s']:,.0f} | "
              f"{r['peak_rss_mb']:.1f} |")


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("measure", "report"):
        die(__doc__)
    {"measure": measure, "report": report}[sys.argv[1]](sys.argv[2:])
