//! What leadline and a voice provider say to each other about a call, in
//! provider-neutral terms. The provider adapters (`leadline-voice`) turn
//! Retell's and Vapi's webhooks into a [`CallEvent`] and a [`PlaceCall`] into
//! their create-call requests.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::calling::lead::CallOutcome;
use crate::intake::tenant::VoiceProvider;
use crate::kernel::ids::{AttemptId, LeadId, TenantId};
use crate::kernel::money::Cents;
use crate::kernel::phone::Phone;

/// The call metadata leadline attaches when it starts a call and reads back
/// from every webhook about it. It is the only source of tenant and lead for
/// a call event: a call without it is not one of ours.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CallRef {
    pub tenant: TenantId,
    pub lead: LeadId,
    /// The attempt's number (1 for the first call of the lead).
    pub attempt: u32,
}

impl CallRef {
    pub const TENANT: &'static str = "leadline_tenant";
    pub const LEAD: &'static str = "leadline_lead";
    pub const ATTEMPT: &'static str = "leadline_attempt";

    pub fn attempt_id(&self) -> AttemptId {
        AttemptId::derive(&self.lead, self.attempt)
    }

    /// The metadata object sent to the provider. Every value is a string, so
    /// it can double as Retell dynamic variables or Vapi variable values.
    pub fn to_metadata(&self) -> Value {
        serde_json::json!({
            Self::TENANT: self.tenant.as_str(),
            Self::LEAD: self.lead.as_str(),
            Self::ATTEMPT: self.attempt.to_string(),
        })
    }

    /// Reads the metadata back. Anything missing or malformed is `None`.
    pub fn from_metadata(metadata: &Value) -> Option<Self> {
        let text = |key: &str| metadata.get(key).and_then(Value::as_str);
        Some(Self {
            tenant: TenantId::parse(text(Self::TENANT)?).ok()?,
            lead: LeadId::parse(text(Self::LEAD)?).ok()?,
            attempt: text(Self::ATTEMPT)?.parse().ok().filter(|n| *n > 0)?,
        })
    }
}

/// Where a call stands according to one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallPhase {
    /// Queued or ringing at the provider (Vapi `queued`, `ringing`).
    Ringing,
    /// The call connected (Retell `call_started`, Vapi `in-progress`).
    Started,
    /// The call is over (Retell `call_ended`, Vapi status `ended`).
    Ended,
    /// The call is over and analysed (Retell `call_analyzed`, Vapi `end-of-call-report`).
    Analyzed,
}

/// What an event tells about a call beyond its phase. Every field is optional:
/// events carry different subsets, and later events fill in what earlier ones lacked.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CallReport {
    /// The provider's reason for the end of the call, as it spelled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Retell `call_successful` ("true"/"false"), Vapi `successEvaluation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<String>,
    /// Retell `custom_analysis_data`; Vapi `analysis.structuredData` merged
    /// with `artifact.structuredOutputs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured: Option<Value>,
    /// Bounded (see [`CallReport::MAX_TRANSCRIPT_BYTES`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// Length of the call in milliseconds, when the event says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// What the provider charged for the call, in cents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_cost: Option<Cents>,
}

impl CallReport {
    /// Transcripts are cut to this size so an attempt item stays far below
    /// DynamoDB's 400 KB.
    pub const MAX_TRANSCRIPT_BYTES: usize = 100_000;

    /// Fills the fields this report lacks from `other`; what is known stays.
    pub fn fill_from(&mut self, other: &CallReport) {
        fn fill<T: Clone>(mine: &mut Option<T>, theirs: &Option<T>) {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        }
        fill(&mut self.ended_reason, &other.ended_reason);
        fill(&mut self.summary, &other.summary);
        fill(&mut self.success, &other.success);
        fill(&mut self.structured, &other.structured);
        fill(&mut self.transcript, &other.transcript);
        fill(&mut self.recording_url, &other.recording_url);
        fill(&mut self.started_at, &other.started_at);
        fill(&mut self.ended_at, &other.ended_at);
        fill(&mut self.duration_ms, &other.duration_ms);
        fill(&mut self.provider_cost, &other.provider_cost);
    }
}

