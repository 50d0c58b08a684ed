//! The simulated Vapi: POST /call and its server messages.

use axum::http::StatusCode;
use leadline_sim::{DeliveryResult, Filter, Outcome, RejectionClass, Script};
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn create_call_answers_201_with_a_queued_call() {
    let sim = start_sim(None).await;
    let (status, call) = create_vapi(&sim, &vapi_call("+14155550211")).await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
    let id = call["id"].as_str().unwrap();
    assert_eq!(id.len(), 36);
    assert_eq!(
        id.split('-').map(str::len).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12]
    );
    assert_eq!(&id[14..15], "4", "a version 4 UUID");
    assert!(call["orgId"].is_string());
    assert_eq!(call["type"], "outboundPhoneCall");
    assert_eq!(call["status"], "queued");
    assert_eq!(call["customer"]["number"], "+14155550211");
    assert_eq!(call["phoneNumberId"], vapi_call("")["phoneNumberId"]);
    assert_eq!(call["assistantId"], vapi_call("")["assistantId"]);
    assert_eq!(
        call["assistantOverrides"],
        vapi_call("")["assistantOverrides"]
    );
    for time in ["createdAt", "updatedAt"] {
        let text = call[time].as_str().unwrap();
        assert!(text.ends_with('Z'), "{text}");
        text.parse::<jiff::Timestamp>().unwrap();
    }
    assert!(call.get("metadata").is_none());
}

#[tokio::test]
async fn create_call_validates_like_nestjs() {
    let sim = start_sim(None).await;
    let url = format!("{}/call", sim.url());
    let body = vapi_call("+14155550212");
    for key in [None, Some(RETELL_KEY)] {
        let (status, answer) = post(&url, key, &body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer["statusCode"], 401);
        assert_eq!(answer["error"], "Unauthorized");
    }

    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = vapi_call("+14155550212");
        change(&mut body);
        body
    };
    let bad_request =
        |message: Value| json!({"message": message, "error": "Bad Request", "statusCode": 400});

    let top_level_metadata = with(&|b| b["metadata"] = json!({"leadline_lead": "ld_1"}));
    let (status, answer) = create_vapi(&sim, &top_level_metadata).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer,
        bad_request(json!(["property metadata should not exist"]))
    );

    let e164 = json!(["customer.number must be a valid phone number in the E.164 format"]);
    for body in [
        with(&|b| b["customer"]["number"] = json!("4155550212")),
        with(&|b| b["customer"] = json!({"name": "Ada"})),
        with(&|b| drop(b.as_object_mut().unwrap().remove("customer"))),
    ] {
        let (status, answer) = create_vapi(&sim, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer, bad_request(e164.clone()), "{body}");
    }

    let no_assistant = with(&|b| drop(b.as_object_mut().unwrap().remove("assistantId")));
    let (status, answer) = create_vapi(&sim, &no_assistant).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["message"].as_str().unwrap().contains("assistantId"),
        "{answer}"
    );

    let no_phone_number = with(&|b| drop(b.as_object_mut().unwrap().remove("phoneNumberId")));
    let (status, answer) = create_vapi(&sim, &no_phone_number).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("phoneNumberId"),
        "{answer}"
    );

    let several = with(&|b| {
        b["metadata"] = json!({});
        b["assistantOverrides"]["variableValues"] = json!("x");
    });
    let (_, answer) = create_vapi(&sim, &several).await;
    assert_eq!(
        answer["message"],
        json!([
            "property metadata should not exist",
            "assistantOverrides.variableValues must be an object"
        ])
    );

    let stats = sim.control().stats(&Filter::default());
    assert_eq!(stats.rejected.get("unauthorized"), Some(&2));
    assert_eq!(stats.rejected.get("bad_request"), Some(&7));
    assert_eq!(stats.placed, 0);
}

