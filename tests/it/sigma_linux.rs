//! Sigma keyword searches and the Linux, network and application logsources
//! (targets/sigma.yaml "Linux, network and applications"): conversion, evaluation, and
//! the query each target gets.

use crate::common;
use crate::common::sigma::{hits, query, rule_text, rule_with};
use detc::ir;
use detc::lower::Language;
use detc::sigma::{Options, Reason};
use detc::targets::TargetName;
use serde_json::json;

fn rule(logsource: &str, detection: &str) -> ir::Rule {
    rule_with(&rule_text(logsource, detection), &Options::default())
}

fn refused(logsource: &str, detection: &str) -> String {
    common::sigma::refused_with(&rule_text(logsource, detection), &Options::default())
}

fn spl(r: &ir::Rule) -> Result<String, String> {
    query(r, TargetName::Splunk, Language::Spl)
}
fn kql(r: &ir::Rule) -> Result<String, String> {
    query(r, TargetName::Sentinel, Language::Kql)
}
fn eql(r: &ir::Rule) -> Result<String, String> {
    query(r, TargetName::Elastic, Language::Eql)
}
fn esql(r: &ir::Rule) -> Result<String, String> {
    query(r, TargetName::Elastic, Language::Esql)
}

const LINUX: &str = "  product: linux";

#[test]
fn keywords_are_substrings_of_the_whole_text() {
    let r = rule(
        LINUX,
        r"
  keywords:
    - 'rm -rf /var/log'
    - 'Trojan*FOUND'
    - 4294967295
  filter:
    - '/syslog.'
  condition: keywords and not filter
",
    );
    let ev = |m: &str| json!({"message": m});
    assert!(hits(&r, ev("sudo: jdoe : COMMAND=/bin/RM -RF /var/log/x")));
    assert!(hits(&r, ev("clamd: /tmp/x: Trojan.Agent FOUND")));
    assert!(hits(&r, ev("auid=4294967295 ses=1")));
    assert!(!hits(&r, ev("rm -rf /var/log/syslog.1")));
    assert!(!hits(&r, ev("rm -r /var/log")));
    assert!(!hits(&r, json!({"process": {"name": "rm -rf /var/log"}})));
}

#[test]
fn keywords_under_all_are_and_and_regexes_are_unanchored() {
    let r = rule(
        LINUX,
        r"
  kw:
    '|all':
      - 'pkexec'
      - 'XAUTH'
  rx:
    '|re':
      - 'GID=(0|10),'
  condition: kw or rx
",
    );
    let ev = |m: &str| json!({"message": m});
    assert!(hits(
        &r,
        ev("pkexec: The value for environment variable XAUTHORITY")
    ));
    assert!(!hits(&r, ev("pkexec: nothing else")));
    assert!(hits(
        &r,
        ev("useradd[1]: new user: name=x, UID=0, GID=10, home=/root")
    ));
    assert!(!hits(
        &r,
        ev("useradd[1]: new user: name=x, UID=0, GID=100, home=/root")
    ));
}

#[test]
fn keywords_without_a_whole_text_field_are_refused_with_the_reason() {
    let win = "  product: windows\n  category: process_creation";
    assert_eq!(
        refused(win, "  k:\n    - 'evil'\n  condition: k\n"),
        Reason::Keywords.to_string()
    );
    assert!(
        refused(
            win,
            "  k:\n    '|all':\n      - a\n      - b\n  condition: k\n"
        )
        .contains("keyword searches")
    );
    assert!(refused(LINUX, "  k:\n    - ''\n  condition: k\n").contains("empty keyword"));
    assert!(
        refused(
            LINUX,
            "  k:\n    '|cidr':\n      - 10.0.0.0/8\n  condition: k\n"
        )
        .contains("does not apply to a keyword")
    );
    assert!(refused(LINUX, "  k: []\n  condition: k\n").contains("empty list"));
}

