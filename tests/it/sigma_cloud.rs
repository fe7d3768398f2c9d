//! Sigma → detc for cloud and SaaS audit logs (Entra ID audit / sign-in / risk detection,
//! Azure Activity, AWS CloudTrail, Okta, Google Cloud audit, Google Workspace admin / login,
//! GitHub, Bitbucket, Microsoft 365, Kubernetes, Cisco Duo, OneLogin):
//! one representative rule per logsource, converted, checked and compiled for every target
//! with the shipped mappings (snapshots hold the query text), and the refusals that keep
//! meanings exact.

use crate::common;
use crate::common::sigma::{compile, rule_text as rule, rule_with};
use detc::sigma::Options;
use detc::targets::TargetName;

/// The rule converted, checked and compiled for every target: one `target (language)`
/// header and the query per compiled form.
fn compiled(yaml: &str) -> String {
    let r = rule_with(yaml, &Options::default());
    let mut text = String::new();
    for target in TargetName::ALL {
        let forms = compile(&r, target)
            .unwrap_or_else(|e| panic!("{} does not compile: {}", target.as_str(), e.message));
        for f in forms {
            text.push_str(&format!(
                "-- {} ({:?})\n{}\n",
                target.as_str(),
                f.language,
                f.query
            ));
        }
    }
    text
}

/// Why the rule is refused at conversion.
fn refused(yaml: &str) -> String {
    common::sigma::refused_with(yaml, &Options::default())
}

const AZURE_AUDIT: &str = "  product: azure\n  service: auditlogs";
const AZURE_SIGNIN: &str = "  product: azure\n  service: signinlogs";

#[test]
fn azure_auditlogs_activity_name_result_and_category() {
    // properties.message and OperationName both name the Entra activity.
    insta::assert_snapshot!(
        "azure_auditlogs_account_created",
        compiled(&rule(
            AZURE_AUDIT,
            "  selection:\n    properties.message:\n      - Add user\n      - Delete user\n    Status: Success\n  condition: selection\n"
        ))
    );
    insta::assert_snapshot!(
        "azure_auditlogs_service_category",
        compiled(&rule(
            AZURE_AUDIT,
            "  selection:\n    LoggedByService: 'Authentication Methods'\n    Category: 'UserManagement'\n    OperationName: 'User registered security info'\n  condition: selection\n"
        ))
    );
}

#[test]
fn azure_auditlogs_target_resources_stay_refused() {
    let why = refused(&rule(
        AZURE_AUDIT,
        "  selection:\n    OperationName: 'Update user'\n    TargetResources.ModifiedProperties.DisplayName: 'StrongAuthenticationRequirement'\n  condition: selection\n",
    ));
    assert!(
        why.contains("TargetResources.ModifiedProperties.DisplayName"),
        "{why}"
    );
}

#[test]
fn azure_activitylogs_operation_name() {
    insta::assert_snapshot!(
        "azure_activitylogs_dns_zone",
        compiled(&rule(
            "  product: azure\n  service: activitylogs",
            "  selection:\n    operationName|startswith: 'MICROSOFT.NETWORK/DNSZONES'\n    operationName|endswith:\n      - '/WRITE'\n      - '/DELETE'\n  condition: selection\n"
        ))
    );
}

#[test]
fn azure_signinlogs_result_user_agent_and_device() {
    insta::assert_snapshot!(
        "azure_signinlogs_azurehound",
        compiled(&rule(
            AZURE_SIGNIN,
            "  selection:\n    userAgent|contains: 'azurehound'\n    ResultType: 0\n  condition: selection\n"
        ))
    );
    insta::assert_snapshot!(
        "azure_signinlogs_device",
        compiled(&rule(
            AZURE_SIGNIN,
            "  selection:\n    DeviceDetail.isCompliant: 'false'\n    AuthenticationRequirement: singleFactorAuthentication\n  empty:\n    DeviceDetail.trusttype: ''\n  absent:\n    DeviceDetail.trusttype: null\n  condition: selection and 1 of empty or selection and absent\n"
        ))
    );
}

#[test]
fn azure_signinlogs_status_word_is_refused() {
    // The sign-in status is an object (errorCode, failureReason); no target holds the
    // portal's Success / Failure word.
    let why = refused(&rule(
        AZURE_SIGNIN,
        "  selection:\n    Status: 'Success'\n    AuthenticationRequirement: 'singleFactorAuthentication'\n  condition: selection\n",
    ));
    assert!(why.contains("field `Status`"), "{why}");
}

