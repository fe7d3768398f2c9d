#!/usr/bin/env python3
"""Generated values: a seeded property generator of rules whose string values are drawn
from the characters most likely to break a query (quotes, backslashes, wildcards, pipes,
`=`, parentheses, backticks, `$`, `%`, newlines, tabs, non-ASCII letters and emoji), over
every operator, alone and combined with `and`/`or`/`not`.

Each rule `gNNNN` has a twin `gNNNN_twin`: the same rule with every value character that
cannot change how detc routes a value (everything but `*`, `?`, backticks, control
characters and non-ASCII cased letters) replaced by `x`. The SPL check compares the two token by token: a value that
broke out of its string would show as a difference.

    gen_values.py [--rules N] [--seed S] OUT.det
"""
import argparse
import random
import uuid

ALPHABET = ['"', "'", "\\", "*", "?", "|", "=", "(", ")", "`", "$", "%", "\n", "\t",
            "é", "ß", "Ж", "中", "🙂", "a", "B", " ", "[", "]", "{", "}", ";", ",", ".", "/", "-", "&", "#"]
STRING_FIELDS = ["process.name", "process.command_line", "process.executable",
                 "process.parent.name", "user.name", "host.name"]
OPS = ["==", "!=", "in", "not in", "contains", "startswith", "endswith", "like", "matches"]
REGEX_META = set(".^$*+?()[]{}|\\/-")


def value(rng):
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 8)))


def escaped(v, like):
    """`v` as a `"..."` literal. In a `like`, `*` and `?` stay wildcards half the time."""
    out = []
    for c in v:
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('\\"')
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c in "*?" and like and rng_flag(c, v):
            out.append("\\" + c)
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def rng_flag(c, v):
    # Deterministic per value: escape the wildcard when the value's length is odd.
    return len(v) % 2 == 1


def regex_literal(v):
    """A `matches` pattern that reads `v` literally (portable subset: escaped punctuation)."""
    out = []
    for c in v:
        if c in REGEX_META:
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        else:
            out.append(c)
    return '"' + "".join(o.replace("\\", "\\\\").replace('"', '\\"') for o in out) + '"'


def atom(rng, twin):
    field = rng.choice(STRING_FIELDS)
    op = rng.choice(OPS)
    cased = " cased" if op not in ("in", "not in") and rng.random() < 0.3 else ""
    values = [value(rng) for _ in range(rng.randint(1, 3))]
    if twin:
        values = [twin_of(v) for v in values]
    if op in ("in", "not in") or (op in ("contains", "startswith", "endswith") and len(values) > 1):
        lit = "[" + ", ".join(escaped(v, False) for v in values) + "]"
    elif op == "matches":
        lit = regex_literal(values[0])
    else:
        lit = escaped(values[0], op == "like")
    return f"{field} {op}{cased} {lit}"


def twin_of(v):
    """Keep what routes a value (wildcards, backticks, controls, non-ASCII cased letters)."""
    def harmless(c):
        if c in "*?`\n\t":
            return c
        if not c.isascii() and (c.lower() != c or c.upper() != c):
            return "é"
        return "x"
    return "".join(harmless(c) for c in v)


def condition(rng, twin, depth=0):
    roll = rng.random()
    if depth < 2 and roll < 0.25:
        a, b = condition(rng, twin, depth + 1), condition(rng, twin, depth + 1)
        return f"({a} {rng.choice(['and', 'or'])} {b})"
    if depth < 2 and roll < 0.35:
        return f"not ({condition(rng, twin, depth + 1)})"
    return atom(rng, twin)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rules", type=int, default=300)
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("out")
    args = ap.parse_args()
    ids = random.Random(args.seed ^ 0x5EED)
    text = []
    for i in range(args.rules):
        for twin in (False, True):
            # The twin replays the same random choices, so only the values differ.
            rng = random.Random(args.seed * 100003 + i)
            name = f"g{i:04}" + ("_twin" if twin else "")
            text.append(
                f'rule {name} "generated values {i}" {{\n'
                f'  id = "{uuid.UUID(int=ids.getrandbits(128), version=4)}"\n'
                f"  severity = low\n"
                f"  from process_start\n"
                f"  where {condition(rng, twin)}\n"
                f"}}\n"
            )
    with open(args.out, "w", encoding="utf-8") as fh:
        fh.write("\n".join(text))


if __name__ == "__main__":
    main()
