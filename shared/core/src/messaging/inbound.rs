//! What a lead writes to a tenant's sender: an opt-out, an opt-in, a
//! request for help, an answer to an appointment message, or conversation.
//! The webhook checks the signature, finds the tenant from the number that
//! received it and puts the message on the messenger's queue; this decides
//! what it means, in one commit with its dedupe key.

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::appointments::appointment::{AppointmentStatus, Confirmation};
use crate::calling::lead::Change as LeadChange;
use crate::calling::suppression::{Suppression, SuppressionSource};
use crate::kernel::error::Result;
use crate::kernel::ids::{LeadId, MessageId, TenantId};
use crate::kernel::phone::Phone;
use crate::messaging::keywords::{Intent, classify};
use crate::messaging::message::{
    AppointmentRef, Channel, Direction, Message, MessageJob, MessagePurpose, MessageStatus,
    MessageText, StatusStep,
};
use crate::messaging::settings::templates;
use crate::ports::{InboundContext, MessageStore};
use crate::write::{Change, Decision, Effect, Effects, Entity, Refused, UseCase, run};

/// A lead's message on the messenger's queue. The tenant was found from
/// the number (or WhatsApp number id) that received it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundJob {
    pub kind: InboundKind,
    pub tenant: TenantId,
    pub channel: Channel,
    /// The provider's message id: the dedupe key.
    pub provider_id: String,
    pub from: Phone,
    pub text: MessageText,
    /// A WhatsApp quick-reply button's payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button: Option<String>,
    /// Twilio Advanced Opt-Out's `OptOutType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_out_type: Option<String>,
    pub at: Timestamp,
}

/// Tags an inbound job on the shared queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InboundKind {
    Inbound,
}

impl InboundJob {
    pub fn dedupe_key(&self) -> String {
        format!("inbound#{}#{}", self.channel.as_str(), self.provider_id)
    }

    /// What the lead means: Twilio's own classification when it sent one,
    /// else the text (a button's payload first).
    pub fn intent(&self) -> Intent {
        match self
            .opt_out_type
            .as_deref()
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            Some("STOP") => return Intent::OptOut { keyword: true },
            Some("START") => return Intent::OptIn,
            Some("HELP") => return Intent::Help,
            _ => {}
        }
        classify(self.button.as_deref().unwrap_or(&self.text.0))
    }
}

/// How long an "X" waits for the second "X" that cancels.
pub const CANCEL_CONFIRM_WINDOW: SignedDuration = SignedDuration::from_hours(24);

/// What an inbound message came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Understood {
    OptedOut {
        confirmed: bool,
    },
    /// START (or YES after an opt-out): messages again; `false` when a
    /// do-not-call that came from a call or the business stays.
    OptedIn {
        lifted: bool,
    },
    Help,
    Confirmed(crate::kernel::ids::AppointmentId),
    Reschedule,
    /// The first X: the lead is asked to send X again.
    CancelAsked(crate::kernel::ids::AppointmentId),
    Cancelled(crate::kernel::ids::AppointmentId),
    /// Kept in the conversation; the team is told when it has an address.
    Conversation {
        team_told: bool,
    },
    /// Delivered before.
    Duplicate,
}

/// The lead an inbound message talks to: of the tenant's leads with the
/// number, the one changed last (leadline messaged or called it last); a
/// number no lead has is a contact of its own, as an inbound caller is.
pub fn talked_to(leads: &[crate::calling::lead::Lead], tenant: &TenantId, from: &Phone) -> LeadId {
    leads
        .iter()
        .max_by_key(|l| l.updated_at)
        .map(|l| l.id.clone())
        .unwrap_or_else(|| LeadId::for_caller(tenant, from))
}

