//! Sigma rules of the Windows event log channels (product windows, one service each, and
//! ps_module): which detc source each reads, and the query each target gets, with the
//! EventData items as members of the `winlog.event_data.*` family.

use crate::common::sigma::{check, convert_with, hits, query as compiled, rule_text as sigma};
use detc::ir;
use detc::lower::Language;
use detc::sigma::Options;
use detc::targets::TargetName;

fn service(name: &str, detection: &str) -> String {
    sigma(&format!("  product: windows\n  service: {name}"), detection)
}

/// The converted and checked rule, or the refusal's text.
fn convert(yaml: &str) -> Result<ir::Rule, String> {
    let opts = Options::default();
    let c = convert_with(yaml, &opts).map_err(|r| r.to_string())?;
    check(&c, &opts).map_err(|e| format!("does not check: {e}"))
}

fn rule(yaml: &str) -> ir::Rule {
    convert(yaml).unwrap_or_else(|e| panic!("refused: {e}"))
}

fn spl(r: &ir::Rule) -> String {
    compiled(r, TargetName::Splunk, Language::Spl).expect("splunk")
}
fn kql(r: &ir::Rule) -> String {
    compiled(r, TargetName::Sentinel, Language::Kql).expect("sentinel")
}
fn eql(r: &ir::Rule) -> String {
    compiled(r, TargetName::Elastic, Language::Eql).expect("elastic eql")
}
fn esql(r: &ir::Rule) -> String {
    compiled(r, TargetName::Elastic, Language::Esql).expect("elastic esql")
}

