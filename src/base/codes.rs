//! Every diagnostic code detc reports, in one table: its id, a one-line title and the
//! longer text `detc --explain CODE` prints. A code is a variant of [`Code`], so a code
//! that is not in this table cannot be reported.

use serde::{Serialize, Serializer};
use std::fmt;

macro_rules! codes {
    ($($id:ident $title:literal $explain:literal)*) => {
        /// A diagnostic code (`E0302`); see [`Code::title`] and [`Code::explain`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $($id,)* }

        impl Code {
            /// Every code, in order.
            pub const ALL: &[Code] = &[$(Code::$id,)*];

            /// The code as printed: `E0302`.
            pub fn id(self) -> &'static str {
                match self { $(Code::$id => stringify!($id),)* }
            }

            /// One line: what the code means.
            pub fn title(self) -> &'static str {
                match self { $(Code::$id => $title,)* }
            }

            /// What `--explain` prints: the cause, an example and the fix.
            pub fn explain(self) -> &'static str {
                match self { $(Code::$id => $explain,)* }
            }
        }
    };
}

impl Code {
    /// The code with this id (`"E0302"`, any case).
    pub fn parse(id: &str) -> Option<Code> {
        Code::ALL
            .iter()
            .copied()
            .find(|c| c.id().eq_ignore_ascii_case(id))
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

codes! {
    E0001 "syntax error"
    "The text does not follow the grammar of `.det` files: a token where another was expected
(the message says which), a string left open at the end of its line (strings cannot span
lines), or an unknown escape or a malformed `\\u{...}` in a \"...\" string.

Example:

    where process.name = \"anydesk.exe\"

The hint names the usual fix, here `==` to compare. Valid escapes are `\\\\` `\\\"` `\\n` `\\t`
`\\r` `\\u{1F600}` (and `\\*` `\\?` for `like`); in a raw string '...' backslashes are literal
and `''` is one quote. A message starting \"internal error\" is a bug in detc: report it
with the input."

    E0002 "file is not UTF-8 text"
    "A rule file must be UTF-8 text. detc points at the first byte that is not valid UTF-8, or
at a NUL byte in a `.det` file, which marks a binary file. Sigma files (`.yml`, `.yaml`)
that are not UTF-8 get the same code; `detc import sigma` refuses such a file alone and
imports the others.

Fix: save the file as UTF-8 text, or move a binary file out of the rule folders."

    E0003 "input nested too deeply"
    "detc bounds nesting, so that no file can exhaust the parser: at most 64 nested brackets
(`(`, `[`, `{`), and a condition or `having` at most 256 levels deep, where each `not` is
a level and each chain of `and` or `or` is one level above its deepest operand. The
parser's own stack and call limits report this code too.

Example:

    where not not not ... not process.name == \"a\"    # more than 256 `not`

Fix: flatten the condition or the list, split the rule, or compare with a list:
`field in [\"a\", \"b\", ...]`."

    E0004 "number out of range"
    "A number literal does not fit detc's types: an integer must fit in 64 bits
(-9223372036854775808 to 9223372036854775807), a decimal number must be finite, and a
duration (`30s`, `10m`, `24h`, `7d`) must fit in 64-bit seconds.

Example:

    where process.pid > 99999999999999999999

Fix: write a value within that range."

    E0101 "unknown metadata key"
    "A rule sets a metadata key detc does not know. The keys are id, severity, status, attack,
tags, description, false_positives, references, author, schedule, lookback, fields,
suppress, suppress_by, targets, date and modified.

Example:

    autor = \"me\"

detc suggests the closest key (here `author`), or lists the known ones. Fix the spelling,
or remove the key."

    E0102 "missing `id`"
    "Every rule needs `id`: a UUID (E0107), unique in the whole tree (E0202).

Example:

    rule rmm_tool_started \"Remote access tool started\" {
      severity = high
      from process_start where process.name == \"anydesk.exe\"
    }

Fix: add `id = \"<uuid>\"`; generate one with `uuidgen`."

    E0103 "missing `severity`"
    "Every rule needs `severity`: informational, low, medium, high or critical.

Example:

    rule rmm_tool_started \"Remote access tool started\" {
      id = \"4c0b3f0e-8f4e-4d8e-9a63-2f3e0b6f6a11\"
      from process_start where process.name == \"anydesk.exe\"
    }

Fix: add `severity = medium` (or another of the five levels)."

    E0104 "unknown severity"
    "`severity` is not one of informational, low, medium, high, critical. It is written as a
bare word or a string, in lower case.

Example:

    severity = severe

detc suggests the closest level when one is close. Fix: use one of the five levels."

    E0105 "unknown status"
    "`status` is not one of experimental, test, stable, deprecated (a bare word or a string).

Example:

    status = beta

Fix: use one of the four, e.g. `status = experimental`, or leave `status` out."

