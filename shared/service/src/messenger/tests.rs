//! The messenger's three kinds of work through `Messenger::work`, over the
//! in-memory store, queue and calendar and a provider that records what it
//! was asked: a message sent and recorded, a lead's STOP understood, a
//! booking cancelled at the calendar, and a job delivered twice sent once.

use std::sync::Arc;

use async_trait::async_trait;
use leadline_core::appointments::appointment::{Appointment, AppointmentStatus};
use leadline_core::appointments::business::Business;
use leadline_core::appointments::calendar::{
    Attendee, BookingMetadata, Calendar, CalendarAccount, CalendarError, NewBooking,
};
use leadline_core::calling::lead::LeadStatus;
use leadline_core::memory::{
    FixedClock, MemoryCalendar, MemoryMessages, MemoryScheduler, MemoryStore,
};
use leadline_core::messaging::inbound::{InboundJob, InboundKind};
use leadline_core::messaging::message::{
    CancelBooking, CancelBookingKind, Channel, Message, MessageJob, MessageStatus, MessageText,
    MessengerWork,
};
use leadline_core::messaging::provider::{
    Accepted, InboundAddress, MessageProvider, Outgoing, SendFailure, Sender,
};
use leadline_core::messaging::settings::MessagingSettings;
use leadline_core::ports::{
    BusinessStore, InboundContext, LeadStore, MessageStore, Page, PageRequest, SendContext,
};
use leadline_core::write::{Change, Commit, Outbox};
use leadline_core::{AppointmentId, Email, Error, LeadId, MessageId, Phone, TenantId, Zone};

use super::{Lanes, Messenger};
use crate::messaging_webhook::test_support::*;

type TestMessenger<S, P> =
    Messenger<S, P, MemoryScheduler, MemoryMessages, MemoryStore, MemoryCalendar, FixedClock>;

fn messenger<S, P>(store: S, provider: P) -> TestMessenger<S, P> {
    Messenger {
        store,
        provider,
        follow_ups: MemoryScheduler::default(),
        queue: MemoryMessages::default(),
        businesses: MemoryStore::default(),
        calendar: MemoryCalendar::default(),
        clock: FixedClock(now()),
        lanes: Lanes::default(),
    }
}

async fn message(store: &impl MessageStore, job: &MessageJob) -> Message {
    store
        .message(&job.tenant, &job.lead, &job.id)
        .await
        .unwrap()
        .expect("the message is recorded")
}

#[tokio::test]
async fn a_message_job_is_sent_through_the_provider_and_recorded_sent() {
    let store = MemoryStore::default();
    let acme = seed(&store, "acme", SMS_NUMBER, false).await;
    let m = messenger(store, FakeProvider::default());
    let job = job(&acme, Channel::Sms, "1");
    m.work(&MessengerWork::Send(job.clone())).await.unwrap();

    let sent = m.provider.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, LEAD_PHONE);
    assert_eq!(
        sent[0].sender,
        Sender::TwilioNumber {
            number: phone(SMS_NUMBER)
        }
    );
    let recorded = message(&m.store, &job).await;
    assert_eq!(recorded.status, MessageStatus::Sent);
    assert!(
        recorded
            .provider_id
            .as_deref()
            .is_some_and(|id| id.starts_with("SM")),
        "{recorded:?}"
    );
}

#[tokio::test]
async fn an_inbound_stop_suppresses_the_number_and_the_next_message_is_not_sent() {
    let store = MemoryStore::default();
    let acme = seed(&store, "acme", SMS_NUMBER, false).await;
    let m = messenger(store, FakeProvider::default());
    let stop = InboundJob {
        kind: InboundKind::Inbound,
        tenant: acme.tenant.id.clone(),
        channel: Channel::Sms,
        provider_id: "SM00000000000000000000000000000stop".into(),
        from: phone(LEAD_PHONE),
        text: MessageText("STOP".into()),
        button: None,
        opt_out_type: Some("STOP".into()),
        at: now(),
    };
    m.work(&MessengerWork::Inbound(stop)).await.unwrap();
    let lead = m
        .store
        .lead(&acme.tenant.id, &acme.lead.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lead.status, LeadStatus::DoNotCall);

    let job = job(&acme, Channel::Sms, "after-stop");
    m.work(&MessengerWork::Send(job.clone())).await.unwrap();
    assert!(m.provider.sent().is_empty(), "nothing sent");
    assert_eq!(
        message(&m.store, &job).await.status,
        MessageStatus::Suppressed
    );
}

