//! Inbound calls: the provider asks the backend how to answer, then the call
//! plays out with what the answer gave.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use leadline_sim::{Filter, InboundCallRequest, Outcome, Provider, Script};
use serde_json::{Value, json};

use crate::common::*;

const BUSINESS: &str = "+14155550100";

/// A backend: answers the inbound requests from a queue of (status, body),
/// 200 `{}` once it is empty, and everything else 204; records every request.
struct Backend {
    url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    server: tokio::task::JoinHandle<()>,
}

type Shared = (Arc<Mutex<Vec<Hit>>>, Arc<Mutex<VecDeque<(u16, Value)>>>);

impl Backend {
    async fn start(answers: impl IntoIterator<Item = (u16, Value)>) -> Backend {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(answers.into_iter().collect()));
        let app = Router::new()
            .fallback(receive)
            .with_state((hits.clone(), answers));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Backend { url, hits, server }
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    fn events(&self) -> Vec<String> {
        self.hits().iter().map(Hit::event).collect()
    }

    async fn wait_for(&self, event: &str) -> Hit {
        eventually(event, || {
            self.hits().into_iter().find(|h| h.event() == event)
        })
        .await
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(
    State((hits, answers)): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let hit = Hit {
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        json: serde_json::from_slice(&body).unwrap_or(Value::Null),
        body,
    };
    let inbound = matches!(hit.event().as_str(), "call_inbound" | "assistant-request");
    hits.lock().unwrap().push(hit);
    if !inbound {
        return StatusCode::NO_CONTENT.into_response();
    }
    let (status, body) = answers
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or((200, json!({})));
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

async fn sim_for(backend: &Backend) -> leadline_sim::SimHandle {
    let sim = start_sim(None).await;
    sim.control()
        .set_webhook_url(Provider::Retell, Some(format!("{}/retell", backend.url)));
    sim.control()
        .set_webhook_url(Provider::Vapi, Some(format!("{}/vapi", backend.url)));
    sim
}

fn metadata() -> Value {
    json!({"leadline_tenant": "bright", "leadline_lead": "ld_caller", "leadline_attempt": "1"})
}

fn calls(provider: Provider, from: &str) -> InboundCallRequest {
    InboundCallRequest {
        provider,
        from: from.into(),
        to: BUSINESS.into(),
    }
}

#[tokio::test]
async fn retell_asks_its_inbound_webhook_then_plays_the_call_out_with_the_answer() {
    let caller = "+14155550301";
    let backend = Backend::start([(
        200,
        json!({"call_inbound": {
            "override_agent_id": "agent_shared",
            "dynamic_variables": {"business_name": "Bright Smile", "greeting": "Hello"},
            "metadata": metadata()
        }}),
    )])
    .await;
    let sim = sim_for(&backend).await;
    sim.control()
        .set_script(caller, Script::typical(Outcome::Qualified))
        .unwrap();
    let record = sim
        .control()
        .place_inbound_call(calls(Provider::Retell, caller))
        .await
        .unwrap();
    assert!(record.taken, "{record:?}");
    assert_eq!((record.attempts, record.status), (1, Some(200)));
    let call_id = record.call_id.clone().unwrap();

    let asked = &backend.hits()[0];
    assert_eq!(asked.path, "/retell");
    assert_eq!(
        asked.json["call_inbound"],
        json!({"from_number": caller, "to_number": BUSINESS})
    );
    assert!(asked.json.get("call").is_none(), "no call exists yet");
    assert_retell_signed(asked);

    let analyzed = backend.wait_for("call_analyzed").await;
    assert_retell_signed(&analyzed);
    let call = &analyzed.json["call"];
    assert_eq!(call["call_id"], call_id.as_str());
    assert_eq!(call["direction"], "inbound");
    assert_eq!(
        (&call["from_number"], &call["to_number"]),
        (&json!(caller), &json!(BUSINESS))
    );
    assert_eq!(call["agent_id"], "agent_shared");
    assert_eq!(call["metadata"], metadata());
    assert_eq!(call["retell_llm_dynamic_variables"]["greeting"], "Hello");
    assert_eq!(
        call["call_analysis"]["custom_analysis_data"]["outcome"],
        "qualified"
    );
    assert_eq!(
        backend.events(),
        [
            "call_inbound",
            "call_started",
            "call_ended",
            "call_analyzed"
        ]
    );
    // Recorded as a call to the caller, as a placed call is.
    let recorded = sim.control().calls(&Filter::to(caller));
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].call_id.as_deref(), Some(call_id.as_str()));
    let (status, got) = get_retell(&sim, &call_id).await;
    assert_eq!(
        (status, &got["direction"]),
        (StatusCode::OK, &json!("inbound"))
    );
}

#[tokio::test]
async fn retell_asks_again_after_a_failure_and_a_call_with_no_agent_named_is_not_taken() {
    let caller = "+14155550302";
    let backend = Backend::start([
        (500, json!({"error": "down"})),
        (
            200,
            json!({"call_inbound": {"dynamic_variables": {"business_name": "Bright Smile"}}}),
        ),
    ])
    .await;
    let sim = sim_for(&backend).await;
    let record = sim
        .control()
        .place_inbound_call(calls(Provider::Retell, caller))
        .await
        .unwrap();
    assert_eq!(record.attempts, 2, "asked again after the 500");
    assert!(!record.taken);
    assert!(record.declined.unwrap().contains("no agent"));
    assert_eq!(record.call_id, None);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(backend.events(), ["call_inbound", "call_inbound"]);
    assert!(sim.control().calls(&Filter::to(caller)).is_empty());
}

#[tokio::test]
async fn vapi_sends_an_assistant_request_then_plays_the_call_out_with_its_overrides() {
    let caller = "+14155550303";
    let overrides =
        json!({"metadata": metadata(), "variableValues": {"business_name": "Bright Smile"}});
    let backend = Backend::start([(
        200,
        json!({"assistantId": "asst-shared", "assistantOverrides": overrides}),
    )])
    .await;
    let sim = sim_for(&backend).await;
    sim.control()
        .set_script(caller, Script::typical(Outcome::AppointmentSet))
        .unwrap();
    let record = sim
        .control()
        .place_inbound_call(calls(Provider::Vapi, caller))
        .await
        .unwrap();
    assert!(record.taken, "{record:?}");
    let call_id = record.call_id.clone().unwrap();

    let asked = &backend.hits()[0];
    assert_eq!(asked.path, "/vapi");
    assert_eq!(asked.header("x-vapi-secret"), Some(VAPI_SECRET));
    let message = &asked.json["message"];
    assert_eq!(message["type"], "assistant-request");
    assert_eq!(message["call"]["id"], call_id.as_str());
    assert_eq!(message["call"]["type"], "inboundPhoneCall");
    assert_eq!(message["phoneNumber"]["number"], BUSINESS);
    assert_eq!(message["customer"]["number"], caller);

    let report = backend.wait_for("end-of-call-report").await;
    let call = &report.json["message"]["call"];
    assert_eq!(call["id"], call_id.as_str());
    assert_eq!(call["type"], "inboundPhoneCall");
    assert_eq!(call["assistantId"], "asst-shared");
    assert_eq!(call["assistantOverrides"], overrides);
    assert_eq!(call["customer"]["number"], caller);
    assert_eq!(
        report.json["message"]["analysis"]["structuredData"]["outcome"],
        "appointment_set"
    );
    let (status, got) = get_vapi(&sim, &call_id).await;
    assert_eq!(
        (status, &got["type"]),
        (StatusCode::OK, &json!("inboundPhoneCall"))
    );
}

#[tokio::test]
async fn vapi_does_not_ask_again_and_an_error_answer_is_a_call_not_taken() {
    let backend = Backend::start([
        (500, json!({})),
        (
            200,
            json!({"error": "Sorry, this number is not in service."}),
        ),
    ])
    .await;
    let sim = sim_for(&backend).await;
    let failed = sim
        .control()
        .place_inbound_call(calls(Provider::Vapi, "+14155550304"))
        .await
        .unwrap();
    assert_eq!((failed.attempts, failed.taken), (1, false));
    let declined = sim
        .control()
        .place_inbound_call(calls(Provider::Vapi, "+14155550304"))
        .await
        .unwrap();
    assert!(!declined.taken);
    assert!(declined.declined.unwrap().contains("not in service"));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(backend.events(), ["assistant-request", "assistant-request"]);
}

#[tokio::test]
async fn the_control_endpoint_makes_a_number_call_and_refuses_what_it_cannot_follow() {
    let backend =
        Backend::start([(200, json!({"call_inbound": {"override_agent_id": "a"}}))]).await;
    let sim = sim_for(&backend).await;
    let url = format!("{}/_sim/inbound-calls", sim.url());
    let (status, record) = post(
        &url,
        None,
        &json!({"provider": "retell", "from": "anonymous", "to": BUSINESS}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(record["taken"], true);
    assert_eq!(
        backend.hits()[0].json["call_inbound"]["from_number"],
        "anonymous"
    );
    for bad in [
        json!({"provider": "retell", "from": "12", "to": BUSINESS}),
        json!({"provider": "retell", "from": "+14155550305", "to": "front desk"}),
        json!({"provider": "twilio", "from": "+14155550305", "to": BUSINESS}),
        json!({"provider": "vapi", "from": "+14155550305"}),
    ] {
        let (status, answer) = post(&url, None, &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {answer}");
        assert!(answer["error"].is_string());
    }
    let nowhere = start_sim(None).await;
    let (status, answer) = post(
        &format!("{}/_sim/inbound-calls", nowhere.url()),
        None,
        &json!({"provider": "vapi", "from": "+14155550305", "to": BUSINESS}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["error"].as_str().unwrap().contains("webhook URL"));
}
