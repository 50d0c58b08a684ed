//! The signature checks run on the raw bytes, through the real handler. A
//! call event signed as the provider sent it (pretty-printed, its keys in the
//! provider's order, not serde_json's) is accepted and applied; the same JSON
//! re-serialized, a changed byte, another secret or another timestamp is
//! refused with nothing written. Retell's scheme, Vapi's HMAC credential and
//! Vapi's legacy shared secret.

use lambda_http::Body;
use lambda_http::http::Request as HttpRequest;
use leadline_core::calling::attempt::{AttemptStatus, CallAttempt};
use leadline_core::calling::call::CallRef;
use leadline_core::calling::lead::{Lead, LeadStatus};
use leadline_core::calling::work::DeploymentLimits;
use leadline_core::intake::tenant::{NewTenant, VoiceProvider};
use leadline_core::memory::{
    FixedClock, MemoryCalendar, MemoryMessages, MemoryQueue, MemoryScheduler, MemoryStore,
};
use leadline_core::ports::TenantStore;
use leadline_core::write::{Change, Commit, Entity};
use leadline_core::{CampaignId, LeadId, Phone};
use leadline_voice::HmacAlgorithm;
use serde_json::{Value, json};

use super::test_support::*;
use super::*;

const HMAC_SECRET: &str = "whsec_raw_body";
/// The provider's id of the call leadline placed.
const CALL_ID: &str = "call_raw_1";
/// The Vapi HMAC timestamp header's value (its unit is unconfirmed; it is
/// signed over, not checked for freshness).
const SIGNED_AT: &str = "1795438800";

fn hmac() -> VapiHmac {
    VapiHmac::new(HMAC_SECRET, HmacAlgorithm::Sha256)
}

/// A webhook over a store holding one call leadline placed with `provider`,
/// as the dispatcher leaves it: the lead calling, the attempt placed with the
/// provider's call id, its slots held.
async fn placed(provider: VoiceProvider, vapi: VapiAuth) -> (Webhook, CallRef) {
    let store = MemoryStore::default();
    let tenant = serde_json::from_value::<NewTenant>(json!({
        "name": "Bright Smile", "slug": "bright", "timezone": "America/New_York",
        "default_region": "US"
    }))
    .unwrap()
    .into_tenant(now())
    .unwrap();
    store.create_tenant(&tenant, "h").await.unwrap();
    let campaign = CampaignId::from_bytes(&[7; 15]);
    let phone = Phone::parse("+14155552671", None).unwrap();
    let mut lead = Lead {
        id: LeadId::derive(&tenant.id, &campaign, &phone),
        tenant: tenant.id.clone(),
        campaign: campaign.clone(),
        phone,
        name: Some("Ada".into()),
        email: None,
        whatsapp: None,
        partner: None,
        zone: None,
        language: None,
        source: Default::default(),
        preferred_phone: None,
        from_call: Vec::new(),
        status: LeadStatus::New,
        attempts: 0,
        outcome: None,
        note: None,
        next_call: None,
        messages: Vec::new(),
        messaging: Default::default(),
        created_at: now(),
        updated_at: now(),
        version: 0,
        effects: Default::default(),
    };
    lead.queue(1, now()).unwrap();
    lead.start_call(1, now()).unwrap();
    store
        .insert_leads(std::slice::from_ref(&lead))
        .await
        .unwrap();
    let call = CallRef {
        tenant: tenant.id.clone(),
        lead: lead.id.clone(),
        attempt: 1,
    };
    let mut attempt = CallAttempt::dialing(&call, campaign, provider, now());
    attempt.provider_call_id = Some(CALL_ID.into());
    attempt.advance(AttemptStatus::Placed);
    let claim = DeploymentLimits::default().claim(&attempt, &tenant, None, now());
    store
        .commit(&[
            Change::Create(Entity::Attempt(attempt)),
            Change::TakeSlots(claim),
        ])
        .await
        .unwrap();
    let webhook = VoiceWebhook {
        store,
        businesses: MemoryStore::default(),
        calendar: MemoryCalendar::default(),
        follow_ups: MemoryScheduler::default(),
        messages: MemoryMessages::default(),
        dial_queue: MemoryQueue::default(),
        clock: FixedClock(now()),
        retell_api_key: RETELL_KEY.into(),
        vapi,
        inbound: Default::default(),
    };
    (webhook, call)
}

