//! Retries, callbacks and the sweep end to end: schedules created in
//! MiniStack's EventBridge Scheduler fire onto the deployed dial queue, the
//! deployed dispatcher places the owed call with the simulated provider, and
//! `call-retries` (under cargo lambda watch) sweeps what is due. These run one
//! at a time: a sweep acts on every due item in the table.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use leadline_aws::{Aws, OneOffs, SchedulerFollowUps};
use leadline_core::LeadId;
use leadline_core::calling::lead::{Lead, NextCallKind};
use leadline_core::calling::work::DialMessage;
use leadline_core::calling::work::FollowUp;
use leadline_core::ports::FollowUpScheduler;
use leadline_tests::calling::*;
use leadline_tests::stack;
use reqwest::Method;
use serde_json::{Value, json};

async fn script(phone: &str, script: Value) {
    sim(Method::PUT, &format!("/_sim/numbers/{phone}"), Some(script)).await;
}

async fn start(setup: &Setup) {
    let started = stack()
        .call(
            Method::POST,
            "api",
            &format!("/v1/campaigns/{}:start", setup.campaign),
            Some(&setup.key),
            None,
        )
        .await;
    assert_eq!(started.status, 202, "{started:?}");
}

fn lead_of(value: &Value) -> Lead {
    serde_json::from_value(value.clone()).expect("a lead")
}

async fn scheduler() -> aws_sdk_scheduler::Client {
    Aws::from_env().await.scheduler()
}

/// The schedule of `name` in leadline's group, or `None` when Scheduler
/// says it does not exist. Any other error fails the test: a schedule that
/// could not be read is not a deleted one.
async fn schedule(
    name: &str,
) -> Option<aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput> {
    match scheduler()
        .await
        .get_schedule()
        .group_name(var("LEADLINE_ScheduleGroupName"))
        .name(name)
        .send()
        .await
    {
        Ok(found) => Some(found),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            None
        }
        Err(e) => panic!(
            "GetSchedule {name}: {}",
            aws_sdk_scheduler::error::DisplayErrorContext(&e)
        ),
    }
}

#[tokio::test]
async fn an_unanswered_lead_is_retried_through_scheduler_then_exhausted_with_a_fallback_sms_queued()
{
    let phone = number();
    script(&phone, json!({"outcome": "no_answer", "ring_seconds": 20})).await;
    let setup = setup_with(
        "retell",
        std::slice::from_ref(&phone),
        5,
        json!({"retry_after_seconds": [2, 2]}),
    )
    .await;
    start(&setup).await;

    // Exhausted, and its messages handed to the messenger's queue right after.
    let lead = setup
        .wait_for_lead_for(0, Duration::from_secs(120), |l| {
            l["status"] == "exhausted"
                && l["messages"]
                    .as_array()
                    .is_some_and(|m| m.iter().all(|m| m["status"] != "pending"))
        })
        .await;
    let lead = lead_of(&lead);
    assert_eq!(lead.attempts, 3, "the first call and two retries");
    let placed = sim_calls(&phone).await;
    let statuses: Vec<&Value> = placed.iter().map(|c| &c["status"]).collect();
    assert_eq!(statuses, [&json!(201); 3], "{placed:?}");
    assert_eq!(
        lead.note.as_deref(),
        Some("no answer after 3 attempts; fallback messages queued")
    );
    assert_eq!(lead.messages.len(), 1, "{:?}", lead.messages);
    let sms = &lead.messages[0];
    assert_eq!(
        (
            serde_json::to_value(sms.channel).unwrap(),
            sms.to.expose(),
            serde_json::to_value(sms.status).unwrap()
        ),
        (json!("sms"), phone.as_str(), json!("queued"))
    );
    // The messenger took it on (this tenant set no messaging: refused, and said why).
    let messages = lead_messages(&setup.key, &lead.id, 1).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["channel"], "sms");
    assert_eq!(messages[0]["template"], "call_fallback");
    assert_eq!(messages[0]["address"], phone.as_str());
    // Each schedule deleted itself once it ran.
    for attempt in [2, 3] {
        assert!(
            schedule(&format!("call-{}-{attempt}", lead.id))
                .await
                .is_none()
        );
    }
    assert_eq!(setup.slots_held().await, 0);
}

