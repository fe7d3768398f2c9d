#!/usr/bin/env python3
"""Check every compiled query with the parser made for its language.

    check.py --repo ROOT --work DIR [--cases CASES.json --case-queries COMPILED.json] LABEL=COMPILED.json...

Each COMPILED.json is the output of `detc compile --format json`. KQL goes to Microsoft's
Kusto.Language (check_kql.js, one node process for all queries) with Microsoft's table
schemas (conformance/vendor/sentinel/, read by vendor_sentinel.py); EQL to Elastic's `eql` library
(Elasticsearch dialect); ES|QL to Elastic's ANTLR grammar (`esql-parser`). SPL has no
published parser: a tokenizer here reads it the way Splunk's search language does and
checks that it holds exactly the commands and terms detc emits. With --cases (the output
of `detc test --format json`) real engines also run the compiled EQL and KQL over each test
event and must reach detc's verdict (engines.py). Prints every failing query or case in
full, a summary per language and engine and a closing `N passed, M failed, K skipped`;
exit 1 on any failure.
"""
import argparse
import json
import os
import re
import subprocess
import sys

import yaml
import eql
import engines
import vendor_sentinel
from eql.errors import EqlError, EqlParseError
from eql.parser import elasticsearch_syntax, parse_query
from antlr4 import CommonTokenStream, InputStream
from antlr4.error.ErrorListener import ErrorListener
from esql_parser.EsqlBaseLexer import EsqlBaseLexer
from esql_parser.EsqlBaseParser import EsqlBaseParser

HERE = os.path.dirname(os.path.abspath(__file__))


class Failure(Exception):
    def __init__(self, message, line=0, column=0):
        super().__init__(message)
        self.message, self.line, self.column = message, line, column

    def __str__(self):
        where = f"line {self.line}, col {self.column}: " if self.line else ""
        return where + self.message


# ---------------------------------------------------------------- EQL and ES|QL

def check_eql(query):
    try:
        with elasticsearch_syntax:
            parse_query(query)
    except EqlParseError as e:
        raise Failure(f"{type(e).__name__}: {e.error_msg}", (e.line or 0) + 1, (e.column or 0) + 1)
    except EqlError as e:
        raise Failure(f"{type(e).__name__}: {e}")


class _Errors(ErrorListener):
    def __init__(self):
        super().__init__()
        self.errors = []

    def syntaxError(self, recognizer, symbol, line, column, msg, e):  # noqa: N802 (ANTLR API)
        self.errors.append(Failure(msg, line, column + 1))


def check_esql(query):
    errors = _Errors()
    lexer = EsqlBaseLexer(InputStream(query))
    lexer.removeErrorListeners()
    lexer.addErrorListener(errors)
    parser = EsqlBaseParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(errors)
    parser.singleStatement()
    if errors.errors:
        raise errors.errors[0]


# ---------------------------------------------------------------- KQL

class StrictLoader(yaml.SafeLoader):
    """YAML that refuses a key written twice (which a plain load would silently merge)."""

    def construct_mapping(self, node, deep=False):
        keys = set()
        for k, _ in node.value:
            key = self.construct_object(k, deep=deep)
            if key in keys:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", k.start_mark)
            keys.add(key)
        return super().construct_mapping(node, deep)


def kql_schema(repo):
    """{table: {column: type}}: Microsoft's table schemas (the Azure-Sentinel KQL validation
    schemas and the Azure Monitor table reference, conformance/vendor/sentinel/tables), with
    the deployment's custom tables and enrichment columns that the mapping marks `enrichment:`
    (vendor/sentinel/enrichment_tables.yaml). vendor_sentinel.py checks each mapped column;
    here every table the mapping reads must have a schema."""
    mapping = yaml.load(open(os.path.join(repo, "targets", "sentinel.yaml"), encoding="utf-8"),
                        Loader=StrictLoader)
    schema = vendor_sentinel.kusto_schema()
    missing = []
    for source, m in mapping["sources"].items():
        for table in [m["table"]] + [t for t, _ in vendor_sentinel.union_members(m)]:
            if table not in schema:
                missing.append(f"{table} (source {source})")
    if missing:
        sys.exit("conformance: no Microsoft or enrichment schema for the tables: " + ", ".join(missing)
                 + " (see conformance/vendor_sentinel.py)")
    return schema


def check_kql_batch(items, repo, work):
    """Run every KQL query through one node process; returns {index: Failure}."""
    schema_file = os.path.join(work, "kql_schema.json")
    queries_file = os.path.join(work, "kql_queries.json")
    json.dump(kql_schema(repo), open(schema_file, "w"))
    json.dump([{"id": i, "query": q} for i, q in items], open(queries_file, "w"))
    out = subprocess.run(["node", os.path.join(HERE, "check_kql.js"), schema_file, queries_file],
                         check=True, capture_output=True, text=True).stdout
    failures = {}
    for r in json.loads(out):
        if r["errors"]:
            e = r["errors"][0]
            failures[r["id"]] = Failure(f"{e['message']} [{e['code']}]", e["line"], e["column"])
    return failures