/// What the store holds about the call.
#[derive(Debug, PartialEq)]
struct Written {
    lead: Lead,
    attempts: Vec<CallAttempt>,
    usage: usize,
    slots: usize,
}

async fn written(webhook: &Webhook, call: &CallRef) -> Written {
    Written {
        lead: webhook
            .store
            .lead(&call.tenant, &call.lead)
            .await
            .unwrap()
            .unwrap(),
        attempts: webhook.store.attempts(),
        usage: webhook.store.usage_records().len(),
        slots: webhook.store.slots_held(),
    }
}

/// The call as the dispatcher left it: nothing of the event written.
fn assert_untouched(state: &Written) {
    assert_eq!(state.lead.status, LeadStatus::Calling, "{state:?}");
    assert_eq!(state.lead.outcome, None);
    assert_eq!(state.attempts.len(), 1);
    assert_eq!(state.attempts[0].status, AttemptStatus::Placed);
    assert_eq!((state.usage, state.slots), (0, 3), "no usage, slots held");
}

/// The event applied: the lead has the call's outcome, the attempt ended with
/// its usage recorded, the slots are given back.
fn assert_applied(state: &Written) {
    assert!(
        state.lead.outcome.is_some() && state.lead.status != LeadStatus::Calling,
        "the lead moved on: {:?}",
        state.lead
    );
    assert_eq!(state.attempts.len(), 1);
    assert_eq!(state.attempts[0].status, AttemptStatus::Ended);
    assert!(state.attempts[0].usage_recorded);
    assert_eq!((state.usage, state.slots), (1, 0), "usage once, slots back");
}

/// Asserts that `text` is not what serde_json writes for the same JSON,
/// compact or pretty: the signature can only match its own bytes.
fn assert_not_serdes_text(text: &str) -> Value {
    let value: Value = serde_json::from_str(text).unwrap();
    assert_ne!(text, serde_json::to_string_pretty(&value).unwrap());
    assert_ne!(text, value.to_string());
    value
}

/// The same JSON, its keys sorted at every level: the same document in
/// another order of keys.
fn keys_sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), keys_sorted(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(keys_sorted).collect()),
        other => other.clone(),
    }
}

/// The JSON of `text`, compact, its keys sorted (whatever order serde_json
/// keeps its maps in, which depends on its features in a build).
fn reserialized(text: &str) -> String {
    keys_sorted(&serde_json::from_str::<Value>(text).unwrap()).to_string()
}

fn metadata_lines(call: &CallRef, indent: &str) -> String {
    // Attempt first, tenant last: the reverse of the keys sorted.
    format!(
        "{{\n{indent}    \"{}\": \"{}\",\n{indent}    \"{}\": \"{}\",\n{indent}    \"{}\": \"{}\"\n{indent}}}",
        CallRef::ATTEMPT,
        call.attempt,
        CallRef::LEAD,
        call.lead.as_str(),
        CallRef::TENANT,
        call.tenant.as_str(),
    )
}

/// A Retell `call_ended` as Retell writes it: `event` before `call` and the
/// call's fields in its own order (not sorted), indented by four.
fn retell_call_ended(call: &CallRef) -> String {
    let metadata = metadata_lines(call, "        ");
    format!(
        r#"{{
    "event": "call_ended",
    "call": {{
        "call_type": "phone_call",
        "from_number": "+14155550100",
        "to_number": "+14155552671",
        "direction": "outbound",
        "call_id": "{CALL_ID}",
        "agent_id": "agent_1",
        "call_status": "ended",
        "metadata": {metadata},
        "start_timestamp": 1795438800000,
        "end_timestamp": 1795438895000,
        "duration_ms": 95000,
        "disconnection_reason": "user_hangup",
        "transcript": "Agent: Hello, this is Bright Smile Dental.\nUser: Not interested, thanks.",
        "call_cost": {{ "combined_cost": 12.5 }}
    }}
}}
"#
    )
}

