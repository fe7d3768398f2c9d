"""Real engines judge detc's test cases (the library's own, and differential.py's generated ones).

For every case that `detc test --format json` lists (a rule, an ECS event, detc's verdict):

* EQL: the event becomes an Elasticsearch document (fields renamed by targets/elastic.yaml and
  indexed as a field of the schema's type would index them, plus `event.category` and the
  source's filter values, so the query's own source filter passes) and Elastic's `eql` library
  parses the compiled EQL. Where the library's PythonEngine is known to differ from
  Elasticsearch (ADJUSTMENTS below: three-valued `not`, one global case-folding switch and
  Python's folding, `regex` anchored at the start only, no `?` wildcard), each test is given
  the value Elasticsearch documents for it and that verdict is used; sequences then run on the
  PythonEngine over those values;
* KQL: the event becomes one row of the source's Sentinel table, with every column of
  Microsoft's schema of the table (vendor_sentinel.kusto_schema: conformance/vendor/sentinel/;
  fields renamed by targets/sentinel.yaml, dynamic properties inside their JSON column, filter
  columns set, `extend` inputs inverted), the tables of the source's `union` present (empty),
  and DuckDB-KQL runs the compiled KQL over it (kql_engine.py, in its own venv); the
  functions duckdb-kql lacks get the value Microsoft documents for them (ADJUSTMENTS). With
  `strict` (the library's own cases), an `extend` that cannot be inverted fails the case
  instead of skipping it, and every rule must have a `test matches` event that KQL judges.

Each engine's verdict must equal detc's. The cases an engine cannot judge the way the real
SIEM would are skipped by the table SKIPS below, and only by it; every other disagreement
fails the suite.
"""
import contextlib
import datetime
import ipaddress
import json
import os
import re
import subprocess

import eql
import eql.ast
import eql.functions
import eql.parser
import eql.utils
import eql.walkers
import yaml
from eql.parser import elasticsearch_syntax, parse_query, skip_optimizations

import vendor_sentinel

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------- the skip table
# The constructs duckdb-kql declares unsupported (KqlUnsupportedError.construct) that may be
# skipped; any other unsupported construct fails the suite until it is named here. (The IP-range
# functions, ipv6_compare, count_distinctif, minif and maxif are computed instead: ADJUSTMENTS.)
KQL_UNSUPPORTED = {"function:ipv4_is_in_any_range", "function:ipv6_is_in_any_range",
                   "aggregate:count_distinctif", "aggregate:minif", "aggregate:maxif"}

# id: (engine, predicate, reason). The code below tests each predicate where it can first be
# known and names the entry; a skip prints one line with the entry's reason and what
# triggered it. Nothing else may turn a disagreement into a skip.
SKIPS = {
    "eql-array": (
        "eql",
        "the document holds an array in a field the query reads",
        "Elasticsearch documents EQL on array (multi-value) fields as unsupported, with "
        "inconsistent results (EQL syntax reference, Limitations: \"Array field values are not "
        "supported\"), so no verdict can be computed for it"),
    "eql-uncomputable": (
        "eql",
        "a test whose Elasticsearch outcome the runner cannot compute: a Lucene regex operator "
        "(`&` intersection, `~` complement, `<n-m>` interval), a function or comparison detc "
        "does not emit, or a comparison of a value with a literal of another type",
        "the adjustments compute only what Elasticsearch documents for the tests detc emits"),
    "kql-unsupported": (
        "kql",
        "duckdb-kql raises KqlUnsupportedError for one of: " + ", ".join(sorted(KQL_UNSUPPORTED))
        + ", and the runner cannot compute its value (an argument that is not a column or a "
        "dynamic property, or a range that is not a literal)",
        "duckdb-kql 1.1.2 has no IP-range functions and no count_distinctif aggregate (no mapping "
        "in its translate/functions.py)"),
    "kql-case-columns": (
        "kql",
        "duckdb-kql refuses the query with a KqlSchemaError saying that two columns differ only in "
        "case (e.g. a computed key column `message` beside the vendor table's `Message`)",
        "DuckDB identifiers ignore case, so duckdb-kql 1.1.2 cannot hold both columns (its schema "
        "rule R7); Kusto keeps them apart (KQL column names are case-sensitive)"),
    "eql-maxspan-second": (
        "eql",
        "two events of a sequence case lie more than maxspan but less than maxspan + 1s apart",
        "eql 1.0.1 compares maxspan at whole-second granularity (walkers.convert_time_range "
        "divides by 1000); Elasticsearch compares milliseconds"),
    "kql-scheduled-window": (
        "kql",
        "the evaluator's verdict for the scheduled run ending at the case's last event (its events "
        "in the query's own time range, `ago(...)`; for first seen, an alert in the last schedule "
        "period) differs from its verdict over the whole case, or the `having` is not monotone so "
        "that verdict cannot be computed",
        "sliding window vs scheduled window: docs/CORRELATION.md, the evaluator's exact sliding "
        "windows may alert on a window that does not end at a run; the query sees windows ending "
        "at run time (here: now = last event + 0.5s)"),
    "kql-extend": (
        "kql",
        "the query reads a column that the source's `extend` computes, and no vendor value "
        "computes the event's value for it (it is absent, or not one of the extend's results)",
        "the row holds vendor columns (ResultType, IsInteractive, ...); an `iff` always yields "
        "one of its values, so an absent or other value cannot be stored"),
    "kql-array": (
        "kql",
        "the event holds an array for a field whose Sentinel column is not dynamic",
        "a Sentinel string, number or bool column holds one value"),
    "kql-no-such-row": (
        "kql",
        "the event holds a value that the table never records: a column whose values are a closed "
        "set (conformance/vendor/sentinel/values.yaml `closed`, each value cited from Microsoft's "
        "own queries), e.g. an event.action of another target's vocabulary, or a file read in "
        "DeviceFileEvents",
        "no row of the table can hold the event: on this target the case describes data that the "
        "vendor does not record (a library rule must still have a `test matches` event that KQL "
        "judges: check.py fails otherwise)"),
    "merged-fields": (
        "eql, kql",
        "two fields of the event (or a field and the source's filter) map to one target field "
        "with different values",
        "no document or row on that target can hold both values: the mapping merges the fields"),
}

# id: (engine, where the engine departs from the vendor, what the runner computes instead and the
# vendor documentation it rests on). An outcome lists the adjustments that changed its verdict
# (Outcome.adjusted): the verdict the engine alone would give is not the one used.
ADJUSTMENTS = {
    "eql-not-null": (
        "eql",
        "eql's PythonEngine is three-valued: a test on a field the document lacks is null, `not` "
        "of null is null, and a null condition drops the event",
        "Elasticsearch runs each EQL test as a query (term, terms, range, wildcard, regexp) that a "
        "document without the field does not match, `!=` and `not` as a bool `must_not`, which "
        "keeps it: the test is false and its negation true (EQL syntax reference: `not` \"returns "
        "true if the condition to the right is false\", `my_field == null` matches documents "
        "without a value; Query DSL, Boolean query: must_not)"),
    "eql-case": (
        "eql",
        "eql folds case for every string test or for none (one global switch, "
        "eql.utils.CASE_INSENSITIVE; the parser drops the `~`), and folds with Python's "
        "str.lower()",
        "each test folds as written: `==`, `!=`, `in`, `like`, `regex` and functions without `~` "
        "are case-sensitive, `:`, `in~`, `like~`, `regex~` and `f~(...)` are not (EQL syntax "
        "reference: Comparison operators, Lookup operators, Case-insensitive functions); a "
        "case-insensitive term or wildcard query matches a character or its other case as Java's "
        "Character.toUpperCase/toLowerCase give it (Term query, `case_insensitive`)"),
    "eql-regex": (
        "eql",
        "eql's `regex` runs Python's re.match: anchored at the start only, `.` stops at a newline, "
        "the pattern read as Python syntax",
        "Elasticsearch runs a Lucene regexp query: the pattern must match the whole value (\"Lucene's "
        "patterns are always anchored\"), `.` matches any character, `@` any string, `#` nothing, "
        "`\\` escapes any character, `\"...\"` is literal (Regular expression syntax)"),
    "eql-wildcard": (
        "eql",
        "eql's wildcard has no single-character `?` and no `\\` escape, and its `*` stops at a "
        "newline",
        "`*` matches zero or more characters and `?` exactly one (EQL syntax reference, Wildcards)"),
    "kql-ip-range": (
        "kql",
        "duckdb-kql has no ipv4_is_in_any_range / ipv6_is_in_any_range",
        "the call is replaced by a helper column holding, per row, the function's documented value: "
        "true if the address is in any of the networks, false if not, null when the address does "
        "not parse (ipv4_is_in_any_range(), ipv6_is_in_any_range(): an IPv4 address given to the "
        "IPv6 function is its IPv4-mapped IPv6 address)"),
    "kql-ipv6-compare": (
        "kql",
        "duckdb-kql has no ipv6_compare",
        "the call is replaced by a helper column holding, per row, the function's documented value: "
        "both arguments read as IPv6 addresses (an IPv4 address as its IPv4-mapped IPv6 address), "
        "each with an optional IP-prefix (`/n`, counted in 32 bits for IPv4), compared on the "
        "bits of the shorter prefix: 0 when equal, 1 when the first is greater, -1 when less, null "
        "when either does not parse (ipv6_compare())"),
    "kql-ip-prefix": (
        "kql",
        "duckdb-kql has no parse_ipv6 / parse_ipv6_mask",
        "detc's network key, parse_ipv6_mask(a, iff(parse_ipv6(a) startswith "
        "\"0000:0000:0000:0000:0000:ffff:\", V4, V6)), is replaced by a helper column holding, per "
        "row, its documented value: the address read as IPv6 (an IPv4 address as its IPv4-mapped "
        "IPv6 address), with an optional IP-prefix (`/n`, counted in 32 bits for IPv4), masked to "
        "the fewer of its prefix and V4 (IPv4-mapped) or V6 bits, written as 8 groups of 4 hex "
        "digits; \"\" when it does not parse (parse_ipv6(), parse_ipv6_mask())"),
    "kql-minif-maxif": (
        "kql",
        "duckdb-kql has no minif / maxif",
        "minif(x, p) is the least x over the rows where p holds, and aggregations ignore nulls "
        "(minif(), maxif(); Null values: aggregate functions): the call is rewritten as "
        "min(iff(p, x, datetime(null))), which duckdb-kql runs"),
    "kql-count-distinctif": (
        "kql",
        "duckdb-kql has no count_distinctif",
        "count_distinctif(x, p) is the exact number of distinct x over the rows where p holds "
        "(count_distinctif()); duckdb-kql renders dcountif as exactly that, count(DISTINCT x) "
        "FILTER (WHERE p), so the call is renamed"),
}

