#!/usr/bin/env bash
# detc against the reference Sigma converter (sigma-cli 3.1.0 on pySigma 1.5.1 with its
# Splunk 2.1.0, Kusto 1.0.1 and Elasticsearch 2.1.1 backends) on the SigmaHQ corpus:
# the same folders, converted to Splunk, KQL, EQL and ES|QL, each tool as a whole process,
# timed over RUNS runs (median). Prints a Markdown table for BENCHMARKS.md.
#
#   bench/sigma.sh [CORPUS]     (default ../shared/sigma; RUNS=3)
#
# The reference installs into bench/.deps/sigma-venv (git-ignored) from the pins in
# bench/sigma-requirements.txt. It runs through bench/sigma_reference.py (pySigma's API,
# one process, skipping what a backend refuses), because `sigma convert` stops at the first
# rule the kusto and esql backends refuse.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
corpus="$(cd "${1:-$repo/../shared/sigma}" && pwd)"
runs="${RUNS:-3}"
deps="$here/.deps"
folders=(rules rules-emerging-threats rules-threat-hunting rules-compliance rules-dfir)

stamp="$(sha256sum "$here/sigma-requirements.txt" | cut -d' ' -f1)"
if [[ "$(cat "$deps/sigma-stamp" 2>/dev/null)" != "$stamp" ]]; then
  echo "bench: installing sigma-cli into $deps/sigma-venv" >&2
  rm -rf "$deps/sigma-venv" && mkdir -p "$deps"
  python3 -m venv "$deps/sigma-venv"
  "$deps/sigma-venv/bin/pip" install --quiet --disable-pip-version-check \
    -r "$here/sigma-requirements.txt"
  echo "$stamp" > "$deps/sigma-stamp"
fi
cargo build --quiet --release --locked --manifest-path "$repo/Cargo.toml"
detc="$repo/target/release/detc"
python="$deps/sigma-venv/bin/python"

# median seconds of RUNS runs of a command (stdout discarded; stderr kept in $tmp/err)
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
median() {
  local times=()
  for _ in $(seq "$runs"); do
    local start end
    start=$(date +%s.%N)
    "$@" > /dev/null 2> "$tmp/err" || true
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc)")
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p"
}

cd "$corpus"
echo "| target | reference: converted / refused | reference (s) | detc (s) | detc faster |"
echo "| --- | ---: | ---: | ---: | ---: |"
declare -A t_detc
for target in splunk sentinel elastic; do
  # Convert, check, compile and print every rule for the target (for Elastic, EQL and
  # ES|QL together); the refused ones are reported (and detc exits 1).
  t_detc[$target]=$(median "$detc" compile "${folders[@]}" --target "$target" --format json --keep-going)
done
t_both=0
for pair in splunk:splunk kusto:sentinel eql:elastic esql:elastic; do
  ref="${pair%%:*}" target="${pair##*:}"
  t_ref=$(median "$python" "$here/sigma_reference.py" "$ref" "${folders[@]}")
  ref_counts=$(sed -n 's/.*converted \([0-9]*\), refused \([0-9]*\).*/\1 \/ \2/p' "$tmp/err")
  ratio=$(echo "scale=0; $t_ref / ${t_detc[$target]}" | bc)
  echo "| $ref ($target) | $ref_counts | $t_ref | ${t_detc[$target]} | ${ratio}x |"
  [[ "$target" == elastic ]] && t_both=$(echo "$t_both + $t_ref" | bc)
done
# detc's Elastic run gives both languages; the reference needs one run per backend.
ratio=$(echo "scale=0; $t_both / ${t_detc[elastic]}" | bc)
echo "| eql + esql (elastic) | | $t_both | ${t_detc[elastic]} | ${ratio}x |"
echo
echo "What detc compiles, per target (\`detc import sigma --report\`):"
echo
# (the report exits 1: some rules are refused)
{ "$detc" import sigma "${folders[@]}" --report 2>/dev/null || true; } | sed -n '/^| target/,/^$/p'
echo "Machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); detc $(git -C "$repo" rev-parse --short HEAD); corpus $corpus (${folders[*]})"
