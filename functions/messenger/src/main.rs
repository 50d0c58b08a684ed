//! `messenger`: sends SMS, email and WhatsApp messages from the messenger queue.

use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    leadline_service::init_tracing();
    lambda_runtime::run(service_fn(|event| {
        leadline_service::not_implemented::event(
            "sending SMS, email and WhatsApp arrives with the messaging capability",
            event,
        )
    }))
    .await
}