# How to store an event value for an `extend` column: the vendor columns that make the
# expression (keyed by its exact text in targets/sentinel.yaml) yield that value, or None
# when none does. An extend whose text is not here cannot be inverted at all.
EXTEND_INVERSES = {
    # 50126 is Entra's "invalid username or password", a typical failed sign-in.
    'iff(ResultType == "0", "success", "failure")':
        lambda v: {"ResultType": "0"} if v == "success" else {"ResultType": "50126"} if v == "failure" else None,
    'iff(IsInteractive, "interactive", "non_interactive")':
        lambda v: {"IsInteractive": True} if v == "interactive"
        else {"IsInteractive": False} if v == "non_interactive" else None,
    # tolong("") is null, so an absent number stays absent.
    'tolong(AutonomousSystemNumber)':
        lambda v: {} if v is None else {"AutonomousSystemNumber": str(int(_number(v)))} if _is_integer(v) else None,
    # DeviceLogonEvents: the outcome is the ActionType (LogonSuccess, LogonFailed).
    'iff(ActionType == "LogonSuccess", "success", "failure")':
        lambda v: {"ActionType": "LogonSuccess"} if v == "success" else {"ActionType": "LogonFailed"} if v == "failure" else None,
    # DeviceLogonEvents LogonType: the name, RDP logons also in Defender's long spelling.
    'iff(LogonType == "Remote interactive (RDP) logons", "RemoteInteractive", LogonType)':
        lambda v: {} if v is None else {"LogonType": v} if isinstance(v, str) else None,
    # AuditLogs Result: success | failure | timeout | unknownFutureValue.
    'case(Result == "success", "success", Result == "failure", "failure", "unknown")':
        lambda v: {"Result": v} if v in ("success", "failure") else {"Result": "timeout"} if v == "unknown" else None,
    # The Event table's EventID as text (an absent value: no EventID).
    'tostring(EventID)':
        lambda v: {} if v is None else {"EventID": int(v)} if str(v).isdigit() else None,
    # The first target resource's UPN (an absent value: no target resources).
    'tostring(TargetResources[0].userPrincipalName)':
        lambda v: {} if v is None else {"TargetResources": [{"userPrincipalName": v}]} if isinstance(v, str) else None,
    # SecurityAlert (alerts): the scheduled rule's id in ExtendedProperties' "Analytic Rule Ids"
    # (JSON text holding a JSON array, as text); the entities as Account / Host entities of
    # Entities, which the source's `expand` makes a row each (an absent one: no such entity).
    'tostring(todynamic(tostring(todynamic(ExtendedProperties)["Analytic Rule Ids"]))[0])':
        lambda v: {} if v is None else {"ExtendedProperties": json.dumps({"Analytic Rule Ids": json.dumps([v])})}
        if isinstance(v, str) else None,
    r'iff(tostring(DetcEntity.Type) == "account", tolower(extract(@"^(?:.*\\)?([^@]*)", 1, tostring(DetcEntity.Name))), "")':
        lambda v: {} if v is None else {"Entities": [{"Type": "account", "Name": v}]}
        if isinstance(v, str) and v == v.lower() and not re.search(r"[\\@]", v) else None,
    r'iff(tostring(DetcEntity.Type) == "host" and not(tostring(DetcEntity.HostName) matches regex @"^\d{1,3}(\.\d{1,3}){3}$|:"), tolower(extract(@"^([^.]*)", 1, tostring(DetcEntity.HostName))), "")':
        lambda v: {} if v is None else {"Entities": [{"Type": "host", "HostName": v}]}
        if isinstance(v, str) and v == v.lower() and "." not in v and ":" not in v else None,
}

DUCKDB_TYPES = {"string": "VARCHAR", "long": "BIGINT", "int": "INTEGER", "real": "DOUBLE",
                "double": "DOUBLE", "bool": "BOOLEAN", "boolean": "BOOLEAN", "dynamic": "JSON",
                "datetime": "TIMESTAMP", "guid": "UUID"}


class Skip(Exception):
    def __init__(self, skip_id, detail):
        assert skip_id in SKIPS, skip_id
        super().__init__(detail)
        self.skip_id, self.detail = skip_id, detail


class Outcome:
    """One engine's judgement of one case: agree, disagree, skip or error."""

    def __init__(self, engine, case, query):
        self.engine, self.case, self.query, self.built = engine, case, query, None
        self.status, self.verdict, self.detail, self.skip_id = None, None, "", None
        self.adjusted = []  # ADJUSTMENTS ids that changed the verdict


# ---------------------------------------------------------------- events and mappings

def _is_integer(v):
    return not isinstance(v, bool) and (isinstance(v, int) or (isinstance(v, float) and v.is_integer())
                                        or (isinstance(v, str) and re.fullmatch(r"[-+]?\d+", v.strip()) is not None))


def flatten(event, prefix=""):
    """Dotted keys, whatever mix of nesting and dots the case file used; null means absent."""
    out = {}
    for key, value in event.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        elif value is not None:
            out[name] = value
    return out


def _number(v):
    if isinstance(v, str):
        try:
            return int(v) if re.fullmatch(r"\s*[-+]?\d+\s*", v) else float(v)
        except ValueError:
            return v
    return v


class _Absent:
    """A value an Elasticsearch field of that type does not index (see es_index)."""


ABSENT = _Absent()


def es_index(value, kind):
    """The value as an Elasticsearch field of the schema's type indexes it, ABSENT when it
    indexes nothing. keyword: the text (a JSON number or boolean as its text); long/double:
    a number, a numeric string coerced, an empty string null (NumberFieldMapper: an empty
    string with `coerce` is null); ip: a valid address, which reads back (doc values, the
    `fields` a sequence joins on) in canonical form; boolean: true/false or "true"/"false".
    Any other value is malformed, and `logs-*-*` data streams ignore malformed values
    (ignore_malformed: the field is not indexed, the rest of the document is)."""
    if isinstance(value, list):
        return [v for v in (es_index(x, kind) for x in value) if v is not ABSENT]
    if kind == "number":
        if isinstance(value, bool):
            return ABSENT
        if isinstance(value, (int, float)):
            return value
        if isinstance(value, str) and re.fullmatch(r"[-+]?\d+(\.\d+)?", value):
            return _number(value)
        return ABSENT
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value in ("true", "false"):
            return value == "true"
        return ABSENT
    if kind == "ip":  # an ip field holds the address: its values read back in canonical form
        if isinstance(value, str):
            try:
                a = ipaddress.ip_address(value)
            except ValueError:
                return ABSENT
            return str(a.ipv4_mapped or a) if a.version == 6 else str(a)
        return ABSENT
    if kind == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return json.dumps(value)
    return value


class Mappings:
    def __init__(self, repo):
        def load(*parts):
            with open(os.path.join(*parts), encoding="utf-8") as f:
                return yaml.safe_load(f)
        self.schema = {s: m["fields"] for s, m in load(repo, "targets", "schema.yaml")["sources"].items()}
        self.elastic = load(repo, "targets", "elastic.yaml")["sources"]
        self.sentinel = load(repo, "targets", "sentinel.yaml")["sources"]
        # Microsoft's table schemas (and the deployment's custom tables / enrichment columns).
        self.columns = vendor_sentinel.kusto_schema()
        self.citations = vendor_sentinel.Citations()

    def kind(self, source, field):
        """The schema type of a field, a family member's from its family."""
        fields = self.schema[source]
        if field in fields:
            return fields[field]
        prefix = field.rsplit(".", 1)[0]
        return fields.get(prefix + ".*")


