//! `call-retries`: retries, requested callbacks and the stuck-call sweep.

use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    leadline_service::init_tracing();
    lambda_runtime::run(service_fn(|event| {
        leadline_service::not_implemented::event(
            "retries and callbacks arrive with the retry capability",
            event,
        )
    }))
    .await
}
