//! `calcom-webhook`: Cal.com webhooks: bookings created, rescheduled, cancelled, no-shows, meetings ended.

use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    leadline_service::init_tracing();
    lambda_http::run(service_fn(|req| {
        leadline_service::not_implemented::http(
            "Cal.com booking webhooks arrive with the booking capability",
            req,
        )
    }))
    .await
}
