//! Secrets a tenant brought (its own messaging provider accounts), in
//! Secrets Manager under `<prefix>/<tenant>`: never in the table, never
//! answered back, read by the functions that send or verify with them.

use leadline_core::{Error, Result, TenantId};

#[derive(Clone, Debug)]
pub struct TenantSecrets {
    client: aws_sdk_secretsmanager::Client,
    /// `leadline/<stack>/tenants/messaging`: the tenant id follows.
    prefix: String,
}

impl TenantSecrets {
    pub fn new(client: aws_sdk_secretsmanager::Client, prefix: impl Into<String>) -> Self {
        Self {
            client,
            prefix: prefix.into(),
        }
    }

    pub fn name(&self, tenant: &TenantId) -> String {
        format!("{}/{tenant}", self.prefix.trim_end_matches('/'))
    }

    /// The tenant's secret; `None` when it stored none.
    pub async fn get(&self, tenant: &TenantId) -> Result<Option<String>> {
        match self
            .client
            .get_secret_value()
            .secret_id(self.name(tenant))
            .send()
            .await
        {
            Ok(out) => Ok(out.secret_string),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(Error::Unavailable(format!(
                "Secrets Manager: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            ))),
        }
    }

    /// Stores the tenant's secret (a new version of it if there is one).
    pub async fn put(&self, tenant: &TenantId, value: &str) -> Result<()> {
        let name = self.name(tenant);
        let created = self
            .client
            .create_secret()
            .name(&name)
            .secret_string(value)
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_exists_exception()) =>
            {
                self.client
                    .put_secret_value()
                    .secret_id(&name)
                    .secret_string(value)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| {
                        Error::Unavailable(format!(
                            "Secrets Manager: {}",
                            aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                        ))
                    })
            }
            Err(e) => Err(Error::Unavailable(format!(
                "Secrets Manager: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            ))),
        }
    }
}
