#!/usr/bin/env python3
"""Check targets/splunk.yaml against Splunk's own published material (static: no SPL engine).

    vendor_splunk.py --repo ROOT --detc DETC --work DIR [--mapping FILE] [--selftest]

The vendor material is in conformance/vendor/splunk/ (PROVENANCE.tsv says where each file comes
from): the Splunk_SA_CIM data models (an extract: datasets, constraints, fields, expected values),
splunk/security_content `data_sources/*.yml` (each add-on source's sourcetype, source, the fields
the add-on extracts and an example event), facts read in Splunk's and Microsoft's documentation
pages (docs_facts.yaml), and vendor sample events per library source (samples/manifest.yaml).

For every source entry of the mapping:
- `source:` names the vendor documents the entry rests on; each must be material held here.
- Base search: every `tag=` must be one a CIM dataset's constraint uses, and the tags together
  must be exactly the constraint tags of one dataset (the one the logical source means, see
  DATASET); every `sourcetype=` / `source=` / `EventCode=` must be a cited data source's (or a
  cited documentation fact's); `index=` is a deployment choice no vendor names; any other term
  must test a vendor field with a value the vendor allows; `index=` only one a cited
  security_content detection's how_to_implement names (Enterprise Security's `index=risk`).
- Fields: each Splunk field an entry maps must be a field of the CIM dataset the tags select,
  or of a cited data source (`fields`, `output_fields`), or of a cited documentation fact, or be
  computed by the entry's `extend` (whose inputs must be vendor fields), unless the logical field
  is marked `enrichment:` (what must be built). `enrichment: {source: ...}` exempts the whole
  entry (a custom index or input). With `facts: F` the other `rule.*` fields map to columns
  detc computes (src/lower.rs with_facts): no vendor claim, but they may not hide a vendor field.
- Values: the literals the shipped rules compare a field with (from `detc compile`), and the
  schema's vocabulary of `event.outcome` (success | failure), must fit the values the vendor gives
  the field: the CIM dataset's expected values (e.g. Change `status` success|failure, `result`
  lockout) and the kind (number or name) of the value in the vendor's example events (e.g.
  Windows 4624 LogonType=3 while rules compare names).
- Samples (library sources): each field the entry reads (an `extend`'s inputs instead of its
  output) must be in the source's vendor sample event, or be a field the add-on derives for that
  data (the data source's `fields`/`output_fields`, or a CIM field an add-on data source of the
  same Windows channel lists); the base search's sourcetype/source/EventCode must select it.

Exit 1 with one line per problem. `--selftest` runs the checks on known-bad entries (the problems
of issue 15) and fails unless each is reported.
"""
import argparse
import fnmatch
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
VENDOR = os.path.join(HERE, "vendor", "splunk")

# The CIM dataset each logical source means (schema.yaml's description of the source); its
# constraint tags are what the base search must test, no more and no fewer.
DATASET = {
    "process_start": "Endpoint.Processes",
    "network_connection": "Network_Traffic.All_Traffic",
    "inbound_connection": "Network_Traffic.All_Traffic",
    "firewall_traffic": "Network_Traffic.All_Traffic",
    "dns_query": "Network_Resolution.DNS",
    "dns_resolution": "Network_Resolution.DNS",
    "authentication": "Authentication.Authentication",
    "registry_change": "Endpoint.Registry",
    "file_event": "Endpoint.Filesystem",
    "file_delete": "Endpoint.Filesystem",
    "file_access": "Endpoint.Filesystem",
    "vpn_session": "Network_Sessions.VPN",       # All_Sessions also holds DHCP leases
    "web_request": "Web.Web",
    "web_server": "Web.Web",
    "mail_event": "Email.All_Email",
    "directory_audit": "Change.Account_Management",
    "antivirus_detection": "Malware.Malware_Attacks",
}
# Sources whose data the vendor indexes under several sourcetypes: the base search must read
# every one (docs_facts.yaml: the Splunk Add-on for GitHub's source types).
ALL_SOURCETYPES = {
    "git_audit": ["github:enterprise:audit", "github:cloud:audit"],
}
# Logical vocabularies fixed by targets/schema.yaml, compared with the vendor's values even
# where no shipped rule tests the field.
VOCABULARY = {"event.outcome": {"success", "failure"}}

SPLUNK_DEFAULT_FIELDS_URL = ("https://help.splunk.com/splunk-cloud-platform/manage-knowledge-objects/"
                             "knowledge-management-manual/10.0.2503/fields-and-field-extractions/use-default-fields")
EVAL_FUNCTIONS = {"case", "coalesce", "if", "isnull", "isnotnull", "lower", "upper", "replace", "urldecode",
                  "mvjoin", "mvindex", "split", "tonumber", "tostring", "len", "substr", "match", "like",
                  "null", "true", "false", "and", "or", "not", "in", "max_match", "field", "eval", "rex", "mode"}


class Problem(Exception):
    pass


# ---------------------------------------------------------------- vendor material

def norm(name):
    """Windows add-on aliases: LogonType / Logon_Type, TargetUserName / Target_User_Name."""
    return name.replace("_", "").lower()


