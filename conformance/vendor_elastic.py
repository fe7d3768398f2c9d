"""targets/elastic.yaml checked against Elastic's own published schemas and sample events.

    vendor_elastic.py --repo REPO --detc DETC --work WORKDIR     the shipped mapping
    vendor_elastic.py --selftest --repo REPO --detc DETC --work WORKDIR

The vendor material lives in conformance/vendor/elastic/ (PROVENANCE.tsv: repository, commit,
path, licence of every file): ECS (elastic/ecs generated/ecs/ecs_flat.yml), the Elastic Defend
package (elastic/endpoint-package: fields.yml, sample events and the per-event-type field lists
of custom_documentation, `event_docs/`) and the Elastic integrations' data streams
(elastic/integrations packages/<pkg>/data_stream/<ds>/: fields/*.yml, sample_event.json,
_dev/test/pipeline/*-expected.json and ingest-pipeline excerpts).

For every source entry of the mapping (except those marked `enrichment: {source: ...}`):

* `source:` names the vendor document(s) the entry rests on;
* the index pattern names data streams the vendor material has: `logs-<pkg>.<ds>-*` that data
  stream (`logs-<pkg>.<prefix>*-*` every data stream of the material it matches, at least one),
  `logs-endpoint.events.<x>-*` Elastic Defend's, `logs-*` the data streams listed for the
  source in LOGS_STAR below (each with the reason it belongs there), and `.alerts-security.*`
  Kibana's security alerts index (ALERT_INDICES: an index or alias of Kibana's es_archive);
* an `extend`'s inputs exist like mapped fields; with `facts: F` the other `rule.*` fields map
  to columns detc computes (no vendor claim, but they may not hide a field the data holds);
* every mapped field (but those marked `enrichment:`) exists in the data stream's fields or,
  for an integration data stream, in ECS (integrations map ECS fields through the
  `ecs@mappings` component template; Elastic Defend's data streams are `dynamic: false`, so
  their fields must be in the package's fields.yml), with a type compatible with the schema's
  (string: keyword family, number: numeric, ip: ip, boolean: boolean); a field under an
  `object`/`flattened` field of the data stream (winlog.event_data.*) exists by its parent, and
  a field family (`winlog.event_data.*`) of a data stream without fields.yml in the material by
  a vendor event holding members of it;
* for Elastic Defend, the event-type field lists (event_docs) whose identification filter the
  source's filter selects list every mapped field;
* the EQL category is one of ECS's allowed event.category values and a vendor event (sample,
  pipeline test expected document, or the pipeline's own categorization table) of a data
  stream the entry reads carries it together with the entry's filter values;
* every filter value occurs in that field in a vendor event or event-type definition.

Then the samples (SAMPLES below: real vendor events for every source the library reads): the
source's compiled EQL selection (a probe rule `from SOURCE where not (F == "...")`, compiled by
detc) must select each of them on the `eql` engine as engines.py runs it (Elasticsearch's
documented semantics, ADJUSTMENTS), and the ES|QL `FROM` pattern must match the sample's data
stream (`logs-<data_stream.dataset>-<namespace>`) and its `WHERE` source tests must hold.

Entries of Sigma-only sources that no vendor material shows are listed in UNVERIFIED (each with
the text of the problem it excuses and why): those lines are printed as `not verified`.

One line per problem; exit 1 if any. --selftest runs the same checks on known-bad mapping
entries and fails unless each is reported.
"""
import argparse
import copy
import fnmatch
import glob
import itertools
import json
import os
import re
import subprocess
import sys

import eql
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import engines  # noqa: E402

VENDOR = os.path.join(HERE, "vendor", "elastic")
INTEGRATIONS = os.path.join(VENDOR, "integrations")

# data_stream.dataset -> folder under vendor/elastic/integrations, and whether the data stream
# maps only the fields its package declares (Elastic Defend: manifest.yml `dynamic: false`).
DATA_STREAMS = {
    "endpoint.events.process": ("endpoint/process", True),
    "endpoint.events.network": ("endpoint/network", True),
    "endpoint.events.file": ("endpoint/file", True),
    "endpoint.events.registry": ("endpoint/registry", True),
    "endpoint.events.library": ("endpoint/library", True),
    "endpoint.alerts": ("endpoint/alerts", True),
}
for _d in sorted(glob.glob(os.path.join(INTEGRATIONS, "*", "*"))):
    _pkg, _ds = _d.split(os.sep)[-2:]
    if _pkg != "endpoint" and os.path.isdir(_d):
        DATA_STREAMS[f"{_pkg}.{_ds}"] = (f"{_pkg}/{_ds}", False)

# Kibana's security alerts index (not a data stream): the detection engine writes each alert to
# the concrete index .internal.alerts-security.alerts-<space>-NNNNNN behind the alias
# .alerts-security.alerts-<space> (Kibana's es_archive of it: vendor/elastic/kibana/alerts-security/
# mappings.header.excerpt.txt), as an ECS document with the kibana.alert.* fields
# (data.first-doc.excerpt.json); ES|QL reads it as `FROM .alerts-security.*` (detection-rules'
# multiple_alerts_from_different_modules_by_user.toml). Index pattern -> its material here.
ALERT_INDICES = {".alerts-security.*": "kibana.alerts-security"}
ALERTS_DIR = os.path.join(VENDOR, "kibana", "alerts-security")
DATA_STREAMS["kibana.alerts-security"] = (os.path.relpath(ALERTS_DIR, INTEGRATIONS), False)


