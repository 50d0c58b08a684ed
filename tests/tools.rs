//! In-call tools end to end: signed Retell custom-function requests to the
//! watched `voice-webhook`, which reads the business from DynamoDB and books
//! through the simulated Cal.com (API v2). Asserted on what a user would
//! see: the booking Cal.com received, the lead and its appointments through
//! the API, the follow-up job on the messenger's queue. A tool call whose
//! metadata is not a call leadline placed books nothing.

use std::time::{Duration, Instant};

use jiff::Timestamp;
use leadline_core::CampaignId;
use leadline_core::calling::attempt::{AttemptStatus, CallAttempt};
use leadline_core::calling::call::CallRef;
use leadline_core::in_call::{FALLBACK, NOT_THIS_CALL};
use leadline_core::intake::tenant::VoiceProvider;
use leadline_core::write::{Change, Commit, Entity};
use leadline_tests::calling::*;
use leadline_tests::{Body, stack};
use reqwest::Method;
use serde_json::{Value, json};

/// A Retell tenant with one lead, whom leadline is calling on Retell call
/// `call_id` (attempt 1), a business on its own Cal.com account and a
/// 30-minute cleaning (event type 501) bookable by phone.
async fn business(call_id: &str) -> (Setup, CallRef, String) {
    let setup = setup("retell", &[number()], 5).await;
    let account = format!("cal_{}", setup.slug);
    let s = stack();
    let put = s
        .call(
            Method::PUT,
            "api",
            "/v1/business",
            Some(&setup.key),
            Some(Body::Json(json!({
                "name": "Bright Smile Dental", "timezone": "America/New_York",
                "opening_hours": {"monday": [{"open": "09:00", "close": "17:00"}]},
                "calcom_api_key": account
            }))),
        )
        .await;
    assert_eq!(put.status, 201, "{put:?}");
    assert_eq!(put.body["calendar_connected"], true);
    assert!(
        put.body.get("calendar").is_none(),
        "the key is never answered"
    );
    let service = s
        .call(
            Method::POST,
            "api",
            "/v1/services",
            Some(&setup.key),
            Some(Body::Json(json!({
                "id": "cleaning", "name": "Teeth cleaning", "duration_minutes": 30,
                "price_cents": 12000, "calcom_event_type_id": 501
            }))),
        )
        .await;
    assert_eq!(service.status, 201, "{service:?}");
    let ours = CallRef {
        tenant: setup.tenant(),
        lead: setup.leads[0].id.clone(),
        attempt: 1,
    };
    record_call(&setup, &ours, VoiceProvider::Retell, call_id).await;
    (setup, ours, account)
}

/// Records attempt `ours` on `provider`'s call `call_id` as the dispatcher
/// and the call's first events leave it: the call id recorded, in progress.
/// (No slots and no sweep time: the sweep must not end it mid-test.)
async fn record_call(setup: &Setup, ours: &CallRef, provider: VoiceProvider, call_id: &str) {
    let campaign = CampaignId::parse(&setup.campaign).unwrap();
    let attempt = CallAttempt {
        provider_call_id: Some(call_id.into()),
        status: AttemptStatus::InProgress,
        ..CallAttempt::dialing(ours, campaign, provider, Timestamp::now())
    };
    store()
        .await
        .commit(&[Change::Create(Entity::Attempt(attempt))])
        .await
        .unwrap();
}