/// One webhook about one call, in leadline's terms.
#[derive(Clone, Debug, PartialEq)]
pub struct CallEvent {
    pub provider: VoiceProvider,
    pub provider_call_id: String,
    /// Unique per provider delivery that may be repeated: Retell
    /// `retell#<call_id>#<event>`, Vapi `vapi#<call id>#<type>#<status>`.
    pub dedupe_key: String,
    /// Our metadata, when the call is one leadline started.
    pub call: Option<CallRef>,
    pub phase: CallPhase,
    /// What the call came to, when this event tells: the agent's analysis
    /// when present, else the provider's end reason.
    pub outcome: Option<CallOutcome>,
    pub report: CallReport,
}

/// A call leadline asks a provider to place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlaceCall {
    pub provider: VoiceProvider,
    pub call: CallRef,
    pub to: Phone,
    /// Retell `from_number`; the deployment's number when absent.
    pub from: Option<Phone>,
    /// Retell `override_agent_id` / Vapi `assistantId`; the deployment's shared agent when absent.
    pub agent_id: Option<String>,
    /// Vapi `phoneNumberId`; the deployment's when absent.
    pub phone_number_id: Option<String>,
    /// What the agent may say: first name, business name, ... Strings only,
    /// as Retell requires.
    pub variables: BTreeMap<String, String>,
}

/// The provider took the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacedCall {
    pub provider_call_id: String,
}

/// Why a provider did not take a call. Each class is handled differently.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    /// The number cannot be called (a 4xx about the destination): the lead is invalid.
    #[error("the provider refused the number: {0}")]
    InvalidNumber(String),
    /// Too many calls or requests (429, a concurrency error): try again later.
    #[error("the provider is at its limit: {reason}")]
    Throttled {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// A 5xx: the provider failed; retry with backoff.
    #[error("the provider failed: {0}")]
    Unavailable(String),
    /// No answer in time: whether the call was placed is unknown.
    #[error("the provider did not answer in time")]
    Timeout,
    /// Any other 4xx: our request or configuration is wrong; retrying as is will not help.
    #[error("the provider rejected the request ({status}): {reason}")]
    Rejected { status: u16, reason: String },
}

/// Places calls with one provider account.
#[async_trait]
pub trait VoiceDialer: Send + Sync {
    async fn place_call(&self, call: &PlaceCall) -> Result<PlacedCall, DialError>;
}

/// Asks a provider account about one call (the stuck-call sweep does, when
/// no final event arrived in time).
#[async_trait]
pub trait CallLookup: Send + Sync {
    /// The call as the provider knows it now, read as an event: its phase
    /// (`Ringing`, `Started`, `Ended`, or `Analyzed` once the analysis is in),
    /// outcome and report, with a dedupe key of its own
    /// (`<provider>#<call id>#lookup-<phase>`). `Ok(None)` when the provider
    /// does not know the call (404). Failures are classified like a refused
    /// create-call request.
    async fn lookup_call(&self, provider_call_id: &str) -> Result<Option<CallEvent>, DialError>;
}

