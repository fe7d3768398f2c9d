#!/usr/bin/env python3
"""Validate Kibana detection-rule NDJSON lines against Kibana's published
OpenAPI bundle (security_solution_detections_api_2023_10_31.bundled.schema.yaml).

The published bundle has NO `RuleToImport` component: POST
/api/detection_engine/rules/_import is documented only as a multipart `file`
(format: binary).  Kibana's own import schema lives in TypeScript/zod
(common/api/detection_engine/rule_management/import_rules/rule_to_import.ts):

    RuleToImport = BaseCreateProps.and(TypeSpecificCreateProps).and(
        ResponseFields.partial().extend({
            rule_id: RuleSignatureId,                       # required
            required_fields: z.array(RequiredFieldInput).optional(),
        }))

BaseCreateProps & TypeSpecificCreateProps is exactly what the bundle publishes
as `RuleCreateProps`, and `ResponseFields` / `RequiredFieldInput` are in the
bundle too, so this script synthesises components/schemas/RuleToImport from
those published pieces (see build_rule_to_import) and validates against it.

OpenAPI 3.0 -> JSON Schema 2020-12 conversion (see convert()):
  * nullable: true      -> type [T, "null"] (or anyOf [..., {type: null}] next to $ref/composition)
  * discriminator       -> enum on the discriminator property + if/then dispatch to the
                           branch whose schema pins that value (no "guess the branch" anyOf noise)
  * example / examples / x-* -> dropped (not validation keywords; `examples` is a map in OAS)
  * format: nonempty / date-math / date-time / uuid -> enforced by a custom FormatChecker
    (date-math is an approximation of @kbn/datemath's parser, see DATE_MATH_RE)
Refs stay as '#/components/schemas/X': the converted `components` tree is the root
resource, so every pointer resolves in place.

In detc's conformance suite (run.sh step 5) every line of the package's rules.ndjson must
pass, and every line of package_selftest/kibana_import_bad.ndjson (one known mistake each:
a severity, a risk score, a missing rule_id, a language for the wrong type, a `from` that is
not date math, a tactic without a name, ...) must be rejected. The schema file's provenance:
vendor/elastic/PROVENANCE.tsv.

Usage:
  check_kibana.py [--schema FILE] [--target RuleToImport|RuleCreateProps]
                  [--strict-unknown] [--no-route-checks] NDJSON [NDJSON ...]
Exit status 0 if every line passes, 1 otherwise.
"""
import argparse
import copy
import json
import re
import sys
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, FormatChecker

HERE = Path(__file__).resolve().parent
DEFAULT_SCHEMA = HERE / "vendor" / "elastic" / "kibana" / "security_solution_detections_api_2023_10_31.bundled.schema.yaml"
ROOT_ID = "urn:kibana:security-detections-api:2023-10-31"
REF_PREFIX = "#/components/schemas/"

