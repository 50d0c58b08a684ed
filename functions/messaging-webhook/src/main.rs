//! `messaging-webhook`: inbound SMS and WhatsApp replies: opt-outs and confirmations.

use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    leadline_service::init_tracing();
    lambda_http::run(service_fn(|req| {
        leadline_service::not_implemented::http(
            "inbound SMS and WhatsApp replies arrive with the messaging capability",
            req,
        )
    }))
    .await
}
