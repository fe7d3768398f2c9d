#!/usr/bin/env python3
"""The Sentinel mapping (targets/sentinel.yaml) checked against Microsoft's own material.

    vendor_sentinel.py --repo REPO --detc DETC --work WORKDIR     # the mapping and the samples
    vendor_sentinel.py --selftest [--repo REPO]                   # known-bad entries must fail

Microsoft's table schemas are in conformance/vendor/sentinel/tables/: the Azure-Sentinel KQL
validation schemas (`.script/tests/KqlvalidationsTests/CustomTables/*.json`) and, converted
by tables/../ref_to_json.py, Microsoft's Azure Monitor Logs table reference (generated from
the live schemas). Where both have a table, the columns are the union and the reference's
type wins. Tables and columns that no Microsoft product writes (custom `_CL` tables of a
deployment, `_CF` columns an ingestion-time transformation adds) have a schema of ours in
vendor/sentinel/enrichment_tables.yaml, accepted only where the mapping entry says
`enrichment:` for the whole source or for the field. Enumerated values (ActionType and other
filter values, values an `extend` compares a column with, properties of dynamic columns) are
cited in vendor/sentinel/values.yaml, each by a Microsoft file stored under vendor/sentinel/
that holds it.

Checks, for every source entry (one line per problem, exit 1 on any):
* `source:` names the vendor document the entry rests on;
* the table is in Microsoft's schemas, or the entry says `enrichment: {source: ...}` and
  enrichment_tables.yaml declares it; each `union` member likewise;
* `expand: X = todynamic(C)`: C is a column of the table and X none, X is dynamic and its
  properties are cited as C's; with `facts: F`, the other `rule.*` fields map to columns detc
  computes (no vendor claim, listed in a NOTE; refused if they would hide a vendor column);
* each filter column, mapped column and column an `extend` reads exists in the table (the
  properties an `extend` reads: of a dynamic column or one it converts, cited); a
  dotted column (X.y) is a property of X, which must be dynamic (in every union member too,
  or converted there with todynamic); a column that no vendor table has must be marked
  `enrichment:` for its field and declared in enrichment_tables.yaml with the vendor columns
  it is computed `from:` (which must exist: a value no source holds cannot be enriched);
* each filter value and each value an `extend` compares a column with is cited in
  values.yaml (values listed there as `unverified` are accepted, with a NOTE, only for
  sources the library does not read); properties are cited or reported as NOTE;
* fields whose values the schema enumerates (logon.type, event.outcome) can only hold the
  schema's words: an `extend`'s results, or the cited values of the column.
Then the vendor sample events (vendor/sentinel/samples/) are loaded as rows of their table and
each source's compiled selection (`detc compile` of a rule that only names the source) must
select them on DuckDB-KQL.
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
VENDOR = os.path.join(HERE, "vendor", "sentinel")

# Kusto type names as the schema files spell them, to Kusto.Language's scalar types.
TYPES = {"string": "string", "int": "int", "int32": "int", "long": "long", "int64": "long",
         "bigint": "long", "real": "real", "double": "real", "float": "real", "decimal": "real",
         "bool": "bool", "boolean": "bool", "datetime": "datetime", "dynamic": "dynamic",
         "guid": "guid", "timespan": "timespan"}

# Schema fields whose values targets/schema.yaml enumerates ((source or "*", field): words): a
# mapping must give these words. logon.type is a Windows logon type name for host logons
# (schema.yaml host_logon); IdP sign-ins give it a meaning of their own (see each mapping).
DOMAINS = {
    ("host_logon", "logon.type"): {"Interactive", "RemoteInteractive", "Network", "Batch", "Service",
                                   "Unlock", "NetworkCleartext", "NewCredentials", "CachedInteractive",
                                   "CachedRemoteInteractive", "CachedUnlock"},
    ("*", "event.outcome"): {"success", "failure", "unknown"},
}

KQL_WORDS = {"and", "or", "not", "in", "has", "contains", "startswith", "endswith", "matches",
             "regex", "true", "false", "null", "between", "dynamic", "datetime", "bool", "long",
             "int", "real", "string", "typeof", "iff", "iif", "case", "extend", "where", "project",
             "has_any", "has_all", "in~", "notin", "by", "on", "kind"}


# ---------------------------------------------------------------- vendor material

def _table_file(path):
    with open(path, encoding="utf-8-sig") as f:
        doc = json.load(f)
    columns = {}
    for c in doc["Properties"]:
        name = c.get("Name", c.get("name"))
        kind = c.get("Type", c.get("type")).lower()
        if kind not in TYPES:
            raise ValueError(f"{path}: unknown type {kind!r} for {name}")
        columns.setdefault(name, TYPES[kind])
    return os.path.basename(path)[:-len(".json")], columns


def vendor_tables():
    """({table: {column: type}}, {table: [files]}) from Microsoft's schemas. The table name is
    the file's (Azure-Sentinel's GWorkspace_* files carry an older internal Name)."""
    tables, origin = {}, {}
    custom = sorted(glob.glob(os.path.join(VENDOR, "tables", "*.json")))
    reference = sorted(glob.glob(os.path.join(VENDOR, "tables", "azure-monitor-ref", "*.json")))
    for path in custom + reference:  # the reference last: its type wins
        name, columns = _table_file(path)
        merged = tables.setdefault(name, {})
        merged.update(columns)
        origin.setdefault(name, []).append(os.path.relpath(path, VENDOR))
    return tables, origin


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def enrichment_schema():
    return load_yaml(os.path.join(VENDOR, "enrichment_tables.yaml"))


def kusto_schema():
    """{table: {column: type}}: Microsoft's tables, with the custom tables and `_CF` columns
    of enrichment_tables.yaml (which this script checks against the mapping's `enrichment:`)."""
    tables, _ = vendor_tables()
    tables = {t: dict(c) for t, c in tables.items()}
    extra = enrichment_schema()
    for table, spec in (extra.get("tables") or {}).items():
        tables[table] = {c: TYPES[k] for c, k in spec["columns"].items()}
    for table, columns in (extra.get("columns") or {}).items():
        for column, spec in columns.items():
            tables.setdefault(table, {})[column] = TYPES[spec["type"]]
    return tables


def provenance_problems():
    """Every file under vendor/sentinel/ is listed in PROVENANCE.tsv with its SHA-256."""
    import hashlib
    with open(os.path.join(VENDOR, "PROVENANCE.tsv"), encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    header, rows = rows[0], rows[1:]
    listed = {r[0]: r[header.index("sha256")] for r in rows}
    out = []
    for path in glob.glob(os.path.join(VENDOR, "**", "*"), recursive=True):
        rel = os.path.relpath(path, VENDOR)
        if os.path.isdir(path) or rel == "PROVENANCE.tsv" or "__pycache__" in rel:
            continue
        if rel not in listed:
            out.append(f"PROVENANCE.tsv does not list {rel}")
        elif hashlib.sha256(open(path, "rb").read()).hexdigest() != listed[rel]:
            out.append(f"PROVENANCE.tsv: {rel} differs from the recorded SHA-256")
    out += [f"PROVENANCE.tsv lists {rel}, which is not there" for rel in listed
            if not os.path.exists(os.path.join(VENDOR, rel))]
    return out


def provenance_paths():
    path = os.path.join(VENDOR, "PROVENANCE.tsv")
    with open(path, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    return {r[0] for r in rows[1:]}


class Citations:
    """values.yaml: the cited values and properties, each with the file that holds it."""

    def __init__(self, doc=None):
        doc = doc if doc is not None else load_yaml(os.path.join(VENDOR, "values.yaml"))
        self.values = doc.get("values") or {}
        self.properties = doc.get("properties") or {}
        self.unverified = doc.get("unverified") or {}
        self.closed = doc.get("closed") or {}
        self._texts = {}

    def text(self, rel):
        if rel not in self._texts:
            path = os.path.join(VENDOR, rel)
            self._texts[rel] = open(path, encoding="utf-8", errors="replace").read() if os.path.exists(path) else None
        return self._texts[rel]

    def value(self, table, column, value):
        """('cited', file) | ('unverified', reason) | (None, None)."""
        key = str(value)
        cited = ((self.values.get(table) or {}).get(column) or {})
        if key in {str(k) for k in cited}:
            return "cited", {str(k): v for k, v in cited.items()}[key]
        loose = ((self.unverified.get(table) or {}).get(column) or {})
        if key in {str(k) for k in loose}:
            return "unverified", {str(k): v for k, v in loose.items()}[key]
        return None, None

    def known(self, table, column):
        """Every value cited or listed unverified for the column (for closed enumerations)."""
        out = {str(k) for k in ((self.values.get(table) or {}).get(column) or {})}
        return out | {str(k) for k in ((self.unverified.get(table) or {}).get(column) or {})}

    def prop(self, table, column, name):
        return ((self.properties.get(table) or {}).get(column) or {}).get(name)

    def quoted(self, what, name, cited, provenance):
        """A citation {file: F, quote: Q}: F is stored and listed, holds Q (runs of white space
        compared as one space), and Q holds `name` as a whole word. For facts a file states in
        a form the plain checks do not read: `EventID == 1` (a number), `Name = EventDetail.[6]`
        (a Sysmon EventData item parsed into a column), `EventData["Threat Name"]`."""
        rel, quote = cited.get("file"), cited.get("quote")
        text = self.text(rel) if isinstance(rel, str) else None
        squash = lambda s: re.sub(r"\s+", " ", s)
        if text is None or not isinstance(quote, str):
            return [f"values.yaml {what}: a quoted citation needs `file:` (a stored file) and `quote:`"]
        if rel not in provenance:
            return [f"values.yaml {what}: {rel} is not in PROVENANCE.tsv"]
        if not re.search(r"(?<![\w-])" + re.escape(str(name)) + r"(?![\w-])", quote):
            return [f"values.yaml {what}: the quote {quote!r} does not name {name!r}"]
        if squash(quote) not in squash(text):
            return [f"values.yaml {what}: {rel} does not hold {quote!r}"]
        return []

    def problems(self, provenance):
        """The citations themselves: each file stored, listed in PROVENANCE.tsv, holding the value."""
        # A value is quoted in code and queries, a word in Microsoft's table reference pages.
        def edge(rel):
            return r"\b" if rel.endswith(".md") and "azure-monitor-ref" in rel else r"""["']"""
        out = []
        for table, columns in self.values.items():
            for column, values in columns.items():
                for value, rel in values.items():
                    if isinstance(rel, dict):
                        out += self.quoted(f"{table}.{column} = {value!r}", value, rel, provenance)
                        continue
                    text = self.text(rel)
                    if text is None:
                        out.append(f"values.yaml {table}.{column} = {value!r}: no file {rel}")
                    elif rel not in provenance:
                        out.append(f"values.yaml {table}.{column} = {value!r}: {rel} is not in PROVENANCE.tsv")
                    elif not re.search(edge(rel) + re.escape(str(value)) + edge(rel), text):
                        out.append(f"values.yaml {table}.{column} = {value!r}: {rel} does not hold it")
        for table, columns in self.properties.items():
            for column, props in columns.items():
                for name, rel in props.items():
                    if isinstance(rel, dict):
                        out += self.quoted(f"property {table}.{column}.{name}", name, rel, provenance)
                        continue
                    text = self.text(rel)
                    if text is None or rel not in provenance:
                        out.append(f"values.yaml property {table}.{column}.{name}: {rel} missing or not in PROVENANCE.tsv")
                    elif not re.search(r"[.$]" + re.escape(name) + r"\b", text):
                        out.append(f"values.yaml property {table}.{column}.{name}: {rel} does not hold it")
        return out


# ---------------------------------------------------------------- the mapping

def library_sources(repo):
    """The sources the shipped rules (detections/) read."""
    names = set()
    for path in glob.glob(os.path.join(repo, "detections", "**", "*.det"), recursive=True):
        text = open(path, encoding="utf-8").read()
        text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
        text = re.sub(r"#.*", "", text)
        names.update(re.findall(r"\bfrom\s+([a-z_][a-z0-9_]*)", text))
        names.update(re.findall(r"^\s+([a-z_][a-z0-9_]*)\s+where\b", text, re.M))
    return names


def _strip_strings(expr):
    return re.sub(r'@"(?:[^"]|"")*"|@\'(?:[^\']|\'\')*\'|"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)


def expression_columns(expr):
    """The column names a KQL expression reads (not functions, keywords, properties, `{*}`)."""
    body = _strip_strings(expr).replace("{*}", "")
    names = set()
    for m in re.finditer(r"(?<![\w.$@])([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*\()", body):
        if m.group(1).lower() not in KQL_WORDS:
            names.add(m.group(1))
    return names


def property_reads(expr):
    """(column, property) for every `Column.prop` and `todynamic(Column)["prop"]` an expression
    reads (properties of properties are not followed)."""
    out = re.findall(r"(?<![\w.$@])([A-Za-z_]\w*)\.([A-Za-z_]\w*)", _strip_strings(expr))
    out += re.findall(r'\b([A-Za-z_]\w*)\s*\)?\s*\[\s*"([^"]+)"\s*\]', expr)
    return out


def compared_values(expr):
    """(column, value) for every `Column == "value"` / `Column in ("a", "b")` in an expression."""
    out = []
    for m in re.finditer(r'\b([A-Za-z_]\w*)\s*(?:==|!=)\s*"((?:[^"\\]|\\.)*)"', expr):
        out.append((m.group(1), m.group(2)))
    for m in re.finditer(r'\b([A-Za-z_]\w*)\s+(?:in|!in)\s*\(([^)]*)\)', expr):
        out += [(m.group(1), v) for v in re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2))]
    return out


def result_values(expr):
    """The string literals an iff/case expression can yield (those not compared with a column)."""
    if not re.match(r"\s*(iff|iif|case)\(", expr):
        return None
    # Drop the operands of comparisons and `in` lists: what is left is what it yields.
    rest = re.sub(r'(?:==|!=|=~|!~)\s*"(?:[^"\\]|\\.)*"', "", expr)
    rest = re.sub(r'\b(?:in~?|!in~?)\s*\([^)]*\)', "", rest)
    return re.findall(r'"((?:[^"\\]|\\.)*)"', rest)


def fact_columns(entry):
    """{rule.* field: column} detc computes from the entry's `facts:` field and the project's
    rules (src/lower.rs with_facts); none without `facts:`."""
    facts = entry.get("facts")
    return {f: c for f, c in (entry.get("fields") or {}).items()
            if facts and c and f.startswith("rule.") and f != facts}


def union_members(entry):
    """[(table, expression)] for a mapping entry's `union` list."""
    out = []
    for expr in entry.get("union") or []:
        m = re.match(r"\s*\(?\s*([A-Za-z_]\w*)", expr)
        out.append((m.group(1) if m else expr, expr))
    return out


def check_source(name, entry, schema, vendor, enrich, cite, library, label=None):
    """Problems (strings) and notes for one source entry (`label`: how to name it, if not by
    its source name)."""
    problems, notes = [], []
    label = label or name
    say = lambda msg: problems.append(f"sentinel source {label}: {msg}")
    note = lambda msg: notes.append(f"NOTE sentinel source {label}: {msg}")
    marks = entry.get("enrichment") or {}
    refs = entry.get("source")
    if not refs or (isinstance(refs, list) and not all(isinstance(r, str) and r.strip() for r in refs)):
        say("no `source:` naming the vendor document it rests on")
    table = entry.get("table")
    custom = (enrich.get("tables") or {})
    if "source" in marks:
        if table in vendor:
            say(f"`enrichment: source` on {table}, a table Microsoft ships: mark the fields that need building instead")
        elif table not in custom:
            say(f"custom table {table} has no schema in vendor/sentinel/enrichment_tables.yaml")
    elif table not in vendor:
        say(f"table {table} is in no Microsoft schema (vendor/sentinel/tables); a table no product "
            "ships needs `enrichment: {source: what must be built}`")
    columns = dict(schema.get(table, {}))
    extend = entry.get("extend") or {}
    per_member = [k for k in extend if "*" in k]

    # `expand: X = todynamic(C)` (rendered `| mv-expand`): X is a dynamic column, one element
    # of C's JSON array per row; its properties are cited as C's.
    expanded = {}
    if entry.get("expand"):
        m = re.fullmatch(r"\s*([A-Za-z_]\w*)\s*=\s*(?:todynamic|parse_json)\(\s*([A-Za-z_]\w*)\s*\)\s*", entry["expand"])
        if not m:
            say(f"expand {entry['expand']!r}: not `Column = todynamic(VendorColumn)`")
        elif m.group(2) not in columns:
            say(f"expand reads {m.group(2)}, no column of {table}")
        elif m.group(1) in columns:
            say(f"expand {m.group(1)} would hide {table}.{m.group(1)}, a vendor column")
        else:
            expanded[m.group(1)] = m.group(2)
            columns[m.group(1)] = "dynamic"

    # `facts: F`: the other rule.* fields are computed by detc from F and the project's rules
    # (src/lower.rs with_facts), so their columns are detc's; any other column is checked.
    facts, computed_facts = entry.get("facts"), fact_columns(entry)
    if facts and facts not in (entry.get("fields") or {}):
        say(f"facts {facts}: no field of this source")
    for field, column in computed_facts.items():
        if column in columns or column in extend:
            say(f"fact column {column} ({field}) would hide {'an extend' if column in extend else f'{table}.{column}'}")
    if computed_facts:
        note("columns computed by detc from " + facts + " (no vendor claim): " +
             ", ".join(f"{f} -> {c}" for f, c in sorted(computed_facts.items())))

    # Union members: Microsoft tables, and the dotted columns the mapping reads dynamic there.
    members = []
    for member, expr in union_members(entry):
        if member not in vendor and member not in custom:
            say(f"union member {member} is in no Microsoft schema")
            continue
        mcols = dict(schema.get(member, {}))
        for col, conv in re.findall(r"\b([A-Za-z_]\w*)\s*=\s*(todynamic|parse_json)\(", expr):
            if col not in mcols:
                say(f"union member {member}: `{col} = {conv}(...)` converts no column of {member}")
            mcols[col] = "dynamic"
        for col in expression_columns(re.sub(r"^\s*\(?\s*[A-Za-z_]\w*", "", expr)) - {member}:
            if col not in mcols and col not in ("todynamic", "parse_json"):
                say(f"union member {member}: `{col}` is no column of {member}")
        members.append((member, mcols))

    def column_ok(column, field, why):
        root, *path = column.split(".")
        if column in extend or root in extend:
            return
        if any(re.fullmatch(k.replace("*", ".*"), root) for k in per_member):
            return
        if root.endswith("*"):  # a family pattern over a dynamic column: EventData.*
            root = root.rstrip("*").rstrip(".")
        if root in expanded and path and cite.prop(table, expanded[root], path[0]) is None:
            note(f"property {root}.{path[0]} (an element of {table}.{expanded[root]}) cited by no Microsoft file in values.yaml")
        kind = columns.get(root)
        declared = ((enrich.get("columns") or {}).get(table) or {}).get(root)
        if kind is None or (declared and table in vendor and root not in vendor[table]):
            if field and field in marks and declared:
                for src in declared.get("from") or []:
                    if src.split(".")[0] not in vendor.get(table, {}):
                        say(f"{root} (enrichment of {field}) is computed from {src}, which {table} does not have")
                if not declared.get("from"):
                    say(f"{root} (enrichment of {field}): no column of {table} holds what it is computed "
                        f"from, so no enrichment can fill it; map the field to ~ and say so")
                return
            if kind is None or declared:
                say(f"{why} {table}.{root} is in no Microsoft schema" +
                    ("" if field is None else f"; a built column needs `enrichment: {{{field}: ...}}` "
                     "and a declaration in enrichment_tables.yaml"))
            return
        if path or column.endswith(".*"):
            if kind != "dynamic":
                say(f"{why} {column}: {table}.{root} is {kind}, not dynamic")
            for member, mcols in members:
                if mcols.get(root) not in (None, "dynamic"):
                    say(f"{why} {column}: union member {member} has {root} as {mcols[root]}; "
                        f"convert it (`{root} = todynamic({root})`)")
            if path and not column.endswith(".*") and root not in expanded:
                if cite.prop(table, root, path[0]) is None:
                    note(f"property {table}.{root}.{path[0]} cited by no Microsoft file in values.yaml")
        if field and field in marks and table in vendor and root in vendor[table]:
            note(f"`enrichment` for {field}, but {table}.{root} is a Microsoft column")

    def value_ok(column, value, what):
        status, detail = cite.value(table, column, value)
        if status == "cited":
            return
        if status == "unverified":
            if name in library:
                say(f"{what} {column} = {value!r} is unverified ({detail}) and the library reads this source")
            else:
                note(f"{what} {column} = {value!r} unverified: {detail}")
            return
        say(f"{what} {table}.{column} = {value!r} is in no vendor material (values.yaml)")

    for column, value in (entry.get("filter") or {}).items():
        column_ok(column, None, "filter column")
        kind = columns.get(column.split(".")[0])
        for v in value if isinstance(value, list) else [value]:
            if kind in ("int", "long") and not isinstance(v, int):
                say(f"filter {column} = {v!r}: {column} is {kind}, the value must be a number")
            if kind == "string" and not isinstance(v, str):
                say(f"filter {column} = {v!r}: {column} is a string column, the value must be text")
            value_ok(column, v, "filter")
    for key, expr in extend.items():
        for col in expression_columns(expr):
            if col in extend or col == key:
                continue
            if col not in columns:
                say(f"extend {key} reads {col}, no column of {table}")
        # Properties the expression reads (X.p, todynamic(X)["p"]): of a dynamic column, or of
        # one it converts, and cited as the fields' are.
        for col, prop in property_reads(expr):
            if col not in columns or col in extend:
                continue
            if columns[col] != "dynamic" and not re.search(rf"(?:todynamic|parse_json)\(\s*{col}\s*\)", expr):
                say(f"extend {key} reads {col}.{prop}: {table}.{col} is {columns[col]}, not dynamic (convert it with todynamic)")
            owner = expanded.get(col, col)
            if cite.prop(table, owner, prop) is None:
                note(f"extend {key}: property {table}.{owner}.{prop} cited by no Microsoft file in values.yaml")
        for col, v in compared_values(expr):
            if col in columns and (col in (cite.values.get(table) or {}) or col in (entry.get("filter") or {})):
                value_ok(col, v, f"extend {key} compares")
    for field, column in (entry.get("fields") or {}).items():
        if column is None or field in computed_facts:
            continue
        column_ok(column, field, f"field {field} ->")
        domain = DOMAINS.get((name, field)) or DOMAINS.get(("*", field))
        if domain:
            if column in extend:
                results = result_values(extend[column])
                bad = [v for v in (results or []) if v not in domain]
                if results is None:
                    note(f"{field}: extend {column} is no iff/case, its values are not checked")
                elif bad:
                    say(f"{field} -> {column} yields {bad}, not the schema's values ({', '.join(sorted(domain))})")
            else:
                known = cite.known(table, column)
                if not known:
                    say(f"{field} -> {table}.{column}: no cited values show it holds the schema's words")
                elif known - domain:
                    say(f"{field} -> {table}.{column} holds {sorted(known - domain)}, not the schema's values")
    for field in marks:
        if field != "source" and field not in (entry.get("fields") or {}):
            say(f"enrichment {field} is no field of this source")
    return problems, notes


def check_enrichment_file(mapping, enrich, vendor):
    """Every table and column of enrichment_tables.yaml is one the mapping marks `enrichment:`."""
    problems = []
    marked_tables = {m.get("table") for m in mapping.values() if "source" in (m.get("enrichment") or {})}
    marked_columns = set()
    for m in mapping.values():
        for field in (m.get("enrichment") or {}):
            col = (m.get("fields") or {}).get(field)
            if col:
                marked_columns.add((m.get("table"), col.split(".")[0]))
                for member, _ in union_members(m):
                    marked_columns.add((member, col.split(".")[0]))
    for table in (enrich.get("tables") or {}):
        if table in vendor:
            problems.append(f"enrichment_tables.yaml: {table} is a Microsoft table; its schema is Microsoft's")
        if table not in marked_tables:
            problems.append(f"enrichment_tables.yaml: table {table} is no mapping entry marked `enrichment: source`")
    for table, columns in (enrich.get("columns") or {}).items():
        for column, spec in columns.items():
            if (table, column) not in marked_columns:
                problems.append(f"enrichment_tables.yaml: column {table}.{column} is mapped by no field marked `enrichment:`")
            if table in vendor and column in vendor[table]:
                problems.append(f"enrichment_tables.yaml: {table}.{column} is a Microsoft column")
            if not spec.get("built_by"):
                problems.append(f"enrichment_tables.yaml: {table}.{column} does not say what builds it (built_by)")
    return problems


def check_mapping(mapping, repo, cite=None, enrich=None, library=None):
    vendor, _ = vendor_tables()
    enrich = enrich if enrich is not None else enrichment_schema()
    cite = cite or Citations()
    schema = kusto_schema_from(vendor, enrich)
    library = library if library is not None else library_sources(repo)
    problems, notes = [], []
    for name, entry in mapping.items():
        p, n = check_source(name, entry, schema, vendor, enrich, cite, library)
        problems += p
        notes += n
    problems += check_enrichment_file(mapping, enrich, vendor)
    return problems, notes


def kusto_schema_from(vendor, enrich):
    tables = {t: dict(c) for t, c in vendor.items()}
    for table, spec in (enrich.get("tables") or {}).items():
        tables[table] = {c: TYPES[k] for c, k in spec["columns"].items()}
    for table, columns in (enrich.get("columns") or {}).items():
        for column, spec in columns.items():
            tables.setdefault(table, {})[column] = TYPES[spec["type"]]
    return tables


# ---------------------------------------------------------------- the self-test

SELFTEST = {
    # The issue: a GitHub table that no connector writes.
    "git_audit_custom_table": ("git_audit", {
        "source": "x", "table": "GitHubAudit_CL",
        "fields": {"event.action": "Action_s", "user.name": "Actor_s"}}),
    # An AS-owner column that no stock SigninLogs has, not marked as enrichment.
    "authentication_as_owner_unmarked": ("authentication", {
        "source": "x", "table": "SigninLogs",
        "fields": {"source.as.organization.name": "AutonomousSystemOrganization_CF"}}),
    # MFA phone carrier on AuditLogs: no column of AuditLogs holds the phone number, so no
    # enrichment can fill it (marked or not).
    "directory_audit_mfa_phone_unmarked": ("directory_audit", {
        "source": "x", "table": "AuditLogs",
        "fields": {"mfa.phone.carrier": "MfaPhoneCarrier_CF"}}),
    "directory_audit_mfa_phone_marked": ("directory_audit", {
        "source": "x", "table": "AuditLogs",
        "fields": {"mfa.phone.carrier": "MfaPhoneCarrier_CF"},
        "enrichment": {"mfa.phone.carrier": "a phone-number lookup"}}),
    # File reads from DeviceFileEvents: its ActionType values have no read.
    "file_read_on_device_file_events": ("file_access", {
        "source": "x", "table": "DeviceFileEvents", "filter": {"ActionType": "FileRead"},
        "fields": {"file.path": "FolderPath"}}),
    # Console logons from Entra sign-ins: SigninLogs has no Windows logon type.
    "console_logon_from_signinlogs": ("host_logon", {
        "source": "x", "table": "SigninLogs",
        "extend": {"LogonType": 'iff(IsInteractive, "interactive", "non_interactive")'},
        "fields": {"logon.type": "LogonType", "host.name": "DeviceDetail.displayName"}}),
    # A dotted column on a string column, and a union member that keeps it a string.
    "property_of_string_column": ("authentication", {
        "source": "x", "table": "SigninLogs",
        "union": ["AADNonInteractiveUserSignInLogs"],
        "fields": {"source.geo.city_name": "LocationDetails.city"}}),
    # Alerts: with `facts:`, only the other rule.* fields may map to detc's computed columns;
    # a made-up column for another field is still refused.
    "alerts_non_fact_column": ("alerts", {
        "source": "x", "table": "SecurityAlert", "facts": "rule.id",
        "fields": {"rule.id": "AlertType", "rule.name": "DetcRuleName", "user.name": "DetcAlertUser"}}),
    # Without `facts:`, rule.* columns are claims on the table like any other.
    "alerts_rule_columns_without_facts": ("alerts", {
        "source": "x", "table": "SecurityAlert",
        "fields": {"rule.id": "AlertType", "rule.category": "DetcRuleCategory"}}),
    # An expand of a column the table does not have, and a property read of a string column
    # the extend does not convert.
    "alerts_expand_of_no_column": ("alerts", {
        "source": "x", "table": "SecurityAlert", "expand": "DetcEntity = todynamic(Entity)",
        "fields": {"user.name": "CompromisedEntity"}}),
    "alerts_property_of_string_column": ("alerts", {
        "source": "x", "table": "SecurityAlert",
        "extend": {"DetcAlertRuleId": 'tostring(ExtendedProperties["Analytic Rule Ids"])'},
        "fields": {"rule.id": "DetcAlertRuleId"}}),
    # A vendor column that does not exist, a filter value nobody cites, no `source:`.
    "unknown_column_value_and_no_source": ("usb_device", {
        "table": "DeviceEvents", "filter": {"ActionType": "NoSuchAction"},
        "fields": {"host.name": "DeviceHostName"}}),
}
SELFTEST_ENRICHMENT = {
    "columns": {"AuditLogs": {"MfaPhoneCarrier_CF": {"type": "string", "from": [], "built_by": "a lookup"}}},
}


def selftest(repo):
    failed = 0
    enrich = enrichment_schema()
    enrich = {"tables": dict(enrich.get("tables") or {}),
              "columns": {t: dict(c) for t, c in (enrich.get("columns") or {}).items()}}
    for t, cols in SELFTEST_ENRICHMENT["columns"].items():
        enrich["columns"].setdefault(t, {}).update(cols)
    vendor, _ = vendor_tables()
    schema = kusto_schema_from(vendor, enrich)
    cite = Citations()
    for label, (name, entry) in SELFTEST.items():
        problems, _ = check_source(name, entry, schema, vendor, enrich, cite, {name}, label=label)
        if problems:
            print(f"self-test rejected {label}: {problems[0]}" + (f" (+{len(problems) - 1})" if len(problems) > 1 else ""))
        else:
            print(f"SELFTEST a known-bad mapping entry passed: {label}")
            failed += 1
    # The citations must be checked too: a value the cited file does not hold.
    bad = Citations({"values": {"DeviceFileEvents": {"ActionType": {
        "FileRead": "evidence/Microsoft-365-Defender-Hunting-Queries/Persistence/Possible webshell drop.md"}}}})
    if bad.problems(provenance_paths()):
        print("self-test rejected a citation whose file does not hold the value")
    else:
        print("SELFTEST a citation whose file does not hold the value passed")
        failed += 1
    # Quoted citations: a quote the file does not hold, and a quote that names another value.
    webshell = "evidence/Microsoft-365-Defender-Hunting-Queries/Persistence/Possible webshell drop.md"
    for label, cited in (("a quote the cited file does not hold", {"file": webshell, "quote": 'ActionType == "FileRead"'}),
                         ("a quote that does not name the value", {"file": webshell, "quote": "FileCreated"})):
        bad = Citations({"values": {"DeviceFileEvents": {"ActionType": {"FileRead": cited}}}})
        if bad.problems(provenance_paths()):
            print(f"self-test rejected {label}")
        else:
            print(f"SELFTEST {label} passed")
            failed += 1
    print(f"self-test: {len(SELFTEST) + 3 - failed} of {len(SELFTEST) + 3} known-bad entries rejected")
    return failed


# ---------------------------------------------------------------- vendor samples

def _flatten(record, prefix=""):
    out = {}
    for k, v in record.items():
        key = re.sub(r"[^A-Za-z0-9_]", "_", prefix + k)
        if isinstance(v, dict):
            out.update(_flatten(v, key + "_"))
        else:
            out[key] = v
    return out


def data_collector_row(record):
    """A JSON record as the HTTP Data Collector API stores it (Microsoft's documented naming:
    nested objects flattened with `_`, then a suffix by JSON type: _s text, _d number, _b
    boolean; arrays as their JSON text, _s)."""
    row = {}
    for k, v in _flatten(record).items():
        if isinstance(v, bool):
            row[k + "_b"] = v
        elif isinstance(v, (int, float)):
            row[k + "_d"] = v
        elif v is None:
            continue
        else:
            row[k + "_s"] = v if isinstance(v, str) else json.dumps(v)
    return row


def sample_sets():
    """[{file, table, sources, rows}] as samples/samples.yaml lists them: each vendor file
    read as rows of its table (`rows`: a JSON list of rows with the table's columns;
    `datacollector`: NDJSON records as the HTTP Data Collector API names their columns)."""
    out = []
    for spec in load_yaml(os.path.join(VENDOR, "samples", "samples.yaml")).get("samples") or []:
        path = os.path.join(VENDOR, "samples", spec["file"])
        text = open(path, encoding="utf-8").read()
        if spec["format"] == "rows":
            rows = json.loads(text)
        elif spec["format"] == "datacollector":
            rows = [data_collector_row(json.loads(line)) for line in text.splitlines() if line.strip()]
        else:
            raise ValueError(f"samples.yaml: unknown format {spec['format']!r}")
        out.append(dict(spec, file="samples/" + spec["file"], rows=rows))
    return out


def sample_value(v, kind):
    """A sample's value as a DuckDB value of the column's Kusto type."""
    if v is None:
        return "" if kind == "string" else None
    if kind == "dynamic":
        return v if isinstance(v, str) else json.dumps(v)
    if kind == "string":
        return v if isinstance(v, str) else json.dumps(v)
    if kind == "datetime":
        import datetime
        if isinstance(v, (int, float)):
            return datetime.datetime.utcfromtimestamp(v / 1000).isoformat(sep=" ")
        for fmt in ("%m/%d/%Y, %I:%M:%S.%f %p", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
            try:
                return datetime.datetime.strptime(v, fmt).isoformat(sep=" ")
            except ValueError:
                pass
        raise ValueError(f"datetime {v!r}")
    if kind in ("int", "long"):
        return int(v)
    if kind == "real":
        return float(v)
    if kind == "bool":
        return v if isinstance(v, bool) else str(v).lower() == "true"
    return v


def compile_source_query(detc, repo, work, source, field):
    """The KQL detc emits for a rule that reads the source and holds for any value of `field`:
    the source's table, union and filter, as every rule of it gets them."""
    rule = (f'rule sample_{source} "sample" {{\n  id = "00000000-0000-4000-8000-000000000000"\n'
            f'  severity = low\n  status = test\n  description = "sample"\n  author = "detc"\n'
            f'  date = "2026-01-01"\n  from {source}\n  where exists {field} or not exists {field}\n}}\n')
    path = os.path.join(work, f"sample_{source}.det")
    with open(path, "w", encoding="utf-8") as f:
        f.write(rule)
    out = subprocess.run([detc, "compile", path, "--format", "json"], cwd=repo,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip() or out.stdout.strip())
    for e in json.loads(out.stdout):
        if e["language"] == "kql":
            return e["query"]
    raise RuntimeError("no KQL query")


def check_samples(repo, detc, work, mapping):
    """Each sample set's rows, as rows of its table (every other column of the vendor schema
    null or ""), must all be selected by each named source's compiled query on DuckDB-KQL."""
    import engines  # the DuckDB-KQL runner and its type mapping
    schema = kusto_schema()
    problems, checked, batch, meta = [], 0, [], []
    for s in sample_sets():
        table = s["table"]
        if table not in schema:
            problems.append(f"sample {s['file']}: table {table} is in no schema")
            continue
        cols = schema[table]
        # A Data Collector API table grows a column per new key, so its published schema
        # lists only some; rows in the table's own columns must fit the schema exactly.
        if s["format"] == "rows":
            for row in s["rows"]:
                for c in row:
                    if c not in cols:
                        problems.append(f"sample {s['file']}: column {c} is not in {table}'s vendor schema")
        for source in s["sources"]:
            entry = mapping.get(source)
            if entry is None or entry.get("table") != table and table not in [m for m, _ in union_members(entry)]:
                problems.append(f"sample {s['file']}: source {source} does not read {table}")
                continue
            field = s.get("field") or next(f for f, c in entry["fields"].items() if c and "." not in c and c not in (entry.get("extend") or {}))
            try:
                query = compile_source_query(detc, repo, work, source, field)
            except Exception as e:
                problems.append(f"sample {s['file']}: cannot compile a query for {source}: {e}")
                continue
            tables = []
            names = {table} | {m for m, _ in union_members(entry)}
            for t in sorted(names):
                tcols = schema[t]
                columns = [[c, engines.DUCKDB_TYPES[k]] for c, k in tcols.items()] + [["DetcRow", "BIGINT"]]
                rows = []
                if t == table:
                    for k, r in enumerate(s["rows"]):
                        values = []
                        for c, kind in tcols.items():
                            values.append(sample_value(r.get(c), kind))
                        rows.append(values + [k])
                tables.append({"table": t, "columns": columns, "rows": rows, "offsets": None})
            batch.append({"id": len(batch), "query": query, "key": "DetcRow", "tables": tables})
            meta.append((s, source, query))
    if batch:
        results = engines.finish_kql(engines.start_kql(batch, work, os.path.join(HERE, ".deps", "kql-venv", "bin", "python")))
        for (s, source, query), result in zip(meta, results):
            checked += 1
            if "keys" not in result:
                problems.append(f"sample {s['file']} / {source}: DuckDB-KQL failed: {result}")
                continue
            missing = sorted(set(range(len(s["rows"]))) - set(result["keys"]))
            if missing:
                problems.append(f"sample {s['file']} / {source}: the source's selection drops vendor rows "
                                f"{missing} of {len(s['rows'])}\n     query: " + query.replace("\n", "\n            "))
    return problems, checked


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", default=os.path.dirname(HERE))
    ap.add_argument("--detc", help="the detc binary (for the sample check)")
    ap.add_argument("--work", help="a scratch directory (for the sample check)")
    ap.add_argument("--selftest", action="store_true", help="known-bad entries must each be reported")
    ap.add_argument("--notes", action="store_true", help="print the NOTE lines (unverified values, properties)")
    args = ap.parse_args()
    if args.selftest:
        return 1 if selftest(args.repo) else 0
    with open(os.path.join(args.repo, "targets", "sentinel.yaml"), encoding="utf-8") as f:
        mapping = yaml.safe_load(f)["sources"]
    problems, notes = check_mapping(mapping, args.repo)
    problems += Citations().problems(provenance_paths())
    problems += provenance_problems()
    problems += [f"ref_to_json: {p}" for p in _ref_check()]
    checked = 0
    if args.detc and args.work:
        work = os.path.join(args.work, "vendor_sentinel")
        os.makedirs(work, exist_ok=True)
        sample_problems, checked = check_samples(args.repo, args.detc, work, mapping)
        problems += sample_problems
    for line in notes if args.notes else []:
        print(line)
    for p in problems:
        print("FAIL " + p)
    print(f"vendor check (sentinel): {len(mapping)} sources, {len(problems)} problems, "
          f"{len(notes)} notes (--notes), {checked} sample checks")
    return 1 if problems else 0


def _ref_check():
    out = subprocess.run([sys.executable, os.path.join(VENDOR, "ref_to_json.py"), "--check"],
                         capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if line.strip()] + ([out.stderr.strip()] if out.returncode and not out.stdout else [])


if __name__ == "__main__":
    sys.exit(main())
