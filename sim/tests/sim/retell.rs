//! The simulated Retell: create-phone-call and its signed webhooks.

use std::time::Duration;

use axum::http::StatusCode;
use leadline_sim::{DeliveryResult, Filter, Outcome, RejectionClass, Script};
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn create_phone_call_answers_201_with_the_call() {
    let sim = start_sim(None).await;
    let (status, call) = create_retell(&sim, &retell_call("+14155550111")).await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
    let id = call["call_id"].as_str().unwrap();
    assert!(id.starts_with("call_") && id.len() == 37, "{id}");
    assert!(id[5..].chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(call["agent_version"], 1);
    assert!(call["agent_id"].is_string());
    assert_eq!(call["call_status"], "registered");
    assert_eq!(call["call_type"], "phone_call");
    assert_eq!(call["direction"], "outbound");
    assert_eq!(call["from_number"], "+14155550100");
    assert_eq!(call["to_number"], "+14155550111");
    assert_eq!(call["metadata"]["leadline_lead"], "ld_1");
    assert_eq!(call["retell_llm_dynamic_variables"]["first_name"], "Ada");

    let records = sim.control().calls(&Filter::to("+14155550111"));
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status, 201);
    assert_eq!(records[0].call_id.as_deref(), Some(id));
    assert_eq!(records[0].body, retell_call("+14155550111"));
    assert_eq!(
        records[0].headers.get("authorization").map(String::as_str),
        Some(format!("Bearer {RETELL_KEY}").as_str())
    );
}

