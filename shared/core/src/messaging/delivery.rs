//! Providers' reports on messages leadline sent: Twilio's status callbacks,
//! WhatsApp's statuses, SendGrid's events. They arrive late, twice and out
//! of order; a message only moves forward ([`Message::report`]). A bounce,
//! a spam report or an unsubscribe puts the email address on the list.

use async_trait::async_trait;
use jiff::Timestamp;

use crate::calling::suppression::{Suppression, SuppressionSource};
use crate::kernel::error::Result;
use crate::kernel::ids::TenantId;
use crate::messaging::message::{Message, Recipient};
use crate::messaging::provider::StatusReport;
use crate::ports::MessageStore;
use crate::write::{Change, Decision, Effects, Entity, UseCase, run};

/// What a report did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reported {
    /// The message moved to the reported status.
    Moved,
    /// Nothing new (a duplicate, or older than what the message knows).
    Unchanged,
    /// No message of ours has that id (acknowledged and logged).
    NotOurs,
}

pub fn decide_report(
    message: Option<Message>,
    report: &StatusReport,
    now: Timestamp,
) -> Decision<Reported> {
    let Some(mut message) = message else {
        return Decision::answer(Reported::NotOurs);
    };
    let mut changes = Vec::new();
    if message.provider_id.is_none() {
        message.provider_id = Some(report.provider_id.clone());
    }
    let moved = message.report(report.status, report.error.clone(), report.at.min(now));
    if let (Some(reason), Recipient::Email(_)) = (&report.suppresses, &message.address) {
        changes.push(Change::Suppress(Suppression {
            tenant: message.tenant.clone(),
            address: message.address.clone(),
            source: SuppressionSource::Provider,
            reason: format!("email {reason}"),
            at: now,
        }));
    }
    if moved {
        changes.insert(0, Change::Save(Entity::Message(message)));
    }
    let answer = if moved {
        Reported::Moved
    } else {
        Reported::Unchanged
    };
    Decision::new(changes, Vec::new(), answer)
}

pub struct Report<'a, S: ?Sized> {
    pub store: &'a S,
    pub tenant: &'a TenantId,
    pub report: &'a StatusReport,
}

#[async_trait]
impl<S: MessageStore + ?Sized> UseCase for Report<'_, S> {
    type State = Option<Message>;
    type Answer = Reported;
    const WHAT: &'static str = "a message's status";

    async fn load(&self) -> Result<Option<Message>> {
        match &self.report.ours {
            Some((tenant, lead, id)) if tenant == self.tenant => {
                self.store.message(tenant, lead, id).await
            }
            Some(_) => Ok(None),
            None => {
                self.store
                    .message_by_provider_id(self.tenant, &self.report.provider_id)
                    .await
            }
        }
    }

    fn decide(&self, message: Option<Message>, now: Timestamp) -> Result<Decision<Reported>> {
        Ok(decide_report(message, self.report, now))
    }
}

pub async fn report<S, E>(
    store: &S,
    effects: &E,
    tenant: &TenantId,
    report: &StatusReport,
    now: Timestamp,
) -> Result<Reported>
where
    S: MessageStore + crate::write::Commit + ?Sized,
    E: Effects + ?Sized,
{
    run(
        store,
        effects,
        &Report {
            store,
            tenant,
            report,
        },
        now,
    )
    .await
}
