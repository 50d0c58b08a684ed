//! The `/_sim/` endpoints over HTTP, and the statistics.

use axum::http::StatusCode;
use std::time::{Duration, Instant};

use leadline_sim::{
    DefaultScript, Filter, Outcome, Provider, Script, Sim, SimConfig, VirtualClock,
};
use serde_json::{Value, json};

use crate::common::*;

async fn send(method: reqwest::Method, url: String, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = client().request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn scripts_are_set_per_number_over_http() {
    let receiver = Receiver::start().await;
    let sim = start_sim(Some(&receiver)).await;
    let to = "+14155550411";
    let url = format!("{}/_sim/numbers/%2B14155550411", sim.url());
    let script = json!({"outcome": "callback_requested", "callback_in_seconds": 600, "talk_seconds": 40, "ring_seconds": 3});
    let (status, answer) = send(reqwest::Method::PUT, url.clone(), Some(script.clone())).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer,
        json!({"number": to, "script": script, "explicit": true})
    );
    let (_, answer) = send(reqwest::Method::GET, url.clone(), None).await;
    assert_eq!(answer["script"], script);

    create_retell(&sim, &retell_call(to)).await;
    receiver.wait_for(3).await;
    assert_eq!(
        receiver.hits()[2].json["call"]["call_analysis"]["custom_analysis_data"]["outcome"],
        "callback_requested"
    );

    let (_, answer) = send(reqwest::Method::DELETE, url.clone(), None).await;
    assert_eq!(answer["removed"], true);
    let (_, answer) = send(reqwest::Method::GET, url, None).await;
    assert_eq!(answer["explicit"], false);
    assert_eq!(answer["script"]["outcome"], "no_answer");

    for (path, body) in [
        ("/_sim/numbers/12345", json!({"outcome": "busy"})),
        ("/_sim/numbers/+14155550412", json!({"outcome": "perhaps"})),
        (
            "/_sim/numbers/+14155550412",
            json!({"outcome": "busy", "talk_seconds": -1}),
        ),
    ] {
        let (status, answer) = send(
            reqwest::Method::PUT,
            format!("{}{path}", sim.url()),
            Some(body),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert!(answer["error"].is_string());
    }
}

#[tokio::test]
async fn faults_records_and_stats_over_http() {
    let receiver = Receiver::start().await;
    let sim = start_sim(Some(&receiver)).await;
    let (mine, theirs) = ("+14155550421", "+14155550422");
    let faults = json!({
        "provider": "retell",
        "to": mine,
        "create_call": [{"status": 500}],
        "webhooks": {"duplicate": true}
    });
    let (status, answer) = send(
        reqwest::Method::POST,
        format!("{}/_sim/faults", sim.url()),
        Some(faults),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["retell"]["webhooks_by_number"][mine]["duplicate"],
        true
    );
    for bad in [
        json!({"provider": "twilio"}),
        json!({"provider": "vapi", "create_call": [{"status": 200}]}),
    ] {
        let (status, _) = send(
            reqwest::Method::POST,
            format!("{}/_sim/faults", sim.url()),
            Some(bad),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    assert_eq!(
        create_retell(&sim, &retell_call(mine)).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let (_, created) = create_retell(&sim, &retell_call(mine)).await;
    create_retell(&sim, &retell_call(theirs)).await;
    create_vapi(&sim, &vapi_call(mine)).await;

    let (_, calls) = get_json(&format!(
        "{}/_sim/calls?to=%2B14155550421&provider=retell",
        sim.url()
    ))
    .await;
    let calls = calls.as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["status"], 500);
    assert_eq!(calls[0]["rejection"], "forced");
    assert_eq!(calls[1]["status"], 201);
    assert_eq!(calls[1]["call_id"], created["call_id"]);
    assert_eq!(calls[1]["body"], retell_call(mine));
    assert_eq!(calls[1]["script"]["outcome"], "no_answer");
    assert!(calls[1]["headers"]["authorization"].is_string());

    let deliveries_url = format!(
        "{}/_sim/deliveries?call_id={}",
        sim.url(),
        created["call_id"].as_str().unwrap()
    );
    let deliveries = eventually("duplicated deliveries", || {
        let deliveries = sim.control().deliveries(&Filter {
            call_id: created["call_id"].as_str().map(str::to_owned),
            ..Filter::default()
        });
        (deliveries.len() == 4).then_some(())
    });
    deliveries.await;
    let (_, deliveries) = get_json(&deliveries_url).await;
    let deliveries = deliveries.as_array().unwrap();
    assert_eq!(deliveries.len(), 4);
    assert_eq!(deliveries[0]["event"], "call_ended");
    assert_eq!(deliveries[0]["provider"], "retell");
    assert_eq!(deliveries[0]["status"], 204);
    assert_eq!(deliveries[0]["result"], "delivered");

    let (_, stats) = get_json(&format!("{}/_sim/stats?to=+14155550421", sim.url())).await;
    assert_eq!(stats["requests"], 3);
    assert_eq!(stats["placed"], 2);
    assert_eq!(stats["rejected"], json!({"forced": 1}));
    assert_eq!(stats["rejected_by_status"], json!({"500": 1}));
    let (_, stats) = get_json(&format!("{}/_sim/stats", sim.url())).await;
    assert_eq!(stats["placed"], 3);

    let (status, _) = get_json(&format!("{}/_sim/stats?provider=twilio", sim.url())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _) = send(
        reqwest::Method::POST,
        format!("{}/_sim/reset", sim.url()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, calls) = get_json(&format!("{}/_sim/calls", sim.url())).await;
    assert_eq!(calls, json!([]));
    let (_, faults) = get_json(&format!("{}/_sim/faults", sim.url())).await;
    assert_eq!(faults["retell"]["webhooks_by_number"], json!({}));
}

#[tokio::test]
async fn stats_count_call_starts_per_second_and_peak_concurrency() {
    let sim = start_sim(None).await;
    let long = Script::typical(Outcome::Qualified).talk_seconds(60_000);
    let started = Instant::now();
    for i in 0..6 {
        let to = format!("+1415555043{i}");
        sim.control().set_script(&to, long.clone()).unwrap();
        assert_eq!(
            create_retell(&sim, &retell_call(&to)).await.0,
            StatusCode::CREATED
        );
    }
    let within_a_second = started.elapsed() < Duration::from_millis(900);
    let stats = sim.control().stats(&Filter::default());
    assert_eq!(stats.placed, 6);
    assert_eq!(stats.in_flight, 6);
    assert_eq!(stats.max_in_flight, 6);
    if within_a_second {
        assert_eq!(stats.max_call_starts_per_second, 6);
    }
    let one = sim.control().stats(&Filter::to("+14155550433"));
    assert_eq!(
        (one.placed, one.in_flight, one.max_call_starts_per_second),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn webhook_urls_and_limits_are_set_at_run_time() {
    let receiver = Receiver::start().await;
    let sim = start_sim(None).await;
    let url = format!("{}/_sim/webhook-urls", sim.url());
    let (status, urls) = send(
        reqwest::Method::PUT,
        url.clone(),
        Some(json!({"vapi": format!("{}/late", receiver.url)})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(urls["retell"], Value::Null);
    assert_eq!(urls["vapi"], format!("{}/late", receiver.url));
    let (status, _) = send(reqwest::Method::PUT, url, Some(json!({"vapi": "ftp://x"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    create_vapi(&sim, &vapi_call("+14155550441")).await;
    assert!(receiver.wait_for(3).await.iter().all(|h| h.path == "/late"));

    // Retell has no URL: its webhooks are recorded as undeliverable.
    create_retell(&sim, &retell_call("+14155550442")).await;
    let results = eventually("the undeliverable webhooks", || {
        let deliveries = sim
            .control()
            .deliveries(&Filter::provider(Provider::Retell));
        (deliveries.len() == 2).then_some(deliveries)
    })
    .await;
    assert!(
        results
            .iter()
            .all(|d| d.result == leadline_sim::DeliveryResult::NoWebhookUrl)
    );

    let (_, limits) = send(
        reqwest::Method::PUT,
        format!("{}/_sim/limits", sim.url()),
        Some(json!({"vapi": 0})),
    )
    .await;
    assert_eq!(limits, json!({"retell": 20, "vapi": 0}));
    assert_eq!(
        create_vapi(&sim, &vapi_call("+14155550443")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn the_default_mix_is_deterministic_per_number() {
    let sim = Sim::start(SimConfig {
        default_script: DefaultScript::realistic_mix(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let mut outcomes = std::collections::BTreeSet::new();
    for i in 0..200 {
        let url = format!("{}/_sim/numbers/+1415555{i:04}", sim.url());
        let (_, first) = get_json(&url).await;
        let (_, again) = get_json(&url).await;
        assert_eq!(first, again);
        outcomes.insert(first["script"]["outcome"].as_str().unwrap().to_owned());
    }
    assert!(outcomes.len() >= 8, "{outcomes:?}");
}

#[tokio::test]
async fn unknown_paths_and_bad_bodies_answer_without_crashing() {
    let sim = start_sim(None).await;
    let (status, _) = get_json(&format!("{}/v1/nothing", sim.url())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let response = client()
        .post(format!("{}/call", sim.url()))
        .bearer_auth(VAPI_KEY)
        .body(vec![0xff, 0xfe, 0x00])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let (status, _) = send(
        reqwest::Method::POST,
        format!("{}/_sim/faults", sim.url()),
        Some(json!([1])),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Still serving.
    assert_eq!(
        create_vapi(&sim, &vapi_call("+14155550451")).await.0,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn callbacks_are_counted_on_the_virtual_clock() {
    // A backend whose clock reads a Monday in January, running an hour per second.
    let clock = VirtualClock {
        real_origin: jiff::Timestamp::now(),
        virtual_origin: "2030-01-07T15:00:00Z".parse().unwrap(),
        scale: 3600.0,
    };
    let sim = Sim::start(SimConfig {
        vapi_api_key: VAPI_KEY.into(),
        time_scale: TIME_SCALE,
        clock: Some(clock),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let to = "+14155550461";
    let callback = Outcome::CallbackRequested {
        callback_in_seconds: 1800,
    };
    sim.control()
        .set_script(to, Script::typical(callback))
        .unwrap();
    let before = jiff::Timestamp::now();
    let (_, created) = create_vapi(&sim, &vapi_call(to)).await;
    analyzed(&sim, to).await;
    let after = jiff::Timestamp::now();

    let (_, call) = get_vapi(&sim, created["id"].as_str().unwrap()).await;
    let at = call["analysis"]["structuredData"]["callback_at"]
        .as_str()
        .unwrap();
    assert!(
        at.starts_with("2030-01-07T") && at.ends_with("-05:00"),
        "{at}"
    );
    let at: jiff::Timestamp = at.parse().unwrap();
    let half_an_hour = jiff::SignedDuration::from_secs(1800);
    let earliest = clock.at(before) + half_an_hour - jiff::SignedDuration::from_secs(60);
    let latest = clock.at(after) + half_an_hour;
    assert!(
        earliest <= at && at <= latest,
        "{earliest} <= {at} <= {latest}"
    );

    // The call's own times stay real.
    let ended: jiff::Timestamp = call["endedAt"].as_str().unwrap().parse().unwrap();
    assert!(
        ended.duration_since(before).as_secs().abs() < 600,
        "{ended}"
    );
}