    E0106 "malformed ATT&CK id"
    "An item of `attack` does not have the shape of an ATT&CK id: a technique is `T` and 4
digits (`T1219`), a sub-technique adds `.` and 3 digits (`T1219.003`), a tactic is `TA`
and 4 digits (`TA0011`), all upper case. An item that is not a word or a string (a
number, a list) gets this code too.

Example:

    attack = [TA0011, T1219.3, t1078]

Fix: write each id in that shape. Whether the id exists is checked apart (E0112-E0115)."

    E0107 "`id` is not a UUID"
    "`id` must be a UUID: five groups of 8, 4, 4, 4 and 12 hexadecimal digits joined by `-`.

Example:

    id = \"4c0b3f0e\"

Fix: generate one with `uuidgen` and write it as a string:
`id = \"4c0b3f0e-8f4e-4d8e-9a63-2f3e0b6f6a11\"`. Each rule needs its own (E0202)."

    E0108 "set or listed twice"
    "A metadata key is set twice in one rule, or a value is listed twice where each may appear
once: a target in `targets`, a field in `fields` or in `suppress_by`.

Example:

    severity = high
    severity = medium

Fix: keep one of them."

    E0109 "metadata value of the wrong kind"
    "A metadata key has a value of the wrong kind. `id`, `description`, `author`, `date` and
`modified` take a string; `severity` and `status` a word or a string; `tags`,
`false_positives` and `references` a list of strings; `schedule`, `lookback` and
`suppress` a positive duration; `fields` and `suppress_by` a non-empty list of bare field
names; `targets` and `attack` a list.

Example:

    tags = \"remote_access\"

Fix: write the value in the form the message names: `tags = [\"remote_access\"]`,
`schedule = 15m`, `fields = [user.name, host.name]`."

    E0110 "invalid rule name"
    "A rule's name is its stable key, unique in the tree: lower-case ASCII letters, digits and
`_`, starting with a letter (`[a-z][a-z0-9_]*`).

Example:

    rule Bad_Name \"Remote access tool started\" { ... }

Fix: rename the rule, e.g. `bad_name`."

    E0111 "empty rule title"
    "The quoted title after the rule's name must hold some text; an empty string, or one of
only blanks, is refused.

Example:

    rule rmm_tool_started \"\" { ... }

Fix: write a short title: `rule rmm_tool_started \"Remote access tool started\" { ... }`."

    E0112 "unknown ATT&CK id"
    "An `attack` id has the right shape but is not in the pinned ATT&CK Enterprise table
(`targets/attack.tsv`): no such technique, sub-technique or tactic in that version. For
an unknown sub-technique of a known technique, the hint names the technique.

Example:

    attack = [TA0011, T1219.009]

Fix: use an id of the ATT&CK version the hint names. The table is regenerated by
`scripts/gen_attack.py`."

    E0113 "deprecated ATT&CK technique"
    "The technique is in the pinned ATT&CK table (`targets/attack.tsv`) but deprecated in that
version.

Example:

    attack = [TA0002, T1064]    # T1064 Scripting

Fix: map the rule to a current technique."

    E0114 "revoked ATT&CK technique"
    "The technique is in the pinned ATT&CK table (`targets/attack.tsv`) but revoked in that
version; the hint names the technique that replaces it, when there is one.

Example:

    attack = [TA0010, T1002]    # use T1560 (Archive Collected Data) instead

Fix: use the replacement, with one of its tactics (E0115)."

    E0115 "technique listed without any of its ATT&CK tactics"
    "A technique or sub-technique in `attack` that ATT&CK gives several tactics must have one
of them (from the pinned table, `targets/attack.tsv`) beside it in the same list: which
one the rule detects is the author's call. A technique with exactly one tactic needs none
beside it (`attack = [T1219]` means `[TA0011, T1219]`).

Example:

    attack = [T1078.004]

Fix: add one of the tactics the hint lists: `attack = [TA0001, T1078.004]`."

    E0120 "unknown target, or no target, in `targets`"
    "`targets` lists the targets a rule deploys to. Each item must be splunk, sentinel or
elastic, and the list cannot be empty.

Example:

    targets = [splunk, qradar]

Fix: name only those targets, or leave `targets` out to deploy to every target."

    E0121 "not a date"
    "`date` and `modified` take a string `YYYY-MM-DD`: a 4-digit year, a month 01-12 and a
day 01-31.

Example:

    date = \"2025-13-01\"

Fix: write the date as `YYYY-MM-DD`, e.g. `date = \"2025-11-25\"`."

    E0122 "`lookback` shorter than the schedule, or on a correlation rule"
    "On a single-event rule, `lookback` is how far back each scheduled run searches; shorter
than the schedule (`schedule`, 5m when unset), events between runs would never be
searched. A correlation rule takes no `lookback`: its range follows from its window
(docs/CORRELATION.md).

Example:

    schedule = 15m
    lookback = 10m

Fix: make `lookback` at least the schedule, or leave it out (it is then the schedule); on
a correlation rule, remove it."

    E0123 "suppression without a duration or a key"
    "`suppress` drops repeated alerts for a while; `suppress_by` says which alerts are repeats.
`suppress_by` without `suppress` is refused, and so is `suppress` on a single-event rule
without `suppress_by` (a correlation rule uses its keys).

Example:

    suppress = 1h
    from process_start where process.name == \"anydesk.exe\"

Fix: add `suppress_by = [user.name, host.name]` (the fields that make two alerts
repeats), or add `suppress = <duration>` beside a `suppress_by`."

    E0124 "alert field that a correlation rule's results do not hold"
    "The alerts of a correlation rule hold only its keys: the `group by` fields, the `sequence
by` fields, or a first-seen rule's `by` fields and its seen field. `fields` and
`suppress_by` may name only those.

Example:

    fields = [user.name]
    from authentication
    group by source.ip window 24h
    having distinct(user.name) >= 3

Fix: name only the keys the hint lists, or leave `fields` out (the keys are then shown)."

    E0125 "unknown catalog idea"
    "`catalog = [...]` names the ideas of the detection catalog a rule implements. The ideas
are listed in `catalog.toml` at the root of the rule tree (the library's is
`detections/catalog.toml`, one `[[idea]]` per idea with its `id` and `title`). An id must
be a capital letter and a number, and be listed there; with no `catalog.toml` in the tree
there is nothing to check the ids against, which is an error too.

Example:

    catalog = [A3, Z9]    # Z9 is not in detections/catalog.toml

Fix: name an idea the catalog lists (`detc docs` writes the index of ideas), or add the
idea to `catalog.toml`."

    E0126 "rule names an idea the catalog marks not implementable"
    "An idea of `catalog.toml` that carries `not_implemented = \"...\"` says that no rule can
implement it, and why (data no SIEM holds, or a language feature detc lacks). A rule that
names it contradicts the catalog, and the index `detc docs` writes would say both.

Example:

    catalog = [D7]    # catalog.toml: D7 not_implemented = \"no SIEM holds commit metadata\"

Fix: if the rule does implement the idea, delete the idea's `not_implemented` (and say in
`remaining` what part is still left out); otherwise drop the id from the rule."

    E0201 "duplicate rule name"
    "Two rules have the same name. Names are unique in the whole tree: when `detections/`
exists, all of it is read for this, not only the files named on the command line. The
hint names the file of the other definition.

Example:

    rule rmm_tool_started \"Remote access tool started\" { ... }   # also in another file

Fix: rename one of the rules."

    E0202 "duplicate rule id"
    "Two rules have the same `id` (compared without regard to case). Ids, like names, are
unique in the whole tree, which is read for this as for E0201.
This happens when a rule is copied and keeps the original's id; the hint names the file
that uses it too.

Fix: give this rule a new id, generated with `uuidgen`."

    E0203 "unknown list"
    "A `$name` reference names no `list` item. Lists are read from every `.det` file of the
tree, so a list may live in any file.

Example:

    where process.name in $remote_acess_tools

detc suggests a close list name. Fix the spelling, or define the list in any `.det` file:
`list remote_access_tools = [\"anydesk.exe\", \"teamviewer.exe\"]`."

    E0204 "duplicate list name"
    "Two `list` items have the same name; list names are unique in the whole tree. The hint
names the file of the other definition.

