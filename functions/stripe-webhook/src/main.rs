//! `stripe-webhook`: Stripe webhooks: invoices finalized, paid, failed, voided.

use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    leadline_service::init_tracing();
    lambda_http::run(service_fn(|req| {
        leadline_service::not_implemented::http(
            "Stripe invoice webhooks arrive with the billing capability",
            req,
        )
    }))
    .await
}