# ---------------------------------------------------------------- SPL

WHERE_FUNCTIONS = {"match", "cidrmatch", "isnull", "isnotnull", "isnum", "in"}
# The functions of a value that a field comparison (`a == b`) reads: `lower(mvdedup('f'))`.
VALUE_FUNCTIONS = {"lower", "mvdedup", "mvcount", "tonumber"}
COMPARISONS = {"==", "!=", "<", "<=", ">", ">="}


def spl_tokens(text, offsets=False):
    """Tokens as Splunk's search language reads them: double-quoted strings with backslash
    escapes, single-quoted field names (eval), parentheses, brackets, pipes, operators, words.
    With offsets, each token also carries its (start, end) in text."""
    tokens, i = [], 0
    while i < len(text):
        c, start = text[i], i
        if c.isspace():
            i += 1
            continue
        elif c == '"':
            j, value = i + 1, []
            while j < len(text) and text[j] != '"':
                if text[j] == "\\" and j + 1 < len(text):
                    value.append(text[j + 1] if text[j + 1] in '"\\' else text[j:j + 2])
                    j += 2
                else:
                    value.append(text[j])
                    j += 1
            if j >= len(text):
                raise Failure(f"unterminated string from offset {i}")
            tok = ("STR", "".join(value))
            i = j + 1
        elif c == "'":
            j = text.find("'", i + 1)
            if j < 0:
                raise Failure(f"unterminated field name from offset {i}")
            tok = ("FIELD", text[i + 1:j])
            i = j + 1
        elif c in "()[],|":
            tok = (c, c)
            i += 1
        elif text.startswith(("==", "!=", "<=", ">="), i):
            tok = ("OP", text[i:i + 2])
            i += 2
        elif c in "=<>":
            tok = ("OP", c)
            i += 1
        else:
            j = i
            while j < len(text) and not text[j].isspace() and text[j] not in "\"'()[],|=<>!":
                j += 1
            if j == i:
                raise Failure(f"unexpected character {c!r} at offset {i}")
            tok = ("WORD", text[i:j])
            i = j
        tokens.append(tok + ((start, i),) if offsets else tok)
    return tokens


IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
STATS_FUNCTIONS = {"dc", "sum", "min", "max"}  # and `count`, which takes no argument


