//! Inbound calls: a number calls one of the backend's numbers. The provider
//! first asks the backend how to answer (Vapi: an `assistant-request` to the
//! account's server URL, waiting 7.5 s, no retry; Retell: the number's
//! inbound webhook, `call_inbound`, signed like its webhooks, waiting 10 s
//! and retrying up to 3 times), then, if the backend names an agent, the
//! call plays out the caller's script with the metadata and variables the
//! answer gave, exactly as a placed call does (webhooks, tool calls,
//! get-call).
//!
//! The simulator's numbers have no inbound agent of their own: a Retell
//! answer without `call_inbound.override_agent_id`, or a Vapi answer without
//! `assistantId` / `assistant` (an `error`, say), is a declined call.
//!
//! A call taken is recorded like a placed one (`GET /_sim/calls`), keyed by
//! the caller's number (`to` there is the person the agent talks to, as for
//! a placed call), with `body` the request sent to the backend and
//! `response` its answer.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tracing::info;

use crate::call::{CallDetails, CallFacts, PlacedCall};
use crate::conversation::iso_millis;
use crate::deliver::authenticate;
use crate::ids::{is_e164, retell_call_id, uuid_v4};
use crate::playout;
use crate::provider::Provider;
use crate::records::CallRequestRecord;
use crate::state::{ControlError, SimControl};
use crate::{retell, vapi};

/// How long Vapi waits for the answer to an `assistant-request` (real seconds).
const VAPI_ASSISTANT_REQUEST_SECONDS: f64 = 7.5;

/// A caller the simulator makes call one of the backend's numbers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundCallRequest {
    pub provider: Provider,
    /// The caller: an E.164 number, whose script the call plays, or
    /// `anonymous` for a withheld caller id (the default script).
    pub from: String,
    /// The number dialled (E.164).
    pub to: String,
}

/// What became of an inbound call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InboundCallRecord {
    pub provider: Provider,
    pub from: String,
    pub to: String,
    /// Whether the call was connected to an agent and plays out.
    pub taken: bool,
    /// The call's id, once taken (Vapi's exists from the request on).
    pub call_id: Option<String>,
    /// Why the call was not taken.
    pub declined: Option<String>,
    /// The backend's last HTTP status, when it answered.
    pub status: Option<u16>,
    /// The backend's last answer, parsed (or as text), `null` if none.
    pub answer: Value,
    /// How many times the request was sent (Retell retries).
    pub attempts: u32,
}

pub(crate) fn routes() -> Router<SimControl> {
    Router::new().route("/_sim/inbound-calls", post(post_inbound_call))
}

/// `POST /_sim/inbound-calls` `{"provider", "from", "to"}`: the caller calls;
/// answers the [`InboundCallRecord`] once the backend answered (400 for a
/// request the simulator cannot follow).
async fn post_inbound_call(State(control): State<SimControl>, body: Bytes) -> Response {
    let request = match serde_json::from_slice::<InboundCallRequest>(&body) {
        Ok(request) => request,
        Err(e) => return bad_request(format!("invalid JSON body: {e}")),
    };
    match control.place_inbound_call(request).await {
        Ok(record) => Json(record).into_response(),
        Err(e) => bad_request(e.0),
    }
}

fn bad_request(error: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": error}))).into_response()
}

/// How the provider asks the backend, and how it reads the answer.
struct Ask {
    body: Value,
    /// The call id the provider has already (Vapi).
    call_id: Option<String>,
    timeout_seconds: f64,
    retries: u32,
}

