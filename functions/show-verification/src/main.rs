//! `show-verification`: whether each appointment was kept, then the no-show rebooking sequence.

use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    leadline_service::init_tracing();
    lambda_runtime::run(service_fn(|event| {
        leadline_service::not_implemented::event(
            "show verification arrives with the show-verification capability",
            event,
        )
    }))
    .await
}
