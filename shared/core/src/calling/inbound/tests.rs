use serde_json::json;

use super::*;
use crate::CampaignId;
use crate::appointments::business::tests::business;
use crate::calling::call::{CallEvent, CallPhase, CallReport};
use crate::calling::call_events::{EventResult, apply_call_event};
use crate::calling::dispatch::tests::{FakeDialer, World};
use crate::calling::dispatch::{self, DialResult};
use crate::calling::lead::{CallOutcome, LeadField, LeadSource, LeadStatus};
use crate::calling::work::DialJob;
use crate::ports::{BusinessStore, LeadStore};

const NUMBER: &str = "+14155550100";
const CALLER: &str = "+14155550142";

fn phone(raw: &str) -> Phone {
    Phone::parse(raw, None).unwrap()
}

fn agents() -> DefaultAgents {
    DefaultAgents {
        retell: Some("agent_shared".into()),
        vapi: Some("asst-shared".into()),
    }
}

/// The world of the dispatcher's tests (tenant `acme`, one imported lead),
/// whose business answers `NUMBER`.
async fn world() -> World {
    let w = World::new(1, FakeDialer::default()).await;
    let mut b = business();
    b.tenant = w.tenant.id.clone();
    b.inbound_numbers = vec![phone(NUMBER)];
    w.store.save_business(&b, None).await.unwrap();
    w
}

fn vapi_call(call_id: &str) -> InboundCall {
    InboundCall {
        provider: VoiceProvider::Vapi,
        provider_call_id: Some(call_id.into()),
        called: Some(phone(NUMBER)),
        caller: Some(phone(CALLER)),
    }
}

fn retell_call() -> InboundCall {
    InboundCall {
        provider: VoiceProvider::Retell,
        provider_call_id: None,
        ..vapi_call("-")
    }
}

async fn answer(w: &World, call: &InboundCall) -> InboundAnswer {
    answer_inbound(
        &w.store,
        &w.store,
        &w.effects(),
        call,
        &agents(),
        w.limits,
        w.clock_now(),
    )
    .await
    .unwrap()
}

fn greeting(answer: InboundAnswer) -> Greeting {
    match answer {
        InboundAnswer::Answer(greeting) => greeting,
        InboundAnswer::Decline(why) => panic!("declined: {why:?}"),
    }
}

async fn caller_lead(w: &World) -> Option<Lead> {
    let id = LeadId::for_caller(&w.tenant.id, &phone(CALLER));
    w.store.lead(&w.tenant.id, &id).await.unwrap()
}

/// Every lead and attempt stored, to show that nothing was written.
async fn stored(w: &World) -> (usize, Vec<CallAttempt>) {
    let imported = w
        .store
        .leads(&w.tenant.id, &w.campaign.id, None, &Default::default())
        .await
        .unwrap()
        .items
        .len();
    let inbound = w
        .store
        .leads(
            &w.tenant.id,
            &CampaignId::inbound(),
            None,
            &Default::default(),
        )
        .await
        .unwrap()
        .items
        .len();
    (imported + inbound, w.store.attempts())
}

#[tokio::test]
async fn a_call_to_a_tenants_number_is_answered_as_its_business_with_our_metadata() {
    let w = world().await;
    let answered = greeting(answer(&w, &vapi_call("c-1")).await);
    let lead_id = LeadId::for_caller(&w.tenant.id, &phone(CALLER));
    assert_eq!(answered.tenant, w.tenant.id);
    assert_eq!(
        answered.call,
        Some(CallRef {
            tenant: w.tenant.id.clone(),
            lead: lead_id.clone(),
            attempt: 1
        })
    );
    assert_eq!(answered.variables["business_name"], "Bright Smile Dental");
    assert_eq!(
        answered.variables["greeting"],
        "Thank you for calling Bright Smile Dental. How can I help you today?"
    );
    assert_eq!(answered.variables["direction"], "inbound");
    assert_eq!(answered.agent_id.as_deref(), Some("asst-shared"));

    // The caller is a new lead of the tenant, on the line.
    let lead = caller_lead(&w).await.expect("the caller became a lead");
    assert_eq!(lead.id, lead_id);
    assert_eq!(lead.source, LeadSource::Inbound);
    assert!(lead.campaign.is_inbound());
    assert_eq!((lead.status, lead.attempts), (LeadStatus::Calling, 1));
    assert_eq!(lead.phone, phone(CALLER));
    // The call is its first attempt, inbound, bound to the provider's call.
    let attempt = w
        .store
        .attempts()
        .into_iter()
        .find(|a| a.lead == lead_id)
        .unwrap();
    assert_eq!(attempt.direction, CallDirection::Inbound);
    assert_eq!(attempt.provider, VoiceProvider::Vapi);
    assert_eq!(attempt.provider_call_id.as_deref(), Some("c-1"));
    assert_eq!(attempt.status, AttemptStatus::Placed);
    assert!(
        attempt.stuck_after.is_some(),
        "the sweep looks at a call nobody ends"
    );
    assert_eq!(w.store.slots_held(), 0, "an inbound call takes no slot");
}

