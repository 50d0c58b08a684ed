//! `leadline-sim`: the simulated Retell, Vapi and Cal.com as a process. Prints
//! `listening on http://127.0.0.1:<port>` on stdout once it serves, logs to
//! stderr, and runs until killed.
//!
//! Every setting is `--name value` (or `--name=value`), else the environment
//! variable `SIM_NAME` (upper case, `-` → `_`); see `--help`.

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;

use leadline_sim::{Provider, Sim, SimConfig};

/// Per-provider concurrency limits, beyond the config's single one.
const LIMIT_SETTINGS: [(&str, Provider, &str); 2] = [
    (
        "retell-max-concurrent-calls",
        Provider::Retell,
        "overrides max-concurrent-calls for Retell",
    ),
    (
        "vapi-max-concurrent-calls",
        Provider::Vapi,
        "overrides max-concurrent-calls for Vapi",
    ),
];

#[tokio::main]
async fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let print_public_key = args.first().is_some_and(|a| a == "sendgrid-public-key");
    if print_public_key {
        args.remove(0);
    }
    let args = match parse_args(args.into_iter()) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("leadline-sim: {message}\n\n{}", usage());
            return ExitCode::from(2);
        }
    };
    if args.contains_key("help") {
        println!("{}", usage());
        return ExitCode::SUCCESS;
    }
    let setting = |name: &str| {
        args.get(name)
            .cloned()
            .or_else(|| std::env::var(variable(name)).ok())
    };
    if print_public_key {
        // What a deployment is configured with before the simulator starts.
        let config = SimConfig::default();
        let seed = setting("sendgrid-signing-seed").unwrap_or(config.sendgrid_signing_seed);
        println!("{}", leadline_sim::sendgrid::public_key(&seed));
        return ExitCode::SUCCESS;
    }
    let level = setting("log")
        .and_then(|level| level.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .init();

    let config = match SimConfig::from_settings(setting) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("leadline-sim: {message}");
            return ExitCode::from(2);
        }
    };
    let mut sim = match Sim::start(config).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("leadline-sim: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    for (name, provider, _) in LIMIT_SETTINGS {
        if let Some(limit) = setting(name) {
            match limit.parse() {
                Ok(limit) => sim.control().set_max_concurrent_calls(provider, limit),
                Err(e) => {
                    eprintln!("leadline-sim: {name} {limit:?}: {e}");
                    return ExitCode::from(2);
                }
            }
        }
    }
    println!("listening on {}", sim.url());
    // A launcher reading stdout through a pipe must see the line now.
    let _ = std::io::stdout().flush();
    match sim.wait().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("leadline-sim: server stopped: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The environment variable of a setting: `SIM_` and the name in upper snake case.
fn variable(name: &str) -> String {
    format!("SIM_{}", name.to_uppercase().replace('-', "_"))
}

/// Every setting with its help text.
fn settings() -> impl Iterator<Item = (&'static str, &'static str)> {
    let limits = LIMIT_SETTINGS.map(|(name, _, help)| (name, help));
    SimConfig::SETTINGS.into_iter().chain(limits)
}

/// `--name value` and `--name=value` pairs; `--help` alone.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<HashMap<String, String>, String> {
    let mut parsed = HashMap::new();
    while let Some(arg) = args.next() {
        let Some(option) = arg.strip_prefix("--") else {
            return Err(format!("unexpected argument {arg:?}"));
        };
        if option == "help" {
            parsed.insert(option.to_owned(), String::new());
            continue;
        }
        let (name, value) = match option.split_once('=') {
            Some((name, value)) => (name.to_owned(), value.to_owned()),
            None => {
                let value = args.next().ok_or(format!("--{option} needs a value"))?;
                (option.to_owned(), value)
            }
        };
        if !settings().any(|(known, _)| known == name) {
            return Err(format!("unknown option --{name}"));
        }
        parsed.insert(name, value);
    }
    Ok(parsed)
}

fn usage() -> String {
    let mut text = String::from(
        "usage: leadline-sim [--name value]...\n\
         \x20      leadline-sim sendgrid-public-key [--sendgrid-signing-seed S]\n\
         Simulated Retell and Vapi, whose agents call the backend's tools during calls,\n\
         Cal.com API v2 (/v2/slots, /v2/bookings; every cal_ API key is an account),\n\
         Twilio SMS, SendGrid and the WhatsApp Cloud API. The second form prints the\n\
         SendGrid Event Webhook's public key (base64 DER) and exits.\n\
         Controls under /_sim/. Each setting also reads SIM_<NAME> from the environment.\n\n",
    );
    for (name, help) in settings() {
        text.push_str(&format!("  --{name:<28} {:<34} {help}\n", variable(name)));
    }
    text
}