/// One signed custom-function request, as Retell sends it.
async fn tool(ours: &CallRef, call_id: &str, name: &str, args: Value) -> Value {
    let body = json!({
        "name": name, "args": args,
        "call": {"call_id": call_id, "direction": "outbound", "from_number": "+14155550100",
                 "to_number": "+14155552671", "metadata": ours.to_metadata()}
    });
    let raw = serde_json::to_vec(&body).unwrap();
    let signature = leadline_voice::retell::sign(
        &raw,
        &var("LEADLINE_RETELL_API_KEY"),
        Timestamp::now().as_millisecond(),
    );
    let response = stack()
        .http()
        .post(stack().url("voice-webhook", "/webhooks/retell/tools"))
        .header("x-retell-signature", signature)
        .body(raw)
        .send()
        .await
        .expect("voice-webhook answers");
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn calcom(path: &str, account: &str) -> Value {
    sim(Method::GET, &format!("{path}?account={account}"), None).await
}

#[tokio::test]
async fn an_agent_checks_availability_and_books_through_calcom_once() {
    let (setup, ours, account) = business("call_t1").await;
    let slots = tool(
        &ours,
        "call_t1",
        "check_availability",
        json!({"service": "cleaning"}),
    )
    .await;
    let first = slots["slots"][0]["start"]
        .as_str()
        .unwrap_or_else(|| panic!("free slots: {slots}"))
        .to_owned();
    assert_eq!(slots["slots"].as_array().unwrap().len(), 3, "{slots}");

    let args = json!({"service": "cleaning", "start": first, "email": "ada@example.com"});
    let booked = tool(&ours, "call_t1", "book_appointment", args.clone()).await;
    assert_eq!(booked["booked"], true, "{booked}");
    // Retell retries a custom function with the same body.
    let again = tool(&ours, "call_t1", "book_appointment", args).await;
    assert_eq!(again, booked);

    let bookings = calcom("/_sim/calcom/bookings", &account).await;
    let bookings = bookings.as_array().unwrap();
    assert_eq!(bookings.len(), 1, "one booking: {bookings:?}");
    let metadata = &bookings[0]["metadata"];
    assert_eq!(metadata["leadline_tenant"], setup.slug);
    assert_eq!(metadata["leadline_lead"], ours.lead.as_str());
    assert_eq!(metadata["leadline_call"], "call_t1");
    let requests = calcom("/_sim/calcom/requests", &account).await;
    assert!(
        requests
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["api_version"] == "2024-09-04" || r["api_version"] == "2024-08-13"),
        "{requests}"
    );

    let lead = setup.lead(0).await;
    assert_eq!(lead["status"], "booked");
    let appointments = stack()
        .get(&setup.key, &format!("/v1/leads/{}/appointments", ours.lead))
        .await;
    let items = appointments.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{appointments:?}");
    assert_eq!(items[0]["booking_uid"], bookings[0]["uid"]);
    assert_eq!(items[0]["service"], "cleaning");
}

#[tokio::test]
async fn a_slot_taken_meanwhile_is_answered_with_the_nearest_free_times() {
    let (setup, ours, account) = business("call_t2").await;
    let slots = tool(
        &ours,
        "call_t2",
        "check_availability",
        json!({"service": "cleaning"}),
    )
    .await;
    let wanted = slots["slots"][1]["start"].as_str().unwrap().to_owned();
    sim(
        Method::POST,
        &format!("/_sim/calcom/faults?account={account}"),
        Some(json!({"take_next_slot": true})),
    )
    .await;
    let answer = tool(
        &ours,
        "call_t2",
        "book_appointment",
        json!({"service": "cleaning", "start": wanted, "email": "ada@example.com"}),
    )
    .await;
    assert_eq!(answer["booked"], false, "{answer}");
    let alternatives = answer["alternatives"].as_array().unwrap();
    assert!(!alternatives.is_empty());
    assert!(alternatives.iter().all(|a| a["start"] != wanted.as_str()));
    assert_ne!(setup.lead(0).await["status"], "booked");
}