def es_archive_doc(data):
    """(document, [index names it is read by]) of an es_archive record ({"type": "doc",
    "value": {"index", "source"}}): the concrete index and the aliases its mappings give it."""
    index = data["value"]["index"]
    with open(os.path.join(ALERTS_DIR, "mappings.header.excerpt.txt"), encoding="utf-8") as f:
        header = f.read()
    aliases = re.findall(r'^ {6}"([^"]+)": \{', header, re.M)
    if f'"index": "{index}"' not in header:
        aliases = []
    return data["value"]["source"], [index] + aliases


# Sources on `logs-*`: the data streams (of the vendor material) whose events the source means,
# and why. A field of such a source must be in ECS or in one of these data streams.
LOGS_STAR = {
    "authentication": {
        "azure.signinlogs": "Entra ID sign-ins; the pipeline sets event.category authentication "
                            "(sample_event.json)",
        "okta.system": "Okta System Log; sign-ins carry event.category [authentication, session] "
                       "(sample_event.json)",
        "system.security": "Windows 4624/4625 (and Kerberos 4768/4769/4776): the pipeline's "
                           "categorization table (standard.yml) files them under authentication",
    },
    "web_request": {
        "zscaler_zia.web": "Zscaler Internet Access web (proxy) logs: event.category web, "
                           "http.request.*, url.* (sample_event.json)",
    },
    "firewall_traffic": {
        "panw.panos": "Palo Alto PAN-OS: network events with observer.type firewall (pipeline test "
                      "expected documents)",
    },
    "mail_event": {
        "proofpoint_tap.message_delivered": "Proofpoint TAP delivered messages: event.category email, "
                                            "email.to.address, source.ip (sample_event.json); the "
                                            "Exchange Online message trace integration sets no "
                                            "event.category and is not read by `category: email`",
    },
    "web_server": {
        "apache.access": "Apache HTTP Server access log: event.category web, url.*, http.*, user.name "
                         "(sample_event.json)",
        "nginx.access": "Nginx access log: event.category [web] (sample_event.json)",
        "iis.access": "IIS access log: event.category [web, network] (sample_event.json)",
    },
}

# Sigma-only sources (no library rule reads them) with an entry the vendor material does not show:
# {source: [(text of the problem line, why it cannot be verified)]}. Only a problem line containing
# one of the texts is printed as `not verified`; any other problem of the source fails as usual.
# A library source may never be listed here.
UNVERIFIED = {
    "guacd_log": [
        ("filter process.name = 'guacd'",
         "no vendor event of the syslog program guacd (Apache Guacamole's proxy daemon): the System "
         "integration's syslog tests hold other programs; process.name itself is verified"),
    ],
    "auditd": [
        ("auditd.log.nametype",
         "the Auditd Logs pipeline keeps every key=value of a record under auditd.log by its own name "
         "(kv processor, default.excerpt.yml) but no pipeline-test document in the material has a PATH "
         "record with nametype (the raw PATH test record uses the older key objtype)"),
    ],
}

# Real vendor events for each source the library reads, and the library sources that have none
# (with why): vendor/elastic/samples/index.yaml.
with open(os.path.join(VENDOR, "samples", "index.yaml"), encoding="utf-8") as _f:
    _index = yaml.safe_load(_f)
SAMPLES = {source: [(e["file"], e.get("index"), e["dataset"]) for e in entries]
           for source, entries in _index["samples"].items()}
NO_SAMPLE = _index["no_sample"]

STRING_TYPES = {"keyword", "constant_keyword", "wildcard", "text", "match_only_text", "version"}
NUMBER_TYPES = {"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float",
                "unsigned_long"}
COMPATIBLE = {"string": STRING_TYPES, "number": NUMBER_TYPES, "ip": {"ip"}, "boolean": {"boolean"}}
CONTAINERS = {"object", "flattened", "nested"}


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------- vendor material