fn retell_request(body: &str, signature: &str) -> Request {
    HttpRequest::builder()
        .method("POST")
        .uri("/webhooks/retell")
        .header(retell::SIGNATURE_HEADER, signature)
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn retell_signature(body: &str) -> String {
    retell::sign(body.as_bytes(), RETELL_KEY, now().as_millisecond())
}

/// A Vapi `end-of-call-report` as Vapi writes it: `type` first, the call
/// before the analysis (not sorted), indented by two
/// with a space before each colon.
fn vapi_end_of_call_report(call: &CallRef) -> String {
    let metadata = metadata_lines(call, "        ");
    format!(
        r#"{{
  "message" : {{
    "type" : "end-of-call-report",
    "timestamp" : 1795438900000,
    "endedReason" : "customer-ended-call",
    "call" : {{
      "type" : "outboundPhoneCall",
      "id" : "{CALL_ID}",
      "status" : "ended",
      "assistantOverrides" : {{
        "metadata" : {metadata}
      }}
    }},
    "startedAt" : "2026-11-23T12:58:00.000Z",
    "endedAt" : "2026-11-23T12:59:35.000Z",
    "durationSeconds" : 95,
    "cost" : 0.12,
    "artifact" : {{
      "transcript" : "AI: Hello, this is Bright Smile Dental.\nUser: Not interested, thanks."
    }},
    "analysis" : {{
      "summary" : "The lead was not interested.",
      "successEvaluation" : "false"
    }}
  }}
}}"#
    )
}

/// A Vapi delivery with the given headers.
fn vapi_request(body: &str, headers: &[(&str, &str)]) -> Request {
    let mut request = HttpRequest::builder().method("POST").uri("/webhooks/vapi");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Body::from(body.to_owned())).unwrap()
}

/// The HMAC headers `credential` makes for `body` at `timestamp`.
fn hmac_headers(credential: &VapiHmac, timestamp: &str, body: &str) -> [(String, String); 2] {
    let signature = credential
        .sign(timestamp, "POST", "/webhooks/vapi", body.as_bytes())
        .unwrap();
    [
        (VapiHmac::DEFAULT_SIGNATURE_HEADER.to_owned(), signature),
        (
            VapiHmac::DEFAULT_TIMESTAMP_HEADER.to_owned(),
            timestamp.to_owned(),
        ),
    ]
}