#[tokio::test]
async fn a_requested_callback_is_placed_at_the_time_asked() {
    let phone = number();
    script(
        &phone,
        // The simulated agent states the time to the minute: 70 s ahead is 10-70 s ahead.
        json!({"outcome": "callback_requested", "talk_seconds": 20, "callback_in_seconds": 70}),
    )
    .await;
    let setup = setup_with("retell", std::slice::from_ref(&phone), 5, json!({})).await;
    start(&setup).await;
    let pending = lead_of(
        &setup
            .wait_for_lead(0, |l| l["status"] == "callback_pending")
            .await,
    );
    let owed = pending.next_call.clone().expect("the callback is owed");
    assert_eq!((owed.kind, owed.attempt), (NextCallKind::Callback, 2));
    let asked = owed.at;
    assert!(asked > Timestamp::now(), "{asked}");
    assert!(schedule(&format!("call-{}-2", pending.id)).await.is_some());
    // This time the lead says no.
    script(
        &phone,
        json!({"outcome": "not_interested", "talk_seconds": 10}),
    )
    .await;

    let done = lead_of(
        &setup
            .wait_for_lead_for(0, Duration::from_secs(120), |l| {
                l["status"] == "not_interested"
            })
            .await,
    );
    assert_eq!(done.attempts, 2);
    let attempts = setup.items_with_prefix("ATTEMPT#").await;
    let second = attempts
        .iter()
        .find(|a| a["number"].as_n().ok().map(String::as_str) == Some("2"))
        .expect("attempt 2");
    let placed: Timestamp = second["created_at"].as_s().unwrap().parse().unwrap();
    // Not before the time asked, and not much after: MiniStack's Scheduler
    // fires on a 10 s tick, then the dial queue hands the job to the
    // deployed dispatcher.
    let late = placed.duration_since(asked);
    assert!(
        late >= SignedDuration::ZERO && late <= SignedDuration::from_secs(30),
        "called back at {placed}, asked for {asked}: {late:#} off"
    );
}

#[tokio::test]
async fn a_follow_up_delivered_twice_places_one_call_and_a_deleted_lead_loses_its_schedule() {
    let phones = [number(), number()];
    for phone in &phones {
        script(phone, json!({"outcome": "no_answer", "ring_seconds": 10})).await;
    }
    let setup = setup_with("retell", &phones, 5, json!({"retry_after_seconds": [3600]})).await;
    start(&setup).await;
    let mut owed = Vec::new();
    for i in 0..2 {
        let lead = lead_of(
            &setup
                .wait_for_lead(i, |l| l["status"] == "retry_pending")
                .await,
        );
        let follow_up = FollowUp::of(&lead).expect("a retry is owed");
        let scheduled = schedule(&follow_up.schedule_name())
            .await
            .expect("its schedule exists");
        let expected = leadline_aws::schedules::at_expression(follow_up.due_at);
        assert_eq!(scheduled.schedule_expression(), Some(expected.as_str()));
        owed.push(follow_up);
    }

    // Lead 0's schedule fires twice (at-least-once delivery): one call.
    let message = DialMessage::FollowUp(owed[0].clone());
    let answer = dispatch(&[message.clone(), message]).await;
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    let placed = sim_calls(&phones[0]).await;
    let statuses: Vec<&Value> = placed.iter().map(|c| &c["status"]).collect();
    assert_eq!(
        statuses,
        [&json!(201); 2],
        "the first call and one retry: {placed:?}"
    );

    // Lead 1 is deleted: its schedule goes with it.
    let deleted = stack()
        .call(
            Method::DELETE,
            "api",
            &format!("/v1/leads/{}", setup.leads[1].id),
            Some(&setup.key),
            None,
        )
        .await;
    assert_eq!(deleted.status, 200, "{deleted:?}");
    assert!(schedule(&owed[1].schedule_name()).await.is_none());
    assert_eq!(setup.lead(1).await["error"]["code"], "not_found");
    // Had it fired anyway, nothing would happen.
    let late = dispatch(&[DialMessage::FollowUp(owed[1].clone())]).await;
    assert_eq!(late["batchItemFailures"], json!([]), "{late}");
    assert_eq!(sim_calls(&phones[1]).await.len(), 1);
}

