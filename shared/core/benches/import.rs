//! Import budget: 100,000 CSV rows parsed, validated, normalized and
//! de-duplicated in-process, against Python's `phonenumbers` doing the same
//! rows (bench/import_baseline.py). Prints both times and the ratio; the goal
//! is at least 10x. Run with `make bench` (it provides the Python venv).
//!
//! Without `--bench` (`cargo test --benches`) it is a smoke run of 300 rows,
//! one run of each side; the baseline must run then too, so it needs a
//! Python with `phonenumbers` (`LEADLINE_BENCH_PYTHON`, else the venv of
//! `scripts/local-stack.sh tools`, else `python3`).

use std::time::{Duration, Instant};

use leadline_core::Region;
use leadline_core::intake::import::parse_csv;

const ROWS: usize = 100_000;
const RUNS: usize = 5;
/// The rows of a smoke run (`cargo test --benches`).
const SMOKE_ROWS: usize = 300;

/// `n` rows (100,000 in the bench): valid numbers of five countries in the spellings people
/// use (international and national), 2% duplicates (the previous row's number
/// spelled differently), 1% bad numbers, 1% bad emails.
fn rows(n: usize) -> String {
    const AREAS: [u32; 10] = [212, 213, 312, 415, 617, 646, 702, 718, 305, 404];
    let mut csv = String::from("number,name,email\n");
    let mut previous = String::from("+1 212 555 0100");
    for i in 0..n as u32 {
        let (area, exchange, line) = (
            AREAS[(i / 1000 % 10) as usize],
            200 + (i / 10_000) % 800,
            i % 10_000,
        );
        let number = match i % 100 {
            0 => "12345".to_owned(),
            1 | 2 => previous.replace(' ', "-"),
            _ => match i % 5 {
                0 => format!("+1 ({area}) {exchange}-{line:04}"),
                1 => format!("{area}.{exchange}.{line:04}"),
                2 => format!("+91 9{:04} {:05}", i % 10_000, i / 10),
                3 => format!("+44 79{:02} {:06}", i % 100, i),
                _ => format!("+49 30 {:08}", 10_000_000 + i),
            },
        };
        if i % 100 > 2 {
            previous = number.clone();
        }
        let email = if i % 100 == 3 {
            "broken".to_owned()
        } else {
            format!("lead{i}@example.com")
        };
        csv.push_str(&format!("{number},Lead {i},{email}\n"));
    }
    csv
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then this is a smoke run: a few hundred rows, one run of each side,
    // every check still made.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let (rows_n, runs, python_runs) = if smoke {
        (SMOKE_ROWS, 1, 1)
    } else {
        (ROWS, RUNS, 3)
    };
    if smoke {
        println!(
            "import: smoke run ({rows_n} rows, one run of each; `cargo bench` runs {ROWS} rows)"
        );
    }
    let csv = rows(rows_n);
    let region = Region::parse("US").unwrap();
    let path = std::env::temp_dir().join(if smoke {
        "leadline-import-bench-smoke.csv"
    } else {
        "leadline-import-bench.csv"
    });
    std::fs::write(&path, &csv).unwrap();

    let mut best = Duration::MAX;
    let mut summary = (0, 0, 0);
    for _ in 0..runs {
        let start = Instant::now();
        let file = parse_csv(csv.as_bytes(), region).unwrap();
        best = best.min(start.elapsed());
        summary = (file.rows.len(), file.duplicates.len(), file.rejected.len());
    }
    println!(
        "rust   {rows_n} rows: best of {runs} {:>8.1} ms  (accepted {}, duplicates {}, rejected {})",
        best.as_secs_f64() * 1e3,
        summary.0,
        summary.1,
        summary.2
    );
    assert_eq!(
        summary.0 + summary.1 + summary.2,
        rows_n,
        "every row is accepted, a duplicate or rejected"
    );
    assert!(
        summary.0 > 0 && summary.1 > 0 && summary.2 > 0,
        "the rows hold accepted, duplicate and rejected ones: {summary:?}"
    );

    let python = python(smoke);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../bench/import_baseline.py"
    );
    let out = std::process::Command::new(&python)
        .arg(script)
        .arg(&path)
        .args(["US", &python_runs.to_string()])
        .output();
    match out {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let fields: Vec<&str> = text.split_whitespace().collect();
            let counts: Vec<usize> = fields
                .get(1..4)
                .unwrap_or_default()
                .iter()
                .filter_map(|f| f.parse().ok())
                .collect();
            let seconds: f64 = match (fields.first().map(|s| s.parse()), counts.len()) {
                (Some(Ok(seconds)), 3) => seconds,
                _ => panic!(
                    "the python baseline ({python}) printed {text:?}, not `seconds accepted duplicates rejected`"
                ),
            };
            println!(
                "python {rows_n} rows: best of {python_runs} {:>8.1} ms  (accepted {}, duplicates {}, rejected {})",
                seconds * 1e3,
                fields[1],
                fields[2],
                fields[3]
            );
            assert_eq!(
                (counts[0], counts[1], counts[2]),
                summary,
                "the python baseline and leadline disagree on the same rows: (accepted, duplicates, rejected)"
            );
            if smoke {
                println!("ratio  not measured in a smoke run");
            } else {
                let ratio = seconds / best.as_secs_f64();
                println!(
                    "ratio  rust is {ratio:.1}x the Python phonenumbers baseline (goal: at least 10x)"
                );
            }
        }
        Ok(out) if smoke => panic!(
            "the python baseline failed ({python}): {}\nset LEADLINE_BENCH_PYTHON to a Python with \
             the phonenumbers package (`scripts/local-stack.sh tools` makes .tools/bench/bin/python)",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) if smoke => panic!(
            "the python baseline could not start ({python}: {e}); set LEADLINE_BENCH_PYTHON to a \
             Python with the phonenumbers package (`scripts/local-stack.sh tools` makes \
             .tools/bench/bin/python)"
        ),
        Ok(out) => println!(
            "python baseline failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => println!("python baseline not run ({python}: {e}); `make bench` provides it"),
    }
}

/// The Python to run the baseline with: `LEADLINE_BENCH_PYTHON`; else, in a
/// smoke run, the venv `scripts/local-stack.sh tools` makes (the one
/// `make bench` uses) when it is there; else `python3`.
fn python(smoke: bool) -> String {
    if let Ok(python) = std::env::var("LEADLINE_BENCH_PYTHON") {
        return python;
    }
    if smoke {
        let tools = std::env::var("LEADLINE_TOOLS_DIR")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../.tools").into());
        let venv = std::path::Path::new(&tools).join("bench/bin/python");
        if venv.is_file() {
            return venv.display().to_string();
        }
    }
    "python3".into()
}
