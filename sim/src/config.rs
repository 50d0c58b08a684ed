//! The simulator's configuration.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::script::{DefaultScript, Script};

#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Where to listen; port 0 picks a free port.
    pub bind: SocketAddr,
    /// The Retell API key: `Authorization: Bearer` of create-call, and the key
    /// the webhooks are signed with.
    pub retell_api_key: String,
    /// The Vapi private key (`Authorization: Bearer` of create-call).
    pub vapi_api_key: String,
    /// Sent as `x-vapi-secret` with every Vapi webhook.
    pub vapi_webhook_secret: String,
    /// The account-level webhook URLs. Without one, the provider's webhooks are
    /// recorded as undeliverable.
    pub retell_webhook_url: Option<String>,
    pub vapi_webhook_url: Option<String>,
    /// Calls in progress allowed per provider account (Retell's default plan
    /// allows 20, Vapi's 10); changeable per provider at run time.
    pub max_concurrent_calls: usize,
    /// Multiplies scripted durations and delays: at 0.01 a "120 s" call lasts
    /// 1.2 real seconds but still reports 120 s. Fault delays (`delay_ms`) are
    /// real time and not scaled.
    pub time_scale: f64,
    /// The script of a number without an explicit one.
    pub default_script: DefaultScript,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            retell_api_key: "sim-retell-api-key".into(),
            vapi_api_key: "sim-vapi-api-key".into(),
            vapi_webhook_secret: "sim-vapi-webhook-secret".into(),
            retell_webhook_url: None,
            vapi_webhook_url: None,
            max_concurrent_calls: 20,
            time_scale: 1.0,
            default_script: DefaultScript::default(),
        }
    }
}

impl SimConfig {
    /// The settings the binary reads, by name (`--name value` or `SIM_NAME`).
    pub const SETTINGS: [(&'static str, &'static str); 10] = [
        ("bind", "address to listen on (127.0.0.1:0)"),
        (
            "retell-api-key",
            "Retell API key, also the webhook signing key",
        ),
        ("vapi-api-key", "Vapi private API key"),
        ("vapi-webhook-secret", "sent as x-vapi-secret"),
        ("retell-webhook-url", "where Retell webhooks go"),
        ("vapi-webhook-url", "where Vapi webhooks go"),
        (
            "max-concurrent-calls",
            "calls in progress per provider account (20)",
        ),
        ("time-scale", "multiplies scripted durations (1.0)"),
        (
            "default-script",
            "\"mix\" (default) or a script as JSON, e.g. {\"outcome\":\"no_answer\"}",
        ),
        (
            "log",
            "log level: error, warn, info (default), debug, trace",
        ),
    ];

    /// Builds a configuration from named settings (see [`SimConfig::SETTINGS`]);
    /// anything unset keeps its default.
    pub fn from_settings(setting: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut config = SimConfig::default();
        if let Some(bind) = setting("bind") {
            config.bind = bind
                .parse()
                .map_err(|e| format!("bind {bind:?} is not an address: {e}"))?;
        }
        if let Some(key) = setting("retell-api-key") {
            config.retell_api_key = key;
        }
        if let Some(key) = setting("vapi-api-key") {
            config.vapi_api_key = key;
        }
        if let Some(secret) = setting("vapi-webhook-secret") {
            config.vapi_webhook_secret = secret;
        }
        config.retell_webhook_url = setting("retell-webhook-url").filter(|u| !u.is_empty());
        config.vapi_webhook_url = setting("vapi-webhook-url").filter(|u| !u.is_empty());
        if let Some(max) = setting("max-concurrent-calls") {
            config.max_concurrent_calls = max
                .parse()
                .map_err(|e| format!("max-concurrent-calls {max:?}: {e}"))?;
        }
        if let Some(scale) = setting("time-scale") {
            config.time_scale = scale
                .parse()
                .map_err(|e| format!("time-scale {scale:?}: {e}"))?;
        }
        if let Some(script) = setting("default-script").filter(|s| s != "mix") {
            let script: Script = serde_json::from_str(&script)
                .map_err(|e| format!("default-script {script:?}: {e}"))?;
            config.default_script = DefaultScript::Always(script);
        }
        config.validate()?;
        Ok(config)
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(self.time_scale.is_finite() && self.time_scale >= 0.0) {
            return Err(format!(
                "time_scale must be a finite number >= 0, got {}",
                self.time_scale
            ));
        }
        Ok(())
    }

    /// Real time for `seconds` of scripted time.
    pub fn scaled(&self, seconds: f64) -> Duration {
        Duration::try_from_secs_f64(seconds * self.time_scale).unwrap_or(Duration::ZERO)
    }

    /// How long a provider waits for a webhook answer: its real timeout,
    /// scaled, but never under a second.
    pub(crate) fn webhook_timeout(&self, real_seconds: f64) -> Duration {
        self.scaled(real_seconds).max(Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::Outcome;

    #[test]
    fn settings_override_the_defaults() {
        let config = SimConfig::from_settings(|name| match name {
            "bind" => Some("127.0.0.1:8787".into()),
            "time-scale" => Some("0.05".into()),
            "retell-webhook-url" => Some("http://localhost:9000/retell".into()),
            "default-script" => Some(r#"{"outcome": "busy"}"#.into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(config.bind.port(), 8787);
        assert_eq!(config.time_scale, 0.05);
        assert_eq!(config.scaled(120.0), Duration::from_secs(6));
        assert_eq!(config.webhook_timeout(10.0), Duration::from_secs(1));
        assert_eq!(
            config.retell_webhook_url.as_deref(),
            Some("http://localhost:9000/retell")
        );
        assert_eq!(config.vapi_webhook_url, None);
        assert_eq!(
            config.default_script,
            DefaultScript::Always(Script::typical(Outcome::Busy))
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        for (name, value) in [
            ("bind", "localhost"),
            ("time-scale", "-1"),
            ("time-scale", "NaN"),
            ("max-concurrent-calls", "many"),
            ("default-script", "{}"),
        ] {
            let result = SimConfig::from_settings(|n| (n == name).then(|| value.to_owned()));
            assert!(result.is_err(), "{name}={value}");
        }
    }
}