class Vendor:
    def __init__(self):
        ecs = load_yaml(os.path.join(VENDOR, "ecs_flat.yml"))
        self.ecs = {name: f.get("type") for name, f in ecs.items()}
        self.categories = {v["name"] for v in ecs["event.category"]["allowed_values"]}
        self.outcomes = {v["name"] for v in ecs["event.outcome"]["allowed_values"]}
        self.logon_types = set(load_yaml(os.path.join(
            INTEGRATIONS, "system", "security", "logon_types.excerpt.yml"))["winlog.logon.type"].values())
        self._fields, self._docs, self._event_docs = {}, {}, {}

    def fields(self, dataset):
        """{field: type} a data stream declares (fields/*.yml; `external: ecs` takes ECS's type)."""
        if dataset not in self._fields:
            out = {}

            def walk(nodes, prefix):
                for n in nodes or []:
                    name = prefix + n["name"]
                    if n.get("type") == "group" or ("fields" in n and n.get("type") in (None, "group")):
                        walk(n.get("fields"), name + ".")
                        continue
                    kind = n.get("type")
                    if n.get("external") == "ecs":
                        kind = kind or self.ecs.get(name)
                    out[name] = kind
                    if n.get("fields"):  # multi-fields (.text) and object children
                        walk(n["fields"], name + ".")
            folder = os.path.join(INTEGRATIONS, DATA_STREAMS[dataset][0], "fields")
            for path in sorted(glob.glob(os.path.join(folder, "*.yml"))):
                walk(load_yaml(path), "")
            self._fields[dataset] = out
        return self._fields[dataset]

    def docs(self, dataset):
        """[(where, flat document)]: the data stream's sample event, pipeline-test expected
        documents, and the categorization table of its pipeline excerpts (one pseudo-document
        per event code: what the pipeline sets)."""
        if dataset not in self._docs:
            folder = os.path.join(INTEGRATIONS, DATA_STREAMS[dataset][0])
            out = []
            for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
                data = load_json(path)
                docs = data["expected"] if isinstance(data, dict) and "expected" in data else [data]
                if isinstance(data, dict) and data.get("type") == "doc":
                    docs = [es_archive_doc(data)[0]]
                for i, d in enumerate(docs):
                    out.append((f"{rel(path)}[{i}]", engines.flatten(d)))
            for path in sorted(glob.glob(os.path.join(folder, "*.excerpt.yml"))):
                for i, d in enumerate(load_yaml(path).get("documents", [])):
                    out.append((f"{rel(path)} (documents[{i}])", d))
                for proc in load_yaml(path).get("processors", []):
                    for code, what in (proc.get("script", {}).get("params") or {}).items():
                        out.append((f"{rel(path)} (code {code})", {
                            "event.code": str(code), "event.category": what.get("category"),
                            "event.type": what.get("type"), "event.action": what.get("action")}))
            self._docs[dataset] = out
        return self._docs[dataset]

    def event_docs(self, dataset):
        """Elastic Defend's event-type definitions: [(where, identification filter, fields)]."""
        if dataset not in self._event_docs:
            folder = os.path.join(INTEGRATIONS, DATA_STREAMS[dataset][0], "event_docs")
            out = []
            for path in sorted(glob.glob(os.path.join(folder, "*", "*.yaml"))):
                d = load_yaml(path)
                ident = (d.get("identification") or {}).get("filter") or {}
                fields = set(itertools.chain.from_iterable((d.get("fields") or {}).values()))
                out.append((rel(path), ident, fields))
            self._event_docs[dataset] = out
        return self._event_docs[dataset]


def rel(path):
    return os.path.relpath(path, VENDOR)


def values_of(value):
    return value if isinstance(value, list) else [] if value is None else [value]


def datasets_of(name, entry):
    """(datasets the index pattern reads, problem or None)."""
    index = entry.get("index") or ""
    if index == "logs-*":
        listed = LOGS_STAR.get(name)
        if not listed:
            return [], "index `logs-*` reads no data stream listed for it (LOGS_STAR in vendor_elastic.py)"
        missing = [d for d in listed if d not in DATA_STREAMS]
        if missing:
            return [], f"LOGS_STAR lists data streams without vendor material: {missing}"
        return list(listed), None
    out = []
    for pattern in index.split(","):
        if pattern.strip() in ALERT_INDICES:
            dataset = ALERT_INDICES[pattern.strip()]
            names = [n for path in glob.glob(os.path.join(ALERTS_DIR, "*.json"))
                     for n in es_archive_doc(load_json(path))[1]]
            if not any(fnmatch.fnmatchcase(n, pattern.strip()) for n in names):
                return [], f"index `{pattern}` names none of the vendor's alert indices {names}"
            out.append(dataset)
            continue
        m = re.fullmatch(r"logs-([a-z0-9_]+\.[a-z0-9_.*]+)-\*", pattern.strip())
        if not m:
            return [], f"index `{index}`: `{pattern}` is not a `logs-<dataset>-*` pattern"
        dataset = m.group(1)
        if "*" in dataset:
            # `logs-windows.applocker_*-*`: every data stream of the material the pattern names.
            names = sorted(d for d in DATA_STREAMS if fnmatch.fnmatchcase(d, dataset))
            if not names:
                return [], f"index `{index}`: no data stream of the vendor material matches `{dataset}`"
            out += names
            continue
        if dataset not in DATA_STREAMS:
            return [], (f"index `{index}`: no data stream `{dataset}` in the vendor material "
                        f"(Elastic Defend or elastic/integrations packages/<pkg>/data_stream/<ds>)")
        out.append(dataset)
    return out, None


def field_type(vendor, datasets, field, family=False):  # noqa: C901
    """(type, where) of a field for the data streams, or (None, None) when none has it. A name
    under an object/flattened field exists by its parent (type None, where set). With `family`
    (the mapping names `parent.*`), a vendor event holding members of the parent shows it."""
    for ds in datasets:
        declared = vendor.fields(ds)
        if field in declared:
            return declared[field], ds
        for name, kind in declared.items():  # `a.*.b`: an object keyed by index or name
            if "*" in name and re.fullmatch(re.escape(name).replace(r"\*", r"[^.]+"), field):
                return kind, f"{ds} ({name})"
        parts = field.split(".")
        for k in range(len(parts) - 1, 0, -1):
            parent = ".".join(parts[:k])
            if declared.get(parent) in CONTAINERS or (declared.get(parent) is None and parent in declared):
                return None, f"{ds} ({parent}: {declared.get(parent)})"
    if not all(DATA_STREAMS[ds][1] for ds in datasets) and field in vendor.ecs:
        return vendor.ecs[field], "ECS"
    for ds in datasets:  # a data stream whose fields.yml is not in the material: its events
        for where, flat in vendor.docs(ds):
            if field in flat:
                return None, f"{ds} ({where})"
            prefix = field.rsplit(".", 1)[0] + "."
            if family and any(k.startswith(prefix) for k in flat):
                return None, f"{ds} ({where}: {prefix}*)"
    return None, None


