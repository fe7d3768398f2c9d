#!/usr/bin/env python3
"""Check the deployable packages that `detc package --out DIR` renders.

    packages.py --dist DIR [--compiled LIBRARY.json] [--expect-rejections]

Every file under DIR is checked (a file the layout does not name is itself a failure):

  splunk/<app>/**.conf, *.meta   a strict .conf reader (stanzas and keys unique, no key outside a
                                 stanza, no line without `=`, no whitespace after a `\\` line
                                 continuation); app.conf's [id]/[package]/[launcher] as AppInspect
                                 wants them; each savedsearches stanza has a `search` that ends with
                                 its `<stanza>_filter` macro, and every macro it names is in macros.conf
                                 (the app's other files are left to AppInspect)
  splunk/lookups/*.csv           the tunable lists' lookup files beside the app: the header
                                 `value,comment`, then one row a value, quoted with `"` doubled;
                                 every `| lookup` of a saved search names a transforms.conf
                                 definition of the app whose file is one of them
  splunk/<app>.tgz               Splunk AppInspect (all checks: `--mode precert`, no tag filter), no
                                 failure or error allowed, warnings counted; and it holds exactly
                                 the files of splunk/<app>/, regular files 644, directories 755
  sentinel/arm/*.json, detc.json ARM templates of Microsoft.SecurityInsights scheduled alert rules,
                                 with Sentinel's limits; detc.json holds every rule of arm/
  sentinel/yaml/*.yaml           the Azure-Sentinel repository's analytics-rule YAML
  sentinel/watchlists.json       an ARM template of Microsoft.SecurityInsights watchlists (the
                                 tunable lists), each with the REST API's required properties and
                                 CSV content under its search key; every _GetWatchlist() of a
                                 rule's query names one of them
  elastic/rules.ndjson           Kibana's detection-rule import: one rule per line
  elastic/lists.json             the tunable lists: Kibana value lists (keyword, the defaults) and
                                 exception lists with one item each, as the Lists and Exceptions
                                 APIs take them; every rule's exceptions_list names one of them
  elastic/toml/*.toml            elastic/detection-rules' TOML form

No JSON Schema for any of these can be had offline: Microsoft publishes the ARM template and
Microsoft.SecurityInsights schemas only at schema.management.azure.com (no PyPI or npm package
carries them; @azure/arm-securityinsight is an SDK, not a schema), and Elastic's rule schemas live
in Kibana's and detection-rules' repositories, neither published to PyPI or npm. So the checks
below are structural, written from those products' documentation.

EQL and ES|QL queries are parsed again with Elastic's parsers (check.py). With --compiled (the
`detc compile --format json` of the same rules) each packaged query must be the one detc compiled:
this catches quoting lost on the way into JSON, YAML, TOML or a .conf continuation.

With --expect-rejections (the self-test, on conformance/package_selftest) every file must be
rejected instead, and each message listed in that folder's expected.json must be reported.
Prints one line per file and closes with `N passed, M failed`; exit 1 on any failure.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import tomllib

import yaml

import check  # the EQL and ES|QL parsers

APPINSPECT = os.path.join(os.path.dirname(sys.executable), "splunk-appinspect")

problems = {}  # relative path -> [message]


def fail(path, message, line=None):
    problems.setdefault(path, []).append(f"line {line}: {message}" if line else message)


def line_of(text, key):
    """The first line that sets `key` (JSON "key":, YAML key:, TOML key =), for messages."""
    m = re.search(rf'^\s*"?{re.escape(key)}"?\s*[:=]', text, re.M)
    return text.count("\n", 0, m.start()) + 1 if m else None


# ---------------------------------------------------------------- Splunk

def read_conf(path, rel):
    """A strict .conf reader: {stanza: (line, {key: (line, value)})}. Splunk joins a line that
    ends in `\\` with the next, keeping the newline; it ignores stray lines, this does not."""
    stanzas, current = {}, None
    text = open(path, encoding="utf-8").read()
    if "\r" in text:
        fail(rel, "carriage returns: write LF line endings")
    lines = text.replace("\r", "").split("\n")
    i = 0
    while i < len(lines):
        n, line = i + 1, lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("["):
            if not line.rstrip().endswith("]"):
                fail(rel, f"broken stanza header {line!r}", n)
                current = None
                continue
            name = line.strip()[1:-1]
            if name in stanzas:
                fail(rel, f"duplicate stanza [{name}] (first at line {stanzas[name][0]})", n)
                current = {}  # checked, then dropped: the first one stands
                continue
            stanzas[name] = (n, {})
            current = stanzas[name][1]
            continue
        if "=" not in line:
            fail(rel, f"not a `key = value` line: {line!r}", n)
            continue
        key, value = line.split("=", 1)
        key, raw = key.strip(), line
        while True:
            if re.search(r"\\[ \t]+$", raw):
                fail(rel, "whitespace after a `\\` continuation: Splunk ends the value there", i)
            if not raw.endswith("\\") or i == len(lines):
                break
            value, raw = value[:-1] + "\n" + lines[i], lines[i]
            i += 1
        if current is None:
            fail(rel, f"`{key}` outside any stanza (a global default)", n)
        elif key in current:
            fail(rel, f"duplicate key `{key}` (first at line {current[key][0]})", n)
        else:
            current[key] = (n, value.strip())
    return stanzas


SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


def check_app_conf(conf, rel, app):
    def get(stanza, key):
        return conf.get(stanza, (0, {}))[1].get(key, (None, None))
    for stanza, key, want in (("id", "name", app), ("package", "id", app)):
        line, value = get(stanza, key)
        if value != want:
            fail(rel, f"[{stanza}] {key} must be the app folder's name {app!r}, not {value!r}", line)
    versions = [get("id", "version"), get("launcher", "version")]
    if versions[0][1] != versions[1][1] or not SEMVER.match(versions[0][1] or ""):
        fail(rel, "[id] version and [launcher] version must be one semver 2.0.0 version, not "
             f"{versions[0][1]!r} and {versions[1][1]!r}", versions[1][0] or versions[0][0])
    line, value = get("install", "is_configured")
    if value not in (None, "0", "false"):
        fail(rel, "[install] is_configured must be 0 (AppInspect: setup already performed)", line)


def check_meta(conf, rel):
    line, access = conf.get("", (0, {}))[1].get("access", (None, ""))
    m = re.search(r"write\s*:\s*\[([^\]]*)\]", access)
    roles = [r.strip() for r in m.group(1).split(",")] if m else []
    if not roles or "*" in roles:
        fail(rel, "the [] stanza's access must give write to named roles, not to everyone", line)
    elif "admin" in roles and "sc_admin" not in roles:
        fail(rel, "write roles name admin but not sc_admin (Splunk Cloud's admin role)", line)


def check_searches(searches, macros, rel, compiled):
    for name, (line, keys) in searches.items():
        search = keys.get("search", (line, None))[1]
        if search is None:
            fail(rel, f"[{name}] has no search", line)
            continue
        if not re.search(rf"\|\s*`{re.escape(name)}_filter`\s*$", search):
            fail(rel, f"[{name}] search does not end with | `{name}_filter`", keys["search"][0])
        for macro, args in re.findall(r"`([^`(]+)(\([^`]*\))?`", search):
            if macro not in macros and f"{macro}({len(args.split(',')) if args else 0})" not in macros:
                fail(rel, f"[{name}] uses macro `{macro}`, which macros.conf does not define", keys["search"][0])
        body = re.sub(r"\|\s*`[^`]*_filter`\s*$", "", search)
        # A source's base search is its `detc_<source>` macro in the app: expanded, as Splunk
        # does, the search must be the one detc compiled.
        body = re.sub(r"`(detc_[a-z0-9_]+)`",
                      lambda m: macros.get(m[1], (0, {}))[1].get("definition", (0, m[0]))[1], body)
        same_query(rel, name, "spl", body, compiled, keys["search"][0])
        for key in ("cron_schedule", "dispatch.earliest_time", "dispatch.latest_time"):
            if key not in keys:
                fail(rel, f"[{name}] has no {key}", line)


def check_tgz(path, rel, app_dir):
    """The archive is what gets deployed: the app folder, and nothing else, with sane modes."""
    folder = {}
    for root, _, files in os.walk(app_dir):
        for f in files:
            full = os.path.join(root, f)
            folder[os.path.relpath(full, os.path.dirname(app_dir))] = open(full, "rb").read()
    try:
        with tarfile.open(path, "r:gz") as tar:
            seen = {}
            for m in tar.getmembers():
                if m.name.startswith(("/", "./")) or ".." in m.name.split("/"):
                    fail(rel, f"member {m.name!r} is not a plain relative path")
                if m.isfile():
                    seen[m.name] = tar.extractfile(m).read()
                    if m.mode & 0o777 != 0o644:
                        fail(rel, f"{m.name} has mode {m.mode:o}, not 644")
                elif m.isdir():
                    if m.mode & 0o777 != 0o755:
                        fail(rel, f"{m.name}/ has mode {m.mode:o}, not 755")
                else:
                    fail(rel, f"{m.name} is neither a file nor a directory")
    except (tarfile.TarError, OSError, EOFError) as e:
        fail(rel, f"not a gzip-compressed tar: {e}")
        return
    for name in sorted(set(seen) | set(folder)):
        if seen.get(name) != folder.get(name):
            where = "only in the archive" if name not in folder else \
                "missing from the archive" if name not in seen else "differs from the folder"
            fail(rel, f"{name} {where}")


def appinspect(path, rel):
    """Splunk AppInspect over the package; returns its summary line."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "report.json")
        try:
            run = subprocess.run([APPINSPECT, "inspect", path, "--mode", "precert",
                                  "--skip-trusted-libraries-update", "--max-messages", "all",
                                  "--data-format", "json", "--output-file", out],
                                 capture_output=True, text=True)
            if not os.path.exists(out):
                raise OSError(f"exit {run.returncode}: {run.stderr.strip()[-500:]}")
        except OSError as e:
            fail(rel, f"AppInspect did not run: {e}")
            return ""
        report = json.load(open(out))
    for r in report["reports"]:
        for group in r["groups"]:
            for c in group["checks"]:
                if c["result"] in ("failure", "error"):
                    for m in c["messages"] or [{"message": ""}]:
                        fail(rel, f"AppInspect {c['result']} {c['name']}: {m['message']}")
    s = report["summary"]
    return ", ".join(f"{s[k]} {k}" for k in ("success", "warning", "failure", "error", "skipped"))


