#!/usr/bin/env python3
"""Check every compiled query with the parser made for its language.

    check.py --repo ROOT --work DIR [--cases CASES.json --case-queries COMPILED.json] LABEL=COMPILED.json...

Each COMPILED.json is the output of `detc compile --format json`. KQL goes to Microsoft's
Kusto.Language (check_kql.js, one node process for all queries) with a schema built from
targets/sentinel.yaml and sentinel_columns.yaml; EQL to Elastic's `eql` library
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
import subprocess
import sys

import yaml
import eql
import engines
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

def kql_schema(repo):
    """{table: {column: type}} for every table and column the Sentinel mapping uses."""
    mapping = yaml.safe_load(open(os.path.join(repo, "targets", "sentinel.yaml"), encoding="utf-8"))
    declared = yaml.safe_load(open(os.path.join(HERE, "sentinel_columns.yaml"), encoding="utf-8"))["tables"]
    schema, missing = {}, []
    for source, m in mapping["sources"].items():
        table = m["table"]
        columns = declared.get(table)
        if columns is None:
            missing.append(f"table {table} (source {source})")
            continue
        schema[table] = dict(columns)
        computed = set((m.get("extend") or {}).keys())
        for column in list((m.get("filter") or {}).keys()) + list(m.get("fields", {}).values()):
            root = column.split(".")[0]
            if root not in columns and root not in computed:
                missing.append(f"{table}.{root} (source {source})")
    if missing:
        sys.exit("conformance: no declared type in sentinel_columns.yaml for: " + ", ".join(missing))
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

WHERE_FUNCTIONS = {"match", "cidrmatch", "isnull", "isnotnull"}
COMPARISONS = {"==", "!=", "<", "<=", ">", ">="}


def spl_tokens(text):
    """Tokens as Splunk's search language reads them: double-quoted strings with backslash
    escapes, single-quoted field names (eval), parentheses, brackets, pipes, operators, words."""
    tokens, i = [], 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
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
            tokens.append(("STR", "".join(value)))
            i = j + 1
        elif c == "'":
            j = text.find("'", i + 1)
            if j < 0:
                raise Failure(f"unterminated field name from offset {i}")
            tokens.append(("FIELD", text[i + 1:j]))
            i = j + 1
        elif c in "()[],|":
            tokens.append((c, c))
            i += 1
        elif text.startswith(("==", "!=", "<=", ">="), i):
            tokens.append(("OP", text[i:i + 2]))
            i += 2
        elif c in "=<>":
            tokens.append(("OP", c))
            i += 1
        else:
            j = i
            while j < len(text) and not text[j].isspace() and text[j] not in "\"'()[],|=<>!":
                j += 1
            if j == i:
                raise Failure(f"unexpected character {c!r} at offset {i}")
            tokens.append(("WORD", text[i:j]))
            i = j
    return tokens


class _Reader:
    def __init__(self, tokens, fields):
        self.tokens, self.pos, self.fields = tokens, 0, fields

    def peek(self, kind=None, text=None):
        if self.pos >= len(self.tokens):
            return False
        k, t = self.tokens[self.pos]
        return (kind is None or k == kind) and (text is None or t == text)

    def take(self, kind, text=None, what=None):
        if not self.peek(kind, text):
            got = self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")
            raise Failure(f"expected {what or text or kind}, found {got[1] or got[0]!r}")
        self.pos += 1
        return self.tokens[self.pos - 1][1]

    def field(self, name):
        if name not in self.fields:
            raise Failure(f"`{name}` is not a field the Splunk mapping gives this source")
        return name

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
        if self.peek("WORD"):
            name = self.take("WORD")
            if name not in WHERE_FUNCTIONS:
                raise Failure(f"`{name}` is not a function detc emits")
            self.take("(")
            self.where_argument()
            while self.peek(","):
                self.pos += 1
                self.where_argument()
            return self.take(")")
        self.field(self.take("FIELD", what="a field"))
        op = self.take("OP", what="a comparison")
        if op not in COMPARISONS:
            raise Failure(f"`{op}` is not a comparison")
        if self.peek("STR"):
            self.pos += 1
        else:
            number = self.take("WORD", what="a value")
            try:
                float(number)
            except ValueError:
                raise Failure(f"`{number}` is neither a string nor a number")

    def where_argument(self):
        if self.peek("FIELD"):
            self.field(self.take("FIELD"))
        else:
            self.take("STR", what="a string or field")

    def done(self):
        if self.pos != len(self.tokens):
            raise Failure(f"unexpected {self.tokens[self.pos][1]!r} after the command")


def spl_shape(query, splunk):
    """Check one SPL query; returns its token shape (strings blanked) for twin comparison."""
    if "`" in query:
        raise Failure("a raw backtick (Splunk macro syntax) in the query")
    if any(ord(c) < 32 for c in query):
        raise Failure("a raw control character in the query")
    bases = [b for b in splunk if query == b or query.startswith(b + " ")]
    if not bases:
        raise Failure("the query does not start with a base search of the Splunk mapping")
    base = max(bases, key=len)
    fields = splunk[base]
    tokens = spl_tokens(query[len(base):])
    if any(k in "[]" for k, _ in tokens):
        raise Failure("a subsearch bracket outside a string")
    commands, current = [], []
    for tok in tokens:
        if tok[0] == "|":
            commands.append(current)
            current = []
        else:
            current.append(tok)
    commands.append(current)
    # Terms right after a plain base search, then `| search` (after a piped base), then `| where`.
    names = ["search"] if commands[0] else []
    if commands[0] and "|" in base:
        raise Failure("terms were appended to a piped base search")
    if commands[0]:
        r = _Reader(commands[0], fields)
        r.search()
        r.done()
    for command in commands[1:]:
        r = _Reader(command, fields)
        name = r.take("WORD", what="a command")
        if name not in ("search", "where") or name in names or (name == "search" and "where" in names):
            raise Failure(f"unexpected command `{name}`")
        names.append(name)
        r.where() if name == "where" else r.search()
        r.done()
    return [(k, None if k == "STR" else t) for k, t in tokens]


def splunk_mapping(repo):
    """Base search -> the field names any source with that base search may use."""
    mapping = yaml.safe_load(open(os.path.join(repo, "targets", "splunk.yaml"), encoding="utf-8"))
    out = {}
    for m in mapping["sources"].values():
        out.setdefault(m["search"].strip(), set()).update(m["fields"].values())
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
        outcomes = engines.run(cases, compiled, args.repo, args.work, args.kql_python,
                               flip=args.expect_rejections)

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
