//! A tenant's messaging settings: its senders, templates, quiet hours and
//! the rules that send messages after a call. One item per tenant
//! (`MESSAGING`), read with every message the messenger sends.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::calling::lead::CallOutcome;
use crate::kernel::email::Email;
use crate::kernel::error::Invalid;
use crate::kernel::ids::TenantId;
use crate::kernel::phone::Phone;
use crate::kernel::time::{CallingWindow, LocalTime};
use crate::messaging::message::{Channel, MessagePurpose};
use crate::messaging::provider::{Account, InboundAddress, Sender};

/// The tenant's senders, one per channel.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Senders {
    /// A Twilio number (E.164) that sends and receives the tenant's SMS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_number: Option<Phone>,
    /// Or a Twilio Messaging Service (`MG…`), which then sends instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_from: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_name: Option<String>,
    /// The WhatsApp Business phone number id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp_number_id: Option<String>,
}

/// Which providers the tenant brought its own account for (the credentials
/// themselves are in Secrets Manager under the tenant id, never here).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnAccounts {
    #[serde(default)]
    pub twilio: bool,
    #[serde(default)]
    pub sendgrid: bool,
    #[serde(default)]
    pub whatsapp: bool,
}

/// An approved WhatsApp template: the variables its body parameters take,
/// in order, and its quick-reply buttons' payloads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhatsappTemplate {
    pub name: String,
    #[serde(default = "english")]
    pub language: String,
    #[serde(default)]
    pub params: Vec<String>,
    #[serde(default)]
    pub buttons: Vec<String>,
}

fn english() -> String {
    "en_US".into()
}

/// What a template says on each channel. `{first_name}`, `{business}`,
/// `{appointment_time}`, `{booking_link}` and the message's own values are
/// filled in; a variable without a value is left empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp: Option<WhatsappTemplate>,
}

/// Which outcomes of a call a rule answers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    AppointmentSet,
    CallbackRequested,
    Qualified,
    Potential,
    NotQualified,
    NotInterested,
    Completed,
    Voicemail,
    NoAnswer,
}

impl OutcomeKind {
    pub fn of(outcome: &CallOutcome) -> Option<Self> {
        Some(match outcome {
            CallOutcome::AppointmentSet => OutcomeKind::AppointmentSet,
            CallOutcome::CallbackRequested { .. } => OutcomeKind::CallbackRequested,
            CallOutcome::Qualified => OutcomeKind::Qualified,
            CallOutcome::Potential => OutcomeKind::Potential,
            CallOutcome::NotQualified => OutcomeKind::NotQualified,
            CallOutcome::NotInterested => OutcomeKind::NotInterested,
            CallOutcome::Completed => OutcomeKind::Completed,
            CallOutcome::Voicemail => OutcomeKind::Voicemail,
            CallOutcome::NoAnswer => OutcomeKind::NoAnswer,
            _ => return None,
        })
    }
}

/// After a call with one of `outcomes`, a message to the lead on `channel`
/// (email or WhatsApp) rendered from `template`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUpRule {
    pub outcomes: Vec<OutcomeKind>,
    pub channel: Channel,
    #[serde(default = "call_follow_up")]
    pub template: String,
}

fn call_follow_up() -> String {
    templates::CALL_FOLLOW_UP.into()
}

fn default_notify() -> Vec<OutcomeKind> {
    vec![OutcomeKind::Qualified, OutcomeKind::Potential]
}

fn default_language() -> String {
    "en".into()
}

fn default_sms_rate() -> u32 {
    1
}

fn default_true() -> bool {
    true
}