class Target:
    """Values placed at target names; a second, different value at the same name is a merge
    that no real document or row can hold."""

    def __init__(self):
        self.values, self.origin = {}, {}

    def put(self, name, value, origin):
        if name in self.values and self.values[name] != value:
            raise Skip("merged-fields", f"{self.origin[name]} and {origin} both map to {name} "
                                        f"({self.values[name]!r} vs {value!r})")
        self.values[name], self.origin[name] = value, origin


def _filter_value(value):
    """A source filter's value as one event holds it: a list filter's first value."""
    return value[0] if isinstance(value, list) and value else value


# ---------------------------------------------------------------- EQL: documents and parsing

@contextlib.contextmanager
def case_folding(insensitive):
    """eql's one global switch for every string comparison (parse-time folding included)."""
    before = eql.utils.CASE_INSENSITIVE
    eql.utils.CASE_INSENSITIVE = insensitive
    try:
        with elasticsearch_syntax:
            yield
    finally:
        eql.utils.CASE_INSENSITIVE = before


_parsed = {}


def eql_parse(query, insensitive):
    """The query as eql alone reads it (optimized, literals folded under the mode it runs in)."""
    key = (query, insensitive)
    if key not in _parsed:
        with case_folding(insensitive):
            _parsed[key] = parse_query(query)
    return _parsed[key]


# Which tests Elasticsearch runs case-insensitively. eql's parser reads `:`, `in~`, `like~`,
# `regex~` and `f~(...)` but keeps no trace of the `~`; these wrappers of its callbacks note
# the node each one builds (by identity: the unoptimized tree keeps the parser's nodes; the
# entry holds the node, so its id is never reused).
_FOLDS = {}


def _note_folding():
    cls = eql.parser.LarkToEQL
    if getattr(cls, "_detc_noted", False):
        return
    string_predicate, in_set, function_call = cls.string_predicate, cls.in_set, cls.function_call

    def string_predicate_noted(self, node):
        info = string_predicate(self, node)
        _FOLDS[id(info.node)] = (info.node, str(node["STRING_PREDICATE"]) in (":", "like~", "regex~"))
        return info

    def in_set_noted(self, node):
        info = in_set(self, node)
        _FOLDS[id(info.node)] = (info.node, node.get("IN") == "in~")
        return info

    def function_call_noted(self, node, prev_node=None, prev_arg=None):
        info = function_call(self, node, prev_node, prev_arg)
        text = self.text[node.meta.start_pos:node.meta.end_pos]
        _FOLDS[id(info.node)] = (info.node, re.match(r"\s*[\w.]+~\s*\(", text) is not None)
        return info

    cls.string_predicate, cls.in_set, cls.function_call = string_predicate_noted, in_set_noted, function_call_noted
    cls._detc_noted = True


_marked = {}


def eql_parse_marked(query):
    """The query's tree as the parser built it (no optimization, literals as written), with
    _FOLDS telling which of its tests fold case. Cached, so the nodes' identities stay valid."""
    if query not in _marked:
        _note_folding()
        with case_folding(False), skip_optimizations:
            _marked[query] = parse_query(query)
    return _marked[query]


class EqlTarget(Target):
    """An Elasticsearch document. Where the mapping gives two logical fields one vendor field
    whose value holds both (targets/elastic.yaml, usb_device: Windows 6416 keeps the device
    serial as the last segment of winlog.event_data.DeviceId, the vendor and product ids inside
    one VendorIds string, manufacturer and product in one DeviceDescription), the event's two
    values are that one field's value and its part: the document holds the whole (the value that
    contains the other), as the vendor writes it. Values that are not whole and part, or a field
    and the source's filter, cannot be one document (merged-fields)."""

    def put(self, name, value, origin):
        if name in self.values and self.values[name] != value:
            have, other = self.values[name], self.origin[name]
            if (isinstance(have, str) and isinstance(value, str) and "the source's" not in other + origin
                    and (value in have or have in value)):
                if value in have:
                    return
                self.values[name], self.origin[name] = value, f"{origin} (holding {other})"
                return
        super().put(name, value, origin)


def eql_document(event, source, m):
    """(flat {target field: indexed value}, nested document) of one event."""
    mapping = m.elastic[source]
    doc = EqlTarget()
    if mapping["category"] != "any":
        doc.put("event.category", mapping["category"], "the source's category")
    for field, value in (mapping.get("filter") or {}).items():
        doc.put(field, _filter_value(value), "the source's filter")
    for field, value in sorted(flatten(event).items()):
        target = mapped_name(mapping["fields"], field)
        if target is not None:  # an unmapped field cannot be in the compiled query
            indexed = es_index(value, m.kind(source, field))
            if indexed is not ABSENT:
                doc.put(target, indexed, field)
    nested = {}
    for name, value in doc.values.items():
        *parents, last = name.split(".")
        node = nested
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return doc.values, nested


def mapped_name(fields, field):
    """A logical field's target name: its own entry (`~`: none), else its family's pattern
    (`winlog.event_data.*: winlog.event_data.*`) with the member's name for `*`."""
    if field in fields:
        return fields[field]
    prefix, _, member = field.rpartition(".")
    pattern = fields.get(prefix + ".*")
    return pattern.replace("*", member) if pattern else None


def _field_name(node):
    return ".".join([node.base] + [str(p) for p in node.path])


# ---------------------------------------------------------------- EQL: Elasticsearch's value of a test

class CannotCompute(Exception):
    """A test whose Elasticsearch outcome the runner cannot compute (a skip)."""


class OracleMismatch(Exception):
    """eql and the computed Elasticsearch outcome differ where no known departure explains it:
    an error of the runner (or of eql), reported as an engine error, never skipped."""


def _other_case(c):
    """Java's Character.isLowerCase(c) ? toUpperCase(c) : toLowerCase(c), for the simple
    (one-character) case mappings; a character without one is its own other case."""
    lower, upper = c.lower(), c.upper()
    if c != upper and len(upper) == 1:
        return upper
    if c != lower and len(lower) == 1:
        return lower
    return c


def _char_re(c, fold):
    if fold:
        o = _other_case(c)
        if o != c:
            return "[" + re.escape(c) + re.escape(o) + "]"
    return re.escape(c)


def _literal_re(text, fold):
    return "".join(_char_re(c, fold) for c in text)


def _wildcard_re(pattern, fold):
    """An Elasticsearch wildcard pattern (`*`, `?`, `\\` escaping the next character)."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(_char_re(pattern[i + 1], fold))
            i += 2
            continue
        out.append(".*" if c == "*" else "." if c == "?" else _char_re(c, fold))
        i += 1
    return "".join(out)


def lucene_re(pattern):
    """A Lucene regular expression (Elasticsearch's regexp syntax, all optional operators on, as
    a regexp query has them by default) as an equivalent Python pattern to run with fullmatch and
    re.DOTALL | re.ASCII. CannotCompute for the operators Python has no form for."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                raise CannotCompute("a Lucene regex ending in `\\`")
            d = pattern[i + 1]
            out.append("\\" + d if d in "dDsSwW" else re.escape(d))
            i += 2
        elif c == '"':
            j = pattern.find('"', i + 1)
            if j < 0:
                raise CannotCompute("an unclosed `\"` in a Lucene regex")
            out.append(re.escape(pattern[i + 1:j]))
            i = j + 1
        elif c == "[":
            j, body = i + 1, "["
            if j < n and pattern[j] == "^":
                body, j = "[^", j + 1
            items = 0
            while j < n and pattern[j] != "]":
                if pattern[j] == "\\" and j + 1 < n:
                    d = pattern[j + 1]
                    body += "\\" + d if d in "dDsSwW" else re.escape(d)
                    j += 2
                elif pattern[j] == "-" and items and j + 1 < n and pattern[j + 1] != "]":
                    body += "-"
                    j += 1
                    continue
                else:
                    body += re.escape(pattern[j])
                    j += 1
                items += 1
            if j >= n:
                raise CannotCompute("an unclosed `[` in a Lucene regex")
            out.append(body + "]")
            i = j + 1
        elif c == ".":
            out.append(".")
        elif c == "@":
            out.append(".*")
        elif c == "#":
            out.append("(?!)")
        elif c in "&~<":
            raise CannotCompute(f"the Lucene regex operator `{c}`")
        elif c == "{":
            j = pattern.find("}", i)
            if j < 0 or not re.fullmatch(r"\d+(,\d*)?", pattern[i + 1:j]):
                raise CannotCompute("a malformed `{...}` in a Lucene regex")
            out.append(pattern[i:j + 1])
            i = j + 1
            continue
        elif c in "*+?|()":
            out.append(c)
        else:
            out.append(re.escape(c))
        if c not in "\\\"[{":
            i += 1
    return "".join(out)


def _in_networks(value, networks):
    """cidrMatch as Elasticsearch's ip field runs it: addresses as 128-bit values, an IPv4
    address as its IPv4-mapped IPv6 address (Lucene InetAddressPoint)."""
    def v6(addr):
        return addr if addr.version == 6 else ipaddress.IPv6Address("::ffff:" + str(addr))
    a = v6(ipaddress.ip_address(value))
    for text in networks:
        net = ipaddress.ip_network(text, strict=False)
        if net.version == 4:
            net = ipaddress.IPv6Network(f"::ffff:{net.network_address}/{96 + net.prefixlen}")
        if a in net:
            return True
    return False


