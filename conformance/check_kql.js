#!/usr/bin/env node
// KQL checker: Microsoft's Kusto.Language (npm @kusto/language-service-next) parses and
// analyzes every query against a database built from a schema file, so an unknown table,
// column or function, or an operator that does not fit a column's type, is an error.
//
//   node check_kql.js SCHEMA.json QUERIES.json > RESULTS.json
//
// SCHEMA: {"Table": {"Column": "type", ...}, ...}; QUERIES: [{"id": ..., "query": ...}];
// RESULTS: [{"id", "errors": [{"message", "code", "line", "column"}]}].
'use strict';
const fs = require('fs');
const path = require('path');

const pkg = path.join(__dirname, '.deps', 'node', 'node_modules', '@kusto', 'language-service-next');
require(path.join(pkg, 'bridge.js')); // defines the global Bridge runtime
require(path.join(pkg, 'Kusto.Language.Bridge.js')); // defines the global Kusto
const K = global.Kusto.Language;
const S = K.Symbols;

function toArray(list) {
  if (!list) return [];
  if (Array.isArray(list)) return list;
  const out = [];
  for (let i = 0; i < list.Count; i++) out.push(list.getItem(i));
  return out;
}

function globals(schema) {
  const tables = Object.entries(schema).map(([name, columns]) => {
    const cols = Object.entries(columns).map(([column, type]) => {
      const symbol = S.ScalarTypes.GetSymbol(type);
      if (!symbol) throw new Error(`unknown Kusto type '${type}' for ${name}.${column}`);
      return new S.ColumnSymbol(column, symbol, null, null, null, null);
    });
    return new S.TableSymbol.$ctor4(name, cols);
  });
  // Sentinel's workspace function for a watchlist (a tunable list): its items with the
  // search key's value as the `SearchKey` column (MicrosoftDocs/azure-docs@04db918
  // articles/sentinel/watchlists-queries.md); the other columns are the CSV's own.
  const watchlist = new S.FunctionSymbol.$ctor16('_GetWatchlist', '(watchlistAlias: string)',
    '{ datatable(SearchKey: string)[] }', null);
  return K.GlobalState.Default.WithDatabase(
    new S.DatabaseSymbol.ctor('sentinel', tables.concat([watchlist])));
}

function lineCol(text, offset) {
  const before = text.slice(0, offset);
  return [before.split('\n').length, offset - (before.lastIndexOf('\n') + 1) + 1];
}

const [schemaFile, queriesFile] = process.argv.slice(2);
const state = globals(JSON.parse(fs.readFileSync(schemaFile, 'utf8')));
const results = JSON.parse(fs.readFileSync(queriesFile, 'utf8')).map(({ id, query }) => {
  const code = K.KustoCode.ParseAndAnalyze(query, state);
  const errors = toArray(code.GetDiagnostics())
    .filter((d) => d.Severity === 'Error')
    .map((d) => {
      const [line, column] = d.HasLocation ? lineCol(query, d.Start) : [0, 0];
      return { message: d.Message, code: d.Code, line, column };
    });
  return { id, errors };
});
process.stdout.write(JSON.stringify(results));
