#!/usr/bin/env bash
# detc benchmark: see BENCHMARKS.md.
#
#   bench/run.sh                 # everything; prints Markdown tables on stdout
#   bench/run.sh --only rules    # check and compile only (about 3 minutes on 2 cores)
#   bench/run.sh --only hunt     # detc hunt only (bench/hunt.sh; about 4 minutes)
#   bench/run.sh --only scaling  # check time against condition size (bench/scaling.py; 1 minute)
#
# Knobs (environment): RUNS_SMALL (default 20) timed runs per case on the shipped
# library, RUNS_LARGE (default 10) per case on the generated tree, GEN_RULES (5000),
# GEN_FOLDERS (100), GEN_SEED (20261126). Progress goes to stderr.
#
# Needs only bash, python3 (stdlib), GNU time (/usr/bin/time -v) and cargo.
set -euo pipefail

ONLY=""
case "${1:-}" in
    "") ;;
    --only) ONLY=${2:-}; [[ "$ONLY" =~ ^(rules|hunt|scaling)$ ]] || { echo "usage: $0 [--only rules|hunt|scaling]" >&2; exit 2; } ;;
    *) echo "usage: $0 [--only rules|hunt|scaling]" >&2; exit 2 ;;
esac

RUNS_SMALL=${RUNS_SMALL:-20}
RUNS_LARGE=${RUNS_LARGE:-10}
GEN_RULES=${GEN_RULES:-5000}
GEN_FOLDERS=${GEN_FOLDERS:-100}
GEN_SEED=${GEN_SEED:-20261126}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[[ -x /usr/bin/time ]] || die "GNU time not found at /usr/bin/time (Debian: apt-get install time)"
command -v python3 >/dev/null || die "python3 not found"
command -v cargo >/dev/null || die "cargo not found"

BENCH_LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || true)

if [[ "$ONLY" == hunt ]]; then
    exec "$BENCH/hunt.sh"
fi