_OPS = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _same_type(value, literal):
    if isinstance(literal, bool) or isinstance(value, bool):
        return isinstance(literal, bool) and isinstance(value, bool)
    if isinstance(literal, (int, float)):
        return isinstance(value, (int, float))
    return isinstance(literal, str) and isinstance(value, str)


def _constant(node):
    """A constant operand as a literal (the unoptimized tree keeps `-3` as arithmetic)."""
    if isinstance(node, (eql.ast.Literal, eql.ast.Field)):
        return node
    folded = node.optimize(recursive=True)
    return folded if isinstance(folded, eql.ast.Literal) else node


def es_test(node, flat, folds):
    """Elasticsearch's outcome (True/False) of one test of an EQL query on one document."""
    if isinstance(node, eql.ast.Comparison):
        left, op, right = _constant(node.left), node.comparator, _constant(node.right)
        if not isinstance(left, eql.ast.Field) and isinstance(right, eql.ast.Field):
            left, right, op = right, left, _FLIP[op]
        if not isinstance(left, eql.ast.Field) or not isinstance(right, eql.ast.Literal):
            raise CannotCompute(f"comparison {node}")
        value = flat.get(_field_name(left))
        if isinstance(right, eql.ast.Null):
            if op not in ("==", "!="):
                raise CannotCompute(f"comparison {node}")
            return (value is None) == (op == "==")
        if value is None:
            return op == "!="  # term query misses; `!=` is its must_not
        if not _same_type(value, right.value):
            raise CannotCompute(f"{_field_name(left)} = {value!r} compared with {right.value!r}")
        return _OPS[op](value, right.value)
    if isinstance(node, eql.ast.InSet):
        container = [_constant(c) for c in node.container]
        if not isinstance(node.expression, eql.ast.Field) or not all(
                isinstance(c, eql.ast.Literal) for c in container):
            raise CannotCompute(f"lookup {node}")
        value = flat.get(_field_name(node.expression))
        if value is None:
            return False
        for c in container:
            if not _same_type(value, c.value):
                raise CannotCompute(f"{value!r} looked up in {node}")
            if isinstance(c.value, str) and folds:
                if re.fullmatch(_literal_re(c.value, True), value, re.S):
                    return True
            elif value == c.value:
                return True
        return False
    if isinstance(node, eql.ast.FunctionCall):
        args = node.arguments
        if not args or not isinstance(args[0], eql.ast.Field) or not all(
                isinstance(a, eql.ast.String) for a in args[1:]):
            raise CannotCompute(f"function {node}")
        value = flat.get(_field_name(args[0]))
        if value is None:
            return False
        literals = [a.value for a in args[1:]]
        if node.name == "cidrMatch":
            return _in_networks(value, literals)
        if not isinstance(value, str):
            raise CannotCompute(f"{node.name} on {value!r}")
        if node.name == "wildcard":
            return any(re.fullmatch(_wildcard_re(p, folds), value, re.S) for p in literals)
        if node.name == "match":
            flags = re.S | re.ASCII | (re.I if folds else 0)
            return any(re.fullmatch(lucene_re(p), value, flags) for p in literals)
        if node.name in ("stringContains", "startsWith", "endsWith") and len(literals) == 1:
            body = _literal_re(literals[0], folds)
            pattern = {"stringContains": f".*{body}.*", "startsWith": f"{body}.*", "endsWith": f".*{body}"}[node.name]
            return re.fullmatch(pattern, value, re.S) is not None
        raise CannotCompute(f"function {node.name}")
    if isinstance(node, (eql.ast.IsNull, eql.ast.IsNotNull)) and isinstance(node.expr, eql.ast.Field):
        return (flat.get(_field_name(node.expr)) is None) == isinstance(node, eql.ast.IsNull)
    if isinstance(node, eql.ast.Boolean):
        return node.value
    raise CannotCompute(f"{type(node).__name__} {node}")


_converted = {}


def eql_engine_test(node, event, insensitive):
    """eql's own value of one test (True, False or None) under one folding mode."""
    key = (id(node), insensitive)
    with case_folding(insensitive):
        if key not in _converted:
            _converted[key] = (node, eql.PythonEngine().convert(node, scoped=True))
        try:
            return _converted[key][1](event)
        except Exception:  # a type eql cannot compare is its null
            return None


def _kleene_not(v):
    return None if v is None else not v


def es_condition(node, flat, event, notes, global_fold):
    """(Elasticsearch's value, eql's own value) of a condition on one document. Each test gets
    Elasticsearch's outcome; where it differs from eql's own (in eql's global folding mode), the
    departure is named in `notes`; eql's own value keeps its three-valued logic."""
    if isinstance(node, eql.ast.And):
        parts = [es_condition(t, flat, event, notes, global_fold) for t in node.terms]
        es, own = all(p[0] for p in parts), [p[1] for p in parts]
        return es, (False if False in own else None if None in own else True)
    if isinstance(node, eql.ast.Or):
        parts = [es_condition(t, flat, event, notes, global_fold) for t in node.terms]
        es, own = any(p[0] for p in parts), [p[1] for p in parts]
        return es, (True if True in own else None if None in own else False)
    if isinstance(node, eql.ast.Not):
        es, own = es_condition(node.term, flat, event, notes, global_fold)
        return not es, _kleene_not(own)
    folds = folds_case(node)
    es = es_test(node, flat, folds)
    own = eql_engine_test(node, event, global_fold)
    if own is None:
        notes.add("eql-not-null")
    elif own != es:
        mine = own if folds == global_fold else eql_engine_test(node, event, folds)
        if mine != own:
            notes.add("eql-case")
        if mine is None:
            notes.add("eql-not-null")
        elif mine != es:
            if isinstance(node, eql.ast.FunctionCall) and node.name == "match":
                notes.add("eql-regex")
            elif isinstance(node, eql.ast.FunctionCall) and node.name == "wildcard":
                notes.add("eql-wildcard")
            elif folds:
                notes.add("eql-case")
            else:
                raise OracleMismatch(f"eql gives {mine} where Elasticsearch gives {es} for "
                                     f"`{node}` on {flat!r}, and no known departure explains it")
    return es, own


def folds_case(node):
    entry = _FOLDS.get(id(node))
    return entry is not None and entry[0] is node and entry[1]


def _query_folds(ast):
    """Whether any test of the query folds case: the mode eql alone would have to pick."""
    return any(folds_case(n) for n in ast)


def eql_matches(ast, event, insensitive):
    """Whether the query matches: one event, or a list of events (a sequence's case)."""
    with case_folding(insensitive):
        engine = eql.PythonEngine({"time_unit": 1000})  # event times are epoch milliseconds
        engine.add_query(ast)
        hits = []
        engine.add_output_hook(hits.append)
        engine.stream_events(event if isinstance(event, list) else [event])
    return bool(hits)


def judge_eql(out, case, m):
    """A single event, or (a correlation case) the case's events in time order: a sequence.
    Each test takes Elasticsearch's value; a sequence then runs on eql's engine with each step's
    condition replaced by a flag holding Elasticsearch's value of it for each event."""
    query = out.query
    if isinstance(case["event"], list):
        parts = [(t, src, ev) for t, _, src, ev in case_events(case)]
    else:
        parts = [(0, case["source"], case["event"])]
    flats, docs = [], []
    for t, source, ev in parts:
        flat, nested = eql_document(ev, source, m)
        flats.append(flat)
        docs.append(eql.Event(m.elastic[source]["category"], t, nested))
    out.built = [d.data for d in docs] if isinstance(case["event"], list) else docs[0].data
    ast = eql_parse_marked(query)

    read = sorted({_field_name(n) for n in ast if isinstance(n, eql.ast.Field)})
    arrays = [f"{f} = {flat[f]!r}" for flat in flats for f in read if isinstance(flat.get(f), list)]
    if arrays:
        raise Skip("eql-array", ", ".join(arrays))
    span = re.search(r"with maxspan=(\d+)(ms|s|m|h|d)\b", query)
    if span:
        w = int(span.group(1)) * {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}[span.group(2)]
        near = [(a[0], b[0]) for i, a in enumerate(parts) for b in parts[i + 1:] if w < abs(b[0] - a[0]) < w + 1000]
        if near:
            raise Skip("eql-maxspan-second", f"maxspan {w} ms; events {near[0][1] - near[0][0]} ms apart")

    global_fold = _query_folds(ast)
    notes = set()
    first = ast.first
    try:
        if isinstance(first, eql.ast.EventQuery):
            ok = first.event_type in ("any", docs[0].type)
            es, own = es_condition(first.query, flats[0], docs[0], notes, global_fold) if ok else (False, False)
            verdict, own_verdict = ok and es, bool(ok and own)
        elif isinstance(first, eql.ast.Sequence):
            steps, flagged = first.queries, []
            for flat, doc in zip(flats, docs):
                flags = {}
                for k, sub in enumerate(steps):
                    ok = sub.query.event_type in ("any", doc.type)
                    flags[f"detc_step_{k}"] = ok and es_condition(sub.query.query, flat, doc, notes, global_fold)[0]
                flagged.append(eql.Event(doc.type, doc.time, dict(doc.data, **flags)))
            marked = eql.ast.Sequence(
                [eql.ast.SubqueryBy(eql.ast.EventQuery("any", eql.ast.Comparison(
                    eql.ast.Field(f"detc_step_{k}"), eql.ast.Comparison.EQ, eql.ast.Boolean(True))), sub.join_values, sub.data)
                 for k, sub in enumerate(steps)], first.max_span, first.close)
            verdict = eql_matches(eql.ast.PipedQuery(marked, ast.pipes), flagged, False)
            own_verdict = eql_matches(eql_parse(query, global_fold), docs, global_fold)
        else:
            raise CannotCompute(f"a {type(first).__name__} query")
    except CannotCompute as e:
        raise Skip("eql-uncomputable", str(e))
    if verdict != own_verdict:
        out.adjusted = sorted(notes) or ["eql-not-null"]
    return verdict