#[test]
fn azure_riskdetection_and_pim() {
    insta::assert_snapshot!(
        "azure_riskdetection",
        compiled(&rule(
            "  product: azure\n  service: riskdetection",
            "  selection:\n    riskEventType: 'leakedCredentials'\n  condition: selection\n"
        ))
    );
    let why = refused(&rule(
        "  product: azure\n  service: pim",
        "  selection:\n    riskEventType: 'staleSignInAlertIncident'\n  condition: selection\n",
    ));
    assert!(why.contains("azure/pim"), "{why}");
}

#[test]
fn okta_system_log() {
    insta::assert_snapshot!(
        "okta_proxy_session",
        compiled(&rule(
            "  product: okta\n  service: okta",
            "  selection:\n    eventType: 'user.session.start'\n    securityContext.isProxy: 'true'\n  condition: selection\n"
        ))
    );
    insta::assert_snapshot!(
        "okta_outcome",
        compiled(&rule(
            "  product: okta\n  service: okta",
            "  selection:\n    outcome.reason: 'FastPass declined phishing attempt'\n    outcome.result: FAILURE\n    debugContext.debugData.requestUri|contains: 'admin'\n  condition: selection\n"
        ))
    );
}

#[test]
fn gcp_audit_method_and_service() {
    insta::assert_snapshot!(
        "gcp_audit",
        compiled(&rule(
            "  product: gcp\n  service: gcp.audit",
            "  selection:\n    gcp.audit.method_name:\n      - v*.Compute.Firewalls.Delete\n      - compute.vpnTunnels.insert\n    data.protoPayload.serviceName: 'compute.googleapis.com'\n  condition: selection\n"
        ))
    );
}

#[test]
fn github_audit_reads_git_audit() {
    insta::assert_snapshot!(
        "github_audit",
        compiled(&rule(
            "  product: github\n  service: audit",
            "  selection:\n    action:\n      - 'repo.archived'\n      - 'repo.unarchived'\n  bypass:\n    action|contains: 'secret_scanning_push_protection.bypass'\n  condition: selection or bypass\n"
        ))
    );
}

#[test]
fn bitbucket_audit() {
    insta::assert_snapshot!(
        "bitbucket_audit",
        compiled(&rule(
            "  product: bitbucket\n  service: audit",
            "  selection:\n    auditType.category: 'Permissions'\n    auditType.action:\n      - 'Global permission granted'\n      - 'Global permission removed'\n  condition: selection\n"
        ))
    );
}

#[test]
fn m365_audit_operation() {
    insta::assert_snapshot!(
        "m365_audit",
        compiled(&rule(
            "  product: m365\n  service: audit",
            "  selection:\n    Operation|contains: 'Disable Strong Authentication.'\n    Workload: AzureActiveDirectory\n  condition: selection\n"
        ))
    );
    let why = refused(&rule(
        "  product: m365\n  service: threat_management",
        "  selection:\n    eventSource: SecurityComplianceCenter\n    eventName: 'Impossible travel activity'\n    status: success\n  condition: selection\n",
    ));
    assert!(why.contains("m365/threat_management"), "{why}");
}

#[test]
fn kubernetes_audit_event() {
    insta::assert_snapshot!(
        "kubernetes_audit_exec",
        compiled(&rule(
            "  category: application\n  product: kubernetes\n  service: audit",
            "  selection:\n    verb: 'create'\n    objectRef.resource: 'pods'\n    objectRef.subresource: 'exec'\n  condition: selection\n"
        ))
    );
    insta::assert_snapshot!(
        "kubernetes_audit_status",
        compiled(&rule(
            "  product: kubernetes\n  service: audit",
            "  selection:\n    responseStatus.code:\n      - 401\n      - 403\n  uri:\n    requestURI|contains: '/bin/sh'\n  condition: selection or uri\n"
        ))
    );
    // `ALLOW` is no HTTP status: refused rather than compared as text.
    let why = refused(&rule(
        "  product: kubernetes\n  service: audit",
        "  selection:\n    responseStatus.code: 'ALLOW'\n  condition: selection\n",
    ));
    assert!(why.contains("is not a number"), "{why}");
}

/// Per target: the compiled queries, or the compile error's message.
fn per_target(yaml: &str) -> Vec<(TargetName, Result<Vec<String>, String>)> {
    let r = rule_with(yaml, &Options::default());
    TargetName::ALL
        .into_iter()
        .map(|t| {
            let out = compile(&r, t)
                .map(|fs| fs.into_iter().map(|f| f.query).collect())
                .map_err(|e| e.message);
            (t, out)
        })
        .collect()
}

