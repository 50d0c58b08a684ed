//! The messenger: a message job from the queue is checked, claimed, sent
//! through its provider and recorded. It costs one read (everything in one
//! round trip), one conditional write before the provider request (the
//! claim, with the sender's pace), the request, and one write after it.
//!
//! **Exactly once.** The claim is a conditional write of the message as
//! `sending`: a job delivered twice finds it claimed (or settled) and sends
//! nothing. If the process dies between the claim and the provider's answer,
//! nobody knows whether the message left. leadline never sends such a
//! message again by itself: a delivery that finds it claimed for longer than
//! a send can take records it as `unknown` (SQS delivers the job again after
//! its visibility timeout, so every such message is found), and it is listed
//! for the operator (`GET /v1/messages?status=unknown`), who may send it
//! again. A lead that gets no reminder can still book; a lead texted twice,
//! or texted after asking for no more, cannot be un-texted.

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;

use crate::appointments::appointment::AppointmentStatus;
use crate::calling::lead::ChannelRefusal;
use crate::calling::suppression::{Suppression, SuppressionSource};
use crate::kernel::error::{Error, Result};
use crate::kernel::ids::LeadId;
use crate::kernel::time::{Clock, Zone};
use crate::messaging::message::{
    Channel, Message, MessageJob, MessageStatus, MessageText, ProviderRef, Recipient,
};
use crate::messaging::provider::{
    Accepted, Content, MessageProvider, Outgoing, Refusal, SendFailure, Sender,
};
use crate::messaging::quiet::{next_sending_time, zones_of};
use crate::messaging::settings::{MessagingSettings, Template, render};
use crate::ports::{MessageStore, SendContext};
use crate::write::{Change, Decision, Effect, Effects, Entity, PaceMark, Refused, UseCase, run};

/// How long a claimed message may take to be sent, in wall-clock seconds:
/// the provider timeout and then some. A delivery that finds a message
/// claimed for longer knows its sender is gone. Below the messenger queue's
/// visibility timeout (180 s).
pub const CLAIM_TIMEOUT_SECONDS: i32 = 30;

/// How long a 429 without `Retry-After` holds a message back, in seconds.
pub const DEFAULT_BACKOFF_SECONDS: i32 = 5;

/// How far ahead (wall-clock seconds) a sender's free slot may be for the
/// message to wait for it in the function; further, the job goes back on
/// the queue for then.
pub const PACE_WAIT_SECONDS: i32 = 2;

/// What the messenger does with a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendPlan {
    /// Claimed: send it at `at` (now, or the sender's free slot a moment ahead).
    Send {
        outgoing: Box<Outgoing>,
        claimed: Box<Message>,
        at: Timestamp,
    },
    /// Recorded as not sent, with its status and reason.
    NotSent(MessageStatus, String),
    /// Held back until then; the job comes back by itself.
    Later(Timestamp, String),
    /// Nothing to do, and why (a duplicate delivery, a message settled before).
    Skip(String),
}

