//! Retell webhooks: `{"event": "<type>", "call": {…}}` (the deprecated `data`
//! property is read when `call` is absent), and the bare call object of
//! `GET /v2/get-call/{call_id}`.

use leadline_core::calling::call::{CallEvent, CallPhase, CallRef, CallReport};
use leadline_core::intake::tenant::VoiceProvider;
use serde::Deserialize;
use serde_json::Value;

use crate::event::{self, ParseError, from_slice, from_value, required};
use crate::reasons::retell_outcome;

#[derive(Deserialize)]
struct Envelope {
    event: Option<String>,
    call: Option<Value>,
    data: Option<Value>,
}

/// The fields of Retell's call object leadline reads. Everything is optional
/// here; `call_id` is checked afterwards for a clear error.
#[derive(Deserialize)]
struct RetellCall {
    call_id: Option<String>,
    call_status: Option<String>,
    metadata: Option<Value>,
    disconnection_reason: Option<String>,
    transcript: Option<String>,
    recording_url: Option<String>,
    start_timestamp: Option<Value>,
    end_timestamp: Option<Value>,
    duration_ms: Option<Value>,
    call_cost: Option<CallCost>,
    call_analysis: Option<CallAnalysis>,
}

#[derive(Deserialize)]
struct CallCost {
    /// In cents, possibly fractional.
    combined_cost: Option<Value>,
}

#[derive(Deserialize)]
struct CallAnalysis {
    call_summary: Option<String>,
    call_successful: Option<Value>,
    in_voicemail: Option<Value>,
    custom_analysis_data: Option<Value>,
}

/// Reads a Retell webhook. `Ok(None)` for the events leadline does not act on
/// (transcript updates, transfers, chats, ...): the receiver answers them 2xx.
pub fn parse_event(raw_body: &[u8]) -> Result<Option<CallEvent>, ParseError> {
    let envelope: Envelope = from_slice(raw_body)?;
    let event = required(envelope.event, "event")?;
    let Some(phase) = phase_of(&event) else {
        return Ok(None);
    };
    let call = envelope
        .call
        .or(envelope.data)
        .filter(|call| !call.is_null())
        .ok_or(ParseError::Missing("call"))?;
    let call: RetellCall = from_value(call)?;
    let call_id = required(call.call_id.clone(), "call.call_id")?;
    let dedupe_key = format!("retell#{call_id}#{event}");
    Ok(Some(call.event(call_id, phase, dedupe_key)))
}

/// Reads the call object `GET /v2/get-call/{call_id}` answers, as an event
/// of the phase its `call_status` tells: `registered` is ringing, `ongoing`
/// started, `ended` / `error` / `not_connected` ended, or analysed once
/// `call_analysis` is in.
pub fn parse_call(raw_body: &[u8]) -> Result<CallEvent, ParseError> {
    let call: RetellCall = from_slice(raw_body)?;
    let call_id = required(call.call_id.clone(), "call_id")?;
    let status = required(call.call_status.clone(), "call_status")?;
    let phase = match status.as_str() {
        "registered" => CallPhase::Ringing,
        "ongoing" => CallPhase::Started,
        "ended" | "error" | "not_connected" if call.call_analysis.is_some() => CallPhase::Analyzed,
        "ended" | "error" | "not_connected" => CallPhase::Ended,
        other => {
            return Err(ParseError::Json(format!("unknown call_status {other:?}")));
        }
    };
    let dedupe_key = event::lookup_key("retell", &call_id, phase);
    Ok(call.event(call_id, phase, dedupe_key))
}

fn phase_of(event: &str) -> Option<CallPhase> {
    match event {
        "call_started" => Some(CallPhase::Started),
        "call_ended" => Some(CallPhase::Ended),
        "call_analyzed" => Some(CallPhase::Analyzed),
        _ => None,
    }
}

impl RetellCall {
    fn event(&self, call_id: String, phase: CallPhase, dedupe_key: String) -> CallEvent {
        let report = self.report();
        let in_voicemail = self
            .call_analysis
            .as_ref()
            .and_then(|a| a.in_voicemail.as_ref())
            .is_some_and(event::flag);
        CallEvent {
            provider: VoiceProvider::Retell,
            provider_call_id: call_id,
            dedupe_key,
            call: self.metadata.as_ref().and_then(CallRef::from_metadata),
            phase,
            outcome: event::outcome(phase, &report, in_voicemail, retell_outcome),
            report,
        }
    }