#[test]
fn aws_cloudtrail_session_issuer_on_every_target() {
    insta::assert_snapshot!(
        "aws_cloudtrail_session_issuer",
        compiled(&rule(
            "  product: aws\n  service: cloudtrail",
            "  selection:\n    userIdentity.type: AssumedRole\n    userIdentity.sessionContext.sessionIssuer.type: Role\n  condition: selection\n"
        ))
    );
}

#[test]
fn aws_cloudtrail_object_keys_on_splunk_and_sentinel() {
    // A dotted path into requestParameters is one key of the object: Splunk's own field,
    // a value read from the JSON text on Sentinel; Elastic keeps it only in a flattened
    // field that ES|QL cannot read.
    let yaml = rule(
        "  product: aws\n  service: cloudtrail",
        "  selection:\n    eventSource: guardduty.amazonaws.com\n    eventName: UpdateDetector\n    requestParameters.enable: 'false'\n  condition: selection\n",
    );
    for (target, out) in per_target(&yaml) {
        match target {
            TargetName::Splunk => {
                let q = out.expect("splunk compiles").join("\n");
                assert!(q.contains(r#"requestParameters.enable="false""#), "{q}");
            }
            TargetName::Sentinel => {
                let q = out.expect("sentinel compiles").join("\n");
                assert!(
                    q.contains("RequestEnable_ = tostring(parse_json(RequestParameters).enable)"),
                    "{q}"
                );
                assert!(q.contains(r#"RequestEnable_ =~ "false""#), "{q}");
            }
            _ => {
                let e = out.expect_err("elastic has no place for the key");
                assert!(
                    e.contains("aws.cloudtrail.flattened.request_parameters.enable"),
                    "{e}"
                );
            }
        }
    }
}

#[test]
fn aws_cloudtrail_source_address_holds_service_names() {
    // CloudTrail writes a service name ("AWS Internal", ec2.amazonaws.com) where no client
    // address applies: sourceIPAddress is the text field, so such values can be tested.
    insta::assert_snapshot!(
        "aws_cloudtrail_source_address",
        compiled(&rule(
            "  product: aws\n  service: cloudtrail",
            "  selection:\n    userIdentity.arn|re: '.+:assumed-role/aws:.+'\n  filter:\n    - eventSource: 'ssm.amazonaws.com'\n    - sourceIPAddress: 'AWS Internal'\n  condition: selection and not filter\n"
        ))
    );
}

#[test]
fn google_workspace_admin_and_login_reports() {
    // The report's API service is implied; the event name is event.action everywhere.
    insta::assert_snapshot!(
        "google_workspace_admin",
        compiled(&rule(
            "  product: gcp\n  service: google_workspace.admin",
            "  selection:\n    eventService: admin.googleapis.com\n    eventName:\n      - GRANT_DELEGATED_ADMIN_PRIVILEGES\n      - GRANT_ADMIN_PRIVILEGE\n  condition: selection\n"
        ))
    );
    insta::assert_snapshot!(
        "google_workspace_login",
        compiled(&rule(
            "  product: gcp\n  service: google_workspace.login",
            "  selection:\n    protoPayload.Servicename: 'login.googleapis.com'\n    protoPayload.metadata.event.eventName:\n      - 'suspicious_login'\n      - 'suspicious_programmatic_login'\n  condition: selection\n"
        ))
    );
    // An admin event's parameters: Sentinel and Elastic have them as fields; Splunk's
    // add-on keeps them as name / value lists.
    let yaml = rule(
        "  product: gcp\n  service: google_workspace.admin",
        "  selection:\n    eventService: 'admin.googleapis.com'\n    eventName: 'CHANGE_APPLICATION_SETTING'\n    setting_name|startswith: 'ContextAwareAccess'\n  mfa:\n    new_value: 'false'\n  condition: selection or mfa\n",
    );
    for (target, out) in per_target(&yaml) {
        match target {
            TargetName::Splunk => {
                let e = out.expect_err("splunk has no place for the parameter");
                assert!(e.contains("google_workspace.admin."), "{e}");
            }
            TargetName::Sentinel => {
                let q = out.expect("sentinel compiles").join("\n");
                assert!(q.contains("GWorkspace_ReportsAPI_admin_CL"), "{q}");
                assert!(q.contains("SETTING_NAME_s startswith"), "{q}");
                assert!(q.contains(r#"NEW_VALUE_s =~ "false""#), "{q}");
            }
            TargetName::Elastic => {
                let q = out.expect("elastic compiles").join("\n");
                assert!(q.contains("google_workspace.admin.setting.name"), "{q}");
                assert!(q.contains("google_workspace.admin.new_value"), "{q}");
            }
        }
    }
    // Another service's name is not what the report holds: refused, never read as true.
    let why = refused(&rule(
        "  product: gcp\n  service: google_workspace.admin",
        "  selection:\n    eventService: login.googleapis.com\n    eventName: REMOVE_PRIVILEGE\n  condition: selection\n",
    ));
    assert!(why.contains("eventService"), "{why}");
}

/// The rule compiles for exactly `only` among the targets; every other target refuses it
/// naming `field`. The compiled queries of `only`, joined.
fn only_on(yaml: &str, only: TargetName, field: &str) -> String {
    let mut compiled = String::new();
    for (target, out) in per_target(yaml) {
        if target == only {
            compiled = out
                .unwrap_or_else(|e| panic!("{} does not compile: {e}", target.as_str()))
                .join("\n");
        } else {
            let e = out.expect_err(target.as_str());
            assert!(e.contains(field), "{}: {e}", target.as_str());
        }
    }
    compiled
}

#[test]
fn azure_activitylogs_keywords_read_splunk_raw_entry() {
    // Keywords search the entry's whole text: Splunk's _raw JSON; Sentinel and Elastic keep
    // no such text.
    let yaml = rule(
        "  product: azure\n  service: activitylogs",
        "  keywords:\n    - Microsoft.Authorization/roleAssignments/write\n  condition: keywords\n",
    );
    let q = only_on(&yaml, TargetName::Splunk, "event.original");
    assert_eq!(
        q,
        r#"sourcetype="azure:monitor:activity" _raw="*Microsoft.Authorization/roleAssignments/write*""#
    );
}

#[test]
fn azure_activitylogs_category_resource_and_provider() {
    // CategoryValue and ResourceId everywhere; the provider alone only on Sentinel.
    insta::assert_snapshot!(
        "azure_activitylogs_category_resource",
        compiled(&rule(
            "  product: azure\n  service: activitylogs",
            "  selection:\n    CategoryValue: 'Administrative'\n    ResourceId|contains: 'AdFederationService'\n    OperationNameValue: 'Microsoft.ADHybridHealthService/services/delete'\n  condition: selection\n"
        ))
    );
    let q = only_on(
        &rule(
            "  product: azure\n  service: activitylogs",
            "  selection:\n    CategoryValue: 'Administrative'\n    ResourceProviderValue: 'Microsoft.ADHybridHealthService'\n  condition: selection\n",
        ),
        TargetName::Sentinel,
        "azure.resource.provider_name",
    );
    assert!(
        q.contains(r#"ResourceProviderValue =~ "Microsoft.ADHybridHealthService""#),
        "{q}"
    );
}

#[test]
fn m365_exchange_outcome() {
    // eventSource / eventName / status are the record's Workload, Operation and outcome;
    // Splunk has no outcome field.
    let yaml = rule(
        "  product: m365\n  service: exchange",
        "  selection:\n    eventSource: Exchange\n    eventName: 'Add-FederatedDomain'\n    status: success\n  condition: selection\n",
    );
    for (target, out) in per_target(&yaml) {
        match target {
            TargetName::Splunk => {
                let e = out.expect_err("splunk has no outcome");
                assert!(e.contains("event.outcome"), "{e}");
            }
            TargetName::Sentinel => {
                let q = out.expect("sentinel compiles").join("\n");
                assert!(
                    q.contains(r#"Outcome_ = iff(tolower(ResultStatus) in ("failed", "false"), "failure", "success")"#),
                    "{q}"
                );
                assert!(q.contains(r#"OfficeWorkload =~ "Exchange""#), "{q}");
                assert!(q.contains(r#"Outcome_ =~ "success""#), "{q}");
            }
            TargetName::Elastic => {
                let q = out.expect("elastic compiles").join("\n");
                assert!(q.contains(r#"event.provider in~ ("Exchange")"#), "{q}");
                assert!(q.contains(r#"event.outcome in~ ("success")"#), "{q}");
            }
        }
    }
}

#[test]
fn whole_objects_are_json_text_on_sentinel_only() {
    // requestParameters / TargetResources without a key: a substring of the object's JSON
    // text, which only Sentinel stores.
    let q = only_on(
        &rule(
            "  product: aws\n  service: cloudtrail",
            "  selection:\n    eventSource: s3.amazonaws.com\n    eventName: PutBucketVersioning\n    requestParameters|contains: 'Suspended'\n  filter:\n    responseElements|contains: 'Failure'\n  condition: selection and not filter\n",
        ),
        TargetName::Sentinel,
        "aws.cloudtrail.re",
    );
    assert!(
        q.contains(r#"RequestParameters contains "Suspended""#),
        "{q}"
    );
    assert!(q.contains("ResponseElements"), "{q}");
    let q = only_on(
        &rule(
            AZURE_AUDIT,
            "  selection:\n    Category: RoleManagement\n    TargetResources|contains: '62e90394-69f5-4237-9190-012177145e10'\n  condition: selection\n",
        ),
        TargetName::Sentinel,
        "azure.auditlogs.properties.target_resources",
    );
    assert!(
        q.contains("TargetResourcesText_ = tostring(TargetResources)"),
        "{q}"
    );
    assert!(
        q.contains(r#"TargetResourcesText_ contains "62e90394-69f5-4237-9190-012177145e10""#),
        "{q}"
    );
}

#[test]
fn cisco_duo_authentication_log() {
    insta::assert_snapshot!(
        "cisco_duo_bypass",
        compiled(&rule(
            "  product: cisco\n  service: duo",
            "  selection:\n    event_type: authentication\n    reason: bypass_user\n  condition: selection\n"
        ))
    );
}

#[test]
fn onelogin_events_on_sentinel_only() {
    // Sentinel's OneLogin connector; Elastic has no integration and detc cites no Splunk
    // add-on: the source has no mapping there (E0401), which is the stated reason.
    let yaml = rule(
        "  product: onelogin\n  service: onelogin.events",
        "  selection1:\n    event_type_id: 532\n  selection2:\n    event_type_id: 553\n  condition: 1 of selection*\n",
    );
    let q = only_on(&yaml, TargetName::Sentinel, "onelogin_events");
    assert!(q.starts_with("OneLoginEventsV2_CL\n"), "{q}");
    assert!(q.contains("EventTypeId == 532"), "{q}");
}

#[test]
fn m365_cmdlet_parameters_are_json_text_on_sentinel_only() {
    let q = only_on(
        &rule(
            "  product: m365\n  service: audit",
            "  selection:\n    Operation:\n      - 'New-InboxRule'\n      - 'Set-InboxRule'\n    Parameters|contains:\n      - 'DeleteMessage'\n      - 'MoveToFolder'\n  condition: selection\n",
        ),
        TargetName::Sentinel,
        "o365.audit.Parameters",
    );
    assert!(q.contains(r#"Parameters contains "DeleteMessage""#), "{q}");
}

#[test]
fn aws_cloudtrail_status_is_the_outcome() {
    // `status: success` (from Elastic's rules, event.outcome): no error on the call.
    let yaml = rule(
        "  product: aws\n  service: cloudtrail",
        "  selection:\n    eventSource: 'iam.amazonaws.com'\n    eventName: 'DeleteSAMLProvider'\n    status: 'success'\n  condition: selection\n",
    );
    for (target, out) in per_target(&yaml) {
        match target {
            TargetName::Splunk => {
                let e = out.expect_err("splunk has no outcome field");
                assert!(e.contains("event.outcome"), "{e}");
            }
            TargetName::Sentinel => {
                let q = out.expect("sentinel compiles").join("\n");
                assert!(
                    q.contains(r#"iff(isnotempty(ErrorCode) or isnotempty(ErrorMessage), "failure", "success")"#),
                    "{q}"
                );
                assert!(q.contains(r#"Outcome_ =~ "success""#), "{q}");
            }
            TargetName::Elastic => {
                let q = out.expect("elastic compiles").join("\n");
                assert!(q.contains(r#"event.outcome in~ ("success")"#), "{q}");
            }
        }
    }
}

#[test]
fn aws_cloudtrail_list_valued_key_is_json_text_on_sentinel_only() {
    // requestParameters.layers is a list: Sentinel reads its JSON text out of the object.
    let q = only_on(
        &rule(
            "  product: aws\n  service: cloudtrail",
            "  selection:\n    eventSource: lambda.amazonaws.com\n    eventName|startswith: 'UpdateFunctionConfiguration'\n    requestParameters.layers|contains: 'arn:aws:lambda'\n  condition: selection\n",
        ),
        TargetName::Sentinel,
        "aws.cloudtrail.flattened.request_parameters.layers",
    );
    assert!(
        q.contains("RequestLayers_ = tostring(parse_json(RequestParameters).layers)"),
        "{q}"
    );
    assert!(
        q.contains(r#"RequestLayers_ contains "arn:aws:lambda""#),
        "{q}"
    );
}
