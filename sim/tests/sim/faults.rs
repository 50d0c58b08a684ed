//! Misbehaviour on demand: forced responses, delivery modes, the concurrency limit.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use leadline_sim::{
    DeliveryFaults, DeliveryResult, FaultRequest, Filter, ForcedResponse, Outcome, Provider,
    RejectionClass, Script,
};
use serde_json::json;

use crate::common::*;

fn events_to(receiver: &Receiver, to: &str) -> Vec<String> {
    receiver
        .hits()
        .iter()
        .filter(|h| {
            h.json["call"]["to_number"] == to || h.json["message"]["customer"]["number"] == to
        })
        .map(Hit::event)
        .collect()
}

#[tokio::test]
async fn duplicate_delivers_every_event_twice() {
    let receiver = Receiver::start().await;
    let sim = start_sim(Some(&receiver)).await;
    let to = "+14155550311";
    sim.control()
        .set_script(to, Script::typical(Outcome::Qualified))
        .unwrap();
    let faults = DeliveryFaults {
        duplicate: true,
        ..DeliveryFaults::default()
    };
    sim.control()
        .apply_faults(FaultRequest::new(Provider::Retell).to(to).webhooks(faults))
        .unwrap();
    create_retell(&sim, &retell_call(to)).await;
    let hits = receiver.wait_for(6).await;
    assert_eq!(
        events_to(&receiver, to),
        [
            "call_started",
            "call_started",
            "call_ended",
            "call_ended",
            "call_analyzed",
            "call_analyzed"
        ]
    );
    for pair in hits.chunks(2) {
        assert_eq!(pair[0].body, pair[1].body, "a duplicate is the same event");
        pair.iter().for_each(assert_retell_signed);
    }
    let deliveries = deliveries_to(&sim, to, 6).await;
    let copies: Vec<u8> = deliveries.iter().map(|d| d.copy).collect();
    assert_eq!(copies, [1, 2, 1, 2, 1, 2]);
}

#[tokio::test]
async fn reorder_sends_the_analysis_before_the_end() {
    let receiver = Receiver::start().await;
    let sim = start_sim(Some(&receiver)).await;
    let reorder = DeliveryFaults {
        reorder: true,
        ..DeliveryFaults::default()
    };
    for provider in Provider::ALL {
        sim.control()
            .apply_faults(FaultRequest::new(provider).webhooks(reorder))
            .unwrap();
    }
    let (retell_to, vapi_to) = ("+14155550321", "+14155550322");
    for to in [retell_to, vapi_to] {
        sim.control()
            .set_script(to, Script::typical(Outcome::Potential))
            .unwrap();
    }
    create_retell(&sim, &retell_call(retell_to)).await;
    create_vapi(&sim, &vapi_call(vapi_to)).await;
    receiver.wait_for(7).await;
    assert_eq!(
        events_to(&receiver, retell_to),
        ["call_started", "call_analyzed", "call_ended"]
    );
    assert_eq!(
        events_to(&receiver, vapi_to),
        [
            "status-update:ringing",
            "status-update:in-progress",
            "end-of-call-report",
            "status-update:ended"
        ]
    );
    let hits = receiver.hits();
    let analyzed = hits.iter().find(|h| h.event() == "call_analyzed").unwrap();
    let ended = hits.iter().find(|h| h.event() == "call_ended").unwrap();
    assert!(analyzed.json["call"]["call_analysis"].is_object());
    assert!(ended.json["call"].get("call_analysis").is_none());
}

