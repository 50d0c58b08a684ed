//! The simulated messaging providers' state: accounts, opt-outs, rate
//! counters, WhatsApp windows, lead scripts, faults and records.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::faults::MessagingFaults;
use super::records::{MessageRecord, MessagingDeliveryRecord, SendRecord, StatusChange};
use super::{Channel, LeadScript};
use crate::config::SimConfig;

/// A lead's script, and whether its one reply was used.
#[derive(Clone, Debug)]
pub(crate) struct ScriptEntry {
    pub script: LeadScript,
    pub replied: bool,
}

/// Why SendGrid suppresses an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Suppression {
    Bounce,
    Block,
    Spam,
    Unsubscribe,
}

impl Suppression {
    /// The `reason` of the `dropped` event a later send gets.
    pub(crate) fn drop_reason(self) -> &'static str {
        match self {
            Suppression::Bounce => "Bounced Address",
            Suppression::Block => "Bounced Address",
            Suppression::Spam => "Spam Reporting Address",
            Suppression::Unsubscribe => "Unsubscribed Address",
        }
    }
}

pub(crate) struct Messaging {
    /// Bumped by every reset: work started before it records nothing after.
    pub generation: u64,
    pub webhook_urls: BTreeMap<Channel, Option<String>>,
    /// Twilio accounts: sid → Auth Token.
    pub twilio_accounts: BTreeMap<String, String>,
    /// Messaging Service sid → the number its messages come from.
    pub service_numbers: BTreeMap<String, String>,
    /// A Twilio number or Messaging Service → the account that sent from it last.
    pub sender_accounts: HashMap<String, String>,
    pub scripts: BTreeMap<String, ScriptEntry>,
    /// Twilio opt-outs: (lead, From number or Messaging Service sid).
    pub opt_outs: BTreeSet<(String, String)>,
    /// SendGrid's suppression list.
    pub suppressions: HashMap<String, Suppression>,
    /// Twilio senders' acceptances within the last second.
    pub rate: HashMap<String, VecDeque<Instant>>,
    /// WhatsApp: (phone_number_id, user's digits) → the user's last message,
    /// on the callback clock.
    pub windows: HashMap<(String, String), Timestamp>,
    /// WhatsApp templates accepted; none: any name.
    pub templates: Option<BTreeSet<String>>,
    /// WhatsApp phone_number_id → display_phone_number.
    pub display_numbers: HashMap<String, String>,
    pub faults: MessagingFaults,
    pub messages: Vec<MessageRecord>,
    pub requests: Vec<SendRecord>,
    pub deliveries: Vec<MessagingDeliveryRecord>,
}

impl Messaging {
    pub(crate) fn new(config: &SimConfig) -> Self {
        let webhook_urls = BTreeMap::from([
            (Channel::Sms, config.twilio_webhook_url.clone()),
            (Channel::Email, config.sendgrid_webhook_url.clone()),
            (Channel::Whatsapp, config.whatsapp_webhook_url.clone()),
        ]);
        Messaging {
            generation: 0,
            webhook_urls,
            twilio_accounts: BTreeMap::from([(
                config.twilio_account_sid.clone(),
                config.twilio_auth_token.clone(),
            )]),
            service_numbers: BTreeMap::new(),
            sender_accounts: HashMap::new(),
            scripts: BTreeMap::new(),
            opt_outs: BTreeSet::new(),
            suppressions: HashMap::new(),
            rate: HashMap::new(),
            windows: HashMap::new(),
            templates: None,
            display_numbers: HashMap::new(),
            faults: MessagingFaults::default(),
            messages: Vec::new(),
            requests: Vec::new(),
            deliveries: Vec::new(),
        }
    }

    /// Forgets scripts, opt-outs, suppressions, rate counters, windows,
    /// faults and records; keeps URLs, accounts, service numbers, templates.
    pub(crate) fn reset(&mut self) {
        self.generation += 1;
        self.sender_accounts.clear();
        self.scripts.clear();
        self.opt_outs.clear();
        self.suppressions.clear();
        self.rate.clear();
        self.windows.clear();
        self.faults = MessagingFaults::default();
        self.messages.clear();
        self.requests.clear();
        self.deliveries.clear();
    }

    pub(crate) fn webhook_url(&self, channel: Channel) -> Option<String> {
        self.webhook_urls.get(&channel).cloned().flatten()
    }

    /// The script of `lead`, if any.
    pub(crate) fn script(&self, lead: &str) -> Option<&LeadScript> {
        self.scripts.get(lead).map(|entry| &entry.script)
    }

