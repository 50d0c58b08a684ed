//! The functions the shared voice agent calls while the lead is on the line:
//! what the business is and offers, when it is open, which times are free,
//! and booking, moving or cancelling the caller's own appointments.
//!
//! Every answer is something the agent can say. Bad arguments get an error
//! result and write nothing; a calendar that is slow or failing gets a spoken
//! fallback and a follow-up task for the business, never silence. A booking,
//! move or cancellation is recorded under its tool call's key with the answer
//! given, so the same tool call delivered twice books once and answers the same.

use jiff::civil::{Date, DateTime};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::appointments::appointment::{Appointment, AppointmentStatus};
use crate::appointments::business::{Business, Service};
use crate::appointments::calendar::{
    Attendee, Booking, BookingMetadata, Calendar, CalendarAccount, CalendarError, Email,
    NewBooking, SlotQuery,
};
use crate::calling::attempt::CallAttempt;
use crate::calling::call::CallRef;
use crate::calling::lead::{Change, Lead};
use crate::intake::tenant::VoiceProvider;
use crate::kernel::error::Result;
use crate::kernel::ids::{AppointmentId, LeadId, MessageId, TenantId};
use crate::kernel::phone::Phone;
use crate::kernel::redact::Redacted;
use crate::kernel::time::Zone;
use crate::messaging::message::{Channel, MessageJob, MessagePurpose};
use crate::ports::{BusinessStore, CallContext, CallStore, InCallStore, LeadStore, MessageQueue};
use crate::write::{
    Change as WriteChange, Commit, Decision, Effect, Effects, Entity, Refused, UseCase, run,
};
use async_trait::async_trait;

mod args;
mod reply;
mod rules;
mod speech;
#[cfg(test)]
mod tests;

use args::*;
pub use reply::*;
pub use rules::*;
pub use speech::*;

/// The functions the agent may call.
pub const FUNCTIONS: [&str; 7] = [
    "get_business_info",
    "get_services",
    "get_business_hours",
    "check_availability",
    "book_appointment",
    "reschedule_appointment",
    "cancel_appointment",
];

/// How many free times an answer offers: a caller can hold three in mind.
pub const SLOTS_OFFERED: usize = 3;
/// How far a search for free times looks when the caller names no range.
pub const SEARCH_DAYS: i64 = 7;

/// One function call of the agent, as either provider delivered it.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    /// The provider's tool call id (Vapi), or one derived from the call,
    /// the function and its arguments (Retell sends none): a redelivery has the same.
    pub id: String,
    pub name: String,
    /// A JSON object (a JSON-encoded string is read by the adapter first).
    pub args: Value,
}

/// Who is on the line, as leadline knows it: the tenant from our own call
/// metadata (or, inbound, from the number dialled), never from the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub tenant: TenantId,
    /// Leadline's metadata of an outbound call (the lead called and the
    /// attempt): a tool call acts only if it matches the attempt leadline
    /// recorded ([`check_attempt`]). `None` on inbound calls.
    pub call: Option<CallRef>,
    /// The provider that sent the tool call.
    pub provider: VoiceProvider,
    /// The provider's call id.
    pub call_id: String,
    /// The number the caller speaks from, when the provider says.
    pub caller: Option<Phone>,
    /// When the tool call arrived, on the wall clock by which the providers
    /// date a call's end (the demo's clock runs ahead of it).
    pub arrived: Timestamp,
}

impl Line {
    /// The lead leadline called (outbound calls).
    fn lead(&self) -> Option<&LeadId> {
        self.call.as_ref().map(|c| &c.lead)
    }

    /// Whose appointments this call may see and change: the lead called, or
    /// for an inbound call the caller's number.
    fn owner(&self) -> Option<LeadId> {
        self.lead().cloned().or_else(|| {
            self.caller
                .as_ref()
                .map(|c| LeadId::for_caller(&self.tenant, c))
        })
    }
}

/// The tenant of a call: leadline's metadata when present, else the tenant
/// the dialled number belongs to (inbound calls).
pub async fn resolve_tenant<S: BusinessStore>(
    store: &S,
    metadata_tenant: Option<&TenantId>,
    called: Option<&Phone>,
) -> Result<Option<TenantId>> {
    match (metadata_tenant, called) {
        (Some(tenant), _) => Ok(Some(tenant.clone())),
        (None, Some(number)) => store.tenant_of_number(number).await,
        (None, None) => Ok(None),
    }
}