ESQL_WORDS = {"NULL", "TRUE", "FALSE", "AND", "OR", "NOT", "IS", "IN", "LIKE", "RLIKE"}


def esql_fields(expr):
    """The fields an ES|QL expression reads (not functions, keywords or strings)."""
    body = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    return {m for m in re.findall(r"(?<![\w.@])([A-Za-z_@][\w.@]*)\b(?!\s*\()", body)
            if m.upper() not in ESQL_WORDS}


def fact_columns(entry):
    """{rule.* field: column} detc computes from the entry's `facts:` field (none without one)."""
    facts = entry.get("facts")
    return {f: c for f, c in (entry.get("fields") or {}).items()
            if facts and c and f.startswith("rule.") and f != facts}


def doc_has(flat, field, value):
    have = flat.get(field)
    return any(str(v) == str(value) for v in values_of(have))


def check_entry(name, entry, schema, vendor):
    """Problems of one mapping entry (a list of lines)."""
    problems = []
    say = problems.append
    if not entry.get("source"):
        say(f"{name}: no `source:` naming the vendor document the entry rests on")
    enrichment = entry.get("enrichment") or {}
    if "source" in enrichment:
        return problems
    datasets, problem = datasets_of(name, entry)
    if problem:
        say(f"{name}: {problem}")
        return problems
    fields = schema.get(name, {})
    strict = all(DATA_STREAMS[ds][1] for ds in datasets)
    filt = entry.get("filter") or {}
    # Elastic Defend event types the entry's filter selects (identification filter agrees).
    selected_types = []
    if strict:
        for ds in datasets:
            for where, ident, flist in vendor.event_docs(ds):
                if all(k not in ident or any(str(v) in map(str, values_of(ident[k])) for v in values_of(val))
                       for k, val in filt.items()):
                    selected_types.append((where, flist))
    # `extend`: the columns it computes are checked through the vendor fields it reads.
    extend = entry.get("extend") or {}
    for column, expr in sorted(extend.items()):
        for read in esql_fields(expr):
            if read not in extend and field_type(vendor, datasets, read)[1] is None:
                say(f"{name}: extend {column} reads `{read}`, which exists in no data stream the entry "
                    f"reads ({', '.join(datasets)}){'' if strict else ' nor in ECS'}")
    # `facts: F`: the other rule.* fields are computed by detc from F and the project's rules
    # (src/lower.rs with_facts); their columns must not hide a vendor field.
    facts = fact_columns(entry)
    if entry.get("facts") and entry["facts"] not in (entry.get("fields") or {}):
        say(f"{name}: facts {entry['facts']}: no field of this source")
    for logical, target in sorted(facts.items()):
        if target in extend or field_type(vendor, datasets, target)[1] is not None:
            say(f"{name}: fact column `{target}` ({logical}) would hide a field the data holds")
    for logical, target in sorted((entry.get("fields") or {}).items()):
        if target is None or logical in enrichment or logical in facts or target in extend:
            continue
        kind = fields.get(logical) or fields.get(logical.rsplit(".", 1)[0] + ".*")
        probe = target.replace("*", "X") if "*" in target else target
        vtype, where = field_type(vendor, datasets, probe, family="*" in target)
        if where is None:
            say(f"{name}: field {logical} -> `{target}` exists in no data stream the entry reads "
                f"({', '.join(datasets)}){'' if strict else ' nor in ECS'}")
            continue
        if vtype is not None and kind in COMPATIBLE and vtype not in COMPATIBLE[kind]:
            say(f"{name}: field {logical} ({kind}) -> `{target}` is `{vtype}` in {where}")
        if selected_types and "*" not in target:
            lacking = [w for w, flist in selected_types if target not in flist]
            if len(lacking) == len(selected_types):
                say(f"{name}: field {logical} -> `{target}` is listed by none of Elastic Defend's "
                    f"event types the entry selects ({', '.join(w for w, _ in selected_types)})")
    # Filter values: each in a vendor event (or an Elastic Defend event-type definition).
    for field, value in filt.items():
        vtype, where = field_type(vendor, datasets, field)
        if where is None:
            say(f"{name}: filter field `{field}` exists in no data stream the entry reads")
        for v in values_of(value):
            if field == "event.dataset" and str(v) in datasets:
                continue  # ECS: event.dataset holds data_stream.dataset (the index names it)
            found = any(doc_has(flat, field, v) for ds in datasets for _, flat in vendor.docs(ds))
            found = found or any(str(v) in map(str, values_of(ident.get(field)))
                                 for ds in datasets for _, ident, _ in vendor.event_docs(ds))
            if not found:
                say(f"{name}: filter {field} = {v!r}: no vendor event of {', '.join(datasets)} has it")
    # Category: an ECS value that the pipeline writes for the entry's events.
    category = entry.get("category")
    if category != "any":
        if category not in vendor.categories:
            say(f"{name}: category `{category}` is not an ECS event.category value "
                f"({', '.join(sorted(vendor.categories))})")
        else:
            def selected(flat):
                return all(any(doc_has(flat, f, v) for v in values_of(val)) or f not in flat
                           for f, val in filt.items() if f != "event.dataset")
            hits = [w for ds in datasets for w, flat in vendor.docs(ds)
                    if category in values_of(flat.get("event.category")) and selected(flat)]
            if not hits and strict and selected_types:
                # Elastic Defend: the event type is documented (event_docs) but published only as a
                # field list; its data stream's own sample events give the category it is filed under.
                hits = [w for ds in datasets for w, flat in vendor.docs(ds)
                        if category in values_of(flat.get("event.category"))
                        and flat.get("event.dataset") == ds]
            if not hits:
                seen = sorted({c for ds in datasets for _, flat in vendor.docs(ds) if selected(flat)
                               for c in values_of(flat.get("event.category"))})
                say(f"{name}: category `{category}`: no vendor event of {', '.join(datasets)} matching "
                    f"the filter carries it (they carry: {', '.join(seen) or 'no event.category'})")
    return problems


