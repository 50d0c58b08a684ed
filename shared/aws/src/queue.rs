//! The dial queue: SQS for what is due within SQS's 15-minute delay, an
//! EventBridge Scheduler one-off (targeting the same queue) for anything later;
//! and the messenger's queue.

use crate::ScaledClock;
use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use jiff::Timestamp;
use leadline_core::calling::work::DialMessage;
use leadline_core::messaging::message::{MessageJob, MessengerWork};
use leadline_core::ports::{DialQueue, MessageQueue};
use leadline_core::{Error, Result};

use crate::calls::Calls;
use crate::schedules::OneOffs;

/// SQS delays a message by at most 15 minutes.
const MAX_SQS_DELAY_SECONDS: i64 = 900;
/// SendMessageBatch takes at most 10 messages.
const SEND_BATCH: usize = 10;

#[derive(Clone, Debug)]
pub struct SqsDialQueue {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    queue_arn: String,
    one_offs: OneOffs,
    clock: ScaledClock,
    calls: Calls,
}

impl SqsDialQueue {
    pub fn new(
        sqs: aws_sdk_sqs::Client,
        queue_url: String,
        queue_arn: String,
        one_offs: OneOffs,
    ) -> Self {
        Self {
            sqs,
            queue_url,
            queue_arn,
            one_offs,
            clock: ScaledClock::REAL,
            calls: Calls::default(),
        }
    }

    /// The deployment's clock: delays are virtual time, SQS waits wall-clock time.
    pub fn with_clock(mut self, clock: ScaledClock) -> Self {
        self.clock = clock;
        self
    }

    pub fn calls(&self) -> &Calls {
        &self.calls
    }
}

/// Sends `(body, delay in seconds)` messages in batches of 10; entries SQS
/// fails (throttling) are sent again, the rest are not repeated.
pub(crate) async fn send_batches(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    messages: &[(String, i64)],
    calls: &Calls,
) -> Result<()> {
    for batch in messages.chunks(SEND_BATCH) {
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
        let mut sent = false;
        for _ in 0..4 {
            calls.record("SendMessageBatch");
            let out = sqs
                .send_message_batch()
                .queue_url(queue_url)
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
                sent = true;
                break;
            }
            pending.retain(|e| failed.contains(&e.id.as_str()));
        }
        if !sent {
            return Err(Error::Unavailable(
                "SQS kept refusing part of a batch of messages".into(),
            ));
        }
    }
    Ok(())
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
        DialMessage::FollowUp(follow_up) => {
            format!("{}-{}", follow_up.schedule_name(), at.as_second())
        }
        DialMessage::Wake(wake) => format!("wake-{}-{}", wake.freed_by, at.as_second()),
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
            let wait = self.clock.real_span(at.duration_since(now));
            let delay = (wait.as_millis().max(0) as i64 + 999) / 1000;
            if delay <= MAX_SQS_DELAY_SECONDS {
                soon.push((body, delay));
            } else {
                // Named after the message, so the same message for the same
                // time twice makes one schedule (a conflict is success).
                let name = schedule_name(message, *at);
                self.one_offs
                    .create(&name, *at, &self.queue_arn, body)
                    .await?;
            }
        }
        send_batches(&self.sqs, &self.queue_url, &soon, &self.calls).await
    }
}

/// The messenger's queue: its work as JSON. A message held back (quiet
/// hours, a provider's backoff, its sender's pace) is delayed by SQS up to
/// 15 minutes, and put back by a Scheduler one-off when it is due later.
#[derive(Clone, Debug)]
pub struct SqsMessageQueue {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    /// The one-offs for messages due later than SQS can delay, and the queue's ARN.
    later: Option<(OneOffs, String)>,
    clock: ScaledClock,
    calls: Calls,
}

impl SqsMessageQueue {
    pub fn new(sqs: aws_sdk_sqs::Client, queue_url: String) -> Self {
        Self {
            sqs,
            queue_url,
            later: None,
            clock: ScaledClock::REAL,
            calls: Calls::default(),
        }
    }

    /// Messages due later than 15 minutes go through these one-offs.
    pub fn with_one_offs(mut self, one_offs: OneOffs, queue_arn: String) -> Self {
        self.later = Some((one_offs, queue_arn));
        self
    }

    pub fn with_clock(mut self, clock: ScaledClock) -> Self {
        self.clock = clock;
        self
    }

    pub fn calls(&self) -> &Calls {
        &self.calls
    }
}

/// `msg-<message id>-<epoch>`: one schedule per message and time.
pub fn message_schedule_name(job: &MessageJob, at: Timestamp) -> String {
    format!("msg-{}-{}", job.id, at.as_second())
        .chars()
        .take(64)
        .collect()
}

#[async_trait]
impl MessageQueue for SqsMessageQueue {
    async fn put(&self, work: &[MessengerWork]) -> Result<()> {
        let now = leadline_core::Clock::now(&self.clock);
        let mut soon = Vec::new();
        for item in work {
            let body = serde_json::to_string(item).map_err(|e| Error::Internal(e.to_string()))?;
            let at = match item {
                MessengerWork::Send(job) => job.not_before.filter(|at| *at > now),
                _ => None,
            };
            let Some(at) = at else {
                soon.push((body, 0));
                continue;
            };
            let wait = self.clock.real_span(at.duration_since(now));
            let delay = (wait.as_millis().max(0) as i64 + 999) / 1000;
            if delay <= MAX_SQS_DELAY_SECONDS {
                soon.push((body, delay));
                continue;
            }
            let (Some((one_offs, arn)), MessengerWork::Send(job)) = (&self.later, item) else {
                return Err(Error::Internal(
                    "a message due later than 15 minutes needs the messenger queue's one-offs"
                        .into(),
                ));
            };
            one_offs
                .create(&message_schedule_name(job, at), at, arn, body)
                .await?;
        }
        send_batches(&self.sqs, &self.queue_url, &soon, &self.calls).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadline_core::calling::work::DialJob;
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
            waiting: None,
            woken: false,
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
