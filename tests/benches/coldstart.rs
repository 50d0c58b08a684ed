//! Cold start and first request of every function binary, against a
//! hello-world `lambda_runtime` binary built the same way.
//!
//! Each binary starts with the environment `infra/template.yaml` gives it
//! (`leadline_tests::lambda_env`) against a fake Runtime API, and gets its
//! example event twice: a request that uses its clients (a DynamoDB read
//! against a stand-in AWS endpoint that answers `{}`; nothing reaches a
//! provider). Measured per run:
//! - init: process start to the first `GET /runtime/invocation/next`;
//! - first request: that poll to the posted answer, which is where work
//!   moved out of init (a client built lazily) would show;
//! - warm request: the same event again.
//!
//! A binary that exits before its first poll fails the bench with its
//! stderr; every wait has a timeout.
//!
//! `cargo bench -p leadline-tests --bench coldstart` (in `make bench`: the
//! `cargo lambda build --release` bootstraps, median of 41 interleaved runs).
//! Without `--bench` (`cargo test --benches`, in `make test`) it is a smoke
//! run: each debug binary once, every check, no figures.
//! `LEADLINE_COLDSTART_BINARIES=<dir>` measures `<dir>/<name>/bootstrap`;
//! `LEADLINE_COLDSTART_STDERR=1` prints what each binary logged.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use leadline_core::calling::call::CallRef;
use leadline_core::{LeadId, TenantId};
use leadline_tests::lambda_env::{self, FunctionEnv};
use serde_json::{Value, json};

const RUNS: usize = 41;
const TIMEOUT: Duration = Duration::from_secs(15);
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// What the Runtime API saw, stamped when the bench read it.
enum Seen {
    Poll(Instant),
    Answer(Instant, String, Value),
}

/// A fake Lambda Runtime API: hands out `events` in order to `GET .../next`
/// (a poll past the last one is reported and left unanswered) and reports
/// every posted answer.
fn runtime_api(events: Vec<Value>) -> (String, Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel();
    let events = Arc::new(Mutex::new(VecDeque::from(events)));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let (tx, events) = (tx.clone(), events.clone());
            std::thread::spawn(move || serve_runtime(stream, &tx, &events));
        }
    });
    (address, rx)
}

/// Reads one HTTP/1.1 request: (request line, body), `None` at the end of the connection.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((line.trim_end().to_owned(), body))
}

fn serve_runtime(stream: TcpStream, tx: &Sender<Seen>, events: &Mutex<VecDeque<Value>>) {
    // Each answer goes out in one write, undelayed: Nagle's algorithm against
    // the client's delayed ACK would add 40 ms to a request.
    stream.set_nodelay(true).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut served = 0;
    while let Some((line, body)) = read_request(&mut reader) {
        let at = Instant::now();
        if line.contains("/runtime/invocation/next") {
            tx.send(Seen::Poll(at)).ok();
            let Some(event) = events.lock().unwrap().pop_front() else {
                return; // the bench has what it needs; the process is killed
            };
            served += 1;
            let body = event.to_string();
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + 30_000;
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 lambda-runtime-aws-request-id: bench-{served}\r\n\
                 lambda-runtime-deadline-ms: {deadline}\r\n\
                 lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:000000000000:function:bench\r\n\
                 lambda-runtime-trace-id: Root=1-00000000-000000000000000000000000;Sampled=0\r\n\
                 content-length: {}\r\n\r\n{body}",
                body.len()
            );
            writer.write_all(answer.as_bytes()).unwrap();
        } else {
            let answer = serde_json::from_slice(&body).unwrap_or(Value::Null);
            tx.send(Seen::Answer(at, line, answer)).ok();
            writer
                .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
        }
    }
}

