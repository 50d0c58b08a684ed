//! `voice-webhook`: Retell and Vapi webhooks: call lifecycle, post-call analysis, in-call tool calls.

use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    leadline_service::init_tracing();
    lambda_http::run(service_fn(|req| {
        leadline_service::not_implemented::http(
            "voice provider webhooks arrive with the outbound-calling capability",
            req,
        )
    }))
    .await
}