# --------------------------------------------------------------------------
# formats
# --------------------------------------------------------------------------
# @kbn/datemath: "now" or an absolute date optionally followed by "||", then a
# sequence of  /unit  (rounding)  or  +N unit / -N unit  (N optional, <=10 digits).
_UNIT = r"(?:ms|[yMwdhms])"
_MATH = rf"(?:/{_UNIT}|[+-]\d{{0,10}}{_UNIT})*"
_ISO = (r"\d{4}-\d{2}-\d{2}"
        r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?")
DATE_MATH_RE = re.compile(rf"^(?:now{_MATH}|{_ISO}(?:\|\|{_MATH})?)$")
DATE_TIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$")
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

FORMATS = FormatChecker(formats=())


@FORMATS.checks("nonempty")
def _nonempty(v):  # Kibana isNonEmptyString: trim() !== ''
    return not isinstance(v, str) or v.strip() != ""


@FORMATS.checks("date-math")
def _date_math(v):
    return not isinstance(v, str) or bool(DATE_MATH_RE.match(v))


@FORMATS.checks("date-time")
def _date_time(v):
    return not isinstance(v, str) or bool(DATE_TIME_RE.match(v))


@FORMATS.checks("uuid")
def _uuid(v):
    return not isinstance(v, str) or bool(UUID_RE.match(v))


# --------------------------------------------------------------------------
# OpenAPI 3.0 -> JSON Schema 2020-12
# --------------------------------------------------------------------------
DROP_KEYS = {"example", "examples", "discriminator", "nullable", "xml", "externalDocs"}


def _discriminator_values(schema, prop, comps, seen=None):
    """Values a (sub)schema pins for `prop`, following $ref/allOf."""
    seen = seen or set()
    if not isinstance(schema, dict):
        return set()
    if "$ref" in schema:
        name = schema["$ref"][len(REF_PREFIX):]
        if name in seen:
            return set()
        seen = seen | {name}
        vals = _discriminator_values(comps[name], prop, comps, seen)
        if vals:
            return vals
    p = schema.get("properties", {}).get(prop)
    if isinstance(p, dict):
        if "enum" in p:
            return set(p["enum"])
        if "const" in p:
            return {p["const"]}
        if "$ref" in p:
            v = _discriminator_values({"properties": {prop: comps[p["$ref"][len(REF_PREFIX):]]}},
                                      prop, comps, seen)
            if v:
                return v
            tgt = comps[p["$ref"][len(REF_PREFIX):]]
            if "enum" in tgt:
                return set(tgt["enum"])
    out = set()
    for sub in schema.get("allOf", []):
        out |= _discriminator_values(sub, prop, comps, seen)
    return out


def convert(node, comps, notes):
    if isinstance(node, list):
        return [convert(x, comps, notes) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: convert(v, comps, notes) for k, v in node.items()
           if k not in DROP_KEYS and not k.startswith("x-")}
    # properties / patternProperties are maps of name -> schema; keys like
    # "example" there are property names, not annotations: convert values only.
    for mapkey in ("properties", "patternProperties"):
        if mapkey in node and isinstance(node[mapkey], dict):
            out[mapkey] = {k: convert(v, comps, notes) for k, v in node[mapkey].items()}

    # discriminator: replace anyOf/oneOf guessing by an explicit dispatch
    disc = node.get("discriminator")
    if disc:
        prop = disc["propertyName"]
        key = "oneOf" if "oneOf" in node else "anyOf"
        branches = node[key]
        mapping = disc.get("mapping", {})
        table = []  # (value, ref)
        for b in branches:
            ref = b.get("$ref")
            vals = {v for v, r in mapping.items() if r == ref} or _discriminator_values(b, prop, comps)
            for v in sorted(vals):
                table.append((v, ref))
        values = [v for v, _ in table]
        if len(set(values)) == len(values) and len(table) >= len(branches) and all(r for _, r in table):
            out.pop(key)
            out.setdefault("required", [])
            if prop not in out["required"]:
                out["required"] = out["required"] + [prop]
            out.setdefault("properties", {})
            out["properties"][prop] = {"enum": values}
            out.setdefault("allOf", [])
            out["allOf"] = out["allOf"] + [
                {"if": {"properties": {prop: {"const": v}}, "required": [prop]},
                 "then": {"$ref": r}} for v, r in table]
            notes.append(f"discriminator on '{prop}' -> if/then dispatch over {values}")
        else:
            notes.append(f"discriminator on '{prop}' left as plain {key} (values not unique: {table})")

    if node.get("nullable") is True:
        t = out.get("type")
        if isinstance(t, str) and not any(k in out for k in ("$ref", "allOf", "anyOf", "oneOf")):
            out["type"] = [t, "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = out["enum"] + [None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def build_rule_to_import(comps):
    """RuleToImport as Kibana's zod defines it, from published components."""
    rf = comps["ResponseFields"]
    props = copy.deepcopy(rf["properties"])          # ResponseFields.partial()
    props["rule_id"] = {"$ref": REF_PREFIX + "RuleSignatureId"}
    props["required_fields"] = {"type": "array", "items": {"$ref": REF_PREFIX + "RequiredFieldInput"}}
    return {
        "description": "Synthesised (not in the published bundle): RuleCreateProps AND "
                       "ResponseFields.partial() with rule_id required, as in rule_to_import.ts",
        "allOf": [
            {"$ref": REF_PREFIX + "RuleCreateProps"},
            {"type": "object", "properties": props, "required": ["rule_id"]},
        ],
    }


def load(schema_path, target):
    doc = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    comps = copy.deepcopy(doc["components"]["schemas"])
    if "RuleToImport" not in comps:
        comps["RuleToImport"] = build_rule_to_import(comps)
    notes = []
    conv = {name: convert(s, comps, notes) for name, s in comps.items()}
    root = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": ROOT_ID,
        "components": {"schemas": conv},
        "$ref": REF_PREFIX + target,
    }
    Draft202012Validator.check_schema(root)
    return root, comps, notes


# --------------------------------------------------------------------------
# reporting helpers
# --------------------------------------------------------------------------
def schema_location(root, abs_path):
    """Turn an absolute schema path into 'Component/path', following $refs.

    jsonschema does not record '$ref' hops in schema paths, so when the next
    key is not in a node that has a $ref, we jump into the referenced schema."""
    schemas = root["components"]["schemas"]
    node, chain, rel = root, [], []

    def deref(n):
        while isinstance(n, dict) and isinstance(n.get("$ref"), str):
            name = n["$ref"][len(REF_PREFIX):]
            chain.append(name)
            rel.clear()
            n = schemas[name]
        return n

    for key in list(abs_path):
        if isinstance(node, dict) and key not in node and "$ref" in node:
            node = deref(node)
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            node = None
        rel.append(str(key))
    if isinstance(node, dict) and "$ref" in node and not rel:
        deref(node)
    # full $ref chain, then the keyword path inside the innermost component
    where = " > ".join(chain) if chain else "(root)"
    return f"{where}/{'/'.join(rel)}" if rel else where


def leaf_errors(err):
    """Flatten anyOf/oneOf contexts to the most specific sub-errors."""
    if err.context:
        best = {}
        for sub in err.context:
            best.setdefault(sub.relative_schema_path[0] if sub.relative_schema_path else 0, []).append(sub)
        # pick the branch with the fewest errors (closest match)
        branch = min(best.values(), key=len)
        out = []
        for sub in branch:
            out.extend(leaf_errors(sub))
        return out or [err]
    return [err]


def known_props(schema, comps, seen=None):
    seen = seen or set()
    if not isinstance(schema, dict):
        return set()
    out = set(schema.get("properties", {}))
    if "$ref" in schema:
        n = schema["$ref"][len(REF_PREFIX):]
        if n not in seen:
            out |= known_props(comps[n], comps, seen | {n})
    for k in ("allOf",):
        for s in schema.get(k, []):
            out |= known_props(s, comps, seen)
    return out


def route_checks(rule):
    """Kibana import-route checks done outside the schema
    (rule_to_import_validation.ts)."""
    errs = []
    tid, ttl = rule.get("timeline_id"), rule.get("timeline_title")
    if tid is not None and ttl is None:
        errs.append('when "timeline_id" exists, "timeline_title" must also exist')
    if tid == "":
        errs.append('"timeline_id" cannot be an empty string')
    if ttl is not None and tid is None:
        errs.append('when "timeline_title" exists, "timeline_id" must also exist')
    if ttl == "":
        errs.append('"timeline_title" cannot be an empty string')
    th = rule.get("threshold") if rule.get("type") == "threshold" else None
    if isinstance(th, dict):
        card, field = th.get("cardinality") or [], th.get("field")
        if card and isinstance(card[0], dict) and field is not None and card[0].get("field") in (
                field if isinstance(field, list) else [field]):
            errs.append("Cardinality of a field that is being aggregated on is always 1")
        if isinstance(field, list) and len(field) > 5:
            errs.append("Number of fields must be 5 or less")
    return errs


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("ndjson", nargs="+")
    ap.add_argument("--schema", default=str(DEFAULT_SCHEMA))
    ap.add_argument("--target", default="RuleToImport")
    ap.add_argument("--strict-unknown", action="store_true",
                    help="treat properties unknown to the rule's type schema as errors "
                         "(Kibana's zod objects strip them silently)")
    ap.add_argument("--no-route-checks", action="store_true")
    ap.add_argument("--show-notes", action="store_true")
    ap.add_argument("--expect-rejections", action="store_true",
                    help="the self-test: every line is known-bad and must be rejected")
    a = ap.parse_args(argv)

    root, comps, notes = load(a.schema, a.target)
    if a.show_notes:
        for n in notes:
            print("note:", n)
    validator = Draft202012Validator(root, format_checker=FORMATS)

    total = bad = 0
    for path in a.ndjson:
        for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            total += 1
            label = f"{Path(path).name}:{lineno}"
            try:
                rule = json.loads(line)
            except json.JSONDecodeError as e:
                bad += 1
                print(f"FAIL {label}: not JSON: {e}")
                continue
            rid = rule.get("rule_id", "?") if isinstance(rule, dict) else "?"
            problems = []
            for err in sorted(validator.iter_errors(rule), key=lambda e: list(e.absolute_path)):
                for leaf in leaf_errors(err):
                    problems.append((leaf.json_path, schema_location(root, leaf.absolute_schema_path),
                                     leaf.message))
            if not a.no_route_checks and isinstance(rule, dict):
                for m in route_checks(rule):
                    problems.append(("$", "rule_to_import_validation.ts", m))
            warnings = []
            if isinstance(rule, dict) and a.target in ("RuleToImport", "RuleCreateProps"):
                t = rule.get("type")
                branch = {"eql": "EqlRuleCreateProps", "query": "QueryRuleCreateProps",
                          "saved_query": "SavedQueryRuleCreateProps",
                          "threshold": "ThresholdRuleCreateProps",
                          "threat_match": "ThreatMatchRuleCreateProps",
                          "machine_learning": "MachineLearningRuleCreateProps",
                          "new_terms": "NewTermsRuleCreateProps",
                          "esql": "EsqlRuleCreateProps"}.get(t)
                if branch:
                    allowed = known_props(comps[branch], comps)
                    if a.target == "RuleToImport":
                        allowed |= set(comps["ResponseFields"]["properties"])
                    for k in sorted(set(rule) - allowed):
                        msg = f"unknown property {k!r} for type {t!r} (Kibana strips it on import)"
                        if a.strict_unknown:
                            problems.append((f"$.{k}", branch, msg))
                        else:
                            warnings.append(msg)
            if problems:
                bad += 1
                print(f"FAIL {label} rule_id={rid} type={rule.get('type') if isinstance(rule, dict) else '?'}")
                for jp, sp, msg in problems:
                    print(f"     {jp}  [schema: {sp}]  {msg}")
            else:
                print(f"ok   {label} rule_id={rid} type={rule.get('type')}")
            for w in warnings:
                print(f"     warning: {w}")
    print(f"summary: {total} line(s), {total - bad} ok, {bad} failed (target={a.target})")
    if a.expect_rejections:
        print(f"self-test: {bad} of {total} known-bad lines rejected")
        return 0 if bad == total and total else 1
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