/// A stand-in for every AWS endpoint: any request is answered `200 {}` (an
/// empty read to DynamoDB), and counted.
fn aws_stand_in() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let counted = counted.clone();
            std::thread::spawn(move || {
                stream.set_nodelay(true).unwrap();
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                while read_request(&mut reader).is_some() {
                    counted.fetch_add(1, Ordering::Relaxed);
                    let ok = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\n\
                               content-length: 2\r\n\r\n{}";
                    if writer.write_all(ok).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, requests)
}

/// What an answer must be: given the Runtime API path it was posted to and its body.
type Check = fn(&str, &Value) -> Result<(), String>;

/// A function to start: its binary, environment, event and what its answer must be.
struct Subject {
    name: String,
    binary: PathBuf,
    vars: Vec<(String, String)>,
    event: Value,
    /// Whether the first request must reach AWS (the functions built so far).
    uses_aws: bool,
    check: Check,
}

#[derive(Clone, Copy, Default)]
struct Run {
    init: Duration,
    first: Duration,
    warm: Duration,
}

fn next(rx: &Receiver<Seen>, child: &mut Child, stderr: &Path, what: &str) -> Seen {
    let started = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(seen) => return seen,
            Err(RecvTimeoutError::Disconnected) => unreachable!("the runtime API lives on"),
            Err(RecvTimeoutError::Timeout) => {}
        }
        if let Some(status) = child.try_wait().unwrap() {
            let log = std::fs::read_to_string(stderr).unwrap_or_default();
            panic!("the process exited ({status}) before {what}; its stderr:\n{log}");
        }
        if started.elapsed() > TIMEOUT {
            child.kill().ok();
            let log = std::fs::read_to_string(stderr).unwrap_or_default();
            panic!("{what} did not come within {TIMEOUT:?}; its stderr:\n{log}");
        }
    }
}

fn run(subject: &Subject, aws: &(String, Arc<AtomicUsize>)) -> Run {
    let (runtime, rx) = runtime_api(vec![subject.event.clone(), subject.event.clone()]);
    let stderr = std::env::temp_dir().join(format!(
        "leadline-coldstart-{}-{}.log",
        subject.name,
        std::process::id()
    ));
    let aws_before = aws.1.load(Ordering::Relaxed);
    let started = Instant::now();
    let mut child = Command::new(&subject.binary)
        .env_clear()
        .envs(subject.vars.iter().map(|(k, v)| (k, v)))
        .env("AWS_LAMBDA_RUNTIME_API", &runtime)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_SESSION_TOKEN", "bench")
        .env("AWS_ENDPOINT_URL", &aws.0)
        .env("_HANDLER", "bootstrap")
        .env("TZ", ":UTC")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", subject.binary.display()));
    let mut times = [Instant::now(); 4];
    for (i, what) in [
        "the first poll",
        "the first answer",
        "the second poll",
        "the second answer",
    ]
    .iter()
    .enumerate()
    {
        times[i] = match (i % 2, next(&rx, &mut child, &stderr, what)) {
            (0, Seen::Poll(at)) => at,
            (1, Seen::Answer(at, line, answer)) => {
                if let Err(e) = (subject.check)(&line, &answer) {
                    child.kill().ok();
                    let log = std::fs::read_to_string(&stderr).unwrap_or_default();
                    panic!("{}: {e}\n{line} {answer}\nits stderr:\n{log}", subject.name);
                }
                at
            }
            _ => {
                child.kill().ok();
                panic!(
                    "{}: the runtime protocol out of order at {what}",
                    subject.name
                )
            }
        };
    }
    child.kill().ok();
    child.wait().ok();
    if std::env::var_os("LEADLINE_COLDSTART_STDERR").is_some() {
        let log = std::fs::read_to_string(&stderr).unwrap_or_default();
        eprintln!("--- {} ---\n{log}", subject.name);
    }
    std::fs::remove_file(&stderr).ok();
    if subject.uses_aws {
        assert!(
            aws.1.load(Ordering::Relaxed) > aws_before,
            "{}: the example request never reached AWS, so it measures nothing",
            subject.name
        );
    }
    Run {
        init: times[0] - started,
        first: times[1] - times[0],
        warm: times[3] - times[2],
    }
}

