#!/usr/bin/env python3
"""Generate a large, valid, deterministic detc rule tree for benchmarking.

Usage: gen_rules.py SCHEMA_YAML OUT_DIR [--rules N] [--folders N] [--seed N]

Writes OUT_DIR/<area>/<topic>/<rule>.det (one single-event rule per file, like the
shipped library) and OUT_DIR/lists/*.det (shared `list` items). Sources and fields
come only from targets/schema.yaml, read by a tiny hand-written reader; every
operator is chosen to fit the field's type.

Each rule's `where` is an `and` of clauses built so that a known event satisfies
every clause: `test matches` is that event, `test misses` is the same event with
one clause flipped to false. Python stdlib only; output depends only on --seed.
"""

import argparse
import os
import random
import re
import sys
import uuid

ABSENT = object()  # "leave the field out of the test event"


# --------------------------------------------------------------------------- schema

def read_schema(path):
    """Read `sources: NAME: fields: FIELD: TYPE` from schema.yaml (no PyYAML)."""
    sources = {}
    cur = None
    in_fields = False
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.split("#", 1)[0].rstrip()
            if not line.strip():
                continue
            indent = len(line) - len(line.lstrip(" "))
            key, _, val = line.strip().partition(":")
            val = val.strip()
            if indent == 2:
                cur = key
                sources[cur] = {}
                in_fields = False
            elif indent == 4 and cur is not None:
                in_fields = key == "fields"
            elif indent == 6 and cur is not None and in_fields:
                sources[cur][key] = val
    types = {"string", "number", "ip", "boolean"}
    for src, fields in sources.items():
        for fld, ty in fields.items():
            if ty not in types:
                sys.exit(f"gen_rules: {path}: {src}.{fld}: unexpected type {ty!r}")
    if not sources:
        sys.exit(f"gen_rules: {path}: no sources found")
    return sources


# --------------------------------------------------------------------------- vocabularies

WORDS = """alpha bravo cobalt delta ember falcon garnet harbor indigo juniper kestrel
lumen marble nimbus onyx pepper quartz raven sierra tundra umber velvet willow xenon
yarrow zephyr anchor beacon cipher drift echo flint glacier helix ion jade karma lotus
meteor nova orbit prism quill ridge summit tango ultra vertex wander yonder""".split()

EXES = """anydesk.exe teamviewer.exe rustdesk.exe splashtop.exe screenconnect.exe
powershell.exe cmd.exe rundll32.exe regsvr32.exe mshta.exe wscript.exe cscript.exe
certutil.exe bitsadmin.exe curl.exe wget.exe python.exe node.exe ngrok.exe
cloudflared.exe tailscaled.exe zerotier-one.exe frpc.exe chisel.exe plink.exe
putty.exe winscp.exe rclone.exe 7z.exe winrar.exe chrome.exe msedge.exe firefox.exe
explorer.exe svchost.exe outlook.exe teams.exe slack.exe zoom.exe""".split()

USERS = """jdoe asmith bwong cgarcia dkim epatel fnguyen gmuller hli ijones kchen
lrossi mkhan nsato okoroma psilva qadams rlopez stanaka tbrown""".split()

COUNTRIES = "US CA GB DE FR NL SE PL UA RU CN KP KR JP IN BR MX SG AE VN".split()

TLDS = "com net org io co dev cloud app xyz me".split()

ACTIONS = """created modified deleted renamed opened executed connected disconnected
hire terminate ship_to_changed bank_account_changed added removed set_value
logon logoff started stopped""".split()

PROTOCOLS = "tcp udp icmp sctp quic".split()
METHODS = "GET POST PUT DELETE HEAD PATCH OPTIONS CONNECT".split()
DEVICE_TYPES = "USB HIDClass Keyboard Mouse Monitor DiskDrive Camera Bluetooth".split()
LOGON_TYPES = "Interactive RemoteInteractive Network Batch Service Unlock CachedInteractive".split()
OUTCOMES = "success failure unknown".split()
DIRECTIONS = "inbound outbound internal".split()
COMPANIES = "Microsoft Google Astrill Cloudflare Tailscale AnyDesk Zoom Mozilla Oracle Adobe".split()
CIDRS_PRIVATE = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fd00::/8"]