/// Checks a job against the rules, in order, and claims it:
/// 1. the lead and the address are not suppressed (opted out, do-not-call, erased);
/// 2. the message is still wanted (its appointment not cancelled or moved);
/// 3. SMS and WhatsApp only inside the sending hours in the lead's zone;
/// 4. WhatsApp outside the 24-hour window only as a template;
///
/// then renders it and takes the sender's next free send time.
///
/// `second` is one second of wall-clock time on the clock `now` is read
/// from (the demo's clock runs faster), for the sender's rate.
pub fn decide_send(
    ctx: SendContext,
    job: &MessageJob,
    second: SignedDuration,
    now: Timestamp,
) -> Decision<SendPlan> {
    let claim_timeout = second * CLAIM_TIMEOUT_SECONDS;
    let pace_wait = second * PACE_WAIT_SECONDS;
    let mut message = match ctx.message.clone() {
        Some(m) if m.is_settled() => {
            return Decision::answer(SendPlan::Skip(format!("already {}", m.status.as_str())));
        }
        Some(m) if m.status == MessageStatus::Sending => {
            let claimed = m.claimed_at.unwrap_or(m.updated_at);
            if now < claimed + claim_timeout {
                return Decision::answer(SendPlan::Skip("being sent by another delivery".into()));
            }
            let mut unknown = m;
            unknown.set(
                MessageStatus::Unknown,
                Some("claimed and never recorded: the sender stopped before it knew whether the provider took it; not sent again by itself".into()),
                now,
            );
            let reason = unknown.reason.clone().unwrap_or_default();
            return Decision::new(
                vec![Change::Save(Entity::Message(unknown))],
                Vec::new(),
                SendPlan::NotSent(MessageStatus::Unknown, reason),
            );
        }
        Some(m) => {
            if let Some(at) = m.not_before
                && at > now + pace_wait
            {
                // Came back early (a queue cannot delay as far as a schedule).
                return Decision::effects(
                    vec![Effect::Send(job.later(at))],
                    SendPlan::Later(at, "not due yet".into()),
                );
            }
            m
        }
        None => Message::from_job(job, now),
    };
    let not_sent = |mut message: Message, status: MessageStatus, reason: String| {
        message.set(status, Some(reason.clone()), now);
        let change = if message.version == 0 {
            Change::Create(Entity::Message(message))
        } else {
            Change::Save(Entity::Message(message))
        };
        Decision::new(vec![change], Vec::new(), SendPlan::NotSent(status, reason))
    };

    // 1. Suppressed: every do-not-call and opt-out has its entry on the
    // list (a lead's `do_not_call` status is about calls: START lifts a
    // messaging opt-out, and the lead still is not called).
    let to_team = job.purpose.to_team();
    // A number no lead has that wrote in is a contact of its own: replies
    // and team notes about it go; a lead gone is an erased one.
    let contact = match &job.to {
        Recipient::Phone(phone) => job.lead == LeadId::for_caller(&job.tenant, phone),
        Recipient::Email(_) => false,
    };
    let lead = ctx.lead.as_ref();
    if lead.is_none() && !to_team && !contact {
        return not_sent(
            message,
            MessageStatus::Suppressed,
            "the lead was erased".into(),
        );
    }
    if !job.purpose.reaches_the_opted_out()
        && !to_team
        && let Some(entry) = ctx.suppressions.first()
    {
        return not_sent(
            message,
            MessageStatus::Suppressed,
            format!("{} ({})", suppression_reason(entry), entry.reason),
        );
    }
    let (Some(tenant), Some(settings)) = (ctx.tenant.as_ref(), ctx.settings.clone()) else {
        return not_sent(
            message,
            MessageStatus::Refused,
            "the tenant has no messaging settings".into(),
        );
    };

    // 2. Still wanted.
    if let Some(wanted) = &job.appointment {
        match &ctx.appointment {
            None => {
                return not_sent(
                    message,
                    MessageStatus::Dropped,
                    "the appointment is gone".into(),
                );
            }
            Some(a) if a.status == AppointmentStatus::Cancelled => {
                return not_sent(
                    message,
                    MessageStatus::Dropped,
                    "the appointment was cancelled".into(),
                );
            }
            Some(a) if a.starts_at != wanted.starts_at => {
                return not_sent(
                    message,
                    MessageStatus::Dropped,
                    "the appointment moved".into(),
                );
            }
            Some(_) => {}
        }
    }

    let known_zone = lead.and_then(|l| l.zone.as_ref());
    let zone = known_zone.cloned().unwrap_or_else(|| tenant.zone.clone());
    // 3. Quiet hours.
    if job.channel != Channel::Email
        && job.purpose.keeps_quiet_hours()
        && let Recipient::Phone(number) = &job.to
    {
        let zones = zones_of(number, known_zone, &tenant.zone);
        // Inside the hours now and when it may actually leave (a sender's
        // slot up to `pace_wait` later): the hours never cross midnight, so
        // both ends inside means all of it is.
        let open_then = |at: Timestamp| next_sending_time(&settings.sending_hours, &zones, at);
        let next = match open_then(now) {
            Some(at) if at == now && open_then(now + pace_wait) != Some(now + pace_wait) => {
                open_then(now + pace_wait)
            }
            other => other,
        };
        match next {
            None => {
                return not_sent(
                    message,
                    MessageStatus::Refused,
                    "the sending hours never open in the lead's zones".into(),
                );
            }
            Some(at) if at > now => {
                message.not_before = Some(at);
                message.set(
                    MessageStatus::Waiting,
                    Some(format!("quiet hours in the lead's zone until {at}")),
                    now,
                );
                return hold(message, job, at, "quiet hours");
            }
            Some(_) => {}
        }
    }

    // 4. WhatsApp window, and the text itself.
    let Some(sender) = settings.sender(job.channel) else {
        return not_sent(
            message,
            MessageStatus::Refused,
            format!("the tenant has no {} sender", job.channel.as_str()),
        );
    };
    let language = lead.and_then(|l| l.language.as_deref());
    let Some(template) = settings.template_in(&job.template, language) else {
        return not_sent(
            message,
            MessageStatus::Refused,
            format!("no template named {}", job.template),
        );
    };
    let values = values(job, &ctx, &settings, &zone);
    // A contact has no lead to remember its last message: it is answered
    // right after it wrote.
    let window_open = lead.map_or(contact, |l| l.messaging.whatsapp_window_open(now));
    let content = match content(job.channel, &template, &values, window_open) {
        Ok(content) => content,
        Err(reason) => {
            message.refusal = (job.channel == Channel::Whatsapp && !window_open)
                .then_some(Refusal::OutsideWindow);
            return not_sent(message, MessageStatus::Refused, reason);
        }
    };

    // The sender's pace: SMS at the tenant's rate (a long code: 1 a second).
    let mut changes = Vec::new();
    let mut at = now;
    if job.channel == Channel::Sms {
        // 1% over the limit's spacing: a send the machine delays would
        // otherwise crowd the provider's one-second window with the next.
        let interval = second * 101 / (100 * settings.sms_per_second.max(1) as i32);
        let free = ctx.pace.map_or(now, |p| p.max(now));
        match message.paced_at {
            // Its slot was taken when it was held back for it.
            Some(slot) if slot <= now + pace_wait => {
                at = slot.max(now);
            }
            _ => {
                changes.push(Change::Pace(PaceMark {
                    tenant: job.tenant.clone(),
                    key: job.channel.as_str().into(),
                    read: ctx.pace,
                    next: free + interval,
                }));
                if free > now + pace_wait {
                    message.not_before = Some(free);
                    message.paced_at = Some(free);
                    message.set(
                        MessageStatus::Waiting,
                        Some(format!("the sender's next free send time is {free}")),
                        now,
                    );
                    changes.insert(0, save(message));
                    let later = job.later(free);
                    return Decision::new(
                        changes,
                        vec![Effect::Send(later)],
                        SendPlan::Later(free, "paced".into()),
                    );
                }
                at = free;
            }
        }
    }

    message.sender = Some(sender_name(&sender));
    message.text = Some(MessageText(match &content {
        Content::Text { body, .. } => body.clone(),
        Content::Template { name, params, .. } => {
            format!("[template {name}] {}", params.join(" | "))
        }
    }));
    message.claimed_at = Some(now);
    message.not_before = None;
    message.paced_at = None;
    message.set(MessageStatus::Sending, None, now);
    let outgoing = Outgoing {
        tenant: job.tenant.clone(),
        lead: job.lead.clone(),
        message: job.id.clone(),
        account: settings.account(job.channel),
        sender,
        to: job.to.clone(),
        content,
    };
    changes.insert(0, save(message.clone()));
    // An opt-out committed since the read refuses the claim (it is decided again).
    if !job.purpose.reaches_the_opted_out() && !to_team {
        changes.push(Change::NotSuppressed {
            tenant: job.tenant.clone(),
            address: job.to.clone(),
        });
        if let Some(phone) = job.lead_phone.as_ref().filter(|p| job.to != p.e164()) {
            changes.push(Change::NotSuppressed {
                tenant: job.tenant.clone(),
                address: phone.clone().into(),
            });
        }
    }
    Decision::new(
        changes,
        Vec::new(),
        SendPlan::Send {
            outgoing: Box::new(outgoing),
            // The version the claim writes.
            claimed: Box::new(Message {
                version: message.version + 1,
                ..message
            }),
            at,
        },
    )
}