/// The in-call use case: its ports, borrowed for one request. Businesses
/// come through their own port so that the function can cache them.
pub struct InCall<'a, B, S, K, M> {
    pub businesses: &'a B,
    pub store: &'a S,
    pub calendar: &'a K,
    pub messages: &'a M,
}

/// A tool call that changed something, recorded with its answer, the
/// appointment it made or moved, and the lead it booked, in one write.
struct RecordTool<'a, S> {
    store: &'a S,
    tenant: &'a TenantId,
    lead: Option<&'a LeadId>,
    /// The lead as the tool call read it; read again after a lost race.
    held: std::sync::Mutex<Option<Option<Lead>>>,
    record: &'a ToolRecord,
    appointment: Option<&'a Appointment>,
    booked: bool,
}

#[async_trait]
impl<S: LeadStore> UseCase for RecordTool<'_, S> {
    type State = Option<Lead>;
    type Answer = ();
    const WHAT: &'static str = "the lead";

    async fn load(&self) -> Result<Option<Lead>> {
        let held = self.held.lock().ok().and_then(|mut held| held.take());
        if let Some(held) = held {
            return Ok(held);
        }
        match self.lead {
            Some(id) => self.store.lead(self.tenant, id).await,
            None => Ok(None),
        }
    }

    fn decide(&self, lead: Option<Lead>, now: Timestamp) -> Result<Decision<()>> {
        let mut changes = vec![WriteChange::Create(Entity::Tool(self.record.clone()))];
        if let Some(appointment) = self.appointment {
            changes.push(match appointment.version {
                0 => WriteChange::Create(Entity::Appointment(appointment.clone())),
                _ => WriteChange::Save(Entity::Appointment(appointment.clone())),
            });
        }
        let mut effects = Vec::new();
        // The lead gets the booking (or its new time) in writing, and may
        // confirm it by replying C.
        if let (Some(appointment), Some(lead)) = (self.appointment, lead.as_ref())
            && appointment.status == crate::appointments::appointment::AppointmentStatus::Booked
        {
            effects.push(Effect::Send(booked_message(lead, appointment, now)));
        }
        if let Some(mut lead) = lead.filter(|_| self.booked)
            && lead.book(now) == Change::Applied
        {
            effects.extend(lead.take_effects());
            changes.push(WriteChange::Save(Entity::Lead(lead)));
        }
        Ok(Decision::new(changes, effects, ()))
    }
}

/// The SMS that tells the lead its appointment's time, and how to confirm
/// or move it (never with an opt-out word: messaging facts §0). One per
/// appointment and time.
fn booked_message(lead: &Lead, appointment: &Appointment, now: Timestamp) -> MessageJob {
    MessageJob {
        id: MessageId::derive(
            &lead.id,
            "appointment_booked",
            Channel::Sms.as_str(),
            &format!("{}#{}", appointment.id, appointment.starts_at),
        ),
        tenant: lead.tenant.clone(),
        lead: lead.id.clone(),
        channel: Channel::Sms,
        purpose: MessagePurpose::Confirmation,
        template: crate::messaging::settings::templates::BOOKED.into(),
        to: lead.phone.clone().into(),
        params: Default::default(),
        appointment: Some(crate::messaging::message::AppointmentRef {
            id: appointment.id.clone(),
            starts_at: appointment.starts_at,
        }),
        not_before: None,
        queued_at: Some(now),
        lead_phone: None,
    }
}

/// In-call effects: messages to the caller. A decision that asks for
/// anything else here is a bug, and fails.
struct MessageEffects<'a, M: ?Sized>(&'a M);

#[async_trait]
impl<M: MessageQueue + ?Sized> Effects for MessageEffects<'_, M> {
    async fn carry_out(&self, effects: &[Effect], _: Timestamp) -> Result<()> {
        let mut jobs = Vec::new();
        for effect in effects {
            match effect {
                Effect::Send(job) => jobs.push(job.clone()),
                other => {
                    return Err(crate::Error::Internal(format!(
                        "a tool call cannot carry out {}",
                        other.id()
                    )));
                }
            }
        }
        self.0.enqueue(&jobs).await
    }
}

/// What a booking-like function needs from the calendar, resolved.
struct Ready<'a> {
    business: &'a Business,
    account: &'a CalendarAccount,
    lead: Option<Lead>,
    zone: Zone,
}