impl SimControl {
    /// `request.from` calls `request.to`: the provider asks the backend how
    /// to answer, and, if it names an agent, the call plays out. Returns once
    /// the backend answered (or the provider gave up asking).
    pub async fn place_inbound_call(
        &self,
        request: InboundCallRequest,
    ) -> Result<InboundCallRecord, ControlError> {
        let anonymous = request.from == "anonymous";
        if !anonymous && !is_e164(&request.from) {
            return Err(ControlError(format!(
                "from {:?} is not an E.164 number or \"anonymous\"",
                request.from
            )));
        }
        if !is_e164(&request.to) {
            return Err(ControlError(format!(
                "to {:?} is not an E.164 number",
                request.to
            )));
        }
        let Some(url) = self.webhook_url(request.provider) else {
            return Err(ControlError(format!(
                "no {} webhook URL to ask how to answer",
                request.provider
            )));
        };
        let ask = match request.provider {
            Provider::Retell => Ask {
                body: json!({
                    "event": "call_inbound",
                    "event_timestamp": Timestamp::now().as_millisecond(),
                    "call_inbound": {"from_number": request.from, "to_number": request.to},
                }),
                call_id: None,
                timeout_seconds: retell::WEBHOOK_TIMEOUT_SECONDS,
                retries: retell::WEBHOOK_RETRIES,
            },
            Provider::Vapi => {
                let id = uuid_v4();
                Ask {
                    body: json!({"message": {
                        "type": "assistant-request",
                        "call": {
                            "id": id, "orgId": vapi::ORG_ID, "type": "inboundPhoneCall",
                            "status": "ringing", "phoneCallProvider": "twilio",
                            "phoneCallTransport": "pstn",
                            "customer": {"number": request.from},
                            "createdAt": iso_millis(Timestamp::now()),
                        },
                        "phoneNumber": {"number": request.to},
                        "customer": {"number": request.from},
                        "timestamp": iso_millis(Timestamp::now()),
                    }}),
                    call_id: Some(id),
                    timeout_seconds: VAPI_ASSISTANT_REQUEST_SECONDS,
                    retries: 0,
                }
            }
        };
        let mut record = InboundCallRecord {
            provider: request.provider,
            from: request.from.clone(),
            to: request.to.clone(),
            taken: false,
            call_id: ask.call_id.clone(),
            declined: None,
            status: None,
            answer: Value::Null,
            attempts: 0,
        };
        let sent = serde_json::to_vec(&ask.body).unwrap_or_default();
        let mut answer = None;
        for _ in 0..=ask.retries {
            if record.attempts > 0 {
                // Retell asks again a (scripted) second later.
                tokio::time::sleep(self.config().scaled(1.0)).await;
            }
            record.attempts += 1;
            let post = self
                .http()
                .post(&url)
                .header(CONTENT_TYPE, "application/json")
                .timeout(self.config().webhook_timeout(ask.timeout_seconds))
                .body(sent.clone());
            let post = authenticate(post, self.config(), request.provider, &sent, None);
            match post.send().await {
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    record.status = Some(status.as_u16());
                    record.answer = serde_json::from_str(&text).unwrap_or(Value::String(text));
                    if status.is_success() {
                        answer = Some(record.answer.clone());
                        break;
                    }
                }
                Err(e) => {
                    record.status = None;
                    record.answer = Value::Null;
                    info!(provider = %request.provider, "the backend did not answer an inbound call: {e}");
                }
            }
        }
        let Some(answer) = answer else {
            record.declined = Some("the backend did not answer 2xx".into());
            return Ok(record);
        };
        let details = match request.provider {
            Provider::Retell => retell_details(&request, &answer),
            Provider::Vapi => vapi_details(&request, &answer),
        };
        let details = match details {
            Ok(details) => details,
            Err(why) => {
                record.declined = Some(why);
                return Ok(record);
            }
        };
        let (script, _) = self.script_for(&request.from);
        let call = Arc::new(PlacedCall {
            provider: request.provider,
            id: ask.call_id.unwrap_or_else(retell_call_id),
            to: request.from.clone(),
            script: script.clone(),
            created_at: Timestamp::now(),
            details,
        });
        let accepted = CallRequestRecord {
            seq: 0,
            provider: request.provider,
            received_at: Timestamp::now(),
            to: Some(request.from.clone()),
            status: record.status.unwrap_or(200),
            rejection: None,
            response: answer,
            call_id: Some(call.id.clone()),
            script: Some(script),
            phase: Some(CallFacts::DIALING.phase),
            body: ask.body,
            headers: BTreeMap::new(),
            accepted_ms: None,
            released_ms: None,
        };
        if let Err(limit) = self.admit(accepted, call.clone()) {
            record.declined = Some(format!("the account's {limit} concurrent calls are in use"));
            return Ok(record);
        }
        info!(provider = %call.provider, call_id = %call.id, to = %request.to, "inbound call taken");
        record.taken = true;
        record.call_id = Some(call.id.clone());
        self.spawn(playout::play_out(self.clone(), call));
        Ok(record)
    }
}

/// The Retell call the backend's answer sets up: its agent, metadata and
/// dynamic variables (strings only, as Retell requires).
fn retell_details(request: &InboundCallRequest, answer: &Value) -> Result<CallDetails, String> {
    let Some(fields) = answer.get("call_inbound").and_then(Value::as_object) else {
        return Err("the answer has no call_inbound object".into());
    };
    let Some(agent) = fields
        .get("override_agent_id")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
    else {
        return Err("no agent named: the number has no inbound agent".into());
    };
    let variables = match fields.get("dynamic_variables") {
        None | Some(Value::Null) => None,
        Some(Value::Object(variables)) if variables.values().all(Value::is_string) => {
            Some(variables.clone())
        }
        Some(_) => return Err("dynamic_variables must be an object of strings".into()),
    };
    let metadata = fields.get("metadata").filter(|m| !m.is_null()).cloned();
    Ok(CallDetails::Retell(retell::CallRequest::inbound(
        request.to.clone(),
        agent.to_owned(),
        metadata,
        variables,
    )))
}

/// The Vapi call the backend's answer sets up: the assistant and its
/// overrides, echoed on the call object as for a placed call.
fn vapi_details(request: &InboundCallRequest, answer: &Value) -> Result<CallDetails, String> {
    if let Some(error) = answer.get("error").and_then(Value::as_str) {
        return Err(format!("the backend declined: {error:?}"));
    }
    let mut body = Map::new();
    for key in ["assistantId", "assistant", "squadId", "assistantOverrides"] {
        if let Some(value) = answer.get(key).filter(|v| !v.is_null()) {
            body.insert(key.into(), value.clone());
        }
    }
    if !["assistantId", "assistant", "squadId"]
        .iter()
        .any(|key| body.contains_key(*key))
    {
        return Err("no assistant named".into());
    }
    body.insert("phoneNumber".into(), json!({"number": request.to}));
    body.insert("customer".into(), json!({"number": request.from}));
    Ok(CallDetails::Vapi(vapi::CallRequest::inbound(body)))
}
