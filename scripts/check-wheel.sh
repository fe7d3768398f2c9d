#!/usr/bin/env bash
# The wheel users install (`pip install detc`, pyproject.toml): build it with maturin,
# install it into a fresh virtualenv without any index, and run it; then install the
# pre-commit hooks of packaging/pre-commit from that wheel into a fresh pre-commit home
# and run them on a copy of detections/ (they must pass, and fail on a broken rule).
# Prints how long each install takes. Tools are pinned, installed into target/ once.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
tools=target/wheel-tools
# The wheel-based hooks are detc's own hooks but for how they install.
python3 - <<'EOF'
import re
def hooks(path):
    text = open(path).read()
    return re.sub(r"(?m)^  language: \w+\n", "", text[text.index("\n- id:") :])
if hooks(".pre-commit-hooks.yaml") != hooks("packaging/pre-commit/.pre-commit-hooks.yaml"):
    raise SystemExit("packaging/pre-commit/.pre-commit-hooks.yaml differs from .pre-commit-hooks.yaml")
EOF
if [[ ! -x $tools/bin/maturin || ! -x $tools/bin/pre-commit ]]; then
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check maturin==1.16.0 pre-commit==4.7.0
fi
rm -rf target/wheels
"$tools/bin/maturin" build --quiet --release --locked --out target/wheels >&2
wheel=$(ls target/wheels/detc-*.whl)
echo "wheel: $wheel ($(du -h "$wheel" | cut -f1))"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/detc-wheel.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
start=$(date +%s.%N)
"$tmp/venv/bin/pip" install --quiet --disable-pip-version-check --no-index \
  --find-links target/wheels detc
echo "pip install detc (from the wheel): $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s"
want="detc $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
got=$("$tmp/venv/bin/detc" --version)
[[ $got == "$want" ]] || { echo "the wheel's detc says '$got', not '$want'" >&2; exit 1; }
"$tmp/venv/bin/detc" check >/dev/null 2>&1 || { echo "the wheel's detc check fails" >&2; exit 1; }

# The hook repository, as it would be published, and a repository that uses it.
cp -r packaging/pre-commit "$tmp/hooks"
git -C "$tmp/hooks" init --quiet
git -C "$tmp/hooks" add -A
git -C "$tmp/hooks" -c user.email=ci@detc -c user.name=ci commit --quiet -m hooks
rev=$(git -C "$tmp/hooks" rev-parse HEAD)
mkdir "$tmp/rules"
cp -r detections "$tmp/rules/"
cat > "$tmp/rules/.pre-commit-config.yaml" <<EOF
repos:
  - repo: $tmp/hooks
    rev: $rev
    hooks:
      - id: detc-check
      - id: detc-test
      - id: detc-fmt
EOF
cd "$tmp/rules"
git init --quiet
git add -A
export PRE_COMMIT_HOME=$tmp/pre-commit-home PIP_FIND_LINKS=$repo/target/wheels
start=$(date +%s.%N)
"$repo/$tools/bin/pre-commit" run --all-files
echo "fresh pre-commit environment, installed and run: $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s"
# The first rule file, by glob: `ls | head -1` dies of SIGPIPE (with pipefail) once the
# listing outgrows one pipe write.
rules=(detections/*/*.det)
rule=${rules[0]}
printf 'rule broken "t" {\n  id = "x"\n}\n' >> "$rule"
if "$repo/$tools/bin/pre-commit" run detc-check --files "$rule" >/dev/null 2>&1; then
  echo "the detc-check hook passed a broken rule" >&2
  exit 1
fi
echo "ok -- the wheel installs and runs, and the pre-commit hooks install from it"