#[test]
fn product_linux_alone_is_syslog_and_other_linux_services_are_not() {
    let r = rule(LINUX, "  k:\n    - 'x'\n  condition: k\n");
    assert_eq!(r.kind.queries()[0].source, "syslog");
    assert!(
        refused(
            "  product: linux\n  service: cron",
            "  k:\n    - 'x'\n  condition: k\n"
        )
        .contains("logsource linux/cron has no detc mapping")
    );
    let r = rule(
        "  product: linux\n  service: sshd",
        "  k:\n    - 'Corrupted MAC on input'\n  condition: k\n",
    );
    assert_eq!(
        kql(&r).unwrap(),
        "Syslog\n| where ProcessName == \"sshd\"\n| where SyslogMessage contains \"Corrupted MAC on input\""
    );
    assert_eq!(
        spl(&r).unwrap(),
        "(sourcetype=syslog OR sourcetype=linux_secure) process=sshd _raw=\"*Corrupted MAC on input*\""
    );
    assert!(
        eql(&r)
            .unwrap()
            .contains("stringContains~(message, \"Corrupted MAC on input\")")
    );
}

#[test]
fn syslog_keywords_per_target() {
    let r = rule(
        LINUX,
        "  k:\n    - 'stack smashing detected'\n  condition: k\n",
    );
    assert_eq!(
        spl(&r).unwrap(),
        "(sourcetype=syslog OR sourcetype=linux_secure) _raw=\"*stack smashing detected*\""
    );
    assert_eq!(
        kql(&r).unwrap(),
        "Syslog\n| where SyslogMessage contains \"stack smashing detected\""
    );
    assert!(
        esql(&r)
            .unwrap()
            .starts_with("FROM logs-system.syslog-*,logs-system.auth-* METADATA _id, _version, _index\n| WHERE message RLIKE")
    );
}

const AUDITD: &str = "  product: linux\n  service: auditd";

#[test]
fn auditd_records_by_their_own_field_names() {
    let r = rule(
        AUDITD,
        r"
  selection:
    type: 'EXECVE'
    a0: 'chattr'
    a1|contains: '-i'
  condition: selection
",
    );
    assert!(hits(
        &r,
        json!({"auditd": {"log": {"record_type": "EXECVE", "a0": "chattr", "a1": "-i"}}})
    ));
    assert_eq!(
        spl(&r).unwrap(),
        "sourcetype=\"linux:audit\" a0=\"chattr\" a1=\"*-i*\" type=\"EXECVE\""
    );
    let k = kql(&r).unwrap();
    assert!(k.starts_with("LinuxAudit_CL\n| extend AuditA0 = extract(@'(?:^|[\\s\\x27\\x1d])a0=\"?([^\"\\s]*)', 1, RawData)"), "{k}");
    assert!(
        k.ends_with(
            "| where AuditA0 =~ \"chattr\" and AuditA1 contains \"-i\" and AuditType =~ \"EXECVE\""
        ),
        "{k}"
    );
    // Elastic's pipeline moves EXECVE arguments into process.args: no field per position.
    assert!(eql(&r).unwrap_err().contains("auditd.log.a0"));

    let r = rule(
        AUDITD,
        r"
  selection:
    type: 'PATH'
    name: '/etc/ld.so.preload'
    exe|endswith: '/vi'
  condition: selection
",
    );
    assert_eq!(
        eql(&r).unwrap(),
        "any where endsWith~(process.executable, \"/vi\") and auditd.log.name in~ (\"/etc/ld.so.preload\") and event.action in~ (\"PATH\")"
    );
    assert!(spl(&r).unwrap().contains("exe=\"*/vi\""));
}

