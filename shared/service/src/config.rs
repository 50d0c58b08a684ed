//! Configuration from the environment the SAM template sets.

use leadline_core::Error;

fn required(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| Error::Internal(format!("the environment has no {name}")))
}

/// The table every function reads and writes.
pub fn table_name() -> Result<String, Error> {
    required("TABLE_NAME")
}

/// The admin API key (resolved by CloudFormation from Secrets Manager).
pub fn admin_api_key() -> Result<String, Error> {
    let key = required("ADMIN_API_KEY")?;
    if key.len() < 24 {
        return Err(Error::Internal(
            "ADMIN_API_KEY is shorter than 24 characters".into(),
        ));
    }
    Ok(key)
}
