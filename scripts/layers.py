#!/usr/bin/env python3
"""The library's module import graph: every `crate::` (and `super::`) edge between the
modules of src/, checked against the layers of ARCHITECTURE.md: an edge may run to the
same layer or down, never up, and no modules may form a cycle. CI runs it (.ci/run).

    scripts/layers.py            # check: exit 1 on a cycle, an upward edge or a module
                                 # missing from LAYERS, each printed with its line
    scripts/layers.py --edges    # every edge `from -> to` (with the first line that makes it)

A module is a top-level file or folder of src/ (`syntax`, `targets`, `deploy`, ...). The
binary (main.rs, cli/) is above every layer and imports the library as `detc::`, so it is
not part of this graph. Test modules (`#[cfg(test)] mod tests`) may build fixtures with
any layer and are not read.
Needs only python3 (stdlib).
"""

import argparse
import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
PATH = re.compile(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
GROUP = re.compile(r"\b(crate|super)::\{([^}]*)\}")


# Bottom to top (ARCHITECTURE.md draws the same table).
LAYERS = [
    ["base"],
    ["syntax", "pattern", "attack"],
    ["ir"],
    ["schema"],
    ["check", "sigma", "eval", "lower"],
    ["render", "deploy"],
    ["targets"],
    ["project"],
    ["testing", "hunt", "catalog", "import"],
]
BINARY = ("main.rs", "cli")


def module_of(path: str) -> str:
    rel = os.path.relpath(path, SRC)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return rel[0] if rel else "crate"


def modules() -> dict[str, list[str]]:
    """Module name -> its files."""
    out: dict[str, list[str]] = {}
    for root, _, files in os.walk(SRC):
        for f in sorted(files):
            if f.endswith(".rs"):
                path = os.path.join(root, f)
                if os.path.relpath(path, SRC).split(os.sep)[0] in BINARY:
                    continue
                out.setdefault(module_of(path), []).append(path)
    return out


def resolve(mod: str, kind: str, names: list[str], known: set[str]) -> str | None:
    """The known module a `crate::a::b` or `super::a` path names."""
    base = [] if kind == "crate" else mod.split("::")[:-1]
    parts = base + names
    return parts[0] if parts and parts[0] in known else None


def edges() -> dict[tuple[str, str], str]:
    mods = modules()
    known = set(mods)
    out: dict[tuple[str, str], str] = {}
    for mod, files in mods.items():
        for path in files:
            lines = open(path, encoding="utf-8").read().split("\n")
            for n, line in enumerate(lines, 1):
                if line.startswith("#[cfg(test)]") and lines[n:n + 1] == ["mod tests {"]:
                    break
                code = line.split("//", 1)[0]
                found = [(k, p.strip(":").split("::")) for k, p in PATH.findall(code)]
                for kind, group in GROUP.findall(code):
                    for item in group.split(","):
                        head = item.strip().split("::")[0].split(" as ")[0].strip()
                        if head and head != "self":
                            found.append((kind, [head]))
                for kind, names in found:
                    to = resolve(mod, kind, names, known)
                    if to and to != mod:
                        where = f"{os.path.relpath(path, os.path.dirname(SRC))}:{n}"
                        out.setdefault((mod, to), where)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out, key=len, reverse=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edges", action="store_true", help="print every edge")
    args = ap.parse_args()
    e = edges()
    if args.edges:
        for (a, b), where in sorted(e.items()):
            print(f"{a} -> {b}  ({where})")
        return 0
    graph: dict[str, set[str]] = {}
    for a, b in e:
        graph.setdefault(a, set()).add(b)
    found = cycles(graph)
    for comp in found:
        print(f"cycle of {len(comp)} modules: {', '.join(comp)}")
        members = set(comp)
        for (a, b), where in sorted(e.items()):
            if a in members and b in members:
                print(f"    {a} -> {b}  ({where})")
    layer = {m: i for i, names in enumerate(LAYERS) for m in names}
    known = {m for pair in e for m in pair} | set(modules())
    missing = sorted(known - set(layer) - {"crate"})
    for m in missing:
        print(f"module `{m}` is in no layer: add it to LAYERS and ARCHITECTURE.md")
    upward = [
        (a, b, where)
        for (a, b), where in sorted(e.items())
        if a in layer and b in layer and layer[b] > layer[a]
    ]
    for a, b, where in upward:
        print(f"upward edge {a} (layer {layer[a]}) -> {b} (layer {layer[b]})  ({where})")
    print(f"{len(e)} edges, {len(found)} cycles, {len(upward)} upward edges")
    return 1 if found or upward or missing else 0


if __name__ == "__main__":
    sys.exit(main())
