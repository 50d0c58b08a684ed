//! A call the simulator accepted, and where it stands.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::conversation;
use crate::deliver::{Webhook, WebhookTarget};
use crate::provider::Provider;
use crate::script::Script;
use crate::tools::ToolCall;
use crate::{retell, vapi};

/// Where a call stands, as `GET /_sim/calls` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallPhase {
    /// Accepted; the number is being dialled.
    Dialing,
    Ringing,
    /// The line connected (a conversation or a voicemail box).
    InProgress,
    /// The call is over and its slot free again.
    Ended,
    /// The post-call analysis is done.
    Analyzed,
}

/// The moments of a call that providers report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Milestone {
    Ringing,
    Connected,
    Ended,
    Analyzed,
}

/// A call accepted by create-call.
#[derive(Debug)]
pub(crate) struct PlacedCall {
    pub provider: Provider,
    pub id: String,
    pub to: String,
    pub script: Script,
    pub created_at: Timestamp,
    pub details: CallDetails,
}

/// What the create-call request asked for, per provider.
#[derive(Debug)]
pub(crate) enum CallDetails {
    Retell(retell::CallRequest),
    Vapi(vapi::CallRequest),
}

/// What has happened on a call so far. Reported times follow the script
/// (a "120 s" call ends 120 s after it connected) whatever the time scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CallFacts {
    pub phase: CallPhase,
    pub connected_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    /// The virtual clock's time when the call ended, which a requested
    /// callback is counted from (fixed then, so every report states the same time).
    pub ended_at_virtual: Option<Timestamp>,
}

impl CallFacts {
    pub(crate) const DIALING: CallFacts = CallFacts {
        phase: CallPhase::Dialing,
        connected_at: None,
        ended_at: None,
        ended_at_virtual: None,
    };

    /// Moves the call to `milestone`, which happens at real time `now` and
    /// virtual time `virtual_now`.
    pub(crate) fn advance(
        &mut self,
        call: &PlacedCall,
        milestone: Milestone,
        now: Timestamp,
        virtual_now: Timestamp,
    ) {
        match milestone {
            Milestone::Ringing => self.phase = CallPhase::Ringing,
            Milestone::Connected => {
                self.phase = CallPhase::InProgress;
                self.connected_at = Some(now);
            }
            Milestone::Ended => {
                self.phase = CallPhase::Ended;
                self.ended_at_virtual = Some(virtual_now);
                let (from, seconds) = match self.connected_at {
                    Some(connected) => (connected, call.script.talk_seconds),
                    None => (call.created_at, call.script.ring_seconds),
                };
                let length = SignedDuration::from_secs(seconds.into());
                self.ended_at = Some(from.saturating_add(length).unwrap_or(Timestamp::MAX));
            }
            Milestone::Analyzed => self.phase = CallPhase::Analyzed,
        }
    }

    /// The reported length of the conversation.
    pub(crate) fn duration_ms(&self) -> i64 {
        match (self.connected_at, self.ended_at) {
            (Some(start), Some(end)) => end.duration_since(start).as_millis() as i64,
            _ => 0,
        }
    }
}

impl PlacedCall {
    /// The provider's view of the call: the create-call answer and `get-call`.
    pub(crate) fn to_json(&self, facts: &CallFacts) -> Value {
        match &self.details {
            CallDetails::Retell(request) => retell::call_json(self, request, facts),
            CallDetails::Vapi(request) => vapi::call_json(self, request, facts),
        }
    }

    /// The agent's structured analysis of the call (see
    /// [`conversation::structured_data`]).
    pub(crate) fn analysis_data(&self, facts: &CallFacts) -> Value {
        let ended = facts.ended_at_virtual.unwrap_or_else(Timestamp::now);
        conversation::structured_data(&self.script, ended)
    }

    /// The webhook the provider sends at `milestone`, if any.
    pub(crate) fn webhook(&self, milestone: Milestone, facts: &CallFacts) -> Option<Webhook> {
        let event = match &self.details {
            CallDetails::Retell(request) => retell::event(self, request, milestone, facts),
            CallDetails::Vapi(request) => vapi::event(self, request, milestone, facts),
        }?;
        Some(Webhook {
            provider: self.provider,
            call_id: self.id.clone(),
            to: self.to.clone(),
            event: event.name,
            terminal: matches!(milestone, Milestone::Ended | Milestone::Analyzed),
            body: serde_json::to_vec(&event.body).unwrap_or_default(),
            target: self.webhook_target().cloned(),
        })
    }

    /// Where the call's webhooks go, when it names its own server (Vapi).
    pub(crate) fn webhook_target(&self) -> Option<&WebhookTarget> {
        match &self.details {
            CallDetails::Vapi(request) => request.server.as_ref(),
            CallDetails::Retell(_) => None,
        }
    }

    /// The request of the agent's `number`th tool call on the call (from 1).
    pub(crate) fn tool_call(
        &self,
        facts: &CallFacts,
        name: &str,
        args: &Map<String, Value>,
        number: u32,
    ) -> ToolCall {
        match &self.details {
            CallDetails::Retell(request) => retell::tool_call(self, request, facts, name, args),
            // Vapi sends the arguments as an object or as JSON text:
            // alternate, so that a backend must read both.
            CallDetails::Vapi(request) => {
                vapi::tool_call(self, request, facts, name, args, number.is_multiple_of(2))
            }
        }
    }
}

/// One provider event about a call, before it is encoded.
pub(crate) struct ProviderEvent {
    /// `call_ended`, `status-update:ringing`, `end-of-call-report`, ...
    pub name: String,
    pub body: Value,
}
