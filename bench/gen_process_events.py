#!/usr/bin/env python3
"""Twin process-creation events for detc against a Sigma evaluator (bench/peer.sh).

Writes the same events twice, with the same values: in Sysmon's field names (what a Sigma
evaluator reads with no pipeline) and in the ECS names detc's Sigma mapping gives them
(targets/sigma.yaml, `category: process_creation`, `product: windows`: the EDR source
`process_start` and its Sysmon fallback `sysmon_process_creation`, so both routes hold).

A share of the events (`--planted`, default 0.3) is built from a random rule of `--rules`
so that it meets the rule's selections (not its filters): exact values (wildcards filled
in), `contains` (`|all` too), `startswith`, `endswith` and `windash` tests are written into
the field;
other modifiers (`re`, `fieldref`, ...) are left to chance. The rest are ordinary process
starts. Same seed, same files.

    gen_process_events.py --rules DIR --events N --seed S --sysmon OUT --ecs OUT

Needs python3 and PyYAML (bench/peer.sh installs it into bench/.deps).
"""

import argparse
import json
import os
import random

import yaml

# Sysmon 1 field -> the ECS fields detc reads it from (EDR source, then Sysmon fallback).
ECS = {
    "Image": ["process.executable"],
    "CommandLine": ["process.command_line"],
    "ParentImage": ["process.parent.executable"],
    "ParentCommandLine": ["process.parent.command_line"],
    "OriginalFileName": ["process.pe.original_file_name"],
    "Product": ["process.pe.product"],
    "Company": ["process.pe.company"],
    "Description": ["process.pe.description"],
    "FileVersion": ["process.pe.file_version"],
    "IntegrityLevel": ["process.integrity_level", "winlog.event_data.IntegrityLevel"],
    "User": ["user.name", "winlog.event_data.User"],
    "ParentUser": ["winlog.event_data.ParentUser"],
    "CurrentDirectory": ["process.working_directory"],
    "LogonId": ["winlog.event_data.LogonId"],
    "Computer": ["host.name"],
}
HASHES = {"SHA1": "process.hash.sha1", "MD5": "process.hash.md5",
          "SHA256": "process.hash.sha256", "IMPHASH": "process.pe.imphash"}
HASH_LEN = {"SHA1": 40, "MD5": 32, "SHA256": 64, "IMPHASH": 32}

EXES = ["svchost.exe", "explorer.exe", "chrome.exe", "msedge.exe", "teams.exe", "outlook.exe",
        "winword.exe", "excel.exe", "code.exe", "python.exe", "git.exe", "notepad.exe",
        "conhost.exe", "taskhostw.exe", "onedrive.exe", "slack.exe", "zoom.exe"]
DIRS = ["C:\\Windows\\System32\\", "C:\\Program Files\\", "C:\\Program Files (x86)\\",
        "C:\\Users\\alice\\AppData\\Local\\", "C:\\Windows\\"]
WORDS = ["update", "sync", "--profile", "default", "/q", "-n", "service", "report", "data",
         "C:\\Users\\bob\\Documents\\q3.xlsx", "https://intranet.example.com/", "--type=renderer"]
USERS = ["CORP\\alice", "CORP\\bob", "CORP\\carol", "NT AUTHORITY\\SYSTEM", "CORP\\svc_backup"]
LEVELS = ["Low", "Medium", "High", "System"]
COMPANIES = ["Microsoft Corporation", "Google LLC", "Zoom Video Communications, Inc.", "Slack"]


def rules(folder):
    """Each rule's detection selections (filters left out), as lists of alternatives."""
    out = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith((".yml", ".yaml")):
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            try:
                doc = yaml.safe_load(f)
            except yaml.YAMLError:
                continue
        det = (doc or {}).get("detection") or {}
        sels = []
        for key, sel in det.items():
            if key in ("condition", "timeframe") or key.startswith("filter"):
                continue
            alts = sel if isinstance(sel, list) else [sel]
            alts = [a for a in alts if isinstance(a, dict)]
            if alts:
                sels.append(alts)
        if sels:
            out.append(sels)
    return out


def wild(rng, v):
    """A value for a Sigma pattern: `*` a short word, `?` one letter."""
    return "".join(rng.choice(["x", "tmp"]) if c == "*" else "a" if c == "?" else c for c in v)