# ---------------------------------------------------------------- samples on the engine

def probe_rules(mapping, schema, sources):
    """One rule per source: `from S where not (F == "...")`, F a string field mapped to a field
    of its own, so that the query is the source's selection and a test every event passes."""
    out = []
    for k, source in enumerate(sources):
        fields = mapping[source].get("fields") or {}
        computed = set(mapping[source].get("extend") or {}) | set(fact_columns(mapping[source]).values())
        pick = next(f for f, t in sorted(schema[source].items())
                    if t == "string" and "*" not in f and fields.get(f) and fields[f] not in computed)
        # A rule over an alert store (a source with `facts:`) must aggregate per entity (E0324).
        entity = next((f for f in ("host.name", "user.name") if fields.get(f)), None)
        group = (f'  group by {entity} window 1h\n  having count() >= 1\n'
                 if mapping[source].get("facts") and entity else "")
        out.append(f'rule probe_{source} "vendor sample probe" {{\n'
                   f'  id = "00000000-0000-4000-8000-{k:012d}"\n  severity = low\n'
                   f'  from {source}\n  where not ({pick} == "detc-vendor-probe-never")\n{group}}}\n')
    return "".join(out)


def compile_probes(detc, work, mapping_path, mapping, schema, sources):
    os.makedirs(work, exist_ok=True)
    path = os.path.join(work, "vendor_elastic_probes.det")
    with open(path, "w", encoding="utf-8") as f:
        f.write(probe_rules(mapping, schema, sources))
    cmd = [detc, "compile", path, "--format", "json", "--target", "elastic"]
    if mapping_path:
        cmd += ["--mapping", mapping_path]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"vendor_elastic: detc compile of the probes failed:\n{res.stderr}")
    queries = {}
    for e in json.loads(res.stdout):
        queries[(e["rule"][len("probe_"):], e["language"])] = e["query"]
    return queries


def unflatten(flat):
    nested = {}
    for name, value in flat.items():
        *parents, last = name.split(".")
        node = nested
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                break
        else:
            node[last] = value
    return nested


def eql_selects(query, doc):
    """Whether the EQL query selects the vendor document in Elasticsearch: the event category
    matches one of event.category's values; each test gets Elasticsearch's value (engines.py).
    A field holding several values (ECS arrays) is judged value by value: Lucene indexes each,
    and a term/terms/wildcard query matches the document when one of them matches (the probe's
    tests are positive but for the `not` on a field the samples leave single-valued)."""
    ast = engines.eql_parse_marked(query)
    first = ast.first
    categories = values_of(doc.get("event", {}).get("category"))
    if first.event_type != "any" and first.event_type not in categories:
        return False, f"event.category {categories} lacks `{first.event_type}`"
    flat = engines.flatten(doc)
    read = sorted({engines._field_name(n) for n in ast if isinstance(n, eql.ast.Field)})
    choices = []
    for f in read:
        v = flat.get(f)
        choices.append([(f, x) for x in v] if isinstance(v, list) and v else [(f, v)])
    global_fold = engines._query_folds(ast)
    for combo in itertools.product(*choices):
        flat_x = dict(flat)
        for f, v in combo:
            if v is None:
                flat_x.pop(f, None)
            else:
                flat_x[f] = v
        for f in list(flat_x):
            if isinstance(flat_x[f], list) and f not in read:
                del flat_x[f]
        ev = eql.Event(first.event_type, 0, unflatten(flat_x))
        es, _ = engines.es_condition(first.query, flat_x, ev, set(), global_fold)
        if es:
            return True, ""
    return False, "the source's filter rejects it: " + ", ".join(f"{f} = {flat.get(f)!r}" for f in read)


