//! The scan of what the functions logged, for phone numbers and email
//! addresses (DESIGN rule 8). Two sources: the file `cargo lambda watch`
//! writes every function's output into (`.demo/watch.log`, each line of a
//! function starting with `[<function>] `), and the functions deployed in
//! MiniStack, whose output MiniStack keeps as CloudWatch Logs under
//! `/aws/lambda/<function>`.
//!
//! What counts as a leak is `leadline_core::kernel::redact::leaks`: `+` and eight
//! digits or more, or an email address. A finding names its source, line and
//! function, and shows the line redacted, never the value itself.

use std::collections::BTreeMap;
use std::fmt;

use leadline_core::kernel::redact::{LeakKind, leaks, redact};
use serde_json::{Value, json};

/// One line of a function's output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// Where it was read: a file, or a CloudWatch log group.
    pub source: String,
    /// Its number in the source (1-based).
    pub number: usize,
    /// The function that wrote it, when the line tells.
    pub function: Option<String>,
    pub text: String,
}

impl Line {
    /// A line a function wrote while handling a request: the Lambda
    /// runtime's span around an invocation names its request id.
    pub fn is_request_line(&self) -> bool {
        self.function.is_some() && self.text.contains("requestId=")
    }
}

/// `cargo lambda watch`'s output: every line, with the function of those a
/// function wrote, and the functions cargo lambda started.
pub struct WatchLog {
    pub lines: Vec<Line>,
    pub started: Vec<String>,
}

/// Reads a `cargo lambda watch` output file's text.
pub fn read_watch_log(source: &str, text: &str) -> WatchLog {
    const STARTED: &str = "starting lambda function instance function=\"";
    let mut started = Vec::new();
    let lines = text
        .lines()
        .enumerate()
        .map(|(i, raw)| {
            let text = without_ansi(raw);
            if let Some(at) = text.find(STARTED) {
                let rest = &text[at + STARTED.len()..];
                if let Some(name) = rest.split('"').next().filter(|n| !n.is_empty())
                    && !started.iter().any(|s| s == name)
                {
                    started.push(name.to_owned());
                }
            }
            Line {
                source: source.to_owned(),
                number: i + 1,
                function: function_of(&text),
                text,
            }
        })
        .collect();
    WatchLog { lines, started }
}

/// The `<function>` of a line that starts with `[<function>] `.
fn function_of(text: &str) -> Option<String> {
    let rest = text.strip_prefix('[')?;
    let (name, _) = rest.split_once("] ")?;
    (!name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)))
    .then(|| name.to_owned())
}

/// The text without terminal colour codes (`ESC [ ... letter`).
fn without_ansi(raw: &str) -> String {
    let mut text = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            text.push(c);
        }
    }
    text
}

/// A line that holds a number or an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub source: String,
    pub number: usize,
    pub function: Option<String>,
    pub kinds: Vec<LeakKind>,
    /// The line redacted (and cut), so that the report leaks nothing itself.
    pub excerpt: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} ({}): {:?} in: {}",
            self.source,
            self.number,
            self.function.as_deref().unwrap_or("function unknown"),
            self.kinds,
            self.excerpt
        )
    }
}

/// The lines that hold a phone number or an email address.
pub fn scan(lines: &[Line]) -> Vec<Finding> {
    const EXCERPT_CHARS: usize = 240;
    lines
        .iter()
        .filter_map(|line| {
            let found = leaks(&line.text);
            if found.is_empty() {
                return None;
            }
            let redacted = redact(&line.text);
            let mut excerpt: String = redacted.chars().take(EXCERPT_CHARS).collect();
            if redacted.chars().count() > EXCERPT_CHARS {
                excerpt.push('…');
            }
            Some(Finding {
                source: line.source.clone(),
                number: line.number,
                function: line.function.clone(),
                kinds: found.into_iter().map(|leak| leak.kind).collect(),
                excerpt,
            })
        })
        .collect()
}

/// How many request lines each function wrote.
pub fn request_lines(lines: &[Line]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in lines.iter().filter(|l| l.is_request_line()) {
        if let Some(function) = &line.function {
            *counts.entry(function.clone()).or_default() += 1;
        }
    }
    counts
}

/// Every line of every `/aws/lambda/` log group of the CloudWatch Logs at
/// `endpoint` (MiniStack's, through its JSON API; unsigned, like the other
/// calls to MiniStack here), logged at `since` (epoch milliseconds) or
/// later. A line's function is its log group's.
pub async fn cloudwatch_lines(endpoint: &str, since: Option<u64>) -> Result<Vec<Line>, String> {
    const PREFIX: &str = "/aws/lambda/";
    // MiniStack's FilterLogEvents answers at most this many events and no token.
    const PAGE: u64 = 10_000;
    let http = reqwest::Client::new();
    let call = |action: &'static str, body: Value| {
        let http = &http;
        async move {
            // MiniStack's log store can fail a read that races the functions'
            // writes (a 500, "dictionary changed size during iteration"): a
            // server error is asked again, a few times.
            let mut tries = 0;
            loop {
                tries += 1;
                let response = http
                    .post(endpoint)
                    .header("x-amz-target", format!("Logs_20140328.{action}"))
                    .header("content-type", "application/x-amz-json-1.1")
                    .body(body.to_string())
                    .send()
                    .await
                    .map_err(|e| format!("{action}: {e}"))?;
                let status = response.status();
                let answer: Value = response
                    .json()
                    .await
                    .map_err(|e| format!("{action}: {e}"))?;
                if status.is_success() {
                    return Ok(answer);
                }
                if !status.is_server_error() || tries == 5 {
                    return Err(format!("{action} answered {status}: {answer}"));
                }
                tokio::time::sleep(std::time::Duration::from_millis(200 * tries)).await;
            }
        }
    };
    let mut groups = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"logGroupNamePrefix": PREFIX});
        if let Some(token) = &token {
            body["nextToken"] = json!(token);
        }
        let answer = call("DescribeLogGroups", body).await?;
        for group in answer["logGroups"].as_array().into_iter().flatten() {
            if let Some(name) = group["logGroupName"].as_str() {
                groups.push(name.to_owned());
            }
        }
        match answer["nextToken"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }
    let mut lines = Vec::new();
    for group in groups {
        let function = group.strip_prefix(PREFIX).map(str::to_owned);
        let mut start: Option<u64> = since;
        let mut number = 0;
        loop {
            let mut body = json!({"logGroupName": group, "limit": PAGE});
            if let Some(start) = start {
                body["startTime"] = json!(start);
            }
            let answer = call("FilterLogEvents", body).await?;
            let events = answer["events"].as_array().cloned().unwrap_or_default();
            for event in &events {
                for text in event["message"].as_str().unwrap_or_default().lines() {
                    number += 1;
                    lines.push(Line {
                        source: group.clone(),
                        number,
                        function: function.clone(),
                        text: without_ansi(text),
                    });
                }
            }
            // A full page: read on from its last event's time (that
            // millisecond's events again; a scan minds no duplicates).
            let last = events.last().and_then(|e| e["timestamp"].as_u64());
            match last {
                Some(last) if events.len() as u64 >= PAGE && Some(last) != start => {
                    start = Some(last)
                }
                _ => break,
            }
        }
    }
    Ok(lines)
}