    /// The reply the lead sends to a message just accepted on `channel`,
    /// taking it when it replies once only.
    pub(crate) fn take_reply(
        &mut self,
        lead: &str,
        channel: Channel,
    ) -> Option<super::ScriptedReply> {
        let entry = self.scripts.get_mut(lead)?;
        let reply = entry.script.reply.as_ref()?;
        let by_button = reply.button_payload.is_some();
        if reply.channel.is_some_and(|c| c != channel)
            || (by_button && channel != Channel::Whatsapp)
            || (entry.replied && !reply.repeat)
        {
            return None;
        }
        entry.replied = true;
        Some(reply.clone())
    }

    /// Counts a send from `sender` against `per_second`; `Err(seconds to
    /// wait)` when it is over.
    pub(crate) fn take_rate(
        &mut self,
        sender: &str,
        per_second: u32,
        now: Instant,
    ) -> Result<(), u64> {
        let window = self.rate.entry(sender.to_owned()).or_default();
        while window
            .front()
            .is_some_and(|at| now.duration_since(*at) >= Duration::from_secs(1))
        {
            window.pop_front();
        }
        if window.len() >= per_second as usize {
            let oldest = *window.front().expect("full");
            let wait = Duration::from_secs(1).saturating_sub(now.duration_since(oldest));
            return Err(wait.as_secs_f64().ceil().max(1.0) as u64);
        }
        window.push_back(now);
        Ok(())
    }

    /// Records a message; answers its sequence number.
    pub(crate) fn add_message(&mut self, mut record: MessageRecord) -> usize {
        record.seq = self.messages.len() + 1;
        self.messages.push(record);
        self.messages.len()
    }

    /// Moves a message to `status`; false once a reset forgot it.
    pub(crate) fn advance(
        &mut self,
        generation: u64,
        id: &str,
        lead: &str,
        status: &str,
        error_code: Option<i64>,
    ) -> bool {
        if generation != self.generation {
            return false;
        }
        let Some(message) = self
            .messages
            .iter_mut()
            .rev()
            .find(|m| m.id == id && m.lead == lead)
        else {
            return false;
        };
        message.status = status.to_owned();
        message.timeline.push(StatusChange {
            status: status.to_owned(),
            at: Timestamp::now(),
            error_code,
        });
        true
    }

    pub(crate) fn log_request(&mut self, mut record: SendRecord) {
        record.seq = self.requests.len() + 1;
        self.requests.push(record);
    }

    pub(crate) fn log_delivery(&mut self, generation: u64, mut record: MessagingDeliveryRecord) {
        if generation == self.generation {
            record.seq = self.deliveries.len() + 1;
            self.deliveries.push(record);
        }
    }

    /// The account a Twilio number (or service) belongs to: the one that
    /// sent from it last, else the default.
    pub(crate) fn account_of(&self, sender: &str, default: &str) -> String {
        self.sender_accounts
            .get(sender)
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    }

    /// The Messaging Service a number is the sender of, if any.
    pub(crate) fn service_of(&self, number: &str) -> Option<String> {
        self.service_numbers
            .iter()
            .find(|(_, n)| n.as_str() == number)
            .map(|(sid, _)| sid.clone())
    }

    /// Whether `lead` opted out of `from` (or of its Messaging Service).
    pub(crate) fn opted_out(&self, lead: &str, sender: &str) -> bool {
        let blocked = |sender: &str| {
            self.opt_outs
                .contains(&(lead.to_owned(), sender.to_owned()))
        };
        blocked(sender)
            || self
                .service_of(sender)
                .is_some_and(|service| blocked(&service))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_gets_its_rate_per_sliding_second() {
        let mut messaging = Messaging::new(&SimConfig::default());
        let start = Instant::now();
        assert_eq!(messaging.take_rate("+1", 2, start), Ok(()));
        assert_eq!(
            messaging.take_rate("+1", 2, start + Duration::from_millis(100)),
            Ok(())
        );
        assert_eq!(
            messaging.take_rate("+1", 2, start + Duration::from_millis(200)),
            Err(1)
        );
        assert_eq!(
            messaging.take_rate("+2", 2, start + Duration::from_millis(200)),
            Ok(())
        );
        assert_eq!(
            messaging.take_rate("+1", 2, start + Duration::from_millis(1000)),
            Ok(())
        );
        assert_eq!(
            messaging.take_rate("+1", 2, start + Duration::from_millis(1050)),
            Err(1)
        );
    }
}
