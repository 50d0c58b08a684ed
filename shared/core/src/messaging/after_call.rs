//! After a call (seeds 001 and 003): the tenant's rules send, by outcome, a
//! follow-up to the lead (email or WhatsApp: thanks, next steps, booking
//! link) and a notification to its team for the leads worth a call back,
//! with what the call found. Decided once the call is analysed; the message
//! ids derive from (lead, attempt), so an analysis delivered twice sends once.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::calling::attempt::CallAttempt;
use crate::calling::lead::Lead;
use crate::kernel::ids::MessageId;
use crate::messaging::message::{Channel, MessageJob, MessagePurpose, Recipient};
use crate::messaging::settings::{MessagingSettings, OutcomeKind, templates};

/// The messages a call with this outcome calls for.
pub fn after_call(
    settings: &MessagingSettings,
    lead: &Lead,
    attempt: &CallAttempt,
    now: jiff::Timestamp,
) -> Vec<MessageJob> {
    let Some(kind) = attempt.outcome.as_ref().and_then(OutcomeKind::of) else {
        return Vec::new();
    };
    let occasion = attempt.number.to_string();
    let mut jobs = Vec::new();
    for rule in settings
        .follow_up_rules
        .iter()
        .filter(|r| r.outcomes.contains(&kind))
    {
        let to: Option<Recipient> = match rule.channel {
            Channel::Email => lead.email.clone().map(Recipient::from),
            Channel::Whatsapp => Some(lead.whatsapp.clone().unwrap_or(lead.phone.clone()).into()),
            Channel::Sms => None,
        };
        let Some(to) = to else { continue };
        jobs.push(MessageJob {
            id: MessageId::derive(&lead.id, &rule.template, rule.channel.as_str(), &occasion),
            tenant: lead.tenant.clone(),
            lead: lead.id.clone(),
            channel: rule.channel,
            purpose: MessagePurpose::CallFollowUp,
            template: rule.template.clone(),
            lead_phone: (to != lead.phone.e164()).then(|| lead.phone.clone()),
            to,
            params: BTreeMap::new(),
            appointment: None,
            not_before: None,
            queued_at: Some(now),
        });
    }
    if let Some(team) = &settings.team_email
        && settings.notify_team_on.contains(&kind)
    {
        jobs.push(MessageJob {
            id: MessageId::derive(&lead.id, "team", Channel::Email.as_str(), &occasion),
            tenant: lead.tenant.clone(),
            lead: lead.id.clone(),
            channel: Channel::Email,
            purpose: MessagePurpose::TeamNotification,
            template: templates::TEAM_NOTIFICATION.into(),
            to: team.clone().into(),
            params: what_the_call_found(lead, attempt, kind),
            appointment: None,
            not_before: None,
            queued_at: Some(now),
            lead_phone: None,
        });
    }
    jobs
}

/// The team notification's values: who, how to reach them, what they want,
/// the structured answers, the summary and where the call's record is.
fn what_the_call_found(
    lead: &Lead,
    attempt: &CallAttempt,
    kind: OutcomeKind,
) -> BTreeMap<String, String> {
    let report = &attempt.report;
    let structured = report.structured.as_ref();
    let answer = |key: &str| {
        structured
            .and_then(|s| s.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let answers = match structured {
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("- {k}: {s}"),
                other => format!("- {k}: {other}"),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => "(none)".into(),
    };
    let outcome = serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
        .unwrap_or_default();
    BTreeMap::from([
        ("outcome".into(), outcome),
        (
            "lead_name".into(),
            lead.name.clone().unwrap_or_else(|| "(no name)".into()),
        ),
        (
            "lead_email".into(),
            lead.email
                .as_ref()
                .map(|e| e.expose().to_owned())
                .unwrap_or_else(|| "(none)".into()),
        ),
        (
            "interest".into(),
            answer("interest")
                .or_else(|| answer("service"))
                .unwrap_or_else(|| "(not said)".into()),
        ),
        ("answers".into(), answers),
        (
            "summary".into(),
            report.summary.clone().unwrap_or_else(|| "(none)".into()),
        ),
        (
            "call_link".into(),
            format!("/v1/leads/{}/calls/{}", lead.id, attempt.number),
        ),
        (
            "recording_url".into(),
            report
                .recording_url
                .clone()
                .unwrap_or_else(|| "(none)".into()),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calling::lead::CallOutcome;
    use crate::kernel::email::Email;
    use crate::messaging::settings::FollowUpRule;

    fn setup(outcome: CallOutcome) -> (MessagingSettings, Lead, CallAttempt) {
        let mut lead = crate::calling::lead::tests::lead();
        lead.email = Some(Email::parse("ada@example.com").unwrap());
        let mut settings = MessagingSettings::new(lead.tenant.clone());
        settings.team_email = Some(Email::parse("team@acme.test").unwrap());
        settings.follow_up_rules = vec![FollowUpRule {
            outcomes: vec![OutcomeKind::Qualified, OutcomeKind::Potential],
            channel: Channel::Email,
            template: templates::CALL_FOLLOW_UP.into(),
        }];
        let mut attempt: CallAttempt = serde_json::from_value(serde_json::json!({
            "id": crate::kernel::ids::AttemptId::derive(&lead.id, 1).to_string(),
            "tenant": "acme", "lead": lead.id.to_string(), "campaign": lead.campaign.to_string(),
            "number": 1, "provider": "retell", "provider_call_id": "call_1", "status": "ended",
            "created_at": "2026-03-10T15:00:00Z", "version": 3
        }))
        .unwrap();
        attempt.outcome = Some(outcome);
        attempt.report.summary = Some("Wants whitening next month.".into());
        attempt.report.structured =
            Some(serde_json::json!({"interest": "whitening", "budget": "500"}));
        (settings, lead, attempt)
    }

    #[test]
    fn a_qualified_lead_gets_its_follow_up_and_the_team_hears_what_the_call_found() {
        let (settings, lead, attempt) = setup(CallOutcome::Qualified);
        let jobs = after_call(&settings, &lead, &attempt, jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0].purpose, MessagePurpose::CallFollowUp);
        assert_eq!(jobs[0].to, "ada@example.com");
        let team = &jobs[1];
        assert_eq!(team.to, "team@acme.test");
        assert_eq!(team.params["interest"], "whitening");
        assert_eq!(team.params["summary"], "Wants whitening next month.");
        assert!(team.params["answers"].contains("- budget: 500"));
        assert_eq!(team.params["lead_email"], "ada@example.com");
    }

    #[test]
    fn an_outcome_no_rule_names_sends_nothing() {
        let (settings, lead, attempt) = setup(CallOutcome::NotInterested);
        assert!(after_call(&settings, &lead, &attempt, jiff::Timestamp::UNIX_EPOCH).is_empty());
    }

    #[test]
    fn the_same_call_always_asks_for_the_same_messages() {
        let (settings, lead, attempt) = setup(CallOutcome::Potential);
        let a = after_call(&settings, &lead, &attempt, jiff::Timestamp::UNIX_EPOCH);
        let b = after_call(&settings, &lead, &attempt, jiff::Timestamp::MAX);
        let ids = |jobs: &[MessageJob]| jobs.iter().map(|j| j.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b));
    }
}