class Vendor:
    def __init__(self):
        self.provenance = {}
        with open(os.path.join(VENDOR, "PROVENANCE.tsv"), encoding="utf-8") as f:
            for line in f:
                if line.startswith("#") or not line.strip():
                    continue
                cols = line.rstrip("\n").split("\t")
                if len(cols) >= 4 and cols[0] != "local_path":
                    self.provenance[cols[0]] = {"repo": cols[1], "commit": cols[2], "path": cols[3]}
        self.by_ref = {}  # (repo, path) -> (local path, commit)
        for local, p in self.provenance.items():
            if not local.startswith(("samples/", "LICENSES/")):
                self.by_ref[(p["repo"], p["path"])] = (local, p["commit"])
        self._load_cim()
        self._load_aplura()
        self.data_sources = {}
        ddir = os.path.join(VENDOR, "data_sources")
        for name in sorted(os.listdir(ddir)):
            with open(os.path.join(ddir, name), encoding="utf-8") as f:
                d = yaml.safe_load(f)
            ex = str(d.get("example_log") or "").strip()
            self.data_sources["data_sources/" + name] = {
                "name": d.get("name"),
                "sourcetype": str(d.get("sourcetype") or ""),
                "source": str(d.get("source") or ""),
                "fields": set(d.get("fields") or []) | set(d.get("output_fields") or []),
                "example": parse_sample(ex, sample_format(ex)) if ex else {},
                "event_codes": {str(d["separator_value"])} if d.get("separator_value") else set(),
            }
            dd = self.data_sources["data_sources/" + name]
            m = re.search(r"(\d+)$", str(d.get("name") or ""))
            if m and "EventLog" in dd["source"] + dd["sourcetype"] or m and "Sysmon" in str(d.get("name")):
                dd["event_codes"].add(m.group(1))  # "Windows Event Log Security 4624", "Sysmon EventID 7"
            for key in ("EventID", "EventCode"):
                if key in dd["example"]:
                    dd["event_codes"].add(str(dd["example"][key][0]))
        xml = [d["fields"] | set(d["example"]) for d in self.data_sources.values()
               if d["source"].startswith("XmlWinEventLog:") and d["sourcetype"].lower() == "xmlwineventlog"
               and "EventCode" in d["example"]]  # an XML example, not a classic-format one
        self.common_xml = set.intersection(*xml) - {"tag", "eventtype", "tag::eventtype"}
        self.sc = {local: load_security_content(os.path.join(VENDOR, local))
                   for local in self.provenance if local.startswith("security_content/")
                   and os.path.exists(os.path.join(VENDOR, local))}
        with open(os.path.join(VENDOR, "sysmon", "sysmon-schema-4.81-events.json"), encoding="utf-8") as f:
            self.sysmon = json.load(f)["events"]
        with open(os.path.join(VENDOR, "unverified.yaml"), encoding="utf-8") as f:
            self.unverified = yaml.safe_load(f)["unverified"] or {}
        with open(os.path.join(VENDOR, "docs_facts.yaml"), encoding="utf-8") as f:
            self.facts = {x["url"]: x for x in yaml.safe_load(f)["facts"]}
        with open(os.path.join(VENDOR, "samples", "manifest.yaml"), encoding="utf-8") as f:
            man = yaml.safe_load(f)
        self.samples, self.gaps = man["samples"], man.get("gaps") or {}
        self.notes = []

    def _load_cim(self):
        with open(os.path.join(VENDOR, "cim", "cim-5.0.1-datasets.json"), encoding="utf-8") as f:
            models = json.load(f)["models"]
        self.datasets = {}
        for model, objs in models.items():
            for name, o in objs.items():
                own = set(re.findall(r"\btag=\"?([A-Za-z_]+)\"?", o["constraint"]))
                self.datasets[f"{model}.{name}"] = {"model": model, "name": name, "parent": o["parent"],
                                                    "own_tags": own, "fields": o["fields"]}
        for key, d in self.datasets.items():
            tags, fields, cur = set(), {}, d
            while cur:
                tags |= cur["own_tags"]
                for fname, info in cur["fields"].items():
                    fields.setdefault(fname, info)
                parent = f"{d['model']}.{cur['parent']}"
                cur = self.datasets.get(parent)
            d["tags"], d["all_fields"] = tags, fields
        self.constraint_tags = set().union(*(d["own_tags"] for d in self.datasets.values()))
        self.cim_fields = set().union(*(d["all_fields"] for d in self.datasets.values()))

    def _load_aplura(self):
        """Fields later CIM versions added (third-party change log of Splunk_SA_CIM 6.1 -> 8.5)."""
        self.newer = {}
        model = None
        with open(os.path.join(VENDOR, "cim", "aplura-splunk-sa-cim-changes-6.1-to-8.5.md"), encoding="utf-8") as f:
            for line in f:
                m = re.match(r"### (.+?) Data Model", line)
                if m:
                    model = m.group(1).replace(" ", "_")
                    continue
                m = re.match(r"\|\s*`([A-Za-z_]+)`\s*\|.*\|\s*New\s*\|.*\|(.*)\|\s*$", line)
                if m and model:
                    objs = re.findall(r"`([A-Za-z_]+)`", m.group(2)) if "Objects" in m.group(2) else None
                    self.newer.setdefault(model, []).append((m.group(1), objs))
        self.cim_fields |= {f for fs in self.newer.values() for f, _ in fs}

    def newer_fields(self, ds):
        out = set()
        for fname, objs in self.newer.get(ds["model"], []):
            if objs is None or ds["name"] in objs:
                out.add(fname)
        return out

    def resolve(self, ref):
        """A `source:` reference -> ('cim', model) | ('ds', key) | ('fact', url) | ('aplura', None)."""
        if ref.startswith("http://") or ref.startswith("https://"):
            if ref in self.facts:
                return ("fact", ref)
            m = re.match(r"https://github\.com/([^/]+/[^/]+)/blob/([0-9a-f]{7,40})/(.+)$", ref)
            if m:
                return self.resolve(f"{m.group(1)}@{m.group(2)}:{m.group(3)}")
            raise Problem(f"`source:` {ref}: no vendor material held for this page (conformance/vendor/splunk/docs_facts.yaml)")
        m = re.match(r"([^@\s]+)@([0-9a-f]{7,40}):(.+)$", ref)
        if not m:
            raise Problem(f"`source:` {ref!r}: neither a URL nor owner/repo@commit:path")
        repo, commit, path = m.groups()
        hit = self.by_ref.get((repo, path))
        if not hit:
            raise Problem(f"`source:` {ref}: not in conformance/vendor/splunk/PROVENANCE.tsv")
        local, have = hit
        if not have.startswith(commit):
            raise Problem(f"`source:` {ref}: the copy held is of commit {have[:12]}")
        if local.startswith("cim/cim-5.0.1-datasets.json#"):
            return ("cim", local.split("#", 1)[1])
        if local.startswith("data_sources/"):
            return ("ds", local)
        if local.startswith("cim/aplura"):
            return ("aplura", None)
        if local.startswith("sysmon/"):
            return ("sysmon", None)
        if local in self.sc:
            return ("sc", local)
        return ("other", local)


