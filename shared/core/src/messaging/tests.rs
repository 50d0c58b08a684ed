//! The messenger's rules, against the in-memory store and a provider that
//! records what it was asked.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};

use crate::appointments::appointment::{Appointment, AppointmentStatus};
use crate::calling::lead::{Lead, LeadStatus};
use crate::calling::suppression::{Suppression, SuppressionSource};
use crate::intake::campaign::Campaign;
use crate::intake::tenant::Tenant;
use crate::kernel::email::Email;
use crate::kernel::ids::{AppointmentId, MessageId};
use crate::kernel::phone::Phone;
use crate::memory::{FixedClock, MemoryMessages, MemoryQueue, MemoryScheduler, MemoryStore};
use crate::messaging::delivery::{Reported, report};
use crate::messaging::inbound::{InboundJob, InboundKind, Understood, receive};
use crate::messaging::message::{
    AppointmentRef, Channel, MessageJob, MessagePurpose, MessageStatus, MessageText, MessengerWork,
    Recipient,
};
use crate::messaging::provider::{
    Accepted, Content, DeliveryStatus, MessageProvider, Outgoing, Refusal, SendFailure,
    StatusReport,
};
use crate::messaging::send::{Handled, Pause, send};
use crate::messaging::settings::{MessagingSettings, templates};
use crate::ports::{CampaignStore, LeadStore, MessageStore, TenantStore};
use crate::write::{Change, Commit, EffectPorts, Effects, Entity};

/// A provider that answers from a script (accepting by default) and keeps
/// every request.
#[derive(Default)]
pub struct FakeProvider {
    pub sent: Mutex<Vec<Outgoing>>,
    pub answers: Mutex<VecDeque<Result<Accepted, SendFailure>>>,
    next_id: AtomicUsize,
}

impl FakeProvider {
    pub fn answer(&self, answer: Result<Accepted, SendFailure>) {
        self.answers.lock().unwrap().push_back(answer);
    }

    pub fn sent(&self) -> Vec<Outgoing> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait]
impl MessageProvider for FakeProvider {
    async fn send(&self, outgoing: &Outgoing) -> Result<Accepted, SendFailure> {
        self.sent.lock().unwrap().push(outgoing.clone());
        self.answers.lock().unwrap().pop_front().unwrap_or_else(|| {
            Ok(Accepted {
                provider_id: format!("SM{:032}", self.next_id.fetch_add(1, Ordering::SeqCst)),
                status: DeliveryStatus::Queued,
            })
        })
    }
}

pub struct NoPause(pub AtomicUsize);

#[async_trait]
impl Pause for NoPause {
    async fn pause(&self, _: Duration) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// 11:00 in New York on a Tuesday.
pub fn noon() -> Timestamp {
    "2026-03-10T15:00:00Z".parse().unwrap()
}

pub struct World {
    pub store: MemoryStore,
    pub provider: FakeProvider,
    pub queue: MemoryQueue,
    pub scheduler: MemoryScheduler,
    pub messages: MemoryMessages,
    pub tenant: Tenant,
    pub lead: Lead,
    pub now: Timestamp,
}

impl World {
    pub async fn new() -> Self {
        let store = MemoryStore::default();
        let tenant = crate::intake::tenant::tests::tenant();
        store.create_tenant(&tenant, "hash").await.unwrap();
        let mut lead = crate::calling::lead::tests::lead();
        lead.email = Some(Email::parse("ada@example.com").unwrap());
        lead.name = Some("Ada Lovelace".into());
        let campaign = Campaign {
            id: lead.campaign.clone(),
            tenant: tenant.id.clone(),
            name: "Spring".into(),
            status: crate::intake::campaign::CampaignStatus::Running,
            pacing: crate::intake::campaign::Pacing {
                max_parallel_calls: 2,
                calls_per_second: 1,
            },
            start_at: None,
            lead_count: 1,
            created_at: Timestamp::UNIX_EPOCH,
        };
        store.create_campaign(&campaign).await.unwrap();
        store
            .insert_leads(std::slice::from_ref(&lead))
            .await
            .unwrap();
        let mut settings = MessagingSettings::new(tenant.id.clone());
        settings.senders.sms_number = Some(Phone::parse("+14155550100", None).unwrap());
        settings.senders.email_from = Some(Email::parse("hello@acme.test").unwrap());
        settings.senders.whatsapp_number_id = Some("106540352242922".into());
        settings.team_email = Some(Email::parse("team@acme.test").unwrap());
        settings.booking_link = Some("https://cal.test/acme".into());
        settings.help_text = Some("Acme Dental, 555-0100.".into());
        store
            .save_messaging_settings(&settings, None)
            .await
            .unwrap();
        World {
            store,
            provider: FakeProvider::default(),
            queue: MemoryQueue::default(),
            scheduler: MemoryScheduler::default(),
            messages: MemoryMessages::default(),
            tenant,
            lead,
            now: noon(),
        }
    }

    pub fn effects(&self) -> impl Effects + '_ {
        EffectPorts {
            scheduler: &self.scheduler,
            dial_queue: &self.queue,
            messages: &self.messages,
        }
    }