def esql_selects(query, doc, dataset, indices=None):
    """The ES|QL FROM pattern names the sample's data stream (or one of `indices`, the index and
    aliases an es_archive document is read by), and the WHERE lines before the probe (the
    category and filter tests) hold for it."""
    lines = query.split("\n")
    # A single-event query also reads the event's metadata (Kibana's non-aggregating rules).
    m = re.fullmatch(r"FROM (\S+)(?: METADATA _id, _version, _index)?", lines[0].strip())
    if not m:
        return False, f"no FROM line: {lines[0]!r}"
    namespace = doc.get("data_stream", {}).get("namespace", "default")
    names = indices or [f"logs-{dataset}-{namespace}"]
    if not any(fnmatch.fnmatchcase(n, p) for n in names for p in m.group(1).split(",")):
        return False, f"FROM {m.group(1)} does not match the data stream {' / '.join(names)}"
    flat = engines.flatten(doc)
    if "event.dataset" not in flat and not indices:
        flat["event.dataset"] = dataset  # a constant_keyword of the data stream (base-fields.yml)
    for line in lines[1:]:
        t = re.fullmatch(r'\| WHERE ([\w.@]+) == "([^"]*)"', line.strip())
        s = re.fullmatch(r'\| WHERE ([\w.@]+) IN \((.*)\)', line.strip())
        # Membership in an array field: `CONCAT(",", MV_CONCAT(f, ","), ",") LIKE "*,v,*"`
        # (or several joined by OR): true when one of the field's values is v.
        members = re.findall(r'CONCAT\(",", MV_CONCAT\(([\w.@]+), ","\), ","\) LIKE "\*,([^"*?,]*),\*"',
                             line)
        if members and len({f for f, _ in members}) == 1:
            field = members[0][0]
            have = {str(v) for v in values_of(flat.get(field))}
            if not have & {w for _, w in members}:
                return False, f"`{line.strip()}`: the sample has {field} = {flat.get(field)!r}"
            continue
        if t:
            field, wanted = t.group(1), [t.group(2)]
        elif s:
            field, wanted = s.group(1), re.findall(r'"([^"]*)"', s.group(2))
        else:
            continue
        have = [str(v) for v in values_of(flat.get(field))]
        if len(have) > 1:
            # ES|QL comparisons are single-valued: on a multi-valued field `==` / `IN` is null
            # (warning "single-value function encountered multi-value") and WHERE drops the row
            # (ES|QL multivalued fields: functions return null on multivalued fields unless
            # documented otherwise; use MV_CONTAINS / MV_* to test one of the values).
            return False, (f"`{line.strip()}`: the sample's {field} holds several values {flat.get(field)!r}, "
                           f"where an ES|QL comparison is null and WHERE drops the row")
        if not set(have) & set(wanted):
            return False, f"`{line.strip()}`: the sample has {field} = {flat.get(field)!r}"
    return True, ""


def check_samples(queries, mapping, library_sources):
    problems, notes = [], []
    for source in sorted(library_sources):
        entry = mapping[source]
        if "source" in (entry.get("enrichment") or {}):
            notes.append(f"{source}: no vendor sample (enrichment: {entry['enrichment']['source'][:90]}...)")
            continue
        if source in NO_SAMPLE:
            notes.append(f"{source}: no vendor sample: {NO_SAMPLE[source]}")
            continue
        if source not in SAMPLES:
            problems.append(f"{source}: the library reads it and no vendor sample event is listed (SAMPLES)")
            continue
        for path, index, dataset in SAMPLES[source]:
            data = load_json(os.path.join(INTEGRATIONS, path))
            doc = data["expected"][index] if index is not None else data
            indices = None
            if data.get("type") == "doc":
                doc, indices = es_archive_doc(data)
            where = f"{path}{'' if index is None else f'[{index}]'}"
            if (source, "eql") in queries:
                try:
                    ok, why = eql_selects(queries[(source, "eql")], doc)
                except (engines.CannotCompute, engines.OracleMismatch) as e:
                    ok, why = False, f"cannot judge: {e}"
                if not ok:
                    problems.append(f"{source}: EQL `{queries[(source, 'eql')]}` does not select the "
                                    f"vendor event {where}: {why}")
            if (source, "esql") in queries:
                ok, why = esql_selects(queries[(source, "esql")], doc, dataset, indices)
                if not ok:
                    problems.append(f"{source}: ES|QL does not select the vendor event {where}: {why}")
    return problems, notes


# ---------------------------------------------------------------- library cases in vendor values

def vocabulary(vendor, datasets, target):
    """The values the vendor writes to an enumerated field (None: not an enumerated field here):
    event.outcome (ECS allowed values), winlog.logon.type (Elastic's logon-type table), and
    Elastic Defend's event.action (its event types' identification filters and samples)."""
    if target == "event.outcome":
        return vendor.outcomes
    if target == "winlog.logon.type":
        return vendor.logon_types
    if target == "event.action" and datasets and all(DATA_STREAMS[ds][1] for ds in datasets):
        out = set()
        for ds in datasets:
            for _, ident, _ in vendor.event_docs(ds):
                out.update(map(str, values_of(ident.get("event.action"))))
            for _, flat in vendor.docs(ds):
                out.update(map(str, values_of(flat.get("event.action"))))
        return out
    return None


