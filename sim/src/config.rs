//! The simulator's configuration.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

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
    /// Where Retell's custom-function (tool) calls go; without it, the Retell
    /// webhook URL with `/tools` appended. Vapi's go where its webhooks go.
    pub retell_tools_url: Option<String>,
    /// Calls in progress allowed per provider account (Retell's default plan
    /// allows 20, Vapi's 10); changeable per provider at run time.
    pub max_concurrent_calls: usize,
    /// Multiplies scripted durations and delays: at 0.01 a "120 s" call lasts
    /// 1.2 real seconds but still reports 120 s. Fault delays (`delay_ms`) are
    /// real time and not scaled.
    pub time_scale: f64,
    /// The script of a number without an explicit one.
    pub default_script: DefaultScript,
    /// The clock requested callbacks (`callback_at`) are counted on, when it
    /// is not the real one; call timestamps always stay real.
    pub clock: Option<VirtualClock>,
    /// The default Twilio account (`AC` + 32 hex digits) and its Auth Token,
    /// which signs its webhooks; more accounts can be added at run time.
    pub twilio_account_sid: String,
    pub twilio_auth_token: String,
    /// Where inbound SMS go (the numbers' "A message comes in" URL).
    pub twilio_webhook_url: Option<String>,
    /// Messages per second one `From` number may send (beyond: 429, 20429).
    pub twilio_mps: u32,
    /// Messages per second one Messaging Service may send.
    pub twilio_service_mps: u32,
    /// `Authorization: Bearer` of SendGrid's `/v3/mail/send`.
    pub sendgrid_api_key: String,
    /// Where SendGrid's Event Webhook posts.
    pub sendgrid_webhook_url: Option<String>,
    /// The Event Webhook's P-256 signing key is SHA-256 of this seed, so its
    /// public key is known before the simulator starts.
    pub sendgrid_signing_seed: String,
    /// `Authorization: Bearer` of the WhatsApp Cloud API.
    pub whatsapp_access_token: String,
    /// The Meta app secret that signs WhatsApp webhooks (`X-Hub-Signature-256`).
    pub whatsapp_app_secret: String,
    /// Where WhatsApp webhooks (statuses and inbound messages) go.
    pub whatsapp_webhook_url: Option<String>,
}

/// The default Twilio account's sid.
pub const DEFAULT_TWILIO_ACCOUNT_SID: &str = "AC5e1a0000000000000000000000000001";

/// A clock that read `virtual_origin` at the real instant `real_origin` and
/// runs `scale` times as fast as real time, so that a backend on an
/// accelerated clock gets callback times in its own time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VirtualClock {
    pub real_origin: Timestamp,
    pub virtual_origin: Timestamp,
    pub scale: f64,
}

impl VirtualClock {
    /// The virtual time at the real instant `real`:
    /// `virtual_origin + (real − real_origin) × scale`.
    pub fn at(&self, real: Timestamp) -> Timestamp {
        let seconds = real.duration_since(self.real_origin).as_secs_f64() * self.scale;
        let elapsed = SignedDuration::try_from_secs_f64(seconds).unwrap_or(if seconds < 0.0 {
            SignedDuration::MIN
        } else {
            SignedDuration::MAX
        });
        self.virtual_origin
            .saturating_add(elapsed)
            .unwrap_or(Timestamp::MAX)
    }
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
            retell_tools_url: None,
            max_concurrent_calls: 20,
            time_scale: 1.0,
            default_script: DefaultScript::default(),
            clock: None,
            twilio_account_sid: DEFAULT_TWILIO_ACCOUNT_SID.into(),
            twilio_auth_token: "sim-twilio-auth-token".into(),
            twilio_webhook_url: None,
            twilio_mps: 1,
            twilio_service_mps: 10,
            sendgrid_api_key: "SG.sim-sendgrid-api-key".into(),
            sendgrid_webhook_url: None,
            sendgrid_signing_seed: "sim-sendgrid-signing-seed".into(),
            whatsapp_access_token: "sim-whatsapp-access-token".into(),
            whatsapp_app_secret: "sim-whatsapp-app-secret".into(),
            whatsapp_webhook_url: None,
        }
    }
}

