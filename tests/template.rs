//! The SAM template passes `sam validate` and cfn-lint 1.51.0, and a template
//! with planted errors fails the lint with each of them reported.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn tool(venv: &str, name: &str) -> PathBuf {
    let tools = std::env::var_os("LEADLINE_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".tools"));
    let path = tools.join(venv).join("bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: `make test` installs it (scripts/local-stack.sh tools)",
        path.display()
    );
    path
}

fn lint(template: &Path) -> (i32, String) {
    let out = Command::new(tool("lint", "cfn-lint"))
        .arg(template)
        .output()
        .expect("cfn-lint runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn the_template_passes_sam_validate() {
    let empty_home = std::env::temp_dir().join("leadline-sam-home");
    std::fs::create_dir_all(&empty_home).unwrap();
    let out = Command::new(tool("sam", "sam"))
        .args(["validate", "-t"])
        .arg(root().join("infra/template.yaml"))
        .env("HOME", &empty_home)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("SAM_CLI_TELEMETRY", "0")
        .output()
        .expect("sam runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains("is a valid SAM Template"),
        "{text}"
    );
}

#[test]
fn the_template_passes_cfn_lint() {
    let (code, report) = lint(&root().join("infra/template.yaml"));
    assert_eq!(code, 0, "cfn-lint found problems:\n{report}");
}

#[test]
fn a_broken_template_fails_cfn_lint_with_every_planted_error() {
    let (code, report) = lint(&root().join("tests/fixtures/broken-template.yaml"));
    assert_ne!(code, 0, "cfn-lint passed a broken template:\n{report}");
    for expected in [
        "provided.al2099",
        "'ReportBatchItemFailure'",
        "1 is less than the minimum of 2",
        "2000 is greater than the maximum of 1440",
    ] {
        assert!(
            report.contains(expected),
            "cfn-lint did not report {expected}:\n{report}"
        );
    }
}

/// A function the template hands a queue's URL may send to that queue: the
/// URL alone is no permission, and a send it is refused fails only at run
/// time (the voice webhook's wakes of waiting dial jobs would be lost).
#[test]
fn every_function_given_a_queues_url_may_send_to_that_queue() {
    use serde_norway::Value;
    let text = std::fs::read_to_string(root().join("infra/template.yaml")).unwrap();
    let doc: Value = serde_norway::from_str(&text).unwrap();
    let resources = doc["Resources"].as_mapping().unwrap();
    let tagged = |value: &Value, tag: &str| match value {
        Value::Tagged(t) if t.tag == tag => t.value.as_str().map(str::to_owned),
        _ => None,
    };
    let mut checked = 0;
    for (name, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let props = &resource["Properties"];
        let may_send: Vec<String> = props["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|p| tagged(&p["SQSSendMessagePolicy"]["QueueName"], "!GetAtt"))
            .filter_map(|attribute| attribute.strip_suffix(".QueueName").map(str::to_owned))
            .collect();
        let vars = props["Environment"]["Variables"].as_mapping();
        for (var, value) in vars.into_iter().flatten() {
            let Some(queue) = tagged(value, "!Ref") else {
                continue;
            };
            if doc["Resources"][queue.as_str()]["Type"].as_str() != Some("AWS::SQS::Queue") {
                continue;
            }
            assert!(
                may_send.contains(&queue),
                "{} has {} (the URL of {queue}) but no SQSSendMessagePolicy for it",
                name.as_str().unwrap(),
                var.as_str().unwrap()
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 6,
        "only {checked} queue URLs found in the template"
    );
}