def load_security_content(path):
    """What a splunk/security_content macro or detection says about the data it reads: the
    source / sourcetype / EventCode values of a macro's definition and of a detection's search
    and test data (`tests[].attack_data[]`: how Splunk indexes the vendor's own test events),
    the indexes its `how_to_implement` names (ES's `index=risk`), and a detection's
    `required_fields` (a data model field `All_Risk.f` also as `f` where the search drops the
    object name, `drop_dm_object_name(All_Risk)`, as the raw events name it)."""
    with open(path, encoding="utf-8") as f:
        d = yaml.safe_load(f)
    out = {"sources": set(), "sourcetypes": set(), "event_codes": set(), "fields": set(), "indexes": set()}
    text = " ".join(str(d.get(k) or "") for k in ("definition", "search"))
    for key, q, bare in re.findall(r'\b(source|sourcetype)\s*=\s*(?:"([^"]*)"|([^\s()"]+))', text):
        out[key + "s"].add(q or bare)
    for m in re.finditer(r'\bEventCode\s*(?:=\s*"?(\d+)"?|IN\s*\(([^)]*)\))', text):
        out["event_codes"] |= {m.group(1)} if m.group(1) else set(re.findall(r"\d+", m.group(2)))
    for t in d.get("tests") or []:
        for a in t.get("attack_data") or []:
            if a.get("source"):
                out["sources"].add(str(a["source"]))
            if a.get("sourcetype"):
                out["sourcetypes"].add(str(a["sourcetype"]))
    tags = d.get("tags") or {}
    out["fields"] |= set(tags.get("required_fields") or d.get("required_fields") or [])
    for obj in re.findall(r"drop_dm_object_name\((\w+)\)", str(d.get("search") or "")):
        out["fields"] |= {f[len(obj) + 1:] for f in out["fields"] if f.startswith(obj + ".")}
    out["indexes"] |= set(re.findall(r"\bindex=(\w+)", str(d.get("how_to_implement") or "")))
    return out


def sample_format(text):
    if text.startswith("<"):
        return "xml"
    if text.startswith("{\""):
        return "json"
    if text.startswith("{ @"):
        return "github"
    return "kv"


def parse_sample(text, fmt):
    """Field -> [values] of one vendor example event, as the add-on names them where the event
    is the add-on's raw input (XML EventData names, JSON key paths with `{}` for arrays)."""
    out = {}

    def put(k, v):
        out.setdefault(k, []).append("" if v is None else str(v))

    if fmt == "xml":
        try:
            root = ET.fromstring(text)
        except ET.ParseError:
            return out
        for el in root.iter():
            tag = el.tag.split("}")[-1]
            if tag == "Data" and el.get("Name"):
                put(el.get("Name"), el.text)
            elif tag in ("EventID", "Computer", "Channel", "Level", "Task", "Opcode", "Keywords",
                         "EventRecordID", "Version"):
                put(tag, el.text)
            elif tag == "Provider":
                put("Name", el.get("Name"))
        if "EventID" in out:
            out["EventCode"] = out["EventID"]  # the Windows add-on's name for it
    elif fmt == "json":
        try:
            doc = json.loads(text)
        except ValueError:
            return out

        def walk(v, path):
            if isinstance(v, dict):
                for k, x in v.items():
                    walk(x, f"{path}.{k}" if path else k)
            elif isinstance(v, list):
                for x in v:
                    walk(x, path + "{}")
            else:
                put(path, v)
        walk(doc, "")
    elif fmt == "github":
        body = text.strip()[1:-1]
        for m in re.finditer(r"(?:^|\s)([@A-Za-z_][\w.@]*): (\{ \[\+\] \}|\S+)", body):
            put(m.group(1), m.group(2))
    else:
        for m in re.finditer(r'([A-Za-z_][\w.]*)="([^"]*)"', text):
            put(m.group(1), m.group(2))
    return out