ATTACK = """T1078 T1078.004 T1090 T1090.003 T1133 T1200 T1219 T1219.002 T1021.001
T1059.001 T1059.003 T1070.003 T1071.001 T1105 T1110 T1114 T1530 T1539 T1555.003
T1567.002 T1572 T1583 T1585 T1586 T1589 TA0001 TA0010 TA0011""".split()
# A tactic of each technique above (targets/attack.tsv), so generated lists pass E0115.
TACTIC_OF = {
    "T1078": "TA0001", "T1090": "TA0011", "T1133": "TA0001", "T1200": "TA0001",
    "T1219": "TA0011", "T1021": "TA0008", "T1059": "TA0002", "T1070": "TA0005",
    "T1071": "TA0011", "T1105": "TA0011", "T1110": "TA0006", "T1114": "TA0009",
    "T1530": "TA0009", "T1539": "TA0006", "T1555": "TA0006", "T1567": "TA0010",
    "T1572": "TA0011", "T1583": "TA0042", "T1585": "TA0042", "T1586": "TA0042",
    "T1589": "TA0043",
}

SEVERITIES = "informational low medium high critical".split()
STATUSES = "experimental test stable deprecated".split()


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.lists = {}  # name -> (field kind, [values])

    # ---- realistic values per field -------------------------------------------------
    def word(self):
        return self.r.choice(WORDS)

    def domain(self):
        return f"{self.word()}-{self.r.randint(1, 99)}.{self.word()}.{self.r.choice(TLDS)}"

    def winpath(self, name=None):
        name = name or self.r.choice(EXES)
        base = self.r.choice([
            r"C:\Program Files\{w}", r"C:\Program Files (x86)\{w}",
            r"C:\Users\{u}\AppData\Local\{w}", r"C:\Users\{u}\AppData\Roaming\{w}",
            r"C:\Windows\System32", r"C:\ProgramData\{w}", r"C:\Users\{u}\Downloads",
        ])
        return base.format(w=self.word().capitalize(), u=self.r.choice(USERS)) + "\\" + name

    def kind_of(self, field):
        """A value family for a string field, from its name."""
        f = field
        if f.endswith(("process.name", "parent.name", "original_file_name")):
            return "exe"
        if f.endswith(("executable", "file.path")):
            return "path"
        if f.endswith("command_line"):
            return "cmd"
        if f.endswith(("domain", "question.name")):
            return "domain"
        if f == "url.full":
            return "url"
        if f.endswith("user.name"):
            return "user"
        if f.endswith("host.name"):
            return "host"
        if "country_iso_code" in f:
            return "country"
        if "hash" in f or f.endswith("serial_number"):
            return "hex"
        if f.endswith("event.action"):
            return "action"
        if f.endswith("address"):
            return "email"
        if f.startswith("registry."):
            return "registry"
        if f == "network.transport":
            return "proto"
        if f == "http.request.method":
            return "method"
        if f == "device.type":
            return "devtype"
        if f == "logon.type":
            return "logontype"
        if f == "event.outcome":
            return "outcome"
        if f == "email.direction":
            return "direction"
        if f.endswith(("company", "product", "organization.name", "vendor.name", "bank.name",
                       "subject_name")):
            return "org"
        if f.endswith(("vendor.id", "product.id")):
            return "hexid"
        if f == "device.id":
            return "devid"
        if f.endswith("postal_code"):
            return "postal"
        if f == "file.name":
            return "exe"
        if f == "user_agent.original":
            return "ua"
        return "text"

    def value(self, kind):
        r = self.r
        if kind == "exe":
            return r.choice(EXES)
        if kind == "path":
            return self.winpath()
        if kind == "cmd":
            exe = r.choice(EXES)
            args = " ".join(r.choice([f"--{self.word()}", f"-{self.word()[0]}", self.word(),
                                      f"--{self.word()}={self.word()}", f"/{self.word()}"])
                            for _ in range(r.randint(1, 4)))
            return f"{exe} {args}"
        if kind == "domain":
            return self.domain()
        if kind == "url":
            return f"https://{self.domain()}/{self.word()}/{self.word()}?id={r.randint(1, 9999)}"
        if kind == "user":
            return r.choice(USERS) + r.choice(["", "", "@corp.example", f"{r.randint(1, 9)}"])
        if kind == "host":
            return f"{r.choice(['LT', 'WS', 'SRV', 'VDI'])}-{r.randint(1000, 9999)}"
        if kind == "country":
            return r.choice(COUNTRIES)
        if kind == "hex":
            return "".join(r.choice("0123456789abcdef") for _ in range(r.choice([8, 16, 32])))
        if kind == "action":
            return r.choice(ACTIONS)
        if kind == "email":
            return f"{r.choice(USERS)}@{self.word()}.{r.choice(TLDS)}"
        if kind == "registry":
            return (r"HKEY_CURRENT_USER\Software\{}\{}".format(self.word().capitalize(),
                                                              self.word().capitalize()))
        if kind == "proto":
            return r.choice(PROTOCOLS)
        if kind == "method":
            return r.choice(METHODS)
        if kind == "devtype":
            return r.choice(DEVICE_TYPES)
        if kind == "logontype":
            return r.choice(LOGON_TYPES)
        if kind == "outcome":
            return r.choice(OUTCOMES)
        if kind == "direction":
            return r.choice(DIRECTIONS)
        if kind == "org":
            return f"{r.choice(COMPANIES)} {self.word().capitalize()}"
        if kind == "hexid":
            return "".join(r.choice("0123456789abcdef") for _ in range(4))
        if kind == "devid":
            return "USB\\VID_{}&PID_{}\\{}".format(self.value("hexid").upper(),
                                                    self.value("hexid").upper(),
                                                    self.value("hex").upper())
        if kind == "postal":
            return f"{r.randint(10000, 99999)}"
        if kind == "ua":
            return f"Mozilla/5.0 ({self.word()}) {self.word().capitalize()}/{r.randint(1, 130)}.0"
        return f"{self.word()} {self.word()}"

    def other_value(self, kind, avoid, pred=None):
        """A value of the same family that is not in `avoid` (case-insensitively) and
        satisfies `pred`; falls back to a made-up one."""
        low = {a.lower() for a in avoid}
        for _ in range(50):
            v = self.value(kind)
            if v.lower() not in low and (pred is None or pred(v)):
                return v
        for _ in range(200):
            v = f"zz{self.r.randint(0, 10**9)}q"
            if pred is None or pred(v):
                return v
        raise RuntimeError("no other value")

    def recase(self, s):
        """Case-insensitive tests must still match a value with different case."""
        c = self.r.random()
        if c < 0.2:
            return s.upper()
        if c < 0.4:
            return s.capitalize()
        return s

    def fragment(self, v):
        """A substring of v worth testing for (a token, or a run of 3-8 chars)."""
        toks = [t for t in re.split(r"[\\/ .=:?&@-]+", v) if len(t) >= 3]
        if toks and self.r.random() < 0.7:
            return self.r.choice(toks)
        if len(v) <= 3:
            return v
        n = self.r.randint(3, min(8, len(v)))
        i = self.r.randint(0, len(v) - n)
        return v[i:i + n]