# ---------------------------------------------------------------- JSON, YAML, TOML

def strict_json(text):
    def pairs(items):
        obj = {}
        for k, v in items:
            if k in obj:
                raise ValueError(f"duplicate key {k!r}")
            obj[k] = v
        return obj

    def constant(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)


def load(path, rel):
    text = open(path, encoding="utf-8").read()
    try:
        if path.endswith(".json"):
            return text, strict_json(text)
        if path.endswith(".toml"):
            return text, tomllib.loads(text)
        return text, yaml.load(text, Loader=check.StrictLoader)
    except (ValueError, tomllib.TOMLDecodeError) as e:
        fail(rel, f"does not parse: {e}")
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        fail(rel, f"does not parse: {getattr(e, 'problem', e)}", mark and mark.line + 1)
    return text, None


def compiled_queries(path):
    """{(rule key or id, language): [queries]}, and {target: {rule keys}}."""
    out, rules = {}, {}
    for e in json.load(open(path, encoding="utf-8")):
        out.setdefault((e["rule"], e["language"]), []).append(e["query"])
        out.setdefault((e["id"], e["language"]), []).append(e["query"])
        rules.setdefault(e["target"], {})[e["rule"]] = e["id"]
    return out, rules


# Every packaged KQL query, for the Kusto.Language check (`--queries-out`): a single-event
# rule's package adds an `extend` to what `detc compile` gave.
packaged_kql = {}


