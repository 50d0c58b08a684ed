//! `make demo`: a business signs up, creates a campaign and uploads 1,000
//! leads (with the bad rows and duplicates real files have); a second one
//! calls its leads across a dozen time zones through the simulated Vapi. All
//! through the HTTP API deployed from infra/template.yaml into MiniStack.
//! Then a report.

mod booking;
mod calling;
mod leads;
mod logs;
mod messaging;
mod retries;

use std::time::Instant;

use reqwest::Method;
use serde_json::{Value, json};

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn send(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some((content_type, bytes)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("the local API did not answer {path}: {e}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn expect(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<(&str, Vec<u8>)>,
        want: u16,
    ) -> Value {
        let (status, value) = self.send(method, path, key, body).await;
        assert_eq!(status, want, "{path} answered {status}: {value}");
        value
    }
}

/// Invokes a function deployed in MiniStack with `event` (the Lambda Invoke API).
async fn invoke_function(name: &str, event: &Value) -> Value {
    let url = format!(
        "{}/2015-03-31/functions/{name}/invocations",
        env("AWS_ENDPOINT_URL")
    );
    let response = reqwest::Client::new()
        .post(url)
        .json(event)
        .send()
        .await
        .unwrap_or_else(|e| panic!("MiniStack did not invoke {name}: {e}"));
    response.json().await.unwrap_or(Value::Null)
}

impl Api {
    /// Creates a tenant with the admin key: its answer, and its API key.
    async fn new_tenant(&self, admin: &str, tenant: &Value) -> (Value, String) {
        let body = tenant.to_string().into_bytes();
        let created = self
            .expect(
                Method::POST,
                "/v1/tenants",
                admin,
                Some(("application/json", body)),
                201,
            )
            .await;
        let key = created["api_key"].as_str().expect("an API key").to_owned();
        (created, key)
    }

    /// Creates a campaign: its id.
    async fn new_campaign(&self, key: &str, campaign: &Value) -> String {
        let body = campaign.to_string().into_bytes();
        let created = self
            .expect(
                Method::POST,
                "/v1/campaigns",
                key,
                Some(("application/json", body)),
                201,
            )
            .await;
        created["id"].as_str().expect("a campaign id").to_owned()
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set; run `make demo`"))
}

#[tokio::main]
async fn main() {
    let api = Api {
        base: env("LEADLINE_LOCAL_API"),
        http: reqwest::Client::new(),
    };
    let admin = env("LEADLINE_ADMIN_API_KEY");
    let started = Instant::now();
    let logs_since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut report = Vec::<String>::new();

    let slug = format!("demo-dental-{}", std::process::id());
    let tenant = json!({
        "name": "Bright Smile Dental", "slug": slug, "timezone": "America/New_York", "default_region": "US",
        "calling_window": { "start": "09:00", "end": "19:00", "excluded_weekdays": ["sunday"] },
        "voice": { "provider": "retell" }
    });
    let (created, key) = api.new_tenant(&admin, &tenant).await;
    report.push(format!(
        "tenant            {} ({})",
        created["tenant"]["name"], slug
    ));
    report.push(format!(
        "calling window    {}-{} {} except {}",
        created["tenant"]["calling_window"]["start"]
            .as_str()
            .unwrap_or_default(),
        created["tenant"]["calling_window"]["end"]
            .as_str()
            .unwrap_or_default(),
        created["tenant"]["zone"].as_str().unwrap_or_default(),
        created["tenant"]["calling_window"]["excluded_weekdays"]
    ));

    let campaign = api
        .expect(
            Method::POST,
            "/v1/campaigns",
            &key,
            Some((
                "application/json",
                br#"{"name":"November reactivation"}"#.to_vec(),
            )),
            201,
        )
        .await;
    let campaign_id = campaign["id"].as_str().expect("campaign id").to_owned();
    report.push(format!(
        "campaign          {} ({campaign_id})",
        campaign["name"]
    ));

    let file = leads::generate(1_000);
    let import_path = format!("/v1/campaigns/{campaign_id}/leads:import");
    let t = Instant::now();
    let first = api
        .expect(
            Method::POST,
            &import_path,
            &key,
            Some(("text/csv", file.csv.clone().into_bytes())),
            200,
        )
        .await;
    let first_ms = t.elapsed().as_millis();
    let again = api
        .expect(
            Method::POST,
            &import_path,
            &key,
            Some(("text/csv", file.csv.into_bytes())),
            200,
        )
        .await;

    report.push(String::new());
    report.push(format!(
        "CSV uploaded      {} rows ({} planted bad rows, {} planted duplicates)",
        file.rows, file.bad, file.duplicates
    ));
    report.push(format!(
        "first import      imported {}, duplicates {}, rejected {}  ({first_ms} ms through the HTTP API)",
        first["imported"], first["duplicates"], first["rejected"]
    ));
    report.push(format!(
        "same file again   imported {}, duplicates {}, rejected {}",
        again["imported"], again["duplicates"], again["rejected"]
    ));
    report.push("rejected rows (first five):".into());
    for row in first["rejected_rows"]
        .as_array()
        .into_iter()
        .flatten()
        .take(5)
    {
        report.push(format!(
            "  line {:>4}  {}",
            row["line"].as_u64().unwrap_or_default(),
            row["reason"].as_str().unwrap_or_default()
        ));
    }

    let mut by_status = std::collections::BTreeMap::<String, u64>::new();
    let mut cursor: Option<String> = None;
    loop {
        let page_path = match &cursor {
            None => format!("/v1/campaigns/{campaign_id}/leads?limit=100"),
            Some(c) => format!("/v1/campaigns/{campaign_id}/leads?limit=100&cursor={c}"),
        };
        let page = api.expect(Method::GET, &page_path, &key, None, 200).await;
        for lead in page["items"].as_array().into_iter().flatten() {
            *by_status
                .entry(lead["status"].as_str().unwrap_or("?").to_owned())
                .or_default() += 1;
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let stored = api
        .expect(
            Method::GET,
            &format!("/v1/campaigns/{campaign_id}"),
            &key,
            None,
            200,
        )
        .await;
    report.push(String::new());
    report.push(format!(
        "leads stored      {} (campaign lead_count {})",
        by_status.values().sum::<u64>(),
        stored["lead_count"]
    ));
    for (status, n) in &by_status {
        report.push(format!("  {status:<16}{n}"));
    }

    let (no_key, _) = api.send(Method::GET, "/v1/campaigns", "", None).await;
    let other = api
        .expect(Method::POST, "/v1/tenants", &admin, Some(("application/json", json!({"name": "Other Co", "slug": format!("demo-other-{}", std::process::id()), "timezone": "Asia/Kolkata", "default_region": "IN"}).to_string().into_bytes())), 201)
        .await;
    let (cross, _) = api
        .send(
            Method::GET,
            &format!("/v1/campaigns/{campaign_id}"),
            other["api_key"].as_str().unwrap_or_default(),
            None,
        )
        .await;
    report.push(String::new());
    report.push(format!(
        "isolation         no key -> {no_key}; another tenant reading this campaign -> {cross}"
    ));
    let sim = calling::Sim {
        base: env("LEADLINE_SIM_URL"),
        http: reqwest::Client::new(),
    };
    let (mut calls, mut follow_ups, mut bookings) = (Vec::new(), Vec::new(), Vec::new());
    tokio::join!(
        calling::run(&api, &sim, &admin, (&key, &campaign_id), &mut calls),
        retries::run(&api, &sim, &admin, &mut follow_ups),
        booking::run(&api, &sim, &admin, &mut bookings),
    );
    report.extend(calls);
    report.extend(follow_ups);
    report.extend(bookings);
    report.push(String::new());
    report.push(format!(
        "scenario time     {:.1} s",
        started.elapsed().as_secs_f64()
    ));

    let text = report.join("\n");
    println!(
        "\n================ leadline demo report ================\n{text}\n======================================================"
    );
    std::fs::create_dir_all(".demo").ok();
    std::fs::write(".demo/report.txt", text + "\n").ok();

    // DESIGN rule 8: the functions' logs hold no number or address.
    let endpoint = env("AWS_ENDPOINT_URL");
    let scan = logs::scan(&endpoint, logs_since)
        .await
        .unwrap_or_else(|e| panic!("the functions' logs in MiniStack could not be read: {e}"));
    assert!(
        scan.lines > 0,
        "MiniStack at {endpoint} holds no /aws/lambda/ log of this run: nothing was scanned"
    );
    assert!(
        scan.findings.is_empty(),
        "{} log line(s) of the deployed functions hold a phone number or an email address:\n{}",
        scan.findings.len(),
        scan.findings.join("\n")
    );
    eprintln!(
        "\x1b[1m==> function logs: {} lines of {} functions scanned, no phone number or email address\x1b[0m",
        scan.lines, scan.groups
    );
}
