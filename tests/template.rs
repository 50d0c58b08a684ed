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
