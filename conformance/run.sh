#!/usr/bin/env bash
# The conformance suite: every query detc compiles (the shipped library, the operator
# table, a few hundred generated rules with hostile values, and the SigmaHQ corpus)
# checked by the vendors' own parsers: Kusto.Language for KQL, Elastic's `eql` and ES|QL
# grammar, and a Splunk search-language tokenizer for SPL. Then real engines run the library's compiled EQL
# (`eql`) and KQL (DuckDB-KQL) over every `detc test` event, and over the events of every
# correlation case (EQL sequences; KQL summarize, joins, first seen), and must agree with detc.
# Then the deployable packages of `detc package` are checked file by file (packages.py), the
# Splunk app by Splunk AppInspect. Then the mappings against the vendors' own schemas and
# sample events (vendor_<target>.py). Last, the random differential test (differential.py):
# generated rules and events through detc hunt, DuckDB-KQL and the eql engine, 2 minutes.
# Installs what it needs (pip, npm) into conformance/.deps, which git ignores, and reuses
# it while the pins are unchanged.
#
#   conformance/run.sh [--rules N] [--seed S]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
deps="$here/.deps"
rules=300
seed=20261126
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rules) rules="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    *) echo "usage: conformance/run.sh [--rules N] [--seed S]" >&2; exit 2 ;;
  esac
done

# 1. Dependencies, reinstalled only when a pin changes.
stamp="$(cat "$here/requirements.txt" "$here/requirements-kql.txt" "$here/package-lock.json" | sha256sum | cut -d' ' -f1)"
if [[ "$(cat "$deps/stamp" 2>/dev/null)" != "$stamp" ]]; then
  echo "conformance: installing parsers into $deps" >&2
  rm -rf "$deps"
  mkdir -p "$deps/node"
  python3 -m venv "$deps/venv"
  "$deps/venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  python3 -m venv "$deps/kql-venv"
  "$deps/kql-venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements-kql.txt"
  cp "$here/package.json" "$here/package-lock.json" "$deps/node/"
  (cd "$deps/node" && npm ci --silent --no-audit --no-fund)
  echo "$stamp" > "$deps/stamp"
fi

# 2. The queries, from the real command line.
work="$deps/work"
rm -rf "$work" && mkdir -p "$work/generated"
cargo build --quiet --release --locked --manifest-path "$repo/Cargo.toml"
detc="$repo/target/release/detc"
(cd "$repo" && "$detc" compile --format json) > "$work/library.json"
(cd "$repo" && "$detc" compile tests/fixtures/operators.det --format json) > "$work/operators.json"
"$deps/venv/bin/python" "$here/gen_values.py" --rules "$rules" --seed "$seed" "$work/generated/rules.det"
(cd "$work/generated" && "$detc" compile rules.det --format json) > "$work/generated.json"
# The library's test cases with detc's verdicts; a failing case fails the suite here.
if ! (cd "$repo" && "$detc" test --format json) > "$work/cases.json"; then
  echo "conformance: detc test has failing cases:" >&2
  (cd "$repo" && "$detc" test) >&2 || true
  exit 1
fi
cases=(--cases "$work/cases.json" --case-queries "$work/library.json")

# 3. The checks can fail: known-bad queries (selftest.json) must all be rejected, and with
#    every detc verdict flipped, every case an engine judges must be reported.
"$deps/venv/bin/python" "$here/check.py" --repo "$repo" --work "$work" --expect-rejections \
  "${cases[@]}" selftest="$here/selftest.json"

# The SigmaHQ corpus (when present: SIGMA_CORPUS, else ../shared/sigma beside the repository,
# else /work/shared/sigma): every query detc compiles from it. `--keep-going` writes what
# compiles; the rules a target refuses are the import report's business (BENCHMARKS.md).
sigma_corpus="${SIGMA_CORPUS:-}"
for c in "$repo/../shared/sigma" /work/shared/sigma; do
  [[ -z "$sigma_corpus" && -d "$c/rules" ]] && sigma_corpus="$c"
done
sigma=()
if [[ -n "$sigma_corpus" ]]; then
  (cd "$sigma_corpus" && "$detc" compile rules rules-emerging-threats rules-threat-hunting \
    rules-compliance rules-dfir --format json --keep-going 2> /dev/null) > "$work/sigma.json" || true
  sigma=(sigma="$work/sigma.json")
else
  echo "conformance: no Sigma corpus found (set SIGMA_CORPUS); its queries are not checked" >&2
fi

# 4. One run of each parser over all queries of its language, then the engines over the cases.
"$deps/venv/bin/python" "$here/check.py" --repo "$repo" --work "$work" "${cases[@]}" \
  library="$work/library.json" operators="$work/operators.json" generated="$work/generated.json" \
  "${sigma[@]}"

# 5. The deployable packages. First known-bad package files (package_selftest/) must all be
#    rejected; then every file `detc package` renders must pass: the Splunk app through Splunk
#    AppInspect with no failure, each query the one `detc compile` gave.
"$deps/venv/bin/python" "$here/packages.py" --dist "$here/package_selftest" --expect-rejections \
  --compiled "$work/library.json"
lock_before="$(cat "$repo/detc.lock.json" 2>/dev/null || true)"
(cd "$repo" && "$detc" package --out "$work/dist")
# The committed versions lock is the one this package has (docs/PACKAGING.md, Versions).
if [[ "$(cat "$repo/detc.lock.json")" != "$lock_before" ]]; then
  echo "conformance: detc.lock.json was stale (a rule's deployed content changed): commit the updated one" >&2
  exit 1
fi
"$deps/venv/bin/python" "$here/packages.py" --dist "$work/dist" --compiled "$work/library.json" \
  --queries-out "$work/packaged.json"
# Kibana's import lines against Kibana's own published OpenAPI schema (its self-test first).
"$deps/venv/bin/python" "$here/check_kibana.py" --expect-rejections "$here/package_selftest/kibana_import_bad.ndjson" > /dev/null
"$deps/venv/bin/python" "$here/check_kibana.py" --strict-unknown "$work/dist/elastic/rules.ndjson" | tail -1
# The packaged KQL (with the `extend` a single-event rule's alert columns add) through Kusto.Language.
"$deps/venv/bin/python" "$here/check.py" --repo "$repo" --work "$work" packaged="$work/packaged.json"

# 6. Vendor truth (docs/CONFORMANCE.md): every table, column, field, tag, sourcetype and
#    filter value the shipped mappings name, checked against the vendors' published schemas
#    and sample events in conformance/vendor/ (each checker first rejects its known-bad
#    entries); each library source's selection must select the vendor's own sample events.
for t in sentinel elastic splunk; do
  "$deps/venv/bin/python" "$here/vendor_$t.py" --repo "$repo" --detc "$detc" --work "$work" --selftest
  "$deps/venv/bin/python" "$here/vendor_$t.py" --repo "$repo" --detc "$detc" --work "$work"
done

# 7. The random differential test (docs/CONFORMANCE.md): generated rules of every form and
#    operator, and events built from their literals, judged by `detc hunt`, DuckDB-KQL and the
#    `eql` engine (with Elasticsearch's documented semantics); ES|QL must select the source as
#    EQL does. A fixed seed and the CI bound: batches for 2 minutes; any disagreement fails.
"$deps/venv/bin/python" "$here/differential.py" --repo "$repo" --detc "$detc" --seed 20261207 --minutes 2