    pub fn job(&self, channel: Channel) -> MessageJob {
        let to: Recipient = match channel {
            Channel::Email => self.lead.email.clone().unwrap().into(),
            _ => self.lead.phone.clone().into(),
        };
        MessageJob {
            id: MessageId::derive(&self.lead.id, "fallback", channel.as_str(), "1"),
            tenant: self.tenant.id.clone(),
            lead: self.lead.id.clone(),
            channel,
            purpose: MessagePurpose::Fallback,
            template: templates::CALL_FALLBACK.into(),
            lead_phone: (channel == Channel::Email).then(|| self.lead.phone.clone()),
            to,
            params: Default::default(),
            appointment: None,
            not_before: None,
            queued_at: Some(self.now),
        }
    }

    pub async fn send(&self, job: &MessageJob) -> crate::Result<Handled> {
        self.send_at(job, self.now).await
    }

    pub async fn send_at(&self, job: &MessageJob, at: Timestamp) -> crate::Result<Handled> {
        let clock = FixedClock(at);
        let pause = NoPause(AtomicUsize::new(0));
        send(
            &self.store,
            &self.effects(),
            &self.provider,
            &clock,
            &pause,
            job,
        )
        .await
    }

    pub async fn message(&self, job: &MessageJob) -> crate::messaging::message::Message {
        self.store
            .message(&job.tenant, &job.lead, &job.id)
            .await
            .unwrap()
            .expect("the message is recorded")
    }

    pub async fn lead(&self) -> Lead {
        self.store
            .lead(&self.tenant.id, &self.lead.id)
            .await
            .unwrap()
            .unwrap()
    }

    pub async fn suppress(&self, address: Recipient, source: SuppressionSource) {
        self.store
            .commit(&[Change::Suppress(Suppression {
                tenant: self.tenant.id.clone(),
                address,
                source,
                reason: "test".into(),
                at: self.now,
            })])
            .await
            .unwrap();
    }

    pub fn inbound(&self, text: &str, id: &str) -> InboundJob {
        InboundJob {
            kind: InboundKind::Inbound,
            tenant: self.tenant.id.clone(),
            channel: Channel::Sms,
            provider_id: id.into(),
            from: self.lead.phone.clone(),
            text: MessageText(text.into()),
            button: None,
            opt_out_type: None,
            at: self.now,
        }
    }

    pub async fn receive(&self, job: &InboundJob) -> Understood {
        receive(&self.store, &self.effects(), job, self.now)
            .await
            .unwrap()
    }

    /// An appointment of the lead tomorrow at 10:00 New York time, and the
    /// reminder that was sent about it.
    pub async fn booked_and_reminded(&self) -> (Appointment, MessageJob) {
        let appointment = Appointment {
            id: AppointmentId::derive(&self.tenant.id, "bk_1"),
            tenant: self.tenant.id.clone(),
            lead: self.lead.id.clone(),
            booking_uid: "bk_1".into(),
            starts_at: "2026-03-11T14:00:00Z".parse().unwrap(),
            ends_at: "2026-03-11T14:30:00Z".parse().unwrap(),
            status: AppointmentStatus::Booked,
            service: None,
            call: None,
            confirmation: None,
            version: 0,
        };
        self.store
            .commit(&[Change::Create(Entity::Appointment(appointment.clone()))])
            .await
            .unwrap();
        let appointment = self
            .store
            .appointments(&self.tenant.id)
            .into_iter()
            .next()
            .unwrap();
        let mut job = self.job(Channel::Sms);
        job.id = MessageId::derive(&self.lead.id, "reminder", "sms", "24h");
        job.purpose = MessagePurpose::Reminder;
        job.template = templates::REMINDER.into();
        job.appointment = Some(AppointmentRef {
            id: appointment.id.clone(),
            starts_at: appointment.starts_at,
        });
        assert_eq!(self.send(&job).await.unwrap(), Handled::Sent);
        (appointment, job)
    }
}

fn body(outgoing: &Outgoing) -> String {
    match &outgoing.content {
        Content::Text { body, .. } => body.clone(),
        Content::Template { name, .. } => name.clone(),
    }
}

// ---------------------------------------------------------------- sending

#[tokio::test]
async fn a_fallback_sms_is_rendered_sent_from_the_tenants_number_and_recorded_sent() {
    let w = World::new().await;
    let job = w.job(Channel::Sms);
    assert_eq!(w.send(&job).await.unwrap(), Handled::Sent);
    let sent = w.provider.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        body(&sent[0]),
        "Hi Ada, Acme Dental tried to reach you by phone. Reply here or book a time: https://cal.test/acme"
    );
    assert_eq!(sent[0].to, w.lead.phone.e164());
    let message = w.message(&job).await;
    assert_eq!(message.status, MessageStatus::Sent);
    assert!(message.provider_id.is_some());
    let steps: Vec<MessageStatus> = message.history.iter().map(|s| s.status).collect();
    assert_eq!(
        steps,
        [
            MessageStatus::Queued,
            MessageStatus::Sending,
            MessageStatus::Sent
        ]
    );
}

#[tokio::test]
async fn a_job_delivered_twice_sends_once() {
    let w = World::new().await;
    let job = w.job(Channel::Email);
    assert_eq!(w.send(&job).await.unwrap(), Handled::Sent);
    assert_eq!(
        w.send(&job).await.unwrap(),
        Handled::Skipped("already sent".into())
    );
    assert_eq!(w.provider.sent().len(), 1);
}

#[tokio::test]
async fn two_deliveries_at_once_send_once() {
    let w = World::new().await;
    let job = w.job(Channel::Sms);
    let (a, b) = tokio::join!(w.send(&job), w.send(&job));
    let sent = [a.unwrap(), b.unwrap()]
        .iter()
        .filter(|h| **h == Handled::Sent)
        .count();
    assert_eq!(sent, 1);
    assert_eq!(w.provider.sent().len(), 1);
}

