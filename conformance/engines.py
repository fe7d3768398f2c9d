"""Real engines judge detc's own test cases.

For every case that `detc test --format json` lists (a rule, an ECS event, detc's verdict):

* EQL: the event becomes an Elasticsearch document (fields renamed by targets/elastic.yaml,
  plus `event.category` and the source's filter values, so the query's own source filter
  passes) and Elastic's `eql` PythonEngine runs the compiled EQL over it;
* KQL: the event becomes one row of the source's Sentinel table, with every column that
  sentinel_columns.yaml declares for it (fields renamed by targets/sentinel.yaml, dynamic
  properties inside their JSON column, filter columns set, `extend` inputs inverted where
  possible), and DuckDB-KQL runs the compiled KQL over it (kql_engine.py, in its own venv).

Each engine's verdict must equal detc's. The cases an engine cannot judge the way the real
SIEM would are skipped by the table SKIPS below, and only by it; every other disagreement
fails the suite.
"""
import contextlib
import datetime
import json
import os
import re
import subprocess

import eql
import eql.ast
import eql.functions
import eql.utils
import eql.walkers
import yaml
from eql.parser import elasticsearch_syntax, parse_query

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------- the skip table
# The constructs duckdb-kql declares unsupported (KqlUnsupportedError.construct) that may be
# skipped; any other unsupported construct fails the suite until it is named here.
KQL_UNSUPPORTED = {"function:ipv4_is_in_any_range", "function:ipv6_is_in_any_range",
                   "aggregate:count_distinctif"}

# id: (engine, predicate, reason). The code below tests each predicate where it can first be
# known and names the entry; a skip prints one line with the entry's reason and what
# triggered it. Nothing else may turn a disagreement into a skip.
SKIPS = {
    "eql-case": (
        "eql",
        "the query mixes case-sensitive tests (`==`, `in`, functions without `~`, from `cased`) "
        "with case-insensitive ones (`~`), and the tests whose outcome on this event changes with "
        "case folding are not all of one kind, or the query text does not tell their kind",
        "eql 1.0.1 folds case for all string tests or for none (eql.utils.CASE_INSENSITIVE); its "
        "parser drops the `~` that tells Elasticsearch which tests fold, so neither mode is "
        "Elasticsearch's for such a query"),
    "eql-array": (
        "eql",
        "the document holds an array in a field the query reads",
        "eql's PythonEngine compares an array as one value (`f in~ (\"x\")` is false for "
        "[\"x\"]); Elasticsearch matches when any element does"),
    "eql-not-null": (
        "eql",
        "a `not` in the query applies to a test whose field is absent from the document, and "
        "the verdict changes when that `not` holds",
        "eql's PythonEngine is three-valued: `not` of a test on a missing field is null, so "
        "the event is dropped; Elasticsearch translates `not` to a bool `must_not` query (the "
        "QL NotQuery), which keeps documents without the field"),
    "eql-regex-prefix": (
        "eql",
        "a `regex` test matches a prefix of the field's value but not the whole value, and the "
        "verdict changes when that test fails",
        "eql's `match` uses Python's re.match, anchored at the start only; an Elasticsearch "
        "regex (Lucene) must match the whole value"),
    "eql-wildcard-?": (
        "eql",
        "a `:`/`like` pattern holds `?`",
        "eql's wildcard has no single-character `?` (it matches itself); Elasticsearch's has"),
    "kql-unsupported": (
        "kql",
        "duckdb-kql raises KqlUnsupportedError for one of: " + ", ".join(sorted(KQL_UNSUPPORTED)),
        "duckdb-kql 1.1.2 has no IP-range functions and no count_distinctif aggregate (no mapping "
        "in its translate/functions.py)"),
    "eql-maxspan-second": (
        "eql",
        "two events of a sequence case lie more than maxspan but less than maxspan + 1s apart",
        "eql 1.0.1 compares maxspan at whole-second granularity (shared/oracles/eql_check.py "
        "engine limits); Elasticsearch compares milliseconds"),
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
    "merged-fields": (
        "eql, kql",
        "two fields of the event (or a field and the source's filter) map to one target field "
        "with different values",
        "no document or row on that target can hold both values: the mapping merges the fields"),
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


def coerce(value, kind):
    """The value as the target indexes a field of the schema's type: detc reads numbers given
    as strings as numbers, and so do a long field in Elasticsearch and a long column."""
    if isinstance(value, list):
        return [coerce(v, kind) for v in value]
    if kind == "number":
        return _number(value)
    if kind == "boolean" and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if kind in ("string", "ip") and isinstance(value, bool):
        return "true" if value else "false"
    if kind in ("string", "ip") and isinstance(value, (int, float)):
        return str(value)
    return value


class Mappings:
    def __init__(self, repo):
        def load(*parts):
            with open(os.path.join(*parts), encoding="utf-8") as f:
                return yaml.safe_load(f)
        self.schema = {s: m["fields"] for s, m in load(repo, "targets", "schema.yaml")["sources"].items()}
        self.elastic = load(repo, "targets", "elastic.yaml")["sources"]
        self.sentinel = load(repo, "targets", "sentinel.yaml")["sources"]
        self.columns = load(HERE, "sentinel_columns.yaml")["tables"]


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


# ---------------------------------------------------------------- EQL

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
    # Parse under the mode it runs in: the optimizer folds `in` lists under the current mode.
    key = (query, insensitive)
    if key not in _parsed:
        with case_folding(insensitive):
            _parsed[key] = parse_query(query)
    return _parsed[key]


def eql_document(event, source, m):
    mapping = m.elastic[source]
    doc = Target()
    if mapping["category"] != "any":
        doc.put("event.category", mapping["category"], "the source's category")
    for field, value in (mapping.get("filter") or {}).items():
        doc.put(field, value, "the source's filter")
    for field, value in sorted(flatten(event).items()):
        target = mapping["fields"].get(field)
        if target is not None:  # an unmapped field cannot be in the compiled query
            doc.put(target, coerce(value, m.schema[source].get(field)), field)
    nested = {}
    for name, value in doc.values.items():
        *parents, last = name.split(".")
        node = nested
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return doc.values, nested


def _field_name(node):
    return ".".join([node.base] + [str(p) for p in node.path])


def _unescape_eql(body):
    simple = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}

    def one(m):
        text = m.group(1)
        if text.startswith("u{"):
            return chr(int(text[2:-1], 16))
        return simple.get(text, text)
    return re.sub(r"\\(u\{[0-9a-fA-F]+\}|.)", one, body, flags=re.S)