class _Reader:
    def __init__(self, tokens, fields):
        self.tokens, self.pos, self.fields = tokens, 0, fields

    def peek(self, kind=None, text=None, ahead=0):
        if self.pos + ahead >= len(self.tokens):
            return False
        k, t = self.tokens[self.pos + ahead]
        return (kind is None or k == kind) and (text is None or t == text)

    def take(self, kind, text=None, what=None):
        if not self.peek(kind, text):
            got = self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")
            raise Failure(f"expected {what or text or kind}, found {got[1] or got[0]!r}")
        self.pos += 1
        return self.tokens[self.pos - 1][1]

    def take_seq(self, *texts):
        for t in texts:
            kind = "WORD" if IDENT.match(t) or t[0] in "-_0123456789" else ("OP" if t[0] in "=<>!" else t)
            self.take(kind, t)

    def field(self, name):
        if name not in self.fields:
            raise Failure(f"`{name}` is not a field the Splunk mapping gives this source")
        return name

    def number(self, what="a number"):
        text = self.take("WORD", what=what)
        try:
            float(text)
        except ValueError:
            raise Failure(f"`{text}` is not a number")
        return text

    def seconds(self, text):
        if not re.fullmatch(r"-[0-9]+s", text):
            raise Failure(f"`{text}` is not a relative time detc emits (-Ns)")

    def name_list(self):
        """`f, g, ...`: by fields."""
        names = [self.field(self.take("WORD", what="a by field"))]
        while self.peek(","):
            self.pos += 1
            names.append(self.field(self.take("WORD", what="a by field")))
        return names

    # search terms: unary+ with optional OR between them
    def search(self, closing=None):
        self.search_unary()
        while self.pos < len(self.tokens) and not (closing and self.peek(closing)):
            if self.peek("WORD", "OR"):
                self.pos += 1
            self.search_unary()

    def search_unary(self):
        if self.peek("WORD", "NOT"):
            self.pos += 1
            return self.search_unary()
        if self.peek("("):
            self.pos += 1
            self.search(")")
            return self.take(")")
        self.field(self.take("WORD", what="a field name"))
        self.take("OP", "=")
        if self.peek("WORD", "*"):
            self.pos += 1
        else:
            self.take("STR", what="a quoted value")

    def time_modifiers(self):
        """`earliest=-Ns latest=now|-Ds` (a correlation query's time range, ending the
        rule's delay before the run), if present."""
        if not self.peek("WORD", "earliest"):
            return False
        self.take_seq("earliest", "=")
        self.seconds(self.take("WORD", what="a relative time"))
        self.take_seq("latest", "=")
        latest = self.take("WORD", what="`now` or a relative time")
        if latest != "now":
            self.seconds(latest)
        return True

    def time_range(self):
        """`_time > relative_time(now(), "-Ns") [AND _time <= relative_time(now(), "-Ds")]`."""
        self.take_seq("_time", ">")
        self.relative_now()
        if self.peek("WORD", "AND"):
            self.take_seq("AND", "_time", "<=")
            self.relative_now()

    def relative_now(self):
        """`relative_time(now(), "-Ns")`."""
        self.take_seq("relative_time", "(", "now", "(", ")", ",")
        self.seconds(self.take("STR", what="a relative time"))
        self.take(")")

    # where: or / and / not / primary
    def where(self):
        self.where_and()
        while self.peek("WORD", "OR"):
            self.pos += 1
            self.where_and()

    def where_and(self):
        self.where_not()
        while self.peek("WORD", "AND"):
            self.pos += 1
            self.where_not()

    def where_not(self):
        if self.peek("WORD", "NOT"):
            self.pos += 1
            return self.where_not()
        if self.peek("("):
            self.pos += 1
            self.where()
            return self.take(")")
        if self.peek("WORD") and not self.value_function():
            name = self.take("WORD")
            if name not in WHERE_FUNCTIONS:
                raise Failure(f"`{name}` is not a function detc emits")
            self.take("(")
            self.where_argument()
            while self.peek(","):
                self.pos += 1
                self.where_argument()
            return self.take(")")
        self.value()
        self.comparison()
        if self.peek("STR"):
            self.pos += 1
        elif self.peek("FIELD") or self.value_function():
            self.value()
        else:
            number = self.take("WORD", what="a value")
            try:
                float(number)
            except ValueError:
                raise Failure(f"`{number}` is neither a string nor a number")

    def value_function(self):
        """Whether a function of VALUE_FUNCTIONS (and its `(`) comes next."""
        return self.peek("WORD") and self.tokens[self.pos][1] in VALUE_FUNCTIONS and self.peek("(", ahead=1)

    def value(self):
        """A field, or a function of VALUE_FUNCTIONS of one."""
        if self.value_function():
            self.pos += 1
            self.take("(")
            self.value()
            return self.take(")")
        self.field(self.take("FIELD", what="a field"))

    def comparison(self):
        op = self.take("OP", what="a comparison")
        if op not in COMPARISONS:
            raise Failure(f"`{op}` is not a comparison")

    def where_argument(self):
        if self.peek("FIELD") or self.value_function():
            self.value()
        else:
            self.take("STR", what="a string or field")

    # correlation commands
    def stats(self):
        """`stats AGG AS name, ... by f, ...`; returns the names it defines."""
        names = []
        while True:
            func = self.take("WORD", what="a stats function")
            if func != "count":
                if func not in STATS_FUNCTIONS:
                    raise Failure(f"`{func}` is not a stats function detc emits")
                self.take("(")
                if self.peek("WORD", "_time") and func == "min":
                    self.pos += 1
                elif self.peek("WORD", "eval"):
                    # `eval('f')`, or `eval(if('f'!="", 'f', null()))`: a value that is not ""
                    self.take_seq("eval", "(")
                    if self.peek("WORD", "if"):
                        self.take_seq("if", "(")
                        name = self.take("FIELD", what="a field")
                        self.field(name)
                        self.not_empty_rest()
                        self.take(",")
                        if self.take("FIELD", what="the same field") != name:
                            raise Failure("`if` must yield the field it tests")
                        self.take_seq(",", "null", "(", ")", ")")
                    else:
                        self.field(self.take("FIELD", what="a field"))
                    self.take(")")
                else:
                    self.field(self.take("WORD", what="a field"))
                self.take(")")
            self.take("WORD", "AS")
            names.append(self.new_name())
            if not self.peek(","):
                break
            self.pos += 1
        self.take("WORD", "by")
        self.name_list()
        return names

    def not_empty_rest(self):
        """The `!=""` after a field: it holds a value that is not the empty string."""
        if self.take("OP", what="`!=`") != "!=" or self.take("STR", what='`""`') != "":
            raise Failure('expected `!=""`')

    def new_name(self):
        name = self.take("WORD", what="a result name")
        if not IDENT.match(name) or name in self.fields or name in ("AS", "by", "AND", "OR", "NOT"):
            raise Failure(f"`{name}` is not a fresh result name")
        return name

    def having(self, names):
        """The `where` after stats: comparisons of its results with numbers, AND/OR/()."""
        def primary():
            if self.peek("("):
                self.pos += 1
                disjunction()
                return self.take(")")
            name = self.take("WORD", what="a stats result")
            if name not in names:
                raise Failure(f"`{name}` is not a result of the stats before")
            self.comparison()
            self.number()

        def conjunction():
            primary()
            while self.peek("WORD", "AND"):
                self.pos += 1
                primary()

        def disjunction():
            conjunction()
            while self.peek("WORD", "OR"):
                self.pos += 1
                conjunction()
        disjunction()

    def step_flags(self):
        """`eval detc_step1=1, detc_step2=if(<where>, 1, 0), detc_key1='f'`; returns the
        step flags it sets."""
        flags, keys = [], []
        while True:
            name = self.take("WORD", what="a step flag or key")
            self.take("OP", "=")
            if re.fullmatch(r"detc_step[1-9]", name):
                if self.peek("WORD", "if"):
                    self.take_seq("if", "(")
                    self.where()
                    self.take_seq(",", "1", ",", "0", ")")
                elif not (self.peek("WORD", "0") or self.peek("WORD", "1")):
                    raise Failure(f"`{name}` must be set to 0, 1 or if(..., 1, 0)")
                else:
                    self.pos += 1
                flags.append(name)
            elif re.fullmatch(r"detc_key[1-9]", name):
                self.field(self.take("FIELD", what="a key field"))
                keys.append(name)
            else:
                raise Failure(f"`eval` sets `{name}`, not a step flag or key")
            if not self.peek(","):
                break
            self.pos += 1
        if flags != [f"detc_step{i + 1}" for i in range(len(flags))] or len(flags) < 2:
            raise Failure("`eval` must set every step flag, in order")
        return flags, keys

    def done(self):
        if self.pos != len(self.tokens):
            raise Failure(f"unexpected {self.tokens[self.pos][1]!r} after the command")


