//! What a tool call answers, and the record that keeps a changing call's answer.

use super::*;

/// What the agent hears back: an answer (an object whose `say` is the
/// sentence to speak) or an error it can speak.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolReply {
    Answer(Map<String, Value>),
    Error(String),
}

impl ToolReply {
    pub(super) fn say(sentence: impl Into<String>, data: Value) -> Self {
        let mut object = Map::new();
        object.insert("say".into(), Value::String(sentence.into()));
        if let Value::Object(data) = data {
            object.extend(data);
        }
        ToolReply::Answer(object)
    }

    pub(super) fn error(sentence: impl Into<String>) -> Self {
        ToolReply::Error(sentence.into())
    }

    pub fn is_error(&self) -> bool {
        matches!(self, ToolReply::Error(_))
    }

    /// The sentence to speak.
    pub fn spoken(&self) -> &str {
        match self {
            ToolReply::Answer(object) => object.get("say").and_then(Value::as_str).unwrap_or(""),
            ToolReply::Error(sentence) => sentence,
        }
    }
}

/// A tool call that changed something (a booking, a move, a cancellation),
/// kept with the answer it got so a redelivery gets the same answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolRecord {
    /// `<provider call id>#<tool call id>`.
    pub key: String,
    pub tenant: TenantId,
    pub name: String,
    pub reply: ToolReply,
    pub at: Timestamp,
}
