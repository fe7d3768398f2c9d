#!/usr/bin/env python3
"""Timing, checking and reporting for bench/hunt.sh (Python stdlib only).

  hunt_harness.py measure RESULTS NAME EVENTS CORES RUNS CWD -- CMD [ARGS...]
      Runs CMD once to warm the page cache, then RUNS times with stdout to /dev/null,
      recording wall time and CPU time (user + system) per run; then once more under
      `/usr/bin/time -v` for the peak RSS. CORES is how many cores CMD may use (for
      events/s per core). Checks that detc's closing line reports EVENTS events.
      Appends one JSON line to RESULTS.

  hunt_harness.py verify TRUTH MATCHES
      Checks that the matches (detc hunt's NDJSON output) are exactly the planted events
      that gen_events.py listed in TRUTH, rule by rule.

  hunt_harness.py report RESULTS
      Prints the machine description and a Markdown table of RESULTS.
"""

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in bench/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import die, peak_rss_time_v, print_machine  # noqa: E402

CLOSING = re.compile(r"hunted ([\d,]+) events with (\d+) rules .*: ([\d,]+) matched \(([\d,]+) matches\)")


def run_once(cmd, cwd):
    """Run cmd; return (wall s, cpu s, stderr)."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if code != 0:
        die(f"`{' '.join(cmd)}` (in {cwd}) exited {code}:\n{stderr[-4000:]}")
    return wall, ru.ru_utime + ru.ru_stime, stderr


def measure(argv):
    results, name, events, cores, runs, cwd = argv[:6]
    if argv[6] != "--":
        die("measure: expected -- before the command")
    cmd = argv[7:]
    events, cores, runs = int(events), int(cores), int(runs)
    _, _, stderr = run_once(cmd, cwd)  # warm-up: page cache, binary
    m = CLOSING.search(stderr)
    if not m:
        die(f"no closing line in detc's stderr:\n{stderr[-2000:]}")
    seen = int(m.group(1).replace(",", ""))
    if seen != events:
        die(f"detc hunted {seen} events, expected {events}")
    walls, cpus = [], []
    for _ in range(runs):
        w, c, _ = run_once(cmd, cwd)
        walls.append(w)
        cpus.append(c)
    rss_kb = peak_rss_time_v(cmd, cwd, tempfile.gettempdir())
    med = statistics.median(walls)
    rate = events / med if med > 0 else 0.0
    shown = cmd
    if cmd[:2] == ["sh", "-c"] and len(cmd) >= 5:
        # `sh -c 'exec detc ... < "$1"' sh FILE` reads better as the shell line it runs.
        shown = [cmd[2].replace("exec ", "", 1).replace('"$1"', cmd[4])]
    rec = {
        "name": name, "cmd": " ".join(shown), "events": events, "cores": cores, "runs": runs,
        "rules": int(m.group(2)), "matched": int(m.group(3).replace(",", "")),
        "matches": int(m.group(4).replace(",", "")),
        "median_s": med, "min_s": min(walls), "max_s": max(walls),
        "cpu_s": statistics.median(cpus),
        "events_per_s": rate, "events_per_s_per_core": rate / cores,
        "peak_rss_mb": rss_kb / 1024,
    }
    with open(results, "a", encoding="utf-8") as f:
        f.write(json.dumps(rec) + "\n")
    print(f"  {name}: median {med:.2f} s ({runs} runs), {rate:,.0f} events/s, "
          f"{rate / cores:,.0f} per core, CPU {rec['cpu_s']:.2f} s, peak RSS {rec['peak_rss_mb']:.1f} MB",
          file=sys.stderr)


def event_id(event):
    e = event.get("event")
    if isinstance(e, dict) and "id" in e:
        return e["id"]
    return event.get("event.id")


def verify(argv):
    truth = {rule: set(ids) for rule, ids in json.load(open(argv[0], encoding="utf-8")).items()}
    got = {rule: set() for rule in truth}
    alerts = {}
    with open(argv[1], encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            m = json.loads(line)
            # Correlation alerts (group + contributing events) come from the background mix,
            # which is random; they are counted, the planted single-event matches verified.
            if list(m) == ["rule", "id", "severity", "title", "group", "events"]:
                alerts[m["rule"]] = alerts.get(m["rule"], 0) + 1
                continue
            if list(m) != ["rule", "id", "severity", "title", "event"]:
                die(f"output line {n}: keys {list(m)}")
            got.setdefault(m["rule"], set()).add(event_id(m["event"]))
    bad = []
    for rule in sorted(got):
        want = truth.get(rule, set())
        if got[rule] != want:
            extra, missing = sorted(got[rule] - want), sorted(want - got[rule])
            bad.append(f"{rule}: {len(extra)} unexpected (e.g. {extra[:3]}), {len(missing)} missed (e.g. {missing[:3]})")
    if bad:
        die("matches differ from the planted events:\n  " + "\n  ".join(bad))
    total = sum(len(v) for v in got.values())
    print(f"  verified: {total:,} matches are exactly the planted events of {sum(1 for v in got.values() if v)} rules",
          file=sys.stderr)
    if alerts:
        print("  correlation alerts (not verified): " + ", ".join(f"{r} {n}" for r, n in sorted(alerts.items())),
              file=sys.stderr)


def report(argv):
    recs = [json.loads(l) for l in open(argv[0], encoding="utf-8") if l.strip()]
    print_machine()
    print("| case | command | events | cores | runs | median (s) | min (s) | CPU (s) | events/s | events/s per core | matches | peak RSS (MB) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in recs:
        print(f"| {r['name']} | `{r['cmd']}` | {r['events']:,} | {r['cores']} | {r['runs']} | "
              f"{r['median_s']:.2f} | {r['min_s']:.2f} | {r['cpu_s']:.2f} | {r['events_per_s']:,.0f} | "
              f"{r['events_per_s_per_core']:,.0f} | {r['matches']:,} | {r['peak_rss_mb']:.1f} |")


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("measure", "verify", "report"):
        die(__doc__)
    {"measure": measure, "verify": verify, "report": report}[sys.argv[1]](sys.argv[2:])