/// When SMS and WhatsApp may reach a lead, in the lead's local time.
pub fn default_quiet_hours() -> CallingWindow {
    CallingWindow {
        start: LocalTime::hm(8, 0),
        end: LocalTime::hm(21, 0),
        excluded_weekdays: Vec::new(),
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagingSettings {
    pub tenant: TenantId,
    #[serde(default)]
    pub senders: Senders,
    #[serde(default)]
    pub own_accounts: OwnAccounts,
    /// Messages a second the SMS sender may send (a Twilio long code: 1).
    #[serde(default = "default_sms_rate")]
    pub sms_per_second: u32,
    /// The hours SMS and WhatsApp may arrive (08:00–21:00 unless set).
    #[serde(default = "default_quiet_hours")]
    pub sending_hours: CallingWindow,
    /// Templates by name, overriding the built-in ones; a language's own
    /// under `<name>.<language>` (`call_fallback.es`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub templates: BTreeMap<String, Template>,
    /// The language of a lead whose import named none (`en` unless set).
    #[serde(default = "default_language")]
    pub language: String,
    /// Where team notifications and leads' free-text replies go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_email: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking_link: Option<String>,
    /// Messages to the lead after a call, by outcome.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub follow_up_rules: Vec<FollowUpRule>,
    /// Outcomes the team hears about by email.
    #[serde(default = "default_notify")]
    pub notify_team_on: Vec<OutcomeKind>,
    /// Whether the SMS sender's carrier answers STOP itself (Twilio's
    /// default opt-out handling): then leadline sends no confirmation of a
    /// single-word keyword.
    #[serde(default = "default_true")]
    pub carrier_confirms_opt_out: bool,
    #[serde(default)]
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
}

impl MessagingSettings {
    /// A tenant's settings before it set any: the defaults, no senders.
    pub fn new(tenant: TenantId) -> Self {
        Self {
            tenant,
            senders: Senders::default(),
            own_accounts: OwnAccounts::default(),
            sms_per_second: default_sms_rate(),
            sending_hours: default_quiet_hours(),
            templates: BTreeMap::new(),
            language: default_language(),
            team_email: None,
            help_text: None,
            booking_link: None,
            follow_up_rules: Vec::new(),
            notify_team_on: default_notify(),
            carrier_confirms_opt_out: true,
            version: 0,
            updated_at: None,
        }
    }

    /// The keys its inbound senders are claimed under, so a message to one
    /// of them finds the tenant ([`InboundAddress::key`]).
    pub fn sender_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        if let Some(number) = &self.senders.sms_number {
            keys.push(InboundAddress::Number(number.clone()).key());
        }
        if let Some(sid) = &self.senders.sms_service {
            keys.push(InboundAddress::MessagingService(sid.clone()).key());
        }
        if let Some(id) = &self.senders.whatsapp_number_id {
            keys.push(InboundAddress::WhatsappNumber(id.clone()).key());
        }
        keys
    }

    /// The sender of a channel, if the tenant has one.
    pub fn sender(&self, channel: Channel) -> Option<Sender> {
        match channel {
            Channel::Sms => match (&self.senders.sms_service, &self.senders.sms_number) {
                (Some(sid), _) => Some(Sender::TwilioService { sid: sid.clone() }),
                (None, Some(number)) => Some(Sender::TwilioNumber {
                    number: number.clone(),
                }),
                (None, None) => None,
            },
            Channel::Email => self.senders.email_from.as_ref().map(|from| Sender::Email {
                from: from.clone(),
                name: self.senders.email_name.clone(),
            }),
            Channel::Whatsapp => {
                self.senders
                    .whatsapp_number_id
                    .as_ref()
                    .map(|id| Sender::Whatsapp {
                        phone_number_id: id.clone(),
                    })
            }
        }
    }

    /// Whose account a channel's messages go through.
    pub fn account(&self, channel: Channel) -> Account {
        let own = match channel {
            Channel::Sms => self.own_accounts.twilio,
            Channel::Email => self.own_accounts.sendgrid,
            Channel::Whatsapp => self.own_accounts.whatsapp,
        };
        if own {
            Account::Tenant(self.tenant.clone())
        } else {
            Account::Deployment
        }
    }

    /// The template of that name: the tenant's, else the built-in one.
    pub fn template(&self, name: &str) -> Option<Template> {
        self.template_in(name, None)
    }

    /// The template of that name in the lead's language (else the tenant's):
    /// the tenant's `<name>.<language>` (`es` also serves `es-MX`), then its
    /// `<name>`, then the built-in one (English).
    pub fn template_in(&self, name: &str, language: Option<&str>) -> Option<Template> {
        let language = language.unwrap_or(&self.language);
        let primary = language.split('-').next().unwrap_or(language);
        [format!("{name}.{language}"), format!("{name}.{primary}")]
            .iter()
            .find_map(|key| self.templates.get(key))
            .or_else(|| self.templates.get(name))
            .cloned()
            .or_else(|| templates::builtin(name))
    }

    /// Checks what the API was given.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.sms_per_second == 0 || self.sms_per_second > 1000 {
            return Err(Invalid::new("sms_per_second", "must be between 1 and 1000"));
        }
        if let Some(sid) = &self.senders.sms_service
            && !(sid.len() == 34
                && sid.starts_with("MG")
                && sid[2..].bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(Invalid::new(
                "senders.sms_service",
                "a Twilio Messaging Service sid is MG followed by 32 hex digits",
            ));
        }
        if let Some(id) = &self.senders.whatsapp_number_id
            && (id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(Invalid::new(
                "senders.whatsapp_number_id",
                "a WhatsApp phone number id is digits",
            ));
        }
        for rule in &self.follow_up_rules {
            if rule.channel == Channel::Sms {
                return Err(Invalid::new(
                    "follow_up_rules",
                    "a follow-up after a call goes by email or WhatsApp",
                ));
            }
            if rule.outcomes.is_empty() {
                return Err(Invalid::new(
                    "follow_up_rules",
                    "a rule names at least one outcome",
                ));
            }
        }
        for (name, template) in &self.templates {
            if name.is_empty() || name.len() > 64 {
                return Err(Invalid::new(
                    "templates",
                    "a template name is 1 to 64 characters",
                ));
            }
            if let Some(sms) = &template.sms
                && sms.chars().count() > 1600
            {
                return Err(Invalid::new(
                    "templates",
                    "an SMS is at most 1600 characters",
                ));
            }
        }
        Ok(())
    }
}