_EQL_TOKEN = re.compile(r'''(?P<str>"""(?:.*?)"""|"(?:[^"\\]|\\.)*")
                          |(?P<name>[A-Za-z_@?][\w.@]*~?)
                          |(?P<op>==|!=|<=|>=|[<>:(),\[\]])
                          |(?P<space>\s+)
                          |(?P<other>.)''', re.X | re.S)
_EQL_KEYWORDS = {"and", "or", "not", "where", "by", "with", "sequence", "sample", "until", "of",
                 "true", "false", "null", "in", "in~", "like", "like~", "regex", "regex~"}
_CASE_FUNCTIONS = {"stringContains", "startsWith", "endsWith", "wildcard", "indexOf"}


def eql_tokens(query):
    return [(m.lastgroup, m.group()) for m in _EQL_TOKEN.finditer(query) if m.lastgroup != "space"]


def has_cased_letter(text):
    return any(c.lower() != c.upper() for c in text)


def folds_every_letter(pattern):
    """True if every cased letter of a regex sits in a [...] class that holds its other case
    too, as detc spells case-insensitive patterns: such a regex ignores case by itself."""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            j = i + 1
            if pattern[j:j + 1] == "^":
                j += 1
            members, first = set(), True
            while j < len(pattern) and (pattern[j] != "]" or first):
                first = False
                if pattern[j] == "\\":  # an escape (\d, \\, \]) adds no bare letter
                    j += 2
                elif j + 2 < len(pattern) and pattern[j + 1] == "-" and pattern[j + 2] != "]":
                    members.update(chr(k) for k in range(ord(pattern[j]), ord(pattern[j + 2]) + 1))
                    j += 3
                else:
                    members.add(pattern[j])
                    j += 1
            # A negated class is closed under case exactly when the set it excludes is.
            if any(x.swapcase() not in members for x in members if x.lower() != x.upper()):
                return False
            i = j + 1
            continue
        if c.lower() != c.upper():
            return False
        i += 1
    return True


