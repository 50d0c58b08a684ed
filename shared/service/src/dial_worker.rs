//! The `call-dispatcher` function: each dial-queue message is a dial job, an
//! owed call whose schedule fired, a campaign sweep or the wake of slots a
//! call gave back, run through the one SQS batch runner ([`crate::batch`]).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use leadline_core::calling::call::VoiceDialer;
use leadline_core::calling::dispatch::{DialResult, Dialers, Dispatcher, sweep_campaign};
use leadline_core::calling::work::{DeploymentLimits, DialMessage};
use leadline_core::intake::tenant::VoiceProvider;
use leadline_core::kernel::redact::Redacted;
use leadline_core::ports::{CallStore, CampaignStore, DialQueue, LeadStore};
use leadline_core::write::Commit;
use leadline_core::{Clock, Error};

use crate::batch;

/// The deployment's two provider accounts.
pub struct ProviderDialers<R, V> {
    pub retell: R,
    pub vapi: V,
}

impl<R: VoiceDialer, V: VoiceDialer> Dialers for ProviderDialers<R, V> {
    fn dialer(&self, provider: VoiceProvider) -> &dyn VoiceDialer {
        match provider {
            VoiceProvider::Retell => &self.retell,
            VoiceProvider::Vapi => &self.vapi,
        }
    }
}

pub struct DialWorker<S, Q, D, C> {
    pub store: S,
    pub queue: Q,
    pub dialers: D,
    pub clock: C,
    pub limits: DeploymentLimits,
}

impl<S, Q, D, C> DialWorker<S, Q, D, C>
where
    S: CallStore + CampaignStore + LeadStore + Commit,
    Q: DialQueue,
    D: Dialers,
    C: Clock,
{
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        batch::run("dial", &event, |message| self.handle_message(message)).await
    }

    async fn handle_message(&self, message: &SqsMessage) -> Result<(), Error> {
        let id = message.message_id.as_deref().unwrap_or("?");
        let body = message.body.as_deref().unwrap_or_default();
        let parsed: DialMessage = serde_json::from_str(body).map_err(|e| {
            tracing::error!(message = id, error = %Redacted(&e), "not a dial message; it will reach the dead-letter queue");
            Error::Malformed(e.to_string())
        })?;
        let dispatcher = Dispatcher {
            store: &self.store,
            queue: &self.queue,
            dialers: &self.dialers,
            clock: &self.clock,
            limits: self.limits,
        };
        match &parsed {
            DialMessage::Dial(job) => dispatcher.dial(job).await.map(|result| {
                log_dial(job, &result);
            }),
            DialMessage::FollowUp(follow_up) => dispatcher.follow_up(follow_up).await.map(
                |result| match result {
                    DialResult::NotOwed(why) => tracing::info!(
                        tenant = %follow_up.tenant, lead = %follow_up.lead,
                        attempt = follow_up.attempt, reason = ?follow_up.reason, why,
                        "follow-up fired for a lead no longer owed it: nothing done"
                    ),
                    other => tracing::info!(
                        tenant = %follow_up.tenant, lead = %follow_up.lead,
                        attempt = follow_up.attempt, reason = ?follow_up.reason, result = ?Redacted(other),
                        "follow-up fired"
                    ),
                },
            ),
            DialMessage::Wake(wake) => dispatcher.wake(wake).await.map(|woken| {
                if woken.is_empty() {
                    tracing::info!(tenant = %wake.tenant, freed_by = %wake.freed_by, "slots given back: nobody was waiting");
                }
                for (waiter, result) in &woken {
                    tracing::info!(
                        tenant = %waiter.tenant, lead = %waiter.lead, attempt = waiter.attempt,
                        freed_by = %wake.freed_by, waited_since = %waiter.since, result = ?result,
                        "woken for a slot given back"
                    );
                }
            }),
            DialMessage::Sweep(sweep) => {
                sweep_campaign(&self.store, &self.queue, sweep, &self.clock)
                    .await
                    .map(|done| {
                        tracing::info!(
                            tenant = %sweep.tenant, campaign = %sweep.campaign,
                            queued = done.queued, resent = done.resent,
                            more = done.next.is_some(), "campaign swept"
                        );
                    })
            }
        }
    }
}

fn log_dial(job: &leadline_core::calling::work::DialJob, result: &DialResult) {
    let attempt = job.call().attempt_id();
    match result {
        DialResult::Placed { provider_call_id } => {
            tracing::info!(tenant = %job.tenant, lead = %job.lead, %attempt, provider_call_id, "call placed")
        }
        other => {
            tracing::info!(tenant = %job.tenant, lead = %job.lead, %attempt, result = ?Redacted(other), "dial job handled")
        }
    }
}