#[test]
fn security_items_without_a_column_read_the_eventdata_xml_on_sentinel() {
    let r = rule(&service(
        "security",
        "  selection:\n    EventID: 5136\n    AttributeLDAPDisplayName: 'msDS-KeyCredentialLink'\n    ObjectClass: 'user'\n  condition: selection\n",
    ));
    assert_eq!(r.kind.queries()[0].source, "windows_security");
    assert_eq!(
        spl(&r),
        r#"source="XmlWinEventLog:Security" AttributeLDAPDisplayName="msDS-KeyCredentialLink" EventCode="5136" ObjectClass="user""#
    );
    let k = kql(&r);
    assert!(k.starts_with("SecurityEvent\n| extend EventCode = tostring(EventID)\n| extend AttributeLDAPDisplayName_ = "), "{k}");
    for item in ["AttributeLDAPDisplayName", "ObjectClass"] {
        assert!(
            k.contains(&format!(
                "| extend {item}_ = coalesce(tostring(column_ifexists(\"{item}\", \"\")), replace_string(replace_string(replace_string(replace_string(replace_string(extract(@'<Data Name=\"{item}\">([^<]*)<', 1, EventData), \"&lt;\", \"<\"), \"&gt;\", \">\"), \"&quot;\", \"\\\"\"), \"&apos;\", \"'\"), \"&amp;\", \"&\"))"
            )),
            "{item}: {k}"
        );
    }
    assert!(k.ends_with(r#"| where AttributeLDAPDisplayName_ =~ "msDS-KeyCredentialLink" and EventCode =~ "5136" and ObjectClass_ =~ "user""#), "{k}");
    assert_eq!(
        eql(&r),
        r#"any where winlog.event_data.AttributeLDAPDisplayName in~ ("msDS-KeyCredentialLink") and event.code in~ ("5136") and winlog.event_data.ObjectClass in~ ("user")"#
    );
    assert!(esql(&r).starts_with("FROM logs-system.security-* METADATA _id, _version, _index\n"));
}

#[test]
fn guid_items_are_rebuilt_in_the_windows_form_on_sentinel() {
    let r = rule(&service(
        "security",
        "  selection:\n    EventID: 4719\n    SubcategoryGuid: '{0CCE9217-69AE-11D9-BED3-505054503030}'\n  condition: selection\n",
    ));
    let k = kql(&r);
    assert!(k.contains(r#"| extend SubcategoryGuid_guid = iff(isnull(SubcategoryGuid), "", strcat("{", toupper(tostring(SubcategoryGuid)), "}"))"#), "{k}");
    assert!(
        k.contains(r#"SubcategoryGuid_guid =~ "{0CCE9217-69AE-11D9-BED3-505054503030}""#),
        "{k}"
    );
}

#[test]
fn system_properties_and_bad_names_are_refused_with_the_reason() {
    let level = convert(&service(
        "system",
        "  selection:\n    Provider_Name: 'Microsoft-Windows-Kernel-General'\n    Level: 4\n  condition: selection\n",
    ))
    .unwrap_err();
    assert_eq!(
        level,
        "field `Level` of logsource windows/system has no detc mapping"
    );
    let data = convert(&service(
        "system",
        "  selection:\n    Data|contains: 'x'\n  condition: selection\n",
    ))
    .unwrap_err();
    assert_eq!(
        data,
        "field `Data` of logsource windows/system has no detc mapping"
    );
    let bad = convert(&service(
        "system",
        "  selection:\n    Some-Name: 'x'\n  condition: selection\n",
    ))
    .unwrap_err();
    assert!(
        bad.starts_with("field `Some-Name`: logsource windows/system maps its other fields to members of `winlog.event_data.*`"),
        "{bad}"
    );
}

#[test]
fn system_and_application_items_read_the_event_table_on_sentinel() {
    let r = rule(&service(
        "system",
        "  selection:\n    Provider_Name: 'Service Control Manager'\n    EventID: 7036\n    param1: 'Windows Defender Antivirus Service'\n  condition: selection\n",
    ));
    assert_eq!(
        spl(&r),
        r#"source="XmlWinEventLog:System" EventCode="7036" Name="Service Control Manager" param1="Windows Defender Antivirus Service""#
    );
    let k = kql(&r);
    assert!(k.starts_with("Event\n| where EventLog == \"System\"\n| extend EventCode = tostring(EventID)\n| extend param1_ = replace_string("), "{k}");
    assert!(
        !k.contains("column_ifexists"),
        "the Event table has no item columns: {k}"
    );
    assert_eq!(
        eql(&r),
        r#"any where event.code in~ ("7036") and winlog.provider_name in~ ("Service Control Manager") and winlog.event_data.param1 in~ ("Windows Defender Antivirus Service")"#
    );
    let r = rule(&service(
        "application",
        "  selection:\n    Provider_Name: 'Application Error'\n    EventID: 1000\n    AppName: 'lsass.exe'\n  condition: selection\n",
    ));
    assert_eq!(
        spl(&r),
        r#"source="XmlWinEventLog:Application" AppName="lsass.exe" EventCode="1000" Name="Application Error""#
    );
    assert!(kql(&r).contains("AppName_ =~ \"lsass.exe\""));
    assert!(esql(&r).contains("TO_LOWER(winlog.event_data.AppName) == \"lsass.exe\""));
}

#[test]
fn module_logging_compiles_for_splunk_and_sentinel_and_is_refused_on_elastic() {
    let r = rule(&sigma(
        "  product: windows\n  category: ps_module",
        "  selection:\n    ContextInfo|contains: 'Set-PSReadlineOption'\n  condition: selection\n",
    ));
    assert_eq!(r.kind.queries()[0].source, "powershell_module");
    assert_eq!(
        spl(&r),
        r#"source="XmlWinEventLog:Microsoft-Windows-PowerShell/Operational" EventCode=4103 ContextInfo="*Set-PSReadlineOption*""#
    );
    assert_eq!(
        kql(&r),
        "WindowsEvent\n| where Channel == \"Microsoft-Windows-PowerShell/Operational\"\n| where EventID == 4103\n| where tostring(EventData.ContextInfo) contains \"Set-PSReadlineOption\""
    );
    let e = compiled(&r, TargetName::Elastic, Language::Eql).unwrap_err();
    assert_eq!(
        e,
        "field `winlog.event_data.ContextInfo` of `powershell_module` has no name on this target"
    );
    // The implied event id drops out; another one is an ordinary test.
    let r = rule(&sigma(
        "  product: windows\n  category: ps_module",
        "  selection:\n    EventID: 4103\n    Payload|contains: 'Invoke-Mimikatz'\n  condition: selection\n",
    ));
    assert!(spl(&r).ends_with(r#"EventCode=4103 Payload="*Invoke-Mimikatz*""#));
}

#[test]
fn defender_names_with_spaces() {
    let r = rule(&service(
        "windefend",
        "  selection:\n    EventID: 5007\n    NewValue|contains: '\\Microsoft\\Windows Defender\\Exclusions'\n  filter:\n    ProcessName|endswith: '\\MsMpEng.exe'\n  condition: selection and not filter\n",
    ));
    assert_eq!(r.kind.queries()[0].source, "windows_defender");
    assert_eq!(
        spl(&r),
        r#"source="*WinEventLog:Microsoft-Windows-Windows Defender/Operational" EventCode="5007" New_Value="*\\Microsoft\\Windows Defender\\Exclusions*" NOT Process_Name="*\\MsMpEng.exe""#
    );
    let k = kql(&r);
    assert!(
        k.starts_with(
            "WindowsEvent\n| where Channel == \"Microsoft-Windows-Windows Defender/Operational\"\n"
        ),
        "{k}"
    );
    assert!(k.contains(r#"tostring(EventData.["New Value"]) contains "\\Microsoft\\Windows Defender\\Exclusions""#), "{k}");
    assert!(
        k.contains(r#"tostring(EventData.["Process Name"]) !endswith "\\MsMpEng.exe""#),
        "{k}"
    );
    // The Defender data stream moves Process Name to process.executable.
    assert_eq!(
        eql(&r),
        r#"any where event.code in~ ("5007") and stringContains~(winlog.event_data.New_Value, "\\Microsoft\\Windows Defender\\Exclusions") and not (endsWith~(process.executable, "\\MsMpEng.exe"))"#
    );
    assert!(
        esql(&r)
            .starts_with("FROM logs-windows.windows_defender-* METADATA _id, _version, _index\n")
    );
    // Sentinel maps only the Defender names it can spell; another one is refused there only.
    let r = rule(&service(
        "windefend",
        "  selection:\n    Scan_Type: 'Antimalware'\n  condition: selection\n",
    ));
    assert!(compiled(&r, TargetName::Sentinel, Language::Kql).is_err());
    assert!(compiled(&r, TargetName::Splunk, Language::Spl).is_ok());
}

#[test]
fn channels_read_only_their_own_events_on_every_target() {
    let r = rule(&service(
        "bits-client",
        "  selection:\n    EventID: 16403\n    RemoteName|contains: 'http://1'\n  condition: selection\n",
    ));
    assert_eq!(r.kind.queries()[0].source, "windows_bits_client");
    assert_eq!(
        spl(&r),
        r#"source="XmlWinEventLog:Microsoft-Windows-Bits-Client/Operational" EventCode="16403" RemoteName="*http://1*""#
    );
    assert_eq!(
        kql(&r),
        "WindowsEvent\n| where Channel == \"Microsoft-Windows-Bits-Client/Operational\"\n| extend EventCode = tostring(EventID)\n| where EventCode =~ \"16403\" and tostring(EventData.RemoteName) contains \"http://1\""
    );
    assert_eq!(
        eql(&r),
        r#"any where winlog.channel == "Microsoft-Windows-Bits-Client/Operational" and (event.code in~ ("16403") and stringContains~(winlog.event_data.RemoteName, "http://1"))"#
    );
    assert!(esql(&r).starts_with(
        "FROM logs-* METADATA _id, _version, _index\n| WHERE winlog.channel == \"Microsoft-Windows-Bits-Client/Operational\"\n"
    ));
    // A provider's several channels: selected by provider.
    let r = rule(&service(
        "security-mitigations",
        "  selection:\n    EventID: 11\n    ImageName|contains: '\\Users\\Public\\'\n  condition: selection\n",
    ));
    assert!(
        spl(&r).starts_with(r#"source="XmlWinEventLog:Microsoft-Windows-Security-Mitigations/*" "#)
    );
    assert!(kql(&r).starts_with(
        "WindowsEvent\n| where Provider == \"Microsoft-Windows-Security-Mitigations\"\n"
    ));
    assert!(eql(&r).starts_with(
        r#"any where winlog.provider_name == "Microsoft-Windows-Security-Mitigations" and "#
    ));
}

#[test]
fn userdata_channels_map_the_event_id_only() {
    let r = rule(&service(
        "applocker",
        "  selection:\n    EventID:\n      - 8004\n      - 8007\n  condition: selection\n",
    ));
    assert_eq!(
        spl(&r),
        r#"source="XmlWinEventLog:Microsoft-Windows-AppLocker/*" (EventCode="8004" OR EventCode="8007")"#
    );
    assert!(
        esql(&r).starts_with("FROM logs-windows.applocker_*-* METADATA _id, _version, _index\n")
    );
    assert!(kql(&r).contains("| where Provider == \"Microsoft-Windows-AppLocker\""));
    let refused = convert(&service(
        "wmi",
        "  selection:\n    EventID: 5858\n    Operation|contains: 'cleareventlog'\n  condition: selection\n",
    ))
    .unwrap_err();
    assert_eq!(
        refused,
        "field `Operation` of logsource windows/wmi has no detc mapping"
    );
    let r = rule(&service(
        "sysmon",
        "  selection:\n    EventID: 16\n  condition: selection\n",
    ));
    assert_eq!(
        spl(&r),
        r#"source="XmlWinEventLog:Microsoft-Windows-Sysmon/Operational" EventCode="16""#
    );
    assert!(kql(&r).starts_with(
        "WindowsEvent\n| where Channel == \"Microsoft-Windows-Sysmon/Operational\"\n"
    ));
    assert!(
        esql(&r)
            .starts_with("FROM logs-windows.sysmon_operational-* METADATA _id, _version, _index\n")
    );
}

#[test]
fn every_channel_logsource_reads_its_source() {
    for (svc, source) in [
        ("codeintegrity-operational", "windows_codeintegrity"),
        ("appxdeployment-server", "windows_appx_deployment"),
        ("appxpackaging-om", "windows_appx_packaging"),
        ("appmodel-runtime", "windows_appmodel_runtime"),
        ("firewall-as", "windows_firewall"),
        ("dns-client", "windows_dns_client"),
        ("dns-server", "windows_dns_server"),
        ("taskscheduler", "windows_taskscheduler"),
        ("iis-configuration", "windows_iis_configuration"),
        ("ntlm", "windows_ntlm"),
        ("smbclient-security", "windows_smbclient_security"),
        ("smbserver-connectivity", "windows_smbserver_connectivity"),
        ("lsa-server", "windows_lsa"),
        ("shell-core", "windows_shell_core"),
        ("diagnosis-scripted", "windows_diagnosis_scripted"),
        ("openssh", "windows_openssh"),
        ("capi2", "windows_capi2"),
        (
            "certificateservicesclient-lifecycle-system",
            "windows_certificate_lifecycle",
        ),
        ("driver-framework", "windows_driver_frameworks"),
    ] {
        let r = rule(&service(
            svc,
            "  selection:\n    EventID: 1\n    SomeItem: 'x'\n  condition: selection\n",
        ));
        assert_eq!(r.kind.queries()[0].source, source, "{svc}");
        for target in TargetName::ALL {
            let language = match target {
                TargetName::Splunk => Language::Spl,
                TargetName::Sentinel => Language::Kql,
                TargetName::Elastic => Language::Eql,
            };
            let q = compiled(&r, target, language)
                .unwrap_or_else(|e| panic!("{svc} on {target:?}: {e}"));
            assert!(q.contains("SomeItem"), "{svc} {target:?}: {q}");
        }
    }
}

/// The unnamed <Data> items: Sigma `Data` is "some item ...", read from the items joined
/// with U+0001 (which no XML text holds): on Sentinel a column computed from EventData, on
/// Splunk a field computed from the event XML by the queries that read it; no field holds
/// them on Elastic.
#[test]
fn unnamed_data_items_are_some_item_tests() {
    let r = rule(&service(
        "application",
        "  selection:\n    Provider_Name|contains: 'MSSQL'\n    EventID: 33205\n    Data|contains|all:\n      - 'object_name:sysadmin'\n      - 'statement:alter server role'\n  condition: selection\n",
    ));
    assert_eq!(r.kind.queries()[0].source, "windows_application");
    let k = kql(&r);
    assert!(
        k.contains(r#"| extend Data_items = replace_string(replace_string(replace_string(replace_string(replace_string(strcat("\u0001", strcat_array(extract_all(@'<Data>([^<]*)</Data>', EventData), "\u0001"), "\u0001"), "&lt;", "<")"#),
        "{k}"
    );
    assert!(
        k.ends_with(r#"| where Data_items contains "object_name:sysadmin" and Data_items contains "statement:alter server role" and EventCode =~ "33205" and Source contains "MSSQL""#),
        "{k}"
    );
    // Splunk: the plain terms stay in the base search, the item tests follow the pipeline.
    assert_eq!(
        spl(&r),
        r#"source="XmlWinEventLog:Application" EventCode="33205" Name="*MSSQL*" | rex max_match=0 field=_raw "<Data>(?<detc_data_item>[^<]*)</Data>" | eval detc_data_items=replace(replace(replace(replace(replace(urldecode("%01").mvjoin(detc_data_item, urldecode("%01")).urldecode("%01"), "&lt;", "<"), "&gt;", ">"), "&quot;", "\""), "&apos;", "'"), "&amp;", "&") | search detc_data_items="*object_name:sysadmin*" detc_data_items="*statement:alter server role*""#
    );
    assert_eq!(
        compiled(&r, TargetName::Elastic, Language::Eql).unwrap_err(),
        "field `winlog.event_data_unnamed` of `windows_application` has no name on this target"
    );
    // Equality, startswith and endswith are anchored at the separators.
    let r = rule(&service(
        "application",
        "  selection:\n    - Data: 'a'\n    - Data|startswith: 'b'\n    - Data|endswith: 'c'\n  condition: selection\n",
    ));
    let k = kql(&r);
    assert!(
        k.ends_with(r#"| where Data_items contains "\u0001a\u0001" or Data_items contains "\u0001b" or Data_items contains "c\u0001""#),
        "{k}"
    );
    let ev = |items: &[&str]| {
        let joined: String = items.iter().map(|i| format!("{i}\u{1}")).collect();
        serde_json::json!({ "winlog": { "event_data_unnamed": format!("\u{1}{joined}") } })
    };
    assert!(hits(&r, ev(&["x", "a"])));
    assert!(hits(&r, ev(&["bx"])));
    assert!(hits(&r, ev(&["xc", "y"])));
    assert!(!hits(&r, ev(&["xa", "ay"])));
    assert!(!hits(&r, ev(&["xb", "cy"])));
}

#[test]
fn unnamed_data_tests_that_could_span_items_are_refused() {
    for (value, shown) in [
        ("Data|contains: 'a*b'", "*a*b*"),
        ("Data|contains: 'a?b'", "*a?b*"),
        ("Data|re: 'a.b'", "re a.b"),
        ("Data: ''", ""),
    ] {
        let e = convert(&service(
            "application",
            &format!("  selection:\n    {value}\n  condition: selection\n"),
        ))
        .unwrap_err();
        assert_eq!(
            e,
            format!(
                "field `Data`: `Data` is a list of values (the unnamed EventData items): only a plain contains, startswith, endswith or equality of a non-empty value says \"some item\" exactly (a wildcard or a regex could span two items): `{shown}`"
            ),
            "{value}"
        );
    }
}

#[test]
fn classic_powershell_reads_the_windows_powershell_log() {
    let r = rule(&sigma(
        "  product: windows\n  category: ps_classic_start",
        "  selection:\n    Data|contains: 'EngineVersion=2.'\n  filter:\n    Data|contains: 'HostVersion=2.'\n  condition: selection and not filter\n",
    ));
    assert_eq!(r.kind.queries()[0].source, "windows_powershell_classic");
    let k = kql(&r);
    assert!(
        k.starts_with("Event\n| where EventLog == \"Windows PowerShell\"\n| extend EventCode = tostring(EventID)\n| extend Data_items = "),
        "{k}"
    );
    assert!(
        k.ends_with(r#"| where Data_items contains "EngineVersion=2." and Data_items !contains "HostVersion=2." and EventCode =~ "400""#),
        "{k}"
    );
    for (ls, id) in [
        ("category: ps_classic_provider_start", Some("600")),
        ("category: ps_classic_script", Some("800")),
        ("service: powershell-classic", None),
    ] {
        let r = rule(&sigma(
            &format!("  product: windows\n  {ls}"),
            "  selection:\n    Data|contains: 'Set-MpPreference'\n  condition: selection\n",
        ));
        assert_eq!(r.kind.queries()[0].source, "windows_powershell_classic");
        let k = kql(&r);
        let cond = match id {
            Some(id) => format!(
                "| where Data_items contains \"Set-MpPreference\" and EventCode =~ \"{id}\""
            ),
            None => "| where Data_items contains \"Set-MpPreference\"".to_string(),
        };
        assert!(k.ends_with(&cond), "{ls}: {k}");
    }
    let r = rule(&service(
        "msexchange-management",
        "  selection:\n    EventID: 6\n    Data|contains: 'Install-TransportAgent'\n  condition: selection\n",
    ));
    assert_eq!(r.kind.queries()[0].source, "windows_msexchange_management");
    assert!(kql(&r).starts_with("Event\n| where EventLog == \"MSExchange Management\"\n"));
}

/// Aurora's CommandLine on file, network and image-load events is the acting process's:
/// MDE has it (Sentinel); CIM, Sysmon and (unverified) Elastic Defend give it no place.
#[test]
fn aurora_command_line_on_edr_events_compiles_for_sentinel_only() {
    for (category, table) in [
        ("file_event", "DeviceFileEvents"),
        ("network_connection", "DeviceNetworkEvents"),
        ("image_load", "DeviceImageLoadEvents"),
    ] {
        let r = rule(&sigma(
            &format!("  product: windows\n  category: {category}"),
            "  selection:\n    Image|endswith: '\\rundll32.exe'\n    CommandLine|contains: 'Temp'\n  condition: selection\n",
        ));
        let k = kql(&r);
        assert!(k.starts_with(table), "{category}: {k}");
        assert!(
            k.contains(r#"InitiatingProcessCommandLine contains "Temp""#),
            "{category}: {k}"
        );
        for (target, language) in [
            (TargetName::Splunk, Language::Spl),
            (TargetName::Elastic, Language::Eql),
        ] {
            let e = compiled(&r, target, language).unwrap_err();
            assert!(e.contains("`process.command_line`"), "{category}: {e}");
        }
    }
    let r = rule(&sigma(
        "  product: windows\n  category: file_event",
        "  selection:\n    IntegrityLevel: 'Medium'\n  condition: selection\n",
    ));
    assert!(kql(&r).ends_with(r#"| where InitiatingProcessIntegrityLevel =~ "Medium""#));
}

#[test]
fn script_block_path_is_the_script_file() {
    let r = rule(&sigma(
        "  product: windows\n  category: ps_script",
        "  selection:\n    ScriptBlockText|contains: 'Invoke-WebRequest'\n  filter:\n    Path|startswith: 'C:\\Packages\\'\n  condition: selection and not filter\n",
    ));
    assert!(
        spl(&r).ends_with(r#"ScriptBlockText="*Invoke-WebRequest*" NOT Path="C:\\Packages\\*""#),
        "{}",
        spl(&r)
    );
    let k = kql(&r);
    assert!(
        k.contains(r#"| extend Path_ = replace_string(replace_string(replace_string(replace_string(replace_string(extract(@'<Data Name="Path">([^<]*)<', 1, EventData)"#),
        "{k}"
    );
    assert!(k.contains(r#"Path_ !startswith "C:\\Packages\\""#), "{k}");
    assert!(
        eql(&r).contains(r#"not (startsWith~(file.path, "C:\\Packages\\"))"#),
        "{}",
        eql(&r)
    );
}

#[test]
fn sysmon_errors_read_event_255() {
    let r = rule(&sigma(
        "  product: windows\n  category: sysmon_error",
        "  selection:\n    Description|contains: 'Failed to open service configuration with error'\n  condition: selection\n",
    ));
    assert_eq!(r.kind.queries()[0].source, "sysmon_error");
    assert_eq!(
        spl(&r),
        r#"source="XmlWinEventLog:Microsoft-Windows-Sysmon/Operational" EventCode=255 Description="*Failed to open service configuration with error*""#
    );
    assert!(kql(&r).ends_with(
        r#"| where tostring(EventData.Description) contains "Failed to open service configuration with error""#
    ));
    assert!(eql(&r).contains(r#"stringContains~(process.pe.description, "Failed to open service configuration with error")"#), "{}", eql(&r));
}