def check_case_values(cases, mapping, vendor):
    """Each library rule's `matches` cases, rendered as Elasticsearch documents (engines.py), must
    include one whose enumerated values are all values the vendor writes (so that the rule's
    compiled EQL, which check.py runs over the same documents, is shown to fire on vendor-shaped
    data). Returns (problems, notes)."""
    m = engines.Mappings.__new__(engines.Mappings)
    m.elastic = mapping
    problems, notes, by_rule = [], [], {}
    for case in cases:
        if not case.get("expect_match") or not isinstance(case.get("matched"), bool):
            continue
        events = ([(ev, src) for _, _, src, ev in engines.case_events(case)] if isinstance(case["event"], list)
                  else [(case["event"], case["source"])])
        off = []
        for ev, src in events:
            entry = mapping.get(src) or {}
            if "source" in (entry.get("enrichment") or {}):
                continue
            datasets, problem = datasets_of(src, entry)
            for logical, value in engines.flatten(ev).items():
                target = (entry.get("fields") or {}).get(logical)
                if target is None or logical in (entry.get("enrichment") or {}):
                    continue
                vocab = vocabulary(vendor, [] if problem else datasets, target)
                if vocab is not None and str(value) not in vocab:
                    off.append(f"{src}.{logical} -> {target} = {value!r} (vendor: {', '.join(sorted(vocab))})")
        by_rule.setdefault(case["rule"], []).append((case["case"], off))
    for rule, results in sorted(by_rule.items()):
        for name, off in results:
            if off:
                notes.append(f"library case {rule} \"{name}\": not vendor-shaped on Elastic: {'; '.join(off)}")
        if all(off for _, off in results):
            problems.append(f"library rule {rule}: no `matches` case renders values Elastic's vendors write "
                            f"({results[0][1][0]})")
    return problems, notes


# ---------------------------------------------------------------- driver

def library_sources(repo):
    out = set()
    for path in glob.glob(os.path.join(repo, "detections", "**", "*.det"), recursive=True):
        with open(path, encoding="utf-8") as f:
            text = re.sub(r"#[^\n]*", "", f.read())
        text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
        out.update(re.findall(r"\bfrom\s+([a-z_][a-z0-9_]*)", text))
        out.update(re.findall(r"^\s*([a-z_][a-z0-9_]*)\s+where\b", text, re.M))
    return out


def run_checks(repo, detc, work, mapping, schema, vendor, mapping_path=None, sources=None):
    problems, notes = [], []
    lib = {s for s in library_sources(repo) if s in mapping}
    for name in sorted(sources or mapping):
        found = check_entry(name, mapping[name], schema, vendor)
        if name in UNVERIFIED and name not in lib:
            for p in found:
                why = next((w for needle, w in UNVERIFIED[name] if needle in p), None)
                if why is None:
                    problems.append(p)
                else:
                    notes.append(f"not verified ({why}): {p}")
            unused = [needle for needle, _ in UNVERIFIED[name] if not any(needle in p for p in found)]
            problems += [f"{name}: UNVERIFIED lists `{n}`, which the checks no longer report" for n in unused]
        else:
            problems += found
    problems += [f"{n}: a library source cannot be UNVERIFIED" for n in sorted(lib & set(UNVERIFIED))]
    for name in sorted(sources or mapping):
        if fact_columns(mapping[name]):
            notes.append(f"{name}: columns computed by detc from {mapping[name]['facts']} (no vendor claim): " +
                         ", ".join(f"{f} -> {c}" for f, c in sorted(fact_columns(mapping[name]).items())))
    probe_sources = sorted(s for s in lib if s in SAMPLES)
    shipped = os.path.join(repo, "targets", "elastic.yaml")
    queries = compile_probes(detc, work, mapping_path or shipped, mapping, schema, probe_sources)
    p, n = check_samples(queries, mapping, lib)
    problems, notes = problems + p, notes + n
    res = subprocess.run([detc, "test", "--format", "json"], cwd=repo, capture_output=True, text=True)
    try:
        cases = json.loads(res.stdout)
    except ValueError:
        return problems + [f"`detc test --format json` gave no JSON: {res.stderr.strip()[:300]}"], notes
    p, n = check_case_values(cases, mapping, vendor)
    return problems + p, notes + n