/// What `PUT /v1/messaging` may change; what it leaves out stays as it is.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagingUpdate {
    #[serde(default)]
    pub senders: Option<Senders>,
    #[serde(default)]
    pub sms_per_second: Option<u32>,
    #[serde(default)]
    pub sending_hours: Option<CallingWindow>,
    #[serde(default)]
    pub templates: Option<BTreeMap<String, Template>>,
    #[serde(default)]
    pub team_email: Option<Email>,
    #[serde(default)]
    pub help_text: Option<String>,
    #[serde(default)]
    pub booking_link: Option<String>,
    #[serde(default)]
    pub follow_up_rules: Option<Vec<FollowUpRule>>,
    #[serde(default)]
    pub notify_team_on: Option<Vec<OutcomeKind>>,
    #[serde(default)]
    pub carrier_confirms_opt_out: Option<bool>,
    #[serde(default)]
    pub language: Option<String>,
}

impl MessagingUpdate {
    /// The settings with this update on them, checked. `own`: which
    /// providers the tenant's own accounts (just stored) cover, replacing
    /// what they covered; none: as they were.
    pub fn apply(
        self,
        current: Option<MessagingSettings>,
        tenant: &TenantId,
        own: Option<OwnAccounts>,
        now: Timestamp,
    ) -> Result<MessagingSettings, Invalid> {
        let mut s = current.unwrap_or_else(|| MessagingSettings::new(tenant.clone()));
        if let Some(v) = self.senders {
            s.senders = v;
        }
        if let Some(v) = self.sms_per_second {
            s.sms_per_second = v;
        }
        if let Some(v) = self.sending_hours {
            s.sending_hours = CallingWindow::new(v.start, v.end, v.excluded_weekdays)
                .map_err(|e| Invalid::new("sending_hours", e.to_string()))?;
        }
        if let Some(v) = self.templates {
            s.templates = v;
        }
        if let Some(v) = self.team_email {
            s.team_email = Some(v);
        }
        if let Some(v) = self.help_text {
            s.help_text = Some(v);
        }
        if let Some(v) = self.booking_link {
            if !(v.starts_with("https://") || v.starts_with("http://")) {
                return Err(Invalid::new(
                    "booking_link",
                    "a booking link is an http(s) URL",
                ));
            }
            s.booking_link = Some(v);
        }
        if let Some(v) = self.follow_up_rules {
            s.follow_up_rules = v;
        }
        if let Some(v) = self.notify_team_on {
            s.notify_team_on = v;
        }
        if let Some(v) = self.carrier_confirms_opt_out {
            s.carrier_confirms_opt_out = v;
        }
        if let Some(v) = self.language {
            s.language = v;
        }
        if let Some(own) = own {
            s.own_accounts = own;
        }
        s.updated_at = Some(now);
        s.validate()?;
        Ok(s)
    }
}