fn pairs(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[tokio::test]
async fn a_retell_event_signed_pretty_printed_in_its_own_key_order_is_accepted_and_applied() {
    let (webhook, call) = placed(VoiceProvider::Retell, VapiAuth::Secret(VAPI_SECRET.into())).await;
    let body = retell_call_ended(&call);
    assert_not_serdes_text(&body);
    assert_untouched(&written(&webhook, &call).await);

    let response = webhook
        .handle(retell_request(&body, &retell_signature(&body)))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_applied(&written(&webhook, &call).await);
}

#[tokio::test]
async fn the_same_retell_json_re_serialized_under_the_original_signature_is_refused() {
    let (webhook, call) = placed(VoiceProvider::Retell, VapiAuth::Secret(VAPI_SECRET.into())).await;
    let body = retell_call_ended(&call);
    let value = assert_not_serdes_text(&body);
    let signature = retell_signature(&body);
    let before = written(&webhook, &call).await;

    for (what, text) in [
        ("compact, keys sorted", reserialized(&body)),
        (
            "pretty, keys sorted",
            serde_json::to_string_pretty(&keys_sorted(&value)).unwrap(),
        ),
        ("one trailing newline fewer", body.trim_end().to_owned()),
    ] {
        let response = webhook.handle(retell_request(&text, &signature)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(
            written(&webhook, &call).await,
            before,
            "{what}: nothing written"
        );
    }
    assert_untouched(&before);
    // The bytes that were signed still go through.
    let response = webhook.handle(retell_request(&body, &signature)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_applied(&written(&webhook, &call).await);
}

#[tokio::test]
async fn a_vapi_report_signed_with_the_hmac_credential_is_accepted_and_applied() {
    let (webhook, call) = placed(VoiceProvider::Vapi, VapiAuth::Hmac(hmac())).await;
    let body = vapi_end_of_call_report(&call);
    assert_not_serdes_text(&body);
    assert_untouched(&written(&webhook, &call).await);

    let headers = hmac_headers(&hmac(), SIGNED_AT, &body);
    let response = webhook.handle(vapi_request(&body, &pairs(&headers))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_applied(&written(&webhook, &call).await);
}

#[tokio::test]
async fn a_vapi_report_whose_bytes_secret_or_timestamp_differ_from_the_signed_ones_is_refused() {
    let (webhook, call) = placed(VoiceProvider::Vapi, VapiAuth::Hmac(hmac())).await;
    let body = vapi_end_of_call_report(&call);
    let signed = hmac_headers(&hmac(), SIGNED_AT, &body);
    let before = written(&webhook, &call).await;
    assert_untouched(&before);

    let tampered = body.replace("customer-ended-call", "voicemail");
    assert_ne!(tampered, body);
    let [(signature_header, signature), (timestamp_header, _)] = &signed;
    let other_secret = hmac_headers(
        &VapiHmac::new("whsec_someone_else", HmacAlgorithm::Sha256),
        SIGNED_AT,
        &body,
    );
    let cases = [
        (
            "re-serialized, keys sorted",
            reserialized(&body),
            pairs(&signed),
        ),
        ("a byte changed", tampered, pairs(&signed)),
        ("another secret", body.clone(), pairs(&other_secret)),
        (
            "another timestamp than the signed one",
            body.clone(),
            vec![
                (signature_header.as_str(), signature.as_str()),
                (timestamp_header.as_str(), "1795438801"),
            ],
        ),
        (
            "no timestamp",
            body.clone(),
            vec![(signature_header.as_str(), signature.as_str())],
        ),
        (
            "no signature",
            body.clone(),
            vec![(timestamp_header.as_str(), SIGNED_AT)],
        ),
        (
            "the legacy shared secret instead of a signature",
            body.clone(),
            vec![(vapi::SECRET_HEADER, HMAC_SECRET)],
        ),
    ];
    for (what, text, headers) in cases {
        let response = webhook.handle(vapi_request(&text, &headers)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(
            written(&webhook, &call).await,
            before,
            "{what}: nothing written"
        );
    }
    // The signed bytes with their own headers still go through.
    let response = webhook.handle(vapi_request(&body, &pairs(&signed))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_applied(&written(&webhook, &call).await);
}

#[tokio::test]
async fn a_vapi_report_with_the_legacy_shared_secret_is_applied_only_with_the_right_secret() {
    let (webhook, call) = placed(VoiceProvider::Vapi, VapiAuth::Secret(VAPI_SECRET.into())).await;
    let body = vapi_end_of_call_report(&call);
    let before = written(&webhook, &call).await;
    assert_untouched(&before);

    let hmac_signed = hmac_headers(&hmac(), SIGNED_AT, &body);
    let cases = [
        (
            "another secret",
            vec![(vapi::SECRET_HEADER, "not-the-secret")],
        ),
        ("an empty secret", vec![(vapi::SECRET_HEADER, "")]),
        ("no secret", vec![]),
        (
            "an HMAC signature instead of the secret",
            pairs(&hmac_signed),
        ),
    ];
    for (what, headers) in cases {
        let response = webhook.handle(vapi_request(&body, &headers)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(
            written(&webhook, &call).await,
            before,
            "{what}: nothing written"
        );
    }
    let response = webhook
        .handle(vapi_request(&body, &[(vapi::SECRET_HEADER, VAPI_SECRET)]))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_applied(&written(&webhook, &call).await);
}

#[tokio::test]
async fn effects_not_carried_out_are_logged_by_kind_and_id_only() {
    let (webhook, call) = placed(VoiceProvider::Retell, VapiAuth::Secret(VAPI_SECRET.into())).await;
    webhook.follow_ups.set_failing(true);
    let body = retell_call_ended(&call).replace("user_hangup", "dial_no_answer");
    let request = retell_request(&body, &retell_signature(&body));
    let (response, log) = logged(webhook.handle(request)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(log.contains("effects not carried out"), "{log}");
    assert!(log.contains("schedule:call-"), "{log}");
    assert!(!log.contains("Ada") && !log.contains("FollowUp {"), "{log}");
    assert_eq!(leadline_core::kernel::redact::leaks(&log), [], "{log}");
}

/// A call that ends gives its slots back and wakes the dial jobs waiting for
/// them: the webhook puts one wake on the dial queue, now; the same event
/// delivered again puts none.
#[tokio::test]
async fn a_call_that_ends_puts_one_wake_for_its_slots_on_the_dial_queue() {
    let (webhook, call) = placed(VoiceProvider::Retell, VapiAuth::Secret(VAPI_SECRET.into())).await;
    let body = retell_call_ended(&call);
    for _ in 0..2 {
        let response = webhook
            .handle(retell_request(&body, &retell_signature(&body)))
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    let attempt = webhook.store.attempts().remove(0);
    let due = webhook.dial_queue.take_due(now());
    assert_eq!(
        due,
        [leadline_core::calling::work::DialMessage::Wake(
            leadline_core::calling::waiting::Wake::after(&attempt)
        )]
    );
    assert!(webhook.dial_queue.is_empty());
    assert!(
        webhook.store.outboxes().is_empty(),
        "a wake needs no outbox"
    );
}
