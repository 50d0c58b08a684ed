//! `call-dispatcher`: places calls from the dial queue within calling windows, suppression, concurrency and pacing.

use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    leadline_service::init_tracing();
    lambda_runtime::run(service_fn(|event| {
        leadline_service::not_implemented::event(
            "placing calls arrives with the outbound-calling capability",
            event,
        )
    }))
    .await
}
