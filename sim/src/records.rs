//! What the simulator saw and did, for tests to inspect: create-call
//! requests, webhook deliveries, the agents' tool calls, and statistics.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::call::CallPhase;
use crate::provider::Provider;
use crate::script::Script;

/// Why a create-call request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionClass {
    /// Missing or wrong API key (401).
    Unauthorized,
    /// The body broke the API's rules (400).
    BadRequest,
    /// The destination's script says the number is invalid (400).
    InvalidNumber,
    /// The account already had `max_concurrent_calls` calls in progress (429).
    ConcurrencyLimit,
    /// A forced response from the fault queue.
    Forced,
}

impl RejectionClass {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectionClass::Unauthorized => "unauthorized",
            RejectionClass::BadRequest => "bad_request",
            RejectionClass::InvalidNumber => "invalid_number",
            RejectionClass::ConcurrencyLimit => "concurrency_limit",
            RejectionClass::Forced => "forced",
        }
    }
}

/// One create-call request and how it was answered.
#[derive(Clone, Debug, Serialize)]
pub struct CallRequestRecord {
    pub seq: usize,
    pub provider: Provider,
    pub received_at: Timestamp,
    /// The destination the body named (Retell `to_number`, Vapi `customer.number`).
    pub to: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
    pub rejection: Option<RejectionClass>,
    /// The body answered.
    pub response: Value,
    /// The accepted call's id.
    pub call_id: Option<String>,
    pub script: Option<Script>,
    /// Where the accepted call stands now.
    pub phase: Option<CallPhase>,
    /// The request body as JSON, or as a string when it was not JSON.
    pub body: Value,
    /// `authorization`, `content-type`, `user-agent`, `idempotency-key` when sent.
    pub headers: BTreeMap<String, String>,
    /// Milliseconds since the simulator started; the call's slot was taken then.
    #[serde(skip)]
    pub(crate) accepted_ms: Option<u64>,
    #[serde(skip)]
    pub(crate) released_ms: Option<u64>,
}

impl CallRequestRecord {
    pub const HEADERS_OF_INTEREST: [&'static str; 4] = [
        "authorization",
        "content-type",
        "user-agent",
        "idempotency-key",
    ];
}

/// How one delivery attempt went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryResult {
    /// The receiver answered 2xx.
    Delivered,
    /// The receiver answered something else.
    Refused,
    /// No answer within the provider's timeout.
    Timeout,
    /// The connection failed.
    Unreachable,
    /// Not sent: the `drop` fault swallows terminal events.
    Dropped,
    /// Not sent: no webhook URL is configured.
    NoWebhookUrl,
}

/// One webhook delivery attempt.
#[derive(Clone, Debug, Serialize)]
pub struct DeliveryRecord {
    pub seq: usize,
    pub provider: Provider,
    pub call_id: String,
    pub to: String,
    /// Retell `call_started` | `call_ended` | `call_analyzed`; Vapi
    /// `status-update:<status>` | `end-of-call-report`.
    pub event: String,
    /// 1, or 2 for the second copy under the `duplicate` fault.
    pub copy: u8,
    /// 1 for the first try, then retries.
    pub attempt: u32,
    pub at: Timestamp,
    pub url: Option<String>,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    pub result: DeliveryResult,
    pub elapsed_ms: u64,
}

/// One function the agent called during a call, and what it got back.
#[derive(Clone, Debug, Serialize)]
pub struct ToolCallRecord {
    pub seq: usize,
    pub provider: Provider,
    pub call_id: String,
    pub to: String,
    /// The function: `check_availability`, `book_appointment`, ...
    pub name: String,
    pub args: Map<String, Value>,
    /// Vapi's id of the tool call (`call_…`); Retell has none.
    pub tool_call_id: Option<String>,
    pub url: Option<String>,
    /// The backend's HTTP status, when it answered.
    pub status: Option<u16>,
    /// What the function returned: a JSON object, or text that is not one
    /// (Retell: the body; Vapi: the `result`, parsed).
    pub answer: Option<Value>,
    /// Why the call failed: the function's `error`, an HTTP status, a
    /// timeout, or no URL to call.
    pub error: Option<String>,
    pub elapsed_ms: u64,
    pub at: Timestamp,
}