#[tokio::test]
async fn an_unknown_number_or_none_is_declined_and_nothing_is_written() {
    let w = world().await;
    let before = stored(&w).await;
    let unknown = InboundCall {
        called: Some(phone("+14155550999")),
        ..vapi_call("c-1")
    };
    assert_eq!(
        answer(&w, &unknown).await,
        InboundAnswer::Decline(Declined::UnknownNumber)
    );
    let none = InboundCall {
        called: None,
        ..retell_call()
    };
    assert_eq!(
        answer(&w, &none).await,
        InboundAnswer::Decline(Declined::NoNumberDialled)
    );
    assert_eq!(stored(&w).await, before);
    assert!(w.no_effects());
}

#[tokio::test]
async fn a_withheld_caller_id_is_answered_as_the_business_and_nothing_is_written() {
    let w = world().await;
    let before = stored(&w).await;
    let anonymous = InboundCall {
        caller: None,
        ..retell_call()
    };
    let answered = greeting(answer(&w, &anonymous).await);
    assert_eq!(answered.call, None, "no lead to route the call's events to");
    assert_eq!(answered.variables["business_name"], "Bright Smile Dental");
    assert_eq!(answered.agent_id.as_deref(), Some("agent_shared"));
    assert_eq!(stored(&w).await, before);
}

#[tokio::test]
async fn without_an_agent_vapi_cannot_answer_and_nothing_is_written() {
    let w = world().await;
    let before = stored(&w).await;
    let answered = answer_inbound(
        &w.store,
        &w.store,
        &w.effects(),
        &vapi_call("c-1"),
        &DefaultAgents::default(),
        w.limits,
        w.clock_now(),
    )
    .await
    .unwrap();
    assert_eq!(answered, InboundAnswer::Decline(Declined::NoAgent));
    assert_eq!(stored(&w).await, before);
    // Retell answers with the agent the number is set up with.
    let retell = answer_inbound(
        &w.store,
        &w.store,
        &w.effects(),
        &retell_call(),
        &DefaultAgents::default(),
        w.limits,
        w.clock_now(),
    )
    .await
    .unwrap();
    assert_eq!(greeting(retell).agent_id, None);
}

#[tokio::test]
async fn the_tenants_own_agent_answers_calls_of_its_own_provider() {
    let w = world().await;
    w.tenant_mut(|t| t.voice.agent_id = Some("agent_acme".into()));
    let retell = greeting(answer(&w, &retell_call()).await);
    assert_eq!(retell.agent_id.as_deref(), Some("agent_acme"));
    // The tenant calls through Retell: on Vapi the deployment's assistant answers.
    let vapi = greeting(answer(&w, &vapi_call("c-2")).await);
    assert_eq!(vapi.agent_id.as_deref(), Some("asst-shared"));
}