#[tokio::test]
async fn drop_never_delivers_the_end_but_frees_the_slot() {
    let receiver = Receiver::start().await;
    let sim = start_sim(Some(&receiver)).await;
    let to = "+14155550331";
    sim.control()
        .set_script(to, Script::typical(Outcome::AppointmentSet))
        .unwrap();
    let drop = DeliveryFaults {
        drop: true,
        ..DeliveryFaults::default()
    };
    sim.control()
        .apply_faults(FaultRequest::new(Provider::Retell).to(to).webhooks(drop))
        .unwrap();
    create_retell(&sim, &retell_call(to)).await;
    let deliveries = deliveries_to(&sim, to, 3).await;
    let results: Vec<_> = deliveries
        .iter()
        .map(|d| (d.event.as_str(), d.result))
        .collect();
    assert_eq!(
        results,
        [
            ("call_started", DeliveryResult::Delivered),
            ("call_ended", DeliveryResult::Dropped),
            ("call_analyzed", DeliveryResult::Dropped)
        ]
    );
    assert_eq!(events_to(&receiver, to), ["call_started"]);
    assert_eq!(sim.control().stats(&Filter::to(to)).in_flight, 0);
}

#[tokio::test]
async fn drop_final_hides_the_end_but_get_call_shows_it() {
    let receiver = Receiver::start().await;
    let sim = start_sim(Some(&receiver)).await;
    let (retell_to, vapi_to) = ("+14155550381", "+14155550382");
    let drop_final = DeliveryFaults {
        drop_final: true,
        ..DeliveryFaults::default()
    };
    for (provider, to) in [(Provider::Retell, retell_to), (Provider::Vapi, vapi_to)] {
        sim.control()
            .set_script(to, Script::typical(Outcome::AppointmentSet))
            .unwrap();
        sim.control()
            .apply_faults(FaultRequest::new(provider).to(to).webhooks(drop_final))
            .unwrap();
    }
    let (_, retell) = create_retell(&sim, &retell_call(retell_to)).await;
    let (_, vapi) = create_vapi(&sim, &vapi_call(vapi_to)).await;

    let results = |to| {
        sim.control()
            .deliveries(&Filter::to(to))
            .into_iter()
            .map(|d| (d.event, d.result))
            .collect::<Vec<_>>()
    };
    use DeliveryResult::{Delivered, Dropped};
    deliveries_to(&sim, retell_to, 3).await;
    assert_eq!(
        results(retell_to),
        [
            ("call_started".to_owned(), Delivered),
            ("call_ended".to_owned(), Dropped),
            ("call_analyzed".to_owned(), Dropped)
        ]
    );
    deliveries_to(&sim, vapi_to, 4).await;
    assert_eq!(
        results(vapi_to),
        [
            ("status-update:ringing".to_owned(), Delivered),
            ("status-update:in-progress".to_owned(), Delivered),
            ("status-update:ended".to_owned(), Dropped),
            ("end-of-call-report".to_owned(), Dropped)
        ]
    );
    assert_eq!(events_to(&receiver, retell_to), ["call_started"]);
    assert_eq!(
        events_to(&receiver, vapi_to),
        ["status-update:ringing", "status-update:in-progress"]
    );

    // The providers know better than the webhooks told.
    analyzed(&sim, retell_to).await;
    analyzed(&sim, vapi_to).await;
    let (_, call) = get_retell(&sim, retell["call_id"].as_str().unwrap()).await;
    assert_eq!(call["call_status"], "ended");
    assert_eq!(call["disconnection_reason"], "agent_hangup");
    assert_eq!(
        call["call_analysis"]["custom_analysis_data"],
        json!({"outcome": "appointment_set"})
    );
    assert_eq!(call["metadata"], retell_call(retell_to)["metadata"]);
    let (_, call) = get_vapi(&sim, vapi["id"].as_str().unwrap()).await;
    assert_eq!(call["status"], "ended");
    assert_eq!(call["endedReason"], "assistant-ended-call");
    assert_eq!(
        call["analysis"]["structuredData"],
        json!({"outcome": "appointment_set"})
    );
    assert_eq!(
        call["assistantOverrides"]["metadata"],
        vapi_call(vapi_to)["assistantOverrides"]["metadata"]
    );
    assert_eq!(sim.control().stats(&Filter::default()).in_flight, 0);
}