/// Which purpose a template name serves when a rule names it.
pub fn purpose_of(template: &str) -> MessagePurpose {
    match template {
        templates::TEAM_NOTIFICATION => MessagePurpose::TeamNotification,
        _ => MessagePurpose::CallFollowUp,
    }
}

/// The built-in templates, in English. A tenant overrides any of them by name.
pub mod templates {
    use super::{Template, WhatsappTemplate};

    pub const CALL_FALLBACK: &str = "call_fallback";
    pub const BOOKING_FOLLOW_UP: &str = "booking_follow_up";
    pub const CALL_FOLLOW_UP: &str = "call_follow_up";
    pub const TEAM_NOTIFICATION: &str = "team_notification";
    pub const INBOUND_NOTIFICATION: &str = "inbound_notification";
    pub const OPT_OUT_CONFIRMATION: &str = "opt_out_confirmation";
    pub const OPT_IN_CONFIRMATION: &str = "opt_in_confirmation";
    pub const HELP: &str = "help";
    pub const RESCHEDULE_LINK: &str = "reschedule_link";
    pub const CONFIRMED: &str = "appointment_confirmed";
    pub const CANCEL_CHECK: &str = "appointment_cancel_check";
    pub const CANCELLED: &str = "appointment_cancelled";
    pub const REMINDER: &str = "appointment_reminder";
    pub const BOOKED: &str = "appointment_booked";

    fn text(sms: &str, subject: &str, body: &str) -> Template {
        Template {
            sms: Some(sms.into()),
            email_subject: Some(subject.into()),
            email_body: Some(body.into()),
            whatsapp: None,
        }
    }