def eql_case_kinds(query, exact_fields):
    """(has a case-insensitive test, has a case-sensitive test), read from the query text since
    eql's AST no longer says which tests carried `~`. Tests whose literals hold no cased letter,
    regexes that spell both cases, and the source filter (whose exact value the document
    carries) cannot depend on case and count as neither."""
    toks = eql_tokens(query)

    def literals(k):
        """The string literals of the operand that starts at token k: one, or a (...) list."""
        out, depth = [], 0
        for kind, text in toks[k:]:
            if kind == "str":
                out.append(_unescape_eql(text[3:-3] if text.startswith('"""') else text[1:-1]))
            elif text in "([":
                depth += 1
            elif text in ")]":
                depth -= 1
            if depth <= 0:
                break
        return out

    def sensitive(values, regex):
        return any(not folds_every_letter(v) if regex else has_cased_letter(v) for v in values)

    ci = cs = False
    for k, (kind, text) in enumerate(toks):
        nxt = toks[k + 1][1] if k + 1 < len(toks) else ""
        if kind == "name" and text in ("in~", "like~", "regex~") or text == ":":
            ci |= any(has_cased_letter(v) for v in literals(k + 1))
        elif text in ("in", "like"):
            cs |= sensitive(literals(k + 1), regex=False)
        elif text == "regex":
            cs |= sensitive(literals(k + 1), regex=True)
        elif text in ("==", "!=") and k > 0 and toks[k - 1][1] not in exact_fields:
            cs |= sensitive(literals(k + 1) if toks[k + 1][0] == "str" else [], regex=False)
        elif kind == "name" and nxt == "(" and text not in _EQL_KEYWORDS:
            args = literals(k + 1)
            if text.endswith("~"):
                ci |= any(has_cased_letter(v) for v in args)
            elif text in ("match", "regex"):
                cs |= sensitive(args, regex=True)
            elif text in _CASE_FUNCTIONS:
                cs |= sensitive(args, regex=False)
    return ci, cs


def eql_atom_folds(atom, query):
    """Whether Elasticsearch folds case in this test of the parsed query: True or False when
    the query text tells (the function is written once, with or without `~`; every `regex`
    of the query has the same form), None when it cannot."""
    if isinstance(atom, eql.ast.FunctionCall) and atom.name == "match":
        forms = {text for kind, text in eql_tokens(query) if text in ("regex", "regex~")}
        return "regex~" in forms if len(forms) == 1 else None
    if isinstance(atom, eql.ast.FunctionCall):
        flat, text = " ".join(query.split()), " ".join(str(atom).split())
        plain, tilde = text in flat, text.replace(atom.name + "(", atom.name + "~(", 1) in flat
        return tilde if plain != tilde else None
    return None


def eql_atoms(ast):
    return [n for n in ast if isinstance(n, (eql.ast.FunctionCall, eql.ast.InSet, eql.ast.Comparison))]


def eql_value(node, event, insensitive):
    with case_folding(insensitive):
        return eql.PythonEngine().convert(node, scoped=True)(event)


def eql_matches(ast, event, insensitive):
    """Whether the query matches: one event, or a list of events (a sequence's case)."""
    with case_folding(insensitive):
        engine = eql.PythonEngine({"time_unit": 1000})  # event times are epoch milliseconds
        engine.add_query(ast)
        hits = []
        engine.add_output_hook(hits.append)
        engine.stream_events(event if isinstance(event, list) else [event])
    return bool(hits)


class _Replaced(eql.walkers.RecursiveWalker):
    """The query with some of its nodes (picked by identity) replaced by boolean literals."""

    def __init__(self, values):
        super().__init__()
        self.values = values  # {id(node): bool}

    def _walk_base_node(self, node, *args, **kwargs):
        if id(node) in self.values:
            return eql.ast.Boolean(self.values[id(node)])
        return super()._walk_base_node(node, *args, **kwargs)