#[tokio::test]
async fn a_redelivered_request_gets_the_same_answer_and_records_one_lead_and_one_attempt() {
    let w = world().await;
    // Vapi: the same call id.
    let first = answer(&w, &vapi_call("c-1")).await;
    let recorded = stored(&w).await;
    assert_eq!(answer(&w, &vapi_call("c-1")).await, first);
    assert_eq!(stored(&w).await, recorded);

    // Retell asks before the call exists, without an id: a request within
    // the redelivery window after an attempt no event has bound yet is
    // that attempt's.
    let w = world().await;
    let first = answer(&w, &retell_call()).await;
    let recorded = stored(&w).await;
    w.clock.advance(30);
    assert_eq!(answer(&w, &retell_call()).await, first);
    assert_eq!(stored(&w).await, recorded);
}

#[tokio::test]
async fn a_caller_who_calls_again_is_the_same_lead_on_its_next_attempt() {
    let w = world().await;
    let first = greeting(answer(&w, &vapi_call("c-1")).await).call.unwrap();
    apply(
        &w,
        &first,
        "c-1",
        CallPhase::Ended,
        Some(CallOutcome::Completed),
        None,
    )
    .await;
    assert_eq!(caller_lead(&w).await.unwrap().status, LeadStatus::Completed);

    let again = greeting(answer(&w, &vapi_call("c-2")).await).call.unwrap();
    assert_eq!((again.lead.clone(), again.attempt), (first.lead.clone(), 2));
    let lead = caller_lead(&w).await.unwrap();
    assert_eq!((lead.status, lead.attempts), (LeadStatus::Calling, 2));
    // Retell, without an id, long after: a new call, not a redelivery.
    apply(
        &w,
        &again,
        "c-2",
        CallPhase::Ended,
        Some(CallOutcome::Completed),
        None,
    )
    .await;
    w.clock.advance(600);
    let third = greeting(answer(&w, &retell_call()).await).call.unwrap();
    assert_eq!(third.attempt, 3);
    assert_eq!(w.store.attempts().len(), 3);
}

#[tokio::test]
async fn a_returning_caller_is_greeted_by_the_name_they_gave() {
    let w = world().await;
    let first = greeting(answer(&w, &vapi_call("c-1")).await).call.unwrap();
    let said = json!({"outcome": "qualified", "full_name": "Sam Lee"});
    apply(&w, &first, "c-1", CallPhase::Analyzed, None, Some(said)).await;
    let again = greeting(answer(&w, &vapi_call("c-2")).await);
    assert_eq!(again.variables["name"], "Sam Lee");
    assert_eq!(again.variables["first_name"], "Sam");
}

/// Applies an event of the inbound call `ours` (provider call `call_id`).
async fn apply(
    w: &World,
    ours: &CallRef,
    call_id: &str,
    phase: CallPhase,
    outcome: Option<CallOutcome>,
    structured: Option<serde_json::Value>,
) -> EventResult {
    let outcome = outcome.or_else(|| {
        structured
            .as_ref()
            .and_then(crate::calling::call::outcome_from_analysis)
    });
    let event = CallEvent {
        provider: VoiceProvider::Vapi,
        provider_call_id: call_id.into(),
        dedupe_key: format!("vapi#{call_id}#{phase:?}"),
        call: Some(ours.clone()),
        phase,
        outcome,
        report: CallReport {
            duration_ms: matches!(phase, CallPhase::Ended | CallPhase::Analyzed).then_some(90_000),
            structured,
            ..CallReport::default()
        },
    };
    apply_call_event(&w.store, &w.effects(), &event, w.clock_now())
        .await
        .unwrap()
}

