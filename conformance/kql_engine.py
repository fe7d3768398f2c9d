#!/usr/bin/env python3
"""Run KQL queries with DuckDB-KQL (PyPI `duckdb-kql`, layer 1: `duckdb_kql.kql(con, query)`),
each over its case's tables. Used by engines.py, never run by hand.

    kql_engine.py CASES.json RESULTS.json

CASES:   [{"id", "query", "tables": [{"table", "columns": [[name, duckdb_type], ...],
           "rows": [[value, ...], ...], "offsets": null | [ms, ...]}]}]
         With offsets (a correlation case), each row's TimeGenerated is now() - 0.5s + its
         offset (ms, <= 0, from the case's last event): the query's `ago()` windows then end
         just after the last event, as a scheduled run would.
RESULTS: [{"id", "rows": N} | {"id", "unsupported": construct, "message"} | {"id", "error": message}]

It runs in its own virtualenv (conformance/.deps/kql-venv, from requirements-kql.txt), apart
from check.py's: duckdb-kql 1.1.2 pins antlr4-python3-runtime 4.13.2 while esql-parser 9.1.3
pins 4.13.1, and an ANTLR parser run on the other runtime version warns on every parse.
"""
import datetime
import json
import sys

import duckdb_kql
from duckdb_kql import KqlUnsupportedError


def quote(name):
    return '"' + name.replace('"', '""') + '"'


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    # The suite runs without network: DuckDB must not try to download an extension it lacks.
    con = duckdb_kql.connect(config={"autoinstall_known_extensions": False})
    results = []
    con.execute("SET TimeZone = 'UTC'")
    created = set()
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
            for k, row in enumerate(t["rows"]):
                row = list(row)
                if t.get("offsets") is not None:
                    row[names.index("TimeGenerated")] = (
                        now - datetime.timedelta(milliseconds=500) + datetime.timedelta(milliseconds=t["offsets"][k]))
                con.execute(f"INSERT INTO {table} VALUES ({', '.join('?' for _ in names)})", row)
        try:
            rows = duckdb_kql.kql(con, case["query"]).fetchall()
            results.append({"id": case["id"], "rows": len(rows)})
        except KqlUnsupportedError as e:
            results.append({"id": case["id"], "unsupported": e.construct, "message": str(e)})
        except Exception as e:  # any other engine failure is reported, not fatal to the batch
            results.append({"id": case["id"], "error": f"{type(e).__name__}: {e}"})
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
