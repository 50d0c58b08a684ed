//! How a simulated call plays out: the outcome, how long it rings and how
//! long the conversation lasts.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What a call comes to. Serialized as `{"outcome": "<snake_case>", ...}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    AppointmentSet,
    /// The lead asks to be called back this long after the call ends.
    CallbackRequested {
        #[serde(default = "default_callback_in_seconds")]
        callback_in_seconds: u64,
    },
    NotInterested,
    DoNotCall,
    Qualified,
    Potential,
    NotQualified,
    NoAnswer,
    Busy,
    Voicemail,
    Failed,
    /// The create-call request itself is refused (400).
    InvalidNumber,
}

fn default_callback_in_seconds() -> u64 {
    24 * 3600
}

/// Who hung up a conversation that took place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HungUp {
    Agent,
    Lead,
}

impl Outcome {
    /// The lead picked up and talked with the agent.
    pub fn reached(self) -> bool {
        self.analysis_label().is_some()
    }

    /// The line connected: a conversation or a voicemail box.
    pub fn connects(self) -> bool {
        self.reached() || self == Outcome::Voicemail
    }

    /// The `outcome` value the agent's analysis states, by leadline's convention.
    pub fn analysis_label(self) -> Option<&'static str> {
        Some(match self {
            Outcome::AppointmentSet => "appointment_set",
            Outcome::CallbackRequested { .. } => "callback_requested",
            Outcome::NotInterested => "not_interested",
            Outcome::DoNotCall => "do_not_call",
            Outcome::Qualified => "qualified",
            Outcome::Potential => "potential",
            Outcome::NotQualified => "not_qualified",
            _ => return None,
        })
    }

    /// A lead who wants nothing hangs up; otherwise the agent wraps up.
    pub(crate) fn hung_up_by(self) -> HungUp {
        match self {
            Outcome::NotInterested | Outcome::DoNotCall => HungUp::Lead,
            _ => HungUp::Agent,
        }
    }
}

/// The script of one call. JSON: `{"outcome": "appointment_set", "talk_seconds": 150,
/// "ring_seconds": 8}`, plus `"callback_in_seconds"` or `"callback_phrase"` for
/// `callback_requested`, `"booking"` for `appointment_set`, `"tools"` for a
/// call that reaches the lead, and `"stuck": true` for a call that never ends.
/// Omitted durations take the outcome's typical ones.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ScriptSpec")]
pub struct Script {
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The reported length of the conversation (0 when the line never connects).
    pub talk_seconds: u32,
    /// How long the phone rings before it connects or the dial gives up.
    pub ring_seconds: u32,
    /// For `callback_requested`: the lead named the time in words ("Tuesday
    /// at 3"); the analysis states it as `callback_time`, without `callback_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_phrase: Option<String>,
    /// The call connects and then never ends: no end or analysis, the
    /// provider keeps reporting it in progress, and it holds its slot.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stuck: bool,
    /// Functions the agent calls on the backend, in order, once the lead is
    /// on the line (before the booking's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolStep>,
    /// For `appointment_set`: the agent books through the backend's
    /// `check_availability` and `book_appointment` functions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking: Option<ScriptedBooking>,
}

/// One function call of the agent: `{"name": "get_business_hours", "args": {}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolStep {
    pub name: String,
    #[serde(default)]
    pub args: Map<String, Value>,
}

impl ToolStep {
    pub fn new(name: impl Into<String>, args: Map<String, Value>) -> Self {
        ToolStep {
            name: name.into(),
            args,
        }
    }
}

/// The appointment the lead agrees to: `{"service": "cleaning", "name":
/// "Sam Lee", "email": "sam.lee@example.com", "date": "tomorrow"}` (name,
/// email and date optional). The agent asks for the service's availability
/// (on `date` when given), books the first slot offered, and if that one is
/// gone, the first alternative.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedBooking {
    pub service: String,
    #[serde(default = "default_attendee_name")]
    pub name: String,
    #[serde(default = "default_attendee_email")]
    pub email: String,
    /// The day the lead prefers, passed as `check_availability`'s `date`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
}

