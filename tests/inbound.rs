//! Inbound calls end to end: the simulated provider makes a number call a
//! business's number, asks the stack deployed in MiniStack how to answer
//! (Retell `call_inbound`, Vapi `assistant-request`) and plays the call out
//! with the answer. Asserted on what a user would see: the caller as a lead
//! of the tenant through the API, its outcome and the call's usage record,
//! and a number of no business declined with nothing written.

use std::time::Duration;

use leadline_core::calling::lead::LeadStatus;
use leadline_core::{CampaignId, LeadId, Phone};
use leadline_tests::calling::*;
use leadline_tests::{Body, stack};
use reqwest::Method;
use serde_json::{Value, json};

/// A tenant on `provider` whose own agent answers, and whose business
/// answers a number no other test uses.
async fn business(provider: &str) -> (Setup, String) {
    let setup = setup_with(
        provider,
        &[number()],
        5,
        json!({"voice": {"provider": provider, "agent_id": format!("agent-inbound-{provider}")}}),
    )
    .await;
    let front_desk = number();
    let put = stack()
        .call(
            Method::PUT,
            "api",
            "/v1/business",
            Some(&setup.key),
            Some(Body::Json(json!({
                "name": "Bright Smile Dental", "timezone": "Europe/London",
                "greeting": "Bright Smile Dental, how can I help?",
                "inbound_numbers": [front_desk]
            }))),
        )
        .await;
    assert_eq!(put.status, 201, "{put:?}");
    (setup, front_desk)
}

async fn call_in(provider: &str, from: &str, to: &str) -> Value {
    sim(
        Method::POST,
        "/_sim/inbound-calls",
        Some(json!({"provider": provider, "from": from, "to": to})),
    )
    .await
}

/// The caller's lead through the API, once `done` holds (a minute at most).
async fn caller_lead(setup: &Setup, caller: &str, done: impl Fn(&Value) -> bool) -> Value {
    let id = LeadId::for_caller(&setup.tenant(), &Phone::parse(caller, None).unwrap());
    let mut lead = Value::Null;
    for _ in 0..300 {
        lead = stack()
            .get(&setup.key, &format!("/v1/leads/{id}"))
            .await
            .body;
        if done(&lead) {
            return lead;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the caller's lead never got there: {lead}");
}

async fn inbound_call_plays_out(provider: &str, outcome: &str, status: LeadStatus) {
    let (setup, front_desk) = business(provider).await;
    let caller = number();
    sim(
        Method::PUT,
        &format!("/_sim/numbers/{caller}"),
        Some(json!({"outcome": outcome, "talk_seconds": 20, "ring_seconds": 2})),
    )
    .await;
    let record = call_in(provider, &caller, &front_desk).await;
    assert_eq!(record["taken"], true, "{record}");

    let lead = caller_lead(&setup, &caller, |l| l["status"] == status.as_str()).await;
    assert_eq!(lead["source"], "inbound");
    assert_eq!(lead["phone"], caller.as_str());
    assert_eq!(lead["attempts"], 1);
    let listed = stack()
        .get(
            &setup.key,
            &format!("/v1/campaigns/{}/leads", CampaignId::inbound()),
        )
        .await;
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(listed.body["items"][0]["id"], lead["id"]);
    // Metered as any ended call.
    let usage = stack().get(&setup.key, "/v1/usage").await;
    let records = usage.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(records.len(), 1, "{usage:?}");
}

#[tokio::test]
async fn a_retell_caller_becomes_the_tenants_lead_and_the_call_plays_out_as_an_outbound_one() {
    inbound_call_plays_out("retell", "qualified", LeadStatus::Completed).await;
}

#[tokio::test]
async fn a_vapi_caller_becomes_the_tenants_lead_and_the_call_plays_out_as_an_outbound_one() {
    inbound_call_plays_out("vapi", "not_interested", LeadStatus::NotInterested).await;
}

#[tokio::test]
async fn a_call_to_a_number_of_no_business_is_declined_and_writes_nothing() {
    let (setup, _) = business("retell").await;
    let caller = number();
    for provider in ["retell", "vapi"] {
        let record = call_in(provider, &caller, &number()).await;
        assert_eq!(record["taken"], false, "{record}");
        assert_eq!(
            record["status"], 200,
            "a clear answer, not an error: {record}"
        );
    }
    let id = LeadId::for_caller(&setup.tenant(), &Phone::parse(&caller, None).unwrap());
    let lead = stack().get(&setup.key, &format!("/v1/leads/{id}")).await;
    assert_eq!(lead.status, 404);
}
