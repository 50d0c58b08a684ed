//! Inbound calls through the receiver: Retell's `call_inbound` and Vapi's
//! `assistant-request` are answered with the tenant of the number dialled,
//! the caller recorded as its lead, and leadline's metadata, which routes the
//! call's later events and tool calls as an outbound call's. Bad input gets
//! a clear answer and writes nothing.

use lambda_http::Body;
use lambda_http::http::Request as HttpRequest;
use leadline_core::appointments::business::BusinessSettings;
use leadline_core::calling::attempt::{AttemptStatus, CallDirection};
use leadline_core::calling::call::CallRef;
use leadline_core::calling::inbound::DefaultAgents;
use leadline_core::calling::lead::{Lead, LeadField, LeadSource, LeadStatus};
use leadline_core::in_call::NOT_THIS_CALL;
use leadline_core::intake::tenant::NewTenant;
use leadline_core::memory::{
    FixedClock, MemoryCalendar, MemoryMessages, MemoryQueue, MemoryScheduler, MemoryStore,
};
use leadline_core::ports::TenantStore;
use leadline_core::{LeadId, Phone, TenantId};
use serde_json::{Value, json};

use super::test_support::*;
use super::*;

/// Bright Smile's number.
const FRONT_DESK: &str = "+18005550100";
const CALLER: &str = "+14155550142";
const VAPI_CALL: &str = "6a1f3c2e-0000-4000-8000-00000000c0de";

fn tenant() -> TenantId {
    TenantId::parse("bright").unwrap()
}

/// Tenant `bright` (Bright Smile, greeting of its own) answers FRONT_DESK;
/// the deployment's agents are `agent_shared` and `asst-shared`.
async fn webhook() -> Webhook {
    let store = MemoryStore::default();
    let new: NewTenant = serde_json::from_value(json!({
        "name": "Bright Smile", "slug": "bright", "timezone": "America/New_York",
        "default_region": "US"
    }))
    .unwrap();
    store
        .create_tenant(&new.into_tenant(now()).unwrap(), "h")
        .await
        .unwrap();
    let businesses = MemoryStore::default();
    let settings: BusinessSettings = serde_json::from_value(json!({
        "name": "Bright Smile Dental", "timezone": "America/New_York",
        "greeting": "Bright Smile Dental, this is the front desk. How can I help?",
        "opening_hours": {"monday": [{"open": "09:00", "close": "17:00"}]},
        "inbound_numbers": [FRONT_DESK]
    }))
    .unwrap();
    let business = settings.apply(&tenant(), None, now()).unwrap();
    businesses.save_business(&business, None).await.unwrap();
    VoiceWebhook {
        store,
        businesses,
        calendar: MemoryCalendar::default(),
        follow_ups: MemoryScheduler::default(),
        messages: MemoryMessages::default(),
        dial_queue: MemoryQueue::default(),
        clock: FixedClock(now()),
        retell_api_key: RETELL_KEY.into(),
        vapi: VapiAuth::Secret(VAPI_SECRET.into()),
        inbound: InboundSettings {
            agents: DefaultAgents {
                retell: Some("agent_shared".into()),
                vapi: Some("asst-shared".into()),
            },
            limits: Default::default(),
        },
    }
}

fn retell(path: &str, body: &Value) -> Request {
    let body = body.to_string();
    HttpRequest::builder()
        .method("POST")
        .uri(path)
        .header(
            retell::SIGNATURE_HEADER,
            retell::sign(body.as_bytes(), RETELL_KEY, now().as_millisecond()),
        )
        .body(Body::from(body))
        .unwrap()
}

fn vapi(body: &Value, secret: &str) -> Request {
    HttpRequest::builder()
        .method("POST")
        .uri("/webhooks/vapi")
        .header(vapi::SECRET_HEADER, secret)
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn send(webhook: &Webhook, req: Request) -> (StatusCode, Value) {
    let response = webhook.handle(req).await;
    let status = response.status();
    let body = match response.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap(),
        Body::Binary(b) if b.is_empty() => Value::Null,
        Body::Binary(b) => serde_json::from_slice(b).unwrap(),
        _ => Value::Null,
    };
    (status, body)
}

fn call_inbound(to: &str, from: &str) -> Value {
    json!({"event": "call_inbound", "event_timestamp": 1_795_438_800_000_i64,
           "call_inbound": {"agent_id": "agent_number", "from_number": from, "to_number": to}})
}

fn assistant_request(to: &str, from: &str) -> Value {
    json!({"message": {
        "type": "assistant-request",
        "call": {"id": VAPI_CALL, "type": "inboundPhoneCall", "status": "ringing",
                 "customer": {"number": from}},
        "phoneNumber": {"id": "pn-1", "number": to},
        "customer": {"number": from},
        "timestamp": "2026-11-23T13:00:00.000Z"
    }})
}

async fn caller_lead(webhook: &Webhook) -> Option<Lead> {
    let caller = Phone::parse(CALLER, None).unwrap();
    webhook
        .store
        .lead(&tenant(), &LeadId::for_caller(&tenant(), &caller))
        .await
        .unwrap()
}