# ---------------------------------------------------------------- KQL

def _strip_kql_strings(query):
    return re.sub(r'@"(?:[^"]|"")*"|@\'(?:[^\']|\'\')*\'|"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', query)


def kql_reads(query, column):
    """Whether the query reads a column outside its own `| extend` lines and string literals."""
    body = "\n".join(line for line in _strip_kql_strings(query).split("\n")
                     if not line.lstrip().startswith("| extend"))
    return re.search(r"(?<![\w.])" + re.escape(column) + r"(?!\w)", body) is not None


def kql_store(value, kind, field, column):
    """The value as a Sentinel column of that Kusto type stores it. An empty value is null in a
    column of any type but string (Kusto's null values: every scalar type but string has a null;
    an empty string is the string's missing value)."""
    if kind == "dynamic":
        return json.dumps(value)
    if isinstance(value, list):
        raise Skip("kql-array", f"{field} = {value!r} -> {column} ({kind})")
    if value == "" and kind != "string":
        return None
    if kind == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        return value if isinstance(value, str) else json.dumps(value) if isinstance(value, dict) else str(value)
    if kind in ("long", "int"):
        if not _is_integer(value):
            raise ValueError(f"{field} = {value!r} cannot be stored in {column} ({kind})")
        return int(value)
    if kind in ("real", "double"):
        return float(value)
    if kind in ("bool", "boolean") and isinstance(value, str):
        return value.lower() == "true"
    return value


class KqlRow(EqlTarget):
    """A Sentinel row: the same whole-and-part rule as EqlTarget, for the same vendor data
    (targets/sentinel.yaml usb_device: Defender's AdditionalFields.DeviceId ends in the serial,
    VendorIds holds both ids, DeviceDescription the one name)."""


EVENT_DATA_ITEM = """extract(@'<Data Name="{*}">([^<]*)<', 1, EventData)"""


def _event_data_members(column, expression, mapping, flat, query, row):
    """A family's per-member column (`"*_"`: the Event table's `<Data Name="X">` items of
    EventData, entities decoded): the case's members of the family as EventData's XML, each
    value with `&`, `<`, `>`, `"` and `'` written as the entities the extend decodes."""
    families = [f[:-2] for f, c in mapping["fields"].items() if f.endswith(".*") and c == column]
    members = {f.rsplit(".", 1)[1]: v for f, v in flat.items()
               for fam in families if f.rsplit(".", 1)[0] == fam and f not in mapping["fields"]}
    if not members:
        return
    if EVENT_DATA_ITEM not in expression or any(not isinstance(v, str) for v in members.values()):
        if any(kql_reads(query, column.replace("*", name)) for name in members):
            raise Skip("kql-extend", f"{column} = {expression}: no inverse for the family's members")
        return
    escape = lambda v: (v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                        .replace('"', "&quot;").replace("'", "&apos;"))
    xml = "".join(f'<Data Name="{name}">{escape(v)}</Data>' for name, v in sorted(members.items()))
    row.put("EventData", xml, f"{', '.join(sorted(members))} (the family's items)")


def kql_row(case, query, m, table=None):
    """(table, [[column, duckdb type]], [value]) for the case's event, as a row of the source's
    table or of `table` (a member of the source's `union`, with that table's column types)."""
    source = case["source"]
    mapping = m.sentinel[source]
    converted = set()
    for member, expr in vendor_sentinel.union_members(mapping):
        if member == table:
            converted = {c for c, _ in re.findall(r"\b([A-Za-z_]\w*)\s*=\s*(todynamic|parse_json)\(", expr)}
    main = m.columns[mapping["table"]]
    retyped = set() if table in (None, mapping["table"]) else {
        c for c, k in m.columns[table].items() if k == "string" and main.get(c) == "dynamic" and c not in converted}
    table = table or mapping["table"]
    types = m.columns[table]
    extend = mapping.get("extend") or {}
    row = KqlRow()
    flat = flatten(case["event"])
    # The column the source's `expand` reads (a JSON array): the elements the inverses give.
    expanded = re.search(r"\(\s*(\w+)\s*\)", mapping.get("expand") or "")
    expanded, elements = expanded and expanded.group(1), []
    for column, expression in extend.items():
        if "*" in column:
            _event_data_members(column, expression, mapping, flat, query, row)
            continue
        fields = [f for f, c in mapping["fields"].items() if c == column and f in flat]
        value = flat[fields[0]] if fields else None
        inverse = EXTEND_INVERSES.get(expression)
        vendor = inverse(value) if inverse else None
        if vendor is None:
            if kql_reads(query, column):
                raise Skip("kql-extend", f"{column} = {expression} cannot yield "
                                         f"{'an absent value' if value is None else repr(value)}"
                                         f"{'' if inverse else ' (no inverse known for this extend)'}")
            continue
        for vendor_column, vendor_value in vendor.items():
            if vendor_column == expanded:
                elements += vendor_value
                continue
            if isinstance(vendor_value, (list, dict)) and types.get(vendor_column) == "dynamic":
                vendor_value = json.dumps(vendor_value)
            row.put(vendor_column, vendor_value, f"{column} ({', '.join(fields) or 'absent'})")
    if expanded:
        row.put(expanded, json.dumps(elements), "the entities of the source's `expand`")
    # The filter's value, or the one of a list filter that an inverted `extend` already set.
    for column, value in (mapping.get("filter") or {}).items():
        if not (isinstance(value, list) and row.values.get(column) in value):
            row.put(column, _filter_value(value), "the source's filter")
    computed_facts = vendor_sentinel.fact_columns(mapping)
    for field, value in sorted(flat.items()):
        column = mapping["fields"].get(field)
        if column is None or column in extend or field in computed_facts:
            continue  # the facts: what the query computes from the facts column
        root, *path = column.split(".")
        if path:  # a property of a dynamic column: its own JSON path
            row.put(column, value, field)
        else:
            row.put(column, kql_store(value, types[root], field, column), field)
    # A column whose values are a closed set (Microsoft's own queries cite each): the row must
    # hold one of them, or no such row exists.
    for column in m.citations.closed.get(table, []):
        value = row.values.get(column)
        if value not in (None, "") and str(value) not in m.citations.known(table, column):
            raise Skip("kql-no-such-row", f"{table}.{column} = {value!r}: {table} records only "
                                          f"{', '.join(sorted(m.citations.known(table, column)))}")
    # Dynamic properties into their JSON objects; absent strings are "" as Kusto stores them
    # (a Kusto string is never null); other absent columns are null.
    objects = {}
    for name, value in row.values.items():
        root, *path = name.split(".")
        if path:
            node = objects.setdefault(root, {})
            for p in path[:-1]:
                node = node.setdefault(p, {})
            node[path[-1]] = value
    columns, values = [], []
    for column, kind in types.items():
        if kind not in DUCKDB_TYPES:
            raise ValueError(f"no DuckDB type for Kusto type {kind!r} ({table}.{column})")
        columns.append([column, DUCKDB_TYPES[kind]])
        if kind == "dynamic" or (kind == "string" and column in converted):
            # A string column that the union member's expression converts with todynamic holds
            # the JSON text of an object, as the vendor writes it ({} without properties).
            values.append(json.dumps(objects[column]) if column in objects
                          else row.values.get(column, "{}" if kind == "string" else None))
        elif kind == "string" and column in retyped:
            # A string here that is dynamic in the source's main table: Kusto's union keeps the
            # two apart (Column_string, Column_dynamic), duckdb-kql's UNION BY NAME casts the text
            # to JSON, which "" is not; an unset one is null (the mapping reads neither).
            values.append(row.values.get(column))
        elif kind == "string":
            values.append(row.values.get(column, ""))
        else:
            values.append(row.values.get(column))
    return table, columns, values



# ---------------------------------------------------------------- KQL: what duckdb-kql lacks

_IP_CALL = re.compile(r"\b(ipv4|ipv6)_is_in_any_range\(")
_KQL_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _kql_call_args(query, start):
    """The argument texts of the call whose `(` is at start, and the index after its `)`."""
    args, depth, i, begin = [], 0, start, start + 1
    while i < len(query):
        c = query[i]
        if c == '"':
            i = _KQL_STRING.match(query, i).end()
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                args.append(query[begin:i].strip())
                return args, i + 1
        elif c == "," and depth == 1:
            args.append(query[begin:i].strip())
            begin = i + 1
        i += 1
    raise Skip("kql-unsupported", f"an unclosed call at {query[start - 20:start]!r}")