def plant(rng, sels):
    """Field -> value meeting one alternative of every selection."""
    parts = {}
    for alts in sels:
        for key, val in rng.choice(alts).items():
            field, *mods = key.split("|")
            mods = [m for m in mods if m not in ("windash", "cased")]
            vals = val if isinstance(val, list) else [val]
            if mods and mods[0] not in ("all", "contains", "startswith", "endswith"):
                continue
            vals = [wild(rng, str(v)) for v in vals if v is not None]
            if not vals:
                continue
            p = parts.setdefault(field, {"start": "", "mid": [], "end": "", "exact": None})
            chosen = vals if "all" in mods else [rng.choice(vals)]
            kind = mods[0] if mods else "exact"
            if kind == "exact":
                p["exact"] = chosen[0]
            elif kind == "startswith":
                p["start"] = chosen[0]
            elif kind == "endswith":
                p["end"] = chosen[0]
            else:
                p["mid"] += chosen
    out = {}
    for field, p in parts.items():
        if p["exact"] is not None:
            out[field] = p["exact"]
        else:
            head = [p["start"] or rng.choice(DIRS).rstrip("\\"), *p["mid"]]
            tail = p["end"] or " " + rng.choice(WORDS)
            out[field] = " ".join(x for x in head if x) + tail
    return out


def ordinary(rng):
    exe, parent = rng.choice(EXES), rng.choice(EXES)
    image = rng.choice(DIRS) + exe
    return {
        "Image": image,
        "CommandLine": f'"{image}" ' + " ".join(rng.sample(WORDS, 2)),
        "ParentImage": rng.choice(DIRS) + parent,
        "ParentCommandLine": parent,
        "OriginalFileName": exe.upper() if rng.random() < 0.1 else exe,
        "Product": rng.choice(COMPANIES) + " product",
        "Company": rng.choice(COMPANIES),
        "Description": exe.split(".")[0].title(),
        "FileVersion": f"{rng.randint(1, 20)}.0.{rng.randint(0, 9999)}",
        "IntegrityLevel": rng.choice(LEVELS),
        "User": rng.choice(USERS),
        "ParentUser": rng.choice(USERS),
        "CurrentDirectory": rng.choice(DIRS),
        "LogonId": hex(rng.randint(0x1000, 0xFFFFFF)),
        "Computer": f"ws-{rng.randint(1, 500):03d}.corp.example.com",
    }


def hashes(rng, planted):
    """Sysmon's Hashes string and each algorithm's value (a planted `ALG=hex` kept)."""
    values = {alg: "".join(rng.choice("0123456789abcdef") for _ in range(n))
              for alg, n in HASH_LEN.items()}
    for chunk in planted.split(",") if planted else []:
        alg, _, hexa = chunk.strip().partition("=")
        if alg.upper() in values and len(hexa) == HASH_LEN[alg.upper()]:
            values[alg.upper()] = hexa.lower()
    return ",".join(f"{a}={v.upper()}" for a, v in values.items()), values


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", required=True)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=20261207)
    ap.add_argument("--planted", type=float, default=0.3)
    ap.add_argument("--sysmon", required=True)
    ap.add_argument("--ecs", required=True)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    pool = rules(args.rules)
    t0 = 1_796_000_000_000
    with open(args.sysmon, "w", encoding="utf-8") as sysmon, \
            open(args.ecs, "w", encoding="utf-8") as ecs:
        for i in range(args.events):
            ev = ordinary(rng)
            if pool and rng.random() < args.planted:
                ev.update(plant(rng, rng.choice(pool)))
            ev = {k: v for k, v in ev.items() if k in ECS or k == "Hashes"}
            text, algs = hashes(rng, str(ev.pop("Hashes", "")))
            s = {"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", **ev,
                 "Hashes": text}
            e = {"@timestamp": t0 + i, "event": {"category": ["process"], "type": ["start"],
                                                 "code": "1"}}
            for field, value in ev.items():
                for name in ECS[field]:
                    e[name] = value
            for alg, name in HASHES.items():
                e[name] = algs[alg]
            sysmon.write(json.dumps(s) + "\n")
            ecs.write(json.dumps(e) + "\n")


if __name__ == "__main__":
    main()
