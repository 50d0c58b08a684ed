//! Adapters from leadline's ports to AWS: DynamoDB for the store, SQS and
//! EventBridge Scheduler for the dial queue, owed calls and the messenger's queue.
//!
//! Clients are built once per cold start ([`Aws::from_env`]) and honour
//! `AWS_ENDPOINT_URL`, which is how the local stack points them at MiniStack.

pub mod calls;
pub mod clock;
pub mod dynamo;
pub mod queue;
pub mod schedules;
pub mod secrets;

pub use calls::Calls;
pub use clock::{ScaledClock, SystemClock};
pub use dynamo::DynamoStore;
pub use queue::{SqsDialQueue, SqsMessageQueue};
pub use schedules::{OneOffs, SchedulerFollowUps};
pub use secrets::TenantSecrets;

use std::sync::OnceLock;

use aws_sdk_dynamodb::config::ConfigBag;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};

/// The SDK configuration, loaded once per cold start, and each client built
/// at most once from it: adapters that share a service share its client.
/// (The DynamoDB store builds its own, with its request counter:
/// [`DynamoStore::from_aws`].)
#[derive(Clone, Debug)]
pub struct Aws {
    pub config: aws_config::SdkConfig,
    dynamodb: OnceLock<aws_sdk_dynamodb::Client>,
    sqs: OnceLock<aws_sdk_sqs::Client>,
    scheduler: OnceLock<aws_sdk_scheduler::Client>,
    secrets: OnceLock<aws_sdk_secretsmanager::Client>,
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
        let http = SharedHttpClient::new(ValidatedOnce {
            inner: http,
            validated: OnceLock::new(),
        });
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
        Self {
            config,
            dynamodb: OnceLock::new(),
            sqs: OnceLock::new(),
            scheduler: OnceLock::new(),
            secrets: OnceLock::new(),
        }
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        let build = || aws_sdk_dynamodb::Client::new(&self.config);
        self.dynamodb.get_or_init(build).clone()
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        let build = || aws_sdk_sqs::Client::new(&self.config);
        self.sqs.get_or_init(build).clone()
    }

    pub fn scheduler(&self) -> aws_sdk_scheduler::Client {
        let build = || aws_sdk_scheduler::Client::new(&self.config);
        self.scheduler.get_or_init(build).clone()
    }

    pub fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        let build = || aws_sdk_secretsmanager::Client::new(&self.config);
        self.secrets.get_or_init(build).clone()
    }
}

/// The SDK's HTTPS client, validated once per process. Every AWS client
/// built asks its HTTP client to validate itself, and the smithy client
/// answers by building a whole TLS connector (the trust store parsed, a
/// rustls configuration) and throwing it away: once per AWS client at every
/// cold start. One is enough to know the configuration is sound; the
/// connector that requests use is built and cached by the inner client.
#[derive(Debug)]
struct ValidatedOnce {
    inner: SharedHttpClient,
    /// The first validation's verdict, given to every later client.
    validated: OnceLock<Result<(), String>>,
}

impl HttpClient for ValidatedOnce {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.inner.http_connector(settings, components)
    }

    fn validate_base_client_config(
        &self,
        runtime_components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.validated
            .get_or_init(|| {
                self.inner
                    .validate_base_client_config(runtime_components, cfg)
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(BoxError::from)
    }

    fn validate_final_config(
        &self,
        runtime_components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.inner.validate_final_config(runtime_components, cfg)
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}
