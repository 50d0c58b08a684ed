//! The `call-retries` function: the sweep, run by a cron every 15 minutes
//! (and by hand: `{"kind": "sweep", "at": "<RFC 3339>"}`). It settles stuck
//! calls with the provider, places owed calls whose schedule never fired, and
//! sends messages that never reached the messenger. The owed calls
//! themselves arrive on the dial queue, where their schedules put them.

use leadline_core::call::{CallLookup, VoiceDialer};
use leadline_core::ports::{
    CallStore, DialQueue, FollowUpScheduler, LeadStore, MessageQueue, SweepStore,
};
use leadline_core::sweep::{Lookups, SweepReport, Sweeper};
use leadline_core::tenant::VoiceProvider;
use leadline_core::{Error, ScaledClock};
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
    S: SweepStore + CallStore + LeadStore,
    Q: DialQueue,
    L: Lookups,
    F: FollowUpScheduler,
    M: MessageQueue,
{
    pub async fn handle(&self, event: serde_json::Value) -> Result<SweepReport, Error> {
        let event: RetriesEvent = serde_json::from_value(event).map_err(|e| {
            tracing::error!(error = %e, "not an event call-retries knows");
            Error::Malformed(e.to_string())
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
            tracing::info!(%at, "{line}");
        }
        tracing::info!(
            %at,
            settled_by_provider = report.settled_by_provider,
            marked_failed = report.marked_failed,
            lookups_failed = report.lookups_failed,
            follow_ups_queued = report.follow_ups_queued,
            messages_queued = report.messages_queued,
            nothing_to_do = report.nothing_to_do,
            index_pages = report.index_pages,
            "sweep done"
        );
        Ok(report)
    }
}