/// The rule. Opt-out wins over everything.
pub fn decide_inbound(
    ctx: InboundContext,
    job: &InboundJob,
    now: Timestamp,
) -> Decision<Understood> {
    let owner = talked_to(&ctx.leads, &job.tenant, &job.from);
    let mut changes = vec![Change::Dedupe {
        tenant: job.tenant.clone(),
        key: job.dedupe_key(),
    }];
    let mut effects = Vec::new();
    let received = Message {
        id: MessageId::derive(&owner, "inbound", job.channel.as_str(), &job.provider_id),
        tenant: job.tenant.clone(),
        lead: owner.clone(),
        direction: Direction::Inbound,
        channel: job.channel,
        purpose: MessagePurpose::Inbound,
        address: job.from.clone().into(),
        status: MessageStatus::Received,
        reason: None,
        history: vec![StatusStep {
            status: MessageStatus::Received,
            at: job.at,
            reason: None,
        }],
        template: None,
        params: Default::default(),
        text: Some(job.text.clone()),
        sender: None,
        provider_id: Some(job.provider_id.clone()),
        refusal: None,
        appointment: None,
        not_before: None,
        paced_at: None,
        claimed_at: None,
        tries: 0,
        created_at: job.at,
        updated_at: now,
        version: 0,
    };
    changes.push(Change::Create(Entity::Message(received.clone())));

    let mut leads = ctx.leads.clone();
    // The leads this message changes, by index into `leads`.
    let mut changed = std::collections::BTreeSet::new();
    if job.channel == Channel::Whatsapp
        && let Some((i, lead)) = leads.iter_mut().enumerate().find(|(_, l)| l.id == owner)
    {
        lead.messaging.whatsapp_inbound_at = Some(
            lead.messaging
                .whatsapp_inbound_at
                .map_or(job.at, |at| at.max(job.at)),
        );
        changed.insert(i);
    }
    let reply = |template: &str, purpose: MessagePurpose| MessageJob {
        id: MessageId::derive(&owner, "reply", job.channel.as_str(), &job.provider_id),
        tenant: job.tenant.clone(),
        lead: owner.clone(),
        channel: job.channel,
        purpose,
        template: template.into(),
        to: job.from.clone().into(),
        params: Default::default(),
        appointment: None,
        not_before: None,
        queued_at: Some(now),
        lead_phone: None,
    };

    let suppressed_by_message = ctx
        .suppression
        .as_ref()
        .is_some_and(|s| s.source.liftable());
    let intent = job.intent();
    let understood = match intent {
        Intent::OptOut { keyword } => {
            let already = ctx.suppression.is_some();
            if !already {
                changes.push(Change::Suppress(Suppression {
                    tenant: job.tenant.clone(),
                    address: job.from.clone().into(),
                    source: SuppressionSource::Message,
                    reason: format!("opted out by {} reply", job.channel.as_str()),
                    at: now,
                }));
            }
            for (i, lead) in leads.iter_mut().enumerate() {
                if lead.suppress("opted out by message", now) == LeadChange::Applied {
                    effects.extend(lead.take_effects());
                    changed.insert(i);
                }
            }
            // One confirmation, and none where the carrier sends its own
            // (Twilio answers its single-word keywords on SMS).
            let carrier_confirms = job.channel == Channel::Sms
                && keyword
                && ctx
                    .settings
                    .as_ref()
                    .is_none_or(|s| s.carrier_confirms_opt_out);
            let confirmed = !already && !carrier_confirms;
            if confirmed {
                effects.push(Effect::Send(reply(
                    templates::OPT_OUT_CONFIRMATION,
                    MessagePurpose::OptOutConfirmation,
                )));
            }
            Understood::OptedOut { confirmed }
        }
        Intent::OptIn | Intent::Yes if suppressed_by_message => {
            if let Some(entry) = &ctx.suppression {
                changes.push(Change::Unsuppress(entry.clone()));
            }
            // Twilio confirms START, YES and UNSTOP on SMS itself.
            if job.channel != Channel::Sms {
                effects.push(Effect::Send(reply(
                    templates::OPT_IN_CONFIRMATION,
                    MessagePurpose::Reply,
                )));
            }
            Understood::OptedIn { lifted: true }
        }
        Intent::OptIn => Understood::OptedIn { lifted: false },
        Intent::Help => {
            effects.push(Effect::Send(reply(templates::HELP, MessagePurpose::Reply)));
            Understood::Help
        }
        Intent::Confirm | Intent::Yes => match about_appointment(&ctx, now) {
            Some((asked, mut appointment)) => {
                let confirmed = appointment.confirm(Confirmation {
                    at: job.at,
                    message: received.id.clone(),
                    replied_to: asked.id.clone(),
                });
                if confirmed == Ok(true) {
                    let id = appointment.id.clone();
                    let mut thanks = reply(templates::CONFIRMED, MessagePurpose::Reply);
                    thanks.appointment = Some(AppointmentRef {
                        id: id.clone(),
                        starts_at: appointment.starts_at,
                    });
                    changes.push(Change::Save(Entity::Appointment(appointment)));
                    effects.push(Effect::Send(thanks));
                    Understood::Confirmed(id)
                } else {
                    Understood::Confirmed(appointment.id)
                }
            }
            None => conversation(&ctx, job, &owner, &mut effects, now),
        },
        Intent::Reschedule
            if ctx
                .settings
                .as_ref()
                .is_some_and(|s| s.booking_link.is_some()) =>
        {
            effects.push(Effect::Send(reply(
                templates::RESCHEDULE_LINK,
                MessagePurpose::Reply,
            )));
            Understood::Reschedule
        }
        Intent::Cancel => match about_appointment(&ctx, now) {
            Some((asked, mut appointment)) => {
                let id = appointment.id.clone();
                let at = AppointmentRef {
                    id: id.clone(),
                    starts_at: appointment.starts_at,
                };
                let confirming = asked.template.as_deref() == Some(templates::CANCEL_CHECK)
                    && now.duration_since(asked.created_at) < CANCEL_CONFIRM_WINDOW;
                if confirming && appointment.cancel().is_ok() {
                    let mut done = reply(templates::CANCELLED, MessagePurpose::Reply);
                    // Not about the appointment any more (it is cancelled):
                    // its time goes in the text, in the lead's zone.
                    let zone = leads
                        .iter()
                        .find(|l| l.id == owner)
                        .and_then(|l| l.zone.clone())
                        .or_else(|| ctx.tenant.as_ref().map(|t| t.zone.clone()));
                    if let Some(zone) = zone {
                        done.params.insert(
                            "appointment_time".into(),
                            crate::messaging::send::spoken_time(at.starts_at, &zone),
                        );
                    }
                    changes.push(Change::Save(Entity::Appointment(appointment.clone())));
                    effects.push(Effect::CancelBooking(appointment));
                    effects.push(Effect::Send(done));
                    Understood::Cancelled(id)
                } else {
                    let mut check = reply(templates::CANCEL_CHECK, MessagePurpose::Reply);
                    check.appointment = Some(at);
                    effects.push(Effect::Send(check));
                    Understood::CancelAsked(id)
                }
            }
            None => conversation(&ctx, job, &owner, &mut effects, now),
        },
        Intent::Reschedule | Intent::Other => conversation(&ctx, job, &owner, &mut effects, now),
    };
    for i in changed {
        changes.push(Change::Save(Entity::Lead(leads[i].clone())));
    }
    Decision::new(changes, effects, understood)
}