/// The outcome an agent's structured analysis states, by leadline's
/// convention: a field `outcome` (or seed 001's `success_status`) naming one
/// of `appointment_set`, `callback_requested`, `not_interested`,
/// `do_not_call`, `qualified`, `potential`, `not_qualified` (case and
/// spaces/dashes ignored), with `callback_at` (RFC 3339 with an offset) for a
/// requested callback.
pub fn outcome_from_analysis(structured: &Value) -> Option<CallOutcome> {
    let named = |key: &str| structured.get(key).and_then(Value::as_str);
    let raw = named("outcome").or_else(|| named("success_status"))?;
    let norm: String = raw
        .trim()
        .chars()
        .map(|c| match c {
            ' ' | '-' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    Some(match norm.as_str() {
        "appointment_set" | "booked" => CallOutcome::AppointmentSet,
        "callback_requested" | "callback" => CallOutcome::CallbackRequested {
            at: named("callback_at").and_then(|t| t.parse::<Timestamp>().ok()),
        },
        "not_interested" => CallOutcome::NotInterested,
        "do_not_call" | "dnc" | "opt_out" => CallOutcome::DoNotCall,
        "qualified" => CallOutcome::Qualified,
        "potential" => CallOutcome::Potential,
        "not_qualified" => CallOutcome::NotQualified,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call() -> CallRef {
        let tenant = TenantId::parse("acme").unwrap();
        CallRef {
            tenant,
            lead: LeadId::from_bytes(&[3; 15]),
            attempt: 2,
        }
    }

    #[test]
    fn call_metadata_round_trips_and_holds_only_strings() {
        let meta = call().to_metadata();
        assert!(meta.as_object().unwrap().values().all(Value::is_string));
        assert_eq!(CallRef::from_metadata(&meta), Some(call()));
    }

    #[test]
    fn metadata_that_is_not_ours_is_refused() {
        for meta in [
            json!(null),
            json!({}),
            json!({"leadline_tenant": "acme", "leadline_lead": "ld_x", "leadline_attempt": "1"}),
            json!({"leadline_tenant": "Acme!", "leadline_lead": call().lead.as_str(), "leadline_attempt": "1"}),
            json!({"leadline_tenant": "acme", "leadline_lead": call().lead.as_str(), "leadline_attempt": "0"}),
            json!({"leadline_tenant": "acme", "leadline_lead": call().lead.as_str(), "leadline_attempt": 1}),
        ] {
            assert_eq!(CallRef::from_metadata(&meta), None, "{meta}");
        }
    }

    #[test]
    fn the_analysis_names_the_outcome_in_any_spelling() {
        assert_eq!(
            outcome_from_analysis(&json!({"outcome": "Appointment Set"})),
            Some(CallOutcome::AppointmentSet)
        );
        assert_eq!(
            outcome_from_analysis(&json!({"success_status": "Not Qualified"})),
            Some(CallOutcome::NotQualified)
        );
        assert_eq!(
            outcome_from_analysis(&json!({"outcome": "do-not-call"})),
            Some(CallOutcome::DoNotCall)
        );
        assert_eq!(outcome_from_analysis(&json!({"outcome": "maybe"})), None);
        assert_eq!(outcome_from_analysis(&json!({"budget": 10})), None);
    }

    #[test]
    fn a_callback_carries_its_time_when_the_analysis_gives_one_with_an_offset() {
        let at = outcome_from_analysis(
            &json!({"outcome": "callback_requested", "callback_at": "2026-11-24T15:00:00-05:00"}),
        );
        assert_eq!(
            at,
            Some(CallOutcome::CallbackRequested {
                at: Some("2026-11-24T20:00:00Z".parse().unwrap())
            })
        );
        let vague = outcome_from_analysis(
            &json!({"outcome": "callback_requested", "callback_at": "Tuesday at 3"}),
        );
        assert_eq!(vague, Some(CallOutcome::CallbackRequested { at: None }));
    }

    #[test]
    fn a_report_fills_in_only_what_it_lacks() {
        let mut ended = CallReport {
            ended_reason: Some("user_hangup".into()),
            duration_ms: Some(61_000),
            ..CallReport::default()
        };
        let analyzed = CallReport {
            ended_reason: Some("other".into()),
            summary: Some("Booked for Tuesday".into()),
            ..CallReport::default()
        };
        ended.fill_from(&analyzed);
        assert_eq!(ended.ended_reason.as_deref(), Some("user_hangup"));
        assert_eq!(ended.summary.as_deref(), Some("Booked for Tuesday"));
        assert_eq!(ended.duration_ms, Some(61_000));
    }
}