#[tokio::test]
async fn a_slow_or_failing_calcom_gets_the_spoken_fallback_and_a_follow_up_task() {
    let (setup, ours, account) = business("call_t3").await;
    let slots = tool(
        &ours,
        "call_t3",
        "check_availability",
        json!({"service": "cleaning"}),
    )
    .await;
    let wanted = slots["slots"][0]["start"].as_str().unwrap().to_owned();

    // Slower than the 3 s cut-off: the answer comes at the cut-off, not after Cal.com.
    let faults = format!("/_sim/calcom/faults?account={account}");
    sim(Method::POST, &faults, Some(json!({"latency_ms": 6000}))).await;
    let asked = Instant::now();
    let answer = tool(
        &ours,
        "call_t3",
        "book_appointment",
        json!({"service": "cleaning", "start": wanted, "email": "ada@example.com"}),
    )
    .await;
    let took = asked.elapsed();
    assert_eq!(answer["say"], FALLBACK, "{answer}");
    assert!(took < Duration::from_secs(5), "answered after {took:?}");

    // A 5xx: the same fallback (the booking attempt forgot the cached slots).
    sim(Method::DELETE, &faults, None).await;
    sim(Method::POST, &faults, Some(json!({"status": 503}))).await;
    let answer = tool(
        &ours,
        "call_t3",
        "check_availability",
        json!({"service": "cleaning"}),
    )
    .await;
    sim(Method::DELETE, &faults, None).await;
    assert_eq!(answer["say"], FALLBACK, "{answer}");
    assert_eq!(answer["follow_up"], true);

    let jobs = lead_messages(&setup.key, &ours.lead, 2).await;
    let tasks: Vec<&Value> = jobs
        .iter()
        .filter(|j| j["purpose"] == "booking_follow_up")
        .collect();
    assert_eq!(
        tasks.len(),
        2,
        "one follow-up task per failed request: {jobs:?}"
    );
    assert!(
        tasks
            .iter()
            .any(|t| t["params"]["wanted"] == wanted.as_str())
    );
}

#[tokio::test]
async fn signed_tool_calls_with_forged_metadata_book_nothing() {
    let (setup, ours, account) = business("call_t4").await;
    let (other, theirs, their_account) = business("call_t5").await;
    // Attempt 2 of our lead went through Vapi.
    let vapi = CallRef {
        attempt: 2,
        ..ours.clone()
    };
    record_call(&setup, &vapi, VoiceProvider::Vapi, "call_v4").await;
    let slots = tool(
        &ours,
        "call_t4",
        "check_availability",
        json!({"service": "cleaning"}),
    )
    .await;
    let start = slots["slots"][0]["start"]
        .as_str()
        .unwrap_or_else(|| panic!("free slots: {slots}"))
        .to_owned();
    let asked_before = calcom("/_sim/calcom/requests", &account).await;
    let lead_before = setup.lead(0).await;

    // Signed with the deployment's Retell key, as the simulated Retell signs.
    let forged = [
        (
            "another tenant's id",
            CallRef {
                tenant: other.tenant(),
                ..ours.clone()
            },
            "call_t4",
        ),
        (
            "another lead's id",
            CallRef {
                lead: theirs.lead.clone(),
                ..ours.clone()
            },
            "call_t4",
        ),
        (
            "a wrong attempt number",
            CallRef {
                attempt: 3,
                ..ours.clone()
            },
            "call_t4",
        ),
        ("another provider call", ours.clone(), "call_forged"),
        ("the Vapi attempt, through Retell", vapi.clone(), "call_v4"),
    ];
    let args = json!({"service": "cleaning", "start": start, "email": "ada@example.com"});
    for (what, metadata, call_id) in &forged {
        let answer = tool(metadata, call_id, "book_appointment", args.clone()).await;
        assert_eq!(answer, json!({"error": NOT_THIS_CALL}), "{what}");
    }

    for (account, asked) in [
        (&account, asked_before.as_array().unwrap().len()),
        (&their_account, 0),
    ] {
        let bookings = calcom("/_sim/calcom/bookings", account).await;
        assert_eq!(bookings, json!([]), "Cal.com received no booking");
        let requests = calcom("/_sim/calcom/requests", account).await;
        assert_eq!(
            requests.as_array().unwrap().len(),
            asked,
            "nothing more asked of Cal.com: {requests}"
        );
    }
    for tenant in [&setup, &other] {
        for prefix in ["APPT#", "TOOL#"] {
            let items = tenant.items_with_prefix(prefix).await;
            assert!(items.is_empty(), "{prefix} items: {items:?}");
        }
    }
    assert_eq!(setup.lead(0).await, lead_before, "the lead unchanged");

    // The call leadline placed books the same time.
    let booked = tool(&ours, "call_t4", "book_appointment", args).await;
    assert_eq!(booked["booked"], true, "{booked}");
    let bookings = calcom("/_sim/calcom/bookings", &account).await;
    assert_eq!(bookings.as_array().unwrap().len(), 1);
}