fn default_attendee_name() -> String {
    "Sam Lee".into()
}

fn default_attendee_email() -> String {
    "sam.lee@example.com".into()
}

impl ScriptedBooking {
    pub fn new(service: impl Into<String>) -> Self {
        ScriptedBooking {
            service: service.into(),
            name: default_attendee_name(),
            email: default_attendee_email(),
            date: None,
        }
    }
}

#[derive(Deserialize)]
struct ScriptSpec {
    #[serde(flatten)]
    outcome: Outcome,
    talk_seconds: Option<u32>,
    ring_seconds: Option<u32>,
    callback_phrase: Option<String>,
    #[serde(default)]
    stuck: bool,
    #[serde(default)]
    tools: Vec<ToolStep>,
    booking: Option<ScriptedBooking>,
}

impl TryFrom<ScriptSpec> for Script {
    type Error = String;

    fn try_from(spec: ScriptSpec) -> Result<Self, String> {
        let is_callback = matches!(spec.outcome, Outcome::CallbackRequested { .. });
        if spec.callback_phrase.is_some() && !is_callback {
            return Err("callback_phrase is only for the callback_requested outcome".into());
        }
        if spec
            .callback_phrase
            .as_deref()
            .is_some_and(|p| p.trim().is_empty())
        {
            return Err("callback_phrase must not be empty".into());
        }
        if !spec.tools.is_empty() && !spec.outcome.reached() {
            return Err("tools are only for outcomes that reach the lead".into());
        }
        if spec.tools.iter().any(|step| step.name.trim().is_empty()) {
            return Err("a tool step needs a name".into());
        }
        if let Some(booking) = &spec.booking {
            if spec.outcome != Outcome::AppointmentSet {
                return Err("booking is only for the appointment_set outcome".into());
            }
            if booking.service.trim().is_empty() {
                return Err("booking.service must not be empty".into());
            }
        }
        let typical = Script::typical(spec.outcome);
        Ok(Script {
            outcome: spec.outcome,
            talk_seconds: if spec.outcome.connects() {
                spec.talk_seconds.unwrap_or(typical.talk_seconds)
            } else {
                0
            },
            ring_seconds: spec.ring_seconds.unwrap_or(typical.ring_seconds),
            callback_phrase: spec.callback_phrase,
            stuck: spec.stuck,
            tools: spec.tools,
            booking: spec.booking,
        })
    }
}

impl Script {
    /// The outcome with durations typical of it.
    pub fn typical(outcome: Outcome) -> Self {
        let (talk_seconds, ring_seconds) = match outcome {
            Outcome::AppointmentSet => (150, 8),
            Outcome::CallbackRequested { .. } => (75, 7),
            Outcome::NotInterested => (35, 6),
            Outcome::DoNotCall => (20, 5),
            Outcome::Qualified => (180, 9),
            Outcome::Potential => (110, 8),
            Outcome::NotQualified => (60, 7),
            Outcome::NoAnswer => (0, 30),
            Outcome::Busy => (0, 4),
            Outcome::Voicemail => (25, 20),
            Outcome::Failed => (0, 2),
            Outcome::InvalidNumber => (0, 0),
        };
        Script {
            outcome,
            talk_seconds,
            ring_seconds,
            callback_phrase: None,
            stuck: false,
            tools: Vec::new(),
            booking: None,
        }
    }

    pub fn talk_seconds(self, seconds: u32) -> Self {
        Script {
            talk_seconds: if self.outcome.connects() { seconds } else { 0 },
            ..self
        }
    }

    pub fn ring_seconds(self, seconds: u32) -> Self {
        Script {
            ring_seconds: seconds,
            ..self
        }
    }

    /// The lead names the callback time in words (used by `callback_requested` only).
    pub fn callback_phrase(self, phrase: impl Into<String>) -> Self {
        Script {
            callback_phrase: Some(phrase.into()),
            ..self
        }
    }

    /// The call connects and never ends.
    pub fn stuck(self) -> Self {
        Script {
            stuck: true,
            ..self
        }
    }

