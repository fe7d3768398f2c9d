#!/usr/bin/env python3
"""Leave out of the peer benchmark the Sigma rules rsigma 0.23.0 reads against the Sigma
specification, so that both tools are timed on rules they agree on (bench/peer.sh):

- a `startswith`/`endswith` value with a `*` inside: the specification makes
  `endswith: 'password*.txt'` the pattern `*password*.txt`; rsigma matches it against the
  whole value (`password.txt` matches, `C:\\password1.txt` does not);
- a `windash` value holding `/`: the specification gives every permutation of `-` and `/`
  (and the dashes); rsigma does not turn `/format:` into `-format:`.

    peer_rules.py SIGMA_DIR DET_DIR      # removes those rules from both; prints why

Needs PyYAML (bench/peer.sh's venv).
"""

import os
import sys

import yaml


def peer_misreads(detection: dict) -> str | None:
    for key, sel in detection.items():
        if key in ("condition", "timeframe"):
            continue
        for alt in sel if isinstance(sel, list) else [sel]:
            if not isinstance(alt, dict):
                continue
            for field, values in alt.items():
                mods = field.split("|")[1:]
                vals = [str(v) for v in (values if isinstance(values, list) else [values])]
                if {"startswith", "endswith"} & set(mods) and any("*" in v for v in vals):
                    return f"`{field}` holds a wildcard inside a startswith/endswith value"
                if "windash" in mods and any("/" in v for v in vals):
                    return f"`{field}` is a windash value with `/`"
    return None


def main() -> int:
    sigma, det = sys.argv[1], sys.argv[2]
    left_out = 0
    for name in sorted(os.listdir(sigma)):
        path = os.path.join(sigma, name)
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f) or {}
        why = peer_misreads(doc.get("detection") or {})
        if why:
            os.remove(path)
            stem = os.path.splitext(name)[0]
            os.remove(os.path.join(det, stem + ".det"))
            print(f"peer: left out {stem}: {why}", file=sys.stderr)
            left_out += 1
    print(f"peer: {left_out} rules left out, {len(os.listdir(sigma))} kept", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