# --------------------------------------------------------------------------- literals

def q(s):
    """An escaped "..." string literal."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def raw(s):
    """A raw '...' string literal (no escapes; '' is one quote)."""
    return "'" + s.replace("'", "''") + "'"


def lit(s):
    """Windows-ish values with backslashes read better raw, like the shipped rules."""
    return raw(s) if "\\" in s else q(s)


def qlist(vals, fmt=lit):
    return "[" + ", ".join(fmt(v) for v in vals) + "]"


REGEX_META = set(r"\.^$|?*+()[]{}")


def re_lit(s):
    return "".join("\\" + c if c in REGEX_META else c for c in s)


# --------------------------------------------------------------------------- terms
# A term tests one field. It returns (text, sat, unsat): the field's value in an event
# that makes the term true / false (ABSENT = leave the field out).

class Terms:
    def __init__(self, g):
        self.g = g
        self.r = g.r

    def string(self, field):
        g, r = self.g, self.r
        kind = g.kind_of(field)
        op = r.choices(
            ["eq", "ne", "in", "inlist", "notin", "contains", "startswith", "endswith",
             "like", "matches", "exists"],
            weights=[14, 3, 10, 5, 3, 14, 10, 10, 8, 10, 5])[0]
        cased = r.random() < 0.15 and op in ("eq", "contains", "startswith", "endswith")
        cw = "cased " if cased else ""
        v = g.value(kind)
        if op in ("eq", "ne"):
            sat = v if cased else g.recase(v)
            unsat = g.other_value(kind, [v])
            if cased and v.swapcase() != v and r.random() < 0.5:
                unsat = v.swapcase()
            text = f"{field} == {cw}{lit(v)}"
            if op == "ne":
                return f"{field} != {lit(v)}", unsat, sat
            return text, sat, unsat
        if op in ("in", "notin"):
            vals = list(dict.fromkeys(g.value(kind) for _ in range(r.randint(2, 6))))
            sat = g.recase(r.choice(vals))
            unsat = g.other_value(kind, vals)
            if op == "notin":
                return f"{field} not in {qlist(vals)}", unsat, sat
            return f"{field} in {qlist(vals)}", sat, unsat
        if op == "inlist":
            name, vals = self.list_for(kind)
            sat = g.recase(r.choice(vals))
            unsat = g.other_value(kind, vals)
            return f"{field} in ${name}", sat, unsat
        if op in ("contains", "startswith", "endswith"):
            n = 1 if r.random() < 0.7 else r.randint(2, 4)
            pats = []
            for _ in range(n):
                w = g.value(kind)
                pats.append(w if op != "contains" else g.fragment(w))
            pats = list(dict.fromkeys(pats))
            p = r.choice(pats)
            if op == "contains":
                sat = g.word() + p + g.word()
            elif op == "startswith":
                sat = p + g.word()
            else:
                sat = g.word() + p
            if not cased:
                sat = g.recase(sat)
            low = [x.lower() for x in pats] if not cased else pats

            def hit(s):
                s2 = s.lower() if not cased else s
                if op == "contains":
                    return any(x in s2 for x in low)
                if op == "startswith":
                    return any(s2.startswith(x) for x in low)
                return any(s2.endswith(x) for x in low)

            unsat = g.other_value(kind, [], pred=lambda s: not hit(s))
            arg = lit(pats[0]) if len(pats) == 1 else qlist(pats)
            return f"{field} {op} {cw}{arg}", sat, unsat
        if op == "like":
            # Whole-value wildcard built from a real value: replace a run with `*` and
            # maybe one character with `?`. Raw literal: every * and ? is a wildcard.
            v = v.replace("*", "x").replace("?", "x")
            if len(v) < 4:
                v = v + g.word()
            i = r.randint(1, len(v) - 2)
            j = r.randint(i, min(len(v) - 1, i + 12))
            pat = v[:i] + "*" + v[j:]
            if r.random() < 0.5 and len(pat) > 3:
                k = r.choice([x for x in range(len(pat)) if pat[x] != "*"])
                pat = pat[:k] + "?" + pat[k + 1:]
            rx = re.compile("^" + "".join(".*" if c == "*" else "." if c == "?" else re.escape(c)
                                          for c in pat) + "$", re.I | re.S)
            sat = g.recase(v)
            assert rx.match(sat), (pat, sat)
            unsat = g.other_value(kind, [v], pred=lambda s: not rx.match(s))
            return f"{field} like {raw(pat)}", sat, unsat
        if op == "matches":
            pat, sat = self.regex(kind, v)
            rx = re.compile(pat, re.I)
            assert rx.search(sat), (pat, sat)
            unsat = g.other_value(kind, [], pred=lambda s: not rx.search(s))
            return f"{field} matches {raw(pat)}", sat, unsat
        # exists
        return f"exists {field}", v, ABSENT

    def regex(self, kind, v):
        """A regex in the portable subset (literals, classes, .*, +, {m,n}, ^/$ at the
        ends) and a string it matches."""
        g, r = self.g, self.r
        # file-name shaped patterns only for file-name shaped fields
        style = r.randint(0, 4) if kind in ("exe", "path", "cmd") else r.randint(1, 4)
        w1, w2 = g.word(), g.word()
        if style == 0:  # ^prefix[0-9]{m,n}\.ext$
            m = r.randint(1, 3)
            n = m + r.randint(0, 3)
            digits = "".join(str(r.randint(0, 9)) for _ in range(n))
            ext = r.choice(["exe", "dll", "ps1", "com", "net"])
            return f"^{re_lit(w1)}[0-9]{{{m},{n}}}\\.{ext}$", f"{w1}{digits}.{ext}"
        if style == 1:  # token.*token
            return f"{re_lit(w1)}.*{re_lit(w2)}", f"x{w1}-{g.word()}-{w2}y"
        if style == 2:  # [a-z]+-token\d{1,3}\.
            return (f"[a-z]+-{re_lit(w1)}\\d{{1,3}}\\.{re_lit(w2)}",
                    f"{g.word()}-{w1}{r.randint(0, 999)}.{w2}.com")
        if style == 3:  # anchored suffix from a real value
            frag = g.fragment(v)
            return f"[a-z0-9_]+{re_lit(frag)}$", f"{g.word()}{frag}"
        # ^prefix with a class + `+`
        frag = v[: r.randint(2, min(6, len(v)))] if len(v) >= 2 else v
        return f"^{re_lit(frag)}[a-z0-9 ._-]+", f"{frag}{g.word()}"

    def list_for(self, kind):
        """Reuse or create a shared `list` of this value family."""
        g, r = self.g, self.r
        same = [n for n, (k, _) in g.lists.items() if k == kind]
        if same and (len(same) >= 4 or r.random() < 0.7):
            name = r.choice(same)
            return name, g.lists[name][1]
        name = f"bench_{kind}_{len(g.lists):03d}"
        vals = list(dict.fromkeys(g.value(kind) for _ in range(r.randint(3, 12))))
        g.lists[name] = (kind, vals)
        return name, vals

    def number(self, field):
        r = self.r
        if field.endswith("port"):
            lo, hi = 1, 65535
        elif field.endswith("tenure_days"):
            lo, hi = -30, 3650
        elif field.endswith("as.number"):
            lo, hi = 1, 400000
        elif field.endswith("bytes"):
            lo, hi = 0, 10**8
        else:
            lo, hi = 1, 100000
        n = r.randint(lo + 10, hi - 10)
        op = r.choice([">", ">=", "<", "<=", "==", "in"])
        if op == "in" and field.endswith("port"):
            vals = sorted({r.choice([22, 80, 443, 3389, 5900, 5938, 6568, 7070, 8080, 8443])
                           for _ in range(r.randint(2, 4))})
            bad = next(p for p in range(1, 100) if p not in vals)
            return f"{field} in [{', '.join(map(str, vals))}]", r.choice(vals), bad
        if op == "in":
            op = "=="
        if op in (">", ">="):
            return f"{field} {op} {n}", n + r.randint(1, 5), n - r.randint(1, 5)
        if op in ("<", "<="):
            return f"{field} {op} {n}", n - r.randint(1, 5), n + r.randint(1, 5)
        return f"{field} == {n}", n, n + 1

    def ip(self, field):
        r = self.r
        style = r.randint(0, 3)
        if style == 0:  # private ranges
            k = r.randint(2, len(CIDRS_PRIVATE))
            nets = CIDRS_PRIVATE[:k]
            sat = f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"
            unsat = f"203.0.113.{r.randint(1, 254)}"
        elif style == 1:  # one documentation / hosting /24 and a /48
            a, b = r.randint(11, 99), r.randint(0, 255)
            nets = [f"{a}.{b}.{r.randint(0, 255)}.0/24",
                    f"2001:db8:{r.randint(0, 0xffff):x}::/48"]
            pre = nets[0].rsplit(".", 1)[0]
            sat = f"{pre}.{r.randint(1, 254)}"
            unsat = f"{a + 100}.{b}.0.1"
        elif style == 2:  # a host
            host = f"{r.randint(11, 99)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"
            return f"{field} == {q(host)}", host, "198.51.100.7"
        else:
            a = r.randint(11, 99)
            nets = [f"{a}.0.0.0/8"]
            sat = f"{a}.1.2.3"
            unsat = f"{a + 100}.1.2.3"
        return f"{field} in cidr({', '.join(q(n) for n in nets)})", sat, unsat

    def boolean(self, field):
        b = self.r.random() < 0.5
        return f"{field} == {'true' if b else 'false'}", b, (not b)

    def term(self, field, ty):
        return {"string": self.string, "number": self.number, "ip": self.ip,
                "boolean": self.boolean}[ty](field)


# --------------------------------------------------------------------------- rules

def build_condition(t, fields, n_leaves):
    """An `and` of clauses over distinct fields; returns (lines, matches, misses)."""
    r = t.r
    picked = r.sample(fields, n_leaves)
    clauses = []  # (text, {field: sat}, {field: unsat})
    i = 0
    while i < len(picked):
        left = len(picked) - i
        shape = r.choices(["plain", "not", "or", "notor"], weights=[60, 15, 20, 5])[0]
        if shape in ("or", "notor") and left >= 2:
            k = 2 if left == 2 or r.random() < 0.8 else 3
            parts = [t.term(f, ty) for f, ty in picked[i:i + k]]
            names = [f for f, _ in picked[i:i + k]]
            i += k
            inner = " or ".join(p[0] for p in parts)
            j = r.randrange(k)  # this part is true in the matching event
            sat_or = {n: (p[1] if x == j else p[2]) for x, (n, p) in enumerate(zip(names, parts))}
            unsat_or = {n: p[2] for n, p in zip(names, parts)}
            if shape == "or":
                clauses.append((f"({inner})", sat_or, unsat_or))
            else:
                clauses.append((f"not ({inner})", unsat_or, sat_or))
            continue
        (f, ty) = picked[i]
        i += 1
        text, sat, unsat = t.term(f, ty)
        if shape == "not":
            clauses.append((f"not {text}", {f: unsat}, {f: sat}))
        else:
            clauses.append((text, {f: sat}, {f: unsat}))
    matches = {}
    for _, s, _ in clauses:
        matches.update(s)
    flip = r.randrange(len(clauses))
    misses = dict(matches)
    misses.update(clauses[flip][2])
    lines = [clauses[0][0]] + ["and " + c[0] for c in clauses[1:]]
    return lines, matches, misses


def test_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return lit(v)


def test_block(kind, event, fields_all, used, g):
    items = [(f, v) for f, v in event.items() if v is not ABSENT]
    if not items:  # an event needs at least one field: add one the rule does not test
        spare = [(f, ty) for f, ty in fields_all if f not in used and ty == "string"]
        if spare:
            f, _ = g.r.choice(spare)
            items = [(f, g.value(g.kind_of(f)))]
    body = ", ".join(f"{f} = {test_value(v)}" for f, v in items)
    return f"  test {kind} {{ {body} }}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("schema")
    ap.add_argument("out")
    ap.add_argument("--rules", type=int, default=5000)
    ap.add_argument("--folders", type=int, default=100)
    ap.add_argument("--seed", type=int, default=20261126)
    a = ap.parse_args()

    schema = read_schema(a.schema)
    g = Gen(a.seed)
    t = Terms(g)
    r = g.r
    src_names = sorted(schema)

    areas = ["identity", "endpoint", "network", "insider", "finance", "cloud", "email",
             "hunting", "persistence", "exfil"]
    per_area = max(1, a.folders // len(areas))
    folders = [f"{ar}/{ar}_{k:02d}" for ar in areas for k in range(per_area)][: a.folders]
    os.makedirs(a.out, exist_ok=True)
    for d in folders:
        os.makedirs(os.path.join(a.out, d), exist_ok=True)

    names, ids = set(), set()
    for n in range(a.rules):
        src = r.choice(src_names)
        fields = sorted(schema[src].items())
        n_leaves = r.randint(3, min(8, len(fields)))
        lines, matches, misses = build_condition(t, fields, n_leaves)
        folder = folders[n % len(folders)]
        name = f"{folder.split('/')[1]}_{src}_{g.word()}_{n:05d}"
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name) and name not in names
        names.add(name)
        rid = str(uuid.UUID(int=r.getrandbits(128), version=4))
        assert rid not in ids
        ids.add(rid)
        attack = sorted(set(r.sample(ATTACK, r.randint(1, 3))))
        tactics = {a for a in attack if a.startswith("TA")}
        tactics |= {TACTIC_OF[a.split(".")[0]] for a in attack if not a.startswith("TA")}
        attack = sorted(tactics) + [a for a in attack if not a.startswith("TA")]
        tags = ["bench", folder.split("/")[0], src]
        used = set(matches)
        where = "\n    ".join(lines)
        text = f"""# generated by bench/gen_rules.py (seed {a.seed}); not a real detection