_ADDRESS_ARG = re.compile(r"(?:tostring\(([A-Za-z_]\w*)((?:\.[A-Za-z_]\w*)+)\))|([A-Za-z_]\w*)((?:\.[A-Za-z_]\w*)*)")


def _kql_address(arg, columns, row):
    """The value of an IP function's address argument in a row, as text ("" when absent; None
    when the row's table has no such column): a column, or a dynamic column's property
    (`tostring(Col.prop)` or `Col.prop`)."""
    m = _ADDRESS_ARG.fullmatch(arg)
    if not m:
        raise Skip("kql-unsupported", f"an IP-range function on `{arg}`")
    root, path = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    names = [c for c, _ in columns]
    if root not in names or (path and columns[names.index(root)][1] != "JSON"):
        return None  # another table's column (a property path only reads a dynamic column)
    value = row[names.index(root)]
    if path:
        value = json.loads(value) if isinstance(value, str) else value
        for p in path[1:].split("."):
            value = value.get(p) if isinstance(value, dict) else None
        if isinstance(value, (dict, list)):
            value = json.dumps(value)
    return "" if value is None else str(value)


def _blank_kql_strings(query):
    """The query with every string literal's body blanked, positions kept."""
    return _KQL_STRING.sub(lambda m: '"' + "x" * (len(m.group()) - 2) + '"', query)


def kql_ip_in_any_range(family, address, ranges):
    """ipv4_is_in_any_range / ipv6_is_in_any_range as Microsoft documents them: null when the
    address does not parse (for the IPv6 function an IPv4 address is its IPv4-mapped IPv6
    address), else whether it lies in any of the ranges."""
    try:
        a = ipaddress.ip_address(address)
    except ValueError:
        return None
    if family == "ipv4":
        if a.version != 4:
            return None
        nets = [ipaddress.IPv4Network(r, strict=False) for r in ranges]
    else:
        if a.version == 4:
            a = ipaddress.IPv6Address("::ffff:" + str(a))
        nets = []
        for r in ranges:
            n = ipaddress.ip_network(r, strict=False)
            nets.append(n if n.version == 6 else ipaddress.IPv6Network(f"::ffff:{n.network_address}/{96 + n.prefixlen}"))
    return any(a in n for n in nets)


def kql_ipv6_compare(a, b):
    """ipv6_compare() as Microsoft documents it (ADJUSTMENTS kql-ipv6-compare)."""
    def parse(text):
        addr, slash, prefix = text.partition("/")
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return None
        base, most = (96, 32) if ip.version == 4 else (0, 128)
        if ip.version == 4:
            ip = ipaddress.IPv6Address("::ffff:" + str(ip))
        if not slash:
            return int(ip), 128
        if not prefix.isdigit() or int(prefix) > most:
            return None
        return int(ip), base + int(prefix)
    pa, pb = parse(a), parse(b)
    if pa is None or pb is None:
        return None
    bits = min(pa[1], pb[1])
    mask = ((1 << bits) - 1) << (128 - bits)
    x, y = pa[0] & mask, pb[0] & mask
    return (x > y) - (x < y)


_IPV4_MAPPED = "0000:0000:0000:0000:0000:ffff:"
_IP_PREFIX_CALL = re.compile(r'parse_ipv6_mask\(([A-Za-z_]\w*), iff\(parse_ipv6\(\1\) startswith "x{30}", (\d+), (\d+)\)\)')


def kql_ip_prefix(text, v4, v6):
    """detc's network key in KQL (ADJUSTMENTS kql-ip-prefix): parse_ipv6() and
    parse_ipv6_mask() as Microsoft documents them."""
    addr, slash, prefix = text.partition("/")
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return ""
    base, most = (96, 32) if ip.version == 4 else (0, 128)
    if ip.version == 4:
        ip = ipaddress.IPv6Address("::ffff:" + str(ip))
    bits = 128
    if slash:
        if not prefix.isdigit() or int(prefix) > most:
            return ""
        bits = base + int(prefix)

    def masked(n):
        n = min(n, bits)
        value = int(ip) & (((1 << n) - 1) << (128 - n))
        return ":".join(f"{(value >> (16 * (7 - i))) & 0xffff:04x}" for i in range(8))
    return masked(v4 if masked(128).startswith(_IPV4_MAPPED) else v6)


def kql_substitute(query, tables):
    """(query, tables, adjustments): the query and its tables with what duckdb-kql lacks
    computed (ADJUSTMENTS kql-ip-range, kql-count-distinctif). Skip when it cannot be."""
    used = []
    if "count_distinctif(" in _strip_kql_strings(query):
        query = re.sub(r"\bcount_distinctif\(", "dcountif(", query)
        used.append("kql-count-distinctif")
    while True:
        m = re.search(r"\b(min|max)if\(", _blank_kql_strings(query))
        if not m:
            break
        args, end = _kql_call_args(query, m.end() - 1)
        if len(args) != 2 or args[0] != "TimeGenerated":
            raise Skip("kql-unsupported", f"{m.group(1)}if({', '.join(args)})")
        query = query[:m.start()] + f"{m.group(1)}(iff({args[1]}, {args[0]}, datetime(null)))" + query[end:]
        used.append("kql-minif-maxif")
    k = 0
    while True:
        m = _IP_CALL.search(_blank_kql_strings(query))
        if not m:
            break
        args, end = _kql_call_args(query, m.end() - 1)
        if len(args) < 2 or not all(_KQL_STRING.fullmatch(a) for a in args[1:]):
            raise Skip("kql-unsupported", f"{m.group(1)}_is_in_any_range with ranges {args[1:]}")
        ranges = [json.loads(a) for a in args[1:]]
        helper = f"DetcIpRange{k}"
        k += 1

        def in_range(columns, row, fn=m.group(1), arg=args[0], ranges=ranges):
            address = _kql_address(arg, columns, row)
            # a table without the column is another step's: its helper is never read
            return None if address is None else kql_ip_in_any_range(fn, address, ranges)
        tables = _with_helper(tables, helper, "BOOLEAN", in_range)
        query = query[:m.start()] + helper + query[end:]
        used.append("kql-ip-range")
    k = 0
    while True:
        m = re.search(r"\bipv6_compare\(", _blank_kql_strings(query))
        if not m:
            break
        args, end = _kql_call_args(query, m.end() - 1)
        if len(args) != 2:
            raise Skip("kql-unsupported", f"ipv6_compare({', '.join(args)})")
        helper = f"DetcIpCompare{k}"
        k += 1
        projected = [_kql_projection(query, a, tables) for a in args]
        if all(projected):
            # Two columns a sequence's steps projected (a comparison across steps): each row
            # gets its address's key, which the projection reads instead of the column, and
            # the keys compare equal exactly when ipv6_compare() is 0 for addresses without
            # a prefix (the only ones the compiled test lets through its `/` guards).
            for i, (name, column) in enumerate(projected):
                key = f"{helper}_{i}"

                def address_key(columns, row, column=column):
                    names = [c for c, _ in columns]
                    if column not in names or row[names.index(column)] is None:
                        return None
                    text = str(row[names.index(column)])
                    return None if "/" in text or kql_ipv6_compare(text, text) is None \
                        else str(_kql_address_int(text))
                tables = _with_helper(tables, key, "VARCHAR", address_key)
                query = re.sub(rf"\b{re.escape(name)} = {re.escape(column)}\b", f"{name} = {key}", query)
            a, b = args
            call = f"iff({a} == {b}, 0, 1)"
            m = re.search(r"\bipv6_compare\(", _blank_kql_strings(query))
            args, end = _kql_call_args(query, m.end() - 1)
            query = query[:m.start()] + call + query[end:]
            used.append("kql-ipv6-compare")
            continue

        def compare(columns, row, args=args):
            a, b = (_kql_address(x, columns, row) for x in args)
            return None if a is None or b is None else kql_ipv6_compare(a, b)
        tables = _with_helper(tables, helper, "BIGINT", compare)
        query = query[:m.start()] + helper + query[end:]
        used.append("kql-ipv6-compare")
    k = 0
    while True:
        m = _IP_PREFIX_CALL.search(_blank_kql_strings(query))
        if not m:
            break
        if _IPV4_MAPPED not in query[m.start():m.end()]:
            raise Skip("kql-unsupported", f"a parse_ipv6_mask call: {query[m.start():m.end()]}")
        helper = f"DetcIpPrefix{k}"
        k += 1

        def network(columns, row, arg=m.group(1), v4=int(m.group(2)), v6=int(m.group(3))):
            address = _kql_address(arg, columns, row)
            return None if address is None else kql_ip_prefix(address, v4, v6)
        tables = _with_helper(tables, helper, "VARCHAR", network)
        query = query[:m.start()] + helper + query[m.end():]
        used.append("kql-ip-prefix")
    return query, tables, sorted(set(used))


def _kql_projection(query, name, tables):
    """(name, column) when `name` is no table's column but a `project` names it after one
    (`name = Column`), else None."""
    if any(name in [c for c, _ in t["columns"]] for t in tables):
        return None
    m = re.search(rf"\b{re.escape(name)} = (\w+)\b", query)
    return (name, m.group(1)) if m else None


