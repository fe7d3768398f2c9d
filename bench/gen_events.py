#!/usr/bin/env python3
"""Generate NDJSON events for benchmarking `detc hunt` (Python stdlib only, seeded).

  gen_events.py OUT.ndjson --events N [--seed S] [--plant-every K] [--truth TRUTH.json]

Events look like the shipped library's sources (targets/schema.yaml): process starts,
outbound and inbound connections, DNS lookups, sign-ins, registry and file events, USB
devices, VPN sessions, proxy requests, mail, HR and payroll records, with ECS field names
plus the usual ECS housekeeping (`@timestamp`, `event.*`, `agent.*`, `ecs.version`).
Most events are nested ECS objects; about one in seven uses flat dotted keys, as some
pipelines write them.

Background events are built so that no shipped rule matches them. About one event in
K (default 500) is "planted": built to match one shipped rule (and, for two rules, a second
one: see ALSO). TRUTH.json maps each rule to the `event.id`s that must match it, so a run of
`detc hunt detections` can be checked to find exactly those events (bench/hunt_harness.py
verify).
"""

import argparse
import json
import random
import sys

HOSTS = [f"LT-{n:04d}" for n in range(1, 801)] + [f"srv-app-{n:02d}" for n in range(1, 41)]
USERS = [f"user{n:04d}" for n in range(1, 1201)]
UPNS = [f"{u}@example.com" for u in USERS]
# Process starts with their PE metadata, none of which a shipped rule matches.
PROCESSES = [
    ("chrome.exe", r"C:\Program Files\Google\Chrome\Application\chrome.exe", "Google Chrome", "Google LLC"),
    ("msedge.exe", r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe", "Microsoft Edge", "Microsoft Corporation"),
    ("svchost.exe", r"C:\Windows\System32\svchost.exe", "Microsoft Windows Operating System", "Microsoft Corporation"),
    ("explorer.exe", r"C:\Windows\explorer.exe", "Microsoft Windows Operating System", "Microsoft Corporation"),
    ("Teams.exe", r"C:\Users\Public\AppData\Local\Microsoft\Teams\current\Teams.exe", "Microsoft Teams", "Microsoft Corporation"),
    ("OUTLOOK.EXE", r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE", "Microsoft Outlook", "Microsoft Corporation"),
    ("powershell.exe", r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe", "Microsoft Windows Operating System", "Microsoft Corporation"),
    ("cmd.exe", r"C:\Windows\System32\cmd.exe", "Microsoft Windows Operating System", "Microsoft Corporation"),
    ("git.exe", r"C:\Program Files\Git\cmd\git.exe", "Git", "The Git Development Community"),
    ("Code.exe", r"C:\Users\Public\AppData\Local\Programs\Microsoft VS Code\Code.exe", "Visual Studio Code", "Microsoft Corporation"),
    ("python.exe", r"C:\Python312\python.exe", "Python", "Python Software Foundation"),
    ("slack.exe", r"C:\Users\Public\AppData\Local\slack\slack.exe", "Slack", "Slack Technologies, LLC"),
    ("zoom.exe", r"C:\Users\Public\AppData\Roaming\Zoom\bin\Zoom.exe", "Zoom", "Zoom Video Communications, Inc."),
    ("bash", "/usr/bin/bash", "", ""),
    ("ssh", "/usr/bin/ssh", "", ""),
]
COMMANDS = {
    "powershell.exe": ["powershell.exe -NoProfile -Command Get-Process", "powershell.exe -File C:\\scripts\\inventory.ps1",
                       "powershell.exe -Command Get-History | Select-Object -Last 5"],
    "cmd.exe": ["cmd.exe /c dir C:\\Users", "cmd.exe /c ipconfig /all", "cmd.exe /c echo build done"],
    "bash": ["bash -c 'ls -la ~'", "bash -lc 'history | tail -20'", "bash -c 'make -j4'"],
    "git.exe": ["git.exe fetch origin", "git.exe status --porcelain", "git.exe log --oneline -20"],
    "python.exe": ["python.exe -m pytest -q", "python.exe manage.py runserver"],
}
PARENTS = ["explorer.exe", "services.exe", "svchost.exe", "cmd.exe", "bash", "launchd"]
DOMAINS = ["www.google.com", "login.microsoftonline.com", "outlook.office365.com", "github.com",
           "api.github.com", "slack.com", "zoom.us", "update.googleapis.com", "cdn.jsdelivr.net",
           "registry.npmjs.org", "pypi.org", "ocsp.digicert.com", "teams.microsoft.com", "example.com"]
COUNTRIES = ["US", "US", "US", "US", "CA", "GB", "DE", "IN", "MX", "BR", "JP", "FR"]
CITIES = {"US": "Austin", "CA": "Toronto", "GB": "London", "DE": "Berlin", "IN": "Pune", "MX": "Monterrey",
          "BR": "Recife", "JP": "Osaka", "FR": "Lyon"}
ASNS = [(7922, "Comcast Cable Communications, LLC"), (701, "Verizon Business"), (20115, "Charter Communications"),
        (2856, "British Telecommunications PLC"), (3320, "Deutsche Telekom AG")]
LOGON_TYPES = ["Interactive", "RemoteInteractive", "Network", "Unlock", "CachedInteractive"]
USER_AGENTS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
               "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15",
               "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328)"]
REG_KEYS = [r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Run",
            r"HKU\S-1-5-21-1111111111-2222222222-3333333333-1001\Software\Microsoft\Office\16.0\Common",
            r"HKU\S-1-5-21-1111111111-2222222222-3333333333-1001\Keyboard Layout\Preload",
            r"HKLM\SYSTEM\CurrentControlSet\Services\bam\State\UserSettings"]
FILES = [("report.docx", r"C:\Users\{u}\Documents\report.docx"), ("notes.txt", r"C:\Users\{u}\Desktop\notes.txt"),
         ("Login Data", r"C:\Users\{u}\AppData\Local\Google\Chrome\User Data\Default\Login Data"),
         (".bash_history", "/home/{u}/.bash_history"), ("main.py", "/home/{u}/src/app/main.py"),
         ("Cookies", r"C:\Users\{u}\AppData\Local\Microsoft\Edge\User Data\Default\Network\Cookies")]
USB = [("USB\\VID_046D&PID_C52B\\6&2BD3C1A2&0&2", "046d", "c52b", "Logitech", "USB Receiver", "HIDClass"),
       ("USB\\VID_05AC&PID_024F\\5&1A2B3C&0&1", "05ac", "024f", "Apple Inc.", "Magic Keyboard", "Keyboard"),
       ("USB\\VID_0781&PID_5583\\4C530001", "0781", "5583", "SanDisk", "Ultra Fit", "DiskDrive"),
       ("DISPLAY\\DELA0B1\\5&2F1A0B9&0&UID4352", "", "", "Dell", "Generic PnP Monitor", "Monitor"),
       ("USB\\VID_1D6B&PID_0002\\5&1A2B3C&0&1", "1d6b", "0002", "Linux Foundation", "USB Root Hub", "USB")]


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.n = 0

    def pick(self, xs):
        return xs[self.r.randrange(len(xs))]

    def private_ip(self):
        return f"10.{self.r.randrange(256)}.{self.r.randrange(256)}.{self.r.randrange(1, 255)}"

    def public_ip(self):
        # Documentation and ordinary provider ranges: never 175.45.176.0/22 or a listed VPN IP.
        a = self.pick([73, 98, 24, 81, 86, 203, 198])
        return f"{a}.{self.r.randrange(256)}.{self.r.randrange(256)}.{self.r.randrange(1, 255)}"

    def base(self, category, etype, action, dataset):
        self.n += 1
        ms = self.n * 37
        return {
            "@timestamp": f"2026-11-{1 + (ms // 86_400_000) % 28:02d}T{(ms // 3_600_000) % 24:02d}:"
                          f"{(ms // 60_000) % 60:02d}:{(ms // 1000) % 60:02d}.{ms % 1000:03d}Z",
            "ecs": {"version": "8.11.0"},
            "event": {"id": f"{self.n:012x}", "kind": "event", "category": [category], "type": [etype],
                      "action": action, "dataset": dataset},
            "agent": {"type": "endpoint", "version": "8.15.1"},
        }

    # ---- background events: no shipped rule matches these ----
    def process_start(self):
        e = self.base("process", "start", "exec", "endpoint.events.process")
        name, exe, product, company = self.pick(PROCESSES)
        e["process"] = {
            "name": name, "executable": exe, "pid": self.r.randrange(100, 65000),
            "command_line": self.pick(COMMANDS.get(name, [f'"{exe}"'])),
            "parent": {"name": self.pick(PARENTS), "pid": self.r.randrange(100, 65000)},
            "pe": {"original_file_name": name, "product": product, "company": company},
            "hash": {"sha256": f"{self.r.getrandbits(256):064x}"},
        }
        e["user"] = {"name": self.pick(USERS)}
        e["host"] = {"name": self.pick(HOSTS), "os": {"type": "windows"}}
        return e

    def network_connection(self):
        e = self.base("network", "connection", "connection_attempted", "endpoint.events.network")
        e["source"] = {"ip": self.private_ip(), "port": self.r.randrange(49152, 65535)}
        e["destination"] = {"ip": self.public_ip(), "port": self.pick([443, 443, 443, 80, 22, 53, 8443]),
                            "domain": self.pick(DOMAINS)}
        e["network"] = {"transport": "tcp", "direction": "egress"}
        name, exe, _, _ = self.pick(PROCESSES)
        e["process"] = {"name": name, "executable": exe, "pid": self.r.randrange(100, 65000)}
        e["user"] = {"name": self.pick(USERS)}
        e["host"] = {"name": self.pick(HOSTS)}
        return e

    def inbound_connection(self):
        e = self.base("network", "connection", "connection_accepted", "endpoint.events.network")
        # RDP only from the corporate network; other ports from anywhere.
        port = self.pick([3389, 445, 22, 5985])
        src = self.private_ip() if port == 3389 else self.public_ip()
        e["source"] = {"ip": src, "port": self.r.randrange(49152, 65535)}
        e["destination"] = {"ip": self.private_ip(), "port": port}
        e["network"] = {"transport": "tcp", "direction": "ingress"}
        e["process"] = {"name": "svchost.exe"}
        e["host"] = {"name": self.pick(HOSTS)}
        return e

    def dns_query(self):
        e = self.base("network", "protocol", "lookup_requested", "endpoint.events.network")
        e["dns"] = {"question": {"name": self.pick(DOMAINS), "type": "A"}}
        name, exe, _, _ = self.pick(PROCESSES)
        e["process"] = {"name": name, "executable": exe}
        e["host"] = {"name": self.pick(HOSTS)}
        e["user"] = {"name": self.pick(USERS)}
        return e

    def authentication(self):
        e = self.base("authentication", "start", "sign_in", "azure.signinlogs")
        c = self.pick(COUNTRIES)
        asn, org = self.pick(ASNS)
        e["event"]["outcome"] = self.pick(["success", "success", "success", "failure"])
        e["user"] = {"name": self.pick(UPNS)}
        e["source"] = {"ip": self.public_ip(), "geo": {"country_iso_code": c, "city_name": CITIES.get(c, "Springfield")},
                       "as": {"number": asn, "organization": {"name": org}}}
        e["logon"] = {"type": self.pick(LOGON_TYPES)}
        e["user_agent"] = {"original": self.pick(USER_AGENTS)}
        e["host"] = {"name": self.pick(HOSTS)}
        return e

    def registry_change(self):
        e = self.base("registry", "change", "modification", "endpoint.events.registry")
        key = self.pick(REG_KEYS)
        value = self.pick(["1", "OneDrive", "LastUsed", "Version"])
        e["registry"] = {"key": key, "value": value, "path": f"{key}\\{value}",
                         "data": {"strings": [self.pick(["00000409", "00000809", "C:\\Program Files\\x.exe", "16.0"])]}}
        e["process"] = {"name": self.pick(["explorer.exe", "svchost.exe", "OneDrive.exe"])}
        e["host"] = {"name": self.pick(HOSTS)}
        e["user"] = {"name": self.pick(USERS)}
        return e

    def file_event(self):
        e = self.base("file", "change", self.pick(["creation", "modification", "overwrite"]), "endpoint.events.file")
        u = self.pick(USERS)
        fname, path = self.pick(FILES)
        # Only browsers touch their own credential stores in the background.
        proc = self.pick(["chrome.exe", "msedge.exe"]) if fname in ("Login Data", "Cookies") \
            else self.pick(["explorer.exe", "Code.exe", "WINWORD.EXE", "bash"])
        e["file"] = {"name": fname, "path": path.format(u=u), "extension": fname.rsplit(".", 1)[-1]}
        e["process"] = {"name": proc, "executable": f"C:\\Program Files\\{proc}"}
        e["host"] = {"name": self.pick(HOSTS)}
        e["user"] = {"name": u}
        return e

    def usb_device(self):
        # Windows Security event 6416 as the System integration's pipeline writes it
        # (elastic/integrations@269a41a7, test-6416.json-expected.json): category process.
        e = self.base("process", "info", "new-external-device-recognized-by-system", "system.security")
        e["event"]["code"] = "6416"
        did, vid, pid, vendor, product, dtype = self.pick(USB)
        e["device"] = {"id": did, "vendor": {"id": vid, "name": vendor}, "product": {"id": pid, "name": product},
                       "serial_number": f"{self.r.getrandbits(40):010X}", "type": dtype}
        e["host"] = {"name": self.pick(HOSTS)}
        return e

    def vpn_session(self):
        e = self.base("session", "start", "session_start", "vpn.gateway")
        e["user"] = {"name": self.pick(USERS)}
        e["source"] = {"ip": self.public_ip(), "nat": {"ip": self.private_ip()},
                       "geo": {"country_iso_code": self.pick(COUNTRIES)}}
        e["host"] = {"name": "vpn-gw-01"}
        return e

    def web_request(self):
        e = self.base("web", "access", "allowed", "proxy.access")
        d = self.pick(DOMAINS)
        e["url"] = {"domain": d, "full": f"https://{d}/{self.r.getrandbits(32):08x}"}
        e["http"] = {"request": {"method": self.pick(["GET", "GET", "POST"]), "bytes": self.r.randrange(200, 90000)}}
        e["user_agent"] = {"original": self.pick(USER_AGENTS)}
        e["user"] = {"name": self.pick(USERS)}
        e["source"] = {"ip": self.private_ip()}
        return e

    def mail_event(self):
        e = self.base("email", "info", "delivered", "m365.messagetrace")
        e["email"] = {"from": {"address": f"{self.pick(USERS)}@example.com"}, "to": {"address": self.pick(UPNS)},
                      "subject": self.pick(["Weekly sync", "Invoice 4411", "Re: onboarding", "PTO request"]),
                      "direction": self.pick(["inbound", "internal", "outbound"])}
        e["source"] = {"ip": self.public_ip()}
        return e

    def hr_record(self):
        e = self.base("iam", "change", self.pick(["hire", "title_changed", "manager_changed", "ship_to_changed"]),
                      "hris.audit")
        e["user"] = {"name": self.pick(UPNS)}
        e["hr"] = {"work_country_iso_code": "US", "tenure_days": self.r.randrange(-10, 2000),
                   "ship_to": {"postal_code": f"{self.r.randrange(10000, 99999)}", "country_iso_code": "US",
                               "address_hash": f"{self.r.getrandbits(64):016x}", "matches_home": True}}
        return e

    def payroll_change(self):
        e = self.base("iam", "change", self.pick(["bank_account_changed", "address_changed", "tax_withholding_changed"]),
                      "payroll.audit")
        e["user"] = {"name": self.pick(UPNS)}
        e["payroll"] = {"bank": {"name": self.pick(["Chase", "Wells Fargo", "Bank of America", "Ally Bank"]),
                                 "country_iso_code": "US"},
                        "bank_account": {"hash": f"{self.r.getrandbits(64):016x}"}}
        e["hr"] = {"tenure_days": self.r.randrange(-10, 2000)}
        e["source"] = {"ip": self.public_ip()}
        return e

    # ---- planted events: each matches exactly one shipped rule ----
    def planted(self, rule):
        r = self.r
        if rule == "rmm_tool_started":
            e = self.process_start()
            e["process"].update(name=self.pick(["AnyDesk.exe", "TeamViewer_Service.exe", "rustdesk-1.2.exe"]),
                                command_line="--service")
            e["process"]["pe"] = {"original_file_name": e["process"]["name"], "product": "", "company": ""}
        elif rule == "tunnel_tool_started":
            e = self.process_start()
            e["process"].update(name="cloudflared.exe", command_line='cloudflared.exe tunnel run office')
            e["process"]["pe"] = {"original_file_name": "cloudflared.exe", "product": "cloudflared", "company": "Cloudflare"}
        elif rule == "astrill_vpn_client_started":
            e = self.process_start()
            e["process"].update(name="vpnclient.exe", command_line="vpnclient.exe")
            e["process"]["pe"] = {"original_file_name": "vpnclient.exe", "product": "Astrill VPN", "company": "Astrill Systems Corp."}
        elif rule == "mouse_jiggler_started":
            e = self.process_start()
            e["process"].update(name="MouseJiggler.exe", command_line="MouseJiggler.exe -z")
            e["process"]["pe"] = {"original_file_name": "MouseJiggler.exe", "product": "Mouse Jiggler", "company": "Arkane Systems"}
        elif rule == "chrome_remote_desktop_headless_registration":
            e = self.process_start()
            e["process"].update(name="rsh.exe", command_line='rsh.exe --pin=123456')
            e["process"]["pe"] = {"original_file_name": "remoting_start_host.exe", "product": "Chrome Remote Desktop", "company": "Google LLC"}
        elif rule == "shell_history_cleared_by_command":
            e = self.process_start()
            e["process"].update(name="bash", command_line="bash -c 'unset HISTFILE; history -c'")
        elif rule == "astrill_vpn_domain_lookup":
            e = self.dns_query()
            e["dns"]["question"]["name"] = self.pick(["www.astrill.com", "astrill.com", "api.ASTRILL.com"])
        elif rule == "rmm_relay_dns_from_non_browser":
            e = self.dns_query()
            e["dns"]["question"]["name"] = self.pick(["relay-4a1b.net.anydesk.com", "router1.teamviewer.com"])
            e["process"] = {"name": "rundll32.exe", "executable": r"C:\Windows\System32\rundll32.exe"}
        elif rule == "inbound_rdp_from_internet":
            e = self.inbound_connection()
            e["source"]["ip"] = self.public_ip()
            e["destination"]["port"] = 3389
        elif rule == "signin_from_high_risk_country":
            e = self.authentication()
            e["event"]["outcome"] = "success"
            e["source"]["geo"] = {"country_iso_code": self.pick(["CN", "RU", "KP"]), "city_name": "Shenyang"}
        elif rule == "signin_from_reported_itw_vpn_ip":
            e = self.authentication()
            e["source"]["ip"] = self.pick(["142.214.202.2", "155.94.199.59"])
        elif rule == "vpn_session_from_high_risk_country":
            e = self.vpn_session()
            e["source"]["geo"]["country_iso_code"] = self.pick(["CN", "RU"])
        elif rule == "korean_keyboard_layout_added":
            e = self.registry_change()
            key = r"HKU\S-1-5-21-1111111111-2222222222-3333333333-1001\Keyboard Layout\Preload"
            e["registry"] = {"key": key, "value": "2", "path": key + r"\2", "data": {"strings": ["00000412"]}}
        elif rule == "browser_credential_store_read_by_non_browser":
            e = self.file_event()
            u = self.pick(USERS)
            e["file"] = {"name": "Login Data", "path": rf"C:\Users\{u}\AppData\Local\Google\Chrome\User Data\Default\Login Data"}
            e["process"] = {"name": "stealer.exe", "executable": rf"C:\Users\{u}\AppData\Local\Temp\stealer.exe"}
        elif rule == "shell_history_file_deleted":
            e = self.file_event()
            e["event"]["action"] = "deletion"
            e["file"] = {"name": ".zsh_history", "path": f"/Users/{self.pick(USERS)}/.zsh_history"}
        elif rule == "ipkvm_usb_gadget_connected":
            e = self.usb_device()
            e["device"].update(id="USB\\VID_1D6B&PID_0104\\CAFEBABE", type="USB")
            e["device"]["vendor"] = {"id": "1d6b", "name": "PiKVM"}
            e["device"]["product"] = {"id": "0104", "name": "Composite KVM Device"}
        elif rule == "ipkvm_virtual_monitor_connected":
            e = self.usb_device()
            e["device"].update(id="DISPLAY\\LNX7770\\5&2F1A0B9&0&UID4352", type="Monitor", serial_number="0")
            e["device"]["vendor"] = {"id": "", "name": "(Standard monitor types)"}
            e["device"]["product"] = {"id": "", "name": "Generic PnP Monitor"}
        elif rule == "identity_owner_complaint":
            e = self.hr_record()
            e["event"]["action"] = "w2_dispute"
        elif rule == "laptop_ship_to_not_home_address":
            e = self.hr_record()
            e["event"]["action"] = "ship_to_changed"
            e["hr"]["ship_to"]["matches_home"] = False
            e["hr"]["tenure_days"] = r.randrange(-20, 31)
        elif rule == "direct_deposit_changed_to_payment_platform":
            e = self.payroll_change()
            e["event"]["action"] = "bank_account_changed"
            e["payroll"]["bank"] = {"name": "Payoneer Inc.", "country_iso_code": "US"}
            e["hr"]["tenure_days"] = r.randrange(0, 31)
        else:
            raise SystemExit(f"gen_events: no planted event for rule {rule}")
        e.setdefault("labels", {})["planted"] = rule
        return e


RULES = ["rmm_tool_started", "tunnel_tool_started", "astrill_vpn_client_started", "mouse_jiggler_started",
         "chrome_remote_desktop_headless_registration", "shell_history_cleared_by_command",
         "astrill_vpn_domain_lookup", "rmm_relay_dns_from_non_browser", "inbound_rdp_from_internet",
         "signin_from_high_risk_country", "signin_from_reported_itw_vpn_ip", "vpn_session_from_high_risk_country",
         "korean_keyboard_layout_added", "browser_credential_store_read_by_non_browser", "shell_history_file_deleted",
         "ipkvm_usb_gadget_connected", "ipkvm_virtual_monitor_connected", "identity_owner_complaint",
         "laptop_ship_to_not_home_address", "direct_deposit_changed_to_payment_platform"]

# Planted events that other rules of the same source match too: a headless Chrome Remote
# Desktop enrolment is also an RMM tool start. (detc hunt gives an ECS event only to the
# rules of the source its event.category and the Elastic mapping's filters name.)
ALSO = {"chrome_remote_desktop_headless_registration": ["rmm_tool_started"]}

# Source mix, by weight: endpoints dominate real telemetry.
MIX = [("process_start", 30), ("network_connection", 20), ("dns_query", 16), ("file_event", 10),
       ("authentication", 8), ("registry_change", 5), ("web_request", 4), ("inbound_connection", 2),
       ("usb_device", 1), ("vpn_session", 2), ("mail_event", 1), ("hr_record", 0.5), ("payroll_change", 0.5)]


def flatten(obj, prefix=""):
    out = {}
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--plant-every", type=int, default=500)
    ap.add_argument("--truth", help="write {rule: [event.id, ...]} of the planted events here")
    args = ap.parse_args()
    g = Gen(args.seed)
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    truth = {r: [] for r in RULES}
    nbytes = 0
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        batch = []
        for i in range(args.events):
            if g.r.randrange(args.plant_every) == 0:
                rule = RULES[g.r.randrange(len(RULES))]
                e = g.planted(rule)
                for r in [rule] + ALSO.get(rule, []):
                    truth[r].append(e["event"]["id"])
            else:
                e = getattr(g, g.r.choices(kinds, weights)[0])()
            if g.r.randrange(7) == 0:
                e = flatten(e)
            line = json.dumps(e, separators=(",", ":"), ensure_ascii=False)
            nbytes += len(line) + 1
            batch.append(line)
            if len(batch) == 10_000:
                f.write("\n".join(batch) + "\n")
                batch.clear()
        if batch:
            f.write("\n".join(batch) + "\n")
    if args.truth:
        with open(args.truth, "w", encoding="utf-8") as f:
            json.dump(truth, f)
    planted = len({i for v in truth.values() for i in v})
    print(f"gen_events: {args.events:,} events ({nbytes / 1e6:.0f} MB), {planted:,} planted for "
          f"{sum(1 for v in truth.values() if v)} rules", file=sys.stderr)


if __name__ == "__main__":
    main()