#[test]
fn auditd_keywords_read_the_whole_record() {
    let r = rule(AUDITD, "  k:\n    - '--to-ports 42'\n  condition: k\n");
    assert_eq!(
        spl(&r).unwrap(),
        "sourcetype=\"linux:audit\" _raw=\"*--to-ports 42*\""
    );
    assert!(
        kql(&r)
            .unwrap()
            .ends_with("| where RawData contains \"--to-ports 42\"")
    );
    // Elastic keeps the raw record unindexed (event.original): refused there.
    assert!(eql(&r).unwrap_err().contains("event.original"));
}

#[test]
fn opencanary_and_rpc_firewall() {
    let r = rule(
        "  category: application\n  product: opencanary",
        "  selection:\n    logtype: 2000\n  condition: selection\n",
    );
    assert_eq!(
        spl(&r).unwrap(),
        "sourcetype=opencanary | where 'logtype'==2000"
    );
    assert_eq!(kql(&r).unwrap(), "OpenCanary_CL\n| where logtype == 2000");
    assert_eq!(eql(&r).unwrap(), "any where opencanary.logtype == 2000");

    // EventLog and EventID are what the source holds: they drop out.
    let r = rule(
        "  category: application\n  product: rpc_firewall",
        r"
  selection:
    EventLog: RPCFW
    EventID: 3
    InterfaceUuid: 367abb81-9844-35f1-ad32-98f038001003
    OpNum: 12
  condition: selection
",
    );
    assert_eq!(
        eql(&r).unwrap(),
        "any where event.code == \"3\" and winlog.channel == \"RPCFW\" and (winlog.event_data.param7 in~ (\"367abb81-9844-35f1-ad32-98f038001003\") and winlog.event_data.param8 in~ (\"12\"))"
    );
    assert!(spl(&r).unwrap().ends_with(
        "| search rpcfw_interface_uuid=\"367abb81-9844-35f1-ad32-98f038001003\" rpcfw_opnum=\"12\""
    ));
    assert!(
        kql(&r)
            .unwrap()
            .ends_with("| where RpcInterfaceUuid =~ \"367abb81-9844-35f1-ad32-98f038001003\" and RpcOpNum =~ \"12\"")
    );
}

#[test]
fn dns_category_uses_resolver_logs() {
    let r = rule(
        "  category: dns",
        "  selection:\n    query: 'api.telegram.org'\n    record_type: TXT\n  condition: selection\n",
    );
    assert_eq!(
        spl(&r).unwrap(),
        "tag=network tag=resolution tag=dns query=\"api.telegram.org\" record_type=\"TXT\""
    );
    assert_eq!(
        kql(&r).unwrap(),
        "ASimDnsActivityLogs\n| where DnsQuery =~ \"api.telegram.org\" and DnsQueryTypeName =~ \"TXT\""
    );
    assert!(
        eql(&r)
            .unwrap()
            .starts_with("network where dns.question.name in~")
    );
}

#[test]
fn zeek_logs() {
    let http = "  product: zeek\n  service: http";
    let r = rule(
        http,
        r"
  selection:
    status_code: 200
    uri: /wsman
    method: POST
  condition: selection
",
    );
    assert_eq!(
        kql(&r).unwrap(),
        "ZeekHttp_CL\n| where method =~ \"POST\" and status_code == 200 and uri =~ \"/wsman\""
    );
    assert_eq!(
        eql(&r).unwrap(),
        "network where http.request.method in~ (\"POST\") and http.response.status_code == 200 and url.original in~ (\"/wsman\")"
    );
    // Zeek's list fields are mapped on Elastic only.
    let r = rule(
        http,
        "  selection:\n    resp_mime_types|contains: 'dosexec'\n  condition: selection\n",
    );
    assert!(spl(&r).unwrap_err().contains("zeek.http.resp_mime_types"));
    assert!(kql(&r).unwrap_err().contains("zeek.http.resp_mime_types"));
    assert!(eql(&r).is_ok());

    let r = rule(
        "  product: zeek\n  service: smb_files",
        "  selection:\n    name: atsvc\n  k:\n    - samr\n  condition: selection and not k\n",
    );
    assert_eq!(
        spl(&r).unwrap(),
        "sourcetype=\"bro:smb_files:json\" name=\"atsvc\" NOT _raw=\"*samr*\""
    );
    assert!(kql(&r).unwrap_err().contains("event.original"));
}

