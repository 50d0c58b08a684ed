//! Adapters from leadline's ports to AWS: DynamoDB for the store, SQS and
//! EventBridge Scheduler for the dial queue, owed calls and the messenger's queue.
//!
//! Clients are built once per cold start ([`Aws::from_env`]) and honour
//! `AWS_ENDPOINT_URL`, which is how the local stack points them at MiniStack.

pub mod calls;
pub mod dynamo;
pub mod queue;
pub mod schedules;

pub use calls::Calls;
pub use dynamo::DynamoStore;
pub use queue::{SqsDialQueue, SqsMessageQueue};
pub use schedules::{OneOffs, SchedulerFollowUps};

/// The SDK configuration, loaded once.
#[derive(Clone, Debug)]
pub struct Aws {
    pub config: aws_config::SdkConfig,
}

/// The roots of Amazon Trust Services, which sign every AWS endpoint's
/// certificate (Amazon Root CA 1-4, and Starfield Services Root G2 for the
/// cross-signed chains).
const AMAZON_TRUST_SERVICES: &str = include_str!("amazon-trust-services.pem");

impl Aws {
    /// The SDK configuration from the environment. AWS clients trust only the
    /// Amazon Trust Services roots: parsing the system's ~140 root certificates
    /// instead took ~7 ms of every cold start. `LEADLINE_TLS_SYSTEM_ROOTS=1`
    /// restores the system roots (say, behind a TLS-inspecting proxy).
    pub async fn from_env() -> Self {
        use aws_smithy_http_client::tls::{
            self, TlsContext, TrustStore, rustls_provider::CryptoMode,
        };
        let system_roots = std::env::var("LEADLINE_TLS_SYSTEM_ROOTS").is_ok_and(|v| v == "1");
        let trust = if system_roots {
            TrustStore::default()
        } else {
            TrustStore::empty()
                .with_native_roots(false)
                .with_pem_certificate(AMAZON_TRUST_SERVICES.as_bytes())
        };
        let tls = TlsContext::builder()
            .with_trust_store(trust)
            .build()
            .expect("the bundled roots are valid PEM");
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(tls)
            .build_https();
        // Lambda hands a function its credentials in the environment (so do
        // MiniStack and cargo lambda watch); the default chain would also build
        // profile, SSO, ECS and IMDS providers at every cold start.
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http)
            .credentials_provider(
                aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
            )
            .load()
            .await;
        Self { config }
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.config)
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.config)
    }

    pub fn scheduler(&self) -> aws_sdk_scheduler::Client {
        aws_sdk_scheduler::Client::new(&self.config)
    }
}
