//! The `call-retries` function: the sweep, run by a cron every 15 minutes
//! (and by hand: `{"kind": "sweep", "at": "<RFC 3339>"}`). It settles stuck
//! calls with the provider, places owed calls whose schedule never fired, and
//! sends messages that never reached the messenger. The owed calls
//! themselves arrive on the dial queue, where their schedules put them.

use leadline_aws::ScaledClock;
use leadline_core::Error;
use leadline_core::calling::call::{CallLookup, VoiceDialer};
use leadline_core::calling::sweep::{Lookups, SweepReport, Sweeper};
use leadline_core::intake::tenant::VoiceProvider;
use leadline_core::kernel::redact::Redacted;
use leadline_core::ports::{
    CallStore, DialQueue, FollowUpScheduler, LeadStore, MessageQueue, SweepStore,
};
use leadline_core::write::Commit;
use serde::Deserialize;

use crate::dial_worker::ProviderDialers;

/// What invokes the function.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RetriesEvent {
    /// `at` is the time the sweep runs as of: the cron passes its scheduled
    /// time (`<aws.scheduler.scheduled-time>`); absent or unreadable, now.
    Sweep {
        #[serde(default)]
        at: Option<String>,
    },
}

impl<R: VoiceDialer + CallLookup, V: VoiceDialer + CallLookup> Lookups for ProviderDialers<R, V> {
    fn lookup(&self, provider: VoiceProvider) -> &dyn CallLookup {
        match provider {
            VoiceProvider::Retell => &self.retell,
            VoiceProvider::Vapi => &self.vapi,
        }
    }
}

pub struct Retries<S, Q, L, F, M> {
    pub store: S,
    pub queue: Q,
    pub lookups: L,
    pub follow_ups: F,
    pub messages: M,
    pub clock: ScaledClock,
}

impl<S, Q, L, F, M> Retries<S, Q, L, F, M>
where
    S: SweepStore + CallStore + LeadStore + Commit,
    Q: DialQueue,
    L: Lookups,
    F: FollowUpScheduler,
    M: MessageQueue,
{
    pub async fn handle(&self, event: serde_json::Value) -> Result<SweepReport, Error> {
        let event: RetriesEvent = serde_json::from_value(event).map_err(|e| {
            tracing::error!(error = %Redacted(&e), "not an event call-retries knows");
            // The runtime logs the error a handler returns.
            Error::Malformed(Redacted(&e).to_string())
        })?;
        let RetriesEvent::Sweep { at } = event;
        // Scheduler's time is wall-clock time; the deployment's clock may run faster.
        let at = at.and_then(|raw| raw.parse().ok()).map_or_else(
            || leadline_core::Clock::now(&self.clock),
            |real| self.clock.to_virtual(real),
        );
        let sweeper = Sweeper {
            store: &self.store,
            queue: &self.queue,
            lookups: &self.lookups,
            scheduler: &self.follow_ups,
            messages: &self.messages,
        };
        let report = sweeper.sweep(at).await?;
        for line in &report.log {
            tracing::info!(%at, "{}", Redacted(line));
        }
        tracing::info!(
            %at,
            settled_by_provider = report.settled_by_provider,
            marked_failed = report.marked_failed,
            lookups_failed = report.lookups_failed,
            follow_ups_queued = report.follow_ups_queued,
            messages_queued = report.messages_queued,
            outboxes_finished = report.outboxes_finished,
            nothing_to_do = report.nothing_to_do,
            index_pages = report.index_pages,
            "sweep done"
        );
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use leadline_core::calling::call::{CallEvent, DialError};
    use leadline_core::memory::{MemoryMessages, MemoryQueue, MemoryScheduler, MemoryStore};
    use serde_json::json;

    use super::*;

    /// A provider that knows no call.
    struct Unknown;

    #[async_trait]
    impl CallLookup for Unknown {
        async fn lookup_call(&self, _: &str) -> Result<Option<CallEvent>, DialError> {
            Ok(None)
        }
    }

    impl Lookups for Unknown {
        fn lookup(&self, _: VoiceProvider) -> &dyn CallLookup {
            self
        }
    }

    fn retries() -> Retries<MemoryStore, MemoryQueue, Unknown, MemoryScheduler, MemoryMessages> {
        Retries {
            store: MemoryStore::default(),
            queue: MemoryQueue::default(),
            lookups: Unknown,
            follow_ups: MemoryScheduler::default(),
            messages: MemoryMessages::default(),
            clock: ScaledClock::REAL,
        }
    }

    #[tokio::test]
    async fn an_event_that_is_not_a_sweep_is_refused_as_malformed() {
        for event in [json!({"kind": "retry"}), json!({"sweep": "now"}), json!(42)] {
            let refused = retries().handle(event.clone()).await;
            assert!(matches!(refused, Err(Error::Malformed(_))), "{event}");
        }
    }

    #[tokio::test]
    async fn a_refused_event_is_logged_without_the_values_it_carried() {
        let event = json!({"kind": "ana@example.com", "at": "+14155552671"});
        let (refused, log) =
            crate::voice_webhook::test_support::logged(retries().handle(event)).await;
        let Err(Error::Malformed(answer)) = refused else {
            panic!("{refused:?}")
        };
        assert_eq!(
            leadline_core::kernel::redact::leaks(&answer),
            [],
            "{answer}"
        );
        assert!(log.contains("a•••@example.com"), "{log}");
        assert_eq!(leadline_core::kernel::redact::leaks(&log), [], "{log}");
    }

    #[tokio::test]
    async fn a_sweep_runs_as_of_its_time_or_now_when_the_time_is_unreadable() {
        use leadline_core::ports::LeadStore;
        let r = retries();
        // A lead owed a retry at 10:00 UTC on 1 November 2026.
        let lead: leadline_core::calling::lead::Lead = serde_json::from_value(json!({
            "id": "ld_aaaaaaaaaaaaaaaaaaaaaaaa", "tenant": "acme", "campaign": "cmp_aaaaaaaaaaaaaaaaaaaaaaaa",
            "phone": "+447400123456", "name": "Ada", "email": null, "whatsapp": null, "partner": null,
            "zone": null, "status": "retry_pending", "attempts": 1, "outcome": null, "note": null,
            "next_call": {"kind": "retry", "attempt": 2, "at": "2026-11-01T10:00:00Z"},
            "created_at": "2026-11-01T09:00:00Z", "updated_at": "2026-11-01T09:00:00Z", "version": 0
        }))
        .unwrap();
        r.store.insert_leads(&[lead]).await.unwrap();
        let early = json!({"kind": "sweep", "at": "2026-11-01T10:01:00Z"});
        assert_eq!(r.handle(early).await.unwrap().follow_ups_queued, 0);
        // Scheduler did not fill in its time: the sweep runs as of now, when the retry is overdue.
        let unfilled = json!({"kind": "sweep", "at": "<aws.scheduler.scheduled-time>"});
        assert_eq!(r.handle(unfilled).await.unwrap().follow_ups_queued, 1);
    }
}