impl SimConfig {
    /// The settings the binary reads, by name (`--name value` or `SIM_NAME`).
    pub const SETTINGS: [(&'static str, &'static str); 25] = [
        ("bind", "address to listen on (127.0.0.1:0)"),
        (
            "retell-api-key",
            "Retell API key, also the webhook signing key",
        ),
        ("vapi-api-key", "Vapi private API key"),
        ("vapi-webhook-secret", "sent as x-vapi-secret"),
        ("retell-webhook-url", "where Retell webhooks go"),
        ("vapi-webhook-url", "where Vapi webhooks and tool calls go"),
        (
            "retell-tools-url",
            "where Retell tool calls go (retell-webhook-url + /tools)",
        ),
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
            "clock-scale",
            "virtual seconds per real second of the callback clock (1.0)",
        ),
        (
            "clock-real-origin",
            "RFC 3339 real instant at which the callback clock read clock-virtual-origin",
        ),
        (
            "clock-virtual-origin",
            "RFC 3339 instant; with clock-real-origin, callbacks are counted on this clock",
        ),
        (
            "twilio-account-sid",
            "the default Twilio account (AC5e1a0000000000000000000000000001)",
        ),
        (
            "twilio-auth-token",
            "its Auth Token, which signs its webhooks (sim-twilio-auth-token)",
        ),
        ("twilio-webhook-url", "where inbound SMS go"),
        ("twilio-mps", "messages per second per From number (1)"),
        (
            "twilio-service-mps",
            "messages per second per Messaging Service (10)",
        ),
        (
            "sendgrid-api-key",
            "SendGrid API key (SG.sim-sendgrid-api-key)",
        ),
        (
            "sendgrid-webhook-url",
            "where SendGrid's Event Webhook posts",
        ),
        (
            "sendgrid-signing-seed",
            "the Event Webhook's key is SHA-256 of it (sim-sendgrid-signing-seed)",
        ),
        (
            "whatsapp-access-token",
            "WhatsApp Cloud API token (sim-whatsapp-access-token)",
        ),
        (
            "whatsapp-app-secret",
            "signs X-Hub-Signature-256 (sim-whatsapp-app-secret)",
        ),
        (
            "whatsapp-webhook-url",
            "where WhatsApp statuses and inbound messages go",
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
        config.retell_tools_url = setting("retell-tools-url").filter(|u| !u.is_empty());
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
        if let Some(sid) = setting("twilio-account-sid") {
            config.twilio_account_sid = sid;
        }
        if let Some(token) = setting("twilio-auth-token") {
            config.twilio_auth_token = token;
        }
        config.twilio_webhook_url = setting("twilio-webhook-url").filter(|u| !u.is_empty());
        for (name, mps) in [
            ("twilio-mps", &mut config.twilio_mps),
            ("twilio-service-mps", &mut config.twilio_service_mps),
        ] {
            if let Some(value) = setting(name) {
                *mps = value
                    .parse()
                    .map_err(|e| format!("{name} {value:?}: {e}"))?;
            }
        }
        if let Some(key) = setting("sendgrid-api-key") {
            config.sendgrid_api_key = key;
        }
        config.sendgrid_webhook_url = setting("sendgrid-webhook-url").filter(|u| !u.is_empty());
        if let Some(seed) = setting("sendgrid-signing-seed") {
            config.sendgrid_signing_seed = seed;
        }
        if let Some(token) = setting("whatsapp-access-token") {
            config.whatsapp_access_token = token;
        }
        if let Some(secret) = setting("whatsapp-app-secret") {
            config.whatsapp_app_secret = secret;
        }
        config.whatsapp_webhook_url = setting("whatsapp-webhook-url").filter(|u| !u.is_empty());
        if let Some(script) = setting("default-script").filter(|s| s != "mix") {
            let script: Script = serde_json::from_str(&script)
                .map_err(|e| format!("default-script {script:?}: {e}"))?;
            config.default_script = DefaultScript::Always(script);
        }
        let scale: f64 = match setting("clock-scale") {
            Some(scale) => scale
                .parse()
                .map_err(|e| format!("clock-scale {scale:?}: {e}"))?,
            None => 1.0,
        };
        if !(scale.is_finite() && scale >= 0.0) {
            return Err(format!(
                "clock-scale must be a finite number >= 0, got {scale}"
            ));
        }
        let instant = |name: &str| {
            setting(name)
                .map(|at| {
                    at.parse::<Timestamp>()
                        .map_err(|e| format!("{name} {at:?} is not an RFC 3339 instant: {e}"))
                })
                .transpose()
        };
        config.clock = match (
            instant("clock-real-origin")?,
            instant("clock-virtual-origin")?,
        ) {
            (Some(real_origin), Some(virtual_origin)) => Some(VirtualClock {
                real_origin,
                virtual_origin,
                scale,
            }),
            (None, None) => None,
            _ => {
                return Err(
                    "clock-real-origin and clock-virtual-origin are set together or not at all"
                        .into(),
                );
            }
        };
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
        if let Some(clock) = self.clock
            && !(clock.scale.is_finite() && clock.scale >= 0.0)
        {
            return Err(format!(
                "the clock scale must be a finite number >= 0, got {}",
                clock.scale
            ));
        }
        if !crate::twilio::is_account_sid(&self.twilio_account_sid) {
            return Err(format!(
                "twilio_account_sid must be AC and 32 hex digits, got {:?}",
                self.twilio_account_sid
            ));
        }
        if self.twilio_mps == 0 || self.twilio_service_mps == 0 {
            return Err("twilio_mps and twilio_service_mps must be at least 1".into());
        }
        Ok(())
    }

