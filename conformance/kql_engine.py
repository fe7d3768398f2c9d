#!/usr/bin/env python3
"""Run KQL queries with DuckDB-KQL (PyPI `duckdb-kql`, layer 1: `duckdb_kql.kql(con, query)`),
each over its case's tables. Used by engines.py, never run by hand.

    kql_engine.py CASES.json RESULTS.json

CASES:   [{"id", "query", "key": null | column, "tables": [{"table", "columns": [[name, duckdb_type], ...],
           "rows": [[value, ...], ...], "offsets": null | [ms, ...]}]}]
         With offsets (a correlation case), each row's TimeGenerated is now() - 0.5s + its
         offset (ms, <= 0, from the case's last event): the query's `ago()` windows then end
         just after the last event, as a scheduled run would.
         With a key (many single events in one table, one row each), the result lists the
         key column's value of every row the query returns.
RESULTS: [{"id", "rows": N} | {"id", "keys": [value, ...]} | {"id", "unsupported": construct, "message"}
          | {"id", "error": message}]

It runs in its own virtualenv (conformance/.deps/kql-venv, from requirements-kql.txt), apart
from check.py's: duckdb-kql 1.1.2 pins antlr4-python3-runtime 4.13.2 while esql-parser 9.1.3
pins 4.13.1, and an ANTLR parser run on the other runtime version warns on every parse.
"""
import datetime
import json
import sys

import duckdb_kql
from duckdb_kql import KqlUnsupportedError
from duckdb_kql.engine import schema as current_schema


def quote(name):
    return '"' + name.replace('"', '""') + '"'


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    # The suite runs without network: DuckDB must not try to download an extension it lacks.
    con = duckdb_kql.connect(config={"autoinstall_known_extensions": False})
    results = []
    con.execute("SET TimeZone = 'UTC'")
    created, translated = set(), {}
    for case in cases:
        for name in created:
            con.execute(f"DROP TABLE IF EXISTS {quote(name)}")
        created = set()
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        for t in case["tables"]:
            table = quote(t["table"])
            created.add(t["table"])
            con.execute(f"CREATE TABLE {table} ("
                        + ", ".join(f"{quote(name)} {kind}" for name, kind in t["columns"]) + ")")
            names = [name for name, _ in t["columns"]]
            rows = []
            for k, row in enumerate(t["rows"]):
                row = list(row)
                if t.get("offsets") is not None:
                    row[names.index("TimeGenerated")] = (
                        now - datetime.timedelta(milliseconds=500) + datetime.timedelta(milliseconds=t["offsets"][k]))
                rows.append(row)
            if rows:  # one statement: executemany is slow on wide tables
                one = "(" + ", ".join("?" for _ in names) + ")"
                con.execute(f"INSERT INTO {table} VALUES " + ", ".join(one for _ in rows),
                            [v for row in rows for v in row])
        try:
            # A query's translation depends only on its text and its tables' columns (its
            # `ago()` becomes SQL now(), read when it runs): the cases of one rule share it.
            key = (case["query"], json.dumps([[t["table"], t["columns"]] for t in case["tables"]]))
            if key not in translated:
                try:
                    result = duckdb_kql.to_sql(case["query"], schema=current_schema(con))
                    translated[key] = (str(result), result.parameters)
                except Exception as e:  # raised again for every case that uses the query
                    translated[key] = e
            if isinstance(translated[key], Exception):
                raise translated[key]
            sql, params = translated[key]
            relation = con.sql(sql, params=params) if params else con.sql(sql)
            rows = relation.fetchall()
            if case.get("key"):
                if case["key"] not in relation.columns:
                    raise ValueError(f"the query's result lacks the key column {case['key']}")
                k = relation.columns.index(case["key"])
                results.append({"id": case["id"], "keys": [r[k] for r in rows]})
            else:
                results.append({"id": case["id"], "rows": len(rows)})
        except KqlUnsupportedError as e:
            results.append({"id": case["id"], "unsupported": e.construct, "message": str(e)})
        except Exception as e:  # any other engine failure is reported, not fatal to the batch
            results.append({"id": case["id"], "error": f"{type(e).__name__}: {e}"})
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
