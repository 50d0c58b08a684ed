//! Outbound calling end to end: the `voice-webhook` and `call-dispatcher`
//! binaries under cargo lambda watch, the stack deployed in MiniStack (whose
//! own dispatcher and webhook take over once a call is placed), and the
//! simulated Retell and Vapi. Every assertion is on what a user would see:
//! rows in DynamoDB, requests the provider received, answers of the API.

use jiff::Timestamp;
use leadline_core::calling::work::DialMessage;
use leadline_core::intake::tenant::VoiceProvider;
use leadline_tests::calling::*;
use leadline_tests::stack;
use reqwest::Method;
use serde_json::{Value, json};

/// POSTs a body to the watched `voice-webhook` with the given headers.
async fn deliver(path: &str, body: &[u8], headers: &[(&str, String)]) -> u16 {
    let mut request = stack()
        .http()
        .post(stack().url("voice-webhook", path))
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request
        .send()
        .await
        .expect("voice-webhook answers")
        .status()
        .as_u16()
}

async fn deliver_retell(body: &Value) -> u16 {
    let raw = serde_json::to_vec(body).unwrap();
    let signature = leadline_voice::retell::sign(
        &raw,
        &var("LEADLINE_RETELL_API_KEY"),
        Timestamp::now().as_millisecond(),
    );
    deliver(
        "/webhooks/retell",
        &raw,
        &[("x-retell-signature", signature)],
    )
    .await
}

#[tokio::test]
async fn retell_webhooks_are_verified_on_the_raw_body_and_a_refused_one_writes_nothing() {
    let setup = setup("retell", &[number()], 5).await;
    let call = setup.dialing(0, VoiceProvider::Retell).await;
    let raw = serde_json::to_vec(&retell_call(&call, "call_sig", "call_ended")).unwrap();
    let key = var("LEADLINE_RETELL_API_KEY");
    let now = Timestamp::now().as_millisecond();
    let tampered = String::from_utf8(raw.clone())
        .unwrap()
        .replace("agent_hangup", "user_hangup");
    let backwards = {
        // The digest of timestamp + body: the order the contract warns about.
        let mut swapped = now.to_string().into_bytes();
        swapped.extend_from_slice(&raw);
        let wrong = leadline_voice::retell::sign(&swapped, &key, now);
        let digest = wrong.split(",d=").nth(1).unwrap().to_owned();
        format!("v={now},d={digest}")
    };
    type Case<'a> = (&'a str, Vec<u8>, Vec<(&'a str, String)>);
    let cases: Vec<Case> = vec![
        ("unsigned", raw.clone(), vec![]),
        (
            "tampered body",
            tampered.into_bytes(),
            vec![(
                "x-retell-signature",
                leadline_voice::retell::sign(&raw, &key, now),
            )],
        ),
        (
            "330 s old",
            raw.clone(),
            vec![(
                "x-retell-signature",
                leadline_voice::retell::sign(&raw, &key, now - 330_000),
            )],
        ),
        (
            "330 s ahead",
            raw.clone(),
            vec![(
                "x-retell-signature",
                leadline_voice::retell::sign(&raw, &key, now + 330_000),
            )],
        ),
        (
            "timestamp + body",
            raw.clone(),
            vec![("x-retell-signature", backwards)],
        ),
        (
            "malformed",
            raw.clone(),
            vec![("x-retell-signature", format!("v={now}"))],
        ),
        (
            "another key",
            raw.clone(),
            vec![(
                "x-retell-signature",
                leadline_voice::retell::sign(&raw, "key_other", now),
            )],
        ),
    ];
    for (case, body, headers) in cases {
        assert_eq!(
            deliver("/webhooks/retell", &body, &headers).await,
            401,
            "{case}"
        );
    }
    assert_eq!(
        setup.lead(0).await["status"],
        "queued",
        "nothing was applied"
    );
    assert!(
        setup.items_with_prefix("EVENT#").await.is_empty(),
        "no event was recorded"
    );
    assert_eq!(
        deliver_retell(&retell_call(&call, "call_sig", "call_ended")).await,
        204
    );
    assert_eq!(setup.lead(0).await["status"], "completed");
}

#[tokio::test]
async fn every_retell_event_twice_and_out_of_order_is_applied_once() {
    let setup = setup("retell", &[number()], 5).await;
    let call = setup.dialing(0, VoiceProvider::Retell).await;
    assert_eq!(setup.slots_held().await, 1);
    for event in [
        "call_analyzed",
        "call_ended",
        "call_started",
        "call_analyzed",
        "call_started",
        "call_ended",
    ] {
        assert_eq!(
            deliver_retell(&retell_call(&call, "call_ooo", event)).await,
            204,
            "{event}"
        );
    }
    let other = json!({"event": "transcript_updated", "call": {"call_id": "call_ooo"}});
    assert_eq!(
        deliver_retell(&other).await,
        204,
        "other event types are acknowledged"
    );
    let lead = setup.lead(0).await;
    assert_eq!(lead["status"], "booked", "{lead}");
    let usage = setup.items_with_prefix("USAGE#").await;
    assert_eq!(usage.len(), 1, "exactly one usage record");
    // 125.4 s is 126 billable seconds at 20 cents a minute: 42 cents.
    assert_eq!(usage[0]["billable_seconds"].as_n().unwrap(), "126");
    assert_eq!(usage[0]["amount"].as_n().unwrap(), "42");
    let attempts = setup.items_with_prefix("ATTEMPT#").await;
    let report = attempts[0]["report"].as_m().unwrap();
    assert_eq!(
        report["summary"].as_s().unwrap(),
        "Booked a consultation for Tuesday."
    );
    assert_eq!(report["provider_cost"].as_n().unwrap(), "18");
    assert_eq!(setup.slots_held().await, 0, "the end gave the slot back");
}

fn vapi_fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/providers/vapi/end-of-call-report.vapi4k.json"
    );
    serde_json::from_slice(&std::fs::read(path).expect("the shared Vapi fixture")).unwrap()
}