fn save(message: Message) -> Change {
    if message.version == 0 {
        Change::Create(Entity::Message(message))
    } else {
        Change::Save(Entity::Message(message))
    }
}

/// The message waits until `at`: recorded, and its job put back for then.
fn hold(message: Message, job: &MessageJob, at: Timestamp, why: &str) -> Decision<SendPlan> {
    Decision::new(
        vec![save(message)],
        vec![Effect::Send(job.later(at))],
        SendPlan::Later(at, why.into()),
    )
}

fn suppression_reason(entry: &Suppression) -> &'static str {
    match entry.source {
        SuppressionSource::Call => "do-not-call, asked on a call",
        SuppressionSource::Message => "opted out by message",
        SuppressionSource::Manual => "on the do-not-call list",
        SuppressionSource::Provider => "the provider reports the address opted out or unreachable",
    }
}

fn sender_name(sender: &Sender) -> String {
    match sender {
        Sender::TwilioNumber { number } => number.e164().to_owned(),
        Sender::TwilioService { sid } => sid.clone(),
        Sender::Email { from, .. } => from.expose().to_owned(),
        Sender::Whatsapp { phone_number_id } => phone_number_id.clone(),
    }
}

/// The values a template is filled with.
fn values(
    job: &MessageJob,
    ctx: &SendContext,
    settings: &MessagingSettings,
    zone: &Zone,
) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    if let Some(tenant) = &ctx.tenant {
        values.insert("business".into(), tenant.name.clone());
    }
    if let Some(lead) = &ctx.lead {
        let name = lead.name.clone().unwrap_or_default();
        let first = name.split_whitespace().next().unwrap_or("there").to_owned();
        values.insert("first_name".into(), first);
        values.insert("lead_name".into(), name);
    }
    if let Some(link) = &settings.booking_link {
        values.insert("booking_link".into(), link.clone());
    }
    if let Some(help) = &settings.help_text {
        values.insert("help_text".into(), help.clone());
    }
    if let Some(a) = &ctx.appointment {
        values.insert("appointment_time".into(), spoken_time(a.starts_at, zone));
    }
    // The job's own values win: it knows its occasion best.
    values.extend(job.params.clone());
    values
}