def same_query(rel, rule, language, query, compiled, line=None):
    if language == "kql":
        packaged_kql[rule] = query
    if compiled is None:
        return
    want = compiled.get((rule, language))
    if want is None:
        fail(rel, f"{rule}: detc compiled no {language} query for this rule", line)
    else:
        got = " ".join(query.split())
        # A single-event KQL rule's package may add one `extend` naming its alert columns,
        # and the end of its range (the rule's delay before the run).
        ok = any(
            got == w or (language == "kql" and re.fullmatch(
                re.escape(w) + r"( \| extend [^|]*)?( \| where TimeGenerated <= ago\(\d+[smhd]\))?", got))
            for w in (" ".join(x.split()) for x in want)
        )
        if not ok:
            fail(rel, f"{rule}: the {language} query is not the one detc compiled", line)


# ---------------------------------------------------------------- Sentinel

SEVERITIES = {"High", "Medium", "Low", "Informational"}
TACTICS = {"Reconnaissance", "ResourceDevelopment", "InitialAccess", "Execution", "Persistence",
           "PrivilegeEscalation", "DefenseEvasion", "CredentialAccess", "Discovery",
           "LateralMovement", "Collection", "Exfiltration", "CommandAndControl", "Impact",
           "PreAttack", "ImpairProcessControl", "InhibitResponseFunction"}
ISO = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
SHORT = re.compile(r"^(\d+)([mhd])$")
MINUTE, DAY = 60, 86400


def seconds(value, short=False):
    """An ISO-8601 duration (ARM: PT5M, PT1H, P1D) or the repository's short form (5m, 1h, 14d)."""
    m = (SHORT if short else ISO).match(value if isinstance(value, str) else "")
    if not m or m.group(0) in ("P", "PT"):
        return None
    if short:
        return int(m.group(1)) * {"m": MINUTE, "h": 3600, "d": DAY}[m.group(2)]
    d, h, mi, s = (int(g or 0) for g in m.groups())
    return d * DAY + h * 3600 + mi * MINUTE + s


def sentinel_limits(rel, r, where, short, label=""):
    """What Sentinel enforces on a scheduled rule, in either form (ARM properties or repo YAML)."""
    def bad(key, message):
        fail(rel, label + message, where(key))
    query = r.get("query")
    if not isinstance(query, str) or not query.strip():
        bad("query", "query missing or empty")
    elif len(query) > 10_000:
        bad("query", f"query is {len(query)} characters, Sentinel allows 10,000")
    name_key = "name" if short else "displayName"
    if not isinstance(r.get(name_key), str) or not 0 < len(r[name_key]) <= 256:
        bad(name_key, f"{name_key} must be 1-256 characters")
    if not isinstance(r.get("description"), str) or len(r["description"]) > 5000:
        bad("description", "description must be a string of at most 5000 characters")
    if r.get("severity") not in SEVERITIES:
        bad("severity", f"severity {r.get('severity')!r} is not one of {sorted(SEVERITIES)}")
    freq, period = (seconds(r.get(k), short) for k in ("queryFrequency", "queryPeriod"))
    for key, value in (("queryFrequency", freq), ("queryPeriod", period)):
        if value is None:
            form = "like 5m, 1h, 14d" if short else "an ISO-8601 duration like PT5M, PT1H, P1D"
            bad(key, f"{key} {r.get(key)!r} is not {form}")
        elif not 5 * MINUTE <= value <= 14 * DAY:
            bad(key, f"{key} {r.get(key)!r} is outside 5 minutes to 14 days")
    if freq and period and period < freq:
        bad("queryPeriod", "queryPeriod is shorter than queryFrequency: events would be missed")
    # Azure-Sentinel's FrequencyLimitationForLongPeriodQuery (ScheduledTemplateInternalModel.cs@749f8bfe).
    if freq and period and period >= 2 * DAY and freq < 3600:
        bad("queryFrequency", "queryPeriod is 2 days or more, so queryFrequency must be at least 1 hour")
    operators = {"gt", "lt", "eq", "ne"} if short else {"GreaterThan", "LessThan", "Equal", "NotEqual"}
    if r.get("triggerOperator") not in operators:
        bad("triggerOperator", f"triggerOperator {r.get('triggerOperator')!r} is not one of {sorted(operators)}")
    t = r.get("triggerThreshold")
    if not isinstance(t, int) or isinstance(t, bool) or not 0 <= t <= 10_000:
        bad("triggerThreshold", f"triggerThreshold {t!r} is not an integer 0-10000")
    tactics = r.get("tactics")
    if not isinstance(tactics, list) or not tactics or not set(map(str, tactics)) <= TACTICS:
        bad("tactics", f"tactics {tactics!r} must be a non-empty list of Sentinel tactic names")
    tech_key = "relevantTechniques" if short else "techniques"
    techniques = r.get(tech_key)
    pattern = r"T\d{4}(\.\d{3})?" if short else r"T\d{4}"  # ARM: sub-techniques go in subTechniques
    if not isinstance(techniques, list) or not all(isinstance(t, str) and re.fullmatch(pattern, t)
                                                   for t in techniques):
        bad(tech_key, f"{tech_key} {techniques!r} must be a list of ATT&CK ids like T1219")
    mappings = r.get("entityMappings")
    if not isinstance(mappings, list) or not 1 <= len(mappings) <= 5:
        bad("entityMappings", "entityMappings must hold 1 to 5 entity mappings")
        return
    for i, m in enumerate(mappings):
        fields = m.get("fieldMappings") if isinstance(m, dict) else None
        if not (isinstance(m.get("entityType") if fields else None, str) and isinstance(fields, list)
                and 1 <= len(fields) <= 3
                and all(isinstance(f, dict) and set(f) == {"identifier", "columnName"} for f in fields)):
            bad("entityMappings", f"entityMappings[{i}] must be an entityType with 1 to 3 "
                "{identifier, columnName} field mappings")


ARM_SCHEMAS = {"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
               "https://schema.management.azure.com/schemas/2015-01-01/deploymentTemplate.json#"}