#[tokio::test]
async fn a_crash_between_claim_and_send_is_never_sent_again_by_itself_and_becomes_unknown() {
    let w = World::new().await;
    let job = w.job(Channel::Sms);
    // The claim is written, then the process dies: no answer is recorded.
    let ctx = w.store.send_context(&job).await.unwrap();
    let claim = crate::messaging::send::decide_send(ctx, &job, SignedDuration::from_secs(1), w.now);
    w.store.commit(&claim.changes).await.unwrap();
    // The job comes back at once: another delivery may still be sending it.
    assert_eq!(
        w.send(&job).await.unwrap(),
        Handled::Skipped("being sent by another delivery".into())
    );
    // After the visibility timeout: the sender is gone. Not sent; unknown.
    let later = w.now + SignedDuration::from_secs(60);
    let handled = w.send_at(&job, later).await.unwrap();
    assert!(
        matches!(handled, Handled::NotSent(MessageStatus::Unknown, _)),
        "{handled:?}"
    );
    assert!(w.provider.sent().is_empty());
    assert_eq!(w.message(&job).await.status, MessageStatus::Unknown);
    let unknown = w
        .store
        .messages_with_status(
            &w.tenant.id,
            MessageStatus::Unknown,
            &crate::ports::PageRequest {
                limit: 10,
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(unknown.items.len(), 1, "listed for the operator");
    // And it stays unknown: a third delivery does nothing.
    let again = w.send_at(&job, later + SignedDuration::from_secs(60)).await;
    assert_eq!(again.unwrap(), Handled::Skipped("already unknown".into()));
    assert!(w.provider.sent().is_empty());
}

#[tokio::test]
async fn suppression_is_checked_before_each_send() {
    let w = World::new().await;
    let first = w.job(Channel::Sms);
    assert_eq!(w.send(&first).await.unwrap(), Handled::Sent);
    // The lead opts out; the next message to the number is not sent.
    w.suppress(w.lead.phone.clone().into(), SuppressionSource::Message)
        .await;
    let mut second = w.job(Channel::Sms);
    second.id = MessageId::derive(&w.lead.id, "fallback", "sms", "2");
    let handled = w.send(&second).await.unwrap();
    assert!(
        matches!(&handled, Handled::NotSent(MessageStatus::Suppressed, why) if why.contains("opted out")),
        "{handled:?}"
    );
    // The email goes neither: the lead's number is on the list.
    let handled = w.send(&w.job(Channel::Email)).await.unwrap();
    assert!(
        matches!(handled, Handled::NotSent(MessageStatus::Suppressed, _)),
        "{handled:?}"
    );
    assert_eq!(w.provider.sent().len(), 1);
    let message = w.message(&second).await;
    assert_eq!(message.status, MessageStatus::Suppressed);
    assert!(message.reason.unwrap().contains("opted out by message"));
}

#[tokio::test]
async fn a_suppressed_email_address_gets_no_email_but_the_number_gets_its_sms() {
    let w = World::new().await;
    w.suppress(
        w.lead.email.clone().unwrap().into(),
        SuppressionSource::Provider,
    )
    .await;
    let handled = w.send(&w.job(Channel::Email)).await.unwrap();
    assert!(matches!(
        handled,
        Handled::NotSent(MessageStatus::Suppressed, _)
    ));
    assert_eq!(w.send(&w.job(Channel::Sms)).await.unwrap(), Handled::Sent);
}

#[tokio::test]
async fn an_erased_lead_gets_nothing() {
    let w = World::new().await;
    let lead = w.lead().await;
    w.store
        .commit(&[Change::Delete(Entity::Lead(lead))])
        .await
        .unwrap();
    let handled = w.send(&w.job(Channel::Sms)).await.unwrap();
    assert_eq!(
        handled,
        Handled::NotSent(MessageStatus::Suppressed, "the lead was erased".into())
    );
    assert!(w.provider.sent().is_empty());
}

#[tokio::test]
async fn a_reminder_for_a_cancelled_or_moved_appointment_is_dropped() {
    let w = World::new().await;
    let (appointment, job) = w.booked_and_reminded().await;
    // Moved: the 2-hour reminder asked for the old time.
    let mut moved = appointment.clone();
    moved.starts_at += SignedDuration::from_hours(1);
    w.store
        .commit(&[Change::Save(Entity::Appointment(moved.clone()))])
        .await
        .unwrap();
    let mut two_hours = job.clone();
    two_hours.id = MessageId::derive(&w.lead.id, "reminder", "sms", "2h");
    let handled = w.send(&two_hours).await.unwrap();
    assert_eq!(
        handled,
        Handled::NotSent(MessageStatus::Dropped, "the appointment moved".into())
    );
    // Cancelled.
    let mut cancelled = w.store.appointments(&w.tenant.id).pop().unwrap();
    cancelled.cancel().unwrap();
    w.store
        .commit(&[Change::Save(Entity::Appointment(cancelled.clone()))])
        .await
        .unwrap();
    let mut fifteen = job.clone();
    fifteen.id = MessageId::derive(&w.lead.id, "reminder", "sms", "15m");
    fifteen.appointment.as_mut().unwrap().starts_at = cancelled.starts_at;
    let handled = w.send(&fifteen).await.unwrap();
    assert_eq!(
        handled,
        Handled::NotSent(
            MessageStatus::Dropped,
            "the appointment was cancelled".into()
        )
    );
    assert_eq!(w.provider.sent().len(), 1, "only the first reminder left");
}

#[tokio::test]
async fn an_sms_due_in_quiet_hours_waits_for_the_morning_and_an_email_does_not() {
    let w = World::new().await;
    // 23:30 in San Francisco (the lead's number is a 415).
    let night: Timestamp = "2026-03-11T06:30:00Z".parse().unwrap();
    let job = w.job(Channel::Sms);
    let handled = w.send_at(&job, night).await.unwrap();
    let morning: Timestamp = "2026-03-11T15:00:00Z".parse().unwrap(); // 08:00 PDT
    assert!(
        matches!(handled, Handled::Later(at, _) if at == morning),
        "{handled:?}"
    );
    assert!(w.provider.sent().is_empty());
    assert_eq!(w.message(&job).await.status, MessageStatus::Waiting);
    // The job is put back for then.
    assert_eq!(w.messages.jobs()[0].not_before, Some(morning));
    // In the morning it goes.
    assert_eq!(w.send_at(&job, morning).await.unwrap(), Handled::Sent);
    // An email at night goes at once.
    assert_eq!(
        w.send_at(&w.job(Channel::Email), night).await.unwrap(),
        Handled::Sent
    );
}

#[tokio::test]
async fn whatsapp_outside_the_window_goes_only_as_a_template() {
    let w = World::new().await;
    // The fallback has an approved template: it goes.
    let job = w.job(Channel::Whatsapp);
    assert_eq!(w.send(&job).await.unwrap(), Handled::Sent);
    assert!(matches!(
        w.provider.sent()[0].content,
        Content::Template { .. }
    ));
    // A reply with no template, outside the window: refused.
    let mut free = w.job(Channel::Whatsapp);
    free.id = MessageId::derive(&w.lead.id, "reply", "whatsapp", "1");
    free.template = templates::HELP.into();
    free.purpose = MessagePurpose::Reply;
    let handled = w.send(&free).await.unwrap();
    assert!(
        matches!(handled, Handled::NotSent(MessageStatus::Refused, _)),
        "{handled:?}"
    );
    assert_eq!(w.message(&free).await.refusal, Some(Refusal::OutsideWindow));
    // Once the lead wrote on WhatsApp, free text goes for 24 hours.
    let mut wrote = w.inbound("hello?", "wamid.1");
    wrote.channel = Channel::Whatsapp;
    w.receive(&wrote).await;
    let mut free = free.clone();
    free.id = MessageId::derive(&w.lead.id, "reply", "whatsapp", "2");
    assert_eq!(w.send(&free).await.unwrap(), Handled::Sent);
    assert!(matches!(w.provider.sent()[1].content, Content::Text { .. }));
}

#[tokio::test]
async fn sms_go_at_the_senders_rate_and_a_burst_is_spread_over_the_next_seconds() {
    let w = World::new().await;
    let mut later = 0;
    for n in 0..5 {
        let mut job = w.job(Channel::Sms);
        job.id = MessageId::derive(&w.lead.id, "burst", "sms", &n.to_string());
        match w.send(&job).await.unwrap() {
            Handled::Sent => {}
            Handled::Later(at, _) => {
                later += 1;
                // Each waits for its own slot: 1 a second (and 1%) from now.
                assert_eq!(at, w.now + SignedDuration::from_millis(1010 * n));
            }
            other => panic!("{other:?}"),
        }
    }
    // The first, and the second 1.01 s later, are sent (the function waits
    // up to 2 s for its slot); the rest go back on the queue for their slot.
    assert_eq!(w.provider.sent().len(), 2);
    assert_eq!(later, 3);
    let back: Vec<Timestamp> = w
        .messages
        .jobs()
        .iter()
        .filter_map(|j| j.not_before)
        .collect();
    assert_eq!(
        back,
        [2020, 3030, 4040].map(|ms| w.now + SignedDuration::from_millis(ms))
    );
}

#[tokio::test]
async fn a_429_holds_the_message_back_for_retry_after_and_the_job_comes_back() {
    let w = World::new().await;
    w.provider.answer(Err(SendFailure::RateLimited {
        retry_after: Some(Duration::from_secs(7)),
    }));
    let job = w.job(Channel::Sms);
    let handled = w.send(&job).await.unwrap();
    let at = w.now + SignedDuration::from_secs(7);
    assert!(
        matches!(handled, Handled::Later(t, _) if t == at),
        "{handled:?}"
    );
    assert_eq!(w.message(&job).await.status, MessageStatus::Waiting);
    assert_eq!(w.messages.jobs()[0].not_before, Some(at));
    assert_eq!(w.send_at(&job, at).await.unwrap(), Handled::Sent);
}

#[tokio::test]
async fn a_5xx_or_timeout_fails_the_job_for_another_delivery_and_then_sends() {
    let w = World::new().await;
    w.provider
        .answer(Err(SendFailure::Unavailable("503".into())));
    let job = w.job(Channel::Email);
    assert!(w.send(&job).await.is_err(), "the queue delivers it again");
    let message = w.message(&job).await;
    assert_eq!((message.status, message.tries), (MessageStatus::Queued, 1));
    assert_eq!(w.send(&job).await.unwrap(), Handled::Sent);
    assert_eq!(w.provider.sent().len(), 2);
}

#[tokio::test]
async fn an_opted_out_refusal_is_recorded_on_the_message_and_the_lead_and_suppresses_the_number() {
    let w = World::new().await;
    w.provider.answer(Err(SendFailure::Refused {
        refusal: Refusal::OptedOut,
        code: "21610".into(),
        detail: "Attempt to send to unsubscribed recipient".into(),
    }));
    let job = w.job(Channel::Sms);
    assert_eq!(
        w.send(&job).await.unwrap(),
        Handled::Refused(Refusal::OptedOut)
    );
    let message = w.message(&job).await;
    assert_eq!(message.status, MessageStatus::Refused);
    assert!(message.reason.unwrap().contains("21610"));
    let lead = w.lead().await;
    assert_eq!(lead.messaging.refusals[0].refusal, Refusal::OptedOut);
    // The number is on the list now: the next message is not even tried.
    let handled = w.send(&w.job(Channel::Email)).await.unwrap();
    assert!(matches!(
        handled,
        Handled::NotSent(MessageStatus::Suppressed, _)
    ));
    assert_eq!(w.provider.sent().len(), 1);
}

#[tokio::test]
async fn invalid_numbers_and_numbers_not_on_whatsapp_are_recorded_and_not_suppressed() {
    for (refusal, code) in [
        (Refusal::InvalidAddress, "21211"),
        (Refusal::NotOnWhatsapp, "131026"),
    ] {
        let w = World::new().await;
        w.provider.answer(Err(SendFailure::Refused {
            refusal,
            code: code.into(),
            detail: "no".into(),
        }));
        let job = w.job(Channel::Whatsapp);
        assert_eq!(w.send(&job).await.unwrap(), Handled::Refused(refusal));
        assert_eq!(w.lead().await.messaging.refusals[0].code, code);
        assert_eq!(w.send(&w.job(Channel::Sms)).await.unwrap(), Handled::Sent);
    }
}

#[tokio::test]
async fn a_message_job_costs_one_read_one_claim_one_request_and_one_write() {
    let w = World::new().await;
    let counting = crate::memory::Counting::new(&w.store);
    let job = w.job(Channel::Sms);
    let clock = FixedClock(w.now);
    let pause = NoPause(AtomicUsize::new(0));
    let handled = send(&counting, &w.effects(), &w.provider, &clock, &pause, &job)
        .await
        .unwrap();
    assert_eq!(handled, Handled::Sent);
    assert_eq!(
        (
            counting.reads(),
            counting.commits(),
            w.provider.sent().len()
        ),
        (1, 2, 1),
        "1 read, 1 claim + 1 write after, 1 provider request"
    );
}

// ---------------------------------------------------------------- statuses

fn status(provider_id: &str, status: DeliveryStatus, at: Timestamp) -> StatusReport {
    StatusReport {
        channel: Channel::Sms,
        provider_id: provider_id.into(),
        ours: None,
        status,
        error: None,
        at,
        suppresses: None,
        dedupe: format!("{provider_id}#{status:?}"),
        sender: None,
    }
}

#[tokio::test]
async fn statuses_out_of_order_end_where_they_would_in_order_and_never_move_back() {
    let w = World::new().await;
    let job = w.job(Channel::Sms);
    w.send(&job).await.unwrap();
    let message = w.message(&job).await;
    let id = message.provider_id.clone().unwrap();
    let ours = Some((job.tenant.clone(), job.lead.clone(), job.id.clone()));
    let t = w.now;
    let mut delivered = status(
        &id,
        DeliveryStatus::Delivered,
        t + SignedDuration::from_secs(2),
    );
    delivered.ours = ours.clone();
    let mut sent = status(&id, DeliveryStatus::Sent, t + SignedDuration::from_secs(1));
    sent.ours = ours.clone();
    let mut failed = status(
        &id,
        DeliveryStatus::Failed,
        t + SignedDuration::from_secs(3),
    );
    failed.ours = ours;
    let effects = w.effects();
    for (r, expected) in [
        (&delivered, Reported::Moved),
        (&sent, Reported::Unchanged),
        (&delivered, Reported::Unchanged),
        (&failed, Reported::Unchanged),
    ] {
        let got = report(&w.store, &effects, &w.tenant.id, r, w.now)
            .await
            .unwrap();
        assert_eq!(got, expected, "{:?}", r.status);
    }
    assert_eq!(w.message(&job).await.status, MessageStatus::Delivered);
}

#[tokio::test]
async fn a_bounce_suppresses_the_email_address() {
    let w = World::new().await;
    let job = w.job(Channel::Email);
    w.send(&job).await.unwrap();
    let mut bounce = status("x-msg-id", DeliveryStatus::Failed, w.now);
    bounce.channel = Channel::Email;
    bounce.ours = Some((job.tenant.clone(), job.lead.clone(), job.id.clone()));
    bounce.suppresses = Some("bounce".into());
    report(&w.store, &w.effects(), &w.tenant.id, &bounce, w.now)
        .await
        .unwrap();
    assert_eq!(w.message(&job).await.status, MessageStatus::Failed);
    let mut next = w.job(Channel::Email);
    next.id = MessageId::derive(&w.lead.id, "fallback", "email", "2");
    let handled = w.send(&next).await.unwrap();
    assert!(
        matches!(handled, Handled::NotSent(MessageStatus::Suppressed, _)),
        "{handled:?}"
    );
}

#[tokio::test]
async fn a_report_naming_no_message_of_ours_changes_nothing() {
    let w = World::new().await;
    let r = status("wamid.unknown", DeliveryStatus::Read, w.now);
    assert_eq!(
        report(&w.store, &w.effects(), &w.tenant.id, &r, w.now)
            .await
            .unwrap(),
        Reported::NotOurs
    );
}

// ---------------------------------------------------------------- inbound

#[tokio::test]
async fn stop_suppresses_the_number_stops_the_lead_cancels_its_retry_and_the_carrier_confirms() {
    let w = World::new().await;
    // The lead is owed a retry.
    let mut lead = w.lead().await;
    lead.status = LeadStatus::RetryPending;
    lead.attempts = 1;
    lead.owe(Some(crate::calling::lead::NextCall {
        kind: crate::calling::lead::NextCallKind::Retry,
        attempt: 2,
        at: w.now + SignedDuration::from_hours(4),
    }));
    lead.take_effects();
    w.store
        .commit(&[Change::Save(Entity::Lead(lead))])
        .await
        .unwrap();
    let understood = w.receive(&w.inbound("STOP", "SM1")).await;
    assert_eq!(understood, Understood::OptedOut { confirmed: false });
    let lead = w.lead().await;
    assert_eq!(lead.status, LeadStatus::DoNotCall);
    assert!(lead.next_call.is_none());
    // The owed call's schedule is cancelled (the outbox's effect).
    assert_eq!(w.scheduler.requests().deletes, 1);
    // No confirmation from us: Twilio sends its own for STOP.
    assert!(w.messages.jobs().is_empty());
    // And nothing reaches the lead again.
    let handled = w.send(&w.job(Channel::Sms)).await.unwrap();
    assert!(matches!(
        handled,
        Handled::NotSent(MessageStatus::Suppressed, _)
    ));
}

#[tokio::test]
async fn a_phrase_opt_out_gets_one_confirmation_and_a_second_one_none() {
    let w = World::new().await;
    let understood = w
        .receive(&w.inbound("Please stop texting me!", "SM1"))
        .await;
    assert_eq!(understood, Understood::OptedOut { confirmed: true });
    let jobs = w.messages.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].purpose, MessagePurpose::OptOutConfirmation);
    // The confirmation itself reaches the opted-out lead, even at night.
    let night: Timestamp = "2026-03-11T06:30:00Z".parse().unwrap();
    assert_eq!(w.send_at(&jobs[0], night).await.unwrap(), Handled::Sent);
    let understood = w.receive(&w.inbound("STOP texting me", "SM2")).await;
    assert_eq!(understood, Understood::OptedOut { confirmed: false });
    assert_eq!(w.messages.jobs().len(), 1);
}