def _kql_address_int(text):
    """An address as ipv6_compare() reads it: IPv4 as IPv4-mapped IPv6, as one integer."""
    ip = ipaddress.ip_address(text)
    return int(ipaddress.IPv6Address("::ffff:" + str(ip)) if ip.version == 4 else ip)


def _with_helper(tables, helper, kind, value):
    """Each table with one more column, `helper` of type `kind`, holding value(columns, row)
    for each of its rows (the engine then reads the column instead of the call)."""
    return [dict(t, columns=t["columns"] + [[helper, kind]],
                 rows=[list(row) + [value(t["columns"], row)] for row in t["rows"]])
            for t in tables]


# ---------------------------------------------------------------- correlation cases

def event_time_ms(value):
    """An event's @timestamp (RFC 3339 text or epoch milliseconds) as epoch milliseconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    text = str(value).strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    t = datetime.datetime.fromisoformat(text)
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return round(t.timestamp() * 1000)


def case_events(case):
    """[(ms, input index, source, event without @timestamp/event.source)], ordered by time,
    input order for ties (docs/CORRELATION.md)."""
    out = []
    for i, raw in enumerate(case["event"]):
        flat = flatten(raw)
        ev = {k: v for k, v in flat.items() if k not in ("@timestamp", "event.source")}
        out.append((event_time_ms(flat["@timestamp"]), i, flat["event.source"], ev))
    return sorted(out, key=lambda e: (e[0], e[1]))


_KQL_SPAN = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}


_KQL_RANGE_END = re.compile(r"\band TimeGenerated <= ago\((\d+)(ms|s|m|h|d)\)")


def kql_delay(query):
    """How long before now() the query's range ends (`... and TimeGenerated <= ago(D)`, the
    rule's delay), in milliseconds; 0 without one."""
    m = _KQL_RANGE_END.search(_strip_kql_strings(query))
    return int(m[1]) * _KQL_SPAN[m[2]] if m else 0


def kql_agos(query):
    """Every other `ago(N<unit>)` of the query, in order, in milliseconds before the end of
    its range (now() - delay)."""
    text = _KQL_RANGE_END.sub("", _strip_kql_strings(query))
    delay = kql_delay(query)
    return [int(n) * _KQL_SPAN[u] - delay for n, u in re.findall(r"\bago\((\d+)(ms|s|m|h|d)\)", text)]


def hunt_alerts(case, events, repo, work):
    """detc's evaluator (`detc hunt`) over some of the case's events: the rule's alerts."""
    path = os.path.join(work, "hunt_events.ndjson")
    # hunt streams in input order; `detc test` orders a case's events by time (ties in input order)
    events = [e for _, _, e in sorted((event_time_ms(flatten(e)["@timestamp"]), i, e) for i, e in enumerate(events))]
    with open(path, "w", encoding="utf-8") as f:
        for e in events:
            f.write(json.dumps(e) + "\n")
    rules = os.path.dirname(os.path.join(repo, case["location"]))
    out = subprocess.run([os.path.join(repo, "target", "release", "detc"), "hunt", "--events", path, rules],
                         cwd=repo, check=True, capture_output=True, text=True).stdout
    alerts = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [a for a in alerts if a.get("rule") == case["rule"]]


def kql_window_verdict(case, query, repo, work, matched):
    """The evaluator's verdict for the run ending just after the case's last event, as the
    scheduled query sees it; Skip when it differs from detc's verdict over the whole case."""
    timed = [(event_time_ms(flatten(e)["@timestamp"]), e) for e in case["event"]]
    last = max(t for t, _ in timed)
    agos = kql_agos(query)
    if "| join kind=inner" in query:  # a sequence: both steps within the query's range
        seen = [a for a in hunt_alerts(case, case["event"], repo, work)
                if min(event_time_ms(flatten(e)["@timestamp"]) for e in a["events"]) > last - max(agos)]
        how = f"alerts with every event in the last {max(agos)} ms"
    elif "| join kind=leftouter" in query:  # an absence: the A events at least W old, in the range
        span, old = agos[0], agos[1]
        seen = [a for a in hunt_alerts(case, case["event"], repo, work)
                if last - span < event_time_ms(flatten(a["events"][0])["@timestamp"]) <= last - old]
        how = f"alerts of A events between {span} and {old} ms before the last event"
    elif "FirstSeen = minif(TimeGenerated" in query:  # first seen: new in the last schedule period
        seen = [a for a in hunt_alerts(case, case["event"], repo, work)
                if max(event_time_ms(flatten(e)["@timestamp"]) for e in a["events"]) > last - agos[-1]]
        how = f"alerts in the last {agos[-1]} ms"
    else:  # aggregation: the events in the query's range; with a monotone `having` the
        # evaluator fires over them iff `having` holds for the window ending at the last event
        having = _strip_kql_strings(query.rstrip().split("\n")[-1])
        ops = set(re.findall(r"[<>]=?|==|!=", having))
        if not having.startswith("| where") or not ops or ops - {">", ">="}:
            raise Skip("kql-scheduled-window", f"`having` not monotone: {having}")
        seen = hunt_alerts(case, [e for t, e in timed if t > last - agos[0]], repo, work)
        how = f"alerts over the {sum(t > last - agos[0] for t, _ in timed)} events in the last {agos[0]} ms"
    if bool(seen) != matched:
        raise Skip("kql-scheduled-window", f"{how}: {len(seen)}, whole case matched={matched}")


def union_tables(sources, m, present):
    """Empty tables for the tables (main and `union` members) of the sources' mappings that
    `present` lacks: a query reads every one of them."""
    out = []
    for source in sources:
        mapping = m.sentinel[source]
        for member in [mapping["table"]] + [t for t, _ in vendor_sentinel.union_members(mapping)]:
            if member not in present and member in m.columns:
                present.add(member)
                out.append({"table": member, "columns": [[c, DUCKDB_TYPES[k]] for c, k in m.columns[member].items()],
                            "rows": [], "offsets": None})
    return out


def kql_tables(case, query, m):
    """The case's events as rows of their Sentinel tables, TimeGenerated as an offset (ms)
    from the last event; kql_engine.py places the last event just before its now()."""
    events = case_events(case)
    # The last event at the end of the query's range: the rule's delay before now().
    last = max(t for t, _, _, _ in events) + kql_delay(query)
    tables = {}
    for t, _, source, ev in events:
        table, columns, values = kql_row({"source": source, "event": ev}, query, m)
        entry = tables.setdefault(table, {"table": table, "columns": columns, "rows": [], "offsets": []})
        entry["rows"].append(values)
        entry["offsets"].append(t - last)
    # A table the query reads that no event of the case is in exists, empty: a line that is a
    # table, or each table of a `union isfuzzy=true A, (B | ...)` line.
    text = _strip_kql_strings(query)
    names = re.findall(r"^\s*([A-Za-z_]\w*)\s*$", text, re.M)
    for union in re.findall(r"^\s*union isfuzzy=true (.*)$", text, re.M):
        names += re.findall(r"(?:^|,\s*\(?)([A-Za-z_]\w*)", union)
    for name in names:
        if name in m.columns and name not in tables:
            tables[name] = {"table": name, "columns": [[c, DUCKDB_TYPES[k]] for c, k in m.columns[name].items()],
                            "rows": [], "offsets": []}
    extra = union_tables({source for _, _, source, _ in events}, m, set(tables))
    return list(tables.values()) + [dict(t, offsets=[]) for t in extra]


# ---------------------------------------------------------------- driver

_ROW_WISE = re.compile(r"\|\s*(where|extend)\b")


def _row_wise(query):
    """Whether a single-event query keeps every column and judges each row alone (only `where`
    and `extend` after the table), so one table of many events judges each by its row id."""
    lines = [line.strip() for line in _strip_kql_strings(query).split("\n") if line.strip()]
    return all(_ROW_WISE.match(line) for line in lines[1:])