impl<B, S, K, M> InCall<'_, B, S, K, M>
where
    B: BusinessStore,
    S: InCallStore + LeadStore + CallStore + Commit,
    K: Calendar,
    M: MessageQueue,
{
    /// Answers one function call. Errors of our own store are the only
    /// `Err`: the receiver turns them into a spoken apology as well.
    ///
    /// On an outbound call the lead and the attempt are read in one round
    /// trip, next to the business; a call that does not match its attempt
    /// ([`check_attempt`]) gets [`NOT_THIS_CALL`] before anything else.
    pub async fn answer(&self, line: &Line, call: &ToolCall, now: Timestamp) -> Result<ToolReply> {
        let (business, context) =
            futures::future::try_join(self.businesses.business(&line.tenant), async {
                match &line.call {
                    Some(ours) => self.store.call_context(ours).await,
                    None => Ok(CallContext::default()),
                }
            })
            .await?;
        if let Some(ours) = &line.call
            && let Err(why) = check_attempt(line, ours, context.attempt.as_ref())
        {
            tracing::warn!(
                tenant = %line.tenant, lead = %ours.lead, attempt = ours.attempt,
                call_id = %line.call_id, provider = ?line.provider, function = %call.name,
                why, "a tool call that does not match leadline's call: refused"
            );
            return Ok(ToolReply::error(NOT_THIS_CALL));
        }
        let lead = context.lead;
        let Some(business) = business else {
            return Ok(ToolReply::error(UNKNOWN_BUSINESS));
        };
        let zone = lead
            .as_ref()
            .and_then(|l| l.zone.clone())
            .unwrap_or_else(|| business.zone.clone());
        let none = Map::new();
        let args = match &call.args {
            Value::Object(args) => args,
            Value::Null => &none,
            _ => {
                return Ok(ToolReply::error(
                    "I didn't get the details for that. Could you say them again?",
                ));
            }
        };
        let args = Args(args);
        Ok(match call.name.as_str() {
            "get_business_info" => business_info(&business),
            "get_services" => services(&business),
            "get_business_hours" => ToolReply::say(
                format!("We're open {}.", business.spoken_hours()),
                json!({"timezone": business.zone.name()}),
            ),
            "check_availability" => {
                let ready = match ready(&business, lead, zone) {
                    Ok(ready) => ready,
                    Err(reply) => return Ok(reply),
                };
                self.check_availability(line, call, &ready, args, now).await
            }
            "book_appointment" | "reschedule_appointment" | "cancel_appointment" => {
                let ready = match ready(&business, lead, zone) {
                    Ok(ready) => ready,
                    Err(reply) => return Ok(reply),
                };
                return self.change(line, call, ready, args, now).await;
            }
            other => ToolReply::error(format!(
                "I can't do that here: there is no function called {other}."
            )),
        })
    }

    async fn check_availability(
        &self,
        line: &Line,
        call: &ToolCall,
        ready: &Ready<'_>,
        args: Args<'_>,
        now: Timestamp,
    ) -> ToolReply {
        let service = match bookable_service(ready.business, args) {
            Ok(service) => service,
            Err(reply) => return reply,
        };
        let rules = ready.business.booking_rules;
        let (earliest, latest) = (rules.earliest(now), rules.latest(now));
        let (from, to) = match args.range(&ready.zone, now) {
            Ok(Some((_, to))) if to <= earliest => {
                return ToolReply::error(
                    "That date has already passed, or it's too soon to book. Which later day works for you?",
                );
            }
            Ok(Some((from, _))) if from > latest => {
                return ToolReply::error(format!(
                    "We only book up to {} days ahead. Is there an earlier day that works?",
                    rules.max_days_ahead
                ));
            }
            Ok(Some((from, to))) => (from.max(earliest), to.min(latest)),
            Ok(None) => (
                earliest,
                (earliest + SignedDuration::from_hours(24 * SEARCH_DAYS)).min(latest),
            ),
            Err(reply) => return reply,
        };
        let slots = match self.free_slots(ready, service, from, to).await {
            Ok(slots) => slots,
            Err(e @ CalendarError::Unavailable(_)) => {
                return self
                    .fallback(line, call, ready, Wanted { service, at: None }, &e, now)
                    .await;
            }
            Err(e) => {
                tracing::warn!(error = %Redacted(&e), "the calendar refused a slot query");
                return ToolReply::error(format!(
                    "I can't see free times for {} right now. Someone from the team will text you some.",
                    service.name
                ));
            }
        };
        let offered = nearest(&slots, from, SLOTS_OFFERED);
        if offered.is_empty() {
            return ToolReply::say(
                format!(
                    "I don't see any free times for {} between {} and {}. Would another day work?",
                    service.name,
                    spoken_day(from, &ready.zone),
                    spoken_day(to, &ready.zone)
                ),
                json!({"service": service.id, "timezone": ready.zone.name(), "slots": []}),
            );
        }
        ToolReply::say(
            format!(
                "The nearest times I have for {} are {}. Which one suits you?",
                service.name,
                or_list(
                    &offered
                        .iter()
                        .map(|t| spoken(*t, &ready.zone))
                        .collect::<Vec<_>>()
                )
            ),
            json!({
                "service": service.id,
                "timezone": ready.zone.name(),
                "slots": slot_list(&offered, &ready.zone),
            }),
        )
    }

    /// Free starts in `[from, to)`, asked of the calendar for whole local
    /// days so that answers can be shared (cached) between calls.
    async fn free_slots(
        &self,
        ready: &Ready<'_>,
        service: &Service,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Timestamp>, CalendarError> {
        let query = SlotQuery {
            event_type_id: service.calcom_event_type_id,
            from: start_of_day(from, &ready.zone),
            to: next_day(to - SignedDuration::from_nanos(1), &ready.zone),
            zone: ready.zone.clone(),
        };
        let slots = self.calendar.free_slots(ready.account, &query).await?;
        Ok(slots
            .into_iter()
            .filter(|t| (from..to).contains(t))
            .collect())
    }

    /// Book, reschedule or cancel: answered from the record when this tool
    /// call was answered before, else carried out and recorded with its answer.
    async fn change(
        &self,
        line: &Line,
        call: &ToolCall,
        ready: Ready<'_>,
        args: Args<'_>,
        now: Timestamp,
    ) -> Result<ToolReply> {
        let key = format!("{}#{}", line.call_id, call.id);
        if let Some(record) = self.store.tool_record(&line.tenant, &key).await? {
            return Ok(record.reply);
        }
        let Some(owner) = line.owner() else {
            return Ok(ToolReply::error(
                "I can only book for the person on this call, and I can't see your number. Someone from the team will text you to finish the booking.",
            ));
        };
        let planned = match call.name.as_str() {
            "book_appointment" => self.book(line, call, &ready, &owner, args, now).await,
            "reschedule_appointment" => {
                self.reschedule(line, call, &ready, &owner, args, now)
                    .await?
            }
            _ => self.cancel(line, &ready, &owner, args, now).await?,
        };
        let Planned {
            reply,
            appointment,
            booked,
        } = match planned {
            Outcome::Rejected(reply) => return Ok(reply),
            Outcome::Done(planned) => *planned,
        };
        let lead = ready.lead.clone();
        let record = ToolRecord {
            key,
            tenant: line.tenant.clone(),
            name: call.name.clone(),
            reply: reply.clone(),
            at: now,
        };
        let recorded = RecordTool {
            store: self.store,
            tenant: &line.tenant,
            lead: line.lead(),
            held: std::sync::Mutex::new(Some(lead)),
            record: &record,
            appointment: appointment.as_ref(),
            booked,
        };
        match run(self.store, &MessageEffects(self.messages), &recorded, now).await {
            Ok(()) => Ok(reply),
            Err(crate::Error::Refused(Refused::Duplicate)) => {
                // Another delivery of this tool call got there first: its answer stands.
                if let Some(booking) = appointment.as_ref().filter(|a| a.version == 0)
                    && let Err(e) = self
                        .calendar
                        .cancel(ready.account, &booking.booking_uid, "duplicate request")
                        .await
                {
                    tracing::warn!(error = %Redacted(&e), "a duplicate booking could not be cancelled");
                }
                let record = self.store.tool_record(&line.tenant, &record.key).await?;
                Ok(record.map_or(reply, |r| r.reply))
            }
            Err(other) => Err(other),
        }
    }

    async fn book(
        &self,
        line: &Line,
        call: &ToolCall,
        ready: &Ready<'_>,
        owner: &LeadId,
        args: Args<'_>,
        now: Timestamp,
    ) -> Outcome {
        let service = match bookable_service(ready.business, args) {
            Ok(service) => service,
            Err(reply) => return Outcome::Rejected(reply),
        };
        let start = match args.start(ready, now) {
            Ok(start) => start,
            Err(reply) => return Outcome::Rejected(reply),
        };
        let attendee = match attendee(ready, line, args) {
            Ok(attendee) => attendee,
            Err(reply) => return Outcome::Rejected(reply),
        };
        let booking = NewBooking {
            event_type_id: service.calcom_event_type_id,
            start,
            attendee,
            metadata: BookingMetadata {
                tenant: line.tenant.clone(),
                lead: owner.clone(),
                call: line.call_id.clone(),
                tool_call: call.id.clone(),
            },
        };
        match self.calendar.book(ready.account, &booking).await {
            Ok(booked) => {
                let appointment = Appointment {
                    id: AppointmentId::derive(&line.tenant, &booked.uid),
                    tenant: line.tenant.clone(),
                    lead: owner.clone(),
                    booking_uid: booked.uid.clone(),
                    starts_at: booked.start,
                    ends_at: booked.end,
                    status: AppointmentStatus::Booked,
                    service: Some(service.id.clone()),
                    call: Some(line.call_id.clone()),
                    confirmation: None,
                    version: 0,
                };
                let reply = ToolReply::say(
                    format!(
                        "You're booked for {} on {}. You'll get a confirmation by email.",
                        service.name,
                        spoken(booked.start, &ready.zone)
                    ),
                    json!({"booked": true, "appointment": appointment_json(&appointment, &ready.zone)}),
                );
                Outcome::done(Planned {
                    reply,
                    appointment: Some(appointment),
                    booked: true,
                })
            }
            Err(CalendarError::SlotTaken(_)) => {
                self.alternatives(line, call, ready, service, start, now)
                    .await
            }
            Err(e) => {
                self.failed(
                    line,
                    call,
                    ready,
                    Wanted {
                        service,
                        at: Some(start),
                    },
                    e,
                    now,
                )
                .await
            }
        }
    }

    async fn reschedule(
        &self,
        line: &Line,
        call: &ToolCall,
        ready: &Ready<'_>,
        owner: &LeadId,
        args: Args<'_>,
        now: Timestamp,
    ) -> Result<Outcome> {
        let mut appointment = match self.own_appointment(line, owner, args, now).await? {
            Ok(appointment) => appointment,
            Err(reply) => return Ok(Outcome::Rejected(reply)),
        };
        let start = match args.start(ready, now) {
            Ok(start) => start,
            Err(reply) => return Ok(Outcome::Rejected(reply)),
        };
        let service = appointment
            .service
            .as_ref()
            .and_then(|id| ready.business.service(id));
        let moved = self
            .calendar
            .reschedule(
                ready.account,
                &appointment.booking_uid,
                start,
                "Rescheduled by the caller on the phone",
            )
            .await;
        Ok(match moved {
            Ok(Booking { uid, start, end }) => {
                if appointment.reschedule(&uid, start, end).is_err() {
                    return Ok(Outcome::Rejected(ToolReply::error(
                        "That appointment can't be moved any more.",
                    )));
                }
                let reply = ToolReply::say(
                    format!(
                        "Done: your appointment is now on {}.",
                        spoken(start, &ready.zone)
                    ),
                    json!({"rescheduled": true, "appointment": appointment_json(&appointment, &ready.zone)}),
                );
                Outcome::done(Planned {
                    reply,
                    appointment: Some(appointment),
                    booked: false,
                })
            }
            Err(CalendarError::SlotTaken(_)) => match service {
                Some(service) => {
                    self.alternatives(line, call, ready, service, start, now)
                        .await
                }
                None => Outcome::Rejected(ToolReply::error(
                    "That time isn't free. Which other time would you like?",
                )),
            },
            Err(e) => match service {
                Some(service) => {
                    self.failed(
                        line,
                        call,
                        ready,
                        Wanted {
                            service,
                            at: Some(start),
                        },
                        e,
                        now,
                    )
                    .await
                }
                None => self.unavailable_reply(e),
            },
        })
    }

    async fn cancel(
        &self,
        line: &Line,
        ready: &Ready<'_>,
        owner: &LeadId,
        args: Args<'_>,
        now: Timestamp,
    ) -> Result<Outcome> {
        let mut appointment = match self.own_appointment(line, owner, args, now).await? {
            Ok(appointment) => appointment,
            Err(reply) => return Ok(Outcome::Rejected(reply)),
        };
        let reason = args
            .text("reason")
            .unwrap_or("Cancelled by the caller on the phone");
        match self
            .calendar
            .cancel(ready.account, &appointment.booking_uid, reason)
            .await
        {
            // Gone from the calendar already: cancelled all the same.
            Ok(()) | Err(CalendarError::NotFound) => {}
            Err(CalendarError::Unavailable(why)) => {
                tracing::warn!(why = %Redacted(&why), "the calendar failed a cancellation");
                return Ok(self.unavailable_reply(CalendarError::Unavailable(why)));
            }
            Err(e) => {
                tracing::warn!(error = %Redacted(&e), "the calendar refused a cancellation");
                return Ok(Outcome::Rejected(ToolReply::error(
                    "I couldn't cancel that appointment. Someone from the team will follow up.",
                )));
            }
        }
        if appointment.cancel().is_err() {
            return Ok(Outcome::Rejected(ToolReply::error(
                "That appointment is no longer booked.",
            )));
        }
        let reply = ToolReply::say(
            format!(
                "Your appointment on {} is cancelled.",
                spoken(appointment.starts_at, &ready.zone)
            ),
            json!({"cancelled": true, "appointment": appointment_json(&appointment, &ready.zone)}),
        );
        Ok(Outcome::done(Planned {
            reply,
            appointment: Some(appointment),
            booked: false,
        }))
    }

    /// The caller's booked, upcoming appointment: the one named, or the only one.
    async fn own_appointment(
        &self,
        line: &Line,
        owner: &LeadId,
        args: Args<'_>,
        now: Timestamp,
    ) -> Result<Result<Appointment, ToolReply>> {
        let upcoming: Vec<Appointment> = self
            .store
            .appointments_of(&line.tenant, owner)
            .await?
            .into_iter()
            .filter(|a| a.status == AppointmentStatus::Booked && a.starts_at > now)
            .collect();
        let named = args.text("appointment_id");
        let found = match named {
            Some(id) => upcoming.iter().find(|a| a.id.as_str() == id).cloned(),
            None if upcoming.len() == 1 => upcoming.first().cloned(),
            None if upcoming.len() > 1 => {
                return Ok(Err(ToolReply::error(
                    "You have more than one appointment with us. Which one do you mean?",
                )));
            }
            None => None,
        };
        Ok(found.ok_or_else(|| {
            ToolReply::error("I can't find an upcoming appointment of yours to change.")
        }))
    }

    /// The slot was taken meanwhile: the nearest free times around it instead.
    async fn alternatives(
        &self,
        line: &Line,
        call: &ToolCall,
        ready: &Ready<'_>,
        service: &Service,
        wanted: Timestamp,
        now: Timestamp,
    ) -> Outcome {
        let rules = ready.business.booking_rules;
        let from = rules
            .earliest(now)
            .max(wanted - SignedDuration::from_hours(24));
        let to = rules
            .latest(now)
            .min(wanted + SignedDuration::from_hours(24 * 3));
        let slots = match self.free_slots(ready, service, from, to).await {
            Ok(slots) => slots,
            Err(e) => {
                return self
                    .failed(
                        line,
                        call,
                        ready,
                        Wanted {
                            service,
                            at: Some(wanted),
                        },
                        e,
                        now,
                    )
                    .await;
            }
        };
        let offered = nearest(&slots, wanted, SLOTS_OFFERED);
        let sentence = if offered.is_empty() {
            format!(
                "Sorry, {} was just taken, and I don't see other free times close to it. Would another day work?",
                spoken(wanted, &ready.zone)
            )
        } else {
            format!(
                "Sorry, {} was just taken. I can offer {}. Which would you like?",
                spoken(wanted, &ready.zone),
                or_list(
                    &offered
                        .iter()
                        .map(|t| spoken(*t, &ready.zone))
                        .collect::<Vec<_>>()
                )
            )
        };
        Outcome::done(Planned::answer(ToolReply::say(
            sentence,
            json!({"booked": false, "alternatives": slot_list(&offered, &ready.zone)}),
        )))
    }

    /// The calendar failed. Unavailable (slow, 5xx, 429): the spoken fallback
    /// and a follow-up task; any other refusal: an error, nothing written.
    async fn failed(
        &self,
        line: &Line,
        call: &ToolCall,
        ready: &Ready<'_>,
        wanted: Wanted<'_>,
        error: CalendarError,
        now: Timestamp,
    ) -> Outcome {
        match error {
            CalendarError::Unavailable(_) => Outcome::done(Planned::answer(
                self.fallback(line, call, ready, wanted, &error, now).await,
            )),
            e => {
                tracing::warn!(error = %Redacted(&e), "the calendar refused the request");
                Outcome::Rejected(ToolReply::error(
                    "I couldn't book that time. Could we try a different time?",
                ))
            }
        }
    }

    fn unavailable_reply(&self, error: CalendarError) -> Outcome {
        tracing::warn!(error = %Redacted(&error), "calendar unavailable during a call");
        Outcome::done(Planned::answer(ToolReply::say(
            FALLBACK,
            json!({"follow_up": true}),
        )))
    }

    /// The spoken fallback, and a follow-up task for the business on the
    /// messenger's queue: a text to the caller with what they asked for.
    async fn fallback(
        &self,
        line: &Line,
        call: &ToolCall,
        ready: &Ready<'_>,
        Wanted {
            service,
            at: wanted,
        }: Wanted<'_>,
        error: &CalendarError,
        now: Timestamp,
    ) -> ToolReply {
        tracing::warn!(error = %Redacted(error), function = %call.name, "calendar unavailable during a call: fallback answer");
        let to = ready
            .lead
            .as_ref()
            .map(|l| l.phone.clone())
            .or_else(|| line.caller.clone());
        let (Some(owner), Some(to)) = (line.owner(), to) else {
            return ToolReply::say(FALLBACK, json!({"follow_up": false}));
        };
        let occasion = format!("{}#{}", line.call_id, call.id);
        let mut params = std::collections::BTreeMap::from([
            ("business".to_owned(), ready.business.name.clone()),
            ("service".to_owned(), service.name.clone()),
            ("function".to_owned(), call.name.clone()),
            ("call".to_owned(), line.call_id.clone()),
            ("asked_at".to_owned(), now.to_string()),
        ]);
        if let Some(wanted) = wanted {
            params.insert("wanted".into(), wanted.to_string());
            params.insert("wanted_spoken".into(), spoken(wanted, &ready.zone));
        }
        let job = MessageJob {
            id: MessageId::derive(
                &owner,
                "booking_follow_up",
                Channel::Sms.as_str(),
                &occasion,
            ),
            tenant: line.tenant.clone(),
            lead: owner,
            channel: Channel::Sms,
            purpose: MessagePurpose::BookingFollowUp,
            template: "booking_follow_up".into(),
            to: to.into(),
            params,
            appointment: None,
            not_before: None,
            queued_at: Some(now),
            lead_phone: None,
        };
        let queued = match self.messages.enqueue(std::slice::from_ref(&job)).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %Redacted(&e), message = %job.id, "the follow-up task could not be queued");
                false
            }
        };
        ToolReply::say(FALLBACK, json!({"follow_up": queued, "task": job.id}))
    }
}

/// What the caller asked for when the calendar failed.
#[derive(Clone, Copy)]
struct Wanted<'a> {
    service: &'a Service,
    at: Option<Timestamp>,
}

enum Outcome {
    /// Bad input or a refusal: the error is answered and nothing is written.
    Rejected(ToolReply),
    /// The calendar answered: record the answer (and the appointment).
    Done(Box<Planned>),
}

struct Planned {
    reply: ToolReply,
    appointment: Option<Appointment>,
    /// The lead becomes booked.
    booked: bool,
}

impl Outcome {
    fn done(planned: Planned) -> Self {
        Outcome::Done(Box::new(planned))
    }
}

impl Planned {
    fn answer(reply: ToolReply) -> Self {
        Planned {
            reply,
            appointment: None,
            booked: false,
        }
    }
}

fn ready(business: &Business, lead: Option<Lead>, zone: Zone) -> Result<Ready<'_>, ToolReply> {
    match &business.calendar {
        Some(account) => Ok(Ready {
            business,
            account,
            lead,
            zone,
        }),
        None => Err(ToolReply::error(
            "I can't see the calendar for this business. Someone from the team will call you to book.",
        )),
    }
}
