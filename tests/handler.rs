//! The voice webhook's real handler (`VoiceWebhook::handle`) in process,
//! against the stack's DynamoDB table, SQS queues and Scheduler group: what
//! a provider's duplicate deliveries do to the rows, and what one event costs.

use jiff::Timestamp;
use lambda_http::{Body, Request};
use leadline_aws::{
    Aws, DynamoStore, OneOffs, SchedulerFollowUps, SqsDialQueue, SqsMessageQueue, SystemClock,
};
use leadline_core::intake::tenant::VoiceProvider;
use leadline_core::memory::MemoryCalendar;
use leadline_service::voice_webhook::{VapiAuth, VoiceWebhook};
use leadline_tests::calling::*;
use serde_json::Value;

type Webhook = VoiceWebhook<
    DynamoStore,
    SchedulerFollowUps,
    SqsMessageQueue,
    SystemClock,
    DynamoStore,
    MemoryCalendar,
    SqsDialQueue,
>;

/// The webhook as `voice-webhook` builds it, but for the calendar, which no call event uses.
async fn webhook(store: DynamoStore) -> Webhook {
    let aws = Aws::from_env().await;
    let one_offs = OneOffs::new(
        aws.scheduler(),
        var("LEADLINE_ScheduleGroupName"),
        var("LEADLINE_SchedulerRoleArn"),
    );
    VoiceWebhook {
        businesses: store.clone(),
        store,
        calendar: MemoryCalendar::default(),
        follow_ups: SchedulerFollowUps::new(one_offs.clone(), var("LEADLINE_DialQueueArn")),
        messages: SqsMessageQueue::new(aws.sqs(), var("LEADLINE_MessageQueueUrl")),
        dial_queue: SqsDialQueue::new(
            aws.sqs(),
            var("LEADLINE_DialQueueUrl"),
            var("LEADLINE_DialQueueArn"),
            one_offs,
        ),
        clock: SystemClock,
        retell_api_key: var("LEADLINE_RETELL_API_KEY"),
        vapi: VapiAuth::Secret(var("LEADLINE_VAPI_WEBHOOK_SECRET")),
        inbound: Default::default(),
    }
}

/// A signed Retell delivery of `body`, as API Gateway hands it to the function.
fn delivery(body: &Value) -> Request {
    let raw = serde_json::to_vec(body).unwrap();
    let signature = leadline_voice::retell::sign(
        &raw,
        &var("LEADLINE_RETELL_API_KEY"),
        Timestamp::now().as_millisecond(),
    );
    lambda_http::http::Request::builder()
        .method("POST")
        .uri("/webhooks/retell")
        .header("x-retell-signature", signature)
        .body(Body::from(raw))
        .unwrap()
}

#[tokio::test]
async fn the_same_call_ended_delivered_twice_at_once_is_applied_once() {
    let setup = setup("retell", &[number()], 5).await;
    let call = setup.dialing(0, VoiceProvider::Retell).await;
    assert_eq!(
        setup.slots_held_by_scope(VoiceProvider::Retell).await,
        [1, 1, 1]
    );
    let store = store().await;
    let webhook = webhook(store.clone()).await;

    let ended = retell_call(&call, "call_twice", "call_ended");
    let (first, second) = futures::join!(
        webhook.handle(delivery(&ended)),
        webhook.handle(delivery(&ended))
    );
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (204, 204)
    );
    assert_eq!(setup.lead(0).await["status"], "completed");
    assert_eq!(
        setup.items_with_prefix("USAGE#").await.len(),
        1,
        "one usage record"
    );
    assert_eq!(
        setup.items_with_prefix("EVENT#").await.len(),
        1,
        "one event record"
    );
    assert_eq!(
        setup.slots_held_by_scope(VoiceProvider::Retell).await,
        [0, 0, 0],
        "no slot held in any scope"
    );

    // The analysis, once: one read and one transactional write, all told.
    store.calls().reset();
    let analyzed = webhook
        .handle(delivery(&retell_call(&call, "call_twice", "call_analyzed")))
        .await;
    assert_eq!(analyzed.status(), 204);
    let calls = store.calls().snapshot();
    assert_eq!(
        calls
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect::<Vec<_>>(),
        [("BatchGetItem", 1), ("TransactWriteItems", 1)]
    );
    assert_eq!(setup.lead(0).await["status"], "booked");
    assert_eq!(setup.items_with_prefix("USAGE#").await.len(), 1);
    assert_eq!(
        setup.items_with_prefix("EVENT#").await.len(),
        2,
        "one per distinct event"
    );
    assert_eq!(
        setup.slots_held_by_scope(VoiceProvider::Retell).await,
        [0, 0, 0]
    );
}