fn event(file: &str) -> Value {
    let path = Path::new(ROOT).join("events").join(file);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// A Retell `call_ended` of a call leadline placed, signed with the key the
/// template gives voice-webhook.
fn retell_call_ended(api_key: &str) -> Value {
    let call = CallRef {
        tenant: TenantId::parse("acme-dental").unwrap(),
        lead: LeadId::from_bytes(&[7; 15]),
        attempt: 1,
    };
    let body = json!({"event": "call_ended", "call": {
        "call_id": "call_bench", "agent_id": "agent_1", "call_status": "ended",
        "metadata": call.to_metadata(), "start_timestamp": 1_795_341_600_000u64,
        "end_timestamp": 1_795_341_660_000u64, "duration_ms": 60_000,
        "disconnection_reason": "user_hangup"}})
    .to_string();
    let signature = leadline_voice::retell::sign(
        body.as_bytes(),
        api_key,
        jiff::Timestamp::now().as_millisecond(),
    );
    let mut event = event("voice-webhook-retell.json");
    event["headers"]["x-retell-signature"] = json!(signature);
    event["body"] = json!(body);
    event
}

/// A lead's STOP to a Twilio number, signed with the token the template
/// gives messaging-webhook, on the public URL it rebuilds.
fn twilio_inbound(vars: &std::collections::BTreeMap<String, String>) -> Value {
    let mut event = event("messaging-webhook-twilio.json");
    let body = event["body"].as_str().unwrap().to_owned();
    let params: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let url = format!("{}/webhooks/twilio", vars["PUBLIC_BASE_URL"]);
    let signature = leadline_messaging::twilio::sign(&url, &params, &vars["TWILIO_AUTH_TOKEN"]);
    event["headers"]["x-twilio-signature"] = json!(signature);
    event
}

fn answered(line: &str, _: &Value) -> Result<(), String> {
    line.contains("/response")
        .then_some(())
        .ok_or_else(|| "expected an answer, not an error".into())
}

fn http_answered(line: &str, answer: &Value) -> Result<(), String> {
    answered(line, answer)?;
    let status = answer["statusCode"].as_u64().unwrap_or(0);
    (200..500)
        .contains(&status)
        .then_some(())
        .ok_or_else(|| format!("HTTP status {status}"))
}

fn batch_answered(line: &str, answer: &Value) -> Result<(), String> {
    answered(line, answer)?;
    answer
        .get("batchItemFailures")
        .map(|_| ())
        .ok_or_else(|| "no batchItemFailures".into())
}

/// A function of a capability still to come: it must start and answer that it is not implemented.
fn not_implemented(_: &str, answer: &Value) -> Result<(), String> {
    // A 501 from an HTTP function, a failed invocation from the others: both
    // say so ("not implemented yet: ..."); a crash says something else.
    answer
        .to_string()
        .contains("not implemented yet")
        .then_some(())
        .ok_or_else(|| "expected 'not implemented yet'".into())
}

/// The dynamic relocations of an ELF64 binary (its `SHT_RELA` sections'
/// entries): what the loader applies before `main` runs, one pointer each.
fn relocations(binary: &Path) -> u64 {
    let elf = std::fs::read(binary).unwrap();
    let u16_at = |at: usize| u16::from_le_bytes(elf[at..at + 2].try_into().unwrap()) as usize;
    let u32_at = |at: usize| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap());
    assert_eq!(
        &elf[..5],
        b"\x7fELF\x02",
        "{} is not an ELF64 binary",
        binary.display()
    );
    let (table, size, count) = (u64_at(0x28) as usize, u16_at(0x3a), u16_at(0x3c));
    (0..count)
        .map(|i| table + i * size)
        .filter(|&header| u32_at(header + 4) == 4) // SHT_RELA
        .map(|header| u64_at(header + 0x20) / u64_at(header + 0x38).max(1))
        .sum()
}