/// "Tue 10 Mar, 2:30 PM EDT" in the lead's zone.
pub fn spoken_time(at: Timestamp, zone: &Zone) -> String {
    zone.local(at)
        .strftime("%a %-d %b, %-I:%M %p %Z")
        .to_string()
}

/// What goes out on the channel. WhatsApp: the approved template when there
/// is one; free text only inside the window.
fn content(
    channel: Channel,
    template: &Template,
    values: &BTreeMap<String, String>,
    window_open: bool,
) -> std::result::Result<Content, String> {
    match channel {
        Channel::Sms => template
            .sms
            .as_ref()
            .map(|body| Content::Text {
                subject: None,
                body: render(body, values),
            })
            .ok_or_else(|| "the template has no SMS text".into()),
        Channel::Email => match (&template.email_subject, &template.email_body) {
            (Some(subject), Some(body)) => Ok(Content::Text {
                subject: Some(render(subject, values)),
                body: render(body, values),
            }),
            _ => Err("the template has no email subject and body".into()),
        },
        Channel::Whatsapp => {
            if let Some(wa) = &template.whatsapp {
                return Ok(Content::Template {
                    name: wa.name.clone(),
                    language: wa.language.clone(),
                    params: wa
                        .params
                        .iter()
                        .map(|p| values.get(p).cloned().unwrap_or_default())
                        .collect(),
                    buttons: wa.buttons.clone(),
                });
            }
            if !window_open {
                return Err("outside the WhatsApp window, and the template has no approved WhatsApp template".into());
            }
            template
                .sms
                .as_ref()
                .map(|body| Content::Text {
                    subject: None,
                    body: render(body, values),
                })
                .ok_or_else(|| "the template has no text".into())
        }
    }
}

