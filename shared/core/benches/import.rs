//! Import budget: 100,000 CSV rows parsed, validated, normalized and
//! de-duplicated in-process, against Python's `phonenumbers` doing the same
//! rows (bench/import_baseline.py). Prints both times and the ratio; the goal
//! is at least 10x. Run with `make bench` (it provides the Python venv).

use std::time::{Duration, Instant};

use leadline_core::Region;
use leadline_core::import::parse_csv;

const ROWS: usize = 100_000;
const RUNS: usize = 5;

/// 100,000 rows: valid numbers of five countries in the spellings people
/// use (international and national), 2% duplicates (the previous row's number
/// spelled differently), 1% bad numbers, 1% bad emails.
fn rows() -> String {
    const AREAS: [u32; 10] = [212, 213, 312, 415, 617, 646, 702, 718, 305, 404];
    let mut csv = String::from("number,name,email\n");
    let mut previous = String::from("+1 212 555 0100");
    for i in 0..ROWS as u32 {
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
    let csv = rows();
    let region = Region::parse("US").unwrap();
    let path = std::env::temp_dir().join("leadline-import-bench.csv");
    std::fs::write(&path, &csv).unwrap();

    let mut best = Duration::MAX;
    let mut summary = (0, 0, 0);
    for _ in 0..RUNS {
        let start = Instant::now();
        let file = parse_csv(csv.as_bytes(), region).unwrap();
        best = best.min(start.elapsed());
        summary = (file.rows.len(), file.duplicates.len(), file.rejected.len());
    }
    println!(
        "rust   {ROWS} rows: best of {RUNS} {:>8.1} ms  (accepted {}, duplicates {}, rejected {})",
        best.as_secs_f64() * 1e3,
        summary.0,
        summary.1,
        summary.2
    );

    let python = std::env::var("LEADLINE_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../bench/import_baseline.py"
    );
    let out = std::process::Command::new(&python)
        .arg(script)
        .arg(&path)
        .args(["US", "3"])
        .output();
    match out {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let fields: Vec<&str> = text.split_whitespace().collect();
            let seconds: f64 = fields[0].parse().unwrap();
            println!(
                "python {ROWS} rows: best of 3 {:>8.1} ms  (accepted {}, duplicates {}, rejected {})",
                seconds * 1e3,
                fields[1],
                fields[2],
                fields[3]
            );
            let ratio = seconds / best.as_secs_f64();
            println!(
                "ratio  rust is {ratio:.1}x the Python phonenumbers baseline (goal: at least 10x)"
            );
        }
        Ok(out) => println!(
            "python baseline failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => println!("python baseline not run ({python}: {e}); `make bench` provides it"),
    }
}
