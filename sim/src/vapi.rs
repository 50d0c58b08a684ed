//! The simulated Vapi: `POST /call`, `GET /call/{id}`, and the
//! `status-update` / `end-of-call-report` / `tool-calls` server messages,
//! authenticated with `x-vapi-secret` (contract §2).

use axum::http::StatusCode;
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::api::{ErrorMessage, ProviderApi, Rejection};
use crate::call::{CallDetails, CallFacts, CallPhase, Milestone, PlacedCall, ProviderEvent};
use crate::config::SimConfig;
use crate::conversation::{self, iso_millis};
use crate::deliver::WebhookTarget;
use crate::ids::{is_e164, tool_call_id, uuid_v4};
use crate::provider::Provider;
use crate::records::RejectionClass;
use crate::script::{HungUp, Outcome};
use crate::tools::{ToolAnswer, ToolCall};

/// The simulated organisation.
pub const ORG_ID: &str = "6b1d2c3e-8f4a-4b5c-9d6e-0f1a2b3c4d5e";
/// The id of the structured output that carries the call's outcome.
pub const OUTCOME_STRUCTURED_OUTPUT_ID: &str = "5c7f1e2a-3b4d-4e6f-8a9b-0c1d2e3f4a5b";

/// How long Vapi waits for a server-message answer (real seconds); no retries.
pub(crate) const WEBHOOK_TIMEOUT_SECONDS: f64 = 20.0;

/// Cost of a connected minute, in US dollars.
const USD_PER_MINUTE: f64 = 0.11;

/// `CreateCallDTO`'s properties: any other is refused ("should not exist").
const CREATE_CALL_PROPERTIES: [&str; 18] = [
    "assistantId",
    "assistant",
    "assistantVersion",
    "assistantOverrides",
    "squadId",
    "squad",
    "squadOverrides",
    "workflowId",
    "workflow",
    "workflowOverrides",
    "phoneNumberId",
    "phoneNumber",
    "customer",
    "customerId",
    "customers",
    "schedulePlan",
    "name",
    "transport",
];

const E164_MESSAGE: &str = "customer.number must be a valid phone number in the E.164 format";

/// Keys of the `Call` object copied from the request.
const ECHOED_PROPERTIES: [&str; 10] = [
    "assistantId",
    "assistant",
    "assistantOverrides",
    "squadId",
    "workflowId",
    "phoneNumberId",
    "phoneNumber",
    "customer",
    "name",
    "schedulePlan",
];

/// What a `POST /call` asked for, or an inbound call's `assistant-request`
/// answer set up.
#[derive(Debug)]
pub(crate) struct CallRequest {
    body: Map<String, Value>,
    /// `server` of the assistant overrides or the transient assistant, which
    /// takes precedence over the account's webhook URL.
    pub server: Option<WebhookTarget>,
    /// The call came in (`inboundPhoneCall`).
    inbound: bool,
}

impl CallRequest {
    /// An inbound call, its `Call` fields (assistant, overrides, phone number,
    /// customer) in `body`.
    pub(crate) fn inbound(body: Map<String, Value>) -> Self {
        CallRequest {
            server: server_target(&body),
            body,
            inbound: true,
        }
    }

    fn variable_values(&self) -> Option<&Map<String, Value>> {
        self.body
            .get("assistantOverrides")?
            .get("variableValues")?
            .as_object()
    }
}

pub(crate) struct Vapi;

impl ProviderApi for Vapi {
    const PROVIDER: Provider = Provider::Vapi;

    fn api_key(config: &SimConfig) -> &str {
        &config.vapi_api_key
    }

    fn new_call_id() -> String {
        uuid_v4()
    }

    fn destination(body: &Value) -> Option<&str> {
        body.get("customer")?.get("number")?.as_str()
    }

