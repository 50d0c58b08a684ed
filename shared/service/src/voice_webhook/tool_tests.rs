//! Tool calls through the receiver: both providers' request shapes (the real
//! Vapi payload included), signatures, and the tenant from our metadata
//! (checked against the attempt leadline recorded) or the number dialled.

use lambda_http::Body;
use lambda_http::http::Request as HttpRequest;
use leadline_core::appointments::business::{BusinessSettings, Service, ServiceId};
use leadline_core::calling::attempt::{AttemptStatus, CallAttempt};
use leadline_core::calling::call::CallRef;
use leadline_core::calling::lead::{Lead, LeadStatus};
use leadline_core::in_call::NOT_THIS_CALL;
use leadline_core::intake::tenant::VoiceProvider;
use leadline_core::memory::{
    FixedClock, MemoryCalendar, MemoryMessages, MemoryQueue, MemoryScheduler, MemoryStore,
};
use leadline_core::{Cents, LeadId, Phone, TenantId};
use serde_json::{Value, json};

use super::test_support::*;
use super::*;

const FRONT_DESK: &str = "+18005550100";

/// Bright Smile (cleanings, event type 101, free Tuesday 10:00 and 11:30
/// New York) with lead Ada, whom leadline is calling on Retell call
/// `call_r1` (attempt 1) and, before that, on Vapi call [`VAPI_CALL`]
/// (attempt 2, as the fixture's call); another business "other" sells
/// "vip-only".
async fn webhook() -> (Webhook, CallRef) {
    let businesses = MemoryStore::default();
    for (slug, service, number) in [
        ("bright", "cleaning", FRONT_DESK),
        ("other", "vip-only", "+18005550111"),
    ] {
        let settings: BusinessSettings = serde_json::from_value(json!({
            "name": format!("{slug} business"), "timezone": "America/New_York",
            "calcom_api_key": format!("cal_{slug}"), "inbound_numbers": [number]
        }))
        .unwrap();
        let mut business = settings
            .apply(&TenantId::parse(slug).unwrap(), None, now())
            .unwrap();
        business
            .put_service(Service {
                id: ServiceId::parse(service).unwrap(),
                name: service.replace('-', " "),
                duration_minutes: 30,
                price: Cents(9_000),
                calcom_event_type_id: 101,
                voice_booking: true,
                description: None,
            })
            .unwrap();
        businesses.save_business(&business, None).await.unwrap();
    }
    let store = MemoryStore::default();
    let tenant = TenantId::parse("bright").unwrap();
    let phone = Phone::parse("+14155552671", None).unwrap();
    let campaign = leadline_core::CampaignId::from_bytes(&[7; 15]);
    let lead = Lead {
        id: LeadId::derive(&tenant, &campaign, &phone),
        tenant: tenant.clone(),
        campaign,
        phone,
        name: Some("Ada".into()),
        email: leadline_core::Email::parse("ada@example.com").ok(),
        whatsapp: None,
        partner: None,
        zone: None,
        language: None,
        source: Default::default(),
        preferred_phone: None,
        from_call: Vec::new(),
        status: LeadStatus::Calling,
        attempts: 1,
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
    store
        .insert_leads(std::slice::from_ref(&lead))
        .await
        .unwrap();
    for (attempt, provider, call_id) in [
        (1, VoiceProvider::Retell, "call_r1"),
        (2, VoiceProvider::Vapi, VAPI_CALL),
    ] {
        let ours = CallRef {
            tenant: tenant.clone(),
            lead: lead.id.clone(),
            attempt,
        };
        store.record_attempt(&CallAttempt {
            provider_call_id: Some(call_id.into()),
            status: AttemptStatus::InProgress,
            ..CallAttempt::dialing(&ours, lead.campaign.clone(), provider, now())
        });
    }
    let calendar = MemoryCalendar::default();
    calendar.offer(
        101,
        30,
        ["2026-11-24T15:00:00Z", "2026-11-24T16:30:00Z"].map(|t| t.parse().unwrap()),
    );
    let webhook = VoiceWebhook {
        store,
        businesses,
        calendar,
        follow_ups: MemoryScheduler::default(),
        messages: MemoryMessages::default(),
        dial_queue: MemoryQueue::default(),
        clock: FixedClock(now()),
        retell_api_key: RETELL_KEY.into(),
        vapi: VapiAuth::Secret(VAPI_SECRET.into()),
        inbound: Default::default(),
    };
    let call = CallRef {
        tenant,
        lead: lead.id,
        attempt: 1,
    };
    (webhook, call)
}

fn retell(body: &Value, signed_with: &str) -> Request {
    let body = body.to_string();
    HttpRequest::builder()
        .method("POST")
        .uri("/webhooks/retell/tools")
        .header(
            retell::SIGNATURE_HEADER,
            retell::sign(body.as_bytes(), signed_with, now().as_millisecond()),
        )
        .body(Body::from(body))
        .unwrap()
}

fn vapi(body: &Value) -> Request {
    HttpRequest::builder()
        .method("POST")
        .uri("/webhooks/vapi")
        .header(vapi::SECRET_HEADER, VAPI_SECRET)
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn send(webhook: &Webhook, req: Request) -> (StatusCode, Value) {
    let response = webhook.handle(req).await;
    let status = response.status();
    let body = match response.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap(),
        Body::Binary(b) => serde_json::from_slice(b).unwrap(),
        _ => Value::Null,
    };
    (status, body)
}

fn retell_call(ours: &CallRef) -> Value {
    json!({"call_id": "call_r1", "direction": "outbound", "from_number": FRONT_DESK,
           "to_number": "+14155552671", "metadata": ours.to_metadata()})
}

#[tokio::test]
async fn a_retell_agent_checks_availability_and_books_once_however_often_it_asks() {
    let (webhook, ours) = webhook().await;
    let (status, slots) = send(
        &webhook,
        retell(
            &json!({"name": "check_availability", "args": {"service": "cleaning"}, "call": retell_call(&ours)}),
            RETELL_KEY,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let first = slots["slots"][0]["start"].as_str().unwrap().to_owned();
    assert_eq!(first, "2026-11-24T15:00:00Z");

    let book = json!({"name": "book_appointment", "args": {"service": "cleaning", "start": first},
                      "call": retell_call(&ours)});
    let (_, booked) = send(&webhook, retell(&book, RETELL_KEY)).await;
    assert_eq!(booked["booked"], true, "{booked}");
    // Retell retries a custom function with the same body: one booking, same answer.
    let (_, again) = send(&webhook, retell(&book, RETELL_KEY)).await;
    assert_eq!(again, booked);
    assert_eq!(webhook.calendar.live_bookings().len(), 1);
    let lead = webhook
        .store
        .lead(&ours.tenant, &ours.lead)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lead.status, LeadStatus::Booked);
}

#[tokio::test]
async fn a_tool_call_with_a_bad_signature_is_refused_and_writes_nothing() {
    let (webhook, ours) = webhook().await;
    let body = json!({"name": "book_appointment",
                      "args": {"service": "cleaning", "start": "2026-11-24T15:00:00Z"},
                      "call": retell_call(&ours)});
    let (status, _) = send(&webhook, retell(&body, "not-the-key")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(webhook.calendar.requests().is_empty());
    assert_eq!(webhook.store.tool_records(), 0);
    let (status, _) = send(&webhook, retell(&json!({"args": {}}), RETELL_KEY)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no function name, no call");
}

/// The call id of the real Vapi payload.
const VAPI_CALL: &str = "b1223960-1b4d-4585-91b8-a69b0f57ec2f";

/// The real payload (vapi4k): an inbound call to a number no business has.
fn vapi_fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/providers/vapi/tool-calls.vapi4k-1.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn the_real_vapi_payload_gets_one_spoken_error_per_call_when_no_business_owns_it() {
    let (webhook, _) = webhook().await;
    let (status, answer) = send(&webhook, vapi(&vapi_fixture())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer,
        json!({"results": [{"toolCallId": "call_51kj", "name": "getWeatherByCity_001", "error": UNKNOWN_BUSINESS}]})
    );
}

#[tokio::test]
async fn vapi_items_answer_in_order_with_arguments_as_objects_or_strings() {
    let (webhook, ours) = webhook().await;
    let ours = CallRef { attempt: 2, ..ours };
    let mut body = vapi_fixture();
    let message = &mut body["message"];
    message["call"]["type"] = json!("outboundPhoneCall");
    message["call"]["assistantOverrides"] = json!({"metadata": ours.to_metadata()});
    message["toolCallList"] = json!([
        {"id": "t1", "type": "function", "function": {"name": "get_business_hours", "arguments": {}}},
        {"id": "t2", "type": "function", "function": {"name": "check_availability",
                                                       "arguments": "{\"service\":\"cleaning\"}"}},
        {"id": "t3", "type": "function", "function": {"name": "getWeatherByCity_001",
                                                       "arguments": {"city": "Danville"}}},
        {"id": "t4", "type": "function", "function": {"name": "check_availability",
                                                       "arguments": {"service": "vip-only"}}}
    ]);
    let (status, answer) = send(&webhook, vapi(&body)).await;
    assert_eq!(status, StatusCode::OK);
    let results = answer["results"].as_array().unwrap();
    let ids: Vec<&str> = results
        .iter()
        .map(|r| r["toolCallId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["t1", "t2", "t3", "t4"]);
    let hours: Value = serde_json::from_str(results[0]["result"].as_str().unwrap()).unwrap();
    assert!(hours["say"].as_str().unwrap().starts_with("We're open"));
    let slots: Value = serde_json::from_str(results[1]["result"].as_str().unwrap()).unwrap();
    assert_eq!(slots["slots"].as_array().unwrap().len(), 2);
    assert!(
        results[2]["error"]
            .as_str()
            .unwrap()
            .contains("no function called")
    );
    assert!(
        results[3]["error"].as_str().unwrap().contains("vip-only"),
        "another tenant's service is unknown here: {}",
        results[3]
    );
}

#[tokio::test]
async fn an_inbound_vapi_call_finds_its_business_by_the_number_dialled() {
    let (webhook, _) = webhook().await;
    let mut body = vapi_fixture();
    body["message"]["phoneNumber"] = json!({"number": FRONT_DESK});
    body["message"]["toolCallList"] = json!([
        {"id": "t1", "type": "function", "function": {"name": "get_business_info", "arguments": {}}}
    ]);
    let (_, answer) = send(&webhook, vapi(&body)).await;
    let info: Value =
        serde_json::from_str(answer["results"][0]["result"].as_str().unwrap()).unwrap();
    assert_eq!(info["name"], "bright business");
}

#[tokio::test]
async fn signed_tool_calls_with_forged_metadata_are_refused_and_write_nothing() {
    let (webhook, ours) = webhook().await;
    let book_at = |service: &str, call: Value| {
        json!({"name": "book_appointment",
               "args": {"service": service, "start": "2026-11-24T15:00:00Z"}, "call": call})
    };
    let book = |call: Value| book_at("cleaning", call);
    // Signed with the right key, each naming a call leadline did not place.
    let other = CallRef {
        tenant: TenantId::parse("other").unwrap(),
        ..ours.clone()
    };
    let mut another_call = retell_call(&ours);
    another_call["call_id"] = json!("call_forged");
    let forged = [
        ("another tenant", book_at("vip-only", retell_call(&other))),
        (
            "another attempt",
            book(retell_call(&CallRef {
                attempt: 3,
                ..ours.clone()
            })),
        ),
        ("another provider call", book(another_call)),
        // Attempt 2 is the Vapi call: on Retell it is no call of ours.
        (
            "the other provider's attempt",
            book({
                let mut call = retell_call(&CallRef {
                    attempt: 2,
                    ..ours.clone()
                });
                call["call_id"] = json!(VAPI_CALL);
                call
            }),
        ),
    ];
    for (what, body) in &forged {
        let (status, answer) = send(&webhook, retell(body, RETELL_KEY)).await;
        assert_eq!(status, StatusCode::OK, "{what}");
        assert_eq!(answer, json!({"error": NOT_THIS_CALL}), "{what}");
    }
    // Vapi with the Retell call's metadata and id.
    let mut body = vapi_fixture();
    body["message"]["call"]["id"] = json!("call_r1");
    body["message"]["call"]["type"] = json!("outboundPhoneCall");
    body["message"]["call"]["assistantOverrides"] = json!({"metadata": ours.to_metadata()});
    body["message"]["toolCallList"] = json!([
        {"id": "t1", "type": "function", "function": {"name": "book_appointment",
         "arguments": {"service": "cleaning", "start": "2026-11-24T15:00:00Z"}}}
    ]);
    let (status, answer) = send(&webhook, vapi(&body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer,
        json!({"results": [{"toolCallId": "t1", "name": "book_appointment", "error": NOT_THIS_CALL}]})
    );

    assert!(
        webhook.calendar.requests().is_empty(),
        "Cal.com asked nothing"
    );
    assert_eq!(webhook.store.tool_records(), 0);
    for tenant in [&ours.tenant, &other.tenant] {
        assert!(webhook.store.appointments(tenant).is_empty());
    }
    let lead = webhook.store.lead(&ours.tenant, &ours.lead).await;
    assert_eq!(lead.unwrap().unwrap().status, LeadStatus::Calling);

    // The real call books.
    let (_, booked) = send(&webhook, retell(&book(retell_call(&ours)), RETELL_KEY)).await;
    assert_eq!(booked["booked"], true, "{booked}");
}

#[tokio::test]
async fn a_call_just_ended_by_the_providers_clock_still_takes_tool_calls_on_the_demo_clock() {
    let (w, ours) = webhook().await;
    let wall = jiff::Timestamp::now();
    // Demo time runs 720 times as fast and is days ahead of the wall clock;
    // the provider reported the end 10 s ago by the wall clock.
    let demo =
        leadline_aws::ScaledClock::new(wall, wall + jiff::SignedDuration::from_hours(72), 720.0)
            .unwrap();
    let mut attempt = w.store.attempts().remove(0);
    assert_eq!(attempt.number, 1);
    attempt.status = AttemptStatus::Ended;
    attempt.report.ended_at = Some(wall - jiff::SignedDuration::from_secs(10));
    w.store.record_attempt(&attempt);
    let webhook = VoiceWebhook {
        store: w.store,
        businesses: w.businesses,
        calendar: w.calendar,
        follow_ups: w.follow_ups,
        messages: w.messages,
        dial_queue: MemoryQueue::default(),
        clock: demo,
        retell_api_key: w.retell_api_key,
        vapi: w.vapi,
        inbound: Default::default(),
    };
    let body = json!({"name": "get_business_hours", "args": {}, "call": retell_call(&ours)});
    let request = HttpRequest::builder()
        .method("POST")
        .uri("/webhooks/retell/tools")
        .header(
            retell::SIGNATURE_HEADER,
            retell::sign(
                body.to_string().as_bytes(),
                RETELL_KEY,
                wall.as_millisecond(),
            ),
        )
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = webhook.handle(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = match response.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap(),
        Body::Binary(b) => serde_json::from_slice(b).unwrap(),
        _ => panic!("a JSON answer"),
    };
    assert!(
        answer["say"].as_str().unwrap().starts_with("We're open"),
        "{answer}"
    );
}
