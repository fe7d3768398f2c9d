#!/usr/bin/env python3
"""Random differential test: detc's evaluator against real engines on generated rules.

    differential.py [--seed S] [--minutes M] [--rules-per-batch N] [--events-per-rule N]
                    [--keep DIR] [--repo ROOT] [--kql-python PY] [--no-selftest]

From a seed it generates batches of random `.det` rules (single-event rules over the sources
that every target maps, with every operator of the language, comparisons of two fields of
one type among them, and aggregation, sequence (some of them absences) and first-seen rules) and, for each rule, random events built from the rule's own literals (so
tests hit as well as miss) and from awkward values (absent, null, "", whitespace, case
variants, numbers as strings, IPv4/IPv6 in and out of the networks). Each batch is one
`detc check`, one `detc compile --keep-going --format json` and one `detc hunt` (detc's
verdicts), then the compiled KQL runs on DuckDB-KQL (one kql_engine.py process per batch)
and the compiled EQL on Elastic's `eql` engine, both through engines.py, which follows
Elasticsearch's and Kusto's documented behaviour where the engines differ from them
(docs/CONFORMANCE.md, "Differential testing"). ES|QL and SPL have no engine: every ES|QL
query must select its source exactly as the EQL query and targets/elastic.yaml do.

Any disagreement fails the run (exit 1): each is shrunk (condition operands dropped, `not`
unwrapped, lists shortened; event fields dropped; correlation events dropped) while it
persists, and printed with the rule, the events, each engine's verdict and the compiled
queries. The run ends with the figures: rules generated and compiled per target, pairs
judged per engine, agreements, skips by reason, oracle adjustments by reason, time.

Batches are generated and judged until --minutes have passed (at least one batch). The
first batch is also judged with detc's verdicts flipped (the self-test): every pair an
engine judges must then be reported, or the run fails.
"""
import argparse
import collections
import ipaddress
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import engines  # noqa: E402
import vendor_sentinel  # noqa: E402

DEFAULT_SEED = 20261207
TARGETS = ("splunk", "sentinel", "elastic")
ID_FIELD = "detc_diff_id"      # an event's id in the hunt input (no source declares it)
BASE_MS = 1_767_225_600_000    # 2026-01-01T00:00:00Z: correlation slots start here
SLOT_MS = 20 * 86_400_000      # one correlation case per 20-day slot: state never spans two


# ================================================================ sources and fields

class Catalog:
    """The sources every target maps, and the fields of each that every target maps to a
    column of its own (no computed column, no family member, no field merged with another or
    with a source filter), with their schema types."""

    def __init__(self, repo):
        def load(*parts):
            with open(os.path.join(*parts), encoding="utf-8") as f:
                return yaml.safe_load(f)
        schema = load(repo, "targets", "schema.yaml")["sources"]
        el = load(repo, "targets", "elastic.yaml")["sources"]
        se = load(repo, "targets", "sentinel.yaml")["sources"]
        sp = load(repo, "targets", "splunk.yaml")["sources"]
        columns = vendor_sentinel.kusto_schema()  # Microsoft's table schemas
        self.fields = {}
        for source, spec in schema.items():
            if source not in el or source not in se or source not in sp:
                continue
            if se[source]["table"] not in columns:
                continue
            cols = columns[se[source]["table"]]
            good, seen = {}, {t: collections.Counter() for t in TARGETS}
            maps = {"splunk": sp[source], "sentinel": se[source], "elastic": el[source]}
            for field in spec["fields"]:
                if field.endswith(".*"):
                    continue
                for t in TARGETS:
                    name = (maps[t].get("fields") or {}).get(field)
                    if name:
                        seen[t][name] += 1
            for field, kind in spec["fields"].items():
                if field.endswith(".*") or kind not in ("string", "number", "ip", "boolean"):
                    continue
                names = {t: (maps[t].get("fields") or {}).get(field) for t in TARGETS}
                if not all(names.values()):
                    continue
                if any(seen[t][names[t]] > 1 for t in TARGETS):
                    continue  # merged with another field
                if names["sentinel"] in (se[source].get("extend") or {}):
                    continue
                if names["splunk"] in (sp[source].get("extend") or {}):
                    continue
                if names["elastic"] in (el[source].get("filter") or {}) or names["elastic"] == "event.category":
                    continue
                if names["sentinel"].split(".")[0] in (se[source].get("filter") or {}):
                    continue
                root = names["sentinel"].split(".")[0]
                if root not in cols:
                    continue
                column_kind = "dynamic" if "." in names["sentinel"] else cols[root]
                if kind == "number" and column_kind not in ("long", "int", "real", "double", "string", "dynamic"):
                    continue
                if kind == "boolean" and column_kind not in ("bool", "boolean", "dynamic", "string"):
                    continue
                good[field] = kind
            if len(good) >= 3:
                self.fields[source] = good
        self.sources = sorted(self.fields)
        # Weight sources with typed fields up, so numbers, IPs and booleans are common.
        self.weights = [1 + 2 * sum(k != "string" for k in self.fields[s].values()) for s in self.sources]
        # Sequence keys: string fields that several sources share.
        share = collections.defaultdict(list)
        for s, fs in self.fields.items():
            for f, k in fs.items():
                if k in ("string", "ip"):
                    share[f].append(s)
        self.keys = {f: sorted(ss) for f, ss in share.items() if len(ss) >= 2}

    def pick_source(self, rng, need=None):
        pool = [(s, w) for s, w in zip(self.sources, self.weights)
                if need is None or need(self.fields[s])]
        return rng.choices([s for s, _ in pool], weights=[w for _, w in pool])[0]


# ================================================================ values

FRAGMENTS = ["anydesk", "AnyDesk.exe", "svc_", "TeamViewer", "cmd", "Ab", "x", "Q", "rustdesk",
             "C:\\Users\\Public\\", "\\\\srv\\share", "élodie", "ÉLODIE", "straße", "STRASSE",
             "жук", "ЖУК", "Жук", "a b", "50%", "a.b", "a+b", "(x)", "[y]", "{z}", "p|q", "^c",
             "d$", "we*rd", "wh?t", 'say "hi"', "it's", "back\\slash", "tab\there", "@home",
             "#1", "a&b", "~t", "<x>", "=", "-", "/tmp/", "é", "ß", "Ж", "\\", '"', "*", "?",
             "01", "2024", "x\ny"]
FILLER = list("abcXYZ019 _.-\\/*?\"'éßЖ") + ["\t", "\n", "ÉÉ", "  "]
WHITESPACE = [" ", "  ", "\t", " \t "]
V4_NETS = ["10.0.0.0/8", "10.1.0.0/16", "192.168.1.0/24", "172.16.0.0/12", "203.0.113.0/24",
           "198.51.100.128/25", "1.2.3.4/32", "8.8.8.0/24", "100.64.0.0/10", "192.0.2.0/28"]
V6_NETS = ["2001:db8::/32", "2001:db8:abcd::/48", "fd00::/8", "fe80::/10", "2001:db8::1/128",
           "2001:db8:0:1::/64", "fc00::/7", "2a00:1450::/32"]


def rand_string(rng):
    parts = [rng.choice(FRAGMENTS) for _ in range(rng.choice([1, 1, 2, 2, 3]))]
    s = "".join(parts)
    if rng.random() < 0.2:
        s = rng.choice([s.upper(), s.lower(), s.swapcase(), s.title()])
    return s


def filler(rng, n=None):
    n = rng.randint(0, 3) if n is None else n
    return "".join(rng.choice(FILLER) for _ in range(n))


def case_variants(s):
    out = {s, s.upper(), s.lower(), s.swapcase()}
    return sorted(out)


def rand_ip(rng, v6=None):
    v6 = rng.random() < 0.4 if v6 is None else v6
    if v6:
        net = ipaddress.ip_network(rng.choice(V6_NETS + ["2001:db8:ffff::/48", "2600::/16"]))
    else:
        net = ipaddress.ip_network(rng.choice(V4_NETS + ["11.0.0.0/8", "93.184.216.0/24"]))
    return addr_in(rng, net)


def addr_in(rng, net):
    host = rng.randrange(net.num_addresses) if net.num_addresses > 1 else 0
    return net.network_address + host


def ip_text(rng, addr):
    """An address in one of its textual forms (IPv6: compressed, expanded, upper case)."""
    if addr.version == 6:
        return rng.choice([addr.compressed, addr.compressed, addr.exploded, addr.compressed.upper()])
    return str(addr)


def network_pool(rng, v4, v6):
    """Values for a network key (`ip_prefix(f, v4, v6)`): addresses in one IPv4 and one IPv6
    network in their spellings (IPv4 also IPv4-mapped, dotted or hex), an address of the
    neighbouring network (its last network bit flipped), a network and text that are no address."""
    out = []
    for v6_, bits in ((False, v4), (True, v6)):
        net = ipaddress.ip_network(f"{rand_ip(rng, v6=v6_)}/{bits}", strict=False)
        addrs = [addr_in(rng, net) for _ in range(3)]
        if bits:
            flipped = int(net.network_address) ^ (1 << (net.max_prefixlen - bits))
            addrs.append(ipaddress.ip_address(flipped) if v6_ else ipaddress.IPv4Address(flipped))
        for a in addrs:
            if a.version == 4:
                out.append(rng.choice([str(a), str(a), f"::ffff:{a}", "::FFFF:%X:%X" % (int(a) >> 16, int(a) & 0xffff)]))
            else:
                out.append(ip_text(rng, a))
    return out + [rng.choice(["10.0.0.0/8", "2001:db8::/64", "not an address"])]


