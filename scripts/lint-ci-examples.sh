#!/usr/bin/env bash
# The CI and release examples (examples/ci/, examples/release/) against the vendors' schemas, as check-jsonschema ships
# them from SchemaStore (GitHub workflows, GitLab CI), and without YAML anchors or aliases,
# which actionlint and older GitHub Enterprise Servers reject. actionlint itself cannot be
# installed here: its PyPI package downloads the binary from GitHub at install time, and
# building it needs a Go toolchain and Go's module proxy.
# Installs the pinned validator into target/ci-lint-venv once.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/ci-lint-venv
if [[ ! -x $venv/bin/check-jsonschema ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    check-jsonschema==0.39.0 PyYAML==6.0.4
fi
"$venv/bin/check-jsonschema" --builtin-schema vendor.github-workflows \
  examples/ci/github-actions.yml examples/release/github-release.yml
"$venv/bin/check-jsonschema" --builtin-schema vendor.gitlab-ci examples/ci/gitlab-ci.yml
"$venv/bin/python" - examples/ci/*.yml examples/release/*.yml <<'EOF'
import sys

import yaml

bad = []
for path in sys.argv[1:]:
    with open(path) as f:
        for event in yaml.parse(f):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                bad.append(f"{path}:{event.start_mark.line + 1}: a YAML anchor or alias")
print("\n".join(bad) or "ok -- no YAML anchors or aliases")
sys.exit(1 if bad else 0)
EOF
