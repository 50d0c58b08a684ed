//! A call playing out its script on timers, from dialling to analysis.

use std::sync::Arc;

use tokio::time::{Instant, sleep_until};
use tracing::debug;

use crate::call::{Milestone, PlacedCall};
use crate::deliver::DeliveryChain;
use crate::script::Script;
use crate::state::SimControl;
use crate::tools;

/// Scripted seconds after acceptance at which the phone starts ringing.
const RINGING_AFTER_SECONDS: f64 = 1.0;
/// Scripted seconds between the end of a call and its analysis.
const ANALYSIS_SECONDS: f64 = 2.0;

/// The milestones of a call, at scripted seconds after its acceptance. A
/// stuck call connects whatever its outcome, and goes no further.
pub(crate) fn timeline(script: &Script) -> Vec<(f64, Milestone)> {
    let ring = f64::from(script.ring_seconds);
    let mut steps = vec![(ring.min(RINGING_AFTER_SECONDS), Milestone::Ringing)];
    if script.stuck {
        steps.push((ring, Milestone::Connected));
        return steps;
    }
    let end = if script.outcome.connects() {
        steps.push((ring, Milestone::Connected));
        ring + f64::from(script.talk_seconds)
    } else {
        ring
    };
    steps.push((end, Milestone::Ended));
    steps.push((end + ANALYSIS_SECONDS, Milestone::Analyzed));
    steps
}

/// Plays `call` out, sends its webhooks and starts its tool calls; returns at
/// the analysis (a stuck call: once connected), or as soon as a reset
/// forgets the call.
pub(crate) async fn play_out(control: SimControl, call: Arc<PlacedCall>) {
    let accepted = Instant::now();
    let mut webhooks = DeliveryChain::default();
    let mut analysis_first = false;
    for (at, milestone) in timeline(&call.script) {
        sleep_until(accepted + control.config().scaled(at)).await;
        let Some(facts) = control.advance(&call.id, milestone) else {
            return;
        };
        debug!(call_id = %call.id, ?milestone, "call milestone");
        if milestone == Milestone::Connected && call.script.uses_tools() {
            // Beside the call: slow functions must not hold up its timeline.
            control.spawn(tools::use_tools(control.clone(), call.clone()));
        }
        if milestone == Milestone::Ended {
            analysis_first = control.delivery_faults(call.provider, &call.to).reorder;
        }
        // Under the `reorder` fault the end and the analysis swap places.
        let reported = match (milestone, analysis_first) {
            (Milestone::Ended, true) => Milestone::Analyzed,
            (Milestone::Analyzed, true) => Milestone::Ended,
            (milestone, _) => milestone,
        };
        if let Some(webhook) = call.webhook(reported, &facts) {
            webhooks.send(&control, webhook);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::Outcome;

    #[test]
    fn a_reached_call_rings_connects_talks_and_is_analysed() {
        let script = Script::typical(Outcome::AppointmentSet)
            .ring_seconds(8)
            .talk_seconds(120);
        assert_eq!(
            timeline(&script),
            vec![
                (1.0, Milestone::Ringing),
                (8.0, Milestone::Connected),
                (128.0, Milestone::Ended),
                (130.0, Milestone::Analyzed),
            ]
        );
    }

    #[test]
    fn a_stuck_call_connects_and_goes_no_further() {
        for outcome in [Outcome::Qualified, Outcome::NoAnswer] {
            let script = Script::typical(outcome).ring_seconds(5).stuck();
            assert_eq!(
                timeline(&script),
                vec![(1.0, Milestone::Ringing), (5.0, Milestone::Connected)]
            );
        }
    }

    #[test]
    fn an_unanswered_call_never_connects() {
        let script = Script::typical(Outcome::NoAnswer).ring_seconds(30);
        let milestones: Vec<_> = timeline(&script).into_iter().map(|(_, m)| m).collect();
        assert_eq!(
            milestones,
            [Milestone::Ringing, Milestone::Ended, Milestone::Analyzed]
        );
    }
}
