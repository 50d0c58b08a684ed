//! Misbehaviour on demand: forced create-call responses and webhook delivery modes.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::is_e164;
use crate::provider::Provider;

/// What the next create-call request answers instead of the normal flow.
/// `{"status": 429}`, `{"status": 500, "times": 3}`, `{"delay_ms": 20000}`,
/// `{"delay_ms": 20000, "status": 503}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForcedResponse {
    /// Answer this status (400–599) with a provider-style error body. Without
    /// it the request is handled normally after the delay (the call may then be
    /// placed although the client gave up waiting, as with a slow provider).
    pub status: Option<u16>,
    /// Real milliseconds (not scaled) to wait before answering.
    pub delay_ms: u64,
    /// Replaces the provider-style error body.
    pub body: Option<Value>,
    /// Extra response headers, e.g. `{"retry-after": "2"}`.
    pub headers: BTreeMap<String, String>,
    /// How many consecutive requests this answers.
    pub times: u32,
    /// Messaging sends only: the message is accepted, recorded and played
    /// out first, then answered with `status` (or after `delay_ms`), as when
    /// the provider took it but the answer got lost.
    pub after_accept: bool,
}

impl Default for ForcedResponse {
    fn default() -> Self {
        ForcedResponse {
            status: None,
            delay_ms: 0,
            body: None,
            headers: BTreeMap::new(),
            times: 1,
            after_accept: false,
        }
    }
}

impl ForcedResponse {
    pub fn status(status: u16) -> Self {
        ForcedResponse {
            status: Some(status),
            ..ForcedResponse::default()
        }
    }

    pub fn delay_ms(delay_ms: u64) -> Self {
        ForcedResponse {
            delay_ms,
            ..ForcedResponse::default()
        }
    }

    pub fn times(self, times: u32) -> Self {
        ForcedResponse { times, ..self }
    }

    /// Accept the message first, then answer so (messaging sends only).
    pub fn after_accept(self) -> Self {
        ForcedResponse {
            after_accept: true,
            ..self
        }
    }

    /// A status within 400–599 and at least one time.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if let Some(status) = self.status
            && !(400..=599).contains(&status)
        {
            return Err(format!("a forced status must be 400-599, got {status}"));
        }
        if self.times == 0 {
            return Err("times must be at least 1".into());
        }
        Ok(())
    }
}

/// How webhooks are delivered. `{"duplicate": true}`, `{"reorder": true}`,
/// `{"delay_ms": 1500}`, `{"drop": true}`, `{"drop_final": true}`; all off by
/// default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryFaults {
    /// Every event is delivered twice.
    pub duplicate: bool,
    /// The analysis arrives before the end: Retell `call_analyzed` before
    /// `call_ended`, Vapi `end-of-call-report` before `status-update` `ended`.
    pub reorder: bool,
    /// Real milliseconds (not scaled) added before every delivery.
    pub delay_ms: u64,
    /// Terminal events are never delivered: the call looks stuck.
    pub drop: bool,
    /// The final events (Retell `call_ended`, `call_analyzed`; Vapi
    /// `status-update` `ended`, `end-of-call-report`) are never delivered,
    /// while the call plays out: get-call shows it ended and analysed.
    pub drop_final: bool,
}

/// One `POST /_sim/faults` request:
/// `{"provider": "retell", "to": "+14155550100", "create_call": [{"status": 429}],
///   "webhooks": {"duplicate": true}}`.
/// With `to`, the faults apply to calls to that number only (tests sharing a
/// simulator stay out of each other's way); without it, to every call of the
/// provider that has no faults of its own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRequest {
    pub provider: Provider,
    #[serde(default)]
    pub to: Option<String>,
    /// Appended to the queue of forced create-call responses.
    #[serde(default)]
    pub create_call: Vec<ForcedResponse>,
    /// Replaces the delivery mode.
    #[serde(default)]
    pub webhooks: Option<DeliveryFaults>,
}