ALERT_RULE = "Microsoft.OperationalInsights/workspaces/providers/alertRules"


WATCHLIST = "Microsoft.OperationalInsights/workspaces/providers/Watchlists"


def check_watchlists(path, rel):
    """The tunable lists' watchlists: properties the Watchlists REST API requires
    (displayName, itemsSearchKey, provider, source: learn.microsoft.com/rest/api/
    securityinsights/watchlists/create-or-update), CSV content whose header names the search
    key, one resource per alias. Returns the aliases."""
    text, t = load(path, rel)
    if t is None:
        return set()
    if t.get("$schema") not in ARM_SCHEMAS:
        fail(rel, f"$schema {t.get('$schema')!r} is not a deploymentTemplate schema", line_of(text, "$schema"))
    aliases = set()
    for i, res in enumerate(t.get("resources") if isinstance(t.get("resources"), list) else []):
        label = f"resources[{i}]: "
        m = re.fullmatch(r"\[concat\(parameters\('workspace'\), '/Microsoft\.SecurityInsights/', '([a-z][a-z0-9_]*)'\)\]",
                         str(res.get("name")))
        if res.get("type") != WATCHLIST or not m:
            fail(rel, f"{label}must be a {WATCHLIST} named by its alias")
            continue
        if m.group(1) in aliases:
            fail(rel, f"{label}the alias {m.group(1)} twice")
        aliases.add(m.group(1))
        p = res.get("properties", {})
        for key in ("displayName", "itemsSearchKey", "provider", "source"):
            if not isinstance(p.get(key), str) or not p[key]:
                fail(rel, f"{label}properties.{key} is required")
        if p.get("contentType") != "text/csv" or p.get("numberOfLinesToSkip") != 0:
            fail(rel, f"{label}contentType must be text/csv with no lines skipped")
        lines = str(p.get("rawContent", "")).split("\n")
        if lines[0] != p.get("itemsSearchKey") or len(lines) < 2:
            fail(rel, f"{label}rawContent must be a header naming the search key, then the values")
    return aliases


def check_kibana_lists(path, rel):
    """The tunable lists as Kibana value lists and exception lists: the bodies of POST
    /api/lists (id, name, description, type: operation-createlist), POST /api/exception_lists
    (list_id, name, description, type, namespace_type: operation-createexceptionlist) and POST
    /api/exception_lists/items (a `simple` item whose entries are `list` entries on a keyword
    value list of the file: operation-createexceptionlistitem), each id once. Returns the
    exception lists' list_ids."""
    text, t = load(path, rel)
    if t is None:
        return set()
    nonempty = lambda v: isinstance(v, str) and v.strip() != ""
    values, lists = set(), set()
    for i, v in enumerate(t.get("value_lists", [])):
        label, body = f"value_lists[{i}]: ", v.get("list", {})
        if not all(nonempty(body.get(k)) for k in ("id", "name", "description")) or body.get("type") != "keyword":
            fail(rel, f"{label}needs id, name, description and type keyword", line_of(text, str(body.get("id"))))
        if body.get("id") in values:
            fail(rel, f"{label}the value list {body.get('id')} twice")
        values.add(body.get("id"))
        if not all(nonempty(x) for x in v.get("values", [])):
            fail(rel, f"{label}every value must hold more than whitespace (format nonempty)")
    for i, e in enumerate(t.get("exception_lists", [])):
        label, body, item = f"exception_lists[{i}]: ", e.get("list", {}), e.get("item", {})
        if not all(nonempty(body.get(k)) for k in ("list_id", "name", "description")) \
                or body.get("type") != "detection" or body.get("namespace_type") != "single":
            fail(rel, f"{label}needs list_id, name, description, type detection, namespace_type single")
        if body.get("list_id") in lists:
            fail(rel, f"{label}the exception list {body.get('list_id')} twice")
        lists.add(body.get("list_id"))
        if item.get("list_id") != body.get("list_id") or item.get("type") != "simple" \
                or not all(nonempty(item.get(k)) for k in ("item_id", "name")) or "description" not in item:
            fail(rel, f"{label}its item needs its list's list_id, item_id, name, description and type simple")
        entries = item.get("entries") if isinstance(item.get("entries"), list) else []
        for entry in entries or [{}]:
            ok = entry.get("type") == "list" and entry.get("operator") == "included" and nonempty(entry.get("field")) \
                and entry.get("list", {}).get("type") == "keyword"
            if not ok or entry.get("list", {}).get("id") not in values:
                fail(rel, f"{label}each entry must be a field `included` in a keyword value list of the file")
    return lists


def rule_exception_lists(path):
    """The list_id of each rule's exceptions_list entries in rules.ndjson."""
    out = set()
    for line in open(path, encoding="utf-8").read().splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if isinstance(r, dict) and isinstance(r.get("exceptions_list"), list):
            out.update(e.get("list_id") for e in r["exceptions_list"] if isinstance(e, dict))
    return out