def addr_outside(rng, nets):
    for _ in range(20):
        a = rand_ip(rng)
        if not any(a.version == n.version and a in n for n in nets):
            return a
    return ipaddress.ip_address("203.0.114.9")


# ================================================================ literals

def dq(s):
    out = []
    for c in s:
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('\\"')
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif ord(c) < 0x20:
            out.append("\\u{%x}" % ord(c))
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def sq_ok(s):
    return all(ord(c) >= 0x20 for c in s)


def sq(s):
    return "'" + s.replace("'", "''") + "'"


def str_lit(s, form):
    return sq(s) if form == "sq" and sq_ok(s) else dq(s)


# like patterns: tokens ("c", ch) | ("*",) | ("?",)

def like_dq(tokens):
    out = []
    for t in tokens:
        if t[0] != "c":
            out.append(t[0])
        elif t[1] in "*?":
            out.append("\\" + t[1])
        else:
            out.append(dq(t[1])[1:-1])
    return '"' + "".join(out) + '"'


def like_sq_ok(tokens):
    return all(t[0] != "c" or (t[1] not in "*?" and ord(t[1]) >= 0x20) for t in tokens)


def like_sq(tokens):
    return "'" + "".join(t[0] if t[0] != "c" else t[1].replace("'", "''") for t in tokens) + "'"


def like_sample(rng, tokens, ci):
    out = []
    for t in tokens:
        if t[0] == "*":
            out.append(filler(rng))
        elif t[0] == "?":
            out.append(rng.choice(FILLER[:-2]))
        else:
            c = t[1]
            if ci and rng.random() < 0.5:
                c = rng.choice([c.upper(), c.lower()]) if len(c.upper()) == 1 else c
            out.append(c)
    return "".join(out)


# regex: a small AST rendered in the portable subset, with a sampler for matching strings

REGEX_META = set("\\.^$*+?()[]{}|")
REGEX_LITS = list("abcABCxyz019_ -/:=%@#&~<>\"'éÉßЖж") + [".", "\\", "*", "+", "?", "(", ")", "[",
                                                           "]", "{", "}", "|", "^", "$"]


def rx_lit(c):
    return "\\" + c if c in REGEX_META else c


def rx_class_char(c):
    return "\\" + c if c in "\\]^-[" else c


def gen_rx_atom(rng, depth):
    r = rng.random()
    if r < 0.45:
        return ("lit", rng.choice(REGEX_LITS))
    if r < 0.6:
        return ("esc", rng.choice("dws"))
    if r < 0.68:
        return ("any",)
    if r < 0.85:
        items = []
        for _ in range(rng.randint(1, 3)):
            k = rng.random()
            if k < 0.35:
                items.append(("range", *rng.choice([("a", "f"), ("A", "Z"), ("0", "9"), ("x", "z"), ("à", "ö")])))
            elif k < 0.5:
                items.append(("esc", rng.choice("dws")))
            else:
                items.append(("char", rng.choice(list("aAbB.-_\\]^éÉЖ*?$|") + ["["])))
        return ("cls", items, rng.random() < 0.25)
    if depth < 2:
        return ("alt", [gen_rx_seq(rng, depth + 1, 1, 3) for _ in range(rng.randint(2, 3))])
    return ("lit", rng.choice(REGEX_LITS))


def gen_rx_seq(rng, depth, lo, hi):
    items = []
    for _ in range(rng.randint(lo, hi)):
        a = gen_rx_atom(rng, depth)
        if rng.random() < 0.3:
            q = rng.choice(["*", "+", "?", "{m,n}", "{m}", "{m,}"])
            m = rng.randint(0, 2)
            n = m + rng.randint(0, 2)
            if q == "*":
                a = ("rep", a, 0, None, "*")
            elif q == "+":
                a = ("rep", a, 1, None, "+")
            elif q == "?":
                a = ("rep", a, 0, 1, "?")
            elif q == "{m,n}":
                a = ("rep", a, m, max(n, 1), "{%d,%d}" % (m, max(n, 1)))
            elif q == "{m}":
                a = ("rep", a, max(m, 1), max(m, 1), "{%d}" % max(m, 1))
            else:
                a = ("rep", a, m, None, "{%d,}" % m)
        items.append(a)
    return ("seq", items)


def rx_render(node):
    kind = node[0]
    if kind == "lit":
        return rx_lit(node[1])
    if kind == "esc":
        return "\\" + node[1]
    if kind == "any":
        return "."
    if kind == "cls":
        body = ""
        for it in node[1]:
            if it[0] == "range":
                body += it[1] + "-" + it[2]
            elif it[0] == "esc":
                body += "\\" + it[1]
            else:
                body += rx_class_char(it[1])
        return "[" + ("^" if node[2] else "") + body + "]"
    if kind == "alt":
        return "(" + "|".join(rx_render(s) for s in node[1]) + ")"
    if kind == "rep":  # a quantifier applies to one atom (an alternation renders as its group)
        return rx_render(node[1]) + node[4]
    if kind == "seq":
        return "".join(rx_render(x) for x in node[1])
    raise ValueError(node)


ESC_POOL = {"d": "0123456789", "w": "abzAZ09_", "s": " \t"}