#[tokio::test]
async fn the_same_inbound_message_delivered_twice_is_understood_once() {
    let w = World::new().await;
    let job = w.inbound("opt out", "SM1");
    w.receive(&job).await;
    assert_eq!(w.receive(&job).await, Understood::Duplicate);
    assert_eq!(w.messages.jobs().len(), 1);
    let conversation = w.store.messages_of(&w.tenant.id, &w.lead.id).await.unwrap();
    assert_eq!(conversation.len(), 1);
}

#[tokio::test]
async fn start_lifts_a_messaging_opt_out_but_not_a_do_not_call_from_a_call() {
    let w = World::new().await;
    w.receive(&w.inbound("STOP", "SM1")).await;
    assert_eq!(
        w.receive(&w.inbound("START", "SM2")).await,
        Understood::OptedIn { lifted: true }
    );
    assert_eq!(w.send(&w.job(Channel::Sms)).await.unwrap(), Handled::Sent);

    let w = World::new().await;
    w.suppress(w.lead.phone.clone().into(), SuppressionSource::Call)
        .await;
    assert_eq!(
        w.receive(&w.inbound("START", "SM2")).await,
        Understood::OptedIn { lifted: false }
    );
    let handled = w.send(&w.job(Channel::Sms)).await.unwrap();
    assert!(matches!(
        handled,
        Handled::NotSent(MessageStatus::Suppressed, _)
    ));
}