def check_arm(path, rel, compiled):
    text, t = load(path, rel)
    if t is None:
        return []
    if t.get("$schema") not in ARM_SCHEMAS:
        fail(rel, f"$schema {t.get('$schema')!r} is not a deploymentTemplate schema", line_of(text, "$schema"))
    if not re.fullmatch(r"\d+(\.\d+){3}", str(t.get("contentVersion"))):
        fail(rel, "contentVersion must look like 1.0.0.0", line_of(text, "contentVersion"))
    resources = t.get("resources")
    if not isinstance(resources, list) or not resources:
        fail(rel, "resources must be a non-empty list", line_of(text, "resources"))
        return []
    rule = os.path.splitext(os.path.basename(path))[0]
    # Lines are only told where one resource makes them unambiguous.
    where = (lambda key: line_of(text, key)) if len(resources) == 1 else (lambda key: None)
    for i, res in enumerate(resources):
        label = f"resources[{i}]: "
        if not isinstance(res, dict) or res.get("type") != ALERT_RULE or res.get("kind") != "Scheduled":
            fail(rel, f"{label}must be a {ALERT_RULE} of kind Scheduled")
            continue
        for key in ("name", "apiVersion", "properties"):
            if key not in res:
                fail(rel, f"{label}no {key}")
        p = res.get("properties", {})
        for key in ("displayName", "query", "queryFrequency", "queryPeriod", "severity", "triggerOperator",
                    "triggerThreshold", "enabled", "suppressionDuration", "suppressionEnabled",
                    "tactics", "techniques"):
            if key not in p:
                fail(rel, f"{label}properties has no {key}")
        for key in ("enabled", "suppressionEnabled"):
            if key in p and not isinstance(p[key], bool):
                fail(rel, f"{label}properties.{key} must be true or false", where(key))
        if "suppressionDuration" in p and not (seconds(p["suppressionDuration"]) or 0) >= 5 * MINUTE:
            fail(rel, f"{label}suppressionDuration {p['suppressionDuration']!r} is not an ISO-8601 duration "
                 "of at least 5 minutes", where("suppressionDuration"))
        sentinel_limits(rel, p, where, short=False, label=label)
        if rel.startswith("sentinel/arm/") and isinstance(p.get("query"), str):
            same_query(rel, rule, "kql", p["query"], compiled, line_of(text, "query"))
    return resources


def azure_sentinel_template(rel, text, r):
    """What the Azure-Sentinel repository's template validation adds (.script/tests/
    detectionTemplateSchemaValidation and .script/tests/NonAsciiValidationsTests)."""
    # NonAsciiValidationsTests.cs@f83072b0: templates are ASCII only.
    for n, line in enumerate(text.splitlines(), 1):
        if not line.isascii():
            fail(rel, "a non-ASCII character (the repository's templates are ASCII only)", n)
            break
    # QueryBasedTemplateInternalModel.cs@95b48aae: version X.Y.Z of at most 20 characters;
    # customDetails: at most 20, keys `^[a-zA-Z]+\w*$` of at most 20 characters, values
    # (columns) `^[a-zA-Z_]+\w*$` of at most 500.
    if len(str(r.get("version"))) > 20:
        fail(rel, "version is longer than 20 characters", line_of(text, "version"))
    details = r.get("customDetails") or {}
    if not isinstance(details, dict) or len(details) > 20 or not all(
            re.fullmatch(r"[a-zA-Z]\w*", str(k)) and len(str(k)) <= 20
            and re.fullmatch(r"[a-zA-Z_]\w*", str(v)) and len(str(v)) <= 500 for k, v in details.items()):
        fail(rel, "customDetails must be at most 20 keys like SourceIp (<= 20 chars) naming plain columns",
             line_of(text, "customDetails"))
    # ValidEntityMappingsAttribute.cs@51be4ea9: a mapped column is a plain column name.
    for m in r.get("entityMappings") or []:
        for f in (m.get("fieldMappings") or []) if isinstance(m, dict) else []:
            column = str(f.get("columnName")) if isinstance(f, dict) else ""
            if not re.fullmatch(r"[a-zA-Z_]\w*", column) or len(column) > 500:
                fail(rel, f"entity column {f.get('columnName')!r} is not a plain column name",
                     line_of(text, "entityMappings"))


def check_sentinel_yaml(path, rel, compiled):
    text, r = load(path, rel)
    if not isinstance(r, dict):
        if r is not None:
            fail(rel, "is not a YAML mapping")
        return
    for key in ("id", "name", "description", "severity", "requiredDataConnectors", "queryFrequency",
                "queryPeriod", "triggerOperator", "triggerThreshold", "tactics", "relevantTechniques",
                "query", "entityMappings", "version", "kind"):
        if key not in r:
            fail(rel, f"no `{key}`")
    if not re.fullmatch(r"[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}", str(r.get("id")).lower()):
        fail(rel, f"id {r.get('id')!r} is not a GUID", line_of(text, "id"))
    if not SEMVER.match(str(r.get("version"))):
        fail(rel, f"version {r.get('version')!r} is not like 1.0.0", line_of(text, "version"))
    if r.get("kind") != "Scheduled":
        fail(rel, f"kind {r.get('kind')!r} is not Scheduled", line_of(text, "kind"))
    connectors = r.get("requiredDataConnectors")
    if not isinstance(connectors, list) or not all(
            isinstance(c, dict) and isinstance(c.get("connectorId"), str) and isinstance(c.get("dataTypes"), list)
            for c in connectors):
        fail(rel, "requiredDataConnectors must be a list of {connectorId, dataTypes}",
             line_of(text, "requiredDataConnectors"))
    sentinel_limits(rel, r, lambda key: line_of(text, key), short=True)
    azure_sentinel_template(rel, text, r)
    if isinstance(r.get("query"), str):
        same_query(rel, os.path.splitext(os.path.basename(path))[0], "kql", r["query"], compiled,
                   line_of(text, "query"))


# ---------------------------------------------------------------- Elastic

ELASTIC_SEVERITIES = {"low", "medium", "high", "critical"}
LANGUAGES = {"eql": {"eql"}, "esql": {"esql"}, "query": {"kuery", "lucene"},
             "threshold": {"kuery", "lucene"}, "new_terms": {"kuery", "lucene"}}