#[test]
fn fortigate_antivirus_and_application_logs() {
    let r = rule(
        "  product: fortigate\n  service: event",
        "  selection:\n    action: Add\n    cfgpath: system.admin\n  condition: selection\n",
    );
    assert_eq!(
        kql(&r).unwrap(),
        "CommonSecurityLog\n| where DeviceProduct == \"Fortigate\"\n| where DeviceVendor == \"Fortinet\"\n| extend FortiCfgPath = extract(@'(?:^|;)(?:FTNTFGT|FortinetFortiGate)cfgpath=([^;]*)', 1, AdditionalExtensions)\n| where DeviceAction =~ \"Add\" and FortiCfgPath =~ \"system.admin\""
    );
    assert_eq!(
        spl(&r).unwrap(),
        "sourcetype=fortigate_event action=\"Add\" cfgpath=\"system.admin\""
    );

    let r = rule(
        "  category: antivirus",
        "  selection:\n    Signature|startswith: 'HTool'\n  condition: selection\n",
    );
    assert_eq!(
        spl(&r).unwrap(),
        "tag=malware tag=attack signature=\"HTool*\""
    );
    assert!(
        kql(&r)
            .unwrap()
            .contains("tostring(AdditionalFields.ThreatName) startswith \"HTool\"")
    );
    assert_eq!(
        eql(&r).unwrap(),
        "file where event.code == \"malicious_file\" and (startsWith~(file.Ext.malware_signature.primary.signature.name, \"HTool\"))"
    );

    let r = rule(
        "  category: application\n  product: jvm",
        "  k:\n    - 'com.sun.jndi.ldap.'\n  condition: k\n",
    );
    assert_eq!(
        kql(&r).unwrap(),
        "JvmApplicationLog_CL\n| where RawData contains \"com.sun.jndi.ldap.\""
    );
    assert_eq!(
        spl(&r).unwrap(),
        "sourcetype=\"jvm:application\" _raw=\"*com.sun.jndi.ldap.*\""
    );
}

#[test]
fn web_keywords_need_the_raw_line() {
    let r = rule(
        "  category: webserver",
        "  k:\n    - '${jndi:ldap:'\n  condition: k\n",
    );
    assert_eq!(spl(&r).unwrap(), "tag=web _raw=\"*${jndi:ldap:*\"");
    assert!(kql(&r).unwrap_err().contains("event.original"));
    assert!(eql(&r).unwrap_err().contains("event.original"));
}

#[test]
fn firewall_and_more_zeek_logs() {
    let r = rule(
        "  category: firewall",
        "  selection:\n    - dst_ip: 69.42.98.86\n    - src_ip: 69.42.98.86\n  condition: selection\n",
    );
    assert_eq!(
        kql(&r).unwrap(),
        "CommonSecurityLog\n| where ipv4_is_in_any_range(DestinationIP, \"69.42.98.86/32\") or ipv4_is_in_any_range(SourceIP, \"69.42.98.86/32\")"
    );
    assert!(
        eql(&r)
            .unwrap()
            .starts_with("network where observer.type == \"firewall\"")
    );
    // Vendor words: refused with the reason.
    assert!(
        refused(
            "  category: firewall",
            "  s:\n    action: accept\n  condition: s\n"
        )
        .contains("field `action` of logsource firewall has no detc mapping")
    );

    let r = rule(
        "  product: zeek\n  service: kerberos",
        "  s:\n    request_type: TGS\n    cipher: rc4-hmac\n  f:\n    service|startswith: '$'\n  condition: s and not f\n",
    );
    assert_eq!(
        spl(&r).unwrap(),
        "sourcetype=\"bro:kerberos:json\" cipher=\"rc4-hmac\" request_type=\"TGS\" NOT service=\"$*\""
    );
    assert!(
        eql(&r)
            .unwrap()
            .contains("zeek.kerberos.cipher in~ (\"rc4-hmac\")")
    );
}