/// What the provider answered, recorded on the claimed message (and the
/// lead, and the list, for a lasting refusal).
///
/// `second` is one wall-clock second on the clock `now` is read from: a
/// provider's `Retry-After` is wall-clock time.
pub fn decide_record(
    claimed: Message,
    lead: Option<crate::calling::lead::Lead>,
    job: &MessageJob,
    result: &std::result::Result<Accepted, SendFailure>,
    second: SignedDuration,
    now: Timestamp,
) -> Decision<Recorded> {
    let mut message = claimed;
    // A report about it came in first (it names our message id): the
    // provider took it, whatever its answer to the request said.
    if message.status != MessageStatus::Sending && result.is_err() {
        return Decision::answer(Recorded::Sent);
    }
    match result {
        Ok(accepted) => {
            // A 2xx without the provider's id: it took the message, and
            // statuses will not find it (WhatsApp's name only that id).
            if !accepted.provider_id.is_empty() {
                message.provider_id = Some(accepted.provider_id.clone());
            }
            message.claimed_at = None;
            // A report may have come in first (it names our message id).
            if message.status == MessageStatus::Sending {
                message.set(
                    MessageStatus::Sent,
                    Some("accepted by the provider".into()),
                    now,
                );
            }
            let mut changes = vec![Change::Save(Entity::Message(message.clone()))];
            if message.channel == Channel::Whatsapp && !accepted.provider_id.is_empty() {
                changes.push(Change::Create(Entity::ProviderRef(ProviderRef {
                    tenant: message.tenant.clone(),
                    channel: message.channel,
                    provider_id: accepted.provider_id.clone(),
                    lead: message.lead.clone(),
                    message: message.id.clone(),
                })));
            }
            Decision::new(changes, Vec::new(), Recorded::Sent)
        }
        Err(SendFailure::RateLimited { retry_after }) => {
            let seconds = retry_after
                .map(|d| d.as_secs_f64())
                .unwrap_or(DEFAULT_BACKOFF_SECONDS as f64);
            let wait = SignedDuration::from_secs_f64(second.as_secs_f64() * seconds.max(1.0));
            let at = now + wait;
            message.claimed_at = None;
            message.not_before = Some(at);
            message.set(
                MessageStatus::Waiting,
                Some(format!("the provider asked to slow down (429) until {at}")),
                now,
            );
            Decision::new(
                vec![Change::Save(Entity::Message(message))],
                vec![Effect::Send(job.later(at))],
                Recorded::Later(at),
            )
        }
        Err(SendFailure::Unavailable(why)) => {
            message.claimed_at = None;
            message.tries += 1;
            message.set(
                MessageStatus::Queued,
                Some(format!(
                    "provider unavailable, try {}: {why}",
                    message.tries
                )),
                now,
            );
            Decision::new(
                vec![Change::Save(Entity::Message(message))],
                Vec::new(),
                Recorded::Retry,
            )
        }
        Err(SendFailure::Refused {
            refusal,
            code,
            detail,
        }) => {
            message.claimed_at = None;
            message.refusal = Some(*refusal);
            message.set(
                MessageStatus::Refused,
                Some(format!("refused by the provider ({code}): {detail}")),
                now,
            );
            let mut changes = vec![Change::Save(Entity::Message(message.clone()))];
            if let Some(mut lead) = lead
                && matches!(
                    refusal,
                    Refusal::OptedOut
                        | Refusal::InvalidAddress
                        | Refusal::NotOnWhatsapp
                        | Refusal::OutsideWindow
                )
            {
                lead.messaging.refused(ChannelRefusal {
                    channel: message.channel,
                    refusal: *refusal,
                    code: code.clone(),
                    message: message.id.clone(),
                    at: now,
                });
                if let Some(m) = lead.messages.iter_mut().find(|m| m.id == message.id) {
                    m.status = MessageStatus::Refused;
                }
                lead.updated_at = now;
                changes.push(Change::Save(Entity::Lead(lead)));
            }
            if *refusal == Refusal::OptedOut {
                changes.push(Change::Suppress(Suppression {
                    tenant: message.tenant.clone(),
                    address: message.address.clone(),
                    source: SuppressionSource::Provider,
                    reason: format!("the provider refused it as opted out ({code})"),
                    at: now,
                }));
            }
            Decision::new(changes, Vec::new(), Recorded::Refused(*refusal))
        }
    }
}

/// What became of a send, once recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    Sent,
    /// Held back by the provider until then; the job comes back.
    Later(Timestamp),
    /// The provider failed; the job must be delivered again.
    Retry,
    Refused(Refusal),
}

/// Waits a wall-clock span (the function's timer; tests wait for nothing).
#[async_trait]
pub trait Pause: Send + Sync {
    async fn pause(&self, span: std::time::Duration);
}

/// What the messenger did with a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handled {
    Sent,
    NotSent(MessageStatus, String),
    Later(Timestamp, String),
    Skipped(String),
    Refused(Refusal),
}

/// Claim: the job's check and claim through the runner.
struct Claim<'a, S: ?Sized> {
    store: &'a S,
    job: &'a MessageJob,
    second: SignedDuration,
}