def check_elastic_rule(rel, r, where, compiled, rule):
    for key in ("rule_id", "name", "description", "risk_score", "severity", "type", "query", "language"):
        if key not in r:
            fail(rel, f"no `{key}`", where(key))
    score = r.get("risk_score")
    if not isinstance(score, int) or isinstance(score, bool) or not 0 <= score <= 100:
        fail(rel, f"risk_score {score!r} is not an integer 0-100", where("risk_score"))
    if r.get("severity") not in ELASTIC_SEVERITIES:
        fail(rel, f"severity {r.get('severity')!r} is not one of {sorted(ELASTIC_SEVERITIES)}", where("severity"))
    kind, language = r.get("type"), r.get("language")
    if kind not in LANGUAGES:
        fail(rel, f"type {kind!r} is not one of {sorted(LANGUAGES)}", where("type"))
    elif language not in LANGUAGES[kind]:
        fail(rel, f"language {language!r} does not go with type {kind}", where("language"))
    if kind != "esql" and not (isinstance(r.get("index"), list) and r["index"]):
        fail(rel, "index must be a non-empty list (every type but esql)", where("index"))
    if kind == "new_terms":
        fields = r.get("new_terms_fields")
        if not isinstance(fields, list) or not 1 <= len(fields) <= 3:
            fail(rel, "new_terms_fields must list 1 to 3 fields", where("new_terms_fields"))
        if not re.fullmatch(r"now-\d+[smhd]", str(r.get("history_window_start"))):
            fail(rel, f"history_window_start {r.get('history_window_start')!r} is not like now-7d",
                 where("history_window_start"))
    if kind == "threshold" and not isinstance(r.get("threshold"), dict):
        fail(rel, "threshold rule without a threshold object", where("threshold"))
    query = r.get("query")
    if isinstance(query, str) and language in ("eql", "esql"):
        try:
            (check.check_eql if language == "eql" else check.check_esql)(query)
        except check.Failure as e:
            fail(rel, f"{language} query does not parse: {e}", where("query"))
        same_query(rel, rule, language, query, compiled, where("query"))
    elastic_conventions(rel, r, where)
    for threat in r.get("threat", []):
        tactic = threat.get("tactic", {}) if isinstance(threat, dict) else {}
        if threat.get("framework") != "MITRE ATT&CK" or not re.fullmatch(r"TA\d{4}", str(tactic.get("id"))) \
                or not tactic.get("name") or not str(tactic.get("reference", "")).startswith("https://attack.mitre.org/"):
            fail(rel, f"threat entry {threat!r} needs framework MITRE ATT&CK and a tactic {{id, name, reference}}",
                 where("threat"))
        for t in threat.get("technique", []):
            if not re.fullmatch(r"T\d{4}", str(t.get("id"))) or not t.get("name") or not t.get("reference"):
                fail(rel, f"technique {t!r} needs id (T1234), name and reference", where("technique"))


# elastic/detection-rules@14cf530f0d2177023092449cd9d9348b4a8884c2 refuses, in its loader and
# unit tests, what these checks refuse (each cites the vendor's code it stands for).
# detection_rules/schemas/definitions.py: the prefixes a tag may start with.
TAG_PREFIXES = ("Data Source: ", "Domain: ", "Mitre Atlas: ", "OS: ", "Platform: ", "Profile: ",
                "Promotion: ", "Resources: ", "Rule Type: ", "Service: ", "Tactic: ", "Threat: ",
                "Use Case: ", "Vuln: ")


def elastic_conventions(rel, r, where):
    tags = r.get("tags", [])
    # tests/test_all_rules.py (tags): every tag has an allowed prefix, none twice.
    for tag in tags:
        if not str(tag).startswith(TAG_PREFIXES):
            fail(rel, f"tag {tag!r} has none of detection-rules' prefixes (Tactic: , Use Case: , ...)", where("tags"))
    if len(set(map(str, tags))) != len(tags):
        fail(rel, "a tag is listed twice", where("tags"))
    # tests/test_all_rules.py (primary tactic): the first threat entry's tactic is a tag.
    threats = r.get("threat") or []
    if threats and isinstance(threats[0], dict):
        name = threats[0].get("tactic", {}).get("name")
        if f"Tactic: {name}" not in tags:
            fail(rel, f"no `Tactic: {name}` tag for the primary tactic", where("tags"))
    # tests/test_all_rules.py (timestamp_override): every non-sequence EQL rule reads
    # event.ingested; ES|QL rules and EQL sequences do not take it.
    kind, query = r.get("type"), str(r.get("query", ""))
    sequence = kind == "eql" and query.lstrip().startswith("sequence")
    if kind == "eql" and not sequence and r.get("timestamp_override") != "event.ingested":
        fail(rel, "a non-sequence EQL rule needs timestamp_override = event.ingested", where("type"))
    if (kind == "esql" or sequence) and "timestamp_override" in r:
        fail(rel, "timestamp_override on an ES|QL rule or an EQL sequence", where("timestamp_override"))
    # detection_rules/rule.py (ES|QL validation): an ES|QL query ends with KEEP, and
    # an ES|QL rule names no index (the query's FROM does).
    if kind == "esql":
        if not re.search(r"\|\s*KEEP\b", query, re.I):
            fail(rel, "the ES|QL query has no KEEP command", where("query"))
        # The same check: a non-aggregating query reads `_id`, `_version` and `_index`
        # (FROM ... METADATA), which Kibana's alert deduplication needs.
        if not re.search(r"\bSTATS\b.*?\bBY\b", query, re.I | re.S) and not re.search(
                r"FROM\s+(?:\S+\s*,\s*)*\S+\s+METADATA\s+(?:_id|_version|_index)"
                r"(?:,\s*(?:_id|_version|_index)){2}", query, re.I):
            fail(rel, "a non-aggregating ES|QL query without METADATA _id, _version, _index",
                 where("query"))
        if r.get("index"):
            fail(rel, "an ES|QL rule with an index", where("index"))
    if not re.fullmatch(r"now(-\d+[smhd])?", str(r.get("to", "now"))):
        fail(rel, f"to {r.get('to')!r} is not like now or now-10m", where("to"))


def check_integrations(rel, meta, rule, text):
    """tests/test_all_rules.py (integrations): each [metadata] integration has a data stream
    of its package among the rule's indexes (`logs-<package>.`); ES|QL rules name theirs in
    FROM."""
    indexes = rule.get("index") or re.findall(r"FROM\s+([^\s|]+)", str(rule.get("query", "")))
    for package in meta.get("integration", []):
        if not any(str(i).startswith(f"logs-{package}.") for i in indexes):
            fail(rel, f"integration {package!r} has no logs-{package}.* index", line_of(text, "integration"))