    /// The agent also calls this function (used by outcomes that reach the lead only).
    pub fn tool(mut self, step: ToolStep) -> Self {
        self.tools.push(step);
        self
    }

    /// The agent books this appointment (used by `appointment_set` only).
    pub fn booking(self, booking: ScriptedBooking) -> Self {
        Script {
            booking: Some(booking),
            ..self
        }
    }

    /// Whether the agent calls the backend's functions during the call.
    pub(crate) fn uses_tools(&self) -> bool {
        !self.tools.is_empty() || self.booking.is_some()
    }
}

/// The script of a number nobody scripted explicitly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultScript {
    /// Every number gets this script.
    Always(Script),
    /// A hash of the number picks one script, in proportion to the weights, and
    /// varies its durations by up to ±30 %: the same number always plays the same way.
    Mix(Vec<WeightedScript>),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightedScript {
    pub weight: u32,
    pub script: Script,
}

impl Default for DefaultScript {
    fn default() -> Self {
        DefaultScript::realistic_mix()
    }
}

impl DefaultScript {
    /// Outbound lead calling as it goes: a quarter does not answer, one in seven
    /// goes to voicemail, about half the calls reach the lead.
    pub fn realistic_mix() -> Self {
        let weighted = |weight, outcome| WeightedScript {
            weight,
            script: Script::typical(outcome),
        };
        DefaultScript::Mix(vec![
            weighted(15, Outcome::AppointmentSet),
            weighted(
                10,
                Outcome::CallbackRequested {
                    callback_in_seconds: default_callback_in_seconds(),
                },
            ),
            weighted(12, Outcome::NotInterested),
            weighted(2, Outcome::DoNotCall),
            weighted(5, Outcome::Qualified),
            weighted(5, Outcome::Potential),
            weighted(4, Outcome::NotQualified),
            weighted(25, Outcome::NoAnswer),
            weighted(5, Outcome::Busy),
            weighted(15, Outcome::Voicemail),
            weighted(2, Outcome::Failed),
        ])
    }

    /// The script of `number`; deterministic.
    pub fn pick(&self, number: &str) -> Script {
        match self {
            DefaultScript::Always(script) => script.clone(),
            DefaultScript::Mix(choices) => {
                let hash = fnv1a(number.as_bytes());
                let total: u64 = choices.iter().map(|c| u64::from(c.weight)).sum();
                if total == 0 {
                    return Script::typical(Outcome::NoAnswer);
                }
                let mut point = hash % total;
                let chosen = choices
                    .iter()
                    .find(|c| {
                        let hit = point < u64::from(c.weight);
                        point = point.saturating_sub(u64::from(c.weight));
                        hit
                    })
                    .map_or(Script::typical(Outcome::NoAnswer), |c| c.script.clone());
                let percent = 70 + (hash >> 40) % 61;
                let vary = |seconds: u32| (u64::from(seconds) * percent / 100) as u32;
                Script {
                    talk_seconds: vary(chosen.talk_seconds),
                    ring_seconds: vary(chosen.ring_seconds),
                    ..chosen
                }
            }
        }
    }
}