#[async_trait]
impl<S: MessageStore + ?Sized> UseCase for Claim<'_, S> {
    type State = SendContext;
    type Answer = SendPlan;
    const WHAT: &'static str = "a message's claim";

    async fn load(&self) -> Result<SendContext> {
        self.store.send_context(self.job).await
    }

    fn decide(&self, ctx: SendContext, now: Timestamp) -> Result<Decision<SendPlan>> {
        Ok(decide_send(ctx, self.job, self.second, now))
    }

    fn refused(&self, refused: &Refused, _: Timestamp) -> Option<Decision<SendPlan>> {
        // Another delivery created the message between our read and our
        // claim: it is that delivery's to send.
        (*refused == Refused::Duplicate)
            .then(|| Decision::answer(SendPlan::Skip("claimed by another delivery".into())))
    }
}

/// Record: the provider's answer on the claimed message. Its first state is
/// the one the claim wrote (no second read); after a lost race (a status
/// report recorded first) it reads the message again.
struct Record<'a, S: ?Sized> {
    store: &'a S,
    job: &'a MessageJob,
    claimed: Message,
    lead: Option<crate::calling::lead::Lead>,
    result: std::result::Result<Accepted, SendFailure>,
    first: std::sync::atomic::AtomicBool,
    second: SignedDuration,
}

#[async_trait]
impl<S: MessageStore + ?Sized> UseCase for Record<'_, S> {
    type State = (Message, Option<crate::calling::lead::Lead>);
    type Answer = Recorded;
    const WHAT: &'static str = "a message's send";

    async fn load(&self) -> Result<Self::State> {
        if self.first.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return Ok((self.claimed.clone(), self.lead.clone()));
        }
        let ctx = self.store.send_context(self.job).await?;
        let message = ctx
            .message
            .ok_or_else(|| Error::Internal("a claimed message vanished".into()))?;
        Ok((message, ctx.lead))
    }

    fn decide(&self, (message, lead): Self::State, now: Timestamp) -> Result<Decision<Recorded>> {
        Ok(decide_record(
            message,
            lead,
            self.job,
            &self.result,
            self.second,
            now,
        ))
    }
}

/// Sends one message job: check and claim, wait for the sender's slot,
/// the provider request, record. A provider that failed (5xx, timeout)
/// fails the job, so the queue delivers it again and in the end parks it
/// in the dead-letter queue.
pub async fn send<S, E, P>(
    store: &S,
    effects: &E,
    provider: &P,
    clock: &dyn Clock,
    pause: &dyn Pause,
    job: &MessageJob,
) -> Result<Handled>
where
    S: MessageStore + crate::write::Commit + ?Sized,
    E: Effects + ?Sized,
    P: MessageProvider + ?Sized,
{
    let second = clock.stretch(SignedDuration::from_secs(1));
    let claim = Claim { store, job, second };
    let plan = run(store, effects, &claim, clock.now()).await?;
    let (outgoing, claimed, at) = match plan {
        SendPlan::Send {
            outgoing,
            claimed,
            at,
        } => (outgoing, claimed, at),
        SendPlan::NotSent(status, why) => return Ok(Handled::NotSent(status, why)),
        SendPlan::Later(at, why) => return Ok(Handled::Later(at, why)),
        SendPlan::Skip(why) => return Ok(Handled::Skipped(why)),
    };
    let wait = clock.wall(at).duration_since(clock.wall(clock.now()));
    if let Ok(wait) = std::time::Duration::try_from(wait)
        && !wait.is_zero()
    {
        pause.pause(wait).await;
    }
    let result = provider.send(&outgoing).await;
    let record = Record {
        store,
        job,
        claimed: *claimed,
        lead: None,
        result: result.clone(),
        first: std::sync::atomic::AtomicBool::new(true),
        second,
    };
    // A lasting refusal is recorded on the lead too: read it for that (the
    // rare path; a send that went through writes the message only).
    let record = if matches!(result, Err(SendFailure::Refused { .. })) {
        Record {
            first: std::sync::atomic::AtomicBool::new(false),
            ..record
        }
    } else {
        record
    };
    match run(store, effects, &record, clock.now()).await? {
        Recorded::Sent => Ok(Handled::Sent),
        Recorded::Later(at) => Ok(Handled::Later(at, "the provider asked to slow down".into())),
        Recorded::Refused(refusal) => Ok(Handled::Refused(refusal)),
        Recorded::Retry => Err(Error::Unavailable(match result {
            Err(e) => e.to_string(),
            Ok(_) => "provider".into(),
        })),
    }
}