    pub fn builtin(name: &str) -> Option<Template> {
        Some(match name {
            CALL_FALLBACK => Template {
                whatsapp: Some(WhatsappTemplate {
                    name: "call_fallback".into(),
                    language: "en_US".into(),
                    params: vec!["first_name".into(), "business".into()],
                    buttons: Vec::new(),
                }),
                ..text(
                    "Hi {first_name}, {business} tried to reach you by phone. Reply here or book a time: {booking_link}",
                    "{business} tried to reach you",
                    "Hi {first_name},\n\n{business} tried to call you and could not reach you. You can book a time that suits you here: {booking_link}\n\nThank you.",
                )
            },
            BOOKING_FOLLOW_UP => text(
                "Hi {first_name}, this is {business}. We could not reach our calendar during your call; book your {service} here: {booking_link}",
                "Your booking with {business}",
                "Hi {first_name},\n\nOur calendar was unavailable during your call. You can book your {service} here: {booking_link}",
            ),
            CALL_FOLLOW_UP => Template {
                whatsapp: Some(WhatsappTemplate {
                    name: "call_follow_up".into(),
                    language: "en_US".into(),
                    params: vec![
                        "first_name".into(),
                        "business".into(),
                        "booking_link".into(),
                    ],
                    buttons: Vec::new(),
                }),
                ..text(
                    "Thanks for your time, {first_name}. Next steps and booking: {booking_link} ({business})",
                    "Thank you for speaking with {business}",
                    "Hi {first_name},\n\nThank you for your time on the phone with {business}. Next steps: you can book a time that suits you here: {booking_link}\n\nThank you.",
                )
            },
            TEAM_NOTIFICATION => text(
                "{outcome} lead: {lead_name}",
                "{outcome} lead: {lead_name}",
                "A call found a {outcome} lead.\n\nName: {lead_name}\nEmail: {lead_email}\nInterest: {interest}\n\nAnswers:\n{answers}\n\nSummary:\n{summary}\n\nTranscript and recording: {call_link}\nRecording: {recording_url}\n",
            ),
            INBOUND_NOTIFICATION => text(
                "A lead wrote: {text}",
                "A lead wrote to {business}",
                "{lead_name} wrote by {channel}:\n\n{text}\n\nThe conversation: {lead_link}\n",
            ),
            OPT_OUT_CONFIRMATION => text(
                "{business}: you will receive no more messages or calls from us. Reply START to receive messages again.",
                "You are unsubscribed",
                "You will receive no more messages from {business}.",
            ),
            OPT_IN_CONFIRMATION => text(
                "{business}: you will receive messages from us again. Reply STOP to opt out.",
                "You are subscribed again",
                "You will receive messages from {business} again.",
            ),
            HELP => text("{help_text} Reply STOP to opt out.", "Help", "{help_text}"),
            RESCHEDULE_LINK => text(
                "{business}: pick a new time here: {booking_link}",
                "Pick a new time",
                "Pick a new time here: {booking_link}",
            ),
            CONFIRMED => text(
                "{business}: thank you, your appointment on {appointment_time} is confirmed.",
                "Appointment confirmed",
                "Thank you, your appointment on {appointment_time} is confirmed.",
            ),
            CANCEL_CHECK => text(
                "{business}: reply X again to cancel your appointment on {appointment_time}. Reply C to keep it.",
                "Cancel your appointment?",
                "Reply X again to cancel your appointment on {appointment_time}.",
            ),
            CANCELLED => text(
                "{business}: your appointment on {appointment_time} is cancelled. Book again: {booking_link}",
                "Appointment cancelled",
                "Your appointment on {appointment_time} is cancelled. Book again: {booking_link}",
            ),
            BOOKED => text(
                "Hi {first_name}, you're booked with {business} on {appointment_time}. Reply C to confirm, R to reschedule.",
                "Your appointment with {business}",
                "Hi {first_name},\n\nYou're booked with {business} on {appointment_time}.\nReply C to confirm, R to reschedule.",
            ),
            REMINDER => Template {
                whatsapp: Some(WhatsappTemplate {
                    name: "appointment_reminder".into(),
                    language: "en_US".into(),
                    params: vec!["first_name".into(), "appointment_time".into()],
                    buttons: vec!["C".into(), "R".into()],
                }),
                ..text(
                    "Hi {first_name}, a reminder of your appointment with {business} on {appointment_time}. Reply C to confirm, R to reschedule.",
                    "Your appointment with {business}",
                    "Hi {first_name},\n\nA reminder of your appointment with {business} on {appointment_time}.\nReply C to confirm, R to reschedule.",
                )
            },
            _ => return None,
        })
    }
}

