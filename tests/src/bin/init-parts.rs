//! Where a function's init goes: the pieces `voice-webhook` and
//! `call-dispatcher` build at a cold start, timed one after the other in a
//! fresh process, printed as JSON (microseconds). The cold-start bench runs
//! it many times and prints the medians; `make bench` builds it like the
//! functions (`cargo lambda build --release`).
//!
//! It needs the environment of a function (the bench gives it call-retries',
//! which has every variable these pieces read).

use std::time::Instant;

use leadline_aws::{Aws, DynamoStore};
use leadline_service::{config, wiring};

#[tokio::main]
async fn main() {
    let mut parts: Vec<(&str, u128)> = Vec::new();
    let mut last = Instant::now();
    let mut lap = |name: &'static str| {
        parts.push((name, last.elapsed().as_micros()));
        last = Instant::now();
    };
    leadline_service::init_tracing();
    lap("tracing");
    let aws = Aws::from_env().await;
    lap("SDK configuration");
    let store = DynamoStore::from_aws(&aws, config::table_name().unwrap());
    lap("DynamoDB client and store");
    let messages = wiring::message_queue(&aws).unwrap();
    lap("SQS client (message queue)");
    let follow_ups = wiring::follow_ups(&aws).unwrap();
    lap("Scheduler client (follow-ups)");
    let dial_queue = wiring::dial_queue(&aws).unwrap();
    lap("dial queue (clients shared)");
    let calendar = wiring::calendar().unwrap();
    lap("Cal.com client (TLS configuration)");
    let dialers = wiring::dialers().unwrap();
    lap("Retell and Vapi clients");
    let _ = (
        config::clock().unwrap(),
        config::deployment_limits().unwrap(),
    );
    lap("configuration");
    // Not init: what the first request that reads a lead (a Phone) pays, and
    // the first that needs its region (calling hours read the numbering plan).
    let phone: leadline_core::Phone = serde_json::from_str("\"+14155552671\"").unwrap();
    lap("first request: the first phone number read back");
    let _ = phone.region();
    lap("first request: the first region of a number (numbering plan)");
    let default_tls = reqwest::Client::builder().build().unwrap();
    lap("for comparison: reqwest's default TLS (system roots)");
    drop((
        store,
        messages,
        follow_ups,
        dial_queue,
        calendar,
        dialers,
        default_tls,
    ));
    let json: Vec<String> = parts
        .iter()
        .map(|(name, us)| format!("[{name:?}, {us}]"))
        .collect();
    println!("[{}]", json.join(", "));
}