def rx_class_members(items):
    out = set()
    for it in items:
        if it[0] == "range":
            out.update(chr(k) for k in range(ord(it[1]), ord(it[2]) + 1))
        elif it[0] == "esc":
            out.update(ESC_POOL[it[1]] if it[1] != "w" else "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
            if it[1] == "s":
                out.update(" \t\n\r\f\v")
            if it[1] == "d":
                out.update("0123456789")
        else:
            out.add(it[1])
    return out


def rx_sample(rng, node, ci):
    kind = node[0]
    if kind == "lit":
        c = node[1]
        if ci and rng.random() < 0.5 and len(c.swapcase()) == 1:
            c = c.swapcase()
        return c
    if kind == "esc":
        return rng.choice(ESC_POOL[node[1]])
    if kind == "any":
        return rng.choice("aZ5 -é*")
    if kind == "cls":
        members = rx_class_members(node[1])
        if node[2]:
            pool = [c for c in "aAbBzZ019 -_.\\]^éÉЖж*?$|[qQ" if c not in members
                    and not (ci and c.isascii() and c.isalpha() and c.swapcase() in members)]
            return rng.choice(pool) if pool else "~"
        c = rng.choice(sorted(members))
        if ci and c.isascii() and c.isalpha() and rng.random() < 0.5:
            c = c.swapcase()
        return c
    if kind == "alt":
        return rx_sample(rng, rng.choice(node[1]), ci)
    if kind == "rep":
        hi = node[3] if node[3] is not None else node[2] + 3
        return "".join(rx_sample(rng, node[1], ci) for _ in range(rng.randint(node[2], hi)))
    if kind == "seq":
        return "".join(rx_sample(rng, x, ci) for x in node[1])
    raise ValueError(node)


class Regex:
    def __init__(self, rng):
        self.ci = rng.random() < 0.3
        self.alts = []
        for _ in range(1 if rng.random() < 0.75 else 2):
            self.alts.append((rng.random() < 0.3, gen_rx_seq(rng, 0, 1, 4), rng.random() < 0.3))

    def text(self):
        return ("(?i)" if self.ci else "") + "|".join(
            ("^" if a else "") + rx_render(s) + ("$" if e else "") for a, s, e in self.alts)

    def sample(self, rng, cased):
        a, s, e = rng.choice(self.alts)
        body = rx_sample(rng, s, self.ci or not cased)
        return (filler(rng) if not a else "") + body + (filler(rng) if not e else "")


def mutate(rng, s):
    """A near miss of s: one character changed, dropped or added, or the case flipped."""
    if not s:
        return rng.choice(FILLER)
    k = rng.random()
    i = rng.randrange(len(s))
    if k < 0.3:
        return s[:i] + rng.choice(FILLER[:-2]) + s[i + 1:]
    if k < 0.5:
        return s[:i] + s[i + 1:]
    if k < 0.7:
        return s[:i] + rng.choice(FILLER[:-2]) + s[i:]
    return s.swapcase()


# ================================================================ conditions

STRING_OPS = ["==", "!=", "in", "not in", "contains", "startswith", "endswith", "like", "matches"]
NUMBER_OPS = ["==", "!=", "<", "<=", ">", ">=", "in", "not in"]
IP_OPS = ["==", "!=", "in", "not in", "cidr", "not cidr"]
BOOL_OPS = ["==", "!="]


class Atom:
    """One test: `field op [cased] literal`, or `exists field` / `not exists field`.
    `args` holds the values (a list for list forms), `form` the literal style."""

    def __init__(self, field, kind, op, args, cased=False, form="dq", listref=None):
        self.field, self.kind, self.op, self.args = field, kind, op, args
        self.cased, self.form, self.listref = cased, form, listref

    def copy(self, **kw):
        a = Atom(self.field, self.kind, self.op, self.args, self.cased, self.form, self.listref)
        for k, v in kw.items():
            setattr(a, k, v)
        return a

    def opname(self):
        """The operator as the coverage figures name it."""
        if self.op in ("exists", "not exists"):
            return self.op
        name = {"cidr": "in cidr", "not cidr": "not in cidr"}.get(self.op, self.op)
        if self.op in ("contains", "startswith", "endswith") and len(self.args) > 1:
            name += " [list]"
        if self.op == "like":
            name += " '...'" if self.form == "sq" else ' "..."'
        if self.op == "matches":
            name += " '...'" if self.form == "sq" else ' "..."'
        return f"{self.kind} {name}{' cased' if self.cased else ''}"

    def lit(self, v):
        if self.kind == "number":
            return repr(v) if isinstance(v, float) else str(v)
        if self.kind == "boolean":
            return "true" if v else "false"
        if self.kind == "ip":
            return dq(v)
        return str_lit(v, self.form)

    def text(self, lists):
        f, op, c = self.field, self.op, " cased" if self.cased else ""
        if op == "exists":
            return f"exists {f}"
        if op == "not exists":
            return f"not exists {f}"
        if op in ("cidr", "not cidr"):
            nets = ", ".join(dq(n) for n in self.args)
            return f"{f} {'not in' if op == 'not cidr' else 'in'} cidr({nets})"
        if op == "like":
            tokens = self.args[0]
            lit = like_sq(tokens) if self.form == "sq" and like_sq_ok(tokens) else like_dq(tokens)
            return f"{f} like{c} {lit}"
        if op == "matches":
            pattern = self.args[0].text()
            lit = sq(pattern) if self.form == "sq" else dq(pattern)
            return f"{f} matches{c} {lit}"
        if op in ("in", "not in") or (op in ("contains", "startswith", "endswith") and len(self.args) > 1):
            if self.listref and len(self.args) > 1:
                lists[self.listref] = "[" + ", ".join(self.lit(v) for v in self.args) + "]"
                return f"{f} {op}{c} ${self.listref}"
            return f"{f} {op}{c} [" + ", ".join(self.lit(v) for v in self.args) + "]"
        return f"{f} {op}{c} {self.lit(self.args[0])}"

    def hints(self, rng):
        """Values of the field that this test is about: hits, case variants, near misses."""
        k, op = self.kind, self.op
        if op in ("exists", "not exists"):
            return []
        if k == "boolean":
            return [True, False]
        if k == "number":
            out = []
            for v in self.args:
                base = int(v) if isinstance(v, float) else v
                out += [base, base - 1, base + 1, str(base), -base]
            return out
        if k == "ip":
            if op in ("cidr", "not cidr"):
                nets = [ipaddress.ip_network(n, strict=False) for n in self.args]
                out = [ip_text(rng, addr_in(rng, n)) for n in nets for _ in range(2)]
                out += [ip_text(rng, addr_outside(rng, nets)) for _ in range(2)]
                return out
            out = []
            for v in self.args:
                a = ipaddress.ip_address(v)
                out += [ip_text(rng, a), ip_text(rng, a), str(a + 1 if int(a) < (2 ** (32 if a.version == 4 else 128) - 1) else a - 1)]
            return out
        # strings
        out = []
        if op == "like":
            tokens = self.args[0]
            for _ in range(4):
                s = like_sample(rng, tokens, not self.cased)
                out += [s, mutate(rng, s)]
            return out
        if op == "matches":
            rx = self.args[0]
            for _ in range(4):
                s = rx.sample(rng, self.cased)
                out += [s, mutate(rng, s)]
            return out
        for v in self.args:
            if op in ("==", "!=", "in", "not in"):
                out += [v] + [x for x in case_variants(v) if x != v][:2] + [mutate(rng, v), v + " ", " " + v]
            elif op == "contains":
                out += [filler(rng) + v + filler(rng), filler(rng) + v.upper() + filler(rng), mutate(rng, v)]
            elif op == "startswith":
                out += [v + filler(rng), v.swapcase() + filler(rng), filler(rng, 1) + v]
            elif op == "endswith":
                out += [filler(rng) + v, filler(rng) + v.swapcase(), v + filler(rng, 1)]
        return out

    def fields(self):
        return [self.field]

    def shrinks(self):
        if isinstance(self.args, list) and len(self.args) > 1 and self.op not in ("like", "matches"):
            for i in range(len(self.args)):
                yield self.copy(args=self.args[:i] + self.args[i + 1:])


class FieldAtom:
    """A comparison of two fields of one type: `field op [cased] other`. Its hints are one
    pool of values for both fields (equal, case variants, near misses, numbers also as text,
    an address in several textual forms), so the two often compare equal."""

    def __init__(self, field, other, kind, op, cased=False):
        self.field, self.other, self.kind, self.op, self.cased = field, other, kind, op, cased

    def fields(self):
        return [self.field, self.other]

    def opname(self):
        return f"{self.kind} {self.op}{' cased' if self.cased else ''} field"

    def text(self, lists):
        return f"{self.field} {self.op}{' cased' if self.cased else ''} {self.other}"

    def hints(self, rng):
        if self.kind == "number":
            n = rng.choice([0, 1, 22, 443, 4624, rng.randint(-100, 100000)])
            return [n, n, n + 1, n - 1, str(n), float(n)]
        if self.kind == "ip":
            a, b = rand_ip(rng), rand_ip(rng)
            out = [ip_text(rng, a), ip_text(rng, a), ip_text(rng, b)]
            if a.version == 4:
                out.append("::ffff:" + str(a))  # the same address, IPv4-mapped
            return out
        if self.kind == "boolean":
            return [True, False, "true", "FALSE"]
        v = rand_string(rng)
        return [v, v] + [x for x in case_variants(v) if x != v][:2] + [mutate(rng, v), v + " "]

    def shrinks(self):
        return iter(())


class Not:
    def __init__(self, term, parens=False):
        self.term, self.parens = term, parens

    def text(self, lists):
        inner = self.term.text(lists)
        if isinstance(self.term, (And, Or)) or self.parens or isinstance(self.term, Not):
            return f"not ({inner})"
        return f"not {inner}"


class And:
    word = "and"

    def __init__(self, terms):
        self.terms = terms

    def text(self, lists):
        parts = []
        for t in self.terms:
            s = t.text(lists)
            parts.append(f"({s})" if isinstance(t, (And, Or)) else s)
        return f" {self.word} ".join(parts)


class Or(And):
    word = "or"


def atoms(cond):
    if isinstance(cond, (Atom, FieldAtom)):
        return [cond]
    if isinstance(cond, Not):
        return atoms(cond.term)
    return [a for t in cond.terms for a in atoms(t)]


def cond_shrinks(cond):
    """Smaller conditions: an operand for its and/or, the and/or without one operand, the term
    of a `not`, a shorter list; recursively."""
    if isinstance(cond, (Atom, FieldAtom)):
        yield from cond.shrinks()
        return
    if isinstance(cond, Not):
        yield cond.term
        for t in cond_shrinks(cond.term):
            yield Not(t, cond.parens)
        return
    for t in cond.terms:
        yield t
    if len(cond.terms) > 2:
        for i in range(len(cond.terms)):
            yield type(cond)(cond.terms[:i] + cond.terms[i + 1:])
    for i, t in enumerate(cond.terms):
        for s in cond_shrinks(t):
            yield type(cond)(cond.terms[:i] + [s] + cond.terms[i + 1:])


class Generator:
    def __init__(self, catalog, rng):
        self.cat, self.rng = catalog, rng
        self.list_counter = 0

    def atom(self, source, fields=None):
        rng = self.rng
        fs = self.cat.fields[source]
        field = rng.choice(sorted(fields or fs))
        kind = fs[field]
        if rng.random() < 0.08:
            return Atom(field, kind, rng.choice(["exists", "not exists"]), [])
        same = sorted(f for f, k in fs.items() if k == kind and f != field)
        if same and rng.random() < 0.1:
            ops = ["==", "!="] + (["<", "<=", ">", ">="] if kind == "number" else [])
            cased = kind == "string" and rng.random() < 0.3
            return FieldAtom(field, rng.choice(same), kind, rng.choice(ops), cased)
        if kind == "string":
            return self.string_atom(field)
        if kind == "number":
            op = rng.choice(NUMBER_OPS)
            def num():
                return rng.choice([0, 1, 5, 22, 443, 3389, 4624, 65535, -3, 7,
                                   rng.randint(-100, 100000), round(rng.uniform(-5, 500), 1)])
            if op in ("in", "not in"):
                return Atom(field, kind, op, [int(num()) for _ in range(rng.randint(1, 3))])
            return Atom(field, kind, op, [num()])
        if kind == "ip":
            op = rng.choice(IP_OPS)
            if op in ("cidr", "not cidr"):
                nets = rng.sample(V4_NETS, rng.randint(0, 2)) + rng.sample(V6_NETS, rng.randint(0, 2))
                return Atom(field, kind, op, nets or [rng.choice(V4_NETS)])
            if op in ("in", "not in"):
                return Atom(field, kind, op, [str(rand_ip(rng)) for _ in range(rng.randint(1, 3))])
            return Atom(field, kind, op, [str(rand_ip(rng))])
        return Atom(field, kind, rng.choice(BOOL_OPS), [rng.random() < 0.5])

    def string_atom(self, field):
        rng = self.rng
        op = rng.choice(STRING_OPS)
        cased = rng.random() < 0.3
        form = "sq" if rng.random() < 0.35 else "dq"
        if op == "like":
            base = rand_string(rng)
            tokens = []
            if rng.random() < 0.5:
                tokens.append(("*",))
            for ch in base:
                r = rng.random()
                if r < 0.12:
                    tokens.append(("*",))
                elif r < 0.2:
                    tokens.append(("?",))
                else:
                    tokens.append(("c", ch))
            if rng.random() < 0.5:
                tokens.append(("*",))
            if not any(t[0] == "c" for t in tokens):
                tokens.append(("c", "x"))
            if form == "sq" and not like_sq_ok(tokens):
                form = "dq"
            return Atom(field, "string", op, [tokens], cased, form)
        if op == "matches":
            return Atom(field, "string", op, [Regex(rng)], cased, form)
        n = 1
        if op in ("in", "not in"):
            n = rng.randint(1, 4)
        elif op in ("contains", "startswith", "endswith") and rng.random() < 0.35:
            n = rng.randint(2, 3)
        values = []
        for _ in range(n):
            v = rand_string(rng) if rng.random() < 0.9 else rng.choice(WHITESPACE)
            values.append(v)
        listref = None
        if n > 1 and rng.random() < 0.3:
            self.list_counter += 1
            listref = f"l{self.list_counter}"
        return Atom(field, "string", op, values, cased, form, listref)

    def condition(self, source, depth=0, fields=None):
        rng = self.rng
        r = rng.random()
        if depth < 3 and r < 0.3:
            terms = [self.condition(source, depth + 1, fields) for _ in range(rng.randint(2, 3))]
            return (And if rng.random() < 0.55 else Or)(terms)
        if depth < 3 and r < 0.42:
            return Not(self.condition(source, depth + 1, fields), parens=rng.random() < 0.3)
        return self.atom(source, fields)


# ================================================================ rules

DURATIONS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


# The name of step 1's event in a sequence whose step 2 compares a field with it.
LINK_STEP = "e1"


def dur_ms(text):
    return int(text[:-1]) * DURATIONS[text[-1]]


class Rule:
    """A generated rule: kind single | agg | seq | first."""

    def __init__(self, name, kind, **kw):
        self.name, self.kind = name, kind
        self.id = None
        self.source = kw.get("source")
        self.cond = kw.get("cond")
        self.group_by = kw.get("group_by")
        self.networks = kw.get("networks") or {}  # agg: key field -> (v4, v6) of ip_prefix
        self.window = kw.get("window")
        self.having = kw.get("having")          # [(agg, field|None, op, n)], joiner
        self.joiner = kw.get("joiner", "and")
        self.monotone = kw.get("monotone", True)
        self.steps = kw.get("steps")            # [(source, cond)]
        self.by = kw.get("by")
        self.step_by = kw.get("step_by")        # seq: per step, its own key field or None
        self.absent = kw.get("absent", False)   # seq: the last step must not follow (`not`)
        self.link = kw.get("link")              # seq of two: a FieldAtom, step 2's field vs step 1's
        self.first_field = kw.get("first_field")
        self.lookback = kw.get("lookback")
        self.schedule = kw.get("schedule")
        self.targets = None                     # the targets left after refusals
        self.events = []                        # single: [event]; correlation: [[event]] per slot
        self.slots = []                         # correlation: slot numbers of the cases

    def copy(self, name=None, cond=None, steps=None):
        r = Rule(name or self.name, self.kind, source=self.source, cond=cond or self.cond,
                 group_by=self.group_by, networks=self.networks, window=self.window, having=self.having, joiner=self.joiner,
                 monotone=self.monotone, steps=steps or self.steps, by=self.by,
                 step_by=self.step_by, first_field=self.first_field, lookback=self.lookback, schedule=self.schedule,
                 absent=self.absent, link=self.link)
        r.id, r.targets = self.id, self.targets
        return r

    def conds(self):
        return [c for _, c in self.steps] if self.kind == "seq" else [self.cond]

    def sources(self):
        return sorted({s for s, _ in self.steps}) if self.kind == "seq" else [self.source]

    def text(self, lists):
        lines = [f'rule {self.name} "generated {self.kind} rule {self.name}" {{',
                 f'  id = "{self.id}"', "  severity = low"]
        if self.targets is not None and set(self.targets) != set(TARGETS):
            lines.append(f"  targets = [{', '.join(self.targets)}]")
        if self.schedule:
            lines.append(f"  schedule = {self.schedule}")
        if self.kind == "seq":
            lines.append(f"  sequence by {self.by} within {self.window} {{")
            for i, ((source, cond), own) in enumerate(zip(self.steps, self.step_by)):
                keyed = f" by {own}" if own else ""
                negated = "not " if self.absent and i == len(self.steps) - 1 else ""
                named = f" as {LINK_STEP}" if self.link and i == 0 else ""
                where = cond.text(lists)
                if self.link and i == 1:
                    # The comparison is an operand of the step condition's top-level `and`.
                    where = f"({where}) and {self.link.text(lists)}"
                lines.append(f"    {negated}{source}{named}{keyed} where {where}")
            lines.append("  }")
        else:
            lines.append(f"  from {self.source}")
            lines.append(f"  where {self.cond.text(lists)}")
        if self.kind == "agg":
            keys = [f"ip_prefix({f}, {self.networks[f][0]}, {self.networks[f][1]})" if f in self.networks else f
                    for f in self.group_by]
            lines.append(f"  group by {', '.join(keys)} window {self.window}")
            terms = []
            for agg, field, op, n in self.having:
                terms.append(f"{agg}({field or ''}) {op} {n}")
            lines.append("  having " + f" {self.joiner} ".join(terms))
        if self.kind == "first":
            lines.append(f"  first seen {self.first_field} by {', '.join(self.by)} lookback {self.lookback}")
        lines.append("}")
        return "\n".join(lines)

    def window_ms(self):
        return dur_ms(self.window)


def rules_text(rules):
    lists, body = {}, []
    for r in rules:
        body.append(r.text(lists))
    head = [f"list {name} = {items}" for name, items in sorted(lists.items())]
    return "\n".join(head) + "\n\n" + "\n\n".join(body) + "\n"


class RuleFactory:
    def __init__(self, catalog, rng, events_per_rule, forms=("single", "agg", "seq", "first")):
        self.cat, self.rng, self.gen = catalog, rng, Generator(catalog, rng)
        unknown = set(forms) - set(self.SHARES)
        if unknown or not forms:
            raise SystemExit(f"differential: unknown forms {sorted(unknown)} (known: {', '.join(self.SHARES)})")
        self.forms = [(f, self.SHARES[f]) for f in self.SHARES if f in forms]
        self.events_per_rule = events_per_rule
        self.count = 0
        self.slot = 0

    def name(self):
        self.count += 1
        return f"r{self.count:05d}"

    # Each form's share of the generated rules.
    SHARES = {"single": 0.82, "agg": 0.06, "seq": 0.06, "first": 0.06}

    def rule(self):
        r = self.rng.random() * sum(share for _, share in self.forms)
        for form, share in self.forms:
            if r < share:
                break
            r -= share
        make = {"single": self.single, "agg": self.aggregation, "seq": self.sequence,
                "first": self.first_seen}[form]
        rule = make()
        rule.id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        return rule

    # ---------------------------------------------------------------- single-event

    def single(self):
        source = self.cat.pick_source(self.rng)
        rule = Rule(self.name(), "single", source=source, cond=self.gen.condition(source))
        rule.events = [self.event(source, [rule.cond]) for _ in range(self.events_per_rule)]
        return rule

    def field_value(self, kind, hints, allow_empty=True):
        rng = self.rng
        r = rng.random()
        if r < 0.12:
            return ("absent",)
        if r < 0.18:
            return (None,)
        if r < 0.26 and allow_empty and kind != "boolean":
            return ("",)
        if r < 0.31 and kind == "string":
            return (rng.choice(WHITESPACE),)
        if hints and r < 0.88:
            v = rng.choice(hints)
            if kind == "string" and rng.random() < 0.15:
                v = rng.choice(case_variants(v))
            return (v,)
        if kind == "string":
            return (rand_string(rng),)
        if kind == "number":
            v = rng.choice([0, 1, -1, 22, 443, 4624, rng.randint(-1000, 100000)])
            return (str(v) if rng.random() < 0.3 else v,)
        if kind == "ip":
            return (ip_text(rng, rand_ip(rng)),)
        return (rng.random() < 0.5 if rng.random() < 0.85 else rng.choice(["true", "false"]),)

    def event(self, source, conds, extra=()):
        fs = self.cat.fields[source]
        used = sorted({f for c in conds for a in atoms(c) for f in a.fields()} | set(extra))
        others = [f for f in fs if f not in used]
        if others and self.rng.random() < 0.5:
            used.append(self.rng.choice(others))
        hints = collections.defaultdict(list)
        for c in conds:
            for a in atoms(c):
                values = a.hints(self.rng)
                for f in a.fields():
                    hints[f] += values
        ev = {}
        for f in used:
            v = self.field_value(fs[f], hints.get(f))
            if v[0] != "absent":
                ev[f] = v[0]
        return ev

    # ---------------------------------------------------------------- correlation

    def string_fields(self, source):
        return [f for f, k in self.cat.fields[source].items() if k == "string"]

    def key_value(self, pool):
        r = self.rng.random()
        if r < 0.08:
            return ("absent",)
        if r < 0.14:
            return ("",)
        if r < 0.18:
            return (" ",)
        return (self.rng.choice(pool),)

    def aggregation(self):
        rng = self.rng
        source = self.cat.pick_source(rng, need=lambda fs: sum(k == "string" for k in fs.values()) >= 2)
        strings = self.string_fields(source)
        numbers = [f for f, k in self.cat.fields[source].items() if k == "number"]
        cond = self.gen.condition(source, depth=1)
        group_by = rng.sample(strings, 1 if rng.random() < 0.7 else 2)
        # A network key (`ip_prefix`) on an ip field, in place of the first string key.
        ips = [f for f, k in self.cat.fields[source].items() if k == "ip"]
        networks = {}
        if ips and rng.random() < 0.3:
            group_by[0] = rng.choice(ips)
            networks[group_by[0]] = (rng.choice([32, 32, 24, 17, 0]), rng.choice([64, 64, 56, 48, 71, 128, 0]))
        window = rng.choice(["30s", "5m", "10m", "1h", "6h", "1d"])
        monotone = rng.random() < 0.8
        having = []
        for _ in range(1 if rng.random() < 0.7 else 2):
            agg = rng.choice(["count", "count", "distinct"] + (["sum", "min", "max"] if numbers else []))
            field = None if agg == "count" else rng.choice(strings if agg == "distinct" else numbers)
            if monotone:
                op = {"count": [">=", ">"], "distinct": [">=", ">"], "sum": [">=", ">"],
                      "max": [">=", ">"], "min": ["<=", "<"]}[agg]
                op = rng.choice(op)
            else:
                op = rng.choice(["<", "<=", "==", "!=", ">", ">="])
            n = {"count": rng.randint(1, 4), "distinct": rng.randint(1, 3), "sum": rng.randint(0, 15),
                 "max": rng.randint(0, 9), "min": rng.randint(0, 9)}[agg]
            having.append((agg, field, op, n))
        rule = Rule(self.name(), "agg", source=source, cond=cond, group_by=group_by, networks=networks, window=window,
                    having=having, joiner=rng.choice(["and", "or"]), monotone=monotone)
        w = rule.window_ms()
        keys = {f: [rand_string(rng) for _ in range(2)] for f in group_by if f not in networks}
        for f in keys:
            keys[f].append(rng.choice(case_variants(keys[f][0])))
        keys.update({f: network_pool(rng, *lengths) for f, lengths in networks.items()})
        distinct_pool = {}
        for agg, field, _, _ in having:
            if agg == "distinct":
                distinct_pool[field] = [rand_string(rng) for _ in range(3)]
                distinct_pool[field].append(distinct_pool[field][0].upper())
        for _ in range(rng.randint(3, 6)):
            last = self.next_slot(rule)
            events = []
            n = rng.randint(1, 7)
            for i in range(n):
                ev = self.event(source, [cond])
                for f in group_by:
                    v = self.key_value(keys[f])
                    ev.pop(f, None)
                    if v[0] != "absent":
                        ev[f] = v[0]
                for agg, field, _, _ in having:
                    if agg == "distinct":
                        v = self.key_value(distinct_pool[field])
                    elif agg in ("sum", "min", "max"):
                        x = rng.randint(0, 9)
                        v = rng.choice([(x,), (x,), (str(x),), ("absent",), (None,)])
                    else:
                        continue
                    ev.pop(field, None)
                    if v[0] != "absent":
                        ev[field] = v[0]
                # every event inside the window ending at the last one (and the query's ago(W))
                t = last if i == n - 1 else last - rng.randint(0, max(0, w // 1000 - 2)) * 1000
                events.append(self.stamp(ev, source, t))
            rule.events.append(sorted(events, key=lambda e: e["@timestamp"]))
        return rule

    def sequence(self):
        rng = self.rng
        by = rng.choice(sorted(self.cat.keys))
        sources = self.cat.keys[by]
        n = 2 if rng.random() < 0.7 else 3
        steps = []
        for _ in range(n):
            s = rng.choice(sources)
            steps.append((s, self.gen.condition(s, depth=1)))
        window = rng.choice(["30s", "1m", "10m", "1h"])
        kind = self.cat.fields[steps[0][0]][by]
        # Some sequences join each step on a field of its own (`SOURCE by F where ...`),
        # of the key's type; another step's key field may then hold another value.
        step_by = [None] * n
        if rng.random() < 0.4:
            for i, (s, _) in enumerate(steps):
                same = sorted(f for f, k in self.cat.fields[s].items() if k == kind)
                if same and rng.random() < 0.6:
                    step_by[i] = rng.choice(same)
        # Some two-step sequences are absences: the second step must not follow the first.
        absent = n == 2 and rng.random() < 0.35
        link = self.link(steps) if n == 2 and rng.random() < 0.4 else None
        rule = Rule(self.name(), "seq", steps=steps, by=by, step_by=step_by, window=window, absent=absent,
                    link=link)
        link_values = link.hints(rng) if link else []
        w = rule.window_ms()
        if kind == "string":
            pool = [rand_string(rng) for _ in range(2)]
            pool.append(pool[0].swapcase())
        else:
            # One textual form per address: Elastic joins ip keys as addresses, the evaluator,
            # Sentinel and Splunk as text (README, "What is not exact yet").
            pool = [ip_text(rng, rand_ip(rng, v6=True)), ip_text(rng, rand_ip(rng))]
        for _ in range(rng.randint(3, 6)):
            last = self.next_slot(rule)
            m = rng.randint(2, 6)
            # strictly increasing whole seconds, the whole case within 1.9 W (the query's W + schedule)
            gaps = [rng.choice([1, 2, w // 3000, w // 2000, w // 1000, w // 1000 + 1]) for _ in range(m - 1)]
            total = sum(max(1, g) for g in gaps)
            span = min(total, int(1.9 * w / 1000))
            times = [last]
            for g in reversed(gaps):
                times.insert(0, times[0] - max(1, g) * 1000)
            if last - times[0] > span * 1000:
                times = [last - (m - 1 - i) * max(1, span // max(1, m - 1)) * 1000 for i in range(m)]
            if absent:
                times = self.absence_times(rng, last, w, m)
            events = []
            for t in times:
                step = rng.randrange(n)
                s, c = steps[step]
                ev = self.event(s, [c])
                key = step_by[step] or by
                v = self.key_value(pool)
                ev.pop(key, None)
                if v[0] != "absent":
                    ev[key] = v[0]
                # Another step's key field of this source: sometimes the same value, sometimes
                # another, so one event may stand for two steps on one key or on two keys.
                for other in sorted({f for f in step_by if f} | {by}):
                    if other != key and other in self.cat.fields[s] and rng.random() < 0.3:
                        ev[other] = v[0] if v[0] != "absent" and rng.random() < 0.5 else rng.choice(pool)
                # The compared fields, from one pool of values, so that they often compare equal.
                if link:
                    for f in {link.field if step == 1 else link.other[len(LINK_STEP) + 1:]}:
                        lv = self.field_value(link.kind, link_values)
                        ev.pop(f, None)
                        if lv[0] != "absent":
                            ev[f] = lv[0]
                events.append(self.stamp(ev, s, t))
            rule.events.append(events)
        return rule

    def link(self, steps):
        """A comparison of a field of step 2's source with one of step 1's, of one type, or
        None when the two sources share no type."""
        rng = self.rng
        (s1, _), (s2, _) = steps
        kinds = sorted({k for k in self.cat.fields[s1].values()} & {k for k in self.cat.fields[s2].values()})
        if not kinds:
            return None
        kind = rng.choice(kinds)
        f = rng.choice(sorted(x for x, k in self.cat.fields[s2].items() if k == kind))
        g = rng.choice(sorted(x for x, k in self.cat.fields[s1].items() if k == kind))
        ops = ["==", "!="] + (["<", "<=", ">", ">="] if kind == "number" else [])
        cased = kind == "string" and rng.random() < 0.3
        return FieldAtom(f, f"{LINK_STEP}.{g}", kind, rng.choice(ops), cased)

    @staticmethod
    def absence_times(rng, last, w, m):
        """Whole-second times up to `last` (the last of them) for an absence's case: around
        the edges of the A events the run ending at `last` reports, (last - W - S, last - W],
        and of their windows (t, t + W]. Just inside the range's start is 2 s (as for first
        seen): the engine's now() runs later than the shift that places the case."""
        s = max(w // 4, 300_000)  # the default schedule
        a = rng.choice([last - w - s, last - w - s + 2000, last - w - 1000, last - w,
                        last - w + 1000, last - w - s // 2 // 1000 * 1000])
        near = [a, a, a + 1000, a + w - 1000, a + w, a + w + 1000, a + w // 2 // 1000 * 1000,
                last - w - s + 2000, last - w]
        return sorted(min(last, rng.choice(near)) for _ in range(m - 1)) + [last]

    def first_seen(self):
        rng = self.rng
        source = self.cat.pick_source(rng, need=lambda fs: sum(k == "string" for k in fs.values()) >= 2)
        strings = self.string_fields(source)
        field, key = rng.sample(strings, 2)
        cond = self.gen.condition(source, depth=1)
        lookback = rng.choice(["2h", "6h", "1d"])
        schedule = rng.choice([None, None, "30m"])
        rule = Rule(self.name(), "first", source=source, cond=cond, by=[key], first_field=field,
                    lookback=lookback, schedule=schedule)
        lb, sched = dur_ms(lookback), dur_ms(schedule or "1h")
        fpool = [rand_string(rng) for _ in range(2)]
        fpool.append(fpool[0].upper())
        kpool = [rand_string(rng) for _ in range(2)]
        for _ in range(rng.randint(3, 6)):
            last = self.next_slot(rule)
            events = []
            # history in [last - L - S + 2s, last - S], new events in [last - S + 2s, last]
            for _ in range(rng.randint(0, 4)):
                t = last - sched - rng.randint(0, (lb - 2000) // 1000) * 1000
                events.append((t, self.fs_event(rule, fpool, kpool)))
            for i in range(rng.randint(1, 4)):
                t = last if i == 0 else last - rng.randint(0, (sched - 2000) // 1000) * 1000
                events.append((t, self.fs_event(rule, fpool, kpool)))
            events.sort(key=lambda e: e[0])
            rule.events.append([self.stamp(ev, source, t) for t, ev in events])
        return rule

    def fs_event(self, rule, fpool, kpool):
        ev = self.event(rule.source, [rule.cond])
        for f, pool in ((rule.first_field, fpool), (rule.by[0], kpool)):
            v = self.key_value(pool)
            ev.pop(f, None)
            if v[0] != "absent":
                ev[f] = v[0]
        return ev

    def next_slot(self, rule):
        self.slot += 1
        rule.slots.append(self.slot)
        return BASE_MS + self.slot * SLOT_MS

    @staticmethod
    def stamp(ev, source, t):
        out = {"@timestamp": t, "event.source": source}
        out.update(ev)
        return out


# ================================================================ one batch through detc and the engines

class Env:
    def __init__(self, repo, work, kql_python, detc):
        self.repo, self.work = os.path.abspath(repo), os.path.abspath(work)
        self.kql_python, self.detc = os.path.abspath(kql_python), os.path.abspath(detc)
        self.mappings = engines.Mappings(repo)
        self.catalog = Catalog(repo)


def detc(env, args, cwd, check=False):
    return subprocess.run([env.detc] + args, cwd=cwd, capture_output=True, text=True, check=check)


class Pair:
    """One rule × event (or × correlation case) judged by one engine."""

    def __init__(self, rule, index, engine, outcome):
        self.rule, self.index, self.engine, self.outcome = rule, index, engine, outcome

    @property
    def status(self):
        return self.outcome.status


class Batch:
    def __init__(self):
        self.rules = []
        self.refused = collections.defaultdict(dict)     # rule -> {target: code}
        self.undeployable = collections.defaultdict(dict)
        self.check_errors = {}                           # rule -> [diagnostic]
        self.queries = {}                                # (rule, language) -> query
        self.hunt = {}                                   # (rule, index) -> verdict
        self.pairs = []
        self.esql = []                                   # (rule, message)
        self.unhunted = []


def _rule_lines(text, rules):
    """{rule name: (first line, last line)} of the rules in a written file."""
    spans, lines = {}, text.split("\n")
    start = None
    for n, line in enumerate(lines, 1):
        m = re.match(r"rule (\w+) ", line)
        if m:
            start, name = n, m.group(1)
        if line == "}" and start:
            spans[name] = (start, n)
            start = None
    return spans


DIAG_TARGET = re.compile(r"\b(splunk|sentinel|elastic)\b")


def run_batch(env, rules, tag, flip=False):
    """Check, compile and hunt the rules, then judge every rule × event pair with the engines."""
    b = Batch()
    b.rules = rules
    d = os.path.join(env.work, tag)
    os.makedirs(d, exist_ok=True)
    for r in rules:
        r.targets = None
    text = rules_text(rules)
    with open(os.path.join(d, "rules.det"), "w", encoding="utf-8") as f:
        f.write(text)
    spans = _rule_lines(text, rules)
    diags = json.loads(detc(env, ["check", "rules.det", "--format", "json"], d).stdout or "[]")
    by_name = {r.name: r for r in rules}
    for diag in diags:
        if diag.get("severity") != "error":
            continue
        owner = next((n for n, (a, z) in spans.items() if a <= diag["line"] <= z), None)
        code = diag["code"]
        m = DIAG_TARGET.search(diag["message"])
        if owner and m and code.startswith("E04"):
            b.refused[owner][m.group(1)] = code
        elif owner and m and code.startswith("E06"):
            b.undeployable[owner][m.group(1)] = code
        else:
            b.check_errors.setdefault(owner or "?", []).append(diag)
    compiled = json.loads(detc(env, ["compile", "rules.det", "--format", "json", "--keep-going"], d).stdout or "[]")
    for e in compiled:
        b.queries[(e["rule"], e["language"])] = e["query"]
    # Hunt what checks clean: each rule limited to the targets it has no error for (the
    # targets only decide what is compiled and deployed, not what the evaluator does).
    hunted = []
    for r in rules:
        if r.name in b.check_errors:
            continue
        bad = set(b.refused.get(r.name, {})) | set(b.undeployable.get(r.name, {}))
        if bad:
            r.targets = [t for t in TARGETS if t not in bad]
            if not r.targets:
                b.unhunted.append(r.name)
                continue
        hunted.append(r)
    with open(os.path.join(d, "hunt.det"), "w", encoding="utf-8") as f:
        f.write(rules_text(hunted))
    for r in rules:
        r.targets = None
    ids, events = {}, []
    for r in hunted:
        if r.kind == "single":
            for i, ev in enumerate(r.events):
                ids[len(ids)] = (r.name, i)
                events.append(dict({ID_FIELD: len(ids) - 1, "event.source": r.source}, **ev))
    timed = []
    first_sources = sorted({r.source for r in hunted if r.kind == "first"})
    for s in first_sources:  # warms up every first-seen rule of the source before its first slot
        timed.append({ID_FIELD: -1, "@timestamp": BASE_MS - 86_400_000, "event.source": s})
    for r in hunted:
        if r.kind != "single":
            for j, case in enumerate(r.events):
                for k, ev in enumerate(case):
                    ids[len(ids)] = (r.name, j, k)
                    timed.append(dict({ID_FIELD: len(ids) - 1}, **ev))
    timed.sort(key=lambda e: e["@timestamp"])
    with open(os.path.join(d, "events.ndjson"), "w", encoding="utf-8") as f:
        for ev in events + timed:
            f.write(json.dumps(ev, ensure_ascii=False) + "\n")
    out = detc(env, ["hunt", "hunt.det", "--events", "events.ndjson"], d)
    if out.returncode != 0:
        raise RuntimeError(f"detc hunt failed in {d}:\n{out.stderr[-3000:]}")
    alerts = collections.defaultdict(list)
    for line in out.stdout.splitlines():
        hit = json.loads(line)
        if "events" in hit:
            alerts[hit["rule"]].append(hit)
        else:
            owner = ids.get(hit["event"][ID_FIELD])
            if owner and owner[0] == hit["rule"] and len(owner) == 2:
                b.hunt[owner] = True
    cases = []
    for r in hunted:
        if r.kind == "single":
            for i, ev in enumerate(r.events):
                matched = b.hunt.get((r.name, i), False)
                b.hunt[(r.name, i)] = matched
                cases.append({"rule": r.name, "case": f"event {i}", "location": f"{tag}/rules.det",
                              "source": r.source, "event": ev, "matched": matched, "index": i})
        else:
            for j, case in enumerate(r.events):
                matched, window = correlation_verdict(r, j, case, alerts[r.name], ids)
                b.hunt[(r.name, j)] = matched
                cases.append({"rule": r.name, "case": f"slot {j}", "location": f"{tag}/events.ndjson",
                              "source": None, "event": case, "matched": matched, "kql_window": window, "index": j})
    outcomes = engines.run(cases, compiled, env.repo, d, env.kql_python, flip=flip, m=env.mappings)
    for o in outcomes:
        b.pairs.append(Pair(by_name[o.case["rule"]], o.case["index"], o.engine, o))
    for r in rules:
        if r.name not in b.check_errors:
            b.esql += [(r.name, msg) for msg in source_filter_check(env, r, b.queries)]
    return b


def correlation_verdict(rule, j, case, alerts, ids):
    """detc's verdict for one correlation case (the alerts its events trigger), and whether the
    scheduled KQL run sees the same (True) or why not (a kql-scheduled-window skip)."""
    def trigger(a):
        return ids.get(a["events"][-1][ID_FIELD], (None, None, None))
    mine = [a for a in alerts if trigger(a)[:2] == (rule.name, j)]
    last = max(e["@timestamp"] for e in case)
    if rule.kind == "first":
        period = dur_ms(rule.schedule or "1h")
        mine = [a for a in mine if a["events"][-1]["@timestamp"] > last - period]
        return bool(mine), True
    if rule.absent:
        # The run ending at the case's last event reports the A events in (last - W - S,
        # last - W] (docs/CORRELATION.md): its verdict is the evaluator's alerts for those.
        w = rule.window_ms()
        s = max(w // 4, 300_000)
        mine = [a for a in mine if last - w - s < a["events"][0]["@timestamp"] <= last - w]
        return bool(mine), True
    if rule.kind == "agg" and not rule.monotone and mine:
        # `having` may turn false again: the run's verdict (the window ending at the last event)
        # is known only when the evaluator fires at the case's last event
        if any(trigger(a)[2] == len(case) - 1 for a in mine):
            return True, True
        return True, "the `having` is not monotone and the evaluator's last alert precedes the case's last event"
    return bool(mine), True


# ---------------------------------------------------------------- ES|QL and EQL select the source

def source_filter_check(env, rule, queries):
    """Each ES|QL query (and each EQL query) must select its source as targets/elastic.yaml
    does: the event category test and every filter test, in a WHERE before any STATS (EQL: the
    `category where` and the filter tests of each step). Returns the failures."""
    failures = []
    sources = rule.sources()
    el = env.mappings.elastic
    esql = queries.get((rule.name, "esql"))
    if esql is not None and len(sources) == 1:
        m = el[sources[0]]
        head = esql.split("| STATS")[0]
        wheres = " AND ".join(re.findall(r"^\| WHERE (.*)$", head, re.M))
        wanted = []
        if m.get("category", "any") != "any":
            wanted.append(("event.category", m["category"]))
        wanted += list((m.get("filter") or {}).items())
        for field, value in wanted:
            if not _filter_present(wheres, field, value, esql=True):
                failures.append(f"ES|QL lacks the source filter {field} = {value!r} "
                                f"(targets/elastic.yaml, {sources[0]}): {esql.splitlines()[0]} ...")
    eql_query = queries.get((rule.name, "eql"))
    if eql_query is not None:
        steps = re.findall(r"\[(\w+|\"[^\"]*\") where ", eql_query) if rule.kind == "seq" else \
            [re.match(r"(\w+|\"[^\"]*\") where ", eql_query).group(1)]
        step_sources = [s for s, _ in rule.steps] if rule.kind == "seq" else sources
        for source, category in zip(step_sources, steps):
            m = el[source]
            if category.strip('"') != m.get("category", "any"):
                failures.append(f"EQL selects category {category} for {source}, targets/elastic.yaml says {m.get('category')}")
            for field, value in (m.get("filter") or {}).items():
                if not _filter_present(eql_query, field, value, esql=False):
                    failures.append(f"EQL lacks the source filter {field} = {value!r} ({source})")
    return failures


def _filter_present(text, field, value, esql):
    values = value if isinstance(value, list) else [value]
    lits = [json.dumps(v) if isinstance(v, str) else str(v) for v in values]
    f = re.escape(field)
    # ES|QL tests membership on ECS array fields (event.category, event.type): each value as
    # `CONCAT(",", MV_CONCAT(f, ","), ",") LIKE "*,v,*"`.
    member = [rf'CONCAT\(",", MV_CONCAT\({f}, ","\), ","\) LIKE "\*,{re.escape(str(v))},\*"'
              for v in values]
    if esql and all(re.search(m, text) for m in member):
        return True
    if len(lits) == 1:
        return re.search(rf"(?<![\w.]){f}\s*==\s*{re.escape(lits[0])}", text) is not None or \
            re.search(rf"(?<![\w.]){f}\s+(IN|in)\s*\(\s*{re.escape(lits[0])}\s*\)", text) is not None
    body = r"\s*,\s*".join(re.escape(x) for x in lits)
    return re.search(rf"(?<![\w.]){f}\s+(IN|in)\s*\(\s*{body}\s*\)", text) is not None


# ================================================================ shrinking and reporting

def strip_event(ev):
    return {k: v for k, v in ev.items() if k != ID_FIELD}


def shifted(case, slot):
    """A correlation case moved into another slot (same offsets from its last event)."""
    last = max(e["@timestamp"] for e in case)
    new_last = BASE_MS + slot * SLOT_MS
    return [dict(e, **{"@timestamp": e["@timestamp"] - last + new_last}) for e in case]


class Shrinker:
    """Shrinks a disagreement (rule, event or case, engine) while it persists: each round
    judges all one-step-smaller candidates in one batch and keeps the first that still
    disagrees the same way."""

    def __init__(self, env, factory, deadline, max_rounds=40):
        self.env, self.factory, self.max_rounds = env, factory, max_rounds
        self.deadline = deadline  # time.monotonic() after which no new round starts
        self.count = 0

    def judge(self, candidates, engine):
        """candidates: [(rule, events)] -> [Pair or None] for the engine, event/case 0."""
        rules = []
        for k, (rule, events) in enumerate(candidates):
            self.count += 1
            r = rule.copy(name=f"s{self.count:05d}")
            r.id = str(uuid.UUID(int=random.Random(self.count).getrandbits(128), version=4))
            if r.kind == "single":
                r.events = [events]
            else:
                self.factory.slot += 1
                r.slots, r.events = [self.factory.slot], [shifted(events, self.factory.slot)]
            rules.append(r)
        b = run_batch(self.env, rules, f"shrink-{self.count:05d}")
        found = {p.rule.name: p for p in b.pairs if p.engine == engine}
        return [found.get(r.name) for r in rules], b, rules

    def persists(self, pair, status):
        return pair is not None and pair.status == status

    def shrink(self, pair):
        rule, engine, status = pair.rule, pair.engine, pair.status
        events = rule.events[pair.index]
        rounds = 0
        while rounds < self.max_rounds and time.monotonic() < self.deadline:
            rounds += 1
            cands = []
            for k, cond in enumerate(rule.conds()):
                for smaller in cond_shrinks(cond):
                    cands.append((self.with_cond(rule, k, smaller), events))
            if isinstance(events, list):
                if len(events) > 1:
                    cands += [(rule, events[:i] + events[i + 1:]) for i in range(len(events))]
                for i, ev in enumerate(events):
                    for key in ev:
                        if key not in ("@timestamp", "event.source"):
                            cands.append((rule, events[:i] + [{k: v for k, v in ev.items() if k != key}] + events[i + 1:]))
            else:
                cands += [(rule, {k: v for k, v in events.items() if k != key}) for key in events]
            if not cands:
                break
            seen, unique = set(), []
            for r, ev in cands:
                sig = (rules_text([r.copy(name="x")]), json.dumps(ev, sort_keys=True))
                if sig not in seen:
                    seen.add(sig)
                    unique.append((r, ev))
            pairs, _, _ = self.judge(unique[:150], engine)
            hit = next((i for i, p in enumerate(pairs) if self.persists(p, status)), None)
            if hit is None:
                break
            rule, events = unique[hit]
        pairs, b, rules = self.judge([(rule, events)], engine)
        return rules[0], events, b

    @staticmethod
    def with_cond(rule, k, cond):
        if rule.kind == "seq":
            steps = list(rule.steps)
            steps[k] = (steps[k][0], cond)
            return rule.copy(steps=steps)
        return rule.copy(cond=cond)


def print_repro(rule, events, b, engine, index=0):
    r = rule
    print(f"  rule ({r.kind}):")
    print("    " + rules_text([r]).strip().replace("\n", "\n    "))
    if isinstance(events, list):
        print("  events (one case, in time order):")
        for ev in events:
            print("    " + json.dumps(strip_event(ev), ensure_ascii=False))
    else:
        print("  event: " + json.dumps(dict({"event.source": r.source}, **events), ensure_ascii=False))
    if r.kind == "first":
        print(f"  (detc hunt's input starts with an event of the source at {BASE_MS - 86_400_000}, "
              f"more than the lookback before the case: {{\"@timestamp\": {BASE_MS - 86_400_000}, "
              f"\"event.source\": \"{r.source}\"}}, so a whole lookback of data lies behind the case)")
    pairs = [p for p in b.pairs if p.rule.name == r.name and p.index == index]
    print(f"  detc hunt: matched={b.hunt.get((r.name, index))}")
    for p in pairs:
        o = p.outcome
        what = f"matched={o.verdict}" if o.status in ("agree", "disagree") else f"{o.status}: {o.skip_id or ''} {o.detail}"
        adj = f" (adjusted: {', '.join(o.adjusted)})" if o.adjusted else ""
        print(f"  {engines.ENGINE_NAMES[p.engine]}: {what}{adj}")
        label = "document" if p.engine == "eql" else "table"
        print(f"    {label}: {json.dumps(o.built, ensure_ascii=False, default=str)}")
    for language in ("kql", "eql", "esql", "spl"):
        q = b.queries.get((r.name, language))
        if q is not None:
            print(f"  {language}:\n    " + q.replace("\n", "\n    "))


# ================================================================ the run

class Figures:
    def __init__(self):
        self.rules = collections.Counter()
        self.compiled = collections.Counter()
        self.refused = collections.Counter()
        self.undeployable = collections.Counter()
        self.check_errors = 0
        self.pairs = {e: collections.Counter() for e in ("kql", "eql")}
        self.skips = collections.Counter()
        self.adjusted = collections.Counter()
        self.operators = collections.Counter()
        self.esql_checked = 0
        self.esql_failed = 0
        self.batches = 0
        self.hunted = 0

    def add(self, b):
        self.batches += 1
        for r in b.rules:
            self.rules[r.kind] += 1
            for c in r.conds():
                for a in atoms(c):
                    self.operators[a.opname()] += 1
        for (rule, language) in b.queries:
            self.compiled[language] += 1
        for r in b.rules:
            for target, languages in (("splunk", ("spl",)), ("sentinel", ("kql",)), ("elastic", ("eql", "esql"))):
                if any((r.name, lang) in b.queries for lang in languages):
                    self.compiled[target] += 1
        for rule, refused in b.refused.items():
            for target, code in refused.items():
                self.refused[(target, code)] += 1
        for rule, und in b.undeployable.items():
            for target, code in und.items():
                self.undeployable[(target, code)] += 1
        self.check_errors += len(b.check_errors)
        self.hunted += len(b.hunt)
        for p in b.pairs:
            self.pairs[p.engine][p.status] += 1
            if p.status == "skip":
                self.skips[(p.engine, p.outcome.skip_id)] += 1
            for a in p.outcome.adjusted:
                self.adjusted[(p.engine, a)] += 1
        self.esql_checked += sum(1 for r in b.rules if (r.name, "esql") in b.queries or (r.name, "eql") in b.queries)
        self.esql_failed += len({name for name, _ in b.esql})

    def print(self, elapsed):
        total = sum(self.rules.values())
        print("\n== figures")
        print(f"rules generated: {total} ({', '.join(f'{k} {v}' for k, v in sorted(self.rules.items()))}) "
              f"in {self.batches} batches")
        c = self.compiled
        print(f"rules compiled per target: splunk {c['splunk']} (SPL), sentinel {c['sentinel']} (KQL), "
              f"elastic {c['elastic']} (EQL {c['eql']}, ES|QL {c['esql']}: EQL cannot aggregate, "
              f"ES|QL cannot sequence)")
        if self.refused:
            print("refused by a target (excluded there): " + ", ".join(
                f"{t} {c} x{n}" for (t, c), n in sorted(self.refused.items())))
        if self.undeployable:
            print("not deployable (E06xx; still compiled and judged): " + ", ".join(
                f"{t} {c} x{n}" for (t, c), n in sorted(self.undeployable.items())))
        print(f"check failures (generator or detc bugs): {self.check_errors}")
        print(f"detc hunt verdicts: {self.hunted}")
        for engine, label in (("kql", "hunt vs KQL (duckdb-kql)"), ("eql", "hunt vs EQL (eql + Elasticsearch semantics)")):
            c = self.pairs[engine]
            judged = c["agree"] + c["disagree"]
            print(f"{label}: {judged} pairs judged, {c['agree']} agree, {c['disagree']} disagree, "
                  f"{c['error']} errors, {c['skip']} skipped")
        if self.skips:
            print("skips by reason: " + ", ".join(f"{e} {s} {n}" for (e, s), n in sorted(self.skips.items())))
        if self.adjusted:
            print("oracle adjustments that decided a verdict: " + ", ".join(
                f"{e} {a} {n}" for (e, a), n in sorted(self.adjusted.items())))
        print(f"ES|QL/EQL source-filter checks: {self.esql_checked} rules, {self.esql_failed} failed")
        print("operators generated: " + ", ".join(f"{k} {v}" for k, v in sorted(self.operators.items())))
        n = self.pairs["kql"]["agree"] + self.pairs["kql"]["disagree"] + self.pairs["eql"]["agree"] + self.pairs["eql"]["disagree"]
        print(f"time: {elapsed:.1f} s ({n / max(elapsed, 1e-9):.0f} judged pairs/s)")


def selftest(env, b, flipped):
    """With detc's verdicts flipped, every pair an engine judged must change from agreeing to
    disagreeing (or back): the harness reports whatever detc says that the engine does not.
    And known-bad ES|QL and EQL queries must fail the source-filter check."""
    missed = 0
    before = {(p.rule.name, p.index, p.engine): p.status for p in b.pairs}
    for engine in ("kql", "eql"):
        judged = [p for p in flipped if p.engine == engine and p.status in ("agree", "disagree")]
        slipped = [p for p in judged if before.get((p.rule.name, p.index, engine)) == p.status]
        for p in slipped[:5]:
            print(f"SELFTEST a flipped verdict passed the {engines.ENGINE_NAMES[engine]}: {p.rule.name} {p.index}")
        print(f"self-test {engines.ENGINE_NAMES[engine]}: {len(judged) - len(slipped)} of {len(judged)} "
              f"flipped verdicts reported")
        missed += len(slipped) + (0 if judged else 1)
    probe = Rule("probe", "single", source="process_start", cond=None)
    bad = {("probe", "esql"): 'FROM logs-endpoint.events.process-*\n| WHERE process.name == "x"',
           ("probe", "eql"): 'any where process.name == "x"'}
    found = source_filter_check(env, probe, bad)
    print(f"self-test source filters: {len(found)} of 4 known-bad filters reported")
    return missed + (0 if len(found) == 4 else 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--minutes", type=float, default=2.0, help="keep generating batches until this is spent")
    ap.add_argument("--rules-per-batch", type=int, default=150)
    ap.add_argument("--events-per-rule", type=int, default=30)
    ap.add_argument("--keep", metavar="DIR", help="keep every batch's rules, events and queries here")
    ap.add_argument("--repo", default=os.path.dirname(HERE))
    ap.add_argument("--detc", help="the detc binary (default: ROOT/target/release/detc)")
    ap.add_argument("--kql-python", default=os.path.join(HERE, ".deps", "kql-venv", "bin", "python"))
    ap.add_argument("--shrink", type=int, default=8, help="shrink and print at most this many disagreements")
    ap.add_argument("--shrink-minutes", type=float, default=2.0, help="stop shrinking after this long")
    ap.add_argument("--no-selftest", action="store_true")
    ap.add_argument("--forms", default="single,agg,seq,first",
                    help="the rule forms to generate (comma-separated), in their usual proportions")
    args = ap.parse_args()

    started = time.monotonic()
    work = args.keep or tempfile.mkdtemp(prefix="detc-differential-")
    os.makedirs(work, exist_ok=True)
    env = Env(args.repo, work, args.kql_python, args.detc or os.path.join(args.repo, "target", "release", "detc"))
    rng = random.Random(args.seed)
    factory = RuleFactory(env.catalog, rng, args.events_per_rule, args.forms.split(","))
    figures = Figures()
    failing, check_failures, esql_failures = [], [], []
    status = 0
    print(f"differential: seed {args.seed}, {args.minutes} min, {args.rules_per_batch} rules per batch, "
          f"{len(env.catalog.sources)} sources; work in {work}")
    try:
        n = 0
        while n == 0 or time.monotonic() - started < args.minutes * 60:
            rules = [factory.rule() for _ in range(args.rules_per_batch)]
            b = run_batch(env, rules, f"batch-{n:04d}")
            if n == 0 and not args.no_selftest:
                flipped = run_batch(env, rules, "selftest", flip=True)
                if selftest(env, b, flipped.pairs):
                    print("differential: the self-test failed: the harness would not report a disagreement")
                    status = 1
            figures.add(b)
            failing += [(b, p) for p in b.pairs if p.status in ("disagree", "error")]
            check_failures += [(b, name, ds) for name, ds in b.check_errors.items()]
            esql_failures += [(b, name, msg) for name, msg in b.esql]
            n += 1
            print(f"batch {n}: {len(rules)} rules, {sum(p.status in ('agree', 'disagree') for p in b.pairs)} pairs "
                  f"judged, {sum(p.status in ('disagree', 'error') for p in b.pairs)} disagreements "
                  f"({time.monotonic() - started:.0f} s)", flush=True)
        judged_time = time.monotonic() - started

        for b, name, ds in check_failures[:10]:
            rule = next(r for r in b.rules if r.name == name) if name != "?" else None
            print(f"\nCHECK FAILURE (a generator bug, or a detc bug): rule {name}")
            for dg in ds:
                print(f"  {dg['code']} line {dg['line']}:{dg['column']}: {dg['message']}"
                      + (f" (hint: {dg['hint']})" if dg.get("hint") else ""))
            if rule:
                print("    " + rules_text([rule]).strip().replace("\n", "\n    "))
        if esql_failures:
            print(f"\nSOURCE FILTER failures: {len(esql_failures)} in {len({(id(b), n) for b, n, _ in esql_failures})} rules")
            shown = collections.Counter()
            for b, name, msg in esql_failures:
                key = re.sub(r"\(.*", "", msg)
                shown[key] += 1
                if shown[key] <= 3:
                    print(f"FAIL source filter {name}: {msg}")
                    for language in ("eql", "esql"):
                        q = b.queries.get((name, language))
                        if q:
                            print(f"  {language}:\n    " + q.replace("\n", "\n    "))
        if failing:
            print(f"\nDISAGREEMENTS: {len(failing)} pairs in {len({(id(b), p.rule.name) for b, p in failing})} rules")
            groups = collections.OrderedDict()
            for b, p in failing:
                o = p.outcome
                sig = (p.engine, o.status, p.rule.kind, o.case["matched"], o.verdict,
                       tuple(sorted({a.op for c in p.rule.conds() for a in atoms(c)})))
                groups.setdefault(sig, []).append((b, p))
            shrinker = Shrinker(env, factory, time.monotonic() + args.shrink_minutes * 60)
            for k, (sig, members) in enumerate(groups.items()):
                b, p = members[0]
                o = p.outcome
                print(f"\nDISAGREEMENT {k + 1}: {engines.ENGINE_NAMES[p.engine]} vs detc hunt on {p.rule.kind} rule "
                      f"{p.rule.name} ({o.case['case']}); {len(members)} similar pairs")
                if o.status == "error":
                    print(f"  engine error: {o.detail}")
                if k < args.shrink:
                    rule, events, sb = shrinker.shrink(p)
                    again = [q for q in sb.pairs if q.rule.name == rule.name and q.engine == p.engine]
                    if again and again[0].status == o.status:
                        print("  shrunk to:")
                        print_repro(rule, events, sb, p.engine)
                    else:
                        print("  (judged alone, in a batch of its own, it agrees: the verdict depends on the "
                              "batch's other cases, e.g. on where detc hunt starts a first-seen rule's warm-up)")
                        print_repro(p.rule, p.rule.events[p.index], b, p.engine, p.index)
                else:
                    print_repro(p.rule, p.rule.events[p.index], b, p.engine, p.index)
        figures.print(judged_time)
        print(f"total time with shrinking: {time.monotonic() - started:.1f} s")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if failing or check_failures or esql_failures or status:
        print(f"differential: FAILED ({len(failing)} disagreements, {len(check_failures)} check failures, "
              f"{len(esql_failures)} source-filter failures{', self-test failed' if status else ''})")
        return 1
    print("differential: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