/// Whether an ELF binary is position-independent (`ET_DYN`), so loaded at a
/// random address with its relative relocations applied by the loader, or
/// linked for a fixed address (`ET_EXEC`: `-no-pie`, `.cargo/config.toml`).
fn position_independent(binary: &Path) -> bool {
    let elf = std::fs::read(binary).unwrap();
    u16::from_le_bytes([elf[0x10], elf[0x11]]) == 3 // ET_DYN
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| format!("{ROOT}/target"));
    // LEADLINE_COLDSTART_BINARIES=<dir> measures <dir>/<name>/bootstrap
    // instead (say, the binaries of an earlier commit, kept aside).
    let lambdas = std::env::var("LEADLINE_COLDSTART_BINARIES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(&target).join("lambda"));
    let binary = |name: &str| -> PathBuf {
        if smoke {
            Path::new(&target).join("debug").join(name)
        } else {
            lambdas.join(name).join("bootstrap")
        }
    };
    let aws = aws_stand_in();
    let functions = lambda_env::functions(&Path::new(ROOT).join("infra/template.yaml"), &aws.0);
    // The baseline gets a function's environment too (api's, the first), so
    // that the size of the environment weighs on both alike.
    let hello_env = functions[0].vars.clone();
    let mut subjects = vec![
        Subject {
            name: "hello-lambda".into(),
            binary: binary("hello-lambda"),
            vars: hello_env.clone().into_iter().collect(),
            event: json!({"hello": "world"}),
            uses_aws: false,
            check: answered,
        },
        // The same, with the SDK and leadline's adapters linked in and built
        // at the first event: what loading that code costs before main runs.
        Subject {
            name: "hello-sdk".into(),
            binary: binary("hello-sdk"),
            vars: hello_env.into_iter().collect(),
            event: json!({"hello": "world"}),
            uses_aws: true,
            check: answered,
        },
    ];
    for FunctionEnv {
        binary: name, vars, ..
    } in &functions
    {
        let (event, uses_aws, check): (Value, bool, Check) = match name.as_str() {
            "api" => (event("api-list-campaigns.json"), true, http_answered),
            "voice-webhook" => (
                retell_call_ended(&vars["RETELL_API_KEY"]),
                true,
                http_answered,
            ),
            "call-dispatcher" => (event("call-dispatcher-dial-job.json"), true, batch_answered),
            "call-retries" => (event("call-retries-sweep.json"), true, answered),
            "calcom-webhook" => (event("calcom-webhook.json"), false, not_implemented),
            "stripe-webhook" => (event("stripe-webhook.json"), false, not_implemented),
            "messaging-webhook" => (twilio_inbound(vars), true, http_answered),
            "messenger" => (event("messenger-message.json"), true, batch_answered),
            "reminders" => (event("reminders-reminder.json"), false, not_implemented),
            "show-verification" => (
                event("show-verification-check.json"),
                false,
                not_implemented,
            ),
            "milestone-billing" => (event("milestone-billing-job.json"), false, not_implemented),
            other => panic!("{other}: the bench has no example request for it yet"),
        };
        subjects.push(Subject {
            name: name.clone(),
            binary: binary(name),
            vars: vars.clone().into_iter().collect(),
            event,
            uses_aws,
            check,
        });
    }
    for s in &subjects {
        assert!(
            s.binary.exists(),
            "{} is missing: `make bench` builds it with cargo lambda, `make test` with cargo build",
            s.binary.display()
        );
    }

    let runs = if smoke { 1 } else { RUNS };
    // Interleaved (the baseline, then each function, `runs` times) so that a
    // busy moment of the machine weighs on all of them alike.
    let mut samples: Vec<Vec<Run>> = vec![Vec::with_capacity(runs); subjects.len()];
    for _ in 0..runs {
        for (i, subject) in subjects.iter().enumerate() {
            samples[i].push(run(subject, &aws));
        }
    }
    if smoke {
        init_parts(&binary("init-parts"), &functions, &aws.0, 1);
        // Even a binary linked for a fixed address has some (its calls into libc).
        assert!(
            relocations(&subjects[0].binary) > 0,
            "a dynamically linked binary has relocations"
        );
        println!(
            "coldstart smoke: {} binaries started with the template's environment and answered their example event twice",
            subjects.len()
        );
        return;
    }
    let medians: Vec<Run> = samples
        .into_iter()
        .map(|s| Run {
            init: median(s.iter().map(|r| r.init).collect()),
            first: median(s.iter().map(|r| r.first).collect()),
            warm: median(s.iter().map(|r| r.warm).collect()),
        })
        .collect();
    let base = medians[0];
    println!("median of {runs} interleaved runs; init = process start to first poll");
    println!(
        "  {:<20}{:>9}{:>8}{:>14}{:>14}{:>16}{:>9}{:>13}{:>5}",
        "binary",
        "init",
        "ratio",
        "1st request",
        "warm request",
        "init+1st ratio",
        "size",
        "relocations",
        "PIE"
    );
    let mut worst: f64 = 0.0;
    for (i, (subject, m)) in subjects.iter().zip(&medians).enumerate() {
        let ratio = m.init.as_secs_f64() / base.init.as_secs_f64();
        let total = (m.init + m.first).as_secs_f64() / (base.init + base.first).as_secs_f64();
        if i >= 2 {
            worst = worst.max(ratio); // the functions, not the two baselines
        }
        println!(
            "  {:<20}{:>6.2} ms{:>7.2}x{:>11.2} ms{:>11.2} ms{:>15.2}x{:>6.1} MB{:>13}{:>5}",
            subject.name,
            ms(m.init),
            ratio,
            ms(m.first),
            ms(m.warm),
            total,
            std::fs::metadata(&subject.binary).unwrap().len() as f64 / 1e6,
            relocations(&subject.binary),
            if position_independent(&subject.binary) {
                "yes"
            } else {
                "no"
            }
        );
    }
    println!("worst init ratio {worst:.2}x (goal: at most 1.5x)");
    println!(
        "loading the SDK's code (hello-sdk - hello-lambda) {:.2} ms",
        ms(medians[1].init.saturating_sub(base.init))
    );
    init_parts(&binary("init-parts"), &functions, &aws.0, runs);
}