#[tokio::test]
async fn create_phone_call_needs_the_api_key() {
    let sim = start_sim(None).await;
    let url = format!("{}/v2/create-phone-call", sim.url());
    let body = retell_call("+14155550112");
    for key in [None, Some("wrong-key"), Some(VAPI_KEY)] {
        let (status, answer) = post(&url, key, &body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{key:?}");
        assert_eq!(answer["status"], "error");
        assert!(answer["message"].is_string());
    }
    let stats = sim.control().stats(&Filter::default());
    assert_eq!(stats.rejected.get("unauthorized"), Some(&3));
    assert_eq!(stats.placed, 0);
}

#[tokio::test]
async fn create_phone_call_validates_like_the_real_api() {
    let sim = start_sim(None).await;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = retell_call("+14155550113");
        change(&mut body);
        body
    };
    let cases = [
        (
            with(&|b| drop(b.as_object_mut().unwrap().remove("from_number"))),
            "from_number",
        ),
        (
            with(&|b| drop(b.as_object_mut().unwrap().remove("to_number"))),
            "to_number",
        ),
        (
            with(&|b| b["to_number"] = json!("(415) 555-0113")),
            "to_number",
        ),
        (
            with(&|b| b["from_number"] = json!("+0123456789")),
            "from_number",
        ),
        (
            with(&|b| b["to_number"] = json!(14155550113_u64)),
            "to_number",
        ),
        (
            with(&|b| b["retell_llm_dynamic_variables"]["attempt"] = json!(1)),
            "retell_llm_dynamic_variables",
        ),
        (
            with(&|b| b["retell_llm_dynamic_variables"] = json!("first_name=Ada")),
            "retell_llm_dynamic_variables",
        ),
        (
            with(&|b| b["override_agent_id"] = json!(42)),
            "override_agent_id",
        ),
    ];
    for (body, field) in &cases {
        let (status, answer) = create_retell(&sim, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer["status"], "error");
        assert!(
            answer["message"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }
    // Not JSON at all.
    let response = client()
        .post(format!("{}/v2/create-phone-call", sim.url()))
        .bearer_auth(RETELL_KEY)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // Metadata may be any JSON; the override agent is echoed.
    let body = with(&|b| {
        b["metadata"] = json!([1, "two", {"three": null}]);
        b["override_agent_id"] = json!("agent_override");
    });
    let (status, call) = create_retell(&sim, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
    assert_eq!(call["metadata"], json!([1, "two", {"three": null}]));
    assert_eq!(call["agent_id"], "agent_override");

    let stats = sim.control().stats(&Filter::default());
    assert_eq!(stats.rejected.get("bad_request"), Some(&(cases.len() + 1)));
    assert_eq!(stats.placed, 1);
}

#[tokio::test]
async fn a_scripted_call_delivers_signed_webhooks_in_order() {
    let receiver = Receiver::start().await;
    let sim = start_sim(Some(&receiver)).await;
    let to = "+14155550114";
    let script = Script::typical(Outcome::AppointmentSet)
        .talk_seconds(120)
        .ring_seconds(8);
    sim.control().set_script(to, script).unwrap();
    let (status, created) = create_retell(&sim, &retell_call(to)).await;
    assert_eq!(status, StatusCode::CREATED);
    let call_id = created["call_id"].as_str().unwrap();

    let hits = receiver.wait_for(3).await;
    assert_eq!(
        receiver.events(),
        ["call_started", "call_ended", "call_analyzed"]
    );
    for hit in &hits {
        assert_eq!(hit.path, "/retell");
        assert_eq!(hit.header("content-type"), Some("application/json"));
        assert_retell_signed(hit);
        let call = &hit.json["call"];
        assert_eq!(call["call_id"], call_id);
        assert_eq!(call["metadata"], retell_call(to)["metadata"]);
        assert_eq!(
            call["retell_llm_dynamic_variables"],
            retell_call(to)["retell_llm_dynamic_variables"]
        );
    }
    let started = &hits[0].json["call"];
    assert_eq!(started["call_status"], "ongoing");
    assert!(started["start_timestamp"].is_i64());
    assert!(started.get("end_timestamp").is_none());

    let ended = &hits[1].json["call"];
    assert!(ended.get("call_analysis").is_none(), "{ended}");
    assert_eq!(ended["call_status"], "ended");
    assert_eq!(ended["disconnection_reason"], "agent_hangup");
    assert_eq!(ended["duration_ms"], 120_000);
    assert_eq!(
        ended["end_timestamp"].as_i64().unwrap() - ended["start_timestamp"].as_i64().unwrap(),
        120_000
    );
    assert!(
        ended["transcript"]
            .as_str()
            .unwrap()
            .contains("Agent: Hi Ada")
    );
    assert!(ended["recording_url"].is_string());
    assert_eq!(ended["call_cost"]["combined_cost"], 14.0);
    assert_eq!(ended["call_cost"]["total_duration_seconds"], 120);

    let analyzed = &hits[2].json["call"];
    let analysis = &analyzed["call_analysis"];
    assert_eq!(
        analysis["custom_analysis_data"],
        json!({"outcome": "appointment_set"})
    );
    assert_eq!(analysis["call_successful"], true);
    assert_eq!(analysis["in_voicemail"], false);
    assert_eq!(analysis["user_sentiment"], "Positive");
    assert!(analysis["call_summary"].is_string());
    assert_eq!(analyzed["duration_ms"], 120_000);

    let deliveries = deliveries_to(&sim, to, 3).await;
    assert_eq!(deliveries.len(), 3);
    assert!(
        deliveries
            .iter()
            .all(|d| d.result == DeliveryResult::Delivered && d.status == Some(204))
    );
    let record = &sim.control().calls(&Filter::to(to))[0];
    assert_eq!(record.phase, Some(leadline_sim::CallPhase::Analyzed));
}

#[tokio::test]
async fn an_unanswered_call_never_starts() {
    let receiver = Receiver::start().await;
    let sim = start_sim(Some(&receiver)).await;
    for (to, outcome, reason) in [
        ("+14155550121", Outcome::NoAnswer, "dial_no_answer"),
        ("+14155550122", Outcome::Busy, "dial_busy"),
        ("+14155550123", Outcome::Failed, "dial_failed"),
    ] {
        sim.control()
            .set_script(to, Script::typical(outcome))
            .unwrap();
        create_retell(&sim, &retell_call(to)).await;
        eventually("the analysis", || {
            let events: Vec<_> = sim
                .control()
                .deliveries(&Filter::to(to))
                .into_iter()
                .map(|d| d.event)
                .collect();
            (events.len() == 2)
                .then_some(())
                .inspect(|()| assert_eq!(events, ["call_ended", "call_analyzed"]))
        })
        .await;
        let hits = receiver.hits();
        let ended = hits
            .iter()
            .find(|h| h.json["call"]["to_number"] == to && h.event() == "call_ended")
            .unwrap();
        assert_eq!(ended.json["call"]["disconnection_reason"], reason);
        assert_eq!(ended.json["call"]["call_status"], "not_connected");
        assert_eq!(ended.json["call"]["duration_ms"], 0);
    }
}

#[tokio::test]
async fn voicemail_and_callbacks_are_analysed() {
    let receiver = Receiver::start().await;
    let sim = start_sim(Some(&receiver)).await;
    sim.control()
        .set_script("+14155550131", Script::typical(Outcome::Voicemail))
        .unwrap();
    let callback = Outcome::CallbackRequested {
        callback_in_seconds: 7200,
    };
    sim.control()
        .set_script("+14155550132", Script::typical(callback))
        .unwrap();
    let before = jiff::Timestamp::now();
    create_retell(&sim, &retell_call("+14155550131")).await;
    create_retell(&sim, &retell_call("+14155550132")).await;
    receiver.wait_for(6).await;
    let after = jiff::Timestamp::now();
    let analysis_of = |to: &str| {
        let hits = receiver.hits();
        let hit = hits
            .iter()
            .find(|h| h.json["call"]["to_number"] == to && h.event() == "call_analyzed")
            .unwrap();
        hit.json["call"].clone()
    };
    let voicemail = analysis_of("+14155550131");
    assert_eq!(voicemail["disconnection_reason"], "voicemail_reached");
    assert_eq!(voicemail["call_analysis"]["in_voicemail"], true);
    assert_eq!(
        voicemail["call_analysis"]["custom_analysis_data"],
        json!({})
    );

    let callback = analysis_of("+14155550132");
    let data = &callback["call_analysis"]["custom_analysis_data"];
    assert_eq!(data["outcome"], "callback_requested");
    let at = data["callback_at"].as_str().unwrap();
    assert!(at.ends_with("-05:00") || at.ends_with("-04:00"), "{at}");
    // Two hours after the real time the call ended, to the minute.
    let at: jiff::Timestamp = at.parse().unwrap();
    let from = |real: jiff::Timestamp| at.duration_since(real).as_secs();
    assert!(from(before) >= 7140 && from(after) <= 7200, "{at}");
}

#[tokio::test]
async fn an_unacknowledged_webhook_is_retried_three_more_times() {
    let receiver = Receiver::start().await;
    let sim = start_sim(Some(&receiver)).await;
    let to = "+14155550141";
    let refuse = Reply {
        status: 500,
        delay: Duration::ZERO,
    };
    // call_ended: refused twice then taken; call_analyzed: refused four times.
    receiver.reply_to(
        "call_ended",
        [
            refuse,
            refuse,
            Reply {
                status: 200,
                delay: Duration::ZERO,
            },
        ],
    );
    receiver.reply_to("call_analyzed", [refuse; 4]);
    create_retell(&sim, &retell_call(to)).await;
    let hits = receiver.wait_for(7).await;
    deliveries_to(&sim, to, 7).await;
    let attempts = |event: &str| {
        sim.control()
            .deliveries(&Filter::to(to))
            .into_iter()
            .filter(|d| d.event == event)
            .map(|d| (d.attempt, d.result))
            .collect::<Vec<_>>()
    };
    use DeliveryResult::{Delivered, Refused};
    assert_eq!(
        attempts("call_ended"),
        [(1, Refused), (2, Refused), (3, Delivered)]
    );
    assert_eq!(
        attempts("call_analyzed"),
        [(1, Refused), (2, Refused), (3, Refused), (4, Refused)]
    );
    // A retry carries the same body, signed afresh.
    let ended: Vec<_> = hits.iter().filter(|h| h.event() == "call_ended").collect();
    assert_eq!(ended[0].body, ended[2].body);
    hits.iter().for_each(assert_retell_signed);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(receiver.hits().len(), 7, "no fifth attempt");
}

#[tokio::test]
async fn a_webhook_answered_too_late_is_retried() {
    let receiver = Receiver::start().await;
    let sim = start_sim(Some(&receiver)).await;
    let to = "+14155550142";
    // Retell waits 10 s, scaled but never under a second.
    receiver.reply_with([Reply {
        status: 204,
        delay: Duration::from_millis(1500),
    }]);
    create_retell(&sim, &retell_call(to)).await;
    eventually("the retry", || {
        let ended: Vec<_> = sim
            .control()
            .deliveries(&Filter::to(to))
            .into_iter()
            .filter(|d| d.event == "call_ended")
            .map(|d| d.result)
            .collect();
        (ended.len() == 2).then_some(ended)
    })
    .await
    .iter()
    .zip([DeliveryResult::Timeout, DeliveryResult::Delivered])
    .for_each(|(got, want)| assert_eq!(*got, want));
}

#[tokio::test]
async fn an_invalid_number_is_refused_at_create_call() {
    let sim = start_sim(None).await;
    let to = "+14155550151";
    sim.control()
        .set_script(to, Script::typical(Outcome::InvalidNumber))
        .unwrap();
    let (status, answer) = create_retell(&sim, &retell_call(to)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = answer["message"].as_str().unwrap();
    assert!(
        message.contains("Invalid destination number") && message.contains(to),
        "{message}"
    );
    let record = &sim.control().calls(&Filter::to(to))[0];
    assert_eq!(record.rejection, Some(RejectionClass::InvalidNumber));
    assert_eq!(record.response, answer);
}

#[tokio::test]
async fn get_call_shows_the_call_as_it_stands() {
    let sim = start_sim(None).await;
    let to = "+14155550161";
    sim.control()
        .set_script(to, Script::typical(Outcome::Qualified))
        .unwrap();
    let (_, created) = create_retell(&sim, &retell_call(to)).await;
    let url = format!(
        "{}/v2/get-call/{}",
        sim.url(),
        created["call_id"].as_str().unwrap()
    );
    let get = || async {
        client()
            .get(&url)
            .bearer_auth(RETELL_KEY)
            .send()
            .await
            .unwrap()
    };
    eventually("the analysis", || {
        (sim.control().calls(&Filter::to(to))[0].phase == Some(leadline_sim::CallPhase::Analyzed))
            .then_some(())
    })
    .await;
    let call: Value = get().await.json().await.unwrap();
    assert_eq!(call["call_status"], "ended");
    assert_eq!(
        call["call_analysis"]["custom_analysis_data"]["outcome"],
        "qualified"
    );
    let missing = client()
        .get(format!("{}/v2/get-call/call_0000", sim.url()))
        .bearer_auth(RETELL_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}