#[tokio::test]
async fn yes_after_an_opt_out_subscribes_again_as_twilio_does() {
    let w = World::new().await;
    w.receive(&w.inbound("STOP", "SM1")).await;
    assert_eq!(
        w.receive(&w.inbound("Yes", "SM2")).await,
        Understood::OptedIn { lifted: true }
    );
}

#[tokio::test]
async fn help_answers_the_tenants_help_text() {
    let w = World::new().await;
    assert_eq!(w.receive(&w.inbound("help", "SM1")).await, Understood::Help);
    let reply = w.messages.jobs().pop().unwrap();
    assert_eq!(reply.template, templates::HELP);
    w.send(&reply).await.unwrap();
    assert_eq!(
        body(&w.provider.sent()[0]),
        "Acme Dental, 555-0100. Reply STOP to opt out."
    );
}

#[tokio::test]
async fn c_or_yes_to_an_appointment_message_confirms_the_appointment() {
    for word in ["C", "y", "1", "CONFIRM", "YES"] {
        let w = World::new().await;
        let (appointment, _) = w.booked_and_reminded().await;
        let understood = w.receive(&w.inbound(word, "SM9")).await;
        assert_eq!(
            understood,
            Understood::Confirmed(appointment.id.clone()),
            "{word}"
        );
        let stored = w.store.appointments(&w.tenant.id).pop().unwrap();
        assert!(stored.confirmation.is_some(), "{word}");
    }
}