# 1. Build ------------------------------------------------------------------------
say "building detc (cargo build --release --locked)"
(cd "$ROOT" && cargo build --release --locked >&2) || die "cargo build failed"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
[[ "$TARGET_DIR" = /* ]] || TARGET_DIR="$ROOT/$TARGET_DIR"
[[ -x "$TARGET_DIR/release/detc" ]] || die "no binary at $TARGET_DIR/release/detc"
# Put this build first on PATH so the commands (and the table) read `detc ...`.
export PATH="$TARGET_DIR/release:$PATH"
[[ "$(command -v detc)" = "$TARGET_DIR/release/detc" ]] || die "PATH lookup of detc failed"

if [[ "$ONLY" == scaling ]]; then
    exec python3 "$BENCH/scaling.py" --detc "$TARGET_DIR/release/detc"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/detc-bench.XXXXXX")
SHM=""
trap 'rm -rf "$TMP" ${SHM:+"$SHM"}' EXIT
# `compile --out` is timed twice: writing under $TMP (a disk file system, usually) and,
# when /dev/shm is a writable tmpfs, writing to RAM, which separates detc's own cost
# from the file system's cost of creating files.
if [[ -d /dev/shm && -w /dev/shm ]] && awk '$2 == "/dev/shm" && $3 == "tmpfs" {f=1} END {exit !f}' /proc/mounts; then
    SHM=$(mktemp -d /dev/shm/detc-bench.XXXXXX)
fi
TMP_FS=$(df -T "$TMP" | awk 'NR == 2 {print $2}')
export BENCH_TMP="$TMP"
RESULTS="$TMP/results.jsonl"
: > "$RESULTS"
measure() { python3 "$BENCH/harness.py" measure "$RESULTS" "$@"; }

# Count the rules a tree holds, and prove that every rule compiles for every target
# (compile --format json prints one entry per rule, target and language).
count_rules() { # DIR [PATH] -> number of rules
    local dir=$1; shift
    (cd "$dir" && detc compile "$@" --format json) | python3 -c '
import json, sys
q = json.load(sys.stdin)
rules = {e["rule"] for e in q}
if not rules:
    sys.exit("bench: no compiled queries")
print(len(rules))'
}

# 2-3. The shipped library (run from the repository: default path detections/) -------
say "shipped library: validating"
(cd "$ROOT" && detc check) 2>"$TMP/check.txt" || { cat "$TMP/check.txt" >&2; die "detc check on detections/ failed"; }
SHIPPED=$(count_rules "$ROOT") || die "detc compile --format json on detections/ failed"
say "shipped library: $SHIPPED rules"

measure "check, shipped library" "$SHIPPED" "$RUNS_SMALL" "$ROOT" -- detc check
measure "compile --format json, shipped library (all targets, stdout to /dev/null)" \
    "$SHIPPED" "$RUNS_SMALL" "$ROOT" -- detc compile --format json
measure "compile --out, shipped library (one file per query, to $TMP_FS)" \
    "$SHIPPED" "$RUNS_SMALL" "$ROOT" -- detc compile --out '{OUT}'
measure "package, shipped library (every target: Splunk app and .tgz, ARM, YAML, NDJSON, TOML)" \
    "$SHIPPED" "$RUNS_SMALL" "$ROOT" -- detc package --out '{OUT}'
if [[ -n "$SHM" ]]; then
    BENCH_OUT_ROOT="$SHM" measure "compile --out, shipped library (one file per query, to tmpfs)" \
        "$SHIPPED" "$RUNS_SMALL" "$ROOT" -- detc compile --out '{OUT}'
fi

# 4. A generated tree of GEN_RULES rules. detc runs with the temp dir as its working
# directory, so it never reads the shipped detections/ (its lists, names and ids).
# The tree is benchmarked in two layouts:
#   repo layout:  gen/detections/, run from gen/ -- what a user's repository looks like;
#                 detc also reads detections/ as context for lists and unique names/ids.
#   bare layout:  bare/rules/ (a copy), run from bare/ -- no detections/ in the working
#                 directory, so detc reads only the paths it is given (no context pass).
GEN="$TMP/gen"
BARE="$TMP/bare"
mkdir -p "$GEN" "$BARE"
say "generating $GEN_RULES rules in $GEN_FOLDERS folders (seed $GEN_SEED)"
python3 "$BENCH/gen_rules.py" "$ROOT/targets/schema.yaml" "$GEN/detections" \
    --rules "$GEN_RULES" --folders "$GEN_FOLDERS" --seed "$GEN_SEED" || die "generator failed"
cp -r "$GEN/detections" "$BARE/rules"

say "generated tree: validating (detc check must report no errors)"
validate_generated() { # WORKDIR PATH
    if ! (cd "$1" && detc check "$2") 2>"$TMP/gen-check.txt"; then
        grep -E 'error\[' "$TMP/gen-check.txt" | head -20 >&2 || true
        tail -1 "$TMP/gen-check.txt" >&2
        die "the generated tree does not check clean (in $1)"
    fi
    grep -q ' 0 errors' "$TMP/gen-check.txt" || { cat "$TMP/gen-check.txt" >&2; die "unexpected check summary"; }
    GENERATED=$(count_rules "$1" "$2") || die "the generated tree does not compile for every target"
    [[ "$GENERATED" -eq "$GEN_RULES" ]] || die "generated $GEN_RULES rules but detc compiled $GENERATED"
}
validate_generated "$BARE" rules
validate_generated "$GEN" detections
ONE=$(cd "$GEN" && find detections -name '*.det' -not -path '*/lists/*' | sort | sed -n 1p)
RUNS_OUT=$(( RUNS_LARGE < 5 ? RUNS_LARGE : 5 ))

measure "compile --format json, generated tree, repo layout (all targets, stdout to /dev/null)" \
    "$GENERATED" "$RUNS_LARGE" "$GEN" -- detc compile detections --format json
measure "check, generated tree, repo layout" \
    "$GENERATED" "$RUNS_LARGE" "$GEN" -- detc check detections
measure "check one changed file, generated tree, repo layout (reads the whole tree as context)" \
    "$GENERATED" "$RUNS_LARGE" "$GEN" -- detc check "$ONE"
measure "compile --format json, generated tree, bare layout (all targets, stdout to /dev/null)" \
    "$GENERATED" "$RUNS_LARGE" "$BARE" -- detc compile rules --format json
measure "check, generated tree, bare layout" \
    "$GENERATED" "$RUNS_LARGE" "$BARE" -- detc check rules
measure "compile --out, generated tree, repo layout ($((GENERATED * 4)) files to $TMP_FS)" \
    "$GENERATED" "$RUNS_OUT" "$GEN" -- detc compile detections --out '{OUT}'
if [[ -n "$SHM" ]]; then
    BENCH_OUT_ROOT="$SHM" measure "compile --out, generated tree, repo layout ($((GENERATED * 4)) files to tmpfs)" \
        "$GENERATED" "$RUNS_OUT" "$GEN" -- detc compile detections --out '{OUT}'
fi

# 5. Report ------------------------------------------------------------------------
say "done"
export BENCH_LOAD_START BENCH_LOAD_END
BENCH_LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || true)
(cd "$ROOT" && python3 "$BENCH/harness.py" report "$RESULTS") | sed "s|$TMP/[^ \`]*|<tmp>|g; s|{OUT}|<tmp>|g"

# 6. detc hunt over generated events (bench/hunt.sh, with the binary built above) -------
if [[ "$ONLY" != rules ]]; then
    echo
    HUNT_NO_BUILD=1 "$BENCH/hunt.sh" || die "bench/hunt.sh failed"
fi

# 7. Scaling with the size of one condition (bench/scaling.py) ---------------------------
if [[ "$ONLY" != rules ]]; then
    echo
    python3 "$BENCH/scaling.py" --detc "$TARGET_DIR/release/detc" || die "bench/scaling.py failed"
fi
