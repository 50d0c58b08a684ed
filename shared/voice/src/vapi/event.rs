//! Vapi server messages about calls: `{"message": {"type": …, "call": {…}, …}}`.
//! Only `status-update` and `end-of-call-report` become call events. Also the
//! bare `Call` of `GET /call/{id}`, which carries the same fields as an
//! end-of-call report (`endedReason`, `artifact`, `analysis`, `cost`, times).

use leadline_core::calling::call::{CallEvent, CallPhase, CallRef, CallReport};
use leadline_core::intake::tenant::VoiceProvider;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::event::{self, ParseError, from_slice, from_value, required};
use crate::reasons::vapi_outcome;

#[derive(Deserialize)]
struct Envelope {
    message: Option<Value>,
}

/// The fields of a Vapi message leadline reads, current and legacy
/// (real deliveries still carry top-level `transcript`, `summary`,
/// `recordingUrl`). Everything is optional; what is required is checked
/// afterwards for a clear error.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    ended_reason: Option<String>,
    call: Option<Call>,
    analysis: Option<Analysis>,
    artifact: Option<Artifact>,
    summary: Option<String>,
    transcript: Option<String>,
    recording_url: Option<String>,
    #[serde(flatten)]
    timing: Timing,
    /// In US dollars.
    cost: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Call {
    id: Option<String>,
    assistant_overrides: Option<AssistantOverrides>,
    ended_reason: Option<String>,
    #[serde(flatten)]
    timing: Timing,
}