def _commands(tokens):
    commands, current = [], []
    for tok in tokens:
        if tok[0] == "|":
            commands.append(current)
            current = []
        else:
            current.append(tok)
    commands.append(current)
    return commands


def _base(query, splunk):
    bases = [b for b in splunk if query == b or query.startswith(b + " ")]
    if not bases:
        raise Failure("the query does not start with a base search of the Splunk mapping")
    return max(bases, key=len)


def _events(query, splunk):
    """A base search with its terms and `| search`/`| where` filters, and (for correlation)
    its time range. Returns (the commands after the filters, their fields, whether timed)."""
    base = _base(query, splunk)
    fields = splunk[base]
    after = query[len(base):]
    # A computed field's pipeline (the mapping's `extend`, verbatim) follows the base
    # search and its own terms, before any other command; then `| search` may follow.
    computed = False
    for pipeline in fields.computed.values():
        i = after.find(" | " + pipeline)
        if i < 0:
            continue
        if "|" in after[:i]:
            raise Failure("a computed field's pipeline after another command")
        after = after[:i] + after[i + 3 + len(pipeline):]
        computed = True
    # A source's facts (mapping `facts:`): detc computes each other rule.* column from the
    # facts column and the project's rules, `| eval C=case(in('K', "v", ...), "x", ...)`
    # (`null()` with no rules), before any other command.
    for name, key in fields.facts.items():
        i = after.find(f" | eval {name}=")
        if i < 0:
            continue
        m = _fact_eval(name, key).match(after, i)
        if "|" in after[:i] or not m:
            raise Failure(f"`eval {name}` is no case over {key} (a fact column) before any other command")
        after = after[:i] + after[m.end():]
        computed = True
    tokens = spl_tokens(after)
    if any(k in "[]" for k, _ in tokens):
        raise Failure("a subsearch bracket outside a string (only `multisearch` takes subsearches)")
    commands = _commands(tokens)
    if commands[0] and "|" in base:
        raise Failure("terms were appended to a piped base search")
    r = _Reader(commands[0], fields)
    timed = r.time_modifiers()
    if r.pos < len(r.tokens):
        r.search()
    r.done()
    rest = commands[1:]
    # A piped base search gets its time range as the first `where`.
    if "|" in base and rest and rest[0][:2] == [("WORD", "where"), ("WORD", "_time")]:
        r = _Reader(rest[0], fields)
        r.take("WORD", "where")
        r.time_range()
        r.done()
        timed, rest = True, rest[1:]
    names = []
    while rest and rest[0][:1] in ([("WORD", "search")], [("WORD", "where")], [("WORD", "lookup")]):
        if rest[0][0] == ("WORD", "lookup"):
            if "where" in names:
                raise Failure("a lookup after the condition's `where`")
            fields, rest = _lookup(rest[0], fields), rest[1:]
            continue
        r = _Reader(rest[0], fields)
        name = r.take("WORD")
        if name == "where" and name in names:
            # A second `where` is a correlation's key test (`where isnotnull('k') AND ...`),
            # which the caller's grammar for the form reads.
            break
        if name in names or (name == "search" and "where" in names) or (name == "search" and "|" not in base and not computed):
            raise Failure(f"unexpected command `{name}`")
        names.append(name)
        r.where() if name == "where" else r.search()
        r.done()
        rest = rest[1:]
    return rest, fields, timed, tokens