# ---------------------------------------------------------------- SPL base searches

TOKEN = re.compile(r'\s*(?:(")((?:[^"\\]|\\.)*)"|([()|,])|(!=|==|=)|([^\s"()|,=!]+))')


def base_terms(search):
    """The terms of a base search: (key, op, [values]) and whether a pipeline follows, and the
    field names a pipeline's `rex` extracts with its input fields."""
    head, pipe = search, ""
    depth, inq = 0, False
    for i, c in enumerate(search):
        if c == '"' and (i == 0 or search[i - 1] != "\\"):
            inq = not inq
        elif c == "|" and not inq:
            head, pipe = search[:i], search[i + 1:]
            break
    toks, pos = [], 0
    while pos < len(head):
        m = TOKEN.match(head, pos)
        if not m or m.end() == pos:
            if head[pos:].strip():
                raise Problem(f"base search: cannot read {head[pos:]!r}")
            break
        pos = m.end()
        if m.group(1):
            toks.append(("STR", m.group(2)))
        elif m.group(3):
            toks.append((m.group(3), m.group(3)))
        elif m.group(4):
            toks.append(("OP", m.group(4)))
        elif m.group(5):
            toks.append(("WORD", m.group(5)))
    terms, i = [], 0
    while i < len(toks):
        kind, val = toks[i]
        if kind == "WORD" and i + 2 < len(toks) and toks[i + 1][0] == "OP":
            terms.append((val, toks[i + 1][1], [toks[i + 2][1]]))
            i += 3
        elif kind == "WORD" and i + 2 < len(toks) and toks[i + 1] == ("WORD", "IN") and toks[i + 2][0] == "(":
            j, vals = i + 3, []
            while j < len(toks) and toks[j][0] != ")":
                if toks[j][0] in ("WORD", "STR"):
                    vals.append(toks[j][1])
                j += 1
            terms.append((val, "=", vals))
            i = j + 1
        elif kind in ("(", ")") or (kind == "WORD" and val in ("OR", "AND", "NOT")):
            i += 1
        else:
            raise Problem(f"base search: a bare term {val!r} (only field=value terms are checked)")
    rex_out, rex_in = set(), set()
    for m in re.finditer(r"\brex\b([^|]*)", pipe):
        rex_out |= set(re.findall(r"\(\?<([A-Za-z_]\w*)>", m.group(1)))
        f = re.search(r"\bfield=([A-Za-z_]\w*)", m.group(1))
        rex_in.add(f.group(1) if f else "_raw")
    return terms, rex_out, rex_in


def eval_inputs(expr, output):
    """Field names an `extend` pipeline reads (identifiers that are not functions, keywords,
    strings or what the pipeline itself computes)."""
    names = set()
    # Strings first: a regex may hold `|`, which separates commands only outside them.
    for cmd in re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr).split("|"):
        m = re.match(r"\s*rex\b(.*)", cmd)
        if m:
            f = re.search(r"\bfield=([A-Za-z_]\w*)", m.group(1))
            names.add(f.group(1) if f else "_raw")
            continue
        for ident in re.finditer(r"'([^']+)'|\b([A-Za-z_][\w.{}]*)\b(?!\s*\()", cmd):
            name = ident.group(1) or ident.group(2)
            if name.lower() in EVAL_FUNCTIONS or name == output or re.fullmatch(r"detc_\w+", name):
                continue
            names.add(name)
    return names


# ---------------------------------------------------------------- the rules' literals

def rule_literals(compiled, mapping):
    """(source, logical field) -> the literal values the compiled SPL compares it with."""
    out = {}
    bases = {}
    for name, e in mapping.items():
        bases.setdefault(e["search"].strip(), []).append(name)
    lit = re.compile(r"""(?:'([^']+)'|\b([A-Za-z_][\w.{}]*))\s*(?:==|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^\s()|"']+)(?![\w(]))""")
    for q in compiled:
        if q.get("language") != "spl":
            continue
        text = q["query"]
        cands = [n for b, ns in bases.items() if b in text for n in ns]
        for m in lit.finditer(text):
            field = m.group(1) or m.group(2)
            value = m.group(3) if m.group(3) is not None else m.group(4)
            if field in ("tag", "sourcetype", "source", "index", "EventCode", "earliest", "latest") or field.startswith("detc_step"):
                continue
            value = value.replace('\\"', '"').replace("\\\\", "\\")
            for n in cands:
                for logical, splunk_name in mapping[n].get("fields", {}).items():
                    if splunk_name == field:
                        out.setdefault((n, logical), set()).add(value)
    return out


