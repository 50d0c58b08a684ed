//! Adapters from leadline's ports to AWS: DynamoDB for the store; SQS and
//! EventBridge Scheduler follow with the capabilities that need them.
//!
//! Clients are built once per cold start ([`Aws::from_env`]) and honour
//! `AWS_ENDPOINT_URL`, which is how the local stack points them at MiniStack.

pub mod calls;
pub mod dynamo;

pub use calls::Calls;
pub use dynamo::DynamoStore;

/// The SDK configuration, loaded once.
#[derive(Clone, Debug)]
pub struct Aws {
    pub config: aws_config::SdkConfig,
}

impl Aws {
    pub async fn from_env() -> Self {
        Self {
            config: aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
        }
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.config)
    }
}