SPL_STRING = r'"(?:[^"\\]|\\.)*"'
LOOKUP_TABLE = re.compile(r"detc_(?:list|cased)_[A-Za-z_][A-Za-z0-9_]*")


def _lookup(command, fields):
    """`lookup detc_list_L value AS f OUTPUT value AS detc_list_L_in_f`: a tunable list's CSV
    lookup (docs/PACKAGING.md, Tunable lists) of a field the source gives, its result in the
    field named for the table and the field. Returns the fields with that result field."""
    r = _Reader(command, fields)
    r.take("WORD", "lookup")
    table = r.take("WORD", what="a lookup table")
    if not LOOKUP_TABLE.fullmatch(table):
        raise Failure(f"`{table}` is no tunable list's lookup definition")
    r.take_seq("value", "AS")
    field = r.field(r.take("WORD", what="a field"))
    r.take_seq("OUTPUT", "value", "AS")
    result = r.take("WORD", what="the lookup's result field")
    if result != f"{table}_in_{re.sub(r'[^A-Za-z0-9]', '_', field)}":
        raise Failure(f"the lookup's result field `{result}` is not named for {table} and {field}")
    r.done()
    out = Fields(fields, fields.patterns)
    out.computed, out.facts = fields.computed, fields.facts
    out.add(result)
    return out


def _fact_eval(name, key):
    """` | eval NAME=case(in('KEY', "value", ...), result, ...)`: each arm tests the facts
    column against strings and yields a string or a number; a string's backticks are
    `urldecode("%60")` joined with `.`. `null()` when no rule raises alerts."""
    text = rf'{SPL_STRING}(?:\.urldecode\("%60"\)\.{SPL_STRING})*'
    arm = rf"in\('{re.escape(key)}', {text}(?:, {text})*\), (?:{text}|-?\d+(?:\.\d+)?)"
    return re.compile(rf" \| eval {re.escape(name)}=(?:case\({arm}(?:, {arm})*\)|null\(\))")


def _step(query, splunk):
    """One step search of a sequence: events over a time range, `| eval` of the step flags
    (and keys), and with several flags computed, `| where detc_step1=1 OR ...`.
    Returns (fields the tail may use, the tokens)."""
    rest, fields, timed, tokens = _events(query, splunk)
    if not timed or not rest or rest[0][:1] != [("WORD", "eval")]:
        raise Failure("a sequence step must be a timed search followed by `eval` of its step flags")
    r = _Reader(rest[0][1:], fields)
    flags, keys = r.step_flags()
    r.done()
    rest = rest[1:]
    if rest:
        r = _Reader(rest[0], fields)
        r.take("WORD", "where")
        r.take_seq(flags[0], "=", "1")
        while r.peek("WORD", "OR"):
            r.pos += 1
            r.take("WORD", what="a step flag")
            r.take_seq("=", "1")
        r.done()
        rest = rest[1:]
    if rest:
        raise Failure(f"unexpected command `{rest[0][0][1] if rest[0] else ''}` in a sequence step")
    return fields | set(keys), tokens


def _keys_present(commands, fields):
    """The commands after a leading key test, `| where isnotnull('k') AND 'k'!="" AND ...`
    (when the events' own condition took the first `where`, it stands alone)."""
    if commands and commands[0][:2] == [("WORD", "where"), ("WORD", "isnotnull")]:
        r = _Reader(commands[0], fields)
        r.take("WORD", "where")
        while True:
            r.take_seq("isnotnull", "(")
            key = r.take("FIELD", what="a key")
            r.field(key)
            r.take(")")
            if not r.peek("WORD", "AND"):
                break
            r.pos += 1
            if r.peek("FIELD", key):  # `'k'!=""`: the key is not the empty string
                r.pos += 1
                r.not_empty_rest()
                if not r.peek("WORD", "AND"):
                    break
                r.pos += 1
        r.done()
        commands = commands[1:]
    return commands