def kind(v):
    return "number" if re.fullmatch(r"-?(0x[0-9a-fA-F]+|\d+(\.\d+)?)", v.strip()) else "name"


def fits(literal, allowed):
    pat = literal.lower()
    return any(fnmatch.fnmatchcase(a.lower(), pat) for a in allowed)


# ---------------------------------------------------------------- checks

def library_sources(repo):
    """Sources the shipped rules read (`from S`, or `S where` in a sequence step)."""
    names = set()
    for root, _, files in os.walk(os.path.join(repo, "detections")):
        for fn in files:
            if fn.endswith(".det"):
                with open(os.path.join(root, fn), encoding="utf-8") as f:
                    text = f.read()
                names |= set(re.findall(r"\bfrom\s+([a-z_][a-z0-9_]*)", text))
                names |= set(re.findall(r"^\s*([a-z_][a-z0-9_]*)\s+where\b", text, re.M))
    return names


def check_entry(name, e, vendor, literals, library):
    problems = []

    def bad(msg):
        problems.append(f"{name}: {msg}")

    refs = e.get("source")
    refs = [refs] if isinstance(refs, str) else list(refs or [])
    if not refs:
        bad("no `source:` (the vendor document this entry rests on)")
    cited = {"cim": set(), "ds": [], "fact": [], "sc": [], "aplura": False, "sysmon": False}
    enr = e.get("enrichment") or {}
    whole = "source" in enr
    for r in refs:
        try:
            kind_, what = vendor.resolve(r)
        except Problem as p:
            if not whole:  # a custom source cites what describes it, not vendor material
                bad(str(p))
            continue
        if kind_ in ("cim", "ds", "fact", "sc"):
            (cited[kind_].add if kind_ == "cim" else cited[kind_].append)(what)
        elif kind_ in ("aplura", "sysmon"):
            cited[kind_] = True
    search = e["search"].strip()
    try:
        terms, rex_out, rex_in = base_terms(search)
    except Problem as p:
        bad(str(p))
        return problems
    tags = {v for k, _, vs in terms if k == "tag" for v in vs}
    dss = [vendor.data_sources[k] for k in cited["ds"]]
    # security_content macros and detections read like documentation facts.
    facts = [vendor.facts[u] for u in cited["fact"]] + [
        {"sources": sorted(c["sources"]), "sourcetypes": sorted(c["sourcetypes"]),
         "event_codes": sorted(c["event_codes"]), "fields": sorted(c["fields"]),
         "indexes": sorted(c["indexes"])}
        for c in (vendor.sc[k] for k in cited["sc"])]
    ds = None
    if tags:
        for t in sorted(tags - vendor.constraint_tags):
            bad(f"tag={t}: no CIM data model constraint uses this tag (Splunk_SA_CIM)")
        hits = [k for k, d in vendor.datasets.items() if d["tags"] == tags]
        want = DATASET.get(name)
        if want and want not in hits:
            need = " ".join(f"tag={t}" for t in sorted(vendor.datasets[want]["tags"]))
            bad(f"base search tags {sorted(tags)} do not select CIM {want} (its constraint: {need})")
        elif not hits:
            bad(f"base search tags {sorted(tags)} are the constraint of no CIM dataset")
        if hits:
            ds = vendor.datasets[want if want in hits else hits[0]]
            if ds["model"] not in cited["cim"] and not whole:
                bad(f"cite the CIM model {ds['model']} in `source:` (Splunk_SA_CIM data model JSON)")
    elif DATASET.get(name) and not whole:
        bad(f"base search has no tags: CIM {DATASET[name]} needs {sorted(vendor.datasets[DATASET[name]]['tags'])}")

    allowed = set()
    if ds:
        allowed |= set(ds["all_fields"])
        if cited["aplura"]:
            allowed |= vendor.newer_fields(ds)
    for d in dss:
        allowed |= d["fields"] | set(d["example"])
    for f in facts:
        allowed |= set(f.get("fields") or [])
    # Splunk's default fields exist on every event (docs_facts.yaml, "Use default fields").
    allowed |= set(vendor.facts[SPLUNK_DEFAULT_FIELDS_URL]["fields"])
    # Windows event logs in XML: the add-on names the source XmlWinEventLog:<channel> and
    # extracts the System fields every vendor XmlWinEventLog data source lists.
    xml_sources = [v for k, _, vs in terms if k == "source" for v in vs if v.startswith("XmlWinEventLog:")]
    if xml_sources:
        allowed |= vendor.common_xml
    # Sysmon's own schema: the <Data Name=...> of each event the base search selects.
    sysmon_ids = set()
    if cited["sysmon"]:
        sysmon_ids = {v for k, _, vs in terms if k == "EventCode" for v in vs} or set(vendor.sysmon)
        for i in sysmon_ids & set(vendor.sysmon):
            allowed |= set(vendor.sysmon[i]["data"])
    computed = set(e.get("extend") or {}) | rex_out

    if not whole:
        st_ok = {d["sourcetype"].lower() for d in dss} | {s.lower() for f in facts for s in f.get("sourcetypes") or []}
        src_ok = {d["source"].lower() for d in dss} | {s.lower() for f in facts for s in f.get("sources") or []}
        ec_ok = {c for d in dss for c in d["event_codes"]} | {str(c) for f in facts for c in f.get("event_codes") or []}
        if cited["sysmon"]:
            ec_ok |= set(vendor.sysmon)
        for key, op, values in terms:
            if key == "tag":
                continue
            for v in values:
                if key == "sourcetype":
                    if not any(fnmatch.fnmatchcase(s, v.lower()) for s in st_ok):
                        bad(f"sourcetype={v}: no cited vendor data source or add-on document has this sourcetype")
                elif key == "source":
                    if any(fnmatch.fnmatchcase(s, v.lower()) for s in src_ok):
                        pass
                    elif v.startswith("XmlWinEventLog:") and not src_ok:
                        vendor.notes.append(f"{name}: source={v}: no vendor data source of this channel; the "
                                            "source follows the add-on's XmlWinEventLog:<channel> naming")
                    else:
                        bad(f"source={v}: no cited vendor data source has this source")
                elif key == "EventCode":
                    if v not in ec_ok:
                        bad(f"EventCode={v}: no cited vendor data source or document is of this event code")
                elif key == "index":
                    if v not in {i for f in facts for i in f.get("indexes") or []}:
                        bad(f"index={v}: an index is a deployment choice no vendor document names "
                            "(select the data by source/sourcetype, or mark `enrichment: {source: ...}`)")
                else:
                    if key not in allowed:
                        bad(f"{key}={v}: {key} is a field of no cited vendor material")
                    elif ds and ds["all_fields"].get(key, {}).get("expected_values") and \
                            not fits(v, ds["all_fields"][key]["expected_values"]):
                        bad(f"{key}={v}: CIM {ds['model']}.{ds['name']} expects {key} in {ds['all_fields'][key]['expected_values']}")
        for st in ALL_SOURCETYPES.get(name, []):
            if not any(k == "sourcetype" and st in vs for k, _, vs in terms):
                bad(f"base search misses sourcetype {st} (the add-on indexes this data under "
                    f"{', '.join(ALL_SOURCETYPES[name])})")
        for f in sorted(rex_in - allowed - {"_raw"}):
            bad(f"the base search's rex reads {f}, a field of no cited vendor material")

    for out, expr in (e.get("extend") or {}).items():
        for f in sorted(eval_inputs(expr, out) - allowed - computed - {"_raw"}):
            if not whole:
                bad(f"extend {out} reads {f}, a field of no cited vendor material")

    fields = e.get("fields") or {}
    # `facts: F`: the other rule.* fields are computed by detc from F and the project's rules
    # (src/lower.rs with_facts): their columns are detc's and must not hide a vendor field.
    fact_cols = fact_columns(e)
    if e.get("facts") and e["facts"] not in fields:
        bad(f"facts {e['facts']}: no field of this entry")
    for logical, col in sorted(fact_cols.items()):
        if col in allowed or col in computed:
            bad(f"fact column {col} ({logical}) would hide a field the events hold")
    if fact_cols:
        vendor.notes.append(f"{name}: columns computed by detc from {e['facts']} (no vendor claim): " +
                            ", ".join(f"{f} -> {c}" for f, c in sorted(fact_cols.items())))
    for logical, splunk_name in fields.items():
        if splunk_name is None or logical.endswith(".*") or whole or logical in enr:
            continue
        if splunk_name in computed or logical in fact_cols:
            continue
        if splunk_name not in allowed:
            where = [f"CIM {ds['model']}.{ds['name']}"] if ds else []
            where += [os.path.basename(k) for k in cited["ds"] + cited["sc"]] + [u for u in cited["fact"]]
            bad(f"{logical} -> {splunk_name}: not a field of {', '.join(where) or 'any cited vendor material'}; "
                f"mark `enrichment: {{{logical}: what must be built}}` or map a vendor field")
    for key in enr:
        if key != "source" and key not in fields:
            bad(f"enrichment {key}: not a field of this entry")

    # Values: the rules' literals against the vendor's values.
    for logical, splunk_name in fields.items():
        if splunk_name is None or splunk_name in computed or logical in enr or whole or logical in fact_cols:
            continue
        lits = set(literals.get((name, logical), set())) | VOCABULARY.get(logical, set())
        lits = {v for v in lits if v.strip("*")}
        if not lits:
            continue
        expected = ds["all_fields"].get(splunk_name, {}).get("expected_values") if ds else None
        if expected and logical in VOCABULARY and not any(fits(v, expected) for v in VOCABULARY[logical]):
            bad(f"{logical} -> {splunk_name}: the logical values {sorted(VOCABULARY[logical])} are none of "
                f"CIM {ds['model']}.{ds['name']} {splunk_name}'s expected values {expected}")
        elif expected and not any(fits(v, expected) for v in lits):
            bad(f"{logical} -> {splunk_name}: rules compare it with {sorted(lits)[:5]}, none of "
                f"CIM {ds['model']}.{ds['name']} {splunk_name}'s expected values {expected}")
        examples = []
        for d in dss:
            ex = d["example"]
            vals = ex.get(splunk_name) or next((v for k, v in ex.items() if norm(k) == norm(splunk_name)), None)
            if vals:
                examples += [(v, d["name"]) for v in vals]
        if examples:
            ex_kinds = {kind(v) for v, _ in examples}
            lit_kinds = {kind(v) for v in lits}
            if ex_kinds.isdisjoint(lit_kinds):
                v, src = examples[0]
                bad(f"{logical} -> {splunk_name}: the vendor's example ({src}) holds a {kind(v)} ({v!r}) while "
                    f"rules compare {'names' if 'name' in lit_kinds else 'numbers'} {sorted(lits)[:5]}; "
                    "map a computed field (`extend`) that holds the rules' form")

    # Samples: the vendor's events carry what the entry reads, and the base search selects them.
    if name in library and not whole:
        samples = vendor.samples.get(name)
        if not samples and "*" in vendor.gaps.get(name, {}):
            vendor.notes.append(f"{name}: no vendor sample event: {vendor.gaps[name]['*']}")
        elif not samples:
            bad("no vendor sample event (conformance/vendor/splunk/samples/manifest.yaml)")
        else:
            check_samples(name, e, vendor, samples, terms, computed, enr, bad)
        for f, why in vendor.gaps.get(name, {}).items():
            if f != "*":
                vendor.notes.append(f"{name}: {f} is in no vendor sample event: {why}")
    return problems


