//! `messenger`: the messenger's queue. Sends SMS (Twilio), email (SendGrid)
//! and WhatsApp messages within every rule, understands what leads write
//! back, and cancels at Cal.com the bookings leads cancelled by message.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use leadline_aws::{Aws, DynamoStore};
use leadline_service::cache::CachedBusinesses;
use leadline_service::messenger::{Lanes, Messenger};
use leadline_service::{config, wiring};
use tokio::sync::OnceCell;

#[tokio::main]
async fn main() -> Result<(), Error> {
    leadline_service::init_tracing();
    // The environment is read at init, so that a deployment missing a
    // variable fails there.
    let table = config::table_name()?;
    let clock = config::clock()?;
    let messaging = config::messaging()?;
    config::schedules()?;
    config::message_queue_url()?;
    config::calcom()?;
    // The SDK and the provider clients are built by the first job, once.
    let messenger = OnceCell::new();
    let build = || async {
        let aws = Aws::from_env().await;
        let store = DynamoStore::from_aws(&aws, table.clone());
        Ok::<_, Error>(Messenger {
            businesses: CachedBusinesses::new(store.clone(), CachedBusinesses::<()>::TTL),
            store,
            provider: wiring::messaging_providers(&aws, &messaging)?,
            follow_ups: wiring::follow_ups(&aws)?,
            queue: wiring::message_queue_with_one_offs(&aws)?,
            calendar: wiring::calendar()?,
            clock,
            lanes: Lanes::default(),
        })
    };
    let (messenger, build) = (&messenger, &build);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        let messenger = messenger.get_or_try_init(build).await?;
        Ok::<_, Error>(messenger.handle(event.payload).await)
    }))
    .await
}