def _sequence_tail(commands, fields):
    """`| where isnotnull('k') AND 'k'!="" AND ... | sort 0 _time | streamstats current=f
    global=f window=1 last(detc_step1) AS detc_prev_step1 last(_time) AS detc_prev_time by k, ...
    | where detc_step2=1 AND detc_prev_step1=1 AND _time-detc_prev_time<=N`."""
    commands = _keys_present(commands, fields)
    if commands and commands[0][:1] == [("WORD", "stats")]:
        return _absence_tail(commands, fields)
    if len(commands) != 3:
        raise Failure("a sequence must end in `sort`, `streamstats` and `where`")
    r = _Reader(commands[0], fields)
    r.take_seq("sort", "0", "_time")
    r.done()
    r = _Reader(commands[1], fields)
    r.take_seq("streamstats", "current", "=", "f", "global", "=", "f", "window", "=", "1",
               "last", "(", "detc_step1", ")", "AS", "detc_prev_step1",
               "last", "(", "_time", ")", "AS", "detc_prev_time")
    if r.peek("WORD", "by"):
        r.pos += 1
        r.name_list()
    r.done()
    r = _Reader(commands[2], fields)
    r.take_seq("where", "detc_step2", "=", "1", "AND", "detc_prev_step1", "=", "1", "AND",
               "_time-detc_prev_time", "<=")
    if not re.fullmatch(r"[0-9]+", r.take("WORD", what="a number of seconds")):
        raise Failure("the sequence's window is not a whole number of seconds")
    r.done()


def _absence_tail(commands, fields):
    """An absence, exactly as detc emits it: `stats max(detc_step1) AS detc_step1
    max(detc_step2) AS detc_step2 by k, ..., _time | sort 0 -_time | eval
    detc_followed_at=if(detc_step2=1, _time, null()) | streamstats current=f global=f
    min(detc_followed_at) AS detc_next by k, ... | where detc_step1=1 AND
    _time>relative_time(now(), "-Ns") AND _time<=relative_time(now(), "-Ns") AND
    (isnull(detc_next) OR detc_next-_time>N)`."""
    if len(commands) != 5:
        raise Failure("an absence must end in `stats`, `sort`, `eval`, `streamstats` and `where`")
    r = _Reader(commands[0], fields)
    r.take_seq("stats", "max", "(", "detc_step1", ")", "AS", "detc_step1",
               "max", "(", "detc_step2", ")", "AS", "detc_step2", "by")
    keys = [r.field(r.take("WORD", what="a key"))]
    while r.peek(",") and not r.peek("WORD", "_time", ahead=1):
        r.pos += 1
        keys.append(r.field(r.take("WORD", what="a key")))
    r.take_seq(",", "_time")
    r.done()
    r = _Reader(commands[1], fields)
    r.take_seq("sort", "0", "-_time")
    r.done()
    r = _Reader(commands[2], fields)
    r.take_seq("eval", "detc_followed_at", "=", "if", "(", "detc_step2", "=", "1", ",", "_time",
               ",", "null", "(", ")", ")")
    r.done()
    r = _Reader(commands[3], fields)
    r.take_seq("streamstats", "current", "=", "f", "global", "=", "f", "min", "(",
               "detc_followed_at", ")", "AS", "detc_next", "by")
    if r.name_list() != keys:
        raise Failure("the absence's streamstats keys differ from its stats keys")
    r.done()
    r = _Reader(commands[4], fields)
    r.take_seq("where", "detc_step1", "=", "1", "AND")
    r.time_range()
    r.take_seq("AND", "(", "isnull", "(", "detc_next", ")", "OR")
    r.take("WORD", "detc_next-_time")
    r.take("OP", ">")
    if not re.fullmatch(r"[0-9]+", r.take("WORD", what="a number of seconds")):
        raise Failure("the absence's window is not a whole number of seconds")
    r.take(")")
    r.done()


def spl_shape(query, splunk):
    """Check one SPL query; returns its token shape (strings blanked) for twin comparison."""
    if "`" in query:
        raise Failure("a raw backtick (Splunk macro syntax) in the query")
    if any(ord(c) < 32 for c in query):
        raise Failure("a raw control character in the query")
    if query.startswith("| multisearch "):
        return _multisearch(query, splunk)
    rest, fields, timed, tokens = _events(query, splunk)
    if not rest and not timed:
        return _shape(tokens)  # a single-event rule
    if not timed:
        raise Failure(f"unexpected command `{rest[0][0][1] if rest[0] else ''}` "
                      "(correlation commands need a time range)")
    if not rest:
        raise Failure("a time range without a correlation after it")
    if rest[0][:1] == [("WORD", "where")]:  # the key test, after the condition's `where`
        rest = _keys_present(rest, fields)
        if not rest or rest[0][:1] == [("WORD", "where")]:
            raise Failure("a `where` that is no key test after the condition's")
    r = _Reader(rest[0], fields)
    command = r.take("WORD", what="a command")
    if command == "stats":
        if len(rest) != 2:
            raise Failure("`stats` must be followed by exactly one `where`")
        names = r.stats()
        r.done()
        r = _Reader(rest[1], fields)
        r.take("WORD", "where")
        r.having(names)
        r.done()
    elif command == "eval" and r.peek("WORD", "detc_new"):
        _first_seen(rest, fields)
    elif command == "eval":
        # One source for both steps: the step search and the tail in one pipeline.
        step_cmds = [rest[0]] + ([rest[1]] if len(rest) > 1 and rest[1][:2] == [("WORD", "where"), ("WORD", "detc_step1")] else [])
        r = _Reader(rest[0][1:], fields)
        flags, keys = r.step_flags()
        r.done()
        if len(step_cmds) == 2:
            r = _Reader(step_cmds[1], fields)
            r.take("WORD", "where")
            r.take_seq(flags[0], "=", "1")
            while r.peek("WORD", "OR"):
                r.pos += 1
                r.take("WORD", what="a step flag")
                r.take_seq("=", "1")
            r.done()
        _sequence_tail(rest[len(step_cmds):], fields | set(keys))
    else:
        raise Failure(f"unexpected command `{command}`")
    return _shape(tokens)


