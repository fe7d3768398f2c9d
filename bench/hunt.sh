#!/usr/bin/env bash
# detc hunt benchmark: see BENCHMARKS.md ("detc hunt").
#
#   bench/hunt.sh                # prints a Markdown table on stdout, progress on stderr
#
# Generates HUNT_EVENTS (default 1,000,000) NDJSON events with bench/gen_events.py (seed
# HUNT_SEED, default 20261126), checks that `detc hunt detections` finds exactly the
# planted events, then times it: on all cores, on one core (taskset), from gzip, from
# stdin, and over the file four times (to show that memory does not grow with the input).
# HUNT_RUNS (default 5) timed runs per case (3 for the slower cases). HUNT_NO_BUILD=1
# uses the detc already first on PATH (bench/run.sh sets this).
#
# Needs only bash, python3 (stdlib), GNU time (/usr/bin/time -v) and cargo; taskset
# (util-linux) for the one-core case, which is left out without it.
set -euo pipefail

HUNT_EVENTS=${HUNT_EVENTS:-1000000}
HUNT_RUNS=${HUNT_RUNS:-5}
HUNT_SEED=${HUNT_SEED:-20261126}
SLOW_RUNS=$(( HUNT_RUNS < 3 ? HUNT_RUNS : 3 ))

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[[ -x /usr/bin/time ]] || die "GNU time not found at /usr/bin/time (Debian: apt-get install time)"
command -v python3 >/dev/null || die "python3 not found"
BENCH_LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || true)

if [[ -z "${HUNT_NO_BUILD:-}" ]]; then
    command -v cargo >/dev/null || die "cargo not found"
    say "building detc (cargo build --release --locked)"
    (cd "$ROOT" && cargo build --release --locked >&2) || die "cargo build failed"
    TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
    [[ "$TARGET_DIR" = /* ]] || TARGET_DIR="$ROOT/$TARGET_DIR"
    export PATH="$TARGET_DIR/release:$PATH"
fi
command -v detc >/dev/null || die "no detc on PATH"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/detc-hunt.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
RESULTS="$TMP/results.jsonl"
: > "$RESULTS"
CORES=$(nproc)
measure() { python3 "$BENCH/hunt_harness.py" measure "$RESULTS" "$@"; }

# 1. Events ----------------------------------------------------------------------------
EVENTS="$TMP/events.ndjson"
say "generating $HUNT_EVENTS events (seed $HUNT_SEED)"
python3 "$BENCH/gen_events.py" "$EVENTS" --events "$HUNT_EVENTS" --seed "$HUNT_SEED" \
    --truth "$TMP/truth.json" || die "generator failed"
python3 -c 'import gzip, shutil, sys
with open(sys.argv[1], "rb") as i, gzip.open(sys.argv[2], "wb", compresslevel=6) as o:
    shutil.copyfileobj(i, o, 1 << 20)' "$EVENTS" "$EVENTS.gz" || die "gzip failed"
for _ in 1 2 3 4; do cat "$EVENTS"; done > "$TMP/events4.ndjson"
say "events: $(du -m "$EVENTS" | cut -f1) MB plain, $(du -m "$EVENTS.gz" | cut -f1) MB gzip"

# 2. Correctness at scale: exactly the planted events match ------------------------------
say "checking the matches against the planted events"
(cd "$ROOT" && detc hunt detections --events "$EVENTS" > "$TMP/matches.ndjson" 2> "$TMP/hunt.err") \
    || { tail -20 "$TMP/hunt.err" >&2; die "detc hunt failed"; }
python3 "$BENCH/hunt_harness.py" verify "$TMP/truth.json" "$TMP/matches.ndjson"
(cd "$ROOT" && detc hunt detections --events "$EVENTS.gz" 2>/dev/null | cmp -s - "$TMP/matches.ndjson") \
    || die "gzip input gives different matches"

# 3. Timing (from the repository, so `detections` is the shipped library) ---------------
measure "all cores" "$HUNT_EVENTS" "$CORES" "$HUNT_RUNS" "$ROOT" -- \
    detc hunt detections --events "$EVENTS"
if command -v taskset >/dev/null && taskset -c 0 true 2>/dev/null; then
    measure "one core (taskset -c 0)" "$HUNT_EVENTS" 1 "$SLOW_RUNS" "$ROOT" -- \
        taskset -c 0 detc hunt detections --events "$EVENTS"
else
    say "taskset not available: skipping the one-core case"
fi
measure "all cores, gzip input" "$HUNT_EVENTS" "$CORES" "$SLOW_RUNS" "$ROOT" -- \
    detc hunt detections --events "$EVENTS.gz"
measure "all cores, stdin" "$HUNT_EVENTS" "$CORES" "$SLOW_RUNS" "$ROOT" -- \
    sh -c 'exec detc hunt detections --events - < "$1"' sh "$EVENTS"
measure "all cores, 4x the events (memory stays flat)" "$((HUNT_EVENTS * 4))" "$CORES" 1 "$ROOT" -- \
    detc hunt detections --events "$TMP/events4.ndjson"

# 4. Report -----------------------------------------------------------------------------
say "done"
export BENCH_LOAD_START BENCH_LOAD_END
BENCH_LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || true)
(cd "$ROOT" && python3 "$BENCH/hunt_harness.py" report "$RESULTS") | sed "s|$TMP/|<tmp>/|g"
