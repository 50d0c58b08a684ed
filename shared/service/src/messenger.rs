//! The `messenger` function: the messenger's queue through the one SQS
//! batch runner. Each message is a message to send (checked, claimed, sent,
//! recorded: `leadline_core::messaging::send`), a lead's message to
//! understand (`leadline_core::messaging::inbound`), or a booking the lead
//! cancelled by message, cancelled at Cal.com.
//!
//! Messages of one tenant's channel go one at a time in a warm function, so
//! the sender's pace is taken in order rather than raced for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use leadline_core::appointments::calendar::{Calendar, CalendarError};
use leadline_core::kernel::redact::Redacted;
use leadline_core::messaging::inbound::receive;
use leadline_core::messaging::message::{CancelBooking, MessageJob, MessengerWork};
use leadline_core::messaging::provider::MessageProvider;
use leadline_core::messaging::send::{Handled, Pause, send};
use leadline_core::ports::{BusinessStore, FollowUpScheduler, MessageQueue, MessageStore};
use leadline_core::write::{Commit, EffectPorts, Unwired};
use leadline_core::{Clock, Error};

use crate::batch;

/// Waits on the function's timer.
pub struct TokioPause;

#[async_trait]
impl Pause for TokioPause {
    async fn pause(&self, span: Duration) {
        tokio::time::sleep(span).await;
    }
}

pub struct Messenger<S, P, F, M, B, K, C> {
    pub store: S,
    pub provider: P,
    /// Opt-outs cancel the schedules of owed calls.
    pub follow_ups: F,
    /// The messenger's own queue: replies, and messages held back.
    pub queue: M,
    pub businesses: B,
    pub calendar: K,
    pub clock: C,
    pub lanes: Lanes,
}

/// One lock per tenant's channel.
#[derive(Default)]
pub struct Lanes(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl Lanes {
    fn of(&self, job: &MessageJob) -> Arc<tokio::sync::Mutex<()>> {
        let key = format!("{}#{}", job.tenant, job.channel.as_str());
        self.0.lock().unwrap().entry(key).or_default().clone()
    }
}

impl<S, P, F, M, B, K, C> Messenger<S, P, F, M, B, K, C>
where
    S: MessageStore + Commit,
    P: MessageProvider,
    F: FollowUpScheduler,
    M: MessageQueue,
    B: BusinessStore,
    K: Calendar,
    C: Clock,
{
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        batch::run("messages", &event, |message| self.handle_message(message)).await
    }

    async fn handle_message(&self, message: &SqsMessage) -> Result<(), Error> {
        let id = message.message_id.as_deref().unwrap_or("?");
        let body = message.body.as_deref().unwrap_or_default();
        let work: MessengerWork = serde_json::from_str(body).map_err(|e| {
            tracing::error!(message = id, error = %Redacted(&e), "not messenger work; it will reach the dead-letter queue");
            Error::Malformed(e.to_string())
        })?;
        self.work(&work).await
    }

    pub async fn work(&self, work: &MessengerWork) -> Result<(), Error> {
        let effects = EffectPorts {
            scheduler: &self.follow_ups,
            dial_queue: &Unwired,
            messages: &self.queue,
        };
        match work {
            MessengerWork::Send(job) => {
                let lane = self.lanes.of(job);
                let _turn = lane.lock().await;
                let handled = send(
                    &self.store,
                    &effects,
                    &self.provider,
                    &self.clock,
                    &TokioPause,
                    job,
                )
                .await;
                log(job, &handled);
                handled.map(|_| ())
            }
            MessengerWork::Inbound(job) => {
                let understood = receive(&self.store, &effects, job, self.clock.now()).await?;
                tracing::info!(
                    tenant = %job.tenant, channel = job.channel.as_str(), provider_id = %job.provider_id,
                    understood = ?understood, "a lead's message understood"
                );
                Ok(())
            }
            MessengerWork::CancelBooking(cancel) => self.cancel_booking(cancel).await,
        }
    }

    /// Cancels the booking at the tenant's Cal.com. A booking gone already
    /// is success; an unavailable calendar fails the message, for another try.
    async fn cancel_booking(&self, cancel: &CancelBooking) -> Result<(), Error> {
        let appointment = &cancel.appointment;
        let business = self.businesses.business(&appointment.tenant).await?;
        let Some(account) = business.and_then(|b| b.calendar) else {
            tracing::warn!(tenant = %appointment.tenant, appointment = %appointment.id, "no calendar to cancel the booking at");
            return Ok(());
        };
        match self
            .calendar
            .cancel(
                &account,
                &appointment.booking_uid,
                "cancelled by the lead by message",
            )
            .await
        {
            Ok(()) | Err(CalendarError::NotFound) => {
                tracing::info!(tenant = %appointment.tenant, appointment = %appointment.id, "booking cancelled at the calendar");
                Ok(())
            }
            Err(CalendarError::Unavailable(why)) => Err(Error::Unavailable(why)),
            Err(e) => {
                tracing::warn!(tenant = %appointment.tenant, appointment = %appointment.id, error = %Redacted(&e), "the calendar refused the cancellation");
                Ok(())
            }
        }
    }
}

fn log(job: &MessageJob, handled: &Result<Handled, Error>) {
    let (tenant, lead, message, channel) = (&job.tenant, &job.lead, &job.id, job.channel.as_str());
    match handled {
        Ok(Handled::Sent) => {
            tracing::info!(%tenant, %lead, %message, channel, purpose = ?job.purpose, "message sent")
        }
        Ok(Handled::NotSent(status, why)) => tracing::info!(
            %tenant, %lead, %message, channel, status = status.as_str(), why = %Redacted(why), "message not sent"
        ),
        Ok(Handled::Later(at, why)) => tracing::info!(
            %tenant, %lead, %message, channel, %at, why = %Redacted(why), "message held back"
        ),
        Ok(Handled::Skipped(why)) => {
            tracing::info!(%tenant, %lead, %message, channel, why = %Redacted(why), "message job skipped")
        }
        Ok(Handled::Refused(refusal)) => tracing::warn!(
            %tenant, %lead, %message, channel, refusal = ?refusal, "message refused by the provider"
        ),
        Err(e) => tracing::warn!(
            %tenant, %lead, %message, channel, error = %Redacted(e), "message not sent; the queue will deliver it again"
        ),
    }
}

#[cfg(test)]
mod tests;
