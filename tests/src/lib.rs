//! The harness of the integration tests. `make test` deploys the stack into
//! MiniStack, starts `cargo lambda watch` against it and exports where both
//! are; the tests read that here and fail loudly when it is missing.

pub mod calling;
pub mod lambda_env;
pub mod logs;

use std::sync::OnceLock;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

/// What `make test` exported about the running local stack.
pub struct Stack {
    /// `cargo lambda watch`: `<watch>/lambda-url/<fn>/...` and `<watch>/2015-03-31/functions/<fn>/invocations`.
    pub watch: String,
    /// The HTTP API deployed in MiniStack.
    pub api: String,
    pub table: String,
    pub admin_key: String,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: integration tests run against the local stack, through `make test`"
        )
    })
}

pub fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| Stack {
        watch: var("LEADLINE_WATCH_URL"),
        api: var("LEADLINE_LOCAL_API"),
        table: var("LEADLINE_TableName"),
        admin_key: var("LEADLINE_ADMIN_API_KEY"),
    })
}

/// An answer: status and JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub async fn from(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("response body");
        Self {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    pub fn error_message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }
}

impl Stack {
    /// A client for one request. Each test has its own Tokio runtime, so a
    /// client (and its pooled connections) must not outlive the test.
    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::new()
    }

    /// A request to a function through cargo lambda's function-URL emulation.
    pub fn url(&self, function: &str, path: &str) -> String {
        format!("{}/lambda-url/{function}{path}", self.watch)
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        function: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Body>,
    ) -> Answer {
        let mut request = self.http().request(method, self.url(function, path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request = match body {
            None => request,
            Some(Body::Json(v)) => request.json(&v),
            Some(Body::Csv(bytes)) => request.header("content-type", "text/csv").body(bytes),
        };
        Answer::from(request.send().await.expect("cargo lambda watch answers")).await
    }

    /// `GET path` on the `api` function with a tenant's key.
    pub async fn get(&self, key: &str, path: &str) -> Answer {
        self.call(reqwest::Method::GET, "api", path, Some(key), None)
            .await
    }

    /// Invokes a function through the Lambda Invoke API with a raw event.
    pub async fn invoke(&self, function: &str, event: &Value) -> (u16, Value) {
        let url = format!("{}/2015-03-31/functions/{function}/invocations", self.watch);
        let response = self
            .http()
            .post(url)
            .json(event)
            .send()
            .await
            .expect("invoke answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        aws_sdk_dynamodb::Client::new(&config)
    }

    /// Every item of a GSI1 partition (a campaign's leads), read straight from DynamoDB.
    pub async fn campaign_lead_items(
        &self,
        tenant: &str,
        campaign: &str,
    ) -> Vec<std::collections::HashMap<String, AttributeValue>> {
        let client = self.dynamodb().await;
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = client
                .query()
                .table_name(&self.table)
                .index_name("GSI1")
                .key_condition_expression("GSI1PK = :pk")
                .expression_attribute_values(
                    ":pk",
                    AttributeValue::S(format!("T#{tenant}#C#{campaign}")),
                )
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("query GSI1");
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return items;
            }
        }
    }

    /// Creates a tenant with a fresh slug and returns (slug, api key).
    pub async fn new_tenant(&self, prefix: &str, region: &str, zone: &str) -> (String, String) {
        let slug = unique(prefix);
        let answer = self
            .call(
                reqwest::Method::POST,
                "api",
                "/v1/tenants",
                Some(&self.admin_key),
                Some(Body::Json(serde_json::json!({
                    "name": format!("{prefix} test"), "slug": slug, "timezone": zone, "default_region": region
                }))),
            )
            .await;
        assert_eq!(answer.status, 201, "{answer:?}");
        (
            slug,
            answer.body["api_key"].as_str().expect("api_key").to_owned(),
        )
    }

    pub async fn new_campaign(&self, key: &str, name: &str) -> String {
        let answer = self
            .call(
                reqwest::Method::POST,
                "api",
                "/v1/campaigns",
                Some(key),
                Some(Body::Json(serde_json::json!({ "name": name }))),
            )
            .await;
        assert_eq!(answer.status, 201, "{answer:?}");
        answer.body["id"].as_str().expect("campaign id").to_owned()
    }
}

/// The event API Gateway (HTTP API, payload 2.0) sends for a request with a
/// binary body: base64-encoded, as it does for bytes that are not UTF-8 text.
pub fn api_gateway_event(
    method: &str,
    path: &str,
    key: &str,
    content_type: &str,
    body: &[u8],
) -> Value {
    use base64_body::encode;
    serde_json::json!({
        "version": "2.0", "routeKey": format!("{method} {path}"), "rawPath": path, "rawQueryString": "",
        "headers": { "authorization": format!("Bearer {key}"), "content-type": content_type },
        "requestContext": { "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test" },
            "accountId": "000000000000", "apiId": "local", "domainName": "localhost", "requestId": "test", "routeKey": format!("{method} {path}"),
            "stage": "$default", "time": "22/Nov/2026:10:00:00 +0000", "timeEpoch": 0 },
        "body": encode(body), "isBase64Encoded": true
    })
}

mod base64_body {
    pub fn encode(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

pub enum Body {
    Json(Value),
    Csv(Vec<u8>),
}

/// A slug no other test run has used (MiniStack keeps state between runs).
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{:x}{n}", nanos % 0xffff_ffff)
}

/// A table of its own shaped like the stack's (PK/SK, GSI1 and GSI2 with
/// every attribute projected, on demand), named `<prefix>-<unique>`: for a
/// test whose reads must not see other tests' items. Delete it after.
pub async fn own_table(client: &aws_sdk_dynamodb::Client, prefix: &str) -> String {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType,
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let index = |name: &str| {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(&format!("{name}PK"), KeyType::Hash))
            .key_schema(key(&format!("{name}SK"), KeyType::Range))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .unwrap()
    };
    let table = unique(prefix);
    let mut create = client
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("PK", KeyType::Hash))
        .key_schema(key("SK", KeyType::Range))
        .global_secondary_indexes(index("GSI1"))
        .global_secondary_indexes(index("GSI2"));
    for name in ["PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK"] {
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        );
    }
    create
        .send()
        .await
        .expect("MiniStack is running (scripts/local-stack.sh up)");
    table
}