#[test]
fn proxy_url_parts_status_cookie_and_destination() {
    let proxy = "  category: proxy";
    let r = rule(
        proxy,
        r"
  selection:
    cs-method: GET
    cs-uri-stem: '/+CSCOL+/csvrloader.jar'
    sc-status: 200
  condition: selection
",
    );
    assert_eq!(
        spl(&r).unwrap(),
        "tag=web http_method=\"GET\" uri_path=\"/+CSCOL+/csvrloader.jar\" | where 'status'==200"
    );
    assert_eq!(
        eql(&r).unwrap(),
        "web where http.request.method in~ (\"GET\") and url.path in~ (\"/+CSCOL+/csvrloader.jar\") and http.response.status_code == 200"
    );
    // CommonSecurityLog keeps only the whole RequestURL and no HTTP status.
    assert!(
        kql(&r)
            .unwrap_err()
            .contains("field `url.path` of `web_request` has no name")
    );

    let r = rule(
        proxy,
        "  selection:\n    c-uri-extension: [exe, hta]\n    c-uri-query|contains: 'ver='\n  condition: selection\n",
    );
    assert_eq!(
        eql(&r).unwrap(),
        "web where url.extension in~ (\"exe\", \"hta\") and stringContains~(url.query, \"ver=\")"
    );
    assert!(spl(&r).unwrap_err().contains("url.extension"));

    let r = rule(
        proxy,
        "  selection:\n    cs-cookie|endswith: '=csm-hit=s-24KU'\n  filter:\n    dst_ip|cidr: 10.0.0.0/8\n  condition: selection and not filter\n",
    );
    assert_eq!(
        kql(&r).unwrap(),
        "CommonSecurityLog\n| where RequestCookies endswith \"=csm-hit=s-24KU\" and not(coalesce(ipv4_is_in_any_range(DestinationIP, \"10.0.0.0/8\"), false))"
    );
    assert!(spl(&r).unwrap_err().contains("destination.ip"));
    assert!(eql(&r).unwrap_err().contains("http.request.cookie"));
}

#[test]
fn linux_auth_sudo_and_daemon_logs() {
    let r = rule(
        "  product: linux\n  service: auth",
        "  k:\n    '|all':\n      - 'pkexec'\n      - 'XAUTHORITY'\n  condition: k\n",
    );
    assert_eq!(
        spl(&r).unwrap(),
        "sourcetype=linux_secure _raw=\"*pkexec*\" _raw=\"*XAUTHORITY*\""
    );
    assert_eq!(
        kql(&r).unwrap(),
        "Syslog\n| where Facility in (\"auth\", \"authpriv\")\n| where SyslogMessage contains \"pkexec\" and SyslogMessage contains \"XAUTHORITY\""
    );
    assert_eq!(
        eql(&r).unwrap(),
        "any where stringContains~(message, \"pkexec\") and stringContains~(message, \"XAUTHORITY\")"
    );

    let r = rule(
        "  product: linux\n  service: sudo",
        "  selection:\n    USER:\n      - '#-*'\n      - '#*4294967295'\n  condition: selection\n",
    );
    assert!(hits(&r, json!({"user": {"effective": {"name": "#-1"}}})));
    assert!(!hits(&r, json!({"user": {"effective": {"name": "root"}}})));
    assert_eq!(
        spl(&r).unwrap(),
        "sourcetype=linux_secure process=sudo | rex field=_raw \";\\s*USER=(?<sudo_run_as_user>[^ ;]*)\" | search (sudo_run_as_user=\"#-*\" OR sudo_run_as_user=\"#*4294967295\")"
    );
    assert_eq!(
        kql(&r).unwrap(),
        "Syslog\n| where ProcessName == \"sudo\"\n| extend SudoRunAsUser = extract(@';\\s*USER=([^ ;]*)', 1, SyslogMessage)\n| where SudoRunAsUser startswith \"#-\" or SudoRunAsUser matches regex \"\\\\A#(?s:.)*4294967295\\\\z\""
    );
    assert_eq!(
        eql(&r).unwrap(),
        "any where process.name == \"sudo\" and (startsWith~(system.auth.sudo.user, \"#-\") or system.auth.sudo.user regex \"\\\\#.*4294967295\")"
    );

    for (service, spl_search, table, index) in [
        (
            "guacamole",
            "sourcetype=syslog process=guacd",
            "Syslog",
            "logs-system.syslog-*",
        ),
        (
            "clamav",
            "sourcetype=clamav",
            "ClamavLog_CL",
            "logs-clamav.log-*",
        ),
        (
            "vsftpd",
            "sourcetype=vsftpd",
            "VsftpdLog_CL",
            "logs-vsftpd.log-*",
        ),
    ] {
        let r = rule(
            &format!("  product: linux\n  service: {service}"),
            "  k:\n    - 'Trojan*FOUND'\n  condition: k\n",
        );
        assert!(spl(&r).unwrap().starts_with(spl_search), "{service}");
        assert!(kql(&r).unwrap().starts_with(table), "{service}");
        assert!(
            esql(&r).unwrap().starts_with(&format!("FROM {index}")),
            "{service}"
        );
    }
}

