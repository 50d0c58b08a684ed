//! The simulated Retell: `POST /v2/create-phone-call`, `GET /v2/get-call/{id}`,
//! the `call_started` / `call_ended` / `call_analyzed` webhooks, and the
//! agent's custom-function calls, signed with `x-retell-signature` (contract §1).

use axum::http::StatusCode;
use data_encoding::HEXLOWER;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;

use crate::api::{ErrorMessage, ProviderApi, Rejection};
use crate::call::{CallDetails, CallFacts, Milestone, PlacedCall, ProviderEvent};
use crate::config::SimConfig;
use crate::conversation::{self, Speaker};
use crate::ids::{is_e164, retell_call_id};
use crate::provider::Provider;
use crate::records::RejectionClass;
use crate::script::{HungUp, Outcome};
use crate::tools::{ToolAnswer, ToolCall};

/// The agent of the from-number, when the request does not override it.
pub const DEFAULT_AGENT_ID: &str = "agent_4f1c9e2b7a6d45e0b3c8d1a9f2e7c6b5";

/// How long Retell waits for a webhook answer before retrying (real seconds).
pub(crate) const WEBHOOK_TIMEOUT_SECONDS: f64 = 10.0;
/// How many times Retell retries a webhook nobody acknowledged.
pub(crate) const WEBHOOK_RETRIES: u32 = 3;

/// Cost of a connected minute, in cents.
const CENTS_PER_MINUTE: f64 = 7.0;

/// The `x-retell-signature` value for `body` sent at `timestamp_ms`:
/// `v=<ms>,d=<hex HMAC-SHA256(api key, body || decimal ms)>`.
pub fn signature_header(body: &[u8], api_key: &str, timestamp_ms: u64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(api_key.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(body);
    mac.update(timestamp_ms.to_string().as_bytes());
    let digest = HEXLOWER.encode(&mac.finalize().into_bytes());
    format!("v={timestamp_ms},d={digest}")
}

/// What a create-phone-call request asked for, or an inbound call's
/// webhook answer set up.
#[derive(Debug)]
pub(crate) struct CallRequest {
    /// Our number: the caller of a placed call, the one dialled of an inbound one.
    from_number: String,
    agent_id: String,
    agent_version: Value,
    metadata: Option<Value>,
    dynamic_variables: Option<Map<String, Value>>,
    /// The call came in: the lead (the call's `to`) called `from_number`.
    inbound: bool,
}

impl CallRequest {
    /// An inbound call to `number`, answered by `agent_id`.
    pub(crate) fn inbound(
        number: String,
        agent_id: String,
        metadata: Option<Value>,
        dynamic_variables: Option<Map<String, Value>>,
    ) -> Self {
        CallRequest {
            from_number: number,
            agent_id,
            agent_version: json!(1),
            metadata,
            dynamic_variables,
            inbound: true,
        }
    }
}

pub(crate) struct Retell;

impl ProviderApi for Retell {
    const PROVIDER: Provider = Provider::Retell;

    fn api_key(config: &SimConfig) -> &str {
        &config.retell_api_key
    }

    fn new_call_id() -> String {
        retell_call_id()
    }

    fn destination(body: &Value) -> Option<&str> {
        body.get("to_number")?.as_str()
    }

    fn parse(body: &Value) -> Result<(String, CallDetails), Rejection> {
        let bad = |message: String| Rejection::bad_request(ErrorMessage::One(message));
        let Some(fields) = body.as_object() else {
            return Err(bad("Request body must be a JSON object".into()));
        };
        let skip_e164 = fields.get("ignore_e164_validation") == Some(&Value::Bool(true));
        let number = |name: &str, check_e164: bool| match fields.get(name) {
            None | Some(Value::Null) => Err(bad(format!("{name} is required"))),
            Some(Value::String(number)) if !check_e164 || is_e164(number) => Ok(number.clone()),
            Some(Value::String(number)) => Err(bad(format!(
                "{name} must be a valid E.164 phone number, got {number:?}"
            ))),
            Some(_) => Err(bad(format!("{name} must be a string"))),
        };
        let from_number = number("from_number", true)?;
        let to_number = number("to_number", !skip_e164)?;
        let agent_id = match fields.get("override_agent_id") {
            None | Some(Value::Null) => DEFAULT_AGENT_ID.to_owned(),
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            Some(_) => return Err(bad("override_agent_id must be a non-empty string".into())),
        };
        let agent_version = match fields.get("override_agent_version") {
            None | Some(Value::Null) => json!(1),
            Some(version @ (Value::Number(_) | Value::String(_))) => version.clone(),
            Some(_) => {
                return Err(bad(
                    "override_agent_version must be a number or a string".into()
                ));
            }
        };
        let dynamic_variables = match fields.get("retell_llm_dynamic_variables") {
            None | Some(Value::Null) => None,
            Some(Value::Object(variables)) => {
                if let Some((key, _)) = variables.iter().find(|(_, value)| !value.is_string()) {
                    return Err(bad(format!(
                        "retell_llm_dynamic_variables values must be strings: {key:?} is not"
                    )));
                }
                Some(variables.clone())
            }
            Some(_) => {
                return Err(bad(
                    "retell_llm_dynamic_variables must be an object of string values".into(),
                ));
            }
        };
        let metadata = fields.get("metadata").filter(|m| !m.is_null()).cloned();
        let request = CallRequest {
            from_number,
            agent_id,
            agent_version,
            metadata,
            dynamic_variables,
            inbound: false,
        };
        Ok((to_number, CallDetails::Retell(request)))
    }

    fn unauthorized() -> Rejection {
        Rejection::new(
            StatusCode::UNAUTHORIZED,
            RejectionClass::Unauthorized,
            ErrorMessage::One("Unauthorized: the API key is missing or invalid".into()),
        )
    }

    fn malformed(error: &serde_json::Error) -> Rejection {
        Rejection::bad_request(ErrorMessage::One(format!("Invalid JSON body: {error}")))
    }

    fn invalid_number(number: &str) -> Rejection {
        Rejection::new(
            StatusCode::BAD_REQUEST,
            RejectionClass::InvalidNumber,
            ErrorMessage::One(format!(
                "Invalid destination number {number}: the number is not a valid, callable phone number"
            )),
        )
    }

    fn over_concurrency(limit: usize) -> Rejection {
        Rejection::new(
            StatusCode::TOO_MANY_REQUESTS,
            RejectionClass::ConcurrencyLimit,
            ErrorMessage::One(format!(
                "Concurrency limit reached: {limit} calls in progress, the limit of this account. \
                 Try again when a call ends."
            )),
        )
    }

    fn not_found() -> Rejection {
        Rejection::new(
            StatusCode::NOT_FOUND,
            RejectionClass::BadRequest,
            ErrorMessage::One("Call not found".into()),
        )
    }

    fn forced_message(status: StatusCode) -> ErrorMessage {
        ErrorMessage::One(match status {
            StatusCode::TOO_MANY_REQUESTS => "Concurrency limit reached, try again later".into(),
            StatusCode::INTERNAL_SERVER_ERROR => "Internal server error".into(),
            other => other.canonical_reason().unwrap_or("Error").to_owned(),
        })
    }

    fn error_body(rejection: &Rejection) -> Value {
        json!({"status": "error", "message": rejection.message.joined()})
    }
}

/// Retell's `disconnection_reason` for how the call went.
pub(crate) fn disconnection_reason(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::NoAnswer => "dial_no_answer",
        Outcome::Busy => "dial_busy",
        Outcome::Voicemail => "voicemail_reached",
        Outcome::Failed => "dial_failed",
        Outcome::InvalidNumber => "invalid_destination",
        reached => match reached.hung_up_by() {
            HungUp::Agent => "agent_hangup",
            HungUp::Lead => "user_hangup",
        },
    }
}