Example:

    list remote_access_tools = [\"anydesk.exe\"]
    list remote_access_tools = [\"teamviewer.exe\"]

Fix: merge the two lists, or rename one and its `$` references."

    E0205 "list is not a `[...]` literal"
    "A `list` item must hold a `[...]` literal of values, not a single value or a reference.
The grammar already requires `[` after `list NAME =`, so a `.det` file gets a syntax
error (E0001) for this instead; E0205 guards lists that reach the check another way.

Example:

    list remote_access_tools = \"anydesk.exe\"

Fix: write the values in brackets: `list remote_access_tools = [\"anydesk.exe\"]`."

    E0206 "tunable list used outside `in`"
    "A `tunable` list becomes an object the team edits in the SIEM (a Sentinel watchlist), so
a rule reads its values there, not from the `.det` file. The SIEMs look such values up
exactly only as \"the field is one of them\", so a tunable list is tested only with `in`
or `not in`, and only on a string field (`cased` for exact case). `contains`,
`startswith`, `endswith`, `like` and ip fields take the values compiled into the query:
use a plain list there.

Example:

    list sanctioned_agents tunable = [\"agent.exe\"]
    ... where process.command_line contains $sanctioned_agents

Fix: test the field with `in $sanctioned_agents`, or drop `tunable` from the list."

    E0301 "unknown source"
    "`from`, or a step of a sequence, names a source the schema does not declare. Sources are
declared in `targets/schema.yaml` and in any `--schema` files.

Example:

    from process_startt where process.name == \"a\"

detc suggests the closest source, or lists the known ones. Fix the name, or declare the
source in a `--schema` file and map it for each target in a `--mapping` file."

    E0302 "unknown field"
    "A rule names a field that its source does not declare in the schema (`targets/schema.yaml`
and `--schema` files): in a condition, `group by`, `sequence by` (the key must exist in
every step's source), `first seen`, a test case, or a single-event rule's `fields` and
`suppress_by`. A name under a field family's prefix that is not a member (one name of
letters, digits and `_`, not starting with a digit) gets it too.

Example:

    from process_start where proces.name == \"a\"

detc suggests the closest name. Fix the spelling, or declare the field in a `--schema`
file (and map it in each target's mapping) if your data has it."

    E0303 "operator does not apply to the field's type"
    "Each operator fits some field types (the schema's string, number, ip, boolean): `<`, `<=`,
`>`, `>=` only numbers; `contains`, `startswith`, `endswith`, `like` and `matches` only
strings; `in cidr(...)` only ip fields; a boolean only `==`, `!=` and `exists`. In
`having`, `sum`, `min` and `max` need a number field.

Example:

    where process.pid contains \"1\"    # process.pid is a number

Fix: use an operator the field's type allows (the hint names them), or another field."

    E0304 "value does not fit the comparison"
    "The value does not fit the operator or the field: a list or `$list` after an operator that
takes one value (`==`, `!=`, `like`, `matches`, `<`, `<=`, `>`, `>=`); an empty list; a
value of the wrong kind for the field's type (a string for a number, a number for a
string, anything but `true`/`false` for a boolean); `\"\"` after `contains`, `startswith` or
`endswith`, which would match every value; or, for an ip field, anything but an address
string, a list of them or `cidr(...)`.

Example:

    where process.name == [\"anydesk.exe\", \"teamviewer.exe\"]

Fix: use `in` for several values, quote strings and leave numbers bare
(`process.pid == 4`), and test presence with `exists f`."

    E0305 "`cased` on a field that is not a string"
    "`cased` makes a string comparison case-sensitive. Numbers, ip addresses and booleans have
no case, so `cased` applies only to string fields.

Example:

    where process.pid == cased 4

Fix: remove `cased`."

    E0306 "invalid regex, or one outside the portable subset"
    "A `matches` pattern is not a valid regex, or uses what the engines of the targets (RE2,
PCRE, Lucene) do not read alike: look-around, back-references, `\\b` and other word
boundaries, `\\A` `\\z` `\\Z`, `^`/`$` other than at the ends of the pattern or of a
top-level alternative, any flag but a leading `(?i)`, Unicode and POSIX classes, possessive
quantifiers, counts above 1000. An empty pattern or alternative (it would match every
value) is refused too.

Example:

    where process.name matches 'a(?<=b)'

The caret points into the pattern where it can, and the hint gives a portable way to say
it. Rewrite the pattern, or split it into several conditions."

    E0307 "invalid IP address or network"
    "An ip field is compared with text that is not a valid address or network: not an IPv4 or
IPv6 address, a network (`/n`) where an address is expected (`==`, `in [...]`), an entry
of `cidr(...)` without a prefix length or with one out of range (0-32, 0-128), or a
network with host bits set.

Example:

    where source.ip in cidr(\"10.0.0.1/8\")    # host bits set: did you mean 10.0.0.0/8?

Fix: compare with addresses using `==` or `in [...]`, and with networks using
`in cidr(\"10.0.0.0/8\", \"fd00::/8\")`."

    E0308 "comparison with the empty string"
    "A string field holding \"\" reads as absent on every target (Sentinel cannot tell the two
apart), and an absent field fails every test: `f == \"\"` would never hold and `f != \"\"`
always would. So `==`, `!=`, `in`, `not in` and `like` with \"\" are refused.

Example:

    where process.name == \"\"

Fix: write `not exists process.name` to test for an absent or empty field, and
`exists process.name` instead of `!= \"\"`. In a list such as `in [\"a\", \"\"]`, drop \"\" and
add `or not exists f` if that was meant."

    E0309 "operator cannot compare two fields"
    "A bare field name on the right of a comparison names another field of the same event
(`where process.name != process.pe.original_file_name`). Only `==`, `!=`, `<`, `<=`, `>`
and `>=` compare two fields; `in`, `not in`, `contains`, `startswith`, `endswith`, `like`
and `matches` take values, which no target can read from a field exactly.

Example:

    where process.command_line contains process.name

Fix: compare with `==` or `!=`, or, if the right-hand side was meant as text, quote it:
`process.command_line contains \"process.name\"`."

    E0310 "fields of different types compared"
    "Two fields compare only when the schema gives them one type (string, number, ip,
boolean): a string and a number, say, would be compared differently on each target.

Example:

    where process.pid == process.name    # a number and a string

Fix: compare fields of one type, or compare each field with a value."

    E0311 "field compared with itself"
    "A comparison names the same field on both sides. `f == f`, `f <= f` and `f >= f` hold
exactly when `f` has a value, `f != f` when it has none, and `f < f`, `f > f` never: most
likely another field was meant.

Example:

    where user.name == user.name

Fix: name the other field, or write `exists f` / `not exists f`."

    E0320 "sequence with fewer than two steps"
    "A sequence orders two or more steps; one step is a single-event rule.

Example:

    sequence by host.name within 1h {
      process_start where exists process.name
    }

Fix: add the step that should follow, or write the rule as
`from process_start where exists process.name`."

    E0321 "correlation duration is not positive"
    "The `window` of `group by`, the `within` of `sequence` and the `lookback` of `first seen`
must be a positive duration; `0s` is refused.

Example:

    group by host.name window 0s

Fix: write a duration above zero, e.g. `30s`, `10m`, `24h` or `7d`."

    E0322 "unknown aggregation"
    "`having` compares one of `count()`, `distinct(f)`, `sum(f)`, `min(f)` and `max(f)`;
another name, or one of these with the wrong argument (`count(f)`, `distinct()`), is
refused.

Example:

    having avg(process.pid) > 1

Fix: use one of the five, written as shown."

    E0323 "a step's keys do not fit the sequence's `by`"
    "A step may join on its own fields (`SOURCE by G, ... where ...`), one per field of the
sequence's `by` and in its order, each of the same type as the first step's: a step joining
on two fields cannot meet one joining on one, and a string never equals a number.

Example:

    sequence by user.name within 1h {
      directory_audit by user.target.name, host.name where event.action == \"reset\"
      authentication where event.outcome == \"success\"
    }

Fix: name as many fields as the sequence's `by` (`directory_audit by user.target.name`),
each of the type the other steps join on."

    E0324 "`not` step out of place"
    "A sequence of two steps may end in a `not` step: `A where ...  not B where ...` fires for
an A event that no B event of the same key follows within the window (an absence,
docs/CORRELATION.md). A `not` step anywhere else is refused: as the first step (nothing
happened to wait from), after two or more steps, or before another step.

Example:

    sequence by user.name within 7d {
      hr_record where event.action == \"hire\"
      authentication where event.outcome == \"success\"
      not authentication where event.outcome == \"failure\"
    }

Fix: write the absence as two steps: the one that happens, then `not` and the one that
must not follow it."

    E0325 "a rule over alerts must aggregate them per entity"
    "The `alerts` source holds the alerts of the project's other rules, as each SIEM's alert
store holds them: Splunk has a risk event per alert and entity, Sentinel and Elastic a
record per alert. A rule over alerts is an aggregation, a sequence or a first-seen rule,
and reads one entity field (`user.name` or `host.name`): an alert's user and host are
together in one record on Sentinel and Elastic and apart on Splunk, so a rule reading both
would mean different things. Matching single alerts again would only repeat them.

Example:

    from alerts
    where rule.severity != \"informational\" and host.name == \"lab1\"
    group by user.name window 30d
    having distinct(rule.category) >= 3

Fix: group (or join, or look for a first sighting) by `user.name` or by `host.name`, and
test no other entity field; write a second rule for the other entity."

    E0326 "comparison with another step out of place"
    "A step named `SOURCE as NAME` lends its event to the next step, whose condition may compare
a field with one of it: `f != NAME.g` (also `==`, and `<`, `<=`, `>`, `>=` on numbers). Such a
comparison is an operand of the step condition's top-level `and` (it decides which earlier
event the step's event completes, so it cannot sit under `or` or `not`), names an earlier
step, and stands in a sequence of two steps (docs/CORRELATION.md, \"Comparisons across
steps\").

Example:

    sequence by user.name within 1h {
      authentication as console where logon.type == \"interactive\"
      authentication where event.outcome == \"success\"
        and (source.geo.country_iso_code != console.source.geo.country_iso_code or device.managed == false)
    }

Fix: make the comparison its own `and` operand (`and country != console.country`), write
`!=` for `not ==`, and split a longer sequence into rules of two steps."

    E0327 "step name clashes"
    "A step's name (`SOURCE as NAME`) is read as the first part of a field name in later steps
(`NAME.source.ip`), so it must differ from the other steps' names and from the first part
of every field of the sequence's sources (`source`, `user`, `host`, ...).

Example:

    sequence by user.name within 1h {
      authentication as user where logon.type == \"interactive\"
      authentication where source.ip != user.source.ip
    }

Fix: pick another name, e.g. `authentication as console`."

    E0330 "invalid test value"
    "Each field of a `test matches { ... }` or `test misses { ... }` case takes a string, a
number, a boolean, or a list of them (a field holding an array). A bare word, a duration,
a `$list`, `cidr(...)` or a nested list is refused.

Example:

    test matches { process.name = anydesk.exe }

Fix: quote strings: `test matches { process.name = \"anydesk.exe\" }`."

    E0340 "`ip_prefix` of a field that is not an ip field"
    "`group by ip_prefix(F, V4, V6)` groups by the network of the address in F, so F must be
an ip field of the source (schema type `ip`).

Example:

    group by ip_prefix(user.name, 32, 64) window 1d

Fix: name an ip field (`ip_prefix(source.ip, 32, 64)`), or group by the field itself."

    E0341 "`ip_prefix` length out of range"
    "The two lengths of `ip_prefix(F, V4, V6)` are how many leading bits of an address name its
network: V4 a whole number from 0 to 32 for IPv4 addresses, V6 from 0 to 128 for IPv6 ones.

Example:

    group by ip_prefix(source.ip, 64, 64) window 1d    # an IPv4 address has 32 bits

Fix: `ip_prefix(source.ip, 32, 64)` keeps IPv4 addresses whole and groups IPv6 ones by /64,
the network one home connection is given."

    E0401 "source not mapped on a target"
    "Compiling for a target needs the source's place there: an entry under `sources:` in that
target's mapping, with `search:` on Splunk, `table:` on Sentinel, `index:` and
`category:` on Elastic. The message names the rule, the target and what is missing.

Example (a `--mapping` file that adds a source to Sentinel):

    target: sentinel
    sources:
      my_source:
        table: MyTable_CL
        fields: { host.name: Computer }

Fix: add the source or the missing key to the target's mapping, or leave the target out
with `targets = [...]`."

    E0402 "field has no name on a target"
    "The field is declared in the schema, but the target's mapping gives it no name: the
source's `fields:` does not name it (nor its family), or maps it to `~` (no place on that
target). The rule cannot compile for that target; other targets are not affected, and a
converted Sigma rule is refused for that target only.

Example (a `--mapping` file):

    target: splunk
    sources:
      process_start:
        fields: { process.working_directory: process_current_directory }

Fix: map the field in the target's mapping, or leave the target out with `targets`."

    E0404 "form a target cannot express exactly"
    "A rule compiles for a target only when the query means exactly what the rule does. Splunk
refuses a sequence of more than two steps, or of two sources one of whose base searches
starts with `|` (`multisearch` cannot run it). KQL and EQL refuse a sequence whose steps
read two sources the mapping cannot tell apart (a table in common, or one event category
or `any`, and no filter that differs): a step could take the other source's events.
Elastic's EQL cannot compare a field with another field (`a == b`), so a sequence with such
a comparison is refused on Elastic (a single-event rule compiles to ES|QL only there);
Splunk refuses a comparison of two ip fields (SPL compares them as text, not as
addresses); Sentinel refuses a comparison of a property of a dynamic column, which may hold
an array that KQL reads as one JSON text. Elastic refuses an absence (`A  not B`): an EQL
rule cannot limit a run to the A events whose window has passed, and ES|QL cannot judge an
event against the later events of its key. A network key (`group by ip_prefix(...)`) is
refused on Splunk (no SPL function masks an IPv6 address), on Sentinel for a property of a
dynamic column (it may hold several addresses), and on Elastic for lengths whose result
ES|QL's IP_PREFIX can leave a byte of the previous row in (`32, 64` is exact) or when
`having` reads the key's field.

Example (three steps: refused on Splunk):

    sequence by host.name within 10m {
      usb_device where device.vendor.name contains \"PiKVM\"
      authentication where logon.type == \"interactive\"
      process_start where process.name == \"anydesk.exe\"
    }

Fix: follow the hint, or leave the target out with `targets = [...]`."

    E0405 "event category in the Elastic mapping is not a plain name"
    "The Elastic mapping gives a source an EQL event `category:` that is not a plain name
(letters, digits and `_`, not starting with a digit); detc writes the category unquoted
in `CATEGORY where ...`.

Example (a `--mapping` file):

    target: elastic
    sources:
      process_start:
        category: \"process start\"

Fix: set the source's ECS event category, e.g. `category: process`."

    E0406 "field name in the Splunk mapping cannot be written in SPL"
    "The Splunk mapping names a field that cannot be written where the SPL needs it: a `by`
field of `stats` or `streamstats` (the keys of an aggregation, sequence or first-seen rule)
must be a plain name (letters, digits, `_` and `.`, not starting with a digit), and a
field that `eval` or `where` reads cannot contain `'` or `\\`.

Example (a `--mapping` file, with `group by user.name` in a rule):

    target: splunk
    sources:
      authentication:
        fields: { user.name: \"user name\" }

Fix: map the field to a Splunk field with a plain name (one an add-on extracts, or one
computed by the source's `extend:`)."

    E0407 "column in the Sentinel mapping cannot name an alert field"
    "An alert field (`fields`, the default alert fields, or a `suppress_by` key) of a rule maps
to a Sentinel column that is not a plain name (letters, digits and `_`, not starting with
a digit), so it cannot name the alert's column. A property of a dynamic column (`a.b`),
and every key of a sequence, is renamed and does not need this.

Example (a `--mapping` file):

    target: sentinel
    sources:
      process_start:
        fields: { host.name: \"Device-Name\" }

Fix: map the field to a column with a plain name in the Sentinel mapping."

    E0500 "cannot read a file or folder"
    "A path named on the command line (or the default `detections/`) does not exist, or a file
or folder cannot be read (the message gives the system's reason); the same for `--schema`
and `--mapping` files. When it stops detc before any rule is checked (a named path, a
`--schema` or `--mapping` file), the exit status is 2, as for other usage errors.
`detc import sigma` refuses an unreadable file alone.

Fix: check the path and its permissions."

    E0501 "invalid schema or mapping file"
    "A schema (`--schema`) or mapping (`--mapping`) YAML file is not valid: a YAML
syntax error, an unknown key, a value of the wrong type (a field type other than string,
number, ip, boolean), or a field family written wrong (a `*` other than as a last `.*`
segment, a family pattern without exactly one `*`, an `enrichment` key naming no field of
the source, an `extend` column per member without `{*}`). YAML errors point at their line.

Example (a `--schema` file):

    sources:
      process_start:
        fields: { process.working_directory: text }

Fix: follow the format of `targets/*.yaml` and of the README."

    E0502 "unknown target in a mapping file"
    "A mapping file's `target:` names the target whose shipped mapping it overrides; it must
be splunk, sentinel or elastic.

Example (a `--mapping` file):

    target: qradar
    sources: { ... }

Fix: set `target:` to one of the three."

    E0503 "invalid detc.toml"
    "The project file `detc.toml` (found in the working directory or the nearest folder
above it, or named with `--config`) is not valid TOML, has a key detc does not know, a
value of the wrong type, or a target that is not splunk, sentinel or elastic. The
message points at the place; docs/CONFIG.md lists every key.

Example:

    targets = [\"splunk\"]
    mapping = [\"mappings/splunk.yaml\"]   # the key is `mappings`

Fix: correct the key or value the message names."

    E0504 "invalid versions lock"
    "The versions lock `detc.lock.json` (beside detc.toml, or `[package] lock`) is not the
JSON `detc package` writes: it was edited by hand or a merge left conflict markers in it.
It records each rule's deployed content hash and version per target (docs/PACKAGING.md,
Versions), so a broken one cannot say which versions to give.

Example:

    <<<<<<< HEAD
      \"version\": 2,

Fix: restore it from version control (or resolve the merge by taking the higher version),
or delete it to start every version at 1."

    E0505 "invalid idea catalog"
    "`catalog.toml` at the root of the rule tree lists the detection catalog's ideas that
rules name in `catalog = [...]`: one `[[idea]]` table per idea, with `id` (a capital
letter and a number, unique), `title`, and either `not_implemented` (why no rule can
implement it) or, optionally, `remaining` (what its rules leave out). The file is not
TOML of that shape.

Example:

    [[idea]]
    id = \"A1\"
    titel = \"Applicant contact reuse\"   # the key is `title`

Fix: correct the entry the message names."

    E0601 "schedule Splunk's cron cannot express"
    "A Splunk saved search runs on a cron schedule, which can run exactly every 1, 2, 3, 4, 5,
6, 10, 12, 15, 20 or 30 minutes, every 1, 2, 3, 4, 6, 8 or 12 hours, daily or weekly.
The rule's schedule is none of these: its `schedule`, or the form's default (5m for a
single-event rule, a quarter of the window but at least 5m for an aggregation, the
`within` of a sequence, 1h for first seen).

Example:

    schedule = 45m

Fix: pick a schedule from that list, or leave splunk out with `targets = [...]`."

    E0602 "rule breaks a Sentinel limit"
    "Sentinel's limits for scheduled rules: frequency (the schedule) and period (the time
searched) each from 5m to 14d, and period at least frequency; query at most 10,000
characters; title at most 256 and description at most 5,000 characters; 1 to 5 entities
from the alert fields (user.name, user.email: Account; host.name: Host; ip fields: IP;
url.full, url.original: URL; url.domain, destination.domain, dns.question.name: DNS); at
most 20 alert fields. Sentinel suppresses a whole rule, not repeats per key, so any
`suppress` is refused.

Example:

    schedule = 1m

Fix: change what the message names, or leave sentinel out with `targets = [...]`."

    E0603 "suppression of an EQL sequence on Elastic"
    "detc compiles a sequence to an EQL rule on Elastic, and Kibana does not suppress alerts of
EQL sequence rules, so a sequence rule with `suppress` cannot deploy to elastic.

Example:

    suppress = 1h
    sequence by host.name within 10m { ... }

Fix: remove `suppress`, or leave elastic out with `targets = [...]`."

    E0605 "tunable list test a target cannot read from the SIEM"
    "The rule tests a `tunable` list, which detc packages as an object the team edits in the
SIEM: a Sentinel watchlist, a Splunk CSV lookup, an Elastic value list (docs/PACKAGING.md,
Tunable lists). Compiling the list's values into a query would quietly ignore what the team
tunes, so a test the target cannot read from the SIEM is refused. Elastic reads a value
list only through a rule exception, which removes the events whose field is in the list:
so the one exact form is `not f in cased $LIST` as an operand of the top-level `and` of a
single-event rule compiled to EQL (a keyword value list matches exact case; Kibana filters
every step of a sequence with the rule's exceptions; ES|QL rules get none). The message
says which of these the test is not.

Example:

    list sanctioned_agents tunable = [\"agent.exe\"]
    rule r \"...\" { ... from process_start where not process.name in $sanctioned_agents }

Fix: on Elastic, write `not process.name in cased $sanctioned_agents` if the values are
exact; else leave elastic out with `targets = [splunk, sentinel]`, or drop `tunable` from
the list."

    E0610 "tunable list value a Splunk lookup file cannot hold"
    "A tunable list becomes a CSV lookup file on Splunk (docs/PACKAGING.md, Tunable lists): one
value a line, so a value holding a line break (`\\n`, `\\r`) cannot be one of its rows,
and the rule that tests the list cannot be packaged for Splunk.

Example:

    list sanctioned_agents tunable = [\"agent\\n.exe\"]

Fix: remove the line break from the list's values, or drop `tunable` from the list."

    E0611 "tunable list value a Kibana value list cannot hold"
    "A tunable list that a rule leaves to a Kibana rule exception becomes a value list
(docs/PACKAGING.md, Tunable lists), whose items Kibana requires to hold more than
whitespace (`value`: format `nonempty`, Kibana's Lists API), so a value of only spaces
cannot be one of its items and the rule cannot be packaged for Elastic.

Example:

    list sanctioned_agents tunable = [\"  \"]

Fix: remove the value from the list, or drop `tunable` from the list."

    E0700 "cannot convert a Sigma rule exactly"
    "A Sigma rule (`.yml`, `.yaml`) is refused when detc cannot give it the same meaning; the
message says why: invalid YAML, no `detection` or `condition`, status `unsupported`, a
logsource or field that `targets/sigma.yaml` does not map, keywords on a logsource without
a whole-text field, `fieldref`, an unordered `temporal` correlation, a regex outside the
portable subset, `expand` placeholders without values, ... One refusal per rule; the
file's other rules go on.

Example (Sigma, `logsource: {product: windows, category: process_creation}`):

    detection:
      keywords: ['mimikatz']
      condition: keywords

Fix: map the logsource or field in a `--sigma-mapping` file, keep Sigma's field names
with `--sigma-keep-names`, or write the rule as a `.det` rule."

    E0701 "field kept from Sigma rules with two types"
    "With `--sigma-keep-names`, a field the Sigma mapping does not know keeps its Sigma name
and is declared for its source, typed by its values (`cidr`: ip; `lt`, `lte`, `gt`,
`gte`: number; otherwise string). Two Sigma rules that keep the same field of one source
with different types cannot both hold; the message names the field, the source and the
two types.

Example: two rules of one logsource whose mapping does not know `MyPort`, one testing
`MyPort|gt: 1024` (number), the other `MyPort: 'http'` (string).

Fix: map the field to a detc field in a `--sigma-mapping` file, or declare it with its
type in a `--schema` file."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_listed_once_in_order_with_their_texts() {
        // Diagnostics sort by code (`diag::sort`): the variant order must be the id order.
        for pair in Code::ALL.windows(2) {
            assert!(
                pair[0].id() < pair[1].id(),
                "{} before {}",
                pair[0],
                pair[1]
            );
        }
        for c in Code::ALL {
            assert!(
                !c.title().is_empty() && !c.title().ends_with('.'),
                "{c} title"
            );
            assert!(c.explain().lines().count() >= 3, "{c} explain");
            assert_eq!(Code::parse(&c.id().to_lowercase()), Some(*c));
        }
    }
}
