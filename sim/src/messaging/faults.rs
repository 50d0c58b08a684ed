//! Misbehaviour of the messaging providers on demand: forced send answers
//! and webhook delivery modes, per channel and optionally per lead.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::{Channel, normalize_address};
use crate::faults::{DeliveryFaults, ForcedResponse};

/// One `POST /_sim/messaging/faults` request:
/// `{"channel": "sms", "to": "+14155550100", "send": [{"status": 503,
/// "after_accept": true}], "webhooks": {"duplicate": true}}`. With `to`
/// (the lead's address), the faults apply to messages to and from that lead
/// only; without it, to every message of the channel with no faults of its own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagingFaultRequest {
    pub channel: Channel,
    #[serde(default)]
    pub to: Option<String>,
    /// Appended to the queue of forced send answers.
    #[serde(default)]
    pub send: Vec<ForcedResponse>,
    /// Replaces the webhook delivery mode: `duplicate` (every webhook twice),
    /// `reorder` (a message's statuses held, then delivered last first),
    /// `delay_ms`, `drop` (no status or event webhooks), `drop_final` (the
    /// last status or event of each message never sent).
    #[serde(default)]
    pub webhooks: Option<DeliveryFaults>,
}

impl MessagingFaultRequest {
    pub fn new(channel: Channel) -> Self {
        MessagingFaultRequest {
            channel,
            to: None,
            send: Vec::new(),
            webhooks: None,
        }
    }

    pub fn to(self, address: &str) -> Self {
        MessagingFaultRequest {
            to: Some(address.to_owned()),
            ..self
        }
    }

    pub fn send(mut self, response: ForcedResponse) -> Self {
        self.send.push(response);
        self
    }

    pub fn webhooks(self, webhooks: DeliveryFaults) -> Self {
        MessagingFaultRequest {
            webhooks: Some(webhooks),
            ..self
        }
    }

    /// Checks the request and normalizes its address.
    pub(crate) fn validated(mut self) -> Result<Self, String> {
        if let Some(to) = &self.to {
            self.to = Some(normalize_address(to)?);
        }
        for forced in &self.send {
            forced.validate()?;
            if forced.after_accept && forced.status.is_none() && forced.delay_ms == 0 {
                return Err("after_accept needs a status or a delay_ms".into());
            }
        }
        Ok(self)
    }
}

/// The faults set on one channel.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ChannelFaults {
    pub send: VecDeque<ForcedResponse>,
    pub send_by_address: BTreeMap<String, VecDeque<ForcedResponse>>,
    pub webhooks: DeliveryFaults,
    pub webhooks_by_address: BTreeMap<String, DeliveryFaults>,
}

impl ChannelFaults {
    pub(crate) fn apply(&mut self, request: MessagingFaultRequest) {
        let queue = match &request.to {
            Some(to) => self.send_by_address.entry(to.clone()).or_default(),
            None => &mut self.send,
        };
        queue.extend(request.send);
        if let Some(webhooks) = request.webhooks {
            match request.to {
                Some(to) => {
                    self.webhooks_by_address.insert(to, webhooks);
                }
                None => self.webhooks = webhooks,
            }
        }
    }

    /// Takes the forced answer of the next send to `to`: the lead's own
    /// queue first, then the channel's.
    pub(crate) fn next_forced(&mut self, to: Option<&str>) -> Option<ForcedResponse> {
        let own = to.and_then(|to| self.send_by_address.get_mut(to));
        let queue = match own {
            Some(queue) if !queue.is_empty() => queue,
            _ => &mut self.send,
        };
        let front = queue.front_mut()?;
        if front.times > 1 {
            front.times -= 1;
            Some(front.clone())
        } else {
            queue.pop_front()
        }
    }

    pub(crate) fn webhooks_for(&self, lead: &str) -> DeliveryFaults {
        self.webhooks_by_address
            .get(lead)
            .copied()
            .unwrap_or(self.webhooks)
    }
}

/// The faults of every channel.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MessagingFaults {
    pub sms: ChannelFaults,
    pub email: ChannelFaults,
    pub whatsapp: ChannelFaults,
}

impl MessagingFaults {
    pub(crate) fn get_mut(&mut self, channel: Channel) -> &mut ChannelFaults {
        match channel {
            Channel::Sms => &mut self.sms,
            Channel::Email => &mut self.email,
            Channel::Whatsapp => &mut self.whatsapp,
        }
    }

    pub(crate) fn get(&self, channel: Channel) -> &ChannelFaults {
        match channel {
            Channel::Sms => &self.sms,
            Channel::Email => &self.email,
            Channel::Whatsapp => &self.whatsapp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lead_uses_its_own_queue_first_then_the_channels() {
        let mut faults = ChannelFaults::default();
        faults.apply(MessagingFaultRequest::new(Channel::Sms).send(ForcedResponse::status(500)));
        let own = MessagingFaultRequest::new(Channel::Sms)
            .to("+14155550100")
            .send(ForcedResponse::status(429).times(2))
            .validated()
            .unwrap();
        faults.apply(own);
        let next = |faults: &mut ChannelFaults, to| faults.next_forced(to).and_then(|f| f.status);
        assert_eq!(next(&mut faults, Some("+14155550100")), Some(429));
        assert_eq!(next(&mut faults, Some("+14155550100")), Some(429));
        assert_eq!(next(&mut faults, Some("+14155550100")), Some(500));
        assert_eq!(next(&mut faults, None), None);
    }

    #[test]
    fn a_fault_request_is_checked() {
        let request = MessagingFaultRequest::new(Channel::Email).to("Ada@Example.com");
        assert_eq!(
            request.validated().unwrap().to.as_deref(),
            Some("ada@example.com")
        );
        assert!(
            MessagingFaultRequest::new(Channel::Sms)
                .to("555")
                .validated()
                .is_err()
        );
        let empty = ForcedResponse::default().after_accept();
        assert!(
            MessagingFaultRequest::new(Channel::Sms)
                .send(empty)
                .validated()
                .is_err()
        );
        let bad = ForcedResponse::status(302);
        assert!(
            MessagingFaultRequest::new(Channel::Sms)
                .send(bad)
                .validated()
                .is_err()
        );
    }
}