async fn deliver_vapi(body: &Value, secret: &str) -> u16 {
    let raw = serde_json::to_vec(body).unwrap();
    deliver(
        "/webhooks/vapi",
        &raw,
        &[("x-vapi-secret", secret.to_owned())],
    )
    .await
}

#[tokio::test]
async fn a_real_vapi_end_of_call_report_applies_and_a_wrong_secret_is_refused() {
    let setup = setup("vapi", &[number()], 5).await;
    let call = setup.dialing(0, VoiceProvider::Vapi).await;
    let secret = var("LEADLINE_VAPI_WEBHOOK_SECRET");

    // The captured report is about a call leadline did not start: acknowledged, not applied.
    assert_eq!(deliver_vapi(&vapi_fixture(), &secret).await, 200);
    let mut ours = vapi_fixture();
    ours["message"]["call"]["assistantOverrides"] = json!({ "metadata": call.to_metadata() });
    assert_eq!(deliver_vapi(&ours, "not-the-secret").await, 401);
    assert_eq!(
        deliver("/webhooks/vapi", &serde_json::to_vec(&ours).unwrap(), &[]).await,
        401
    );
    assert_eq!(setup.lead(0).await["status"], "queued");

    assert_eq!(deliver_vapi(&ours, &secret).await, 200);
    assert_eq!(
        deliver_vapi(&ours, &secret).await,
        200,
        "a repeat is acknowledged"
    );
    // The customer ended the call and the report's analysis has no outcome:
    // a completed call, as the end-reason table says for customer-ended-call.
    let lead = setup.lead(0).await;
    assert_eq!(
        (&lead["status"], &lead["outcome"], &lead["attempts"]),
        (
            &json!("completed"),
            &json!({"kind": "completed"}),
            &json!(1)
        ),
        "{lead}"
    );
    assert_eq!(setup.items_with_prefix("USAGE#").await.len(), 1);
    assert_eq!(setup.slots_held().await, 0);
    assert_eq!(
        deliver("/webhooks/vapi", b"{not json", &[("x-vapi-secret", secret)]).await,
        400
    );
}