#[tokio::test]
async fn r_answers_the_booking_link() {
    let w = World::new().await;
    assert_eq!(
        w.receive(&w.inbound("R", "SM1")).await,
        Understood::Reschedule
    );
    let reply = w.messages.jobs().pop().unwrap();
    w.send(&reply).await.unwrap();
    assert!(body(&w.provider.sent()[0]).contains("https://cal.test/acme"));
}

#[tokio::test]
async fn cancel_is_an_opt_out_and_x_cancels_only_when_confirmed() {
    let w = World::new().await;
    let (appointment, _) = w.booked_and_reminded().await;
    assert!(matches!(
        w.receive(&w.inbound("X", "SM1")).await,
        Understood::CancelAsked(_)
    ));
    let check = w.messages.jobs().pop().unwrap();
    assert_eq!(check.template, templates::CANCEL_CHECK);
    w.send(&check).await.unwrap();
    assert_eq!(
        w.store.appointments(&w.tenant.id)[0].status,
        AppointmentStatus::Booked
    );
    assert_eq!(
        w.receive(&w.inbound("x", "SM2")).await,
        Understood::Cancelled(appointment.id.clone())
    );
    assert_eq!(
        w.store.appointments(&w.tenant.id)[0].status,
        AppointmentStatus::Cancelled
    );
    assert!(w.messages.work().iter().any(|work| matches!(
        work,
        MessengerWork::CancelBooking(c) if c.appointment.id == appointment.id
    )));

    // CANCEL never cancels the appointment: it opts out.
    let w = World::new().await;
    w.booked_and_reminded().await;
    assert!(matches!(
        w.receive(&w.inbound("CANCEL", "SM1")).await,
        Understood::OptedOut { .. }
    ));
    assert_eq!(
        w.store.appointments(&w.tenant.id)[0].status,
        AppointmentStatus::Booked
    );
}