#[tokio::test]
async fn an_inbound_call_plays_out_as_an_outbound_one_but_gives_back_no_slot() {
    let w = world().await;
    let ours = greeting(answer(&w, &vapi_call("c-1")).await).call.unwrap();
    let said = json!({
        "outcome": "appointment_set",
        "name": "Sam Lee",
        "email": "sam.lee@example.com",
        "callback_number": "not a number"
    });
    for (phase, outcome, structured) in [
        (CallPhase::Started, None, None),
        (CallPhase::Ended, Some(CallOutcome::Completed), None),
        (CallPhase::Analyzed, None, Some(said)),
    ] {
        let result = apply(&w, &ours, "c-1", phase, outcome, structured).await;
        assert_eq!(result, EventResult::Applied, "{phase:?}");
    }
    let lead = caller_lead(&w).await.unwrap();
    assert_eq!(lead.status, LeadStatus::Booked, "the analysis wins");
    assert_eq!(lead.name.as_deref(), Some("Sam Lee"));
    assert_eq!(
        lead.email.as_ref().map(crate::Email::expose),
        Some("sam.lee@example.com")
    );
    assert_eq!(lead.preferred_phone, None, "what does not parse is ignored");
    assert_eq!(lead.from_call, [LeadField::Name, LeadField::Email]);
    // Metered as any ended call: one usage record.
    let usage = w.store.usage_records();
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0].billable_seconds, 90);
    // It held no slot: its end gives none back and wakes nobody.
    assert_eq!(w.store.slots_held(), 0);
    assert!(w.queue.is_empty(), "no wake on the dial queue");
}

#[tokio::test]
async fn a_callback_asked_for_on_an_inbound_call_is_placed_without_a_campaign() {
    let w = world().await;
    let ours = greeting(answer(&w, &vapi_call("c-1")).await).call.unwrap();
    let asked =
        json!({"outcome": "callback_requested", "callback_at": "2026-11-24T15:00:00-05:00"});
    apply(&w, &ours, "c-1", CallPhase::Analyzed, None, Some(asked)).await;
    let lead = caller_lead(&w).await.unwrap();
    assert_eq!(lead.status, LeadStatus::CallbackPending);
    assert_eq!(lead.next_call.as_ref().map(|n| n.attempt), Some(2));

    // When it is due, the dispatcher dials it though no campaign lists it.
    let mut queued = lead.clone();
    queued.queue(2, w.clock_now()).unwrap();
    w.store.save_lead(&queued).await.unwrap();
    let job = DialJob::for_lead(&queued, false);
    let tenant = w.store.tenant_now(&w.tenant.id).unwrap();
    assert_eq!(
        dispatch::decide(&job, &tenant, None, &queued, false, w.clock_now()),
        dispatch::Decision::Dial
    );
    assert!(matches!(w.dial(&job).await, DialResult::Placed { .. }));
    let sent = w.dialer.requests.lock().unwrap()[0].clone();
    assert_eq!(sent.to, phone(CALLER));
    // A lead of a campaign that does not exist is not dialled.
    let orphan = Lead {
        campaign: CampaignId::from_bytes(&[9; 15]),
        ..queued
    };
    assert!(matches!(
        dispatch::decide(&job, &tenant, None, &orphan, false, w.clock_now()),
        dispatch::Decision::Drop(_)
    ));
}

#[test]
fn a_request_without_a_call_id_is_a_redelivery_only_of_an_unbound_recent_inbound_attempt() {
    let now: Timestamp = "2026-11-23T18:00:00Z".parse().unwrap();
    let ours = CallRef {
        tenant: TenantId::parse("acme").unwrap(),
        lead: LeadId::from_bytes(&[1; 15]),
        attempt: 1,
    };
    let recorded = CallAttempt {
        direction: CallDirection::Inbound,
        status: AttemptStatus::Placed,
        ..CallAttempt::dialing(&ours, CampaignId::inbound(), VoiceProvider::Retell, now)
    };
    let retell = retell_call();
    assert!(same_call(
        &recorded,
        &retell,
        now + SignedDuration::from_secs(40)
    ));
    assert!(!same_call(
        &recorded,
        &retell,
        now + REDELIVERY_WINDOW + SignedDuration::from_secs(1)
    ));
    let bound = CallAttempt {
        provider_call_id: Some("call_1".into()),
        ..recorded.clone()
    };
    assert!(
        !same_call(&bound, &retell, now),
        "its call is known: another call"
    );
    let ended = CallAttempt {
        status: AttemptStatus::Ended,
        ..recorded.clone()
    };
    assert!(!same_call(&ended, &retell, now));
    let outbound = CallAttempt {
        direction: CallDirection::Outbound,
        ..recorded.clone()
    };
    assert!(!same_call(&outbound, &retell, now));
    let vapi = vapi_call("c-1");
    assert!(!same_call(&recorded, &vapi, now), "another provider");
}