#[tokio::test]
async fn a_dial_job_delivered_twice_places_one_retell_call_that_then_plays_out() {
    let phone = number();
    let setup = setup("retell", std::slice::from_ref(&phone), 5).await;
    sim(
        Method::PUT,
        &format!("/_sim/numbers/{phone}"),
        Some(json!({"outcome": "not_interested", "talk_seconds": 40})),
    )
    .await;
    let job = setup.queue(0).await;
    let answer = dispatch(&[
        DialMessage::Dial(job.clone()),
        DialMessage::Dial(job.clone()),
    ])
    .await;
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");

    // One create-call request, accepted: the second delivery asked nothing of the provider.
    let calls = sim_calls(&phone).await;
    let statuses: Vec<&Value> = calls.iter().map(|c| &c["status"]).collect();
    assert_eq!(statuses, [&json!(201)], "one provider call: {calls:?}");
    let body = &calls[0]["body"];
    assert_eq!(body["to_number"], phone.as_str());
    assert_eq!(body["metadata"], job.call().to_metadata());
    assert_eq!(body["retell_llm_dynamic_variables"]["first_name"], "Ada");
    assert_eq!(
        body["retell_llm_dynamic_variables"]["business_name"],
        "Calls Test"
    );

    // The simulated call plays out through the stack's own webhook.
    let lead = setup
        .wait_for_lead(0, |l| l["status"] == "not_interested")
        .await;
    assert_eq!(lead["attempts"], 1);
    assert_eq!(setup.items_with_prefix("USAGE#").await.len(), 1);
    assert_eq!(setup.slots_held().await, 0);
}

#[tokio::test]
async fn each_provider_error_class_has_its_answer() {
    let phones: Vec<String> = (0..3).map(|_| number()).collect();
    let setup = setup("vapi", &phones, 5).await;
    // The number is refused: the lead is invalid, with the provider's reason.
    sim(
        Method::PUT,
        &format!("/_sim/numbers/{}", phones[0]),
        Some(json!({"outcome": "invalid_number"})),
    )
    .await;
    // Busy (429), then failing (503): both come back later and keep no slot.
    for (phone, status) in [(&phones[1], 429), (&phones[2], 503)] {
        sim(
            Method::POST,
            "/_sim/faults",
            Some(json!({"provider": "vapi", "to": phone, "create_call": [{"status": status}]})),
        )
        .await;
        sim(
            Method::PUT,
            &format!("/_sim/numbers/{phone}"),
            Some(json!({"outcome": "no_answer"})),
        )
        .await;
    }
    let mut jobs = Vec::new();
    for i in 0..3 {
        jobs.push(DialMessage::Dial(setup.queue(i).await));
    }
    let answer = dispatch(&jobs).await;
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");

    let invalid = setup.lead(0).await;
    assert_eq!(invalid["status"], "invalid", "{invalid}");
    assert!(
        invalid["note"]
            .as_str()
            .unwrap()
            .contains("refused the number"),
        "{invalid}"
    );
    // Each came back through the queue after its backoff and was then placed:
    // one refused request, then one accepted, and nothing more.
    for (i, refused) in [(1, 429), (2, 503)] {
        setup
            .wait_for_lead(i, |l| l["status"] == "retry_pending")
            .await;
        let calls = sim_calls(&phones[i]).await;
        let statuses: Vec<&Value> = calls.iter().map(|c| &c["status"]).collect();
        assert_eq!(statuses, [&json!(refused), &json!(201)], "{calls:?}");
    }
    assert_eq!(setup.slots_held().await, 0);
}

