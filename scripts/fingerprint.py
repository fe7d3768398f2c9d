#!/usr/bin/env python3
"""Fingerprints of everything detc emits, to prove a refactoring changes none of it.

Prints one line per product: `<name> <sha256>`, for
- every target's compiled queries of the shipped library (`compile --format json`),
- every target's package files of the library (`package`: each file's path and bytes),
- the diagnostics of every `.det` fixture and of the mutation-fuzz Sigma seeds (`check`),
- with `--sigma DIR` (e.g. ../shared/sigma), the SigmaHQ corpus compiled per target
  (`compile --keep-going --format json`), queries and refusals apart.

    scripts/fingerprint.py --detc target/release/detc [--sigma ../shared/sigma] > before.txt
    ... refactor, rebuild ...
    scripts/fingerprint.py --detc target/release/detc [--sigma ../shared/sigma] | diff before.txt -

Needs only python3 (stdlib).
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

TARGETS = ["splunk", "sentinel", "elastic"]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run(args: list[str], cwd: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True)


def compiled(detc: str, repo: str, paths: list[str], target: str) -> tuple[bytes, bytes]:
    p = run([detc, "compile", *paths, "--target", target, "--keep-going", "--format", "json"], repo)
    return p.stdout, p.stderr


def package(detc: str, repo: str, target: str) -> str:
    with tempfile.TemporaryDirectory(prefix="detc-fp.") as out:
        p = run([detc, "package", "--target", target, "--out", out], repo)
        if p.returncode != 0:
            sys.exit(f"fingerprint: package --target {target} failed:\n{p.stderr.decode()}")
        h = hashlib.sha256()
        for root, _, files in sorted(os.walk(out)):
            for f in sorted(files):
                path = os.path.join(root, f)
                h.update(os.path.relpath(path, out).encode() + b"\0")
                with open(path, "rb") as fh:
                    h.update(sha(fh.read()).encode())
        return h.hexdigest()


def files_under(root: str, ends: tuple[str, ...]) -> list[str]:
    out = []
    for d, _, files in os.walk(root):
        out += [os.path.join(d, f) for f in files if f.endswith(ends)]
    return sorted(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--detc", required=True)
    ap.add_argument("--repo", default=os.path.join(os.path.dirname(__file__), ".."))
    ap.add_argument("--sigma", help="a Sigma rule tree (the SigmaHQ corpus)")
    args = ap.parse_args()
    detc, repo = os.path.abspath(args.detc), os.path.abspath(args.repo)

    for t in TARGETS:
        out, err = compiled(detc, repo, ["detections"], t)
        json.loads(out)  # a broken build must not fingerprint as "something"
        print(f"library.compile.{t} {sha(out)}")
        print(f"library.package.{t} {package(detc, repo, t)}")

    checks = hashlib.sha256()
    inputs = files_under(os.path.join(repo, "tests"), (".det", ".yml"))
    for path in inputs:
        p = run([detc, "check", os.path.relpath(path, repo)], repo)
        checks.update(os.path.relpath(path, repo).encode() + b"\0")
        checks.update(str(p.returncode).encode() + p.stdout + p.stderr)
    print(f"tests.check ({len(inputs)} files) {checks.hexdigest()}")

    if args.sigma:
        rules = [
            os.path.join(args.sigma, d)
            for d in sorted(os.listdir(args.sigma))
            if d.startswith("rules") and os.path.isdir(os.path.join(args.sigma, d))
        ]
        for t in TARGETS:
            out, err = compiled(detc, repo, rules, t)
            print(f"sigma.compile.{t} {sha(out)}")
            print(f"sigma.refusals.{t} {sha(err)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