    fn parse(body: &Value) -> Result<(String, CallDetails), Rejection> {
        let one = |message: &str| Rejection::bad_request(ErrorMessage::One(message.to_owned()));
        let Some(fields) = body.as_object() else {
            return Err(Rejection::bad_request(ErrorMessage::Many(vec![
                "request body must be an object".into(),
            ])));
        };
        let errors = validation_errors(fields);
        if !errors.is_empty() {
            return Err(Rejection::bad_request(ErrorMessage::Many(errors)));
        }
        let has = |key: &str| fields.get(key).is_some_and(|v| !v.is_null());
        if ![
            "assistant",
            "assistantId",
            "squad",
            "squadId",
            "workflow",
            "workflowId",
        ]
        .iter()
        .any(|key| has(key))
        {
            return Err(one(
                "Couldn't Get Assistant. Need Either `assistant`, `assistantId`, `squad`, \
                 `squadId`, `workflow`, or `workflowId`.",
            ));
        }
        if !has("phoneNumberId") && !has("phoneNumber") {
            return Err(one("Need Either `phoneNumberId` Or `phoneNumber`."));
        }
        if has("customers") {
            return Err(one(
                "leadline-sim does not simulate batch calls (`customers`): send one `customer`.",
            ));
        }
        let Some(number) = Vapi::destination(body) else {
            return Err(if has("customerId") {
                one("leadline-sim knows no saved customers: send `customer` with its `number`.")
            } else {
                Rejection::bad_request(ErrorMessage::Many(vec![E164_MESSAGE.into()]))
            });
        };
        let request = CallRequest {
            body: fields.clone(),
            server: server_target(fields),
            inbound: false,
        };
        Ok((number.to_owned(), CallDetails::Vapi(request)))
    }

    fn unauthorized() -> Rejection {
        Rejection::new(
            StatusCode::UNAUTHORIZED,
            RejectionClass::Unauthorized,
            ErrorMessage::One(
                "Invalid Key. Hot tip, you may be using the private key instead of the public \
                 key, or vice versa."
                    .into(),
            ),
        )
    }

    fn malformed(error: &serde_json::Error) -> Rejection {
        Rejection::bad_request(ErrorMessage::One(format!("Unexpected JSON: {error}")))
    }

    fn invalid_number(number: &str) -> Rejection {
        Rejection::new(
            StatusCode::BAD_REQUEST,
            RejectionClass::InvalidNumber,
            ErrorMessage::Many(vec![format!(
                "customer.number is not a valid phone number ({number})"
            )]),
        )
    }

    fn over_concurrency(_limit: usize) -> Rejection {
        Rejection::new(
            StatusCode::TOO_MANY_REQUESTS,
            RejectionClass::ConcurrencyLimit,
            ErrorMessage::One("Over Concurrency Limit.".into()),
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
            StatusCode::TOO_MANY_REQUESTS => "Over Concurrency Limit.".into(),
            other => other.canonical_reason().unwrap_or("Error").to_owned(),
        })
    }

    fn error_body(rejection: &Rejection) -> Value {
        json!({
            "message": rejection.message,
            "error": rejection.status.canonical_reason().unwrap_or("Error"),
            "statusCode": rejection.status.as_u16(),
        })
    }
}

/// The class-validator checks, all reported at once like NestJS does.
fn validation_errors(fields: &Map<String, Value>) -> Vec<String> {
    let mut errors: Vec<String> = fields
        .keys()
        .filter(|key| !CREATE_CALL_PROPERTIES.contains(&key.as_str()))
        .map(|key| format!("property {key} should not exist"))
        .collect();
    let present = |key: &str| fields.get(key).filter(|v| !v.is_null());
    for key in [
        "assistantId",
        "squadId",
        "workflowId",
        "phoneNumberId",
        "customerId",
        "name",
    ] {
        if present(key).is_some_and(|v| !v.is_string()) {
            errors.push(format!("{key} must be a string"));
        }
    }
    for key in [
        "assistant",
        "assistantOverrides",
        "squad",
        "workflow",
        "phoneNumber",
        "customer",
        "schedulePlan",
    ] {
        if present(key).is_some_and(|v| !v.is_object()) {
            errors.push(format!("{key} must be an object"));
        }
    }
    if let Some(overrides) = present("assistantOverrides").and_then(Value::as_object) {
        for key in ["metadata", "variableValues"] {
            if overrides
                .get(key)
                .is_some_and(|v| !v.is_null() && !v.is_object())
            {
                errors.push(format!("assistantOverrides.{key} must be an object"));
            }
        }
    }
    if let Some(customer) = present("customer").and_then(Value::as_object) {
        let check = customer.get("numberE164CheckEnabled") != Some(&Value::Bool(false));
        match customer.get("number") {
            Some(Value::String(number)) if !check || is_e164(number) => {}
            _ => errors.push(E164_MESSAGE.into()),
        }
    }
    errors
}