    /// Now on the clock callbacks are counted on: the virtual clock when one
    /// is set, else real time.
    pub fn virtual_now(&self) -> Timestamp {
        let now = Timestamp::now();
        self.clock.map_or(now, |clock| clock.at(now))
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
            "retell-tools-url" => Some("http://localhost:9000/functions".into()),
            "default-script" => Some(r#"{"outcome": "busy"}"#.into()),
            "twilio-mps" => Some("5".into()),
            "twilio-account-sid" => Some("AC0123456789abcdef0123456789abcdef".into()),
            "sendgrid-webhook-url" => Some("http://localhost:9000/sendgrid".into()),
            "whatsapp-app-secret" => Some("s3cret".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(config.twilio_mps, 5);
        assert_eq!(config.twilio_service_mps, 10);
        assert_eq!(
            config.twilio_account_sid,
            "AC0123456789abcdef0123456789abcdef"
        );
        assert_eq!(config.twilio_auth_token, "sim-twilio-auth-token");
        assert_eq!(
            config.sendgrid_webhook_url.as_deref(),
            Some("http://localhost:9000/sendgrid")
        );
        assert_eq!(config.whatsapp_app_secret, "s3cret");
        assert_eq!(config.twilio_webhook_url, None);
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
            config.retell_tools_url.as_deref(),
            Some("http://localhost:9000/functions")
        );
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
            ("clock-scale", "fast"),
            ("clock-scale", "-2"),
            ("clock-real-origin", "2026-11-23T10:00:00Z"),
            ("clock-virtual-origin", "2026-11-23T10:00:00Z"),
            ("twilio-account-sid", "AC123"),
            ("twilio-mps", "0"),
            ("twilio-service-mps", "ten"),
        ] {
            let result = SimConfig::from_settings(|n| (n == name).then(|| value.to_owned()));
            assert!(result.is_err(), "{name}={value}");
        }
        let result = SimConfig::from_settings(|name| match name {
            "clock-real-origin" => Some("2026-11-23 10:00".into()),
            "clock-virtual-origin" => Some("2026-11-23T10:00:00Z".into()),
            _ => None,
        });
        assert!(result.unwrap_err().contains("clock-real-origin"));
    }

    #[test]
    fn the_virtual_clock_runs_from_its_origin_at_its_scale() {
        let config = SimConfig::from_settings(|name| match name {
            "clock-scale" => Some("60".into()),
            "clock-real-origin" => Some("2026-11-23T10:00:00Z".into()),
            "clock-virtual-origin" => Some("2026-12-01T09:00:00-05:00".into()),
            _ => None,
        })
        .unwrap();
        let clock = config.clock.unwrap();
        let at = |real: &str| clock.at(real.parse().unwrap()).to_string();
        assert_eq!(at("2026-11-23T10:00:00Z"), "2026-12-01T14:00:00Z");
        assert_eq!(at("2026-11-23T10:00:01.5Z"), "2026-12-01T14:01:30Z");
        assert_eq!(at("2026-11-23T09:59:00Z"), "2026-12-01T13:00:00Z");
        let frozen = VirtualClock {
            scale: 0.0,
            ..clock
        };
        assert_eq!(
            frozen.at("2027-01-01T00:00:00Z".parse().unwrap()),
            clock.virtual_origin
        );
    }

    #[test]
    fn without_origins_the_virtual_clock_is_real_time() {
        let config =
            SimConfig::from_settings(|name| (name == "clock-scale").then(|| "60".into())).unwrap();
        assert_eq!(config.clock, None);
        let before = Timestamp::now();
        let now = config.virtual_now();
        assert!(before <= now && now <= Timestamp::now());
    }
}
