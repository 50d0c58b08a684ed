//! No function logs a phone number or an email address (DESIGN rule 8).
//!
//! `make test` runs this after the integration tests, over what the
//! functions wrote meanwhile: `cargo lambda watch`'s output file
//! (`LEADLINE_WATCH_LOG`, `.demo/watch.log`) and the CloudWatch Logs of the
//! functions deployed in MiniStack (`AWS_ENDPOINT_URL`), from
//! `LEADLINE_LOGS_SINCE` (epoch ms) on when set. The scan itself is tested
//! first, on lines made up here.

use leadline_core::kernel::redact::LeakKind;
use leadline_tests::logs::{cloudwatch_lines, read_watch_log, request_lines, scan};

const WATCH_LOG: &str = r#" INFO starting Runtime server runtime_addr=127.0.0.1:9610
 INFO starting lambda function instance function="api" instance_id=8b05
 INFO starting lambda function instance function="voice-webhook" instance_id=f7b0
     Running `target/debug/api`
[api] 2026-12-07T19:42:11.474625Z  WARN AWS_LAMBDA_MAX_CONCURRENCY is set to '1'
[api] 2026-12-07T19:42:14.180991Z  INFO Lambda runtime invoke{requestId="54b1e49d-9659-4c7d-9989-65125b0b61ca" xrayTraceId="Root=1-6b170c16-353596f7b047944ea7f72140;Parent=2581aa70ca605321;Sampled=1"}: tenant created tenant=batches-a89ddc3d0
[voice-webhook] 2026-12-07T19:42:16.521982Z  INFO Lambda runtime invoke{requestId="3d3072f1-431e-40a2-a990-f892f1ae1190"}: call event provider_call_id=call_4f1c9e2b to=+1••••••••71 email=a•••@example.com
"#;

#[test]
fn the_scan_reads_whose_line_is_whose_and_passes_masked_values() {
    let log = read_watch_log("watch.log", WATCH_LOG);
    assert_eq!(log.started, ["api", "voice-webhook"]);
    assert_eq!(log.lines[0].function, None);
    assert_eq!(log.lines[5].function.as_deref(), Some("api"));
    let requests = request_lines(&log.lines);
    assert_eq!(
        requests.into_iter().collect::<Vec<_>>(),
        [("api".to_owned(), 1), ("voice-webhook".to_owned(), 1)]
    );
    assert_eq!(scan(&log.lines), []);
}

#[test]
fn the_scan_refuses_a_line_with_a_number_and_names_its_function() {
    let text = format!(
        "{WATCH_LOG}[voice-webhook] 2026-12-07T19:42:17Z  WARN Lambda runtime invoke{{requestId=\"x\"}}: refused to_number=+14155552671\n"
    );
    let found = scan(&read_watch_log("watch.log", &text).lines);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (
            found[0].number,
            found[0].function.as_deref(),
            &found[0].kinds[..]
        ),
        (8, Some("voice-webhook"), &[LeakKind::Phone][..])
    );
    let report = found[0].to_string();
    assert!(report.contains("to_number=+•••••••••71"), "{report}");
    assert!(!report.contains("+14155552671"), "{report}");
}

#[test]
fn the_scan_refuses_an_address_and_a_line_of_no_known_function() {
    let text =
        "\u{1b}[2m2026-12-07T19:42:17Z\u{1b}[0m ERROR attendee sam.lee@example.com refused\n";
    let found = scan(&read_watch_log("watch.log", text).lines);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].function, None);
    assert_eq!(found[0].kinds, [LeakKind::Email]);
    let report = found[0].to_string();
    assert!(report.contains("function unknown"), "{report}");
    assert!(report.contains("s•••@example.com"), "{report}");
    assert!(!report.contains("sam.lee@"), "{report}");
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the log scan runs after the integration tests, through `make test`"
        )
    })
}

#[tokio::test]
async fn no_function_logged_a_phone_number_or_an_email_address() {
    let path = var("LEADLINE_WATCH_LOG");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let watch = read_watch_log(&path, &text);
    assert!(
        !watch.started.is_empty(),
        "{path}: cargo lambda started no function; did the integration tests run?"
    );
    // The scan means something only if the functions did log their requests.
    let requests = request_lines(&watch.lines);
    let silent: Vec<&String> = watch
        .started
        .iter()
        .filter(|f| !requests.contains_key(*f))
        .collect();
    assert!(
        silent.is_empty(),
        "{path}: no request line of {silent:?} (request lines: {requests:?}); \
         are their lines still prefixed with [<function>]?"
    );

    let endpoint = var("AWS_ENDPOINT_URL");
    let since = std::env::var("LEADLINE_LOGS_SINCE").ok().map(|ms| {
        ms.parse()
            .expect("LEADLINE_LOGS_SINCE is epoch milliseconds")
    });
    let deployed = cloudwatch_lines(&endpoint, since)
        .await
        .unwrap_or_else(|e| panic!("MiniStack's CloudWatch Logs at {endpoint}: {e}"));
    assert!(
        !deployed.is_empty(),
        "MiniStack at {endpoint} holds no /aws/lambda/ log: the deployed functions' output was not read"
    );
    let deployed_requests = request_lines(&deployed);

    let mut findings = scan(&watch.lines);
    findings.extend(scan(&deployed));
    eprintln!(
        "log scan: {} lines of cargo lambda watch (request lines {requests:?}), \
         {} lines of MiniStack's /aws/lambda/ groups (request lines {deployed_requests:?}); {} finding(s)",
        watch.lines.len(),
        deployed.len(),
        findings.len()
    );
    assert!(
        findings.is_empty(),
        "{} log line(s) hold a phone number or an email address:\n{}",
        findings.len(),
        findings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}