#[tokio::test]
async fn anything_else_is_kept_in_the_conversation_and_the_team_is_told() {
    let w = World::new().await;
    assert_eq!(
        w.receive(&w.inbound("Can we do Thursday instead?", "SM1"))
            .await,
        Understood::Conversation { team_told: true }
    );
    let conversation = w.store.messages_of(&w.tenant.id, &w.lead.id).await.unwrap();
    assert_eq!(
        conversation[0].text.as_ref().unwrap().0,
        "Can we do Thursday instead?"
    );
    let note = w.messages.jobs().pop().unwrap();
    assert_eq!(note.purpose, MessagePurpose::TeamNotification);
    assert_eq!(note.to, "team@acme.test");
    w.send(&note).await.unwrap();
    assert!(body(&w.provider.sent()[0]).contains("Can we do Thursday instead?"));
}

#[tokio::test]
async fn a_message_from_a_number_no_lead_has_is_kept_under_a_contact_of_its_own() {
    let w = World::new().await;
    let mut job = w.inbound("Hi, who is this?", "SM1");
    job.from = Phone::parse("+14155559999", None).unwrap();
    assert_eq!(
        w.receive(&job).await,
        Understood::Conversation { team_told: true }
    );
    let contact = crate::kernel::ids::LeadId::for_caller(&w.tenant.id, &job.from);
    let conversation = w.store.messages_of(&w.tenant.id, &contact).await.unwrap();
    assert_eq!(conversation.len(), 1);
}

// ---------------------------------------------------------------- after a call

#[tokio::test]
async fn an_analysed_qualified_call_sends_the_follow_up_and_tells_the_team_once() {
    use crate::calling::attempt::CallAttempt;
    use crate::calling::call::{CallEvent, CallPhase, CallRef, CallReport};
    use crate::calling::call_events::{EventResult, apply};
    use crate::calling::lead::CallOutcome;
    use crate::ports::CallContext;

    let w = World::new().await;
    let mut settings = w
        .store
        .messaging_settings(&w.tenant.id)
        .await
        .unwrap()
        .unwrap();
    settings.follow_up_rules = vec![crate::messaging::settings::FollowUpRule {
        outcomes: vec![crate::messaging::settings::OutcomeKind::Qualified],
        channel: Channel::Email,
        template: templates::CALL_FOLLOW_UP.into(),
    }];
    let mut lead = w.lead().await;
    lead.status = LeadStatus::Calling;
    lead.attempts = 1;
    let call = CallRef {
        tenant: w.tenant.id.clone(),
        lead: lead.id.clone(),
        attempt: 1,
    };
    let attempt: CallAttempt = serde_json::from_value(serde_json::json!({
        "id": call.attempt_id().to_string(), "tenant": "acme", "lead": lead.id.to_string(),
        "campaign": lead.campaign.to_string(), "number": 1, "provider": "retell",
        "provider_call_id": "call_1", "status": "ended", "created_at": "2026-03-10T15:00:00Z",
        "version": 2
    }))
    .unwrap();
    let event = CallEvent {
        provider: crate::intake::tenant::VoiceProvider::Retell,
        provider_call_id: "call_1".into(),
        dedupe_key: "retell#call_1#call_analyzed".into(),
        call: Some(call),
        phase: CallPhase::Analyzed,
        outcome: Some(CallOutcome::Qualified),
        report: CallReport {
            summary: Some("Wants a refinance quote.".into()),
            structured: Some(serde_json::json!({"interest": "refinance"})),
            ..CallReport::default()
        },
    };
    let ctx = CallContext {
        tenant: Some(w.tenant.clone()),
        lead: Some(lead),
        attempt: Some(attempt),
        messaging: Some(settings),
    };
    let decision = apply(Some(ctx.clone()), &event, w.now);
    assert_eq!(decision.answer, EventResult::Applied);
    let sends: Vec<&MessageJob> = decision
        .effects
        .iter()
        .filter_map(|e| match e {
            crate::write::Effect::Send(job) => Some(job),
            _ => None,
        })
        .collect();
    let purposes: Vec<MessagePurpose> = sends.iter().map(|j| j.purpose).collect();
    assert_eq!(
        purposes,
        [
            MessagePurpose::CallFollowUp,
            MessagePurpose::TeamNotification
        ]
    );
    assert_eq!(sends[1].params["interest"], "refinance");
    assert_eq!(
        sends[1].params["call_link"],
        format!("/v1/leads/{}/calls/1", w.lead.id)
    );
    // Without the tenant's rules, nothing.
    let bare = CallContext {
        messaging: None,
        ..ctx
    };
    let decision = apply(Some(bare), &event, w.now);
    assert!(
        !decision
            .effects
            .iter()
            .any(|e| matches!(e, crate::write::Effect::Send(_)))
    );
}