def _first_seen(rest, fields):
    """First seen, exactly as detc emits it: `eval` the times new in this run and the ones
    before, `stats` the first new and the last old per key, `where` the first has no
    sighting within the lookback before it."""
    if len(rest) != 3:
        raise Failure("first seen is `eval`, `stats` and `where`, nothing else")
    r = _Reader(rest[0], fields)
    r.take("WORD", "eval")
    for name, op in (("detc_new", ">"), ("detc_old", "<=")):
        r.take_seq(name, "=", "if", "(", "_time")
        if r.take("OP") != op:
            raise Failure(f"`{name}` compares `_time` with `{op}`")
        r.relative_now()
        r.take_seq(",", "_time", ",", "null", "(", ")", ")")
        if name == "detc_new":
            r.take(",")
    r.done()
    r = _Reader(rest[1], fields)
    r.take_seq("stats", "min", "(", "detc_new", ")", "AS", "first_seen",
               "max", "(", "detc_old", ")", "AS", "last_before", "by")
    r.name_list()
    r.done()
    r = _Reader(rest[2], fields)
    r.take_seq("where", "isnotnull", "(", "first_seen", ")", "AND", "(", "isnull", "(",
               "last_before", ")", "OR", "last_before")
    r.take("OP", "<")
    if not re.fullmatch(r"first_seen-[0-9]+", r.take("WORD", what="first_seen-<seconds>")):
        raise Failure("the lookback is not `first_seen-<seconds>`")
    r.take(")")
    r.done()


def _multisearch(query, splunk):
    """`| multisearch [search STEP] [search STEP] ...` and the sequence tail."""
    text = query[len("| multisearch "):]
    tokens = spl_tokens(text, offsets=True)
    i, steps, fields, shape = 0, 0, Fields(), [("|", "|"), ("WORD", "multisearch")]
    while i < len(tokens) and tokens[i][0] == "[":
        if i + 1 >= len(tokens) or tokens[i + 1][:2] != ("WORD", "search"):
            raise Failure("a multisearch subsearch must start with `search`")
        j = i + 2
        while j < len(tokens) and tokens[j][0] not in "[]":
            j += 1
        if j >= len(tokens) or tokens[j][0] != "]":
            raise Failure("a subsearch inside a subsearch, or an unclosed subsearch")
        inner = text[tokens[i + 1][2][1]:tokens[j][2][0]].strip()
        try:
            step_fields, step_tokens = _step(inner, splunk)
        except Failure as f:
            raise Failure(f"in multisearch subsearch {steps + 1}: {f}")
        fields |= step_fields
        shape += [("[", "["), ("WORD", "search")] + _shape(step_tokens) + [("]", "]")]
        steps += 1
        i = j + 1
    if steps < 2:
        raise Failure("multisearch needs at least two subsearches")
    rest = [t[:2] for t in tokens[i:]]
    if any(k in "[]" for k, _ in rest):
        raise Failure("a subsearch bracket outside multisearch")
    if not rest or rest[0][0] != "|":
        raise Failure("multisearch must be followed by a pipe")
    _sequence_tail(_commands(rest[1:]), fields)
    return shape + _shape(rest)


def _shape(tokens):
    return [(k, None if k == "STR" else t) for k, t in tokens]


class Fields(set):
    """Splunk field names a source gives: its mapped names, and every name a field family's
    pattern makes (`*` is a member name, `[A-Za-z_][A-Za-z0-9_]*`)."""

    def __init__(self, names=(), patterns=()):
        super().__init__(names)
        self.patterns = list(patterns)
        # computed field -> the SPL pipeline the source's `extend` computes it with
        self.computed = {}
        # fact column -> the facts column detc computes it from (the mapping's `facts:`)
        self.facts = {}

    def add_mapping(self, fields):
        for key, name in fields.items():
            if name is None:  # `~`: no place on Splunk
                continue
            if key.endswith(".*"):
                member = re.escape(name).replace(r"\*", "[A-Za-z_][A-Za-z0-9_]*")
                self.patterns.append(re.compile(member + r"\Z"))
            else:
                self.add(name)

    def __contains__(self, name):
        return super().__contains__(name) or any(p.match(name) for p in self.patterns)

    def __or__(self, other):
        return Fields(set(self) | set(other), self.patterns + getattr(other, "patterns", []))

    def __ior__(self, other):
        self.update(other)
        self.patterns += getattr(other, "patterns", [])
        return self


