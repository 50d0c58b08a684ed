//! `api`: tenants, campaigns (start, pause, resume), lead import, leads and
//! the do-not-call list under `/v1`.

use lambda_http::{Error, service_fn};
use leadline_aws::{Aws, DynamoStore};
use leadline_service::api::Api;
use leadline_service::{config, wiring};
use tokio::sync::OnceCell;

#[tokio::main]
async fn main() -> Result<(), Error> {
    leadline_service::init_tracing();
    // The environment is read at init, so that a deployment missing a
    // variable fails there (wiring reads the dial queue's again).
    let table = config::table_name()?;
    let clock = config::clock()?;
    let admin_api_key = config::admin_api_key()?;
    config::dial_queue()?;
    let secrets_prefix = config::tenant_secrets_prefix()?;
    // The SDK and its clients are built by the first request, once: ~0.7 ms
    // out of init (docs/performance.md, "Cold start").
    let api = OnceCell::new();
    let build = || async {
        let aws = Aws::from_env().await;
        Ok::<_, Error>(
            Api::new(
                DynamoStore::from_aws(&aws, table.clone()),
                wiring::dial_queue(&aws)?,
                wiring::follow_ups(&aws)?,
                clock,
                &admin_api_key,
            )
            .with_accounts(wiring::tenant_accounts(&aws, &secrets_prefix)),
        )
    };
    let (api, build) = (&api, &build);
    lambda_http::run(service_fn(move |req| async move {
        let api = api.get_or_try_init(build).await?;
        Ok::<_, Error>(api.handle(req).await)
    }))
    .await
}