#[tokio::test]
async fn an_opt_out_committed_between_the_read_and_the_claim_stops_the_send() {
    let w = World::new().await;
    let job = w.job(Channel::Sms);
    // The messenger read the lead's state before the STOP arrived...
    let ctx = w.store.send_context(&job).await.unwrap();
    let claim = crate::messaging::send::decide_send(ctx, &job, SignedDuration::from_secs(1), w.now);
    assert!(matches!(
        claim.answer,
        crate::messaging::send::SendPlan::Send { .. }
    ));
    // ...and the STOP is committed before its claim: the claim is refused.
    w.receive(&w.inbound("STOP", "SM1")).await;
    assert!(matches!(
        w.store.commit(&claim.changes).await,
        Err(crate::Error::Refused(crate::write::Refused::Stale))
    ));
    // Decided again, it is not sent.
    let handled = w.send(&job).await.unwrap();
    assert!(
        matches!(handled, Handled::NotSent(MessageStatus::Suppressed, _)),
        "{handled:?}"
    );
    assert!(w.provider.sent().is_empty());
}

#[tokio::test]
async fn a_do_not_call_said_on_a_call_after_a_stop_is_not_lifted_by_start() {
    let w = World::new().await;
    w.receive(&w.inbound("STOP", "SM1")).await;
    w.suppress(w.lead.phone.clone().into(), SuppressionSource::Call)
        .await;
    assert_eq!(
        w.receive(&w.inbound("START", "SM2")).await,
        Understood::OptedIn { lifted: false }
    );
    let handled = w.send(&w.job(Channel::Sms)).await.unwrap();
    assert!(matches!(
        handled,
        Handled::NotSent(MessageStatus::Suppressed, _)
    ));
}

#[tokio::test]
async fn a_number_no_lead_has_gets_its_reply_and_the_team_its_note() {
    let w = World::new().await;
    let mut job = w.inbound("help", "SM1");
    job.from = Phone::parse("+14155559999", None).unwrap();
    assert_eq!(w.receive(&job).await, Understood::Help);
    let reply = w.messages.jobs().pop().unwrap();
    assert_eq!(w.send(&reply).await.unwrap(), Handled::Sent);
    assert_eq!(w.provider.sent()[0].to, "+14155559999");

    let mut job = w.inbound("who is this?", "SM2");
    job.from = Phone::parse("+14155559999", None).unwrap();
    w.receive(&job).await;
    let note = w.messages.jobs().pop().unwrap();
    assert_eq!(note.purpose, MessagePurpose::TeamNotification);
    assert_eq!(w.send(&note).await.unwrap(), Handled::Sent);
    // A lead that was deleted is still erased: nothing goes.
    let erased = w.job(Channel::Sms);
    let lead = w.lead().await;
    w.store
        .commit(&[Change::Delete(Entity::Lead(lead))])
        .await
        .unwrap();
    assert!(matches!(
        w.send(&erased).await.unwrap(),
        Handled::NotSent(MessageStatus::Suppressed, _)
    ));
}

#[tokio::test]
async fn a_failure_answer_after_a_status_report_came_in_does_not_send_again() {
    let w = World::new().await;
    let job = w.job(Channel::Sms);
    let ctx = w.store.send_context(&job).await.unwrap();
    let claim = crate::messaging::send::decide_send(ctx, &job, SignedDuration::from_secs(1), w.now);
    w.store.commit(&claim.changes).await.unwrap();
    let crate::messaging::send::SendPlan::Send { claimed, .. } = claim.answer else {
        panic!("claimed")
    };
    // The provider's status callback came first (it names our id)...
    let mut sent = status("SM1", DeliveryStatus::Sent, w.now);
    sent.ours = Some((job.tenant.clone(), job.lead.clone(), job.id.clone()));
    report(&w.store, &w.effects(), &w.tenant.id, &sent, w.now)
        .await
        .unwrap();
    // ...then the request answered a timeout: the message stays sent.
    let stored = w.message(&job).await;
    let decision = crate::messaging::send::decide_record(
        stored,
        None,
        &job,
        &Err(SendFailure::Unavailable("timeout".into())),
        SignedDuration::from_secs(1),
        w.now,
    );
    assert!(decision.changes.is_empty());
    assert_eq!(decision.answer, crate::messaging::send::Recorded::Sent);
    assert_eq!(w.message(&job).await.status, MessageStatus::Sent);
    let _ = claimed;
}