/// `assistantOverrides.server` or `assistant.server` (or the legacy
/// `serverUrl` / `serverUrlSecret`), in that order.
fn server_target(fields: &Map<String, Value>) -> Option<WebhookTarget> {
    ["assistantOverrides", "assistant"].iter().find_map(|key| {
        let owner = fields.get(*key)?;
        let (url, secret) = match owner.get("server") {
            Some(server) => (server.get("url"), server.get("secret")),
            None => (owner.get("serverUrl"), owner.get("serverUrlSecret")),
        };
        Some(WebhookTarget {
            url: url?.as_str()?.to_owned(),
            secret: secret.and_then(Value::as_str).map(str::to_owned),
        })
    })
}

/// Vapi's `endedReason` for how the call went.
pub(crate) fn ended_reason(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::NoAnswer => "customer-did-not-answer",
        Outcome::Busy => "customer-busy",
        Outcome::Voicemail => "voicemail",
        Outcome::Failed => "pipeline-error-openai-llm-failed",
        Outcome::InvalidNumber => "call.start.error-get-customer",
        reached => match reached.hung_up_by() {
            HungUp::Agent => "assistant-ended-call",
            HungUp::Lead => "customer-ended-call",
        },
    }
}

/// The server message Vapi sends at `milestone`.
pub(crate) fn event(
    call: &PlacedCall,
    request: &CallRequest,
    milestone: Milestone,
    facts: &CallFacts,
) -> Option<ProviderEvent> {
    let status = match milestone {
        Milestone::Ringing => "ringing",
        Milestone::Connected => "in-progress",
        Milestone::Ended => "ended",
        Milestone::Analyzed => return Some(end_of_call_report(call, request, facts)),
    };
    let mut message = json!({
        "type": "status-update",
        "status": status,
        "call": call_object(call, request, facts, status),
        "customer": request.body.get("customer"),
        "timestamp": Timestamp::now().as_millisecond(),
    });
    if milestone == Milestone::Ended {
        message["endedReason"] = json!(ended_reason(call.script.outcome));
    }
    Some(ProviderEvent {
        name: format!("status-update:{status}"),
        body: json!({ "message": message }),
    })
}

/// A `tool-calls` server message asking for one function call, with the
/// arguments as an object, or `as_text`, as JSON in a string.
pub(crate) fn tool_call(
    call: &PlacedCall,
    request: &CallRequest,
    facts: &CallFacts,
    name: &str,
    args: &Map<String, Value>,
    as_text: bool,
) -> ToolCall {
    let id = tool_call_id();
    let arguments = Value::Object(args.clone());
    let arguments = if as_text {
        Value::String(arguments.to_string())
    } else {
        arguments
    };
    let item = json!({
        "id": id,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    });
    let message = json!({
        "type": "tool-calls",
        "timestamp": Timestamp::now().as_millisecond(),
        "toolCallList": [item],
        "toolWithToolCallList": [{"type": "function", "function": {"name": name}, "toolCall": item}],
        "call": call_json(call, request, facts),
        "customer": request.body.get("customer"),
    });
    ToolCall {
        body: json!({ "message": message }),
        tool_call_id: Some(id),
    }
}

/// What the function of tool call `id` returned, from the server's
/// `{"results": [{"toolCallId", "name", "result"}]}` (or `"error"` instead
/// of `"result"`).
pub(crate) fn tool_answer(body: &[u8], id: &str) -> ToolAnswer {
    let body: Value = match serde_json::from_slice(body) {
        Ok(body) => body,
        Err(e) => return ToolAnswer::failed(format!("the answer is not JSON: {e}")),
    };
    let result = body["results"]
        .as_array()
        .and_then(|results| results.iter().find(|r| r["toolCallId"] == id));
    let Some(result) = result else {
        return ToolAnswer::failed(format!("no result for tool call {id}"));
    };
    match (&result["result"], &result["error"]) {
        (_, Value::String(error)) => ToolAnswer::failed(error.clone()),
        (Value::String(text), _) => ToolAnswer::returned(text),
        (Value::Null, _) => ToolAnswer::failed(format!("no result for tool call {id}")),
        (other, _) => ToolAnswer::of(other.clone()),
    }
}

