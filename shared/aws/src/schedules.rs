//! EventBridge Scheduler one-off schedules in leadline's group: created at
//! a UTC `at()` (MiniStack ignores `ScheduleExpressionTimezone` for `at()`),
//! deleted by Scheduler once they ran, retried and dead-lettered on the way
//! to their target. Times are the deployment clock's: with a scaled demo
//! clock, a virtual instant is turned back into wall-clock time here.

use crate::ScaledClock;
use async_trait::async_trait;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode,
    RetryPolicy, Target,
};
use jiff::{SignedDuration, Timestamp};
use leadline_core::calling::work::DialMessage;
use leadline_core::calling::work::FollowUp;
use leadline_core::ports::FollowUpScheduler;
use leadline_core::{Error, Result};

use crate::calls::Calls;

/// A schedule is never set less than this far ahead: Scheduler may refuse an
/// `at()` in the past, and the expression has whole seconds.
const MIN_LEAD_TIME: SignedDuration = SignedDuration::from_secs(2);

#[derive(Clone, Debug)]
pub struct OneOffs {
    client: aws_sdk_scheduler::Client,
    group: String,
    role_arn: String,
    dead_letter_arn: Option<String>,
    clock: ScaledClock,
    calls: Calls,
}

impl OneOffs {
    pub fn new(client: aws_sdk_scheduler::Client, group: String, role_arn: String) -> Self {
        Self {
            client,
            group,
            role_arn,
            dead_letter_arn: None,
            clock: ScaledClock::REAL,
            calls: Calls::default(),
        }
    }

    /// Where Scheduler puts what it could not deliver.
    pub fn with_dead_letter_queue(mut self, arn: Option<String>) -> Self {
        self.dead_letter_arn = arn;
        self
    }

    pub fn with_clock(mut self, clock: ScaledClock) -> Self {
        self.clock = clock;
        self
    }

    pub fn calls(&self) -> &Calls {
        &self.calls
    }

    /// Creates schedule `name` that sends `input` to `target_arn` at `at`.
    /// `Ok(false)`: a schedule of that name exists (ConflictException).
    pub async fn create(
        &self,
        name: &str,
        at: Timestamp,
        target_arn: &str,
        input: String,
    ) -> Result<bool> {
        let (expression, window, target) = self.parts(at, target_arn, input)?;
        self.calls.record("CreateSchedule");
        let result = self
            .client
            .create_schedule()
            .name(name)
            .group_name(&self.group)
            .schedule_expression(expression)
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .target(target)
            .action_after_completion(ActionAfterCompletion::Delete)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conflict_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Moves schedule `name` to `at` with `input`.
    pub async fn update(
        &self,
        name: &str,
        at: Timestamp,
        target_arn: &str,
        input: String,
    ) -> Result<()> {
        let (expression, window, target) = self.parts(at, target_arn, input)?;
        self.calls.record("UpdateSchedule");
        self.client
            .update_schedule()
            .name(name)
            .group_name(&self.group)
            .schedule_expression(expression)
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .target(target)
            .action_after_completion(ActionAfterCompletion::Delete)
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// Deletes schedule `name`; one already gone (it ran, or never was) is fine.
    pub async fn delete(&self, name: &str) -> Result<()> {
        self.calls.record("DeleteSchedule");
        match self
            .client
            .delete_schedule()
            .name(name)
            .group_name(&self.group)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    fn parts(
        &self,
        at: Timestamp,
        target_arn: &str,
        input: String,
    ) -> Result<(String, FlexibleTimeWindow, Target)> {
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(internal)?;
        let mut target = Target::builder()
            .arn(target_arn)
            .role_arn(&self.role_arn)
            .input(input)
            .retry_policy(
                RetryPolicy::builder()
                    .maximum_retry_attempts(10)
                    .maximum_event_age_in_seconds(86_400)
                    .build(),
            );
        if let Some(arn) = &self.dead_letter_arn {
            target = target.dead_letter_config(DeadLetterConfig::builder().arn(arn).build());
        }
        let real = self.clock.to_real(at).max(Timestamp::now() + MIN_LEAD_TIME);
        Ok((
            at_expression(real),
            window,
            target.build().map_err(internal)?,
        ))
    }
}

/// `at(yyyy-mm-ddThh:mm:ss)` in UTC, rounded up to the second: never early.
pub fn at_expression(at: Timestamp) -> String {
    let second = at.as_second() + i64::from(at.subsec_nanosecond() > 0);
    let whole = Timestamp::from_second(second).unwrap_or(at);
    format!("at({})", whole.strftime("%Y-%m-%dT%H:%M:%S"))
}

/// The owed calls' schedules: each puts a [`DialMessage::FollowUp`] on the dial queue.
#[derive(Clone, Debug)]
pub struct SchedulerFollowUps {
    one_offs: OneOffs,
    dial_queue_arn: String,
}

impl SchedulerFollowUps {
    pub fn new(one_offs: OneOffs, dial_queue_arn: String) -> Self {
        Self {
            one_offs,
            dial_queue_arn,
        }
    }

    pub fn calls(&self) -> &Calls {
        self.one_offs.calls()
    }
}

#[async_trait]
impl FollowUpScheduler for SchedulerFollowUps {
    async fn schedule(&self, follow_up: &FollowUp) -> Result<()> {
        let name = follow_up.schedule_name();
        let body =
            serde_json::to_string(&DialMessage::FollowUp(follow_up.clone())).map_err(internal)?;
        let created = self
            .one_offs
            .create(&name, follow_up.due_at, &self.dial_queue_arn, body.clone())
            .await?;
        if !created {
            // The name is the attempt's: a callback that replaces its retry, or
            // the same follow-up again (a replayed event). Either way, this one.
            self.one_offs
                .update(&name, follow_up.due_at, &self.dial_queue_arn, body)
                .await?;
        }
        Ok(())
    }

    async fn cancel(&self, follow_up: &FollowUp) -> Result<()> {
        self.one_offs.delete(&follow_up.schedule_name()).await
    }
}

fn unavailable<E: std::error::Error + 'static, R: std::fmt::Debug>(
    e: aws_sdk_scheduler::error::SdkError<E, R>,
) -> Error {
    Error::Unavailable(format!(
        "Scheduler: {}",
        aws_sdk_scheduler::error::DisplayErrorContext(&e)
    ))
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_at_expression_is_utc_and_never_early() {
        let at: Timestamp = "2026-11-24T14:00:00.250Z".parse().unwrap();
        assert_eq!(at_expression(at), "at(2026-11-24T14:00:01)");
        let whole: Timestamp = "2026-11-24T14:00:00Z".parse().unwrap();
        assert_eq!(at_expression(whole), "at(2026-11-24T14:00:00)");
    }
}