def check_ndjson(path, rel, compiled):
    seen = {}
    for n, line in enumerate(open(path, encoding="utf-8").read().splitlines(), 1):
        try:
            r = strict_json(line)
        except ValueError as e:
            fail(rel, f"not a JSON object: {e}", n)
            continue
        if not isinstance(r, dict):
            fail(rel, "not a JSON object", n)
            continue
        rid = r.get("rule_id")
        if rid in seen:
            fail(rel, f"rule_id {rid!r} also on line {seen[rid]}", n)
        seen[rid] = n
        if not re.fullmatch(r"\d+[smhd]", str(r.get("interval"))):
            fail(rel, f"interval {r.get('interval')!r} is not like 5m", n)
        if not re.fullmatch(r"now-\d+[smhd]", str(r.get("from"))):
            fail(rel, f"from {r.get('from')!r} is not like now-6m", n)
        check_elastic_rule(rel, r, lambda key, n=n: n, compiled, rid)
    if not seen:
        fail(rel, "holds no rule")
    return set(seen)


def check_toml(path, rel, compiled):
    text, doc = load(path, rel)
    if doc is None:
        return
    meta, rule = doc.get("metadata"), doc.get("rule")
    if not isinstance(meta, dict) or not isinstance(rule, dict):
        fail(rel, "needs a [metadata] and a [rule] table")
        return
    for key in ("creation_date", "updated_date"):
        if not re.fullmatch(r"\d{4}/\d{2}/\d{2}", str(meta.get(key))):
            fail(rel, f"metadata.{key} {meta.get(key)!r} is not like 2026/11/26", line_of(text, key))
    if meta.get("maturity") not in ("development", "experimental", "beta", "production", "deprecated"):
        fail(rel, f"metadata.maturity {meta.get('maturity')!r} is not a detection-rules maturity",
             line_of(text, "maturity"))
    if not isinstance(rule.get("author"), list) or not rule["author"]:
        fail(rel, "rule.author must be a non-empty list", line_of(text, "author"))
    if not re.fullmatch(r"[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}", str(rule.get("rule_id"))):
        fail(rel, f"rule.rule_id {rule.get('rule_id')!r} is not a UUID (detection-rules wants one)",
             line_of(text, "rule_id"))
    check_elastic_rule(rel, rule, lambda key: line_of(text, key), compiled,
                       os.path.splitext(os.path.basename(path))[0])
    check_integrations(rel, meta, rule, text)


def check_lookups(searches, transforms, rel, files):
    """Each `| lookup T` of a search names a CSV lookup definition of the app (a
    transforms.conf stanza with `filename`, docs.splunk.com/Documentation/Splunk/9.0.5/Knowledge/
    ConfigureCSVlookups) whose file the package ships beside the app."""
    for name, (line, keys) in searches.items():
        search = keys.get("search", (line, ""))[1]
        for table in re.findall(r"\|\s*lookup\s+(\S+)", search):
            stanza = transforms.get(table)
            if stanza is None:
                fail(rel, f"[{name}] looks up {table}, which transforms.conf does not define", line)
                continue
            filename = stanza[1].get("filename", (stanza[0], None))[1]
            if filename not in files:
                fail(rel, f"[{name}] looks up {table}, whose file {filename} is not in splunk/lookups/", line)
            sensitive = stanza[1].get("case_sensitive_match", (stanza[0], None))[1]
            if sensitive not in ("true", "false"):
                fail(rel, f"[{name}] looks up {table}, whose case_sensitive_match is not true or false", line)


def check_lookup_csv(file, rel):
    """A tunable list's lookup file as detc writes it; returns its number of values."""
    lines = open(file, encoding="utf-8", newline="").read().split("\n")
    if lines[0] != "value,comment":
        fail(rel, "the header must be `value,comment` (a CSV lookup has at least two columns)", 1)
    if lines[-1] != "":
        fail(rel, "the last row must end with a line break", len(lines))
    rows = lines[1:-1] if lines[-1] == "" else lines[1:]
    for n, row in enumerate(rows, 2):
        if not re.fullmatch(r'"(?:[^"\r]|"")*",detc default', row):
            fail(rel, 'not a row `"<value with "" for ">",detc default`', n)
    return len(rows)


# ---------------------------------------------------------------- the layout