def splunk_mapping(repo):
    """Base search -> the field names any source with that base search may use."""
    mapping = yaml.safe_load(open(os.path.join(repo, "targets", "splunk.yaml"), encoding="utf-8"))
    out = {}
    for m in mapping["sources"].values():
        fields = out.setdefault(m["search"].strip(), Fields())
        fields.add_mapping(m["fields"])
        for name, pipeline in (m.get("extend") or {}).items():
            fields.computed[name] = pipeline.strip()
        if m.get("facts"):
            key = m["fields"][m["facts"]]
            fields.facts.update({c: key for f, c in m["fields"].items()
                                 if c and f.startswith("rule.") and f != m["facts"]})
    return out


# ---------------------------------------------------------------- driver

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--expect-rejections", action="store_true",
                    help="self-test: every query (but `_twin`s) must be rejected")
    ap.add_argument("--cases", metavar="FILE", help="`detc test --format json`: run the engines over its events")
    ap.add_argument("--case-queries", metavar="FILE", help="`detc compile --format json` of the same rules")
    ap.add_argument("--kql-python", default=os.path.join(HERE, ".deps", "kql-venv", "bin", "python"),
                    help="the Python that has duckdb-kql (its own venv; see kql_engine.py)")
    ap.add_argument("batches", nargs="+", metavar="LABEL=FILE")
    args = ap.parse_args()
    if bool(args.cases) != bool(args.case_queries):
        ap.error("--cases and --case-queries go together")

    outcomes = []
    if args.cases:
        with open(args.cases, encoding="utf-8") as f:
            cases = json.load(f)
        with open(args.case_queries, encoding="utf-8") as f:
            compiled = json.load(f)
        # In the self-test every detc verdict is flipped, so every judged case must fail.
        # strict: the library's own cases must become vendor rows (no `kql-extend` skip), and
        # each rule must have a `test matches` event that KQL judges.
        outcomes = engines.run(cases, compiled, args.repo, args.work, args.kql_python,
                               flip=args.expect_rejections, strict=True)

    items = []  # (label, entry)
    for spec in args.batches:
        label, path = spec.split("=", 1)
        items += [(label, e) for e in json.load(open(path, encoding="utf-8"))]

    failures = {}
    kql = [(i, e["query"]) for i, (_, e) in enumerate(items) if e["language"] == "kql"]
    failures.update(check_kql_batch(kql, args.repo, args.work))

    splunk = splunk_mapping(args.repo)
    shapes = {}
    for i, (label, e) in enumerate(items):
        try:
            if e["language"] == "eql":
                check_eql(e["query"])
            elif e["language"] == "esql":
                check_esql(e["query"])
            elif e["language"] == "spl":
                shapes[(label, e["rule"])] = (i, spl_shape(e["query"], splunk))
        except Failure as f:
            failures[i] = f
    # A twin differs only in harmless values, so its shape is the one detc meant to emit.
    for (label, rule), (i, shape) in shapes.items():
        twin = shapes.get((label, rule + "_twin"))
        if twin and twin[1] != shape:
            failures[i] = Failure(f"the query's shape differs from its twin's ({rule}_twin): "
                                  f"a value changed the commands or terms")

    if args.expect_rejections:
        passed = [e["rule"] for i, (_, e) in enumerate(items)
                  if i not in failures and not e["rule"].endswith("_twin")]
        for rule in passed:
            print(f"SELFTEST a known-bad query passed: {rule}")
        print(f"self-test: {len(failures)} known-bad queries rejected, {len(passed)} passed")
        missed = engines.selftest(outcomes) if args.cases else 0
        return 1 if passed or missed else 0

    per_language = {}
    for i, (label, e) in enumerate(items):
        stats = per_language.setdefault(e["language"], [0, 0])
        stats[1 if i in failures else 0] += 1
        if i in failures:
            print(f"FAIL {e['language']} {label}/{e['rule']}: {failures[i]}")
            print("     " + e["query"].replace("\n", "\n     "))
    for language, (ok, bad) in sorted(per_language.items()):
        print(f"{language}: {ok} passed, {bad} failed")
    agreed, disagreed, skipped = engines.report(outcomes) if args.cases else (0, 0, 0)
    if skipped:
        print(f"{skipped} engine cases skipped (see the SKIP lines and engines.py SKIPS)")
    print(f"{len(items) - len(failures) + agreed} passed, {len(failures) + disagreed} failed")
    return 1 if failures or disagreed else 0


if __name__ == "__main__":
    sys.exit(main())
