//! The dial queue: SQS for what is due within SQS's 15-minute delay, an
//! EventBridge Scheduler one-off (targeting the same queue) for anything later.

use async_trait::async_trait;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, Target,
};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use jiff::Timestamp;
use leadline_core::dispatch::DialMessage;
use leadline_core::ports::DialQueue;
use leadline_core::{Error, Result};

use crate::calls::Calls;

/// SQS delays a message by at most 15 minutes.
const MAX_SQS_DELAY_SECONDS: i64 = 900;
/// SendMessageBatch takes at most 10 messages.
const SEND_BATCH: usize = 10;

#[derive(Clone, Debug)]
pub struct SqsDialQueue {
    sqs: aws_sdk_sqs::Client,
    scheduler: aws_sdk_scheduler::Client,
    queue_url: String,
    queue_arn: String,
    schedule_group: String,
    scheduler_role_arn: String,
    calls: Calls,
}

impl SqsDialQueue {
    pub fn new(
        sqs: aws_sdk_sqs::Client,
        scheduler: aws_sdk_scheduler::Client,
        queue_url: String,
        queue_arn: String,
        schedule_group: String,
        scheduler_role_arn: String,
    ) -> Self {
        Self {
            sqs,
            scheduler,
            queue_url,
            queue_arn,
            schedule_group,
            scheduler_role_arn,
            calls: Calls::default(),
        }
    }

    pub fn calls(&self) -> &Calls {
        &self.calls
    }

    async fn send_batch(&self, batch: &[(String, i64)]) -> Result<()> {
        let mut pending: Vec<SendMessageBatchRequestEntry> = batch
            .iter()
            .enumerate()
            .map(|(i, (body, delay))| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .delay_seconds(*delay as i32)
                    .build()
                    .map_err(|e| Error::Internal(e.to_string()))
            })
            .collect::<Result<_>>()?;
        // Entries that fail (throttling) are sent again; the rest are not repeated.
        for _ in 0..4 {
            self.calls.record("SendMessageBatch");
            let out = self
                .sqs
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(pending.clone()))
                .send()
                .await
                .map_err(|e| {
                    Error::Unavailable(format!(
                        "SQS: {}",
                        aws_sdk_sqs::error::DisplayErrorContext(&e)
                    ))
                })?;
            let failed: Vec<&str> = out.failed.iter().map(|f| f.id.as_str()).collect();
            if failed.is_empty() {
                return Ok(());
            }
            pending.retain(|e| failed.contains(&e.id.as_str()));
        }
        Err(Error::Unavailable(
            "SQS kept refusing part of a batch of dial jobs".into(),
        ))
    }

    /// A one-off schedule that puts `body` on the dial queue at `at`. Its
    /// name is derived from the message, so scheduling the same message for
    /// the same time twice makes one schedule.
    async fn schedule(&self, message: &DialMessage, body: String, at: Timestamp) -> Result<()> {
        let name = schedule_name(message, at);
        let target = Target::builder()
            .arn(&self.queue_arn)
            .role_arn(&self.scheduler_role_arn)
            .input(body)
            .build()
            .map_err(|e| Error::Internal(e.to_string()))?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| Error::Internal(e.to_string()))?;
        self.calls.record("CreateSchedule");
        let result = self
            .scheduler
            .create_schedule()
            .name(&name)
            .group_name(&self.schedule_group)
            .schedule_expression(format!("at({})", at.strftime("%Y-%m-%dT%H:%M:%S")))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .target(target)
            .action_after_completion(ActionAfterCompletion::Delete)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conflict_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(Error::Unavailable(format!(
                "Scheduler: {}",
                aws_sdk_scheduler::error::DisplayErrorContext(&e)
            ))),
        }
    }
}

/// `dial-<attempt>-<try>-<epoch>` or `sweep-<campaign>-<epoch>`: at most 64
/// characters of `[0-9A-Za-z_.-]`, as Scheduler requires.
pub fn schedule_name(message: &DialMessage, at: Timestamp) -> String {
    let name = match message {
        DialMessage::Dial(job) => format!(
            "dial-{}-{}-{}",
            job.call().attempt_id(),
            job.tries,
            at.as_second()
        ),
        DialMessage::Sweep(sweep) => format!("sweep-{}-{}", sweep.campaign, at.as_second()),
    };
    name.chars().take(64).collect()
}

#[async_trait]
impl DialQueue for SqsDialQueue {
    async fn enqueue(&self, messages: &[(DialMessage, Timestamp)], now: Timestamp) -> Result<()> {
        let mut soon = Vec::new();
        for (message, at) in messages {
            let body =
                serde_json::to_string(message).map_err(|e| Error::Internal(e.to_string()))?;
            // Rounded up: a message must never arrive before its time.
            let delay_ms = at.duration_since(now).as_millis().max(0);
            let delay = (delay_ms as i64 + 999) / 1000;
            if delay <= MAX_SQS_DELAY_SECONDS {
                soon.push((body, delay));
            } else {
                self.schedule(message, body, *at).await?;
            }
        }
        for batch in soon.chunks(SEND_BATCH) {
            self.send_batch(batch).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadline_core::dispatch::DialJob;
    use leadline_core::{CampaignId, LeadId, Phone, TenantId};

    #[test]
    fn schedule_names_are_short_and_repeatable() {
        let job = DialJob {
            tenant: TenantId::parse("a-tenant-with-a-rather-long-slug-of-40ch").unwrap(),
            campaign: CampaignId::from_bytes(&[1; 15]),
            lead: LeadId::from_bytes(&[2; 15]),
            phone: Phone::parse("+14155552671", None).unwrap(),
            attempt: 3,
            manual: false,
            tries: 12,
        };
        let at: Timestamp = "2026-11-24T16:00:00Z".parse().unwrap();
        let name = schedule_name(&DialMessage::Dial(job.clone()), at);
        assert!(name.len() <= 64, "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "{name}"
        );
        assert_eq!(name, schedule_name(&DialMessage::Dial(job), at));
    }
}