#[tokio::test]
async fn a_stuck_call_stays_in_progress_until_a_reset() {
    let receiver = Receiver::start().await;
    let sim = start_sim(Some(&receiver)).await;
    let (retell_to, vapi_to) = ("+14155550391", "+14155550392");
    for to in [retell_to, vapi_to] {
        sim.control()
            .set_script(to, Script::typical(Outcome::Qualified).stuck())
            .unwrap();
    }
    let (_, retell) = create_retell(&sim, &retell_call(retell_to)).await;
    let (_, vapi) = create_vapi(&sim, &vapi_call(vapi_to)).await;
    let (retell_id, vapi_id) = (
        retell["call_id"].as_str().unwrap(),
        vapi["id"].as_str().unwrap(),
    );
    receiver.wait_for(3).await;
    // Over twice the scripted call (180 s of talk, 0.18 s here): a call that
    // was not stuck would be analysed by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(events_to(&receiver, retell_to), ["call_started"]);
    assert_eq!(
        events_to(&receiver, vapi_to),
        ["status-update:ringing", "status-update:in-progress"]
    );
    let (_, call) = get_retell(&sim, retell_id).await;
    assert_eq!(call["call_status"], "ongoing");
    assert!(call.get("end_timestamp").is_none(), "{call}");
    let (_, call) = get_vapi(&sim, vapi_id).await;
    assert_eq!(call["status"], "in-progress");
    assert!(call.get("endedReason").is_none(), "{call}");
    let stats = sim.control().stats(&Filter::default());
    assert_eq!((stats.placed, stats.in_flight), (2, 2));

    sim.control().reset();
    assert_eq!(sim.control().stats(&Filter::default()).in_flight, 0);
    assert_eq!(get_retell(&sim, retell_id).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get_vapi(&sim, vapi_id).await.0, StatusCode::NOT_FOUND);
    sim.control().set_max_concurrent_calls(Provider::Retell, 1);
    assert_eq!(
        create_retell(&sim, &retell_call(retell_to)).await.0,
        StatusCode::CREATED,
        "the slot is free again"
    );
}

#[tokio::test]
async fn delay_holds_every_delivery_back() {
    let receiver = Receiver::start().await;
    let sim = start_sim(Some(&receiver)).await;
    let to = "+14155550341";
    let delay = DeliveryFaults {
        delay_ms: 300,
        ..DeliveryFaults::default()
    };
    sim.control()
        .apply_faults(FaultRequest::new(Provider::Vapi).to(to).webhooks(delay))
        .unwrap();
    let sent = Instant::now();
    create_vapi(&sim, &vapi_call(to)).await;
    receiver.wait_for(1).await;
    assert!(sent.elapsed() >= Duration::from_millis(300));
    receiver.wait_for(3).await;
    assert!(
        sent.elapsed() >= Duration::from_millis(900),
        "one delay per event, in order"
    );
}

#[tokio::test]
async fn the_fault_queue_answers_the_next_create_calls() {
    let sim = start_sim(None).await;
    let to = "+14155550351";
    let faults = FaultRequest::new(Provider::Retell)
        .to(to)
        .create_call(ForcedResponse::status(429).times(2))
        .create_call(ForcedResponse::status(500))
        .create_call(ForcedResponse {
            headers: [("retry-after".to_owned(), "3".to_owned())].into(),
            ..ForcedResponse::status(503)
        });
    sim.control().apply_faults(faults).unwrap();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let response = client()
            .post(format!("{}/v2/create-phone-call", sim.url()))
            .bearer_auth(RETELL_KEY)
            .json(&retell_call(to))
            .send()
            .await
            .unwrap();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap();
        if status != 201 {
            assert_eq!(body["status"], "error", "{body}");
        }
        statuses.push((status, retry_after));
    }
    let codes: Vec<u16> = statuses.iter().map(|(s, _)| *s).collect();
    assert_eq!(codes, [429, 429, 500, 503, 201]);
    assert_eq!(statuses[3].1.as_deref(), Some("3"));

    // Another number and the other provider are untouched.
    assert_eq!(
        create_retell(&sim, &retell_call("+14155550352")).await.0,
        StatusCode::CREATED
    );
    let stats = sim.control().stats(&Filter::to(to));
    assert_eq!(stats.rejected.get("forced"), Some(&4));
    assert_eq!(stats.rejected_by_status.get(&429), Some(&2));
    assert_eq!(stats.placed, 1);

    // A Vapi-style body for Vapi, or the body given.
    let faults = FaultRequest::new(Provider::Vapi)
        .create_call(ForcedResponse::status(429))
        .create_call(ForcedResponse {
            body: Some(json!({"oops": true})),
            ..ForcedResponse::status(502)
        });
    sim.control().apply_faults(faults).unwrap();
    let (status, body) = create_vapi(&sim, &vapi_call(to)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        body,
        json!({"message": "Over Concurrency Limit.", "error": "Too Many Requests", "statusCode": 429})
    );
    assert_eq!(
        create_vapi(&sim, &vapi_call(to)).await,
        (StatusCode::BAD_GATEWAY, json!({"oops": true}))
    );
}

