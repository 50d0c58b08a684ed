//! The agent's requests as each provider shapes them, and a whole booking
//! against a small backend.

use std::sync::Mutex;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use data_encoding::HEXLOWER;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;

use super::*;
use crate::api::ProviderApi;
use crate::call::{CallFacts, Milestone};
use crate::config::SimConfig;
use crate::records::Filter;
use crate::retell::Retell;
use crate::script::{DefaultScript, Outcome, Script, ScriptedBooking, ToolStep};
use crate::server::{Sim, SimHandle};
use crate::vapi::Vapi;

const RETELL_KEY: &str = "key_test_retell";
const VAPI_KEY: &str = "vapi-private-test";
const VAPI_SECRET: &str = "vapi-webhook-secret-test";

fn metadata() -> Value {
    json!({"leadline_tenant": "acme", "leadline_lead": "ld_1"})
}

fn retell_body(to: &str) -> Value {
    json!({"from_number": "+14155550100", "to_number": to, "metadata": metadata()})
}

fn vapi_body(to: &str) -> Value {
    json!({
        "assistantId": "7f1c9a2e-4b3d-4c5e-8f6a-1b2c3d4e5f60",
        "phoneNumberId": "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d",
        "customer": {"number": to},
        "assistantOverrides": {"metadata": metadata()},
    })
}

/// A call in progress, as the provider accepted `body`.
fn connected<P: ProviderApi>(provider: Provider, body: Value) -> (PlacedCall, CallFacts) {
    let (to, details) = P::parse(&body).unwrap();
    let call = PlacedCall {
        provider,
        id: "c1".into(),
        to,
        script: Script::typical(Outcome::AppointmentSet),
        created_at: Timestamp::now(),
        details,
    };
    let mut facts = CallFacts::DIALING;
    let now = Timestamp::now();
    facts.advance(&call, Milestone::Ringing, now, now);
    facts.advance(&call, Milestone::Connected, now, now);
    (call, facts)
}

fn service_args() -> Map<String, Value> {
    arguments([("service", "cleaning")])
}

#[test]
fn retell_sends_the_name_the_args_and_the_call() {
    let (call, facts) = connected::<Retell>(Provider::Retell, retell_body("+14155550181"));
    let request = call.tool_call(&facts, "check_availability", &service_args(), 1);
    assert_eq!(request.tool_call_id, None);
    assert_eq!(request.body["name"], "check_availability");
    assert_eq!(request.body["args"], json!({"service": "cleaning"}));
    assert_eq!(request.body["call"]["call_id"], "c1");
    assert_eq!(request.body["call"]["call_status"], "ongoing");
    assert_eq!(request.body["call"]["metadata"], metadata());
}

#[test]
fn vapi_sends_a_tool_calls_message_with_both_argument_encodings() {
    let (call, facts) = connected::<Vapi>(Provider::Vapi, vapi_body("+14155550182"));
    let first = call.tool_call(&facts, "check_availability", &service_args(), 1);
    let message = &first.body["message"];
    assert_eq!(message["type"], "tool-calls");
    assert!(message["timestamp"].is_i64());
    let item = &message["toolCallList"][0];
    let id = first.tool_call_id.as_deref().unwrap();
    assert!(id.starts_with("call_"));
    assert_eq!(
        *item,
        json!({"id": id, "type": "function",
               "function": {"name": "check_availability", "arguments": {"service": "cleaning"}}})
    );
    assert_eq!(
        message["toolWithToolCallList"][0],
        json!({"type": "function", "function": {"name": "check_availability"}, "toolCall": item})
    );
    assert_eq!(message["call"]["status"], "in-progress");
    assert_eq!(
        message["call"]["assistantOverrides"]["metadata"],
        metadata()
    );

    let second = call.tool_call(&facts, "check_availability", &service_args(), 2);
    let arguments = &second.body["message"]["toolCallList"][0]["function"]["arguments"];
    let decoded: Value = serde_json::from_str(arguments.as_str().unwrap()).unwrap();
    assert_eq!(decoded, json!({"service": "cleaning"}));
    assert_ne!(second.tool_call_id, first.tool_call_id);
}