#[tokio::test]
async fn a_scripted_call_sends_status_updates_and_a_report() {
    let receiver = Receiver::start().await;
    let sim = start_sim(Some(&receiver)).await;
    let to = "+14155550213";
    let script = Script::typical(Outcome::NotInterested)
        .talk_seconds(30)
        .ring_seconds(5);
    sim.control().set_script(to, script).unwrap();
    let (_, created) = create_vapi(&sim, &vapi_call(to)).await;
    let hits = receiver.wait_for(4).await;
    assert_eq!(
        receiver.events(),
        [
            "status-update:ringing",
            "status-update:in-progress",
            "status-update:ended",
            "end-of-call-report"
        ]
    );
    for hit in &hits {
        assert_eq!(hit.path, "/vapi");
        assert_eq!(hit.header("x-vapi-secret"), Some(VAPI_SECRET));
        let message = &hit.json["message"];
        assert!(message["timestamp"].is_i64());
        assert_eq!(message["call"]["id"], created["id"]);
        assert_eq!(
            message["call"]["assistantOverrides"],
            vapi_call(to)["assistantOverrides"]
        );
    }
    assert!(hits[1].json["message"].get("endedReason").is_none());
    let ended = &hits[2].json["message"];
    assert_eq!(ended["endedReason"], "customer-ended-call");
    assert_eq!(ended["call"]["status"], "ended");

    let report = &hits[3].json["message"];
    assert_eq!(report["endedReason"], "customer-ended-call");
    assert_eq!(
        report["analysis"]["structuredData"],
        json!({"outcome": "not_interested"})
    );
    assert_eq!(report["analysis"]["successEvaluation"], "false");
    assert!(report["analysis"]["summary"].is_string());
    let outputs = report["artifact"]["structuredOutputs"].as_object().unwrap();
    let (output_id, output) = outputs.iter().next().unwrap();
    assert_eq!(output_id.len(), 36);
    assert_eq!(
        output,
        &json!({"name": "outcome", "result": {"outcome": "not_interested"}})
    );
    assert!(
        report["artifact"]["transcript"]
            .as_str()
            .unwrap()
            .starts_with("AI: Hi Ada")
    );
    assert!(report["artifact"]["recordingUrl"].is_string());
    assert_eq!(report["artifact"]["messages"], json!([]));
    assert_eq!(report["cost"], 0.055);
    let started: jiff::Timestamp = report["startedAt"].as_str().unwrap().parse().unwrap();
    let ended: jiff::Timestamp = report["endedAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(ended.duration_since(started).as_secs(), 30);
}

#[tokio::test]
async fn vapi_does_not_retry() {
    let receiver = Receiver::start().await;
    let sim = start_sim(Some(&receiver)).await;
    let to = "+14155550214";
    sim.control()
        .set_script(to, Script::typical(Outcome::Busy))
        .unwrap();
    receiver.reply_with([Reply {
        status: 503,
        delay: std::time::Duration::ZERO,
    }]);
    create_vapi(&sim, &vapi_call(to)).await;
    receiver.wait_for(3).await;
    assert_eq!(
        receiver.events(),
        [
            "status-update:ringing",
            "status-update:ended",
            "end-of-call-report"
        ]
    );
    assert_eq!(
        receiver.hits()[1].json["message"]["endedReason"],
        "customer-busy"
    );
    let results: Vec<_> = deliveries_to(&sim, to, 3)
        .await
        .into_iter()
        .map(|d| d.result)
        .collect();
    assert_eq!(
        results,
        [
            DeliveryResult::Refused,
            DeliveryResult::Delivered,
            DeliveryResult::Delivered
        ]
    );
}

#[tokio::test]
async fn an_appointment_is_analysed_and_unreached_calls_have_their_reasons() {
    let receiver = Receiver::start().await;
    let sim = start_sim(Some(&receiver)).await;
    for (to, outcome, reason) in [
        (
            "+14155550221",
            Outcome::AppointmentSet,
            "assistant-ended-call",
        ),
        ("+14155550222", Outcome::NoAnswer, "customer-did-not-answer"),
        ("+14155550223", Outcome::Voicemail, "voicemail"),
        (
            "+14155550224",
            Outcome::Failed,
            "pipeline-error-openai-llm-failed",
        ),
    ] {
        sim.control()
            .set_script(to, Script::typical(outcome))
            .unwrap();
        create_vapi(&sim, &vapi_call(to)).await;
        let report = eventually("the report", || {
            receiver.hits().into_iter().find(|h| {
                h.event() == "end-of-call-report"
                    && h.json["message"]["call"]["customer"]["number"] == to
            })
        })
        .await;
        let message = &report.json["message"];
        assert_eq!(message["endedReason"], reason, "{to}");
        let expected = if outcome == Outcome::AppointmentSet {
            json!({"outcome": "appointment_set"})
        } else {
            json!({})
        };
        assert_eq!(message["analysis"]["structuredData"], expected);
    }
}

#[tokio::test]
async fn an_invalid_number_is_refused_at_create_call() {
    let sim = start_sim(None).await;
    let to = "+14155550231";
    sim.control()
        .set_script(to, Script::typical(Outcome::InvalidNumber))
        .unwrap();
    let (status, answer) = create_vapi(&sim, &vapi_call(to)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["statusCode"], 400);
    assert!(
        answer["message"][0]
            .as_str()
            .unwrap()
            .contains("customer.number is not a valid phone number")
    );
    let record = &sim.control().calls(&Filter::to(to))[0];
    assert_eq!(record.rejection, Some(RejectionClass::InvalidNumber));
}

#[tokio::test]
async fn the_assistants_server_url_takes_precedence() {
    let account = Receiver::start().await;
    let assistant = Receiver::start().await;
    let sim = start_sim(Some(&account)).await;
    let to = "+14155550241";
    let mut body = vapi_call(to);
    body["assistantOverrides"]["server"] =
        json!({"url": format!("{}/own", assistant.url), "secret": "own-secret"});
    create_vapi(&sim, &body).await;
    let hits = assistant.wait_for(3).await;
    assert!(
        hits.iter()
            .all(|h| h.path == "/own" && h.header("x-vapi-secret") == Some("own-secret"))
    );
    assert!(account.hits().is_empty());
}

#[tokio::test]
async fn get_call_shows_the_call_as_it_stands() {
    let sim = start_sim(None).await;
    let to = "+14155550251";
    sim.control()
        .set_script(to, Script::typical(Outcome::NotInterested).talk_seconds(30))
        .unwrap();
    let (_, created) = create_vapi(&sim, &vapi_call(to)).await;
    let id = created["id"].as_str().unwrap();
    analyzed(&sim, to).await;

    let (status, call) = get_vapi(&sim, id).await;
    assert_eq!(status, StatusCode::OK, "{call}");
    assert_eq!(call["id"], id);
    assert_eq!(call["status"], "ended");
    assert_eq!(call["endedReason"], "customer-ended-call");
    assert_eq!(
        call["assistantOverrides"],
        vapi_call(to)["assistantOverrides"]
    );
    assert_eq!(call["cost"], 0.055);
    let started: jiff::Timestamp = call["startedAt"].as_str().unwrap().parse().unwrap();
    let ended: jiff::Timestamp = call["endedAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(ended.duration_since(started).as_secs(), 30);
    let artifact = &call["artifact"];
    assert!(
        artifact["transcript"]
            .as_str()
            .unwrap()
            .starts_with("AI: Hi Ada")
    );
    assert!(artifact["recordingUrl"].is_string());
    assert_eq!(
        artifact["structuredOutputs"][leadline_sim::vapi::OUTCOME_STRUCTURED_OUTPUT_ID]["result"],
        json!({"outcome": "not_interested"})
    );
    assert_eq!(
        call["analysis"]["structuredData"],
        json!({"outcome": "not_interested"})
    );
    assert_eq!(call["analysis"]["successEvaluation"], "false");
    assert!(call["analysis"]["summary"].is_string());

    let (status, answer) = get_vapi(&sim, "6f1c9a2e-0000-4000-8000-000000000000").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(answer["statusCode"], 404);
    let (status, _) = get_with_key(&format!("{}/call/{id}", sim.url()), RETELL_KEY).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_callback_said_in_words_has_no_callback_at() {
    let sim = start_sim(None).await;
    let to = "+14155550252";
    let script = json!({"outcome": "callback_requested", "callback_phrase": "Tuesday at 3"});
    let response = client()
        .put(format!("{}/_sim/numbers/{to}", sim.url()))
        .json(&script)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (_, created) = create_vapi(&sim, &vapi_call(to)).await;
    analyzed(&sim, to).await;

    let (_, call) = get_vapi(&sim, created["id"].as_str().unwrap()).await;
    let said = json!({"outcome": "callback_requested", "callback_time": "Tuesday at 3"});
    assert_eq!(call["analysis"]["structuredData"], said);
    let output =
        &call["artifact"]["structuredOutputs"][leadline_sim::vapi::OUTCOME_STRUCTURED_OUTPUT_ID];
    assert_eq!(output["result"], said);
    assert!(
        call["artifact"]["transcript"]
            .as_str()
            .unwrap()
            .contains("call me back Tuesday at 3?")
    );

    let wrong = json!({"outcome": "busy", "callback_phrase": "Tuesday at 3"});
    let response = client()
        .put(format!("{}/_sim/numbers/{to}", sim.url()))
        .json(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}