#[tokio::test]
async fn a_hung_create_call_may_still_place_the_call() {
    let sim = start_sim(None).await;
    let (placed, refused) = ("+14155550361", "+14155550362");
    sim.control()
        .apply_faults(
            FaultRequest::new(Provider::Vapi)
                .to(placed)
                .create_call(ForcedResponse::delay_ms(600)),
        )
        .unwrap();
    sim.control()
        .apply_faults(
            FaultRequest::new(Provider::Vapi)
                .to(refused)
                .create_call(ForcedResponse {
                    delay_ms: 600,
                    ..ForcedResponse::status(503)
                }),
        )
        .unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    for to in [placed, refused] {
        let error = client
            .post(format!("{}/call", sim.url()))
            .bearer_auth(VAPI_KEY)
            .json(&vapi_call(to))
            .send()
            .await
            .unwrap_err();
        assert!(error.is_timeout());
    }
    let answered = |to: &str| {
        let calls = sim.control().calls(&Filter::to(to));
        calls.first().map(|c| c.status)
    };
    assert_eq!(
        eventually("the slow answer", || answered(placed)).await,
        201
    );
    assert_eq!(
        eventually("the slow refusal", || answered(refused)).await,
        503
    );
}

#[tokio::test]
async fn calls_beyond_the_concurrency_limit_answer_429() {
    let sim = start_sim(None).await;
    sim.control().set_max_concurrent_calls(Provider::Retell, 2);
    // Two real seconds: long enough to stay in progress on a busy machine.
    let long = Script::typical(Outcome::Qualified).talk_seconds(2000);
    let numbers = ["+14155550371", "+14155550372", "+14155550373"];
    for to in numbers {
        sim.control().set_script(to, long.clone()).unwrap();
    }
    assert_eq!(
        create_retell(&sim, &retell_call(numbers[0])).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        create_retell(&sim, &retell_call(numbers[1])).await.0,
        StatusCode::CREATED
    );
    let (status, body) = create_retell(&sim, &retell_call(numbers[2])).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Concurrency limit"),
        "{body}"
    );
    // Vapi is another account.
    assert_eq!(
        create_vapi(&sim, &vapi_call(numbers[2])).await.0,
        StatusCode::CREATED
    );

    let stats = sim.control().stats(&Filter::provider(Provider::Retell));
    assert_eq!(
        (stats.placed, stats.in_flight, stats.max_in_flight),
        (2, 2, 2)
    );
    assert_eq!(stats.rejected.get("concurrency_limit"), Some(&1));
    let refused = &sim.control().calls(&Filter::to(numbers[2]))[0];
    assert_eq!(refused.rejection, Some(RejectionClass::ConcurrencyLimit));

    // A slot frees when a call ends, not when it is analysed.
    eventually("the calls to end", || {
        (sim.control()
            .stats(&Filter::provider(Provider::Retell))
            .in_flight
            == 0)
            .then_some(())
    })
    .await;
    assert_eq!(
        create_retell(&sim, &retell_call(numbers[2])).await.0,
        StatusCode::CREATED
    );
    let stats = sim.control().stats(&Filter::provider(Provider::Retell));
    assert_eq!((stats.placed, stats.max_in_flight), (3, 2));
}