/// When a call ran, on the message or on its call object; ISO strings per
/// the schema, though numbers are tolerated.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Timing {
    started_at: Option<Value>,
    ended_at: Option<Value>,
    duration_ms: Option<Value>,
    duration_seconds: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssistantOverrides {
    metadata: Option<Value>,
    variable_values: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Analysis {
    summary: Option<String>,
    structured_data: Option<Value>,
    /// A string per the schema; a boolean in some captures.
    success_evaluation: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Artifact {
    transcript: Option<String>,
    recording_url: Option<String>,
    /// Keyed by output id: `{"<id>": {"name": …, "result": …}}`.
    structured_outputs: Option<Value>,
}

/// Reads a Vapi server message. `Ok(None)` for the messages that are not
/// about a call's progress (tool calls, transcripts, assistant requests, ...)
/// and for statuses leadline does not track: the receiver answers them 2xx
/// (or handles them itself).
pub fn parse_event(raw_body: &[u8]) -> Result<Option<CallEvent>, ParseError> {
    let envelope: Envelope = from_slice(raw_body)?;
    let message = envelope
        .message
        .filter(Value::is_object)
        .ok_or(ParseError::Missing("message"))?;
    let kind = required(text_field(&message, "type"), "message.type")?;
    let status = text_field(&message, "status");
    let Some(phase) = phase_of(&kind, status.as_deref())? else {
        return Ok(None);
    };

    let message: Message = from_value(message)?;
    let call = message
        .call
        .as_ref()
        .ok_or(ParseError::Missing("message.call"))?;
    let call_id = required(call.id.clone(), "message.call.id")?;
    let dedupe_key = format!("vapi#{call_id}#{kind}#{}", status.unwrap_or_default());
    Ok(Some(message.event(call_id, phase, dedupe_key)))
}

/// Reads the `Call` that `GET /call/{id}` answers, as an event of the phase
/// its `status` tells (as a `status-update` would), or analysed once its
/// `analysis` is in. Our metadata is read from its `assistantOverrides`.
pub fn parse_call(raw_body: &[u8]) -> Result<CallEvent, ParseError> {
    let object: Value = from_slice(raw_body)?;
    let status = required(text_field(&object, "status"), "status")?;
    let call: Call = from_value(object.clone())?;
    let call_id = required(call.id.clone(), "id")?;
    // The call object holds the report's fields itself: read it as a message
    // about itself.
    let message = Message {
        call: Some(call),
        ..from_value(object)?
    };
    let phase = match phase_of("status-update", Some(status.as_str()))? {
        Some(CallPhase::Ended) if message.analysis.as_ref().is_some_and(Analysis::is_in) => {
            CallPhase::Analyzed
        }
        Some(phase) => phase,
        None => return Err(ParseError::Json(format!("unknown status {status:?}"))),
    };
    let dedupe_key = event::lookup_key("vapi", &call_id, phase);
    Ok(message.event(call_id, phase, dedupe_key))
}

fn text_field(message: &Value, name: &str) -> Option<String> {
    message.get(name).and_then(Value::as_str).map(str::to_owned)
}

fn phase_of(kind: &str, status: Option<&str>) -> Result<Option<CallPhase>, ParseError> {
    Ok(match kind {
        "end-of-call-report" => Some(CallPhase::Analyzed),
        "status-update" => match status.ok_or(ParseError::Missing("message.status"))? {
            "scheduled" | "queued" | "ringing" => Some(CallPhase::Ringing),
            "in-progress" | "forwarding" => Some(CallPhase::Started),
            "ended" => Some(CallPhase::Ended),
            _ => None,
        },
        _ => None,
    })
}

impl Call {
    /// Our metadata, from `assistantOverrides.metadata`, else from the
    /// variable values (where a dashboard-made call may carry it).
    fn call_ref(&self) -> Option<CallRef> {
        let overrides = self.assistant_overrides.as_ref()?;
        [&overrides.metadata, &overrides.variable_values]
            .into_iter()
            .flatten()
            .find_map(CallRef::from_metadata)
    }
}

impl Analysis {
    /// Whether the post-call analysis has run.
    fn is_in(&self) -> bool {
        self.summary.is_some()
            || self.structured_data.is_some()
            || self.success_evaluation.is_some()
    }
}

impl Message {
    fn event(&self, call_id: String, phase: CallPhase, dedupe_key: String) -> CallEvent {
        let report = self.report(phase);
        CallEvent {
            provider: VoiceProvider::Vapi,
            provider_call_id: call_id,
            dedupe_key,
            call: self.call.as_ref().and_then(Call::call_ref),
            phase,
            outcome: event::outcome(phase, &report, false, vapi_outcome),
            report,
        }
    }

    fn report(&self, phase: CallPhase) -> CallReport {
        let started_at = self.timing(|t| &t.started_at).and_then(event::timestamp);
        let ended_at = self.timing(|t| &t.ended_at).and_then(event::timestamp);
        let duration_ms = self
            .timing(|t| &t.duration_ms)
            .and_then(|ms| event::whole(ms, 1.0))
            .or_else(|| {
                self.timing(|t| &t.duration_seconds)
                    .and_then(|s| event::whole(s, 1000.0))
            })
            .or_else(|| event::span_ms(started_at, ended_at));

        let analysis = self.analysis.as_ref();
        let artifact = self.artifact.as_ref();
        CallReport {
            ended_reason: self.ended_reason(phase),
            summary: analysis
                .and_then(|a| a.summary.clone())
                .or_else(|| self.summary.clone()),
            success: analysis
                .and_then(|a| a.success_evaluation.as_ref())
                .and_then(event::text),
            structured: structured(analysis, artifact),
            transcript: artifact
                .and_then(|a| a.transcript.as_deref())
                .or(self.transcript.as_deref())
                .map(event::transcript),
            recording_url: artifact
                .and_then(|a| a.recording_url.clone())
                .or_else(|| self.recording_url.clone()),
            started_at,
            ended_at,
            duration_ms,
            provider_cost: self.cost.as_ref().and_then(|usd| event::cents(usd, 100.0)),
        }
    }

    /// A timing field of the message, else of its call object.
    fn timing(&self, field: fn(&Timing) -> &Option<Value>) -> Option<&Value> {
        field(&self.timing)
            .as_ref()
            .or_else(|| field(&self.call.as_ref()?.timing).as_ref())
    }

    /// The end reason, once the call is over: on the message, else on its call.
    fn ended_reason(&self, phase: CallPhase) -> Option<String> {
        if matches!(phase, CallPhase::Ringing | CallPhase::Started) {
            return None;
        }
        self.ended_reason
            .clone()
            .or_else(|| self.call.as_ref()?.ended_reason.clone())
            .filter(|reason| !reason.is_empty())
    }
}

/// `analysis.structuredData` merged with `artifact.structuredOutputs`, so that
/// an outcome is found wherever the agent put it: each output adds
/// `name → result`, and a result that is an object adds its fields too. The
/// first value for a field wins, `structuredData` first.
fn structured(analysis: Option<&Analysis>, artifact: Option<&Artifact>) -> Option<Value> {
    let mut merged = Map::new();
    if let Some(Value::Object(data)) = analysis.and_then(|a| a.structured_data.as_ref()) {
        merged.extend(data.clone());
    }
    let outputs = artifact
        .and_then(|a| a.structured_outputs.as_ref())
        .and_then(Value::as_object);
    for output in outputs.into_iter().flat_map(Map::values) {
        let Some(result) = output.get("result").filter(|r| !r.is_null()) else {
            continue;
        };
        if let Some(name) = output.get("name").and_then(Value::as_str) {
            merged.entry(name).or_insert_with(|| result.clone());
        }
        if let Value::Object(fields) = result {
            for (field, value) in fields {
                merged.entry(field.clone()).or_insert_with(|| value.clone());
            }
        }
    }
    event::non_empty_object(Value::Object(merged))
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadline_core::calling::lead::CallOutcome;
    use leadline_core::kernel::text::TRUNCATION_MARKER;
    use leadline_core::{Cents, LeadId, TenantId};
    use serde_json::json;

    fn our_call() -> CallRef {
        CallRef {
            tenant: TenantId::parse("acme").unwrap(),
            lead: LeadId::from_bytes(&[9; 15]),
            attempt: 3,
        }
    }

    fn call() -> Value {
        json!({
            "id": "5f1a3c2e-0000-4000-8000-000000000001",
            "type": "outboundPhoneCall",
            "status": "ended",
            "assistantOverrides": {
                "variableValues": {"first_name": "Sam"},
                "metadata": our_call().to_metadata()
            },
            "customer": {"number": "+14155550199"}
        })
    }

    fn parse(message: Value) -> Option<CallEvent> {
        parse_event(&serde_json::to_vec(&json!({ "message": message })).unwrap()).unwrap()
    }

    fn status_update(status: &str) -> Option<CallEvent> {
        parse(
            json!({"type": "status-update", "status": status, "call": call(), "timestamp": 1_732_000_000_000_i64}),
        )
    }

    fn report(extra: Value) -> CallEvent {
        let mut message = json!({
            "type": "end-of-call-report",
            "endedReason": "customer-ended-call",
            "call": call(),
            "artifact": {"transcript": "AI: Hi Sam\nUser: Hi", "recordingUrl": "https://example.com/r.wav"},
            "analysis": {"summary": "Talked", "successEvaluation": "true"},
            "startedAt": "2026-11-20T15:00:00.000Z",
            "endedAt": "2026-11-20T15:01:30.500Z",
            "cost": 0.145,
            "timestamp": "2026-11-20T15:01:31.000Z"
        });
        for (key, value) in extra.as_object().unwrap() {
            message[key] = value.clone();
        }
        parse(message).unwrap()
    }

    #[test]
    fn ringing_statuses_are_the_ringing_phase() {
        for status in ["queued", "ringing", "scheduled"] {
            let event = status_update(status).unwrap();
            assert_eq!(event.phase, CallPhase::Ringing, "{status}");
            assert_eq!(event.outcome, None);
            assert_eq!(event.report.ended_reason, None);
        }
    }

    #[test]
    fn in_progress_and_forwarding_are_started() {
        for status in ["in-progress", "forwarding"] {
            let event = status_update(status).unwrap();
            assert_eq!(event.phase, CallPhase::Started, "{status}");
            assert_eq!(event.outcome, None);
        }
        assert_eq!(
            status_update("in-progress").unwrap().dedupe_key,
            "vapi#5f1a3c2e-0000-4000-8000-000000000001#status-update#in-progress"
        );
    }

    #[test]
    fn ended_takes_its_outcome_from_the_reason() {
        let event = parse(json!({"type": "status-update", "status": "ended", "endedReason": "customer-busy", "call": call()})).unwrap();
        assert_eq!(event.phase, CallPhase::Ended);
        assert_eq!(event.outcome, Some(CallOutcome::Busy));
        assert_eq!(event.report.ended_reason.as_deref(), Some("customer-busy"));
        assert_eq!(event.call, Some(our_call()));
        assert_eq!(event.provider, VoiceProvider::Vapi);
        assert_eq!(
            event.dedupe_key,
            "vapi#5f1a3c2e-0000-4000-8000-000000000001#status-update#ended"
        );
    }

    #[test]
    fn other_statuses_are_ignored() {
        assert_eq!(status_update("not-found"), None);
        assert_eq!(status_update("deletion-failed"), None);
    }

    #[test]
    fn the_end_of_call_report_is_the_analyzed_phase() {
        let event = report(json!({}));
        assert_eq!(event.phase, CallPhase::Analyzed);
        assert_eq!(
            event.dedupe_key,
            "vapi#5f1a3c2e-0000-4000-8000-000000000001#end-of-call-report#"
        );
        assert_eq!(event.outcome, Some(CallOutcome::Completed));
        assert_eq!(event.call, Some(our_call()));
        let report = event.report;
        assert_eq!(report.ended_reason.as_deref(), Some("customer-ended-call"));
        assert_eq!(report.summary.as_deref(), Some("Talked"));
        assert_eq!(report.success.as_deref(), Some("true"));
        assert_eq!(report.transcript.as_deref(), Some("AI: Hi Sam\nUser: Hi"));
        assert_eq!(
            report.recording_url.as_deref(),
            Some("https://example.com/r.wav")
        );
        assert_eq!(
            report.started_at,
            Some("2026-11-20T15:00:00Z".parse().unwrap())
        );
        assert_eq!(report.duration_ms, Some(90_500));
        assert_eq!(report.provider_cost, Some(Cents(15)));
        assert_eq!(report.structured, None);
    }

    #[test]
    fn a_stated_duration_wins_over_the_timestamps() {
        assert_eq!(
            report(json!({"durationMs": 90_000})).report.duration_ms,
            Some(90_000)
        );
        assert_eq!(
            report(json!({"durationSeconds": 89.5})).report.duration_ms,
            Some(89_500)
        );
    }

    #[test]
    fn a_boolean_success_evaluation_is_read_as_text() {
        let event = report(json!({"analysis": {"successEvaluation": false}}));
        assert_eq!(event.report.success.as_deref(), Some("false"));
    }

    #[test]
    fn the_outcome_comes_from_structured_data() {
        let event = report(json!({"analysis": {"structuredData": {"outcome": "not interested"}}}));
        assert_eq!(event.outcome, Some(CallOutcome::NotInterested));
    }

    #[test]
    fn the_outcome_comes_from_a_structured_output_named_outcome() {
        let event = report(json!({"artifact": {"structuredOutputs": {
            "3f0c": {"name": "outcome", "result": "appointment_set"},
            "9a1b": {"name": "budget", "result": 5000}
        }}}));
        assert_eq!(event.outcome, Some(CallOutcome::AppointmentSet));
        assert_eq!(
            event.report.structured,
            Some(json!({"outcome": "appointment_set", "budget": 5000}))
        );
    }

    #[test]
    fn the_outcome_comes_from_a_structured_output_object() {
        let event = report(json!({
            "analysis": {"structuredData": {"budget": "10k"}},
            "artifact": {"structuredOutputs": {
                "3f0c": {"name": "lead_result", "result": {"outcome": "callback_requested", "callback_at": "2026-11-24T15:00:00-05:00"}}
            }}
        }));
        assert_eq!(
            event.outcome,
            Some(CallOutcome::CallbackRequested {
                at: Some("2026-11-24T20:00:00Z".parse().unwrap())
            })
        );
        let structured = event.report.structured.unwrap();
        assert_eq!(structured["budget"], "10k");
        assert_eq!(structured["lead_result"]["outcome"], "callback_requested");
    }

    #[test]
    fn legacy_top_level_fields_are_read() {
        let event = report(json!({
            "artifact": {},
            "analysis": {},
            "summary": "Legacy summary",
            "transcript": "AI: legacy",
            "recordingUrl": "https://example.com/legacy.wav"
        }));
        assert_eq!(event.report.summary.as_deref(), Some("Legacy summary"));
        assert_eq!(event.report.transcript.as_deref(), Some("AI: legacy"));
        assert_eq!(
            event.report.recording_url.as_deref(),
            Some("https://example.com/legacy.wav")
        );
    }

    #[test]
    fn the_metadata_may_come_back_in_the_variable_values() {
        let mut call = call();
        call["assistantOverrides"] = json!({"variableValues": our_call().to_metadata()});
        let event =
            parse(json!({"type": "status-update", "status": "ringing", "call": call})).unwrap();
        assert_eq!(event.call, Some(our_call()));
    }

    #[test]
    fn a_call_without_our_metadata_has_no_call_ref() {
        let mut call = call();
        call.as_object_mut().unwrap().remove("assistantOverrides");
        let event =
            parse(json!({"type": "status-update", "status": "ringing", "call": call})).unwrap();
        assert_eq!(event.call, None);
    }

    #[test]
    fn a_long_transcript_is_cut() {
        let long = "a".repeat(CallReport::MAX_TRANSCRIPT_BYTES * 2);
        let event = report(json!({"artifact": {"transcript": long}}));
        let transcript = event.report.transcript.unwrap();
        assert!(transcript.len() <= CallReport::MAX_TRANSCRIPT_BYTES);
        assert!(transcript.ends_with(TRUNCATION_MARKER));
    }

    #[test]
    fn numeric_and_odd_timestamps_do_not_fail_the_event() {
        let event =
            report(json!({"startedAt": 1_795_186_800_000_i64, "endedAt": "later", "cost": "free"}));
        assert_eq!(
            event.report.started_at,
            Some("2026-11-20T15:00:00Z".parse().unwrap())
        );
        assert_eq!(event.report.ended_at, None);
        assert_eq!(event.report.duration_ms, None);
        assert_eq!(event.report.provider_cost, None);
    }

    #[test]
    fn other_message_types_are_ignored() {
        for kind in [
            "tool-calls",
            "transcript",
            "hang",
            "speech-update",
            "assistant-request",
            "conversation-update",
        ] {
            assert_eq!(
                parse(json!({"type": kind, "call": {"id": "x"}, "weird": [1]})),
                None,
                "{kind}"
            );
        }
    }

    fn looked_up(call: &Value) -> CallEvent {
        parse_call(&serde_json::to_vec(call).unwrap()).unwrap()
    }

    /// A `Call` as `GET /call/{id}` answers it once it is over.
    fn ended_call() -> Value {
        let mut call = call();
        for (key, value) in [
            ("endedReason", json!("customer-ended-call")),
            ("startedAt", json!("2026-11-20T15:00:00.000Z")),
            ("endedAt", json!("2026-11-20T15:01:30.500Z")),
            ("cost", json!(0.145)),
            (
                "artifact",
                json!({"transcript": "AI: Hi Sam\nUser: Hi", "recordingUrl": "https://example.com/r.wav"}),
            ),
        ] {
            call[key] = value;
        }
        call
    }

    #[test]
    fn a_looked_up_call_takes_its_phase_from_its_status() {
        for (status, phase, key) in [
            ("scheduled", CallPhase::Ringing, "ringing"),
            ("queued", CallPhase::Ringing, "ringing"),
            ("ringing", CallPhase::Ringing, "ringing"),
            ("in-progress", CallPhase::Started, "started"),
            ("forwarding", CallPhase::Started, "started"),
        ] {
            let mut call = call();
            call["status"] = json!(status);
            let event = looked_up(&call);
            assert_eq!(event.phase, phase, "{status}");
            assert_eq!(
                event.dedupe_key,
                format!("vapi#5f1a3c2e-0000-4000-8000-000000000001#lookup-{key}")
            );
            assert_eq!(event.outcome, None);
            assert_eq!(
                event.call,
                Some(our_call()),
                "from assistantOverrides.metadata"
            );
        }
    }

    #[test]
    fn an_ended_call_reports_like_the_end_of_call_report() {
        let event = looked_up(&ended_call());
        assert_eq!(event.phase, CallPhase::Ended);
        assert_eq!(
            event.dedupe_key,
            "vapi#5f1a3c2e-0000-4000-8000-000000000001#lookup-ended"
        );
        assert_eq!(event.provider, VoiceProvider::Vapi);
        assert_eq!(event.call, Some(our_call()));
        assert_eq!(event.outcome, Some(CallOutcome::Completed));
        let report = event.report;
        assert_eq!(report.ended_reason.as_deref(), Some("customer-ended-call"));
        assert_eq!(report.transcript.as_deref(), Some("AI: Hi Sam\nUser: Hi"));
        assert_eq!(
            report.recording_url.as_deref(),
            Some("https://example.com/r.wav")
        );
        assert_eq!(report.duration_ms, Some(90_500));
        assert_eq!(report.provider_cost, Some(Cents(15)));
        assert_eq!(report.summary, None);
    }

    #[test]
    fn an_ended_call_with_its_analysis_is_analyzed() {
        let mut call = ended_call();
        call["analysis"] = json!({
            "summary": "Asked for a callback",
            "structuredData": {"outcome": "callback_requested", "callback_at": "2026-11-24T15:00:00-05:00"},
            "successEvaluation": "true"
        });
        let event = looked_up(&call);
        assert_eq!(event.phase, CallPhase::Analyzed);
        assert_eq!(
            event.dedupe_key,
            "vapi#5f1a3c2e-0000-4000-8000-000000000001#lookup-analyzed"
        );
        assert_eq!(
            event.outcome,
            Some(CallOutcome::CallbackRequested {
                at: Some("2026-11-24T20:00:00Z".parse().unwrap())
            })
        );
        assert_eq!(
            event.report.summary.as_deref(),
            Some("Asked for a callback")
        );
        assert_eq!(event.report.success.as_deref(), Some("true"));

        // An analysis not yet filled in leaves the call ended.
        call["analysis"] = json!({});
        assert_eq!(looked_up(&call).phase, CallPhase::Ended);
        call["analysis"] = json!({"summary": null});
        assert_eq!(looked_up(&call).phase, CallPhase::Ended);
    }

    #[test]
    fn a_call_object_that_cannot_be_read_is_a_parse_error() {
        assert_eq!(
            parse_call(br#"{"id": "x"}"#),
            Err(ParseError::Missing("status"))
        );
        assert_eq!(
            parse_call(br#"{"status": "ended"}"#),
            Err(ParseError::Missing("id"))
        );
        let envelope =
            json!({"message": {"type": "status-update", "status": "ended", "call": call()}});
        assert_eq!(
            parse_call(&serde_json::to_vec(&envelope).unwrap()),
            Err(ParseError::Missing("status")),
            "a server message is not a call object"
        );
        assert!(matches!(
            parse_call(br#"{"id": "x", "status": "not-found"}"#),
            Err(ParseError::Json(e)) if e.contains("not-found")
        ));
        assert!(matches!(parse_call(b"<html>"), Err(ParseError::Json(_))));
    }

    #[test]
    fn broken_messages_are_parse_errors() {
        let parse_raw = |body: &[u8]| parse_event(body);
        assert!(matches!(parse_raw(b"not json"), Err(ParseError::Json(_))));
        assert_eq!(parse_raw(b"{}"), Err(ParseError::Missing("message")));
        assert_eq!(
            parse_raw(br#"{"message": "hi"}"#),
            Err(ParseError::Missing("message"))
        );
        assert_eq!(
            parse_raw(br#"{"message": {}}"#),
            Err(ParseError::Missing("message.type"))
        );
        assert_eq!(
            parse_raw(br#"{"message": {"type": "status-update"}}"#),
            Err(ParseError::Missing("message.status"))
        );
        assert_eq!(
            parse_raw(br#"{"message": {"type": "end-of-call-report"}}"#),
            Err(ParseError::Missing("message.call"))
        );
        assert_eq!(
            parse_raw(br#"{"message": {"type": "end-of-call-report", "call": {}}}"#),
            Err(ParseError::Missing("message.call.id"))
        );
    }
}