def judge_eql(out, case, m):
    """A single event, or (a correlation case) the case's events in time order: a sequence."""
    query = out.query
    if isinstance(case["event"], list):
        parts = [(t, src, ev) for t, _, src, ev in case_events(case)]
    else:
        parts = [(0, case["source"], case["event"])]
    flats, docs, exact = [], [], set()
    for t, source, ev in parts:
        mapping = m.elastic[source]
        flat, nested = eql_document(ev, source, m)
        flats.append(flat)
        docs.append(eql.Event(mapping["category"], t, nested))
        exact |= set(mapping.get("filter") or {})
    out.built = [d.data for d in docs] if isinstance(case["event"], list) else docs[0].data
    ast = eql_parse(query, False)  # the case-sensitive parse keeps every literal as written

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
    for n in ast:
        if isinstance(n, eql.ast.FunctionCall) and n.name == "wildcard" and any(
                isinstance(a, eql.ast.String) and "?" in a.value for a in n.arguments[1:]):
            raise Skip("eql-wildcard-?", str(n))

    ci, cs = eql_case_kinds(query, exact)
    folding = not cs  # with only one kind of test, the engine's matching mode is exact
    if ci and cs:
        # Either mode is exact when no test changes with folding on these events, and one is
        # when every test that changes folds the same way in Elasticsearch.
        changed = [a for a in eql_atoms(ast)
                   if any(eql_value(a, d, True) != eql_value(a, d, False) for d in docs)]
        folds = {eql_atom_folds(a, query) for a in changed}
        if None in folds or len(folds) > 1:
            raise Skip("eql-case", "; ".join(" ".join(str(a).split()) for a in changed))
        folding = folds.pop() if folds else True
    ast = eql_parse(query, folding)
    event = docs if isinstance(case["event"], list) else docs[0]
    verdict = eql_matches(ast, event, folding)
    # Where the engine departs from Elasticsearch on this event, the test takes Elasticsearch's
    # value in a copy of the query; if that changes the verdict, the engine cannot judge it.
    with case_folding(folding):
        flags = eql.functions.regex_flags()
    prefix_only = {}
    for n in ast:
        if isinstance(n, eql.ast.FunctionCall) and n.name == "match" and isinstance(n.arguments[0], eql.ast.Field):
            pattern = "|".join(a.value for a in n.arguments[1:])
            for flat in flats:
                value = flat.get(_field_name(n.arguments[0]))
                if isinstance(value, str) and re.match(pattern, value, flags) and not re.fullmatch(pattern, value, flags):
                    prefix_only[id(n)] = (False, f"{' '.join(str(n).split())} on {value!r}")
    # A `not` of a test on a missing field holds in Elasticsearch (a `must_not` query).
    null_nots = {id(n): (True, " ".join(str(n).split())) for n in ast
                 if isinstance(n, eql.ast.Not) and any(eql_value(n.term, d, folding) is None for d in docs)}
    for skip_id, replaced in (("eql-regex-prefix", prefix_only), ("eql-not-null", null_nots)):
        if replaced and eql_matches(_Replaced({k: v for k, (v, _) in replaced.items()}).walk(ast),
                                    event, folding) != verdict:
            raise Skip(skip_id, "; ".join(text for _, text in replaced.values()))
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
    """The value as a Sentinel column of that Kusto type stores it."""
    if kind == "dynamic":
        return json.dumps(value)
    if isinstance(value, list):
        raise Skip("kql-array", f"{field} = {value!r} -> {column} ({kind})")
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


def kql_row(case, query, m):
    """(table, [[column, duckdb type]], [value]) for the case's event."""
    source = case["source"]
    mapping = m.sentinel[source]
    table = mapping["table"]
    types = m.columns[table]
    extend = mapping.get("extend") or {}
    row = Target()
    for column, value in (mapping.get("filter") or {}).items():
        row.put(column, value, "the source's filter")
    flat = flatten(case["event"])
    for column, expression in extend.items():
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
            row.put(vendor_column, vendor_value, f"{column} ({', '.join(fields) or 'absent'})")
    for field, value in sorted(flat.items()):
        column = mapping["fields"].get(field)
        if column is None or column in extend:
            continue
        root, *path = column.split(".")
        if path:  # a property of a dynamic column: its own JSON path
            row.put(column, value, field)
        else:
            row.put(column, kql_store(value, types[root], field, column), field)
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
        if kind == "dynamic":
            values.append(json.dumps(objects[column]) if column in objects else row.values.get(column))
        elif kind == "string":
            values.append(row.values.get(column, ""))
        else:
            values.append(row.values.get(column))
    return table, columns, values


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