#[tokio::test]
async fn the_sweep_settles_stuck_calls_with_the_provider_and_frees_their_slots() {
    let (stuck, unreported) = (number(), number());
    script(&stuck, json!({"outcome": "qualified", "stuck": true})).await;
    script(
        &unreported,
        json!({"outcome": "not_interested", "talk_seconds": 10}),
    )
    .await;
    sim(
        Method::POST,
        "/_sim/faults",
        Some(json!({"provider": "retell", "to": unreported, "webhooks": {"drop_final": true}})),
    )
    .await;
    let setup = setup_with("retell", &[stuck.clone(), unreported.clone()], 5, json!({})).await;
    start(&setup).await;
    for i in 0..2 {
        setup.wait_for_lead(i, |l| l["status"] == "calling").await;
    }
    // The unreported call ends at the provider; no final webhook comes.
    let calls = sim_calls(&unreported).await;
    let id = calls[0]["call_id"]
        .as_str()
        .expect("the call's id")
        .to_owned();
    for _ in 0..100 {
        let now = stack()
            .http()
            .get(format!("{}/v2/get-call/{id}", var("LEADLINE_SIM_URL")))
            .bearer_auth(var("LEADLINE_RETELL_API_KEY"))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap_or_default();
        if now["call_status"] == "ended" && !now["call_analysis"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(setup.lead(1).await["status"], "calling");
    assert_eq!(setup.slots_held().await, 2);

    // The cron's sweep, as of a time past the longest call plus its margin.
    let at = Timestamp::now() + SignedDuration::from_mins(66);
    let (status, report) = stack()
        .invoke(
            "call-retries",
            &json!({"kind": "sweep", "at": at.to_string()}),
        )
        .await;
    assert_eq!(status, 200, "{report}");
    assert!(
        report["settled_by_provider"].as_u64().unwrap() >= 1,
        "{report}"
    );
    assert!(report["marked_failed"].as_u64().unwrap() >= 1, "{report}");

    let failed = lead_of(&setup.lead(0).await);
    assert_eq!(failed.status.as_str(), "retry_pending");
    assert_eq!(failed.next_call.as_ref().map(|n| n.attempt), Some(2));
    assert_eq!(setup.lead(1).await["status"], "not_interested");
    assert_eq!(setup.slots_held().await, 0);
    assert_eq!(setup.items_with_prefix("USAGE#").await.len(), 2);
    // Swept again: nothing left to do for these two (other tests' work may be).
    let (_, again) = stack()
        .invoke(
            "call-retries",
            &json!({"kind": "sweep", "at": at.to_string()}),
        )
        .await;
    assert!(!again.to_string().contains(&setup.slug), "{again}");
    assert_eq!(setup.lead(0).await["next_call"], json!(failed.next_call));
}

#[tokio::test]
async fn creating_a_schedule_that_exists_is_success_and_a_callback_moves_it() {
    let aws = Aws::from_env().await;
    let one_offs = OneOffs::new(
        aws.scheduler(),
        var("LEADLINE_ScheduleGroupName"),
        var("LEADLINE_SchedulerRoleArn"),
    )
    .with_dead_letter_queue(Some(var("LEADLINE_ScheduledWorkDLQArn")));
    let follow_ups = SchedulerFollowUps::new(one_offs, var("LEADLINE_DialQueueArn"));
    let retry = FollowUp {
        tenant: leadline_core::TenantId::parse("schedules-test").unwrap(),
        lead: LeadId::from_bytes(&Timestamp::now().as_nanosecond().to_be_bytes()[..15]),
        reason: NextCallKind::Retry,
        attempt: 2,
        due_at: "2030-01-07T14:00:00Z".parse().unwrap(),
    };
    follow_ups.schedule(&retry).await.unwrap();
    follow_ups
        .schedule(&retry)
        .await
        .expect("a conflict is success");
    let calls = follow_ups.calls().snapshot();
    assert_eq!(calls.get("CreateSchedule"), Some(&2));
    assert_eq!(calls.get("UpdateSchedule"), Some(&1));

    let callback = FollowUp {
        reason: NextCallKind::Callback,
        due_at: "2030-01-08T20:00:00Z".parse().unwrap(),
        ..retry.clone()
    };
    follow_ups.schedule(&callback).await.unwrap();
    let stored = schedule(&retry.schedule_name()).await.unwrap();
    assert_eq!(
        stored.schedule_expression(),
        Some("at(2030-01-08T20:00:00)")
    );
    let target = stored.target().unwrap();
    assert_eq!(target.arn(), var("LEADLINE_DialQueueArn"));
    let input: DialMessage = serde_json::from_str(target.input().unwrap()).unwrap();
    assert_eq!(input, DialMessage::FollowUp(callback.clone()));
    assert_eq!(
        target.dead_letter_config().and_then(|d| d.arn()),
        Some(var("LEADLINE_ScheduledWorkDLQArn").as_str())
    );

    follow_ups.cancel(&callback).await.unwrap();
    follow_ups
        .cancel(&callback)
        .await
        .expect("one already gone is success");
    assert!(schedule(&retry.schedule_name()).await.is_none());
}