// ------------------------------------------------------------ CancelBooking

const EVENT_TYPE: u64 = 1;

/// A messenger whose tenant's business has a calendar account holding one
/// live booking, and the appointment of that booking, cancelled by the lead.
async fn booked() -> (TestMessenger<MemoryStore, FakeProvider>, Appointment) {
    let store = MemoryStore::default();
    let acme = seed(&store, "acme", SMS_NUMBER, false).await;
    let m = messenger(store, FakeProvider::default());
    let account = CalendarAccount {
        api_key: "cal_live_test".into(),
    };
    let business: Business = serde_json::from_value(serde_json::json!({
        "tenant": acme.tenant.id, "name": "Acme Dental", "zone": "America/New_York",
        "calendar": account, "updated_at": now()
    }))
    .unwrap();
    m.businesses.save_business(&business, None).await.unwrap();
    let start: jiff::Timestamp = "2026-03-11T14:00:00Z".parse().unwrap();
    m.calendar.offer(EVENT_TYPE, 30, [start]);
    let booking = m
        .calendar
        .book(
            &account,
            &NewBooking {
                event_type_id: EVENT_TYPE,
                start,
                attendee: Attendee {
                    name: "Ada Lovelace".into(),
                    email: Email::parse(LEAD_EMAIL).unwrap(),
                    phone: Some(phone(LEAD_PHONE)),
                    zone: Zone::parse("America/New_York").unwrap(),
                },
                metadata: BookingMetadata {
                    tenant: acme.tenant.id.clone(),
                    lead: acme.lead.id.clone(),
                    call: "call_1".into(),
                    tool_call: "tool_1".into(),
                },
            },
        )
        .await
        .unwrap();
    let appointment = Appointment {
        id: AppointmentId::derive(&acme.tenant.id, &booking.uid),
        tenant: acme.tenant.id.clone(),
        lead: acme.lead.id.clone(),
        booking_uid: booking.uid,
        starts_at: booking.start,
        ends_at: booking.end,
        status: AppointmentStatus::Cancelled,
        service: None,
        call: Some("call_1".into()),
        confirmation: None,
        version: 2,
    };
    (m, appointment)
}

fn cancel(appointment: &Appointment) -> MessengerWork {
    MessengerWork::CancelBooking(CancelBooking {
        kind: CancelBookingKind::CancelBooking,
        appointment: appointment.clone(),
    })
}

#[tokio::test]
async fn a_booking_the_lead_cancelled_is_cancelled_at_the_calendar() {
    let (m, appointment) = booked().await;
    assert_eq!(m.calendar.live_bookings().len(), 1);
    m.work(&cancel(&appointment)).await.unwrap();
    assert_eq!(m.calendar.live_bookings(), []);
    assert_eq!(
        m.calendar.requests().last().unwrap(),
        &format!("cancel {}", appointment.booking_uid)
    );
}

#[tokio::test]
async fn a_booking_the_calendar_no_longer_has_is_cancelled_already() {
    let (m, mut appointment) = booked().await;
    appointment.booking_uid = "bk_gone".into();
    m.work(&cancel(&appointment)).await.unwrap();
    assert_eq!(m.calendar.requests().last().unwrap(), "cancel bk_gone");
    // And a booking cancelled before, delivered again.
    let (m, appointment) = booked().await;
    m.work(&cancel(&appointment)).await.unwrap();
    m.work(&cancel(&appointment)).await.unwrap();
    assert_eq!(m.calendar.requests().len(), 3, "book, cancel, cancel");
}

#[tokio::test]
async fn an_unavailable_calendar_fails_the_message_for_another_delivery() {
    let (m, appointment) = booked().await;
    m.calendar
        .fail_with(CalendarError::Unavailable("Cal.com answered 503".into()));
    let failed = m.work(&cancel(&appointment)).await;
    assert!(matches!(failed, Err(Error::Unavailable(_))), "{failed:?}");
    assert_eq!(m.calendar.live_bookings().len(), 1);
    // The queue delivers it again once the calendar is back.
    m.calendar.heal();
    m.work(&cancel(&appointment)).await.unwrap();
    assert_eq!(m.calendar.live_bookings(), []);
}