/// The appointment the lead's latest message about one asked about, if it
/// is still booked and not over.
fn about_appointment(
    ctx: &InboundContext,
    now: Timestamp,
) -> Option<(Message, crate::appointments::appointment::Appointment)> {
    let asked = ctx
        .messages
        .iter()
        .filter(|m| m.direction == Direction::Outbound && m.appointment.is_some())
        .filter(|m| {
            !matches!(
                m.status,
                MessageStatus::Suppressed | MessageStatus::Dropped | MessageStatus::Refused
            )
        })
        .max_by_key(|m| m.created_at)?;
    let id = &asked.appointment.as_ref()?.id;
    let appointment = ctx
        .appointments
        .iter()
        .find(|a| &a.id == id && a.status == AppointmentStatus::Booked && a.ends_at > now)?;
    Some((asked.clone(), appointment.clone()))
}

/// Kept in the conversation (the inbound message is recorded already), and
/// the team hears of it by email when the tenant has a team address.
fn conversation(
    ctx: &InboundContext,
    job: &InboundJob,
    owner: &LeadId,
    effects: &mut Vec<Effect>,
    now: Timestamp,
) -> Understood {
    let Some(team) = ctx.settings.as_ref().and_then(|s| s.team_email.clone()) else {
        return Understood::Conversation { team_told: false };
    };
    let lead = ctx.leads.iter().find(|l| &l.id == owner);
    let mut params = std::collections::BTreeMap::from([
        ("text".to_owned(), job.text.0.clone()),
        ("channel".to_owned(), job.channel.as_str().to_owned()),
        (
            "lead_link".to_owned(),
            format!("/v1/leads/{owner}/messages"),
        ),
    ]);
    params.insert(
        "lead_name".into(),
        lead.and_then(|l| l.name.clone())
            .unwrap_or_else(|| "A contact".into()),
    );
    effects.push(Effect::Send(MessageJob {
        id: MessageId::derive(owner, "team", Channel::Email.as_str(), &job.provider_id),
        tenant: job.tenant.clone(),
        lead: owner.clone(),
        channel: Channel::Email,
        purpose: MessagePurpose::TeamNotification,
        template: templates::INBOUND_NOTIFICATION.into(),
        to: team.into(),
        params,
        appointment: None,
        not_before: None,
        queued_at: Some(now),
        lead_phone: None,
    }));
    Understood::Conversation { team_told: true }
}

/// An inbound job through the runner.
pub struct Receive<'a, S: ?Sized> {
    pub store: &'a S,
    pub job: &'a InboundJob,
}

#[async_trait]
impl<S: MessageStore + ?Sized> UseCase for Receive<'_, S> {
    type State = InboundContext;
    type Answer = Understood;
    const WHAT: &'static str = "an inbound message";

    async fn load(&self) -> Result<InboundContext> {
        self.store
            .inbound_context(&self.job.tenant, &self.job.from)
            .await
    }

    fn decide(&self, ctx: InboundContext, now: Timestamp) -> Result<Decision<Understood>> {
        Ok(decide_inbound(ctx, self.job, now))
    }

    fn refused(&self, refused: &Refused, _: Timestamp) -> Option<Decision<Understood>> {
        (*refused == Refused::Duplicate).then(|| Decision::answer(Understood::Duplicate))
    }
}

pub async fn receive<S, E>(
    store: &S,
    effects: &E,
    job: &InboundJob,
    now: Timestamp,
) -> Result<Understood>
where
    S: MessageStore + crate::write::Commit + ?Sized,
    E: Effects + ?Sized,
{
    run(store, effects, &Receive { store, job }, now).await
}