fn end_of_call_report(
    call: &PlacedCall,
    request: &CallRequest,
    facts: &CallFacts,
) -> ProviderEvent {
    let outcome = call.script.outcome;
    let ended = facts.ended_at.unwrap_or_else(Timestamp::now);
    let started = facts.connected_at.unwrap_or(call.created_at);
    let duration_ms = facts.duration_ms();
    let message = json!({
        "type": "end-of-call-report",
        "endedReason": ended_reason(outcome),
        "call": call_object(call, request, facts, "ended"),
        "customer": request.body.get("customer"),
        "artifact": artifact(call, request, facts, true),
        "analysis": analysis(call, facts),
        "cost": cost_usd(duration_ms),
        "durationMs": duration_ms,
        "durationSeconds": duration_ms as f64 / 1000.0,
        "startedAt": iso_millis(started),
        "endedAt": iso_millis(ended),
        "timestamp": Timestamp::now().as_millisecond(),
    });
    ProviderEvent {
        name: "end-of-call-report".into(),
        body: json!({ "message": message }),
    }
}

/// What a call left behind: its transcript and recording, and once it is
/// analysed the structured outputs.
fn artifact(call: &PlacedCall, request: &CallRequest, facts: &CallFacts, analyzed: bool) -> Value {
    let lines = conversation::lines(&call.script, request.variable_values());
    let mut artifact = json!({
        "transcript": conversation::transcript(&lines, "AI", "User"),
        "messages": [],
    });
    if call.script.outcome.connects() {
        artifact["recordingUrl"] = json!(format!(
            "https://recordings.sim.invalid/vapi/{}.wav",
            call.id
        ));
    }
    if analyzed {
        let structured = call.analysis_data(facts);
        artifact["structuredOutputs"] = if structured.as_object().is_some_and(|o| !o.is_empty()) {
            json!({ OUTCOME_STRUCTURED_OUTPUT_ID: {"name": "outcome", "result": structured} })
        } else {
            json!({})
        };
    }
    artifact
}

fn analysis(call: &PlacedCall, facts: &CallFacts) -> Value {
    let outcome = call.script.outcome;
    json!({
        "summary": conversation::summary(outcome),
        "structuredData": call.analysis_data(facts),
        "successEvaluation": conversation::successful(outcome).to_string(),
    })
}

/// The `Call` as it stands: once over, with its artifact, and once analysed,
/// with its analysis.
pub(crate) fn call_json(call: &PlacedCall, request: &CallRequest, facts: &CallFacts) -> Value {
    let status = match facts.phase {
        CallPhase::Dialing => "queued",
        CallPhase::Ringing => "ringing",
        CallPhase::InProgress => "in-progress",
        CallPhase::Ended | CallPhase::Analyzed => "ended",
    };
    let mut object = call_object(call, request, facts, status);
    if status == "ended" {
        let analyzed = facts.phase == CallPhase::Analyzed;
        object["artifact"] = artifact(call, request, facts, analyzed);
        if analyzed {
            object["analysis"] = analysis(call, facts);
        }
    }
    object
}

fn call_object(call: &PlacedCall, request: &CallRequest, facts: &CallFacts, status: &str) -> Value {
    let mut object = Map::new();
    object.insert("id".into(), json!(call.id));
    object.insert("orgId".into(), json!(ORG_ID));
    let kind = if request.inbound {
        "inboundPhoneCall"
    } else {
        "outboundPhoneCall"
    };
    object.insert("type".into(), json!(kind));
    object.insert("status".into(), json!(status));
    for key in ECHOED_PROPERTIES {
        if let Some(value) = request.body.get(key) {
            object.insert(key.into(), value.clone());
        }
    }
    object.insert("phoneCallProvider".into(), json!("twilio"));
    object.insert("phoneCallTransport".into(), json!("pstn"));
    object.insert("createdAt".into(), json!(iso_millis(call.created_at)));
    object.insert("updatedAt".into(), json!(iso_millis(Timestamp::now())));
    if let Some(started) = facts.connected_at {
        object.insert("startedAt".into(), json!(iso_millis(started)));
    }
    if let Some(ended) = facts.ended_at.filter(|_| status == "ended") {
        object.insert("endedAt".into(), json!(iso_millis(ended)));
        object.insert(
            "endedReason".into(),
            json!(ended_reason(call.script.outcome)),
        );
        object.insert("cost".into(), json!(cost_usd(facts.duration_ms())));
    }
    Value::Object(object)
}

