//! Cold start: the time from process start to the first Runtime API poll
//! (`GET /2018-06-01/runtime/invocation/next`), for every function binary and
//! for a hello-world `lambda_runtime` binary built the same way
//! (`cargo lambda build --release`). Prints medians and ratios; the goal is at
//! most 1.5x the hello world. Run with `make bench`.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 101;
const FUNCTIONS: &[&str] = &[
    "api",
    "voice-webhook",
    "calcom-webhook",
    "stripe-webhook",
    "messaging-webhook",
    "call-dispatcher",
    "messenger",
    "call-retries",
    "reminders",
    "show-verification",
    "milestone-billing",
];

/// Starts `binary` against a one-shot fake Runtime API and returns the time to its first poll.
fn time_to_first_poll(binary: &Path) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("TABLE_NAME", "bench")
        .env("ADMIN_API_KEY", "bench-admin-key-bench-admin-key")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    let (stream, _) = listener.accept().unwrap();
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).unwrap();
    let elapsed = started.elapsed();
    assert!(
        line.contains("/runtime/invocation/next"),
        "unexpected first request: {line}"
    );
    child.kill().ok();
    child.wait().ok();
    elapsed
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").into());
    let bootstrap = |name: &str| {
        Path::new(&target)
            .join("lambda")
            .join(name)
            .join("bootstrap")
    };
    let hello = bootstrap("hello-lambda");
    assert!(
        hello.exists(),
        "{} is missing: run `make bench`, which builds it with cargo lambda",
        hello.display()
    );

    // Samples are interleaved (the baseline, then each function, RUNS times)
    // so that a busy moment of the machine weighs on all of them alike.
    let binaries: Vec<PathBuf> = std::iter::once(hello)
        .chain(FUNCTIONS.iter().map(|f| bootstrap(f)))
        .collect();
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(RUNS); binaries.len()];
    for _ in 0..RUNS {
        for (i, binary) in binaries.iter().enumerate() {
            samples[i].push(time_to_first_poll(binary));
        }
    }
    let medians: Vec<Duration> = samples.iter_mut().map(|s| median(s)).collect();
    let baseline = medians[0];
    println!("cold start to first Runtime API poll, median of {RUNS} interleaved runs:");
    println!(
        "  {:<20}{:>8.2} ms  (baseline)",
        "hello-lambda",
        baseline.as_secs_f64() * 1e3
    );
    let mut worst: f64 = 0.0;
    for (name, t) in FUNCTIONS.iter().zip(&medians[1..]) {
        let ratio = t.as_secs_f64() / baseline.as_secs_f64();
        worst = worst.max(ratio);
        println!("  {name:<20}{:>8.2} ms  {ratio:.2}x", t.as_secs_f64() * 1e3);
    }
    println!("worst ratio {worst:.2}x (goal: at most 1.5x)");
}