/// Fills `{name}` variables from `values`; a variable without a value is
/// left empty, and a brace that opens no variable stays as it is.
pub fn render(text: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close)
                if close > 0
                    && after[..close]
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
            {
                if let Some(value) = values.get(&after[..close]) {
                    out.push_str(value);
                }
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_filled_and_unknown_ones_left_empty() {
        let values = BTreeMap::from([("first_name".to_owned(), "Ada".to_owned())]);
        assert_eq!(
            render("Hi {first_name}, {business}! {not a var} {}", &values),
            "Hi Ada, ! {not a var} {}"
        );
    }

    #[test]
    fn every_built_in_template_has_text_for_sms_and_email() {
        for name in [
            templates::CALL_FALLBACK,
            templates::BOOKING_FOLLOW_UP,
            templates::CALL_FOLLOW_UP,
            templates::TEAM_NOTIFICATION,
            templates::OPT_OUT_CONFIRMATION,
            templates::HELP,
            templates::RESCHEDULE_LINK,
            templates::REMINDER,
            templates::BOOKED,
        ] {
            let t = templates::builtin(name).unwrap();
            assert!(t.sms.is_some() && t.email_body.is_some(), "{name}");
        }
    }

    #[test]
    fn no_reminder_uses_an_opt_out_word_as_a_command() {
        // Messaging facts §0: CANCEL, STOP, END and QUIT always mean opt-out.
        let reminder = templates::builtin(templates::REMINDER).unwrap();
        let booked = templates::builtin(templates::BOOKED).unwrap();
        for text in [
            reminder.sms.unwrap(),
            reminder.email_body.unwrap(),
            booked.sms.unwrap(),
            booked.email_body.unwrap(),
        ] {
            let upper = text.to_uppercase();
            for word in ["REPLY CANCEL", "REPLY STOP", "REPLY END", "REPLY QUIT"] {
                assert!(!upper.contains(word), "{text}");
            }
        }
    }

    #[test]
    fn a_tenants_template_overrides_the_built_in_one() {
        let mut s = MessagingSettings::new(TenantId::parse("acme").unwrap());
        s.templates.insert(
            templates::HELP.into(),
            Template {
                sms: Some("Call us".into()),
                ..Template::default()
            },
        );
        assert_eq!(s.template(templates::HELP).unwrap().sms.unwrap(), "Call us");
        assert!(s.template("no_such").is_none());
    }

    #[test]
    fn a_template_is_found_in_the_leads_language_then_the_tenants_then_built_in() {
        let mut s = MessagingSettings::new(TenantId::parse("acme").unwrap());
        let sms = |text: &str| Template {
            sms: Some(text.into()),
            ..Template::default()
        };
        s.templates.insert("help.es".into(), sms("Ayuda"));
        s.templates.insert("help".into(), sms("Help us"));
        let text = |t: Option<Template>| t.unwrap().sms.unwrap();
        assert_eq!(text(s.template_in("help", Some("es"))), "Ayuda");
        assert_eq!(text(s.template_in("help", Some("es-MX"))), "Ayuda");
        assert_eq!(text(s.template_in("help", Some("fr"))), "Help us");
        assert_eq!(text(s.template_in("help", None)), "Help us");
        s.language = "es".into();
        assert_eq!(text(s.template_in("help", None)), "Ayuda");
        assert!(text(s.template_in("call_fallback", Some("es"))).starts_with("Hi "));
    }

    #[test]
    fn the_messaging_service_sends_sms_when_the_tenant_has_one() {
        let mut s = MessagingSettings::new(TenantId::parse("acme").unwrap());
        assert_eq!(s.sender(Channel::Sms), None);
        s.senders.sms_number = Some(Phone::parse("+14155550100", None).unwrap());
        assert!(matches!(
            s.sender(Channel::Sms),
            Some(Sender::TwilioNumber { .. })
        ));
        s.senders.sms_service = Some(format!("MG{}", "a".repeat(32)));
        assert!(matches!(
            s.sender(Channel::Sms),
            Some(Sender::TwilioService { .. })
        ));
        assert!(s.validate().is_ok());
        s.senders.sms_service = Some("MG123".into());
        assert!(s.validate().is_err());
    }
}
