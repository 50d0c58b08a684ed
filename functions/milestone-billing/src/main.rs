//! `milestone-billing`: milestone invoices and monthly usage invoices.

use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    leadline_service::init_tracing();
    lambda_runtime::run(service_fn(|event| {
        leadline_service::not_implemented::event(
            "milestone and usage invoices arrive with the billing capability",
            event,
        )
    }))
    .await
}
