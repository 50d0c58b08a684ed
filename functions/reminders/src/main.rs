//! `reminders`: appointment reminders, from one-off schedules and a sweep.

use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    leadline_service::init_tracing();
    lambda_runtime::run(service_fn(|event| {
        leadline_service::not_implemented::event(
            "appointment reminders arrive with the reminder capability",
            event,
        )
    }))
    .await
}