#[test]
fn answers_are_read_as_each_provider_returns_them() {
    let slots = json!({"say": "Tuesday at 3", "slots": [{"start": "2026-11-24T20:00:00Z"}]});
    assert_eq!(
        retell::tool_answer(slots.to_string().as_bytes()),
        ToolAnswer {
            answer: Some(slots.clone()),
            error: None
        }
    );
    let failed = retell::tool_answer(br#"{"error": "I can't reach the calendar"}"#);
    assert_eq!(failed.error.as_deref(), Some("I can't reach the calendar"));
    assert_eq!(
        retell::tool_answer(b"plain words").answer,
        Some(json!("plain words"))
    );

    let vapi = |results: Value| {
        vapi::tool_answer(
            json!({ "results": results }).to_string().as_bytes(),
            "call_1",
        )
    };
    let result = vapi(json!([
        {"toolCallId": "call_0", "name": "x", "result": "other"},
        {"toolCallId": "call_1", "name": "check_availability", "result": slots.to_string()},
    ]));
    assert_eq!(result.answer, Some(slots));
    assert_eq!(result.error, None);
    let error = vapi(json!([{"toolCallId": "call_1", "error": "No calendar."}]));
    assert_eq!(error, ToolAnswer::failed("No calendar."));
    assert!(
        vapi(json!([{"toolCallId": "call_2", "result": "x"}]))
            .error
            .is_some()
    );
    assert!(vapi::tool_answer(b"<html>", "call_1").error.is_some());
}

/// One request the backend got.
#[derive(Clone, Debug)]
struct Hit {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

/// A leadline backend in miniature: acknowledges webhooks and answers the
/// functions, offering 3 PM, which is "gone" when booked, then 4 PM.
async fn backend(
    State(hits): State<Arc<Mutex<Vec<Hit>>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    hits.lock().unwrap().push(Hit {
        path: uri.path().to_owned(),
        headers,
        body,
    });
    if uri.path().ends_with("/tools") {
        let args = &json["args"];
        return axum::Json(function(json["name"].as_str().unwrap(), args)).into_response();
    }
    let message = &json["message"];
    if message["type"] != "tool-calls" {
        return StatusCode::NO_CONTENT.into_response();
    }
    let item = &message["toolCallList"][0];
    let name = item["function"]["name"].as_str().unwrap();
    let args = match &item["function"]["arguments"] {
        Value::String(text) => serde_json::from_str(text).unwrap(),
        object => object.clone(),
    };
    let answer = function(name, &args);
    let mut result = json!({"toolCallId": item["id"], "name": name});
    match answer.get("error") {
        Some(error) => result["error"] = error.clone(),
        None => result["result"] = json!(answer.to_string()),
    }
    axum::Json(json!({ "results": [result] })).into_response()
}

fn function(name: &str, args: &Value) -> Value {
    match name {
        "get_business_hours" => json!({"say": "We're open nine to five."}),
        "check_availability" => json!({
            "say": "I have Tuesday at 3:00 PM or 3:30 PM.",
            "slots": [{"start": "2026-11-24T20:00:00Z", "spoken": "Tuesday, November 24 at 3:00 PM"},
                      {"start": "2026-11-24T20:30:00Z", "spoken": "Tuesday, November 24 at 3:30 PM"}],
        }),
        "book_appointment" if args["start"] == "2026-11-24T20:00:00Z" => json!({
            "say": "That time was just taken. I can do 4:00 PM.",
            "booked": false,
            "alternatives": [{"start": "2026-11-24T21:00:00Z", "spoken": "Tuesday, November 24 at 4:00 PM"}],
        }),
        "book_appointment" => json!({
            "say": "You're booked.", "booked": true, "appointment": {"start": args["start"]},
        }),
        _ => json!({"error": "I can't do that."}),
    }
}

struct Backend {
    url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Backend {
    async fn start() -> Backend {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new().fallback(backend).with_state(hits.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Backend { url, hits, server }
    }

    fn tool_hits(&self) -> Vec<Hit> {
        let hits = self.hits.lock().unwrap();
        hits.iter()
            .filter(|hit| {
                hit.path.ends_with("/tools")
                    || serde_json::from_slice::<Value>(&hit.body).unwrap()["message"]["type"]
                        == "tool-calls"
            })
            .cloned()
            .collect()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn start_sim(backend: &Backend) -> SimHandle {
    Sim::start(SimConfig {
        retell_api_key: RETELL_KEY.into(),
        vapi_api_key: VAPI_KEY.into(),
        vapi_webhook_secret: VAPI_SECRET.into(),
        retell_webhook_url: Some(format!("{}/webhooks/retell", backend.url)),
        vapi_webhook_url: Some(format!("{}/webhooks/vapi", backend.url)),
        time_scale: 0.001,
        default_script: DefaultScript::Always(Script::typical(Outcome::NoAnswer)),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn booking_script() -> Script {
    Script::typical(Outcome::AppointmentSet)
        .tool(ToolStep::new("get_business_hours", Map::new()))
        .tool(ToolStep::new("transfer_call", Map::new()))
        .booking(ScriptedBooking::new("cleaning"))
}

/// Places a call and waits for its analysis and `count` tool calls.
async fn place_call(
    sim: &SimHandle,
    path: &str,
    key: &str,
    body: &Value,
    to: &str,
    count: usize,
) -> Vec<ToolCallRecord> {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let response = client
        .post(format!("{}{path}", sim.url()))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let calls = sim.control().calls(&Filter::to(to));
        let tool_calls = sim.control().tool_calls(&Filter::to(to));
        let analyzed = calls.first().and_then(|c| c.phase) == Some(crate::CallPhase::Analyzed);
        if analyzed && tool_calls.len() >= count {
            return tool_calls;
        }
        assert!(
            Instant::now() < deadline,
            "{} tool calls: {tool_calls:?}",
            tool_calls.len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The function and the start it booked, of each tool call.
fn steps(records: &[ToolCallRecord]) -> Vec<(String, Option<String>)> {
    records
        .iter()
        .map(|r| {
            let start = r
                .args
                .get("start")
                .and_then(Value::as_str)
                .map(str::to_owned);
            (r.name.clone(), start)
        })
        .collect()
}

fn expected_steps() -> Vec<(String, Option<String>)> {
    [
        ("get_business_hours", None),
        ("transfer_call", None),
        ("check_availability", None),
        ("book_appointment", Some("2026-11-24T20:00:00Z")),
        ("book_appointment", Some("2026-11-24T21:00:00Z")),
    ]
    .into_iter()
    .map(|(name, start)| (name.to_owned(), start.map(str::to_owned)))
    .collect()
}

#[tokio::test]
async fn a_retell_agent_books_through_the_signed_custom_functions() {
    let backend = Backend::start().await;
    let sim = start_sim(&backend).await;
    let to = "+14155550183";
    sim.control().set_script(to, booking_script()).unwrap();
    let records = place_call(
        &sim,
        "/v2/create-phone-call",
        RETELL_KEY,
        &retell_body(to),
        to,
        5,
    )
    .await;

    assert_eq!(steps(&records), expected_steps());
    assert_eq!(
        records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    let tools_url = format!("{}/webhooks/retell/tools", backend.url);
    for record in &records {
        assert_eq!(record.provider, Provider::Retell);
        assert_eq!(record.to, to);
        assert_eq!(record.url.as_deref(), Some(tools_url.as_str()));
        assert_eq!(record.status, Some(200));
        assert_eq!(record.tool_call_id, None);
    }
    assert_eq!(records[1].error.as_deref(), Some("I can't do that."));
    assert_eq!(
        records[2].answer.as_ref().unwrap()["slots"][1]["start"],
        "2026-11-24T20:30:00Z"
    );
    assert_eq!(records[3].answer.as_ref().unwrap()["booked"], false);
    assert_eq!(records[4].answer.as_ref().unwrap()["booked"], true);
    assert_eq!(
        records[4].args,
        arguments([
            ("service", "cleaning"),
            ("start", "2026-11-24T21:00:00Z"),
            ("name", "Sam Lee"),
            ("email", "sam.lee@example.com"),
            ("phone", to),
        ])
    );

    let hits = backend.tool_hits();
    assert_eq!(hits.len(), 5);
    for hit in &hits {
        let header = hit.headers["x-retell-signature"].to_str().unwrap();
        let (timestamp, digest) = header
            .strip_prefix("v=")
            .and_then(|rest| rest.split_once(",d="))
            .unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(RETELL_KEY.as_bytes()).unwrap();
        mac.update(&hit.body);
        mac.update(timestamp.as_bytes());
        assert_eq!(HEXLOWER.encode(&mac.finalize().into_bytes()), digest);
        let body: Value = serde_json::from_slice(&hit.body).unwrap();
        assert_eq!(body["call"]["to_number"], to);
        assert_eq!(body["call"]["metadata"], metadata());
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let webhooks = || {
        let hits = backend.hits.lock().unwrap();
        hits.iter()
            .filter(|hit| hit.path == "/webhooks/retell")
            .count()
    };
    while webhooks() < 3 {
        assert!(
            Instant::now() < deadline,
            "call_started, call_ended, call_analyzed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_vapi_agent_books_through_tool_calls_to_the_calls_server() {
    let backend = Backend::start().await;
    let sim = start_sim(&backend).await;
    let to = "+14155550184";
    sim.control().set_script(to, booking_script()).unwrap();
    let mut body = vapi_body(to);
    body["assistantOverrides"]["server"] =
        json!({"url": format!("{}/own-server", backend.url), "secret": "own-secret"});
    let records = place_call(&sim, "/call", VAPI_KEY, &body, to, 5).await;

    assert_eq!(steps(&records), expected_steps());
    let own_server = format!("{}/own-server", backend.url);
    for record in &records {
        assert_eq!(record.provider, Provider::Vapi);
        assert_eq!(record.url.as_deref(), Some(own_server.as_str()));
        assert!(
            record
                .tool_call_id
                .as_deref()
                .is_some_and(|id| id.starts_with("call_"))
        );
    }
    assert_eq!(records[1].error.as_deref(), Some("I can't do that."));
    assert_eq!(records[1].answer, None);
    assert_eq!(
        records[2].answer.as_ref().unwrap()["slots"][0]["start"],
        "2026-11-24T20:00:00Z"
    );
    assert_eq!(records[4].answer.as_ref().unwrap()["booked"], true);

    let hits = backend.tool_hits();
    let encodings: Vec<bool> = hits
        .iter()
        .map(|hit| {
            let body: Value = serde_json::from_slice(&hit.body).unwrap();
            assert_eq!(hit.headers["x-vapi-secret"], "own-secret");
            assert_eq!(
                body["message"]["call"]["assistantOverrides"]["metadata"],
                metadata()
            );
            body["message"]["toolCallList"][0]["function"]["arguments"].is_string()
        })
        .collect();
    assert_eq!(encodings, [false, true, false, true, false]);
}

#[tokio::test]
async fn without_a_url_the_tool_call_fails_and_the_call_goes_on() {
    let backend = Backend::start().await;
    let sim = start_sim(&backend).await;
    sim.control().set_webhook_url(Provider::Retell, None);
    let to = "+14155550185";
    let script = Script::typical(Outcome::AppointmentSet).booking(ScriptedBooking::new("cleaning"));
    sim.control().set_script(to, script).unwrap();
    let records = place_call(
        &sim,
        "/v2/create-phone-call",
        RETELL_KEY,
        &retell_body(to),
        to,
        1,
    )
    .await;
    assert_eq!(records.len(), 1, "no slots, no booking");
    assert_eq!(records[0].url, None);
    assert_eq!(
        records[0].error.as_deref(),
        Some("no URL to send tool calls to")
    );

    sim.control()
        .set_retell_tools_url(Some(format!("{}/functions/tools", backend.url)));
    assert_eq!(
        sim.control().retell_tools_url(),
        Some(format!("{}/functions/tools", backend.url))
    );
    sim.control().reset();
    assert!(sim.control().tool_calls(&Filter::default()).is_empty());
}