def selftest(repo, detc, work, mapping, schema, vendor):
    """Known-bad entries, each of which the checks must report."""
    bad = []

    def variant(label, source, change, expect):
        m = copy.deepcopy(mapping)
        change(m[source])
        bad.append((label, source, m, expect))

    variant("unknown field", "host_logon",
            lambda e: e["fields"].__setitem__("logon.type", "winlog.logon.kind"), "exists in no data stream")
    variant("6416 under category driver", "usb_device", lambda e: e.__setitem__("category", "driver"),
            "category `driver`")
    variant("a filter value no vendor event has", "host_logon",
            lambda e: e.__setitem__("filter", {"event.code": ["4624", "4999"]}), "'4999'")
    variant("an index with no such data stream", "host_logon",
            lambda e: e.__setitem__("index", "logs-system.securitylog-*"), "no data stream `system.securitylog`")
    variant("a type the vendor field does not have", "authentication",
            lambda e: e["fields"].__setitem__("device.managed", "azure.signinlogs.properties.device_detail.device_id"),
            "is `keyword`")
    variant("Entra audit logs under category iam (the pipeline sets none)", "directory_audit",
            lambda e: (e.__setitem__("category", "iam"), e.pop("filter", None)), "category `iam`")
    variant("a category outside ECS", "process_start", lambda e: e.__setitem__("category", "processes"),
            "not an ECS event.category")
    variant("no vendor reference", "git_audit", lambda e: e.pop("source", None), "no `source:`")
    variant("logs-* without listed data streams", "host_logon", lambda e: e.__setitem__("index", "logs-*"),
            "LOGS_STAR")
    variant("PE version info, which Elastic Defend's process events do not record", "process_start",
            lambda e: e.pop("enrichment", None), "is listed by none of Elastic Defend's event types")
    variant("Zeek's certificate subject read as a string (the pipeline keeps only its parsed parts)",
            "zeek_x509", lambda e: (e.pop("enrichment", None),
                                    e["fields"].__setitem__("zeek.x509.certificate.subject",
                                                            "zeek.x509.certificate.subject")),
            "exists in no data stream")
    variant("a wildcard index naming no data stream", "windows_applocker",
            lambda e: e.__setitem__("index", "logs-windows.applocker_x*-*"),
            "no data stream of the vendor material matches")
    variant("a SERVICE_STOP record's type in event.action (the pipeline writes stopped-service)", "auditd",
            lambda e: e.__setitem__("filter", {"event.action": "service_stop"}),
            "'service_stop'")
    variant("an alerts field mapped to a made-up column (only rule.* facts are detc's)", "alerts",
            lambda e: e["fields"].__setitem__("user.name", "detc_alert_account"), "exists in no data stream")
    variant("rule.* columns without `facts:`", "alerts", lambda e: e.pop("facts"),
            "`detc_rule_category` exists in no data stream")
    variant("an extend reading a field the alerts do not hold", "alerts",
            lambda e: e["extend"].__setitem__("detc_alert_user", 'TO_LOWER(user.account_name)'),
            "reads `user.account_name`")
    variant("an alerts index pattern naming no alert index", "alerts",
            lambda e: e.__setitem__("index", ".alerts-observability.*"), "is not a `logs-<dataset>-*` pattern")
    missed = 0
    for label, source, m, expect in bad:
        found = [p for p in check_entry(source, m[source], schema, vendor) if expect in p]
        print(f"selftest {'ok  ' if found else 'MISSED'} {label}: {found[0] if found else '(not reported)'}")
        missed += not found
    # A library case in values no vendor writes (the Logon_Type trap, here as numbers
    # on Elastic, where the System integration writes names).
    fake = [{"rule": "selftest_numeric_logon_type", "case": "matches", "expect_match": True, "matched": True,
             "source": "host_logon", "event": {"logon.type": "2", "event.outcome": "success"}}]
    problems, _ = check_case_values(fake, mapping, vendor)
    found = [p for p in problems if "selftest_numeric_logon_type" in p]
    print(f"selftest {'ok  ' if found else 'MISSED'} a matches case with logon.type \"2\": "
          f"{found[0] if found else '(not reported)'}")
    missed += not found
    # ES|QL's single-valued comparison on Okta's two-valued event.category.
    okta = load_json(os.path.join(INTEGRATIONS, "okta", "system", "sample_event.json"))
    ok, why = esql_selects('FROM logs-*\n| WHERE event.category == "authentication"', okta, "okta.system")
    print(f"selftest {'ok  ' if not ok else 'MISSED'} ES|QL `event.category ==` on a multi-valued category: "
          f"{why or '(not reported)'}")
    missed += ok
    # The sample check: a filter that excludes the vendor's own events must be reported.
    overlay = os.path.join(work, "vendor_elastic_selftest_mapping.yaml")
    m = copy.deepcopy(mapping)
    m["process_start"]["filter"] = {"event.type": "creation"}
    m["host_logon"]["index"] = "logs-windows.security-*"
    with open(overlay, "w", encoding="utf-8") as f:
        yaml.safe_dump({"target": "elastic", "sources": {"process_start": m["process_start"],
                                                          "host_logon": m["host_logon"]}}, f)
    queries = compile_probes(detc, work, overlay, m, schema, ["process_start", "host_logon"])
    problems, _ = check_samples(queries, m, {"process_start", "host_logon"})
    for label, needle in (("process_start filtered to event.type creation", "process_start: EQL"),
                          ("host_logon read from a data stream the sample is not in", "host_logon: ES|QL")):
        found = [p for p in problems if p.startswith(needle)]
        print(f"selftest {'ok  ' if found else 'MISSED'} {label}: {found[0] if found else '(not reported)'}")
        missed += not found
    return missed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", required=True)
    ap.add_argument("--detc", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--selftest", action="store_true")
    args = ap.parse_args()
    mapping = load_yaml(os.path.join(args.repo, "targets", "elastic.yaml"))["sources"]
    schema = {s: m["fields"] for s, m in load_yaml(os.path.join(args.repo, "targets", "schema.yaml"))["sources"].items()}
    vendor = Vendor()
    if args.selftest:
        missed = selftest(args.repo, args.detc, args.work, mapping, schema, vendor)
        print(f"vendor_elastic selftest: {'FAILED, ' + str(missed) + ' known-bad entries not reported' if missed else 'every known-bad entry reported'}")
        return 1 if missed else 0
    problems, notes = run_checks(args.repo, args.detc, args.work, mapping, schema, vendor)
    for n in notes:
        print(f"note: {n}")
    for p in problems:
        print(f"FAIL elastic vendor: {p}")
    print(f"vendor_elastic: {len(mapping)} sources, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