/// Nothing written: no lead of the caller, no attempt.
async fn assert_nothing_written(webhook: &Webhook) {
    assert_eq!(caller_lead(webhook).await, None);
    assert!(webhook.store.attempts().is_empty());
}

fn ours_in(metadata: &Value) -> CallRef {
    CallRef::from_metadata(metadata).expect("leadline's metadata")
}

#[tokio::test]
async fn retell_is_answered_as_the_business_and_the_calls_events_apply_to_the_callers_lead() {
    let webhook = webhook().await;
    let (status, answer) = send(
        &webhook,
        retell("/webhooks/retell", &call_inbound(FRONT_DESK, CALLER)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let answer = &answer["call_inbound"];
    assert_eq!(answer["override_agent_id"], "agent_shared");
    assert_eq!(
        answer["dynamic_variables"],
        json!({
            "business_name": "Bright Smile Dental",
            "greeting": "Bright Smile Dental, this is the front desk. How can I help?",
            "direction": "inbound"
        })
    );
    let ours = ours_in(&answer["metadata"]);
    assert_eq!((ours.tenant.clone(), ours.attempt), (tenant(), 1));
    let lead = caller_lead(&webhook).await.expect("the caller is a lead");
    assert_eq!(ours.lead, lead.id);
    assert_eq!(
        (lead.source, lead.status),
        (LeadSource::Inbound, LeadStatus::Calling)
    );

    // The call as Retell then reports it, with the metadata it was given.
    let call = |extra: Value| {
        let mut call = json!({
            "call_id": "call_in_1", "agent_id": "agent_shared", "call_status": "ended",
            "call_type": "phone_call", "direction": "inbound",
            "from_number": CALLER, "to_number": FRONT_DESK,
            "metadata": ours.to_metadata(),
            "start_timestamp": 1_795_438_800_000_i64, "end_timestamp": 1_795_438_890_000_i64,
            "disconnection_reason": "user_hangup"
        });
        for (k, v) in extra.as_object().unwrap() {
            call[k] = v.clone();
        }
        call
    };
    let ended = json!({"event": "call_ended", "call": call(json!({}))});
    let (status, _) = send(&webhook, retell("/webhooks/retell", &ended)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let analyzed = json!({"event": "call_analyzed", "call": call(json!({
        "call_analysis": {"call_summary": "Asked about whitening", "call_successful": true,
                          "custom_analysis_data": {"outcome": "qualified", "full_name": "Sam Lee",
                                                   "email": "sam.lee@example.com"}}
    }))});
    let (status, _) = send(&webhook, retell("/webhooks/retell", &analyzed)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let lead = caller_lead(&webhook).await.unwrap();
    assert_eq!(lead.status, LeadStatus::Completed);
    assert_eq!(lead.name.as_deref(), Some("Sam Lee"));
    assert_eq!(lead.from_call, [LeadField::Name, LeadField::Email]);
    let attempts = webhook.store.attempts();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].direction, CallDirection::Inbound);
    assert_eq!(attempts[0].status, AttemptStatus::Ended);
    assert_eq!(attempts[0].provider_call_id.as_deref(), Some("call_in_1"));
    let usage = webhook.store.usage_records();
    assert_eq!((usage.len(), usage[0].billable_seconds), (1, 90));
    assert_eq!(webhook.store.slots_held(), 0);
    assert!(
        webhook.dial_queue.is_empty(),
        "no slot given back, nobody woken"
    );
}

#[tokio::test]
async fn vapi_is_answered_with_the_assistant_and_its_tool_calls_are_the_callers() {
    let webhook = webhook().await;
    let (status, answer) = send(
        &webhook,
        vapi(&assistant_request(FRONT_DESK, CALLER), VAPI_SECRET),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["assistantId"], "asst-shared");
    let overrides = &answer["assistantOverrides"];
    let ours = ours_in(&overrides["metadata"]);
    assert_eq!(ours_in(&overrides["variableValues"]), ours);
    assert_eq!(
        overrides["variableValues"]["business_name"],
        "Bright Smile Dental"
    );
    let attempt = &webhook.store.attempts()[0];
    assert_eq!(attempt.provider_call_id.as_deref(), Some(VAPI_CALL));

    // Vapi echoes the overrides on the call: a tool call of the call is ours.
    let tool_call = json!({"message": {
        "type": "tool-calls",
        "toolCallList": [{"id": "t1", "type": "function",
                          "function": {"name": "get_business_hours", "arguments": {}}}],
        "call": {"id": VAPI_CALL, "type": "inboundPhoneCall",
                 "assistantOverrides": overrides, "customer": {"number": CALLER}},
        "phoneNumber": {"number": FRONT_DESK}
    }});
    let (status, results) = send(&webhook, vapi(&tool_call, VAPI_SECRET)).await;
    assert_eq!(status, StatusCode::OK);
    let result = &results["results"][0];
    assert!(result.get("error").is_none(), "{results}");
    assert!(
        result["result"].as_str().unwrap().contains("Monday"),
        "{results}"
    );
    assert_ne!(result.get("error"), Some(&json!(NOT_THIS_CALL)));

    let report = json!({"message": {
        "type": "end-of-call-report", "endedReason": "customer-ended-call",
        "call": {"id": VAPI_CALL, "type": "inboundPhoneCall", "assistantOverrides": overrides},
        "analysis": {"summary": "Booked", "structuredData": {"outcome": "appointment_set"}},
        "artifact": {"transcript": "AI: Bright Smile Dental...",
                     "structuredOutputs": {"o1": {"name": "callback_number", "result": "(415) 555-0188"}}},
        "startedAt": "2026-11-23T13:00:05.000Z", "endedAt": "2026-11-23T13:02:05.000Z"
    }});
    let (status, _) = send(&webhook, vapi(&report, VAPI_SECRET)).await;
    assert_eq!(status, StatusCode::OK);
    let lead = caller_lead(&webhook).await.unwrap();
    assert_eq!(lead.status, LeadStatus::Booked);
    assert_eq!(
        lead.preferred_phone.as_ref().map(Phone::e164),
        Some("+14155550188")
    );
    assert_eq!(webhook.store.usage_records().len(), 1);
}

#[tokio::test]
async fn a_redelivered_assistant_request_gets_the_same_answer_and_one_lead_and_attempt() {
    let webhook = webhook().await;
    let request = assistant_request(FRONT_DESK, CALLER);
    let (_, first) = send(&webhook, vapi(&request, VAPI_SECRET)).await;
    let (status, again) = send(&webhook, vapi(&request, VAPI_SECRET)).await;
    assert_eq!((status, &again), (StatusCode::OK, &first));
    assert_eq!(webhook.store.attempts().len(), 1);
    assert_eq!(caller_lead(&webhook).await.unwrap().attempts, 1);
    // Retell's retries of its inbound webhook, too.
    let inbound = call_inbound(FRONT_DESK, "+14155550143");
    let (_, first) = send(&webhook, retell("/webhooks/retell", &inbound)).await;
    let (_, again) = send(&webhook, retell("/webhooks/retell", &inbound)).await;
    assert_eq!(again, first);
    assert_eq!(webhook.store.attempts().len(), 2, "one per call");
}

#[tokio::test]
async fn a_number_of_no_tenant_is_declined_and_nothing_is_written() {
    let webhook = webhook().await;
    let (status, answer) = send(
        &webhook,
        retell("/webhooks/retell", &call_inbound("+18005550199", CALLER)),
    )
    .await;
    assert_eq!(
        (status, answer),
        (StatusCode::OK, json!({"call_inbound": {}})),
        "no agent named: Retell ends the call"
    );
    let (status, answer) = send(
        &webhook,
        vapi(&assistant_request("+18005550199", CALLER), VAPI_SECRET),
    )
    .await;
    assert_eq!(
        (status, answer),
        (StatusCode::OK, json!({"error": vapi::NOT_IN_SERVICE}))
    );
    assert_nothing_written(&webhook).await;
}

#[tokio::test]
async fn a_withheld_caller_id_is_answered_as_the_business_without_metadata() {
    let webhook = webhook().await;
    let (status, answer) = send(
        &webhook,
        retell("/webhooks/retell", &call_inbound(FRONT_DESK, "anonymous")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer["call_inbound"]["dynamic_variables"]["business_name"],
        "Bright Smile Dental"
    );
    assert_eq!(answer["call_inbound"].get("metadata"), None);
    assert!(webhook.store.attempts().is_empty());
}

#[tokio::test]
async fn malformed_or_unsigned_requests_are_refused_and_write_nothing() {
    let webhook = webhook().await;
    let no_number = json!({"event": "call_inbound", "call_inbound": {"from_number": CALLER}});
    let (status, _) = send(&webhook, retell("/webhooks/retell", &no_number)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut no_call = assistant_request(FRONT_DESK, CALLER);
    no_call["message"].as_object_mut().unwrap().remove("call");
    let (status, _) = send(&webhook, vapi(&no_call, VAPI_SECRET)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = send(
        &webhook,
        vapi(&assistant_request(FRONT_DESK, CALLER), "not-the-secret"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let mut unsigned = retell("/webhooks/retell", &call_inbound(FRONT_DESK, CALLER));
    unsigned.headers_mut().remove(retell::SIGNATURE_HEADER);
    let (status, _) = send(&webhook, unsigned).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_nothing_written(&webhook).await;
}

#[tokio::test]
async fn answering_an_inbound_call_logs_ids_and_no_number() {
    let webhook = webhook().await;
    let (_, log) = logged(async {
        send(
            &webhook,
            vapi(&assistant_request(FRONT_DESK, CALLER), VAPI_SECRET),
        )
        .await;
        send(
            &webhook,
            retell("/webhooks/retell", &call_inbound("+18005550199", CALLER)),
        )
        .await;
    })
    .await;
    assert!(log.contains("inbound call answered"), "{log}");
    assert!(log.contains("inbound call declined"), "{log}");
    assert_eq!(leadline_core::kernel::redact::leaks(&log), [], "{log}");
}
