#!/usr/bin/env python3
"""The reference for bench/sigma.sh: what `sigma convert -t TARGET --without-pipeline -s`
does (sigma-cli 3.1.0 on pySigma 1.5.1), as one process over whole folders, except that a
rule the backend cannot convert is counted and skipped instead of ending the run (sigma-cli
stops at the first such rule for the kusto and esql backends, so its own run would not
cover the corpus).

    sigma_reference.py TARGET FOLDER...   (TARGET: splunk, kusto, eql, esql)

Prints the converted queries to stdout, and `converted N, refused M` to stderr.
"""
import sys
from pathlib import Path

from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError
from sigma.plugins import InstalledSigmaPlugins


def main():
    target, folders = sys.argv[1], sys.argv[2:]
    backend = InstalledSigmaPlugins.autodiscover().backends[target]()
    files = sorted(p for f in folders for p in Path(f).rglob("*.yml"))
    rules = SigmaCollection.load_ruleset(files, collect_errors=True)
    converted = refused = 0
    out = sys.stdout
    for rule in rules:
        try:
            for query in backend.convert_rule(rule):
                out.write(f"{query}\n")
            converted += 1
        except (SigmaError, NotImplementedError, ValueError, TypeError, KeyError) as e:
            refused += 1
    print(f"{target}: converted {converted}, refused {refused}", file=sys.stderr)


if __name__ == "__main__":
    main()