/// The pieces of a function's init, timed inside fresh processes
/// (`tests/src/bin/init-parts.rs`); medians of `runs`.
fn init_parts(binary: &Path, functions: &[FunctionEnv], aws_endpoint: &str, runs: usize) {
    let env = &functions
        .iter()
        .find(|f| f.binary == "call-retries")
        .expect("call-retries has every variable the pieces read")
        .vars;
    let mut samples: Vec<(String, Vec<u64>)> = Vec::new();
    for _ in 0..runs {
        let child = Command::new(binary)
            .env_clear()
            .envs(env)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .env("AWS_ENDPOINT_URL", aws_endpoint)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(child.wait_with_output()));
        let out = match rx.recv_timeout(TIMEOUT) {
            Ok(out) => out.unwrap(),
            Err(_) => {
                Command::new("kill").arg(pid.to_string()).status().ok();
                panic!("{} did not finish within {TIMEOUT:?}", binary.display());
            }
        };
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let parts: Vec<(String, u64)> = serde_json::from_slice(&out.stdout).unwrap();
        for (i, (name, us)) in parts.into_iter().enumerate() {
            if samples.len() <= i {
                samples.push((name, Vec::new()));
            }
            samples[i].1.push(us);
        }
    }
    println!("the pieces of an init, in a fresh process each time (median of {runs}):");
    for (name, mut us) in samples {
        us.sort();
        println!("  {name:<55}{:>8.2} ms", us[us.len() / 2] as f64 / 1e3);
    }
}