def run(cases, compiled, repo, work, kql_python, flip=False, m=None, strict=False):
    """Judge every case with both engines; returns a list of Outcome. With flip, detc's
    verdict is inverted first (the self-test: every judged case must then disagree).

    A correlation case (its `event` a list) may carry `kql_window`: True when its caller knows
    that the evaluator's verdict for the scheduled run equals its verdict for the case, or the
    detail of a `kql-scheduled-window` skip; without it, kql_window_verdict runs `detc hunt`.
    The single-event cases of one rule run in one KQL table, one row each.

    With strict (the library's own cases), a `kql-extend` skip is an error: the library's
    events must become vendor rows; and a rule whose KQL judged none of its `test matches`
    cases gets an error outcome (it cannot be shown to fire on Sentinel's data)."""
    m = m or Mappings(repo)
    queries = {(e["rule"], e["language"]): e["query"] for e in compiled}
    outcomes, kql_batch, groups, eql_outs = [], [], {}, []
    for case in cases:
        if not isinstance(case.get("matched"), bool):
            continue  # a case detc itself skipped has no verdict to compare
        matched = case["matched"]
        if flip:
            case = dict(case, matched=not case["matched"])
        if (case["rule"], "eql") in queries:
            out = Outcome("eql", case, queries[(case["rule"], "eql")])
            eql_outs.append(out)
            outcomes.append(out)
        if (case["rule"], "kql") in queries:
            out = Outcome("kql", case, queries[(case["rule"], "kql")])
            outcomes.append(out)
            try:
                if isinstance(case["event"], list):
                    tables = kql_tables(case, out.query, m)
                    out.built = [{"table": t["table"], "rows": [
                        dict({c: v for (c, _), v in zip(t["columns"], row) if v not in (None, "")},
                             TimeGenerated=f"last event {o:+d} ms")
                        for row, o in zip(t["rows"], t["offsets"])]} for t in tables]
                    window = case.get("kql_window")
                    if window is None:
                        kql_window_verdict(case, out.query, repo, work, matched)
                    elif window is not True:
                        raise Skip("kql-scheduled-window", str(window))
                    query, tables, used = kql_substitute(out.query, tables)
                    kql_batch.append(([(None, out)], {"tables": tables, "query": query}, used))
                else:
                    table, columns, values = kql_row(case, out.query, m)
                    out.built = {"table": table, "row": {c: v for (c, _), v in zip(columns, values)}}
                    key = (case["rule"], out.query) if _row_wise(out.query) else id(out)
                    group = groups.setdefault(key, {"table": table, "columns": columns, "rows": [], "outs": [],
                                                    "query": out.query})
                    group["rows"].append(values)
                    group["outs"].append(out)
                    # The same event as a row of each `union` member (e.g. a non-interactive
                    # sign-in): the query must reach the same verdict from there.
                    for member, _ in vendor_sentinel.union_members(m.sentinel[case["source"]]):
                        extra = Outcome("kql", dict(case, case=f"{case['case']} [as {member}]"), out.query)
                        outcomes.append(extra)
                        try:
                            mtable, mcolumns, mvalues = kql_row(case, out.query, m, table=member)
                        except Skip as s:
                            extra.status, extra.skip_id, extra.detail = "skip", s.skip_id, s.detail
                            continue
                        extra.built = {"table": mtable, "row": {c: v for (c, _), v in zip(mcolumns, mvalues)}}
                        mkey = (key, member) if _row_wise(out.query) else id(extra)
                        mgroup = groups.setdefault(mkey, {"table": mtable, "columns": mcolumns, "rows": [],
                                                          "outs": [], "query": out.query})
                        mgroup["rows"].append(mvalues)
                        mgroup["outs"].append(extra)
            except Skip as s:
                out.status, out.skip_id, out.detail = "skip", s.skip_id, s.detail
                if strict and s.skip_id == "kql-extend":
                    out.status, out.detail = "error", (f"the library's event cannot be a vendor row: {s.detail} "
                                                       "(add its inverse to EXTEND_INVERSES, or change the mapping)")
            except Exception as e:
                out.status, out.detail = "error", f"{type(e).__name__}: {e}"
    for group in groups.values():
        columns = group["columns"] + [["DetcRow", "BIGINT"]]
        rows = [list(values) + [k] for k, values in enumerate(group["rows"])]
        try:
            query, tables, used = kql_substitute(group["query"], [
                {"table": group["table"], "columns": columns, "rows": rows, "offsets": None}])
        except Skip as s:
            for out in group["outs"]:
                out.status, out.skip_id, out.detail = "skip", s.skip_id, s.detail
            continue
        tables += union_tables({o.case["source"] for o in group["outs"]}, m, {t["table"] for t in tables})
        kql_batch.append((list(enumerate(group["outs"])), {"tables": tables, "query": query, "key": "DetcRow"}, used))
    pending = start_kql([dict(c, id=i) for i, (_, c, _) in enumerate(kql_batch)], work, kql_python) if kql_batch else None
    # The EQL cases are judged here while kql_engine.py runs.
    for out in eql_outs:
        try:
            settle(out, judge_eql(out, out.case, m))
        except Skip as s:
            out.status, out.skip_id, out.detail = "skip", s.skip_id, s.detail
        except Exception as e:  # an engine crash is a failure, reported with the case
            out.status, out.detail = "error", f"{type(e).__name__}: {e}"
    if pending:
        for (members, _, used), result in zip(kql_batch, finish_kql(pending)):
            for row, out in members:
                if "keys" in result or "rows" in result:
                    settle(out, row in set(result["keys"]) if "keys" in result else result["rows"] > 0)
                    out.adjusted = list(used)
                elif "unsupported" in result and result["unsupported"] in KQL_UNSUPPORTED:
                    out.status, out.skip_id, out.detail = "skip", "kql-unsupported", result["unsupported"]
                elif re.match(r"KqlSchemaError: .* differ only in case\b", result.get("error") or ""):
                    out.status, out.skip_id, out.detail = "skip", "kql-case-columns", result["error"]
                else:
                    out.status = "error"
                    out.detail = result.get("message") or result.get("error")
    if strict:
        outcomes += unjudged_rules(outcomes) + unjudged_rules(outcomes, "eql")
    return outcomes


def unjudged_rules(outcomes, engine="kql"):
    """An error outcome for each rule whose KQL (or EQL) judged none of its `test matches` cases
    (all skipped): nothing shows that the rule can fire on the vendor's rows (documents)."""
    rules = {}
    for o in outcomes:
        if o.engine == engine and o.case.get("expect_match"):
            rules.setdefault(o.case["rule"], []).append(o)
    out = []
    what = "a row KQL" if engine == "kql" else "an Elasticsearch document EQL"
    for rule, outs in sorted(rules.items()):
        if not any(o.status in ("agree", "disagree") for o in outs):
            bad = Outcome(engine, dict(outs[0].case, case="(all its test matches cases)"), outs[0].query)
            bad.status = "error"
            bad.detail = (f"no `test matches` event of the rule is {what} could judge: "
                          + "; ".join(f"{o.case['case']}: [{o.skip_id or o.status}] {o.detail}" for o in outs))
            out.append(bad)
    return out


def settle(out, verdict):
    out.verdict = verdict
    out.status = "agree" if verdict == out.case["matched"] else "disagree"


def start_kql(batch, work, kql_python):
    """Start kql_engine.py on a batch of cases; finish_kql waits for its results."""
    cases_file = os.path.join(work, "kql_engine_cases.json")
    results_file = os.path.join(work, "kql_engine_results.json")
    with open(cases_file, "w", encoding="utf-8") as f:
        json.dump(batch, f)
    proc = subprocess.Popen([kql_python, os.path.join(HERE, "kql_engine.py"), cases_file, results_file])
    return proc, results_file


def finish_kql(pending):
    proc, results_file = pending
    if proc.wait() != 0:
        raise subprocess.CalledProcessError(proc.returncode, proc.args)
    with open(results_file, encoding="utf-8") as f:
        return json.load(f)


ENGINE_NAMES = {"eql": "eql engine", "kql": "kql engine (duckdb-kql)"}


def report(outcomes):
    """Print disagreements in full, the skip section and a summary line per engine; returns
    (agreed, failed, skipped)."""
    for o in outcomes:
        if o.status in ("disagree", "error"):
            c = o.case
            what = (f"detc matched={c['matched']}, {o.engine} engine matched={o.verdict}"
                    if o.status == "disagree" else f"{o.engine} engine error: {o.detail}")
            print(f"FAIL {ENGINE_NAMES[o.engine]} {c['rule']} \"{c['case']}\" ({c['location']}): {what}")
            print(f"     event: {json.dumps(c['event'], ensure_ascii=False)}")
            print(f"     {'document' if o.engine == 'eql' else 'table'}: {json.dumps(o.built, ensure_ascii=False)}")
            print("     query: " + o.query.replace("\n", "\n            "))
    skipped = [o for o in outcomes if o.status == "skip"]
    if skipped:
        print(f"engine cases skipped ({len(skipped)}; the table is SKIPS in conformance/engines.py):")
        for o in skipped:
            c = o.case
            print(f"SKIP {o.engine} {c['rule']} \"{c['case']}\": [{o.skip_id}] {SKIPS[o.skip_id][2]} -- {o.detail}")
    totals = [0, 0, 0]
    for engine, name in ENGINE_NAMES.items():
        mine = [o for o in outcomes if o.engine == engine]
        n = {s: sum(o.status == s for o in mine) for s in ("agree", "disagree", "skip", "error")}
        errors = f", {n['error']} errors" if n["error"] else ""
        print(f"{name}: {n['agree']} agree, {n['disagree']} disagree, {n['skip']} skipped{errors}")
        totals[0] += n["agree"]
        totals[1] += n["disagree"] + n["error"]
        totals[2] += n["skip"]
    return tuple(totals)


def selftest(outcomes):
    """With every detc verdict flipped, each case an engine judged must be reported as a
    disagreement; returns the number that slipped through (or 1 if none was judged)."""
    missed = 0
    for engine, name in ENGINE_NAMES.items():
        judged = [o for o in outcomes if o.engine == engine and o.status in ("agree", "disagree")]
        passed = [o for o in judged if o.status == "agree"]
        for o in passed:
            print(f"SELFTEST a flipped verdict passed the {name}: {o.case['rule']} \"{o.case['case']}\"")
        print(f"self-test {name}: {len(judged) - len(passed)} of {len(judged)} flipped verdicts reported")
        missed += len(passed) + (0 if judged else 1)
    return missed
