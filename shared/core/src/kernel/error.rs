//! The domain's errors. Every one of them is something a caller can act on; the
//! service layer maps each kind to one HTTP status in one place.

use thiserror::Error;

/// A value that does not satisfy its type's rules, with the field it came from.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {reason}")]
pub struct Invalid {
    pub field: String,
    pub reason: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Error)]
pub enum Error {
    /// The request is well-formed but a field breaks a rule (422).
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The request cannot be read at all: malformed CSV, bad JSON (400).
    #[error("{0}")]
    Malformed(String),
    /// The body is larger than we accept (413).
    #[error("{0}")]
    TooLarge(String),
    /// No credentials, or not valid ones (401).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// No such thing for this tenant (404). Another tenant's thing is also "not found".
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A conflicting write won (409): the slug is taken, the state moved on.
    #[error("{0}")]
    Conflict(String),
    /// The store refused a change set, and why (409 where it reaches a caller).
    #[error("the write was refused: {0}")]
    Refused(#[from] crate::write::Refused),
    /// A state machine refused a transition (409).
    #[error(transparent)]
    Transition(#[from] crate::calling::lead::IllegalTransition),
    /// A dependency failed in a way a retry can fix (503).
    #[error("{0}")]
    Unavailable(String),
    /// Anything else: a bug or an unexpected dependency answer (500).
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