/// FNV-1a, 64 bits: stable across platforms and Rust versions, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_script_reads_its_json_and_fills_typical_durations() {
        let script: Script = serde_json::from_value(json!({"outcome": "qualified"})).unwrap();
        assert_eq!(script, Script::typical(Outcome::Qualified));
        let callback: Script = serde_json::from_value(json!({
            "outcome": "callback_requested", "callback_in_seconds": 3600,
            "talk_seconds": 40, "ring_seconds": 3
        }))
        .unwrap();
        assert_eq!(
            callback.outcome,
            Outcome::CallbackRequested {
                callback_in_seconds: 3600
            }
        );
        assert_eq!((callback.talk_seconds, callback.ring_seconds), (40, 3));
        let round_trip: Script =
            serde_json::from_value(serde_json::to_value(&callback).unwrap()).unwrap();
        assert_eq!(round_trip, callback);
        assert!(serde_json::from_value::<Script>(json!({"outcome": "maybe"})).is_err());
    }

    #[test]
    fn a_callback_may_be_named_in_words_and_any_call_may_be_stuck() {
        let json = json!({"outcome": "callback_requested", "callback_phrase": "Tuesday at 3", "stuck": true});
        let script: Script = serde_json::from_value(json).unwrap();
        assert_eq!(script.callback_phrase.as_deref(), Some("Tuesday at 3"));
        assert!(script.stuck);
        let round_trip: Script =
            serde_json::from_value(serde_json::to_value(&script).unwrap()).unwrap();
        assert_eq!(round_trip, script);
        assert_eq!(
            serde_json::to_value(Script::typical(Outcome::Busy)).unwrap(),
            json!({"outcome": "busy", "talk_seconds": 0, "ring_seconds": 4}),
            "the options are left out when unused"
        );
        for refused in [
            json!({"outcome": "appointment_set", "callback_phrase": "Tuesday at 3"}),
            json!({"outcome": "callback_requested", "callback_phrase": " "}),
            json!({"outcome": "busy", "stuck": "yes"}),
        ] {
            assert!(
                serde_json::from_value::<Script>(refused.clone()).is_err(),
                "{refused}"
            );
        }
    }

    #[test]
    fn an_appointment_may_be_booked_through_the_tools() {
        let json = json!({
            "outcome": "appointment_set",
            "booking": {"service": "cleaning"},
            "tools": [{"name": "get_business_hours"}, {"name": "lookup", "args": {"q": 1}}],
        });
        let script: Script = serde_json::from_value(json).unwrap();
        assert_eq!(script.booking, Some(ScriptedBooking::new("cleaning")));
        assert_eq!(script.booking.as_ref().unwrap().name, "Sam Lee");
        assert_eq!(script.tools[0].args, Map::new());
        assert_eq!(script.tools[1].args["q"], 1);
        assert!(script.uses_tools());
        let round_trip: Script =
            serde_json::from_value(serde_json::to_value(&script).unwrap()).unwrap();
        assert_eq!(round_trip, script);
        let qualified: Script =
            serde_json::from_value(json!({"outcome": "qualified", "tools": [{"name": "x"}]}))
                .unwrap();
        assert!(qualified.booking.is_none() && qualified.uses_tools());
        assert!(!Script::typical(Outcome::AppointmentSet).uses_tools());
        for refused in [
            json!({"outcome": "qualified", "booking": {"service": "cleaning"}}),
            json!({"outcome": "appointment_set", "booking": {"service": " "}}),
            json!({"outcome": "appointment_set", "booking": {"service": "x", "when": "now"}}),
            json!({"outcome": "appointment_set", "booking": {}}),
            json!({"outcome": "voicemail", "tools": [{"name": "x"}]}),
            json!({"outcome": "qualified", "tools": [{"name": ""}]}),
            json!({"outcome": "qualified", "tools": [{"name": "x", "args": [1]}]}),
        ] {
            assert!(
                serde_json::from_value::<Script>(refused.clone()).is_err(),
                "{refused}"
            );
        }
    }

    #[test]
    fn a_call_that_never_connects_has_no_talk_time() {
        let script: Script =
            serde_json::from_value(json!({"outcome": "busy", "talk_seconds": 60})).unwrap();
        assert_eq!(script.talk_seconds, 0);
    }

    #[test]
    fn the_mix_is_deterministic_and_gives_every_outcome() {
        let mix = DefaultScript::realistic_mix();
        assert_eq!(mix.pick("+14155550100"), mix.pick("+14155550100"));
        let mut seen = std::collections::HashSet::new();
        let mut reached = 0;
        for i in 0..2000 {
            let script = mix.pick(&format!("+1415555{i:04}"));
            reached += usize::from(script.outcome.reached());
            seen.insert(std::mem::discriminant(&script.outcome));
        }
        assert_eq!(seen.len(), 11, "all outcomes but invalid_number");
        assert!((800..1300).contains(&reached), "{reached}");
    }
}
