//! The one SQS batch runner: every message of a batch handled concurrently
//! (at most [`CONCURRENCY`] at once), each in a span of its own naming its
//! message id, and a message that fails reported alone
//! (`SqsBatchResponse`), so SQS delivers it again and, in the end, parks it in
//! the dead-letter queue. The dial, message and billing queues' consumers
//! plug in a handler of one message.

use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::stream::{self, StreamExt};
use leadline_core::Error;
use leadline_core::kernel::redact::Redacted;
use tracing::Instrument;

/// Messages of one batch in flight at once: enough to overlap the round
/// trips of a 10-message batch, few enough not to burst the table.
pub const CONCURRENCY: usize = 10;

/// Runs `handle` on every message of `event`; the failed ones are reported.
pub async fn run<'a, F, Fut>(
    queue: &'static str,
    event: &'a SqsEvent,
    handle: F,
) -> SqsBatchResponse
where
    F: Fn(&'a SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), Error>> + 'a,
{
    let results: Vec<Result<(), Error>> = stream::iter(&event.records)
        .map(|message| {
            let id = message.message_id.as_deref().unwrap_or("?");
            let receive_count = message
                .attributes
                .get("ApproximateReceiveCount")
                .map(String::as_str)
                .unwrap_or("?");
            let span = tracing::info_span!("message", queue, id, receive_count);
            handle(message).instrument(span)
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    for (message, result) in event.records.iter().zip(results) {
        if let Err(e) = result {
            let id = message.message_id.clone().unwrap_or_default();
            tracing::warn!(queue, message = %id, error = %Redacted(&e), "message failed; SQS will deliver it again");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn batch(n: usize) -> SqsEvent {
        let mut event = SqsEvent::default();
        for i in 0..n {
            let mut message = SqsMessage::default();
            message.message_id = Some(format!("m{i}"));
            message.body = Some(i.to_string());
            event.records.push(message);
        }
        event
    }

    #[tokio::test]
    async fn only_the_messages_that_failed_are_reported() {
        let event = batch(5);
        let response = run("test", &event, |m| async move {
            match m.body.as_deref() {
                Some("1") | Some("3") => Err(Error::Unavailable("down".into())),
                _ => Ok(()),
            }
        })
        .await;
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["m1", "m3"]);
    }

    #[tokio::test]
    async fn messages_run_concurrently_and_never_more_than_the_bound_at_once() {
        let event = batch(3 * CONCURRENCY);
        let (now, most, done) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        let response = run("test", &event, |_| async {
            let in_flight = now.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(in_flight, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            now.fetch_sub(1, Ordering::SeqCst);
            done.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .await;
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(done.load(Ordering::SeqCst), 3 * CONCURRENCY);
        assert_eq!(most.load(Ordering::SeqCst), CONCURRENCY);
    }
}