/// A tenant allowed 2 calls at once, a campaign paced at 10 starts a second
/// and calls of 3-6 s (60 s of ringing, and 60 of talk when the line
/// connects, at the simulator's 0.05): without the tenant's limit all six
/// calls would start within 0.6 s and overlap.
#[tokio::test]
async fn a_started_campaign_calls_its_leads_within_the_tenants_concurrency() {
    let phones: Vec<String> = (0..6).map(|_| number()).collect();
    let outcomes = [
        "appointment_set",
        "no_answer",
        "busy",
        "voicemail",
        "qualified",
        "do_not_call",
    ];
    let setup = setup_campaign(
        "retell",
        &phones,
        2,
        json!({}),
        json!({"name": "paced", "pacing": {"max_parallel_calls": 10, "calls_per_second": 10}}),
    )
    .await;
    for (phone, outcome) in phones.iter().zip(outcomes) {
        sim(
            Method::PUT,
            &format!("/_sim/numbers/{phone}"),
            Some(json!({"outcome": outcome, "talk_seconds": 60, "ring_seconds": 60})),
        )
        .await;
    }
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
    assert_eq!(started.body["status"], "running");
    let expected = [
        "booked",
        "retry_pending",
        "retry_pending",
        "retry_pending",
        "completed",
        "do_not_call",
    ];
    // While the calls play out, the slots held in each scope are sampled.
    let mut most_held = [0; 3];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let held = setup.slots_held_by_scope(VoiceProvider::Retell).await;
        for (most, now) in most_held.iter_mut().zip(held) {
            *most = (*most).max(now);
        }
        let mut done = true;
        for (i, status) in expected.iter().enumerate() {
            done &= setup.lead(i).await["status"] == *status;
        }
        if done {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the calls never ended"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for i in 0..phones.len() {
        assert_eq!(setup.lead(i).await["attempts"], 1);
    }
    assert_eq!(
        most_held,
        [2, 2, 2],
        "slots held at most (provider, tenant, campaign)"
    );
    assert_eq!(
        setup.slots_held_by_scope(VoiceProvider::Retell).await,
        [0, 0, 0],
        "every slot given back, in every scope"
    );
    assert_eq!(
        setup.items_with_prefix("USAGE#").await.len(),
        6,
        "one usage record per call"
    );
    let dnc = stack().get(&setup.key, "/v1/do-not-call").await;
    assert_eq!(dnc.body["items"][0]["phone"], phones[5].as_str(), "{dnc:?}");

    // At the provider, from the accepted create-call to the call_ended
    // webhook: a delivery is recorded once answered, and the answer frees the
    // slot, so the next call can start before the record: a call ends when
    // its call_ended delivery started.
    let mut calls: Vec<(Timestamp, Timestamp)> = Vec::new();
    for phone in &phones {
        let placed = sim_calls(phone).await;
        let statuses: Vec<&Value> = placed.iter().map(|c| &c["status"]).collect();
        assert_eq!(
            statuses,
            [&json!(201)],
            "one create-call per lead: {placed:?}"
        );
        let start: Timestamp = placed[0]["received_at"].as_str().unwrap().parse().unwrap();
        let query = format!("/_sim/deliveries?to={}", phone.replace('+', "%2B"));
        let deliveries = sim(Method::GET, &query, None).await;
        let end: Timestamp = deliveries
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["event"] == "call_ended")
            .filter_map(|d| {
                let answered: Timestamp = d["at"].as_str()?.parse().ok()?;
                let took = jiff::SignedDuration::from_millis(d["elapsed_ms"].as_i64()?);
                Some(answered - took)
            })
            .min()
            .expect("a call_ended delivery");
        calls.push((start, end));
    }
    let mut edges: Vec<(Timestamp, i32)> = calls
        .iter()
        .flat_map(|&(start, end)| [(start, 1), (end, -1)])
        .collect();
    edges.sort_by_key(|(at, delta)| (*at, *delta));
    let most = edges
        .iter()
        .scan(0, |live, (_, delta)| {
            *live += delta;
            Some(*live)
        })
        .max()
        .unwrap();
    assert_eq!(most, 2, "calls in flight at once, at most");
    // The limit, not the pace, spread the calls out: four of them were put
    // back and started only once an earlier call had ended.
    let first_end = calls.iter().map(|&(_, end)| end).min().unwrap();
    let deferred = calls
        .iter()
        .filter(|&&(start, _)| start >= first_end)
        .count();
    assert_eq!(
        deferred, 4,
        "calls started after the first one ended: {calls:?}"
    );
}

/// When each call of `phone` started (the provider's accepted create-call)
/// and ended (its `call_ended` delivery began: the answer frees the slot).
async fn calls_of(phone: &str) -> Vec<(Timestamp, Timestamp)> {
    let query = format!("/_sim/deliveries?to={}", phone.replace('+', "%2B"));
    let deliveries = sim(Method::GET, &query, None).await;
    let deliveries = deliveries.as_array().unwrap();
    let mut calls: Vec<(Timestamp, Timestamp)> = sim_calls(phone)
        .await
        .iter()
        .filter(|c| c["status"] == 201)
        .map(|c| {
            let start: Timestamp = c["received_at"].as_str().unwrap().parse().unwrap();
            // Its first `call_ended` (a provider may deliver it twice).
            let end = deliveries
                .iter()
                .filter(|d| d["call_id"] == c["call_id"] && d["event"] == "call_ended")
                .filter_map(|d| {
                    let answered: Timestamp = d["at"].as_str()?.parse().ok()?;
                    Some(answered - jiff::SignedDuration::from_millis(d["elapsed_ms"].as_i64()?))
                })
                .min()
                .unwrap_or_else(|| panic!("{phone}: no call_ended for {}", c["call_id"]));
            (start, end)
        })
        .collect();
    calls.sort();
    calls
}