/// Which records a query wants; every field set must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub provider: Option<Provider>,
    pub to: Option<String>,
    pub call_id: Option<String>,
}

impl Filter {
    pub fn to(number: &str) -> Self {
        Filter {
            to: Some(number.to_owned()),
            ..Filter::default()
        }
    }

    pub fn provider(provider: Provider) -> Self {
        Filter {
            provider: Some(provider),
            ..Filter::default()
        }
    }

    pub(crate) fn matches(
        &self,
        provider: Provider,
        to: Option<&str>,
        call_id: Option<&str>,
    ) -> bool {
        self.provider.is_none_or(|p| p == provider)
            && self.to.as_deref().is_none_or(|t| Some(t) == to)
            && self.call_id.as_deref().is_none_or(|c| Some(c) == call_id)
    }
}

/// Counts over the create-call requests a filter selects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Create-call requests received.
    pub requests: usize,
    /// Calls accepted (201).
    pub placed: usize,
    /// Refused requests by class (`unauthorized`, `bad_request`,
    /// `invalid_number`, `concurrency_limit`, `forced`).
    pub rejected: BTreeMap<&'static str, usize>,
    /// Refused requests by HTTP status.
    pub rejected_by_status: BTreeMap<u16, usize>,
    /// Calls holding a slot now.
    pub in_flight: usize,
    /// The most calls that held a slot at once.
    pub max_in_flight: usize,
    /// The most calls placed within any one real second.
    pub max_call_starts_per_second: usize,
}

impl Stats {
    pub(crate) fn of<'a>(requests: impl IntoIterator<Item = &'a CallRequestRecord>) -> Stats {
        let mut stats = Stats::default();
        let mut slots = Vec::new();
        for request in requests {
            stats.requests += 1;
            if let Some(class) = request.rejection {
                *stats.rejected.entry(class.as_str()).or_default() += 1;
                *stats.rejected_by_status.entry(request.status).or_default() += 1;
            }
            if let Some(accepted) = request.accepted_ms {
                stats.placed += 1;
                stats.in_flight += usize::from(request.released_ms.is_none());
                slots.push((accepted, request.released_ms));
            }
        }
        stats.max_in_flight = max_overlap(&slots);
        let mut starts: Vec<u64> = slots.iter().map(|(start, _)| *start).collect();
        starts.sort_unstable();
        stats.max_call_starts_per_second = max_within_one_second(&starts);
        stats
    }
}

/// The most intervals `[start, end)` that overlap; `None` = still open.
fn max_overlap(slots: &[(u64, Option<u64>)]) -> usize {
    // At equal times a release comes before a take (false < true).
    let mut changes: Vec<(u64, bool)> = slots
        .iter()
        .flat_map(|&(start, end)| std::iter::once((start, true)).chain(end.map(|end| (end, false))))
        .collect();
    changes.sort_unstable();
    let (mut now, mut max) = (0usize, 0usize);
    for (_, take) in changes {
        if take {
            now += 1;
            max = max.max(now);
        } else {
            now = now.saturating_sub(1);
        }
    }
    max
}

/// The most of the sorted times within any window of 1000 ms.
pub(crate) fn max_within_one_second(sorted_ms: &[u64]) -> usize {
    let mut first = 0;
    let mut max = 0;
    for (last, &time) in sorted_ms.iter().enumerate() {
        while time - sorted_ms[first] >= 1000 {
            first += 1;
        }
        max = max.max(last - first + 1);
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_slots_are_counted_at_their_peak() {
        assert_eq!(max_overlap(&[]), 0);
        assert_eq!(max_overlap(&[(0, Some(10)), (10, Some(20))]), 1);
        assert_eq!(max_overlap(&[(0, Some(10)), (5, None), (6, Some(7))]), 3);
    }

    #[test]
    fn starts_are_counted_per_sliding_second() {
        assert_eq!(max_within_one_second(&[]), 0);
        assert_eq!(max_within_one_second(&[0, 999, 1000, 1500, 1998]), 4);
        assert_eq!(max_within_one_second(&[0, 2000, 4000]), 1);
    }
}