/// The webhook Retell sends at `milestone`: none while ringing.
pub(crate) fn event(
    call: &PlacedCall,
    request: &CallRequest,
    milestone: Milestone,
    facts: &CallFacts,
) -> Option<ProviderEvent> {
    let (name, with_analysis) = match milestone {
        Milestone::Ringing => return None,
        Milestone::Connected => ("call_started", false),
        Milestone::Ended => ("call_ended", false),
        Milestone::Analyzed => ("call_analyzed", true),
    };
    let body = json!({"event": name, "call": call_object(call, request, facts, with_analysis)});
    Some(ProviderEvent {
        name: name.to_owned(),
        body,
    })
}

/// The `PhoneCallResponse` as it stands.
pub(crate) fn call_json(call: &PlacedCall, request: &CallRequest, facts: &CallFacts) -> Value {
    let analyzed = facts.phase == crate::call::CallPhase::Analyzed;
    call_object(call, request, facts, analyzed)
}

fn call_object(
    call: &PlacedCall,
    request: &CallRequest,
    facts: &CallFacts,
    with_analysis: bool,
) -> Value {
    let outcome = call.script.outcome;
    let status = match (facts.connected_at, facts.ended_at) {
        (_, Some(_)) if outcome.connects() => "ended",
        (_, Some(_)) => "not_connected",
        (Some(_), None) => "ongoing",
        (None, None) => "registered",
    };
    let (direction, from, to) = if request.inbound {
        ("inbound", &call.to, &request.from_number)
    } else {
        ("outbound", &request.from_number, &call.to)
    };
    let mut object = json!({
        "call_id": call.id,
        "agent_id": request.agent_id,
        "agent_version": request.agent_version,
        "call_status": status,
        "call_type": "phone_call",
        "direction": direction,
        "from_number": from,
        "to_number": to,
    });
    let fields = object.as_object_mut().expect("a JSON object literal");
    if let Some(metadata) = &request.metadata {
        fields.insert("metadata".into(), metadata.clone());
    }
    if let Some(variables) = &request.dynamic_variables {
        fields.insert(
            "retell_llm_dynamic_variables".into(),
            Value::Object(variables.clone()),
        );
    }
    if let Some(started) = facts.connected_at {
        fields.insert("start_timestamp".into(), json!(started.as_millisecond()));
    }
    let Some(ended) = facts.ended_at else {
        return object;
    };
    let lines = conversation::lines(&call.script, request.dynamic_variables.as_ref());
    let duration_ms = facts.duration_ms();
    let cost_cents = round4(duration_ms as f64 / 60_000.0 * CENTS_PER_MINUTE);
    fields.insert("end_timestamp".into(), json!(ended.as_millisecond()));
    fields.insert("duration_ms".into(), json!(duration_ms));
    fields.insert(
        "transcript".into(),
        json!(conversation::transcript(&lines, "Agent", "User")),
    );
    fields.insert("transcript_object".into(), transcript_object(&lines));
    if outcome.connects() {
        fields.insert(
            "recording_url".into(),
            json!(format!(
                "https://recordings.sim.invalid/retell/{}.wav",
                call.id
            )),
        );
    }
    fields.insert(
        "disconnection_reason".into(),
        json!(disconnection_reason(outcome)),
    );
    fields.insert(
        "call_cost".into(),
        json!({
            "product_costs": [],
            "combined_cost": cost_cents,
            "total_duration_seconds": duration_ms / 1000,
        }),
    );
    if with_analysis {
        fields.insert(
            "call_analysis".into(),
            json!({
                "call_summary": conversation::summary(outcome),
                "user_sentiment": conversation::sentiment(outcome),
                "call_successful": conversation::successful(outcome),
                "in_voicemail": outcome == Outcome::Voicemail,
                "custom_analysis_data": call.analysis_data(facts),
            }),
        );
    }
    object
}