impl FaultRequest {
    pub fn new(provider: Provider) -> Self {
        FaultRequest {
            provider,
            to: None,
            create_call: Vec::new(),
            webhooks: None,
        }
    }

    pub fn to(self, number: &str) -> Self {
        FaultRequest {
            to: Some(number.to_owned()),
            ..self
        }
    }

    pub fn create_call(mut self, response: ForcedResponse) -> Self {
        self.create_call.push(response);
        self
    }

    pub fn webhooks(self, webhooks: DeliveryFaults) -> Self {
        FaultRequest {
            webhooks: Some(webhooks),
            ..self
        }
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if let Some(to) = &self.to
            && !is_e164(to)
        {
            return Err(format!("to must be an E.164 number, got {to:?}"));
        }
        for forced in &self.create_call {
            forced.validate()?;
            if forced.after_accept {
                return Err("after_accept applies to messaging sends only".into());
            }
        }
        Ok(())
    }
}

/// The faults set on one provider account.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ProviderFaults {
    pub create_call: VecDeque<ForcedResponse>,
    pub create_call_by_number: BTreeMap<String, VecDeque<ForcedResponse>>,
    pub webhooks: DeliveryFaults,
    pub webhooks_by_number: BTreeMap<String, DeliveryFaults>,
}

impl ProviderFaults {
    pub(crate) fn apply(&mut self, request: FaultRequest) {
        let queue = match &request.to {
            Some(to) => self.create_call_by_number.entry(to.clone()).or_default(),
            None => &mut self.create_call,
        };
        queue.extend(request.create_call);
        if let Some(webhooks) = request.webhooks {
            match request.to {
                Some(to) => {
                    self.webhooks_by_number.insert(to, webhooks);
                }
                None => self.webhooks = webhooks,
            }
        }
    }

    /// Takes the forced response for the next request to `to`: the number's
    /// own queue first, then the provider's.
    pub(crate) fn next_forced(&mut self, to: Option<&str>) -> Option<ForcedResponse> {
        let own = to.and_then(|to| self.create_call_by_number.get_mut(to));
        let queue = match own {
            Some(queue) if !queue.is_empty() => queue,
            _ => &mut self.create_call,
        };
        let front = queue.front_mut()?;
        if front.times > 1 {
            front.times -= 1;
            Some(front.clone())
        } else {
            queue.pop_front()
        }
    }

    pub(crate) fn webhooks_for(&self, to: &str) -> DeliveryFaults {
        self.webhooks_by_number
            .get(to)
            .copied()
            .unwrap_or(self.webhooks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_uses_its_own_queue_first_then_the_providers() {
        let mut faults = ProviderFaults::default();
        faults.apply(FaultRequest::new(Provider::Retell).create_call(ForcedResponse::status(500)));
        faults.apply(
            FaultRequest::new(Provider::Retell)
                .to("+14155550100")
                .create_call(ForcedResponse::status(429).times(2)),
        );
        let next = |faults: &mut ProviderFaults, to| faults.next_forced(to).and_then(|f| f.status);
        assert_eq!(next(&mut faults, Some("+14155550100")), Some(429));
        assert_eq!(next(&mut faults, Some("+14155550100")), Some(429));
        assert_eq!(next(&mut faults, Some("+14155550100")), Some(500));
        assert_eq!(next(&mut faults, Some("+14155550100")), None);
        assert_eq!(next(&mut faults, None), None);
    }

    #[test]
    fn a_fault_request_is_checked() {
        let bad_status = FaultRequest::new(Provider::Vapi).create_call(ForcedResponse::status(201));
        assert!(bad_status.validate().is_err());
        assert!(
            FaultRequest::new(Provider::Vapi)
                .to("555")
                .validate()
                .is_err()
        );
        let json = serde_json::json!({"provider": "vapi", "webhooks": {"dupe": true}});
        assert!(serde_json::from_value::<FaultRequest>(json).is_err());
    }
}