def fact_columns(entry):
    """{rule.* field: column} detc computes from the entry's `facts:` field (none without one)."""
    facts = entry.get("facts")
    return {f: c for f, c in (entry.get("fields") or {}).items()
            if facts and c and f.startswith("rule.") and f != facts}


def check_samples(name, e, vendor, samples, terms, computed, enr, bad):
    read = set()
    for logical, splunk_name in (e.get("fields") or {}).items():
        if splunk_name is None or logical.endswith(".*") or logical in enr or logical in fact_columns(e):
            continue
        if splunk_name in (e.get("extend") or {}):
            read |= eval_inputs(e["extend"][splunk_name], splunk_name)
        elif splunk_name not in computed:
            read.add(splunk_name)
    have, derived = set(), set()
    for s in samples:
        with open(os.path.join(VENDOR, s["file"]), encoding="utf-8") as f:
            ev = parse_sample(f.read().strip(), s["format"])
        if not ev:
            bad(f"sample {s['file']}: cannot read it as {s['format']}")
        have |= set(ev)
        have |= {norm(k) for k in ev}
        d = vendor.data_sources.get(s["data_source"])
        fact = vendor.facts.get(s["data_source"])
        if d:
            derived |= d["fields"]
            sel = {"sourcetype": {d["sourcetype"].lower()}, "source": {d["source"].lower()},
                   "EventCode": d["event_codes"] | set(ev.get("EventCode", []))}
            # CIM fields the same add-on derives for the same Windows channel
            for o in vendor.data_sources.values():
                if o["source"].lower() == d["source"].lower():
                    derived |= o["fields"] & vendor.cim_fields
        elif fact:
            derived |= set(fact.get("fields") or [])
            sel = {"sourcetype": {x.lower() for x in fact.get("sourcetypes") or []},
                   "source": {x.lower() for x in fact.get("sources") or []},
                   "EventCode": set(ev.get("EventCode", []))}
            for o in vendor.data_sources.values():
                if o["source"].lower() in sel["source"]:
                    derived |= o["fields"] & vendor.cim_fields
        else:
            bad(f"sample {s['file']}: its data source {s['data_source']} is not vendor material held here")
            continue
        for key, _, values in terms:
            if key in sel and sel[key] and not any(any(fnmatch.fnmatchcase(x, v.lower() if key != "EventCode" else v)
                                                       for x in sel[key]) for v in values):
                if key == "sourcetype" and name in ALL_SOURCETYPES:
                    continue
                bad(f"sample {s['file']}: the base search's {key} {values} does not select it ({key} {sorted(sel[key])})")
    for f in sorted(read):
        if f in have or norm(f) in have or f in derived or f in ("_raw", "host", "source", "sourcetype"):
            continue
        if f in {vendor_field for logical, vendor_field in (e.get("fields") or {}).items()
                 if logical in vendor.gaps.get(name, {}) or vendor_field in vendor.gaps.get(name, {})}:
            continue
        bad(f"reads {f}, which neither its vendor sample events ({', '.join(os.path.basename(s['file']) for s in samples)}) "
            "hold nor their data sources list as a field the add-on extracts")


