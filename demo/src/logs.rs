//! After the scenario: what the deployed functions logged, as MiniStack keeps
//! it (CloudWatch Logs, `/aws/lambda/<function>`), scanned for phone numbers
//! and email addresses (`leadline_core::kernel::redact::leaks`), as `make test` scans
//! the integration tests' logs (`tests/src/logs.rs`). Not part of the report.

use leadline_core::kernel::redact::{leaks, redact};
use serde_json::{Value, json};

/// What the scan read, and the lines that leaked, redacted.
pub struct Scan {
    pub groups: usize,
    pub lines: usize,
    pub findings: Vec<String>,
}

/// Every `/aws/lambda/` log line at `endpoint` from `since` (epoch ms) on.
pub async fn scan(endpoint: &str, since: u64) -> Result<Scan, String> {
    const PREFIX: &str = "/aws/lambda/";
    const PAGE: u64 = 10_000;
    let http = reqwest::Client::new();
    let call = |action: &'static str, body: Value| {
        let request = http
            .post(endpoint)
            .header("x-amz-target", format!("Logs_20140328.{action}"))
            .header("content-type", "application/x-amz-json-1.1")
            .body(body.to_string());
        async move {
            let response = request.send().await.map_err(|e| format!("{action}: {e}"))?;
            let status = response.status();
            let answer: Value = response
                .json()
                .await
                .map_err(|e| format!("{action}: {e}"))?;
            if status.is_success() {
                Ok(answer)
            } else {
                Err(format!("{action} answered {status}: {answer}"))
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
        groups.extend(
            answer["logGroups"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|g| g["logGroupName"].as_str().map(str::to_owned)),
        );
        match answer["nextToken"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }
    let mut scan = Scan {
        groups: groups.len(),
        lines: 0,
        findings: Vec::new(),
    };
    for group in &groups {
        let mut start = since;
        loop {
            let body = json!({"logGroupName": group, "limit": PAGE, "startTime": start});
            let answer = call("FilterLogEvents", body).await?;
            let events = answer["events"].as_array().cloned().unwrap_or_default();
            for event in &events {
                for line in event["message"].as_str().unwrap_or_default().lines() {
                    scan.lines += 1;
                    if !leaks(line).is_empty() {
                        let excerpt: String = redact(line).chars().take(240).collect();
                        scan.findings.push(format!("{group}: {excerpt}"));
                    }
                }
            }
            match events.last().and_then(|e| e["timestamp"].as_u64()) {
                Some(last) if events.len() as u64 >= PAGE && last != start => start = last,
                _ => break,
            }
        }
    }
    Ok(scan)
}