// ------------------------------------------------------------ exactly once

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_job_delivered_twice_at_once_is_sent_once() {
    let store = MemoryStore::default();
    let acme = seed(&store, "acme", SMS_NUMBER, false).await;
    let m = messenger(store, FakeProvider::default());
    let work = MessengerWork::Send(job(&acme, Channel::Sms, "1"));
    let (a, b) = tokio::join!(m.work(&work), m.work(&work));
    a.unwrap();
    b.unwrap();
    assert_eq!(m.provider.sent().len(), 1);
}

/// Two warm functions (each its own lanes) get the same job at once, over
/// one table: the claim, not the lane, keeps it to one send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_job_delivered_to_two_functions_at_once_is_sent_once() {
    let store = Shared(Arc::new(MemoryStore::default()));
    let acme = seed(&store.0, "acme", SMS_NUMBER, false).await;
    let provider = SharedProvider(Arc::new(FakeProvider::default()));
    let first = messenger(store.clone(), provider.clone());
    let second = messenger(store.clone(), provider.clone());
    for n in 0..20 {
        let work = MessengerWork::Send(job(&acme, Channel::Email, &n.to_string()));
        let (a, b) = tokio::join!(first.work(&work), second.work(&work));
        a.unwrap();
        b.unwrap();
        assert_eq!(provider.0.sent().len(), n + 1, "job {n}");
    }
}

/// One in-memory table shared by two messengers.
#[derive(Clone)]
struct Shared(Arc<MemoryStore>);

#[async_trait]
impl MessageStore for Shared {
    async fn send_context(&self, job: &MessageJob) -> leadline_core::Result<SendContext> {
        self.0.send_context(job).await
    }
    async fn inbound_context(
        &self,
        tenant: &TenantId,
        from: &Phone,
    ) -> leadline_core::Result<InboundContext> {
        self.0.inbound_context(tenant, from).await
    }
    async fn message(
        &self,
        tenant: &TenantId,
        lead: &LeadId,
        id: &MessageId,
    ) -> leadline_core::Result<Option<Message>> {
        self.0.message(tenant, lead, id).await
    }
    async fn message_by_provider_id(
        &self,
        tenant: &TenantId,
        provider_id: &str,
    ) -> leadline_core::Result<Option<Message>> {
        self.0.message_by_provider_id(tenant, provider_id).await
    }
    async fn messages_of(
        &self,
        tenant: &TenantId,
        lead: &LeadId,
    ) -> leadline_core::Result<Vec<Message>> {
        self.0.messages_of(tenant, lead).await
    }
    async fn messages_with_status(
        &self,
        tenant: &TenantId,
        status: MessageStatus,
        page: &PageRequest,
    ) -> leadline_core::Result<Page<Message>> {
        self.0.messages_with_status(tenant, status, page).await
    }
    async fn messaging_settings(
        &self,
        tenant: &TenantId,
    ) -> leadline_core::Result<Option<MessagingSettings>> {
        self.0.messaging_settings(tenant).await
    }
    async fn save_messaging_settings(
        &self,
        settings: &MessagingSettings,
        previous: Option<&MessagingSettings>,
    ) -> leadline_core::Result<()> {
        self.0.save_messaging_settings(settings, previous).await
    }
    async fn tenant_of_sender(
        &self,
        address: &InboundAddress,
    ) -> leadline_core::Result<Option<TenantId>> {
        self.0.tenant_of_sender(address).await
    }
}

#[async_trait]
impl Commit for Shared {
    async fn commit(&self, changes: &[Change]) -> leadline_core::Result<()> {
        self.0.commit(changes).await
    }
    async fn clear_outbox(&self, outbox: &Outbox) -> leadline_core::Result<()> {
        self.0.clear_outbox(outbox).await
    }
}

/// One provider's record shared by two messengers.
#[derive(Clone)]
struct SharedProvider(Arc<FakeProvider>);

#[async_trait]
impl MessageProvider for SharedProvider {
    async fn send(&self, outgoing: &Outgoing) -> Result<Accepted, SendFailure> {
        self.0.send(outgoing).await
    }
}