def check(mapping, vendor, literals, library, only=None):
    """Problems of every entry; those of an entry listed in unverified.yaml (Sigma-only sources
    whose vendor material is not held here) become notes, and a library source may not be listed."""
    problems = []
    for name, e in mapping.items():
        if only and name not in only:
            continue
        probs = check_entry(name, e, vendor, literals, library)
        if name in vendor.unverified:
            if name in library:
                problems.append(f"{name}: read by the library, so it may not be listed in unverified.yaml")
            for p in probs:
                vendor.notes.append(f"unverified ({vendor.unverified[name]}): {p}")
            continue
        problems += probs
    for name in vendor.unverified:
        if name not in mapping:
            problems.append(f"unverified.yaml lists {name}, which the mapping does not have")
    return problems


# ---------------------------------------------------------------- self-test

def selftest_cases(mapping):
    """Known-bad entries, each reproducing a problem issue 15 lists; (name, entry, pattern)."""
    def variant(name, **changes):
        e = json.loads(json.dumps(mapping[name]))
        for k, v in changes.items():
            if v is None:
                e.pop(k, None)
            elif k == "fields":
                e["fields"].update(v)
            else:
                e[k] = v
        return e
    return [
        ("network_connection", variant("network_connection", search="tag=network tag=communication"),
         r"tag=communication: no CIM data model constraint"),
        ("vpn_session", variant("vpn_session", search="tag=network tag=session"),
         r"do not select CIM Network_Sessions\.VPN"),
        ("git_audit", variant("git_audit", search='sourcetype="github:enterprise:audit"'),
         r"misses sourcetype github:cloud:audit"),
        ("directory_audit", variant("directory_audit", fields={"event.outcome": "result"}),
         r"event\.outcome -> result: .*expected values \['lockout'\]"),
        ("host_logon", variant("host_logon", extend=None, fields={"logon.type": "Logon_Type"}),
         r"logon\.type -> Logon_Type: the vendor's example .* holds a number .* rules compare names"),
        ("authentication", variant("authentication", enrichment={}),
         r"source\.geo\.country_iso_code -> src_country_iso_code: not a field"),
        ("host_logon", variant("host_logon", search="index=wineventlog EventCode IN (4624, 4625)"),
         r"index=wineventlog: an index is a deployment choice"),
        # Sigma-only findings: Splunk names the Defender channel's XML events WinEventLog:...;
        # the stock XML event has no rendered Message.
        ("windows_defender", variant("windows_defender",
                                     search='source="XmlWinEventLog:Microsoft-Windows-Windows Defender/Operational"'),
         r"source=XmlWinEventLog:Microsoft-Windows-Windows Defender/Operational: no cited vendor data source"),
        ("windows_application", variant("windows_application", enrichment={}),
         r"message -> Message: not a field"),
        # Alerts: only the rule.* facts are detc's columns; another made-up field is refused,
        # and without `facts:` the rule.* columns are claims on the events like any other.
        ("alerts", variant("alerts", fields={"user.name": "detc_risk_account"}),
         r"user\.name -> detc_risk_account: not a field"),
        ("alerts", variant("alerts", facts=None), r"rule\.category -> detc_rule_category: not a field"),
        ("alerts", variant("alerts", search="index=notable"), r"index=notable: an index is a deployment choice"),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--detc", help="the detc binary (default: REPO/target/release/detc)")
    ap.add_argument("--work", help="a directory for the compiled library (default: a temporary one)")
    ap.add_argument("--mapping", help="the Splunk mapping to check (default: REPO/targets/splunk.yaml)")
    ap.add_argument("--selftest", action="store_true", help="known-bad entries must each be reported")
    args = ap.parse_args()
    detc = args.detc or os.path.join(args.repo, "target", "release", "detc")
    with open(args.mapping or os.path.join(args.repo, "targets", "splunk.yaml"), encoding="utf-8") as f:
        mapping = yaml.safe_load(f)["sources"]
    vendor = Vendor()
    # The library compiled with the mapping being checked (it overrides the one built into detc).
    mapping_file = os.path.abspath(args.mapping or os.path.join(args.repo, "targets", "splunk.yaml"))
    out = subprocess.run([detc, "compile", "--format", "json", "--target", "splunk", "--mapping", mapping_file],
                         cwd=args.repo, capture_output=True, text=True)
    try:
        compiled = json.loads(out.stdout)
    except ValueError:
        compiled = None
    if out.returncode != 0 or compiled is None:
        print(f"vendor_splunk: `detc compile --target splunk` failed:\n{out.stderr}", file=sys.stderr)
        return 1
    if args.work:
        os.makedirs(args.work, exist_ok=True)
        with open(os.path.join(args.work, "splunk-library.json"), "w", encoding="utf-8") as f:
            json.dump(compiled, f)
    literals = rule_literals([q for q in compiled if q.get("target") == "splunk"], mapping)
    library = library_sources(args.repo)

    if args.selftest:
        failed = 0
        for name, entry, pattern in selftest_cases(mapping):
            probs = check_entry(name, entry, vendor, literals, library)
            if not any(re.search(pattern, p) for p in probs):
                failed += 1
                print(f"SELFTEST FAILURE: {name}: no problem matching /{pattern}/ reported; got: {probs}")
            else:
                print(f"selftest ok: {name}: {next(p for p in probs if re.search(pattern, p))}")
        print(f"vendor_splunk selftest: {len(selftest_cases(mapping)) - failed} rejected as expected, {failed} missed")
        return 1 if failed else 0

    problems = check(mapping, vendor, literals, library)
    for n in vendor.notes:
        print(f"note: {n}", file=sys.stderr)
    for p in problems:
        print(p)
    n = len(mapping)
    print(f"vendor_splunk: {n} source entries ({len(library & set(mapping))} read by the library), "
          f"{len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