    fn report(&self) -> CallReport {
        let analysis = self.call_analysis.as_ref();
        let started_at = self.start_timestamp.as_ref().and_then(event::timestamp);
        let ended_at = self.end_timestamp.as_ref().and_then(event::timestamp);
        CallReport {
            ended_reason: self.disconnection_reason.clone(),
            summary: analysis.and_then(|a| a.call_summary.clone()),
            success: analysis
                .and_then(|a| a.call_successful.as_ref())
                .and_then(event::text),
            structured: analysis
                .and_then(|a| a.custom_analysis_data.clone())
                .and_then(event::non_empty_object),
            transcript: self.transcript.as_deref().map(event::transcript),
            recording_url: self.recording_url.clone(),
            started_at,
            ended_at,
            duration_ms: self
                .duration_ms
                .as_ref()
                .and_then(|d| event::whole(d, 1.0))
                .or_else(|| event::span_ms(started_at, ended_at)),
            provider_cost: self
                .call_cost
                .as_ref()
                .and_then(|c| c.combined_cost.as_ref())
                .and_then(|c| event::cents(c, 1.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadline_core::calling::call::CallRef;
    use leadline_core::calling::lead::CallOutcome;
    use leadline_core::kernel::text::TRUNCATION_MARKER;
    use leadline_core::{Cents, LeadId, TenantId};
    use serde_json::json;

    fn our_call() -> CallRef {
        CallRef {
            tenant: TenantId::parse("acme").unwrap(),
            lead: LeadId::from_bytes(&[7; 15]),
            attempt: 2,
        }
    }

    fn webhook(event: &str, call: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({"event": event, "call": call})).unwrap()
    }

    fn ended_call() -> Value {
        json!({
            "call_id": "call_abc",
            "agent_id": "agent_1",
            "agent_version": 3,
            "call_status": "ended",
            "call_type": "phone_call",
            "direction": "outbound",
            "from_number": "+14155550100",
            "to_number": "+14155550199",
            "metadata": our_call().to_metadata(),
            "start_timestamp": 1_700_000_000_000_i64,
            "end_timestamp": 1_700_000_061_000_i64,
            "disconnection_reason": "user_hangup",
            "transcript": "Agent: Hi Sam\nUser: Hi",
            "recording_url": "https://example.com/rec.wav",
            "call_cost": {"combined_cost": 12.6, "product_costs": [], "total_duration_seconds": 61},
            "some_future_field": {"x": 1}
        })
    }

    fn parse(event: &str, call: Value) -> CallEvent {
        parse_event(&webhook(event, call)).unwrap().unwrap()
    }

    #[test]
    fn call_started_is_the_started_phase_without_outcome() {
        let mut call = ended_call();
        call["disconnection_reason"] = Value::Null;
        let event = parse("call_started", call);
        assert_eq!(event.phase, CallPhase::Started);
        assert_eq!(event.outcome, None);
        assert_eq!(event.dedupe_key, "retell#call_abc#call_started");
        assert_eq!(event.provider, VoiceProvider::Retell);
        assert_eq!(event.call, Some(our_call()));
    }

    #[test]
    fn call_ended_reports_the_call_and_its_reason() {
        let event = parse("call_ended", ended_call());
        assert_eq!(event.phase, CallPhase::Ended);
        assert_eq!(event.provider_call_id, "call_abc");
        assert_eq!(event.dedupe_key, "retell#call_abc#call_ended");
        assert_eq!(event.outcome, Some(CallOutcome::Completed));
        let report = event.report;
        assert_eq!(report.ended_reason.as_deref(), Some("user_hangup"));
        assert_eq!(
            report.transcript.as_deref(),
            Some("Agent: Hi Sam\nUser: Hi")
        );
        assert_eq!(
            report.recording_url.as_deref(),
            Some("https://example.com/rec.wav")
        );
        assert_eq!(
            report.started_at,
            Some("2023-11-14T22:13:20Z".parse().unwrap())
        );
        assert_eq!(
            report.ended_at,
            Some("2023-11-14T22:14:21Z".parse().unwrap())
        );
        assert_eq!(report.duration_ms, Some(61_000));
        assert_eq!(report.provider_cost, Some(Cents(13)));
        assert_eq!(report.summary, None);
    }

    #[test]
    fn the_stated_duration_wins_over_the_timestamps() {
        let mut call = ended_call();
        call["duration_ms"] = json!(60_500);
        assert_eq!(parse("call_ended", call).report.duration_ms, Some(60_500));
    }

    #[test]
    fn call_analyzed_takes_the_outcome_from_the_analysis() {
        let mut call = ended_call();
        call["call_analysis"] = json!({
            "call_summary": "Booked Tuesday 3pm",
            "user_sentiment": "Positive",
            "call_successful": true,
            "in_voicemail": false,
            "custom_analysis_data": {"outcome": "appointment_set", "budget": "10k"}
        });
        let event = parse("call_analyzed", call);
        assert_eq!(event.phase, CallPhase::Analyzed);
        assert_eq!(event.dedupe_key, "retell#call_abc#call_analyzed");
        assert_eq!(event.outcome, Some(CallOutcome::AppointmentSet));
        assert_eq!(event.report.summary.as_deref(), Some("Booked Tuesday 3pm"));
        assert_eq!(event.report.success.as_deref(), Some("true"));
        assert_eq!(
            event.report.structured,
            Some(json!({"outcome": "appointment_set", "budget": "10k"}))
        );
    }

    #[test]
    fn voicemail_detection_comes_before_the_end_reason() {
        let mut call = ended_call();
        call["disconnection_reason"] = json!("agent_hangup");
        call["call_analysis"] = json!({"in_voicemail": true, "custom_analysis_data": {}});
        let event = parse("call_analyzed", call);
        assert_eq!(event.outcome, Some(CallOutcome::Voicemail));
        assert_eq!(event.report.structured, None);
    }

    #[test]
    fn without_analysis_the_reason_table_decides() {
        let mut call = ended_call();
        call["disconnection_reason"] = json!("dial_no_answer");
        call["call_analysis"] =
            json!({"call_successful": false, "custom_analysis_data": {"outcome": "unclear"}});
        let event = parse("call_analyzed", call);
        assert_eq!(event.outcome, Some(CallOutcome::NoAnswer));
        assert_eq!(event.report.success.as_deref(), Some("false"));
    }

    #[test]
    fn the_deprecated_data_property_is_read() {
        let body =
            serde_json::to_vec(&json!({"event": "call_ended", "data": ended_call()})).unwrap();
        let event = parse_event(&body).unwrap().unwrap();
        assert_eq!(event.provider_call_id, "call_abc");
    }

    #[test]
    fn other_events_are_ignored() {
        for event in [
            "transcript_updated",
            "transfer_started",
            "chat_ended",
            "call_inbound",
            "future_event",
        ] {
            let body =
                serde_json::to_vec(&json!({"event": event, "chat": {"chat_id": "x"}})).unwrap();
            assert_eq!(parse_event(&body), Ok(None), "{event}");
        }
    }

    #[test]
    fn a_call_without_our_metadata_has_no_call_ref() {
        let mut call = ended_call();
        call.as_object_mut().unwrap().remove("metadata");
        assert_eq!(parse("call_ended", call.clone()).call, None);
        call["metadata"] = json!({"crm_id": "42"});
        assert_eq!(parse("call_ended", call).call, None);
    }

    #[test]
    fn a_long_transcript_is_cut() {
        let mut call = ended_call();
        call["transcript"] = json!("x".repeat(CallReport::MAX_TRANSCRIPT_BYTES + 1));
        let transcript = parse("call_ended", call).report.transcript.unwrap();
        assert!(transcript.len() <= CallReport::MAX_TRANSCRIPT_BYTES);
        assert!(transcript.ends_with(TRUNCATION_MARKER));
    }

    #[test]
    fn odd_timestamps_and_costs_do_not_fail_the_event() {
        let mut call = ended_call();
        call["start_timestamp"] = json!("2023-11-14T22:13:20Z");
        call["end_timestamp"] = json!("soon");
        call["call_cost"] = json!({"combined_cost": null});
        let report = parse("call_ended", call).report;
        assert_eq!(
            report.started_at,
            Some("2023-11-14T22:13:20Z".parse().unwrap())
        );
        assert_eq!(report.ended_at, None);
        assert_eq!(report.duration_ms, None);
        assert_eq!(report.provider_cost, None);
    }

    fn looked_up(call: &Value) -> CallEvent {
        parse_call(&serde_json::to_vec(call).unwrap()).unwrap()
    }

    #[test]
    fn a_looked_up_call_takes_its_phase_from_its_status() {
        let registered = json!({
            "call_id": "call_abc",
            "call_status": "registered",
            "metadata": our_call().to_metadata()
        });
        let event = looked_up(&registered);
        assert_eq!(event.phase, CallPhase::Ringing);
        assert_eq!(event.dedupe_key, "retell#call_abc#lookup-ringing");
        assert_eq!(event.call, Some(our_call()));
        assert_eq!(event.outcome, None);

        let mut ongoing = ended_call();
        ongoing["call_status"] = json!("ongoing");
        let event = looked_up(&ongoing);
        assert_eq!(event.phase, CallPhase::Started);
        assert_eq!(event.dedupe_key, "retell#call_abc#lookup-started");
        assert_eq!(event.outcome, None);

        for status in ["ended", "error", "not_connected"] {
            let mut call = ended_call();
            call["call_status"] = json!(status);
            call["call_analysis"] = Value::Null;
            let event = looked_up(&call);
            assert_eq!(event.phase, CallPhase::Ended, "{status}");
            assert_eq!(event.dedupe_key, "retell#call_abc#lookup-ended");
            assert_eq!(event.outcome, Some(CallOutcome::Completed));
            assert_eq!(event.report.duration_ms, Some(61_000));
            assert_eq!(event.report.provider_cost, Some(Cents(13)));
        }
    }

    #[test]
    fn a_looked_up_call_with_its_analysis_is_analyzed() {
        let mut call = ended_call();
        call["call_analysis"] = json!({
            "call_summary": "Call back Tuesday",
            "call_successful": true,
            "custom_analysis_data": {"outcome": "callback_requested", "callback_at": "2026-11-24T15:00:00-05:00"}
        });
        let event = looked_up(&call);
        assert_eq!(event.phase, CallPhase::Analyzed);
        assert_eq!(event.dedupe_key, "retell#call_abc#lookup-analyzed");
        assert_eq!(event.provider, VoiceProvider::Retell);
        assert_eq!(event.provider_call_id, "call_abc");
        assert_eq!(event.call, Some(our_call()));
        assert_eq!(
            event.outcome,
            Some(CallOutcome::CallbackRequested {
                at: Some("2026-11-24T20:00:00Z".parse().unwrap())
            })
        );
        assert_eq!(event.report.summary.as_deref(), Some("Call back Tuesday"));
        assert_eq!(event.report.ended_reason.as_deref(), Some("user_hangup"));
    }

    #[test]
    fn a_call_object_that_cannot_be_read_is_a_parse_error() {
        assert_eq!(
            parse_call(br#"{"call_status": "ended"}"#),
            Err(ParseError::Missing("call_id"))
        );
        assert_eq!(
            parse_call(br#"{"call_id": "call_abc"}"#),
            Err(ParseError::Missing("call_status"))
        );
        assert_eq!(
            parse_call(&webhook("call_ended", ended_call())),
            Err(ParseError::Missing("call_id")),
            "a webhook envelope is not a call object"
        );
        assert!(matches!(
            parse_call(br#"{"call_id": "call_abc", "call_status": "paused"}"#),
            Err(ParseError::Json(e)) if e.contains("paused")
        ));
        assert!(matches!(parse_call(b"<html>"), Err(ParseError::Json(_))));
    }

    #[test]
    fn broken_bodies_are_parse_errors() {
        assert!(matches!(
            parse_event(b"{not json"),
            Err(ParseError::Json(_))
        ));
        assert!(matches!(parse_event(b"[1, 2]"), Err(ParseError::Json(_))));
        assert_eq!(parse_event(b"{}"), Err(ParseError::Missing("event")));
        assert_eq!(
            parse_event(br#"{"event": "call_ended"}"#),
            Err(ParseError::Missing("call"))
        );
        assert_eq!(
            parse_event(br#"{"event": "call_ended", "call": {"agent_id": "a"}}"#),
            Err(ParseError::Missing("call.call_id"))
        );
        assert!(matches!(
            parse_event(br#"{"event": "call_ended", "call": {"call_id": 5}}"#),
            Err(ParseError::Json(_))
        ));
    }
}