def kql_agos(query):
    """Every `ago(N<unit>)` of the query, in milliseconds, in order."""
    return [int(n) * _KQL_SPAN[u] for n, u in re.findall(r"\bago\((\d+)(ms|s|m|h|d)\)", _strip_kql_strings(query))]


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
    elif "min(TimeGenerated)" in query:  # first seen: new in the last schedule period
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


def kql_tables(case, query, m):
    """The case's events as rows of their Sentinel tables, TimeGenerated as an offset (ms)
    from the last event; kql_engine.py places the last event just before its now()."""
    events = case_events(case)
    last = max(t for t, _, _, _ in events)
    tables = {}
    for t, _, source, ev in events:
        table, columns, values = kql_row({"source": source, "event": ev}, query, m)
        entry = tables.setdefault(table, {"table": table, "columns": columns, "rows": [], "offsets": []})
        entry["rows"].append(values)
        entry["offsets"].append(t - last)
    return list(tables.values())


# ---------------------------------------------------------------- driver

def run(cases, compiled, repo, work, kql_python, flip=False):
    """Judge every case with both engines; returns a list of Outcome. With flip, detc's
    verdict is inverted first (the self-test: every judged case must then disagree)."""
    m = Mappings(repo)
    queries = {(e["rule"], e["language"]): e["query"] for e in compiled}
    outcomes, kql_batch = [], []
    for case in cases:
        if not isinstance(case.get("matched"), bool):
            continue  # a case detc itself skipped has no verdict to compare
        matched = case["matched"]
        if flip:
            case = dict(case, matched=not case["matched"])
        if (case["rule"], "eql") in queries:
            out = Outcome("eql", case, queries[(case["rule"], "eql")])
            try:
                settle(out, judge_eql(out, case, m))
            except Skip as s:
                out.status, out.skip_id, out.detail = "skip", s.skip_id, s.detail
            except Exception as e:  # an engine crash is a failure, reported with the case
                out.status, out.detail = "error", f"{type(e).__name__}: {e}"
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
                    kql_window_verdict(case, out.query, repo, work, matched)
                else:
                    table, columns, values = kql_row(case, out.query, m)
                    out.built = {"table": table, "row": {c: v for (c, _), v in zip(columns, values)}}
                    tables = [{"table": table, "columns": columns, "rows": [values], "offsets": None}]
                kql_batch.append((out, {"id": len(kql_batch), "tables": tables, "query": out.query}))
            except Skip as s:
                out.status, out.skip_id, out.detail = "skip", s.skip_id, s.detail
            except Exception as e:
                out.status, out.detail = "error", f"{type(e).__name__}: {e}"
    if kql_batch:
        for out, result in zip([o for o, _ in kql_batch], run_kql([c for _, c in kql_batch], work, kql_python)):
            if "rows" in result:
                settle(out, result["rows"] > 0)
            elif "unsupported" in result and result["unsupported"] in KQL_UNSUPPORTED:
                out.status, out.skip_id, out.detail = "skip", "kql-unsupported", result["unsupported"]
            else:
                out.status = "error"
                out.detail = result.get("message") or result.get("error")
    return outcomes


def settle(out, verdict):
    out.verdict = verdict
    out.status = "agree" if verdict == out.case["matched"] else "disagree"


def run_kql(batch, work, kql_python):
    cases_file = os.path.join(work, "kql_engine_cases.json")
    results_file = os.path.join(work, "kql_engine_results.json")
    with open(cases_file, "w", encoding="utf-8") as f:
        json.dump(batch, f)
    subprocess.run([kql_python, os.path.join(HERE, "kql_engine.py"), cases_file, results_file], check=True)
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