fn cost_usd(duration_ms: i64) -> f64 {
    (duration_ms as f64 / 60_000.0 * USD_PER_MINUTE * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::Script;

    fn messages(body: Value) -> Value {
        let rejection = Vapi::parse(&body).unwrap_err();
        Vapi::error_body(&rejection)
    }

    fn valid() -> Value {
        json!({
            "assistantId": "a1b2", "phoneNumberId": "p1",
            "customer": {"number": "+14155550199"},
            "assistantOverrides": {"metadata": {"leadline_lead": "ld_1"}, "variableValues": {"first_name": "Ada"}}
        })
    }

    #[test]
    fn a_valid_call_names_its_customer() {
        let (to, _) = Vapi::parse(&valid()).unwrap();
        assert_eq!(to, "+14155550199");
    }

    #[test]
    fn top_level_metadata_is_refused_the_nestjs_way() {
        let mut body = valid();
        body["metadata"] = json!({"leadline_lead": "ld_1"});
        assert_eq!(
            messages(body),
            json!({"message": ["property metadata should not exist"], "error": "Bad Request", "statusCode": 400})
        );
    }

    #[test]
    fn the_customer_number_must_be_e164() {
        let mut body = valid();
        body["customer"]["number"] = json!("415 555 0199");
        assert_eq!(messages(body)["message"], json!([E164_MESSAGE]));
        let mut body = valid();
        body["customer"] = json!({});
        assert_eq!(messages(body)["message"], json!([E164_MESSAGE]));
    }

    #[test]
    fn an_assistant_and_a_phone_number_are_required() {
        let mut body = valid();
        body.as_object_mut().unwrap().remove("assistantId");
        assert!(
            messages(body)["message"]
                .as_str()
                .unwrap()
                .contains("assistantId")
        );
        let mut body = valid();
        body.as_object_mut().unwrap().remove("phoneNumberId");
        assert!(
            messages(body)["message"]
                .as_str()
                .unwrap()
                .contains("phoneNumberId")
        );
    }

    #[test]
    fn get_call_shows_the_artifact_once_over_and_the_analysis_once_analysed() {
        let (to, details) = Vapi::parse(&valid()).unwrap();
        let call = PlacedCall {
            provider: Provider::Vapi,
            id: "c1".into(),
            to,
            script: Script::typical(Outcome::Qualified),
            created_at: Timestamp::now(),
            details,
        };
        let mut facts = CallFacts::DIALING;
        assert_eq!(call.to_json(&facts)["status"], "queued");
        let now = Timestamp::now();
        for (milestone, status, over, analysed) in [
            (Milestone::Ringing, "ringing", false, false),
            (Milestone::Connected, "in-progress", false, false),
            (Milestone::Ended, "ended", true, false),
            (Milestone::Analyzed, "ended", true, true),
        ] {
            facts.advance(&call, milestone, now, now);
            let json = call.to_json(&facts);
            assert_eq!(json["status"], status);
            assert_eq!(json["assistantOverrides"], valid()["assistantOverrides"]);
            assert_eq!(json.get("endedReason").is_some(), over, "{status}");
            assert_eq!(json.get("artifact").is_some(), over, "{status}");
            assert_eq!(json.get("analysis").is_some(), analysed, "{status}");
            assert_eq!(
                json["artifact"].get("structuredOutputs").is_some(),
                analysed,
                "{status}"
            );
        }
    }

    #[test]
    fn the_assistants_server_url_wins() {
        let mut body = valid();
        body["assistantOverrides"]["server"] = json!({"url": "http://x/hook", "secret": "s"});
        let (_, CallDetails::Vapi(request)) = Vapi::parse(&body).unwrap() else {
            panic!("a Vapi call")
        };
        assert_eq!(
            request.server,
            Some(WebhookTarget {
                url: "http://x/hook".into(),
                secret: Some("s".into())
            })
        );
    }
}