/// A custom-function call: `{"name", "args", "call"}`, the call as the
/// webhooks show it.
pub(crate) fn tool_call(
    call: &PlacedCall,
    request: &CallRequest,
    facts: &CallFacts,
    name: &str,
    args: &Map<String, Value>,
) -> ToolCall {
    ToolCall {
        body: json!({"name": name, "args": args, "call": call_json(call, request, facts)}),
        tool_call_id: None,
    }
}

/// What a custom function returned: its whole answer.
pub(crate) fn tool_answer(body: &[u8]) -> ToolAnswer {
    ToolAnswer::returned(&String::from_utf8_lossy(body))
}

fn transcript_object(lines: &[(Speaker, String)]) -> Value {
    lines
        .iter()
        .map(|(who, text)| {
            let role = match who {
                Speaker::Agent => "agent",
                Speaker::Lead => "user",
            };
            json!({"role": role, "content": text, "words": []})
        })
        .collect()
}

fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_the_contracts_test_vector() {
        assert_eq!(
            signature_header(
                br#"{"event":"call_ended"}"#,
                "test-api-key",
                1_700_000_000_000
            ),
            "v=1700000000000,d=07024cabe7dd8f6d1c6e4a8324ca92c812e6ad4a7ee506c04f7e462e3321823e"
        );
    }

    fn parse(body: Value) -> Result<(String, CallDetails), String> {
        Retell::parse(&body).map_err(|r| r.message.joined())
    }

    #[test]
    fn create_call_needs_e164_numbers_and_string_variables() {
        let ok = json!({"from_number": "+14155550100", "to_number": "+14155550199",
                        "retell_llm_dynamic_variables": {"first_name": "Ada"},
                        "metadata": {"anything": [1, 2]}});
        assert_eq!(parse(ok).unwrap().0, "+14155550199");
        for (body, complaint) in [
            (
                json!({"to_number": "+14155550199"}),
                "from_number is required",
            ),
            (
                json!({"from_number": "+14155550100", "to_number": "4155550199"}),
                "to_number must be a valid E.164",
            ),
            (
                json!({"from_number": "+14155550100", "to_number": "+14155550199",
                       "retell_llm_dynamic_variables": {"attempt": 2}}),
                "values must be strings",
            ),
            (
                json!({"from_number": "+14155550100", "to_number": "+14155550199",
                       "retell_llm_dynamic_variables": ["a"]}),
                "must be an object",
            ),
            (
                json!({"from_number": "+14155550100", "to_number": "+14155550199",
                       "override_agent_id": 7}),
                "override_agent_id",
            ),
            (json!([1]), "JSON object"),
        ] {
            let error = parse(body.clone()).unwrap_err();
            assert!(error.contains(complaint), "{body}: {error}");
        }
    }

    #[test]
    fn reached_outcomes_say_who_hung_up() {
        assert_eq!(
            disconnection_reason(Outcome::AppointmentSet),
            "agent_hangup"
        );
        assert_eq!(disconnection_reason(Outcome::DoNotCall), "user_hangup");
        assert_eq!(disconnection_reason(Outcome::NoAnswer), "dial_no_answer");
    }
}