def check_dist(dist, compiled, rules, ignore=()):
    """Check every file under dist but `ignore`; returns [(relative path, note)] in order."""
    files = sorted(rel for rel in (os.path.relpath(os.path.join(r, f), dist) for r, _, fs in os.walk(dist)
                                   for f in fs) if rel not in ignore)
    notes, stanzas = {}, set()
    path = lambda rel: os.path.join(dist, rel)  # noqa: E731
    lookup_files = {f.split("/")[-1] for f in files if re.fullmatch(r"splunk/lookups/[^/]+\.csv", f)}
    for app in sorted({f.split("/")[1] for f in files
                       if re.match(r"splunk/[^/]+/", f) and not f.startswith("splunk/lookups/")}):
        confs = {f: read_conf(path(f), f) for f in files if f.startswith(f"splunk/{app}/")
                 and f.endswith((".conf", ".meta"))}
        get = lambda name: confs.get(f"splunk/{app}/{name}", {})  # noqa: E731
        for need in ("default/app.conf", "default/savedsearches.conf", "default/macros.conf", "metadata/default.meta"):
            if f"splunk/{app}/{need}" not in confs:
                fail(f"splunk/{app}/{need}", "missing")
                files.append(f"splunk/{app}/{need}")
        check_app_conf(get("default/app.conf"), f"splunk/{app}/default/app.conf", app)
        check_meta(get("metadata/default.meta"), f"splunk/{app}/metadata/default.meta")
        check_searches(get("default/savedsearches.conf"), get("default/macros.conf"),
                       f"splunk/{app}/default/savedsearches.conf", compiled)
        check_lookups(get("default/savedsearches.conf"), get("default/transforms.conf"),
                      f"splunk/{app}/default/savedsearches.conf", lookup_files)
        stanzas |= set(get("default/savedsearches.conf"))
        for f in confs:
            notes[f] = f"stanzas: {len(confs[f])}"
    arm, rule_ids, watchlists, exception_lists = {}, set(), set(), set()
    for rel in files:
        if re.fullmatch(r"splunk/lookups/[^/]+\.csv", rel):
            notes[rel] = f"values: {check_lookup_csv(path(rel), rel)}"
        elif re.fullmatch(r"splunk/[^/]+/.+", rel):
            continue
        elif re.fullmatch(r"splunk/[^/]+\.tgz", rel):
            check_tgz(path(rel), rel, path(rel)[:-4])
            notes[rel] = "AppInspect: " + appinspect(path(rel), rel)
        elif re.fullmatch(r"sentinel/(arm/[^/]+|detc)\.json", rel):
            arm[rel] = check_arm(path(rel), rel, compiled)
        elif re.fullmatch(r"sentinel/yaml/[^/]+\.yaml", rel):
            check_sentinel_yaml(path(rel), rel, compiled)
        elif rel == "sentinel/watchlists.json":
            watchlists = check_watchlists(path(rel), rel)
        elif rel == "elastic/rules.ndjson":
            rule_ids = check_ndjson(path(rel), rel, compiled)
        elif rel == "elastic/lists.json":
            exception_lists = check_kibana_lists(path(rel), rel)
        elif re.fullmatch(r"elastic/toml/[^/]+\.toml", rel):
            check_toml(path(rel), rel, compiled)
        else:
            fail(rel, "not a file of the package layout")
    if "sentinel/detc.json" in arm:
        combined = [json.dumps(r, sort_keys=True) for r in arm.pop("sentinel/detc.json")]
        single = [json.dumps(r, sort_keys=True) for rs in arm.values() for r in rs]
        if sorted(combined) != sorted(single):
            fail("sentinel/detc.json", f"its {len(combined)} resources are not exactly those of "
                 f"sentinel/arm/*.json ({len(single)})")
    for rel, resources in arm.items():
        for r in resources:
            for alias in re.findall(r'_GetWatchlist\("([^"]*)"\)', str(r.get("properties", {}).get("query", ""))):
                if alias not in watchlists:
                    fail(rel, f"its query reads the watchlist {alias}, which sentinel/watchlists.json lacks")
    if "elastic/rules.ndjson" in files:
        for list_id in sorted(rule_exception_lists(path("elastic/rules.ndjson")) - exception_lists):
            fail("elastic/rules.ndjson", f"a rule's exceptions_list names {list_id}, which elastic/lists.json lacks")
    for need in ("sentinel/detc.json", "sentinel/watchlists.json", "elastic/rules.ndjson", "elastic/lists.json"):
        if need not in files:
            fail(need, "missing")
    if not any(re.fullmatch(r"splunk/[^/]+\.tgz", f) for f in files):
        fail("splunk/<app>.tgz", "missing")
    if rules is not None:  # every rule detc compiled is packaged for its target
        for rule in sorted(rules.get("splunk", {})):
            if rule not in stanzas:
                fail("splunk/<app>/default/savedsearches.conf", f"no stanza for {rule}")
        for rule in sorted(rules.get("sentinel", {})):
            for f in (f"sentinel/arm/{rule}.json", f"sentinel/yaml/{rule}.yaml"):
                if f not in files:
                    fail(f, "missing: detc compiled this rule for Sentinel")
        for rule, rid in sorted(rules.get("elastic", {}).items()):
            if f"elastic/toml/{rule}.toml" not in files:
                fail(f"elastic/toml/{rule}.toml", "missing: detc compiled this rule for Elastic")
            if rid not in rule_ids and rule not in rule_ids:
                fail("elastic/rules.ndjson", f"no rule with rule_id {rid} or {rule}")
    return [(f, notes.get(f, "")) for f in files]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dist", required=True, help="what `detc package --out DIR` wrote")
    ap.add_argument("--compiled", metavar="FILE", help="`detc compile --format json` of the same rules")
    ap.add_argument("--expect-rejections", action="store_true",
                    help="self-test: every file must be rejected, with the messages in DIR/expected.json")
    ap.add_argument("--queries-out", metavar="FILE",
                    help="write every packaged KQL query as `detc compile --format json` does, for check.py")
    args = ap.parse_args()
    if args.expect_rejections and not args.compiled:
        ap.error("the self-test needs --compiled (it has a rule whose query lost its quotes)")
    compiled, rules = compiled_queries(args.compiled) if args.compiled else (None, None)
    if args.expect_rejections:
        checked = check_dist(args.dist, compiled, None, ignore={"expected.json"})
    else:
        checked = check_dist(args.dist, compiled, rules)
    if args.queries_out:
        with open(args.queries_out, "w", encoding="utf-8") as f:
            json.dump([{"rule": r, "id": r, "target": "sentinel", "language": "kql", "query": q}
                       for r, q in sorted(packaged_kql.items())], f, indent=1)
    for rel, note in checked:
        print(f"{'FAIL' if rel in problems else 'ok  '} {rel}" + (f"  ({note})" if note else ""))
        for message in problems.get(rel, []):
            print(f"     {rel}: {message}")
    for rel in sorted(set(problems) - {f for f, _ in checked}):
        print(f"FAIL {rel}\n" + "".join(f"     {rel}: {m}\n" for m in problems[rel]), end="")
    passed = [f for f, _ in checked if f not in problems]
    if args.expect_rejections:
        expected = json.load(open(os.path.join(args.dist, "expected.json"), encoding="utf-8"))
        missing = [(f, m) for f, ms in expected.items() if not f.startswith("_") for m in ms
                   if not any(m in p for p in problems.get(f, []))]
        for f in passed:
            print(f"SELFTEST a known-bad file passed: {f}")
        for f, m in missing:
            print(f"SELFTEST {f} was not reported for: {m}")
        print(f"self-test: {len(problems)} known-bad files rejected, {len(passed)} passed, "
              f"{len(missing)} expected messages missing")
        return 1 if passed or missing else 0
    print(f"{len(passed)} passed, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