/// Issue 12 §9, the 150-lead campaign a new user tried, scaled down: 20
/// leads, 3 calls at once, retries after 2 and 4 s, calls of 2 s (no
/// answer) and 4 s (answered), 2 starts a second. The campaign's three slots
/// are the limit, so most jobs find them full and wait; each call that ends
/// hands its slot to a waiting job at once, instead of the job's backoff
/// (a minute) deciding when it is dialled. While leads still waited for
/// their first call, every slot given back was taken within 5 s (the queue's
/// delivery, the dispatcher, the provider's request), and at the end no slot
/// is held and no job is left waiting.
#[tokio::test]
async fn a_full_campaigns_slots_go_to_its_waiting_jobs_as_its_calls_end() {
    const LEADS: usize = 20;
    const PARALLEL: usize = 3;
    let phones: Vec<String> = (0..LEADS).map(|_| number()).collect();
    let answers = |i: usize| i < 12;
    let setup = setup_campaign(
        "retell",
        &phones,
        10,
        json!({"retry_after_seconds": [2, 4]}),
        json!({"name": "waking", "pacing": {"max_parallel_calls": PARALLEL, "calls_per_second": 2}}),
    )
    .await;
    for (i, phone) in phones.iter().enumerate() {
        let outcome = if answers(i) { "qualified" } else { "no_answer" };
        sim(
            Method::PUT,
            &format!("/_sim/numbers/{phone}"),
            Some(json!({"outcome": outcome, "talk_seconds": 40, "ring_seconds": 40})),
        )
        .await;
    }
    let started_at = Timestamp::now();
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

    // 12 answer the first call; 8 never answer: 3 calls each, then exhausted.
    for i in 0..LEADS {
        let (status, attempts) = if answers(i) {
            ("completed", 1)
        } else {
            ("exhausted", 3)
        };
        let lead = setup
            .wait_for_lead_for(i, std::time::Duration::from_secs(240), |l| {
                l["status"] == status
            })
            .await;
        assert_eq!(lead["attempts"], attempts, "lead {i}: {lead}");
    }
    let finished_at = Timestamp::now();

    let mut calls = Vec::new();
    let mut first_calls = Vec::new();
    for phone in &phones {
        let of_phone = calls_of(phone).await;
        first_calls.push(of_phone[0].0);
        calls.extend(of_phone);
    }
    assert_eq!(calls.len(), 12 + 8 * 3, "one create-call per attempt");
    // Never more than the campaign's slots at once.
    let mut edges: Vec<(Timestamp, i32)> = calls
        .iter()
        .flat_map(|&(start, end)| [(start, 1), (end, -1)])
        .collect();
    edges.sort_by_key(|(at, delta)| (*at, *delta));
    let mut live = 0;
    for (_, delta) in &edges {
        live += delta;
        assert!(
            live <= PARALLEL as i32,
            "more than {PARALLEL} calls at once"
        );
    }
    // Every slot given back while leads still waited for their first call
    // (all of them queued 10 s after the start, at 2 a second) was taken
    // within 5 s: the next call started by then.
    let last_first_call = *first_calls.iter().max().unwrap();
    let all_queued = started_at + jiff::SignedDuration::from_secs(10);
    let mut starts: Vec<Timestamp> = calls.iter().map(|&(start, _)| start).collect();
    starts.sort();
    for &(_, end) in &calls {
        if end < all_queued || end >= last_first_call {
            continue;
        }
        let next = starts.iter().find(|&&start| start >= end);
        let taken_after = next.map(|&start| start.duration_since(end));
        assert!(
            taken_after.is_some_and(|t| t <= jiff::SignedDuration::from_secs(5)),
            "a slot given back at {end} waited {taken_after:?} while leads waited"
        );
    }
    assert_eq!(
        setup.slots_held_by_scope(VoiceProvider::Retell).await,
        [0, 0, 0]
    );
    assert!(
        setup
            .items_with_prefix("SLOTS#")
            .await
            .iter()
            .all(|item| { !item["SK"].as_s().unwrap().contains("#WAIT#") }),
        "no job is left waiting"
    );
    println!(
        "{} calls of {LEADS} leads, {PARALLEL} at once, in {:.1} s",
        calls.len(),
        finished_at.duration_since(started_at).as_secs_f64()
    );
}