#[test]
fn cisco_aaa_reads_the_tacacs_accounting_records() {
    let r = rule(
        "  product: cisco\n  service: aaa\n  category: accounting",
        "  keywords:\n    - 'show history'\n    - 'clear logging'\n  condition: keywords\n",
    );
    assert!(hits(
        &r,
        json!({"message": "stop task_id=6 service=shell priv-lvl=15 cmd=show history <cr>"})
    ));
    assert!(!hits(
        &r,
        json!({"message": "CmdSet=[ CmdAV=show CmdArgAV=history CmdArgAV=<cr> ]"})
    ));
    assert_eq!(
        spl(&r).unwrap(),
        "sourcetype=\"tacacs:accounting\" (_raw=\"*show history*\" OR _raw=\"*clear logging*\")"
    );
    assert_eq!(
        kql(&r).unwrap(),
        "TacacsAccounting_CL\n| where (RawData contains \"show history\" or RawData contains \"clear logging\")"
    );
    assert_eq!(
        eql(&r).unwrap(),
        "any where (stringContains~(message, \"show history\") or stringContains~(message, \"clear logging\"))"
    );
}

#[test]
fn auditd_regex_with_an_anchor_in_a_leading_group() {
    // lnx_auditd_hidden_files_directories: `(^|\/)\.[^.\/]` is `^\.[^./]|/\.[^./]`.
    let r = rule(
        AUDITD,
        "  selection:\n    type: EXECVE\n    a1|re: '(^|\\/)\\.[^.\\/]'\n  condition: selection\n",
    );
    let ev = |a1: &str| json!({"auditd": {"log": {"record_type": "EXECVE", "a1": a1}}});
    assert!(hits(&r, ev(".ssh")));
    assert!(hits(&r, ev("/tmp/.hidden")));
    assert!(!hits(&r, ev("../x")));
    assert!(!hits(&r, ev("a.b")));
    assert_eq!(
        spl(&r).unwrap(),
        "sourcetype=\"linux:audit\" type=\"EXECVE\" | where match('a1', \"\\\\A\\\\.[^./]|/\\\\.[^./]\")"
    );
    assert!(kql(&r).unwrap().ends_with(
        "| where AuditA1 matches regex \"\\\\A\\\\.[^./]|/\\\\.[^./]\" and AuditType =~ \"EXECVE\""
    ));
}