rule {name} "Synthetic {src.replace('_', ' ')} rule {n}" {{
  id          = "{rid}"
  severity    = {r.choice(SEVERITIES)}
  status      = {r.choice(STATUSES)}
  attack      = [{", ".join(attack)}]
  tags        = [{", ".join(q(x) for x in tags)}]
  description = "Synthetic rule for the detc benchmark: {len(lines)} clauses over {src}."
  false_positives = ["None: synthetic"]
  author      = "bench"

  from {src}
  where {where}

{test_block("matches", matches, fields, used, g)}
{test_block("misses", misses, fields, used, g)}
}}
"""
        with open(os.path.join(a.out, folder, name + ".det"), "w", encoding="utf-8") as f:
            f.write(text)

    os.makedirs(os.path.join(a.out, "lists"), exist_ok=True)
    with open(os.path.join(a.out, "lists", "bench_lists.det"), "w", encoding="utf-8") as f:
        f.write("# generated by bench/gen_rules.py: shared lists for the synthetic rules\n")
        for name, (kind, vals) in sorted(g.lists.items()):
            f.write(f"\n# {kind} values\nlist {name} = {qlist(vals)}\n")
    print(f"gen_rules: {a.rules} rules in {len(folders)} folders, {len(g.lists)} lists "
          f"-> {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
