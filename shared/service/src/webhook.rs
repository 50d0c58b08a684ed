//! The one HTTP webhook pipeline: verify on the raw bytes → parse → apply
//! (the tenant resolved from what leadline controls, the delivery's dedupe
//! key recorded in the same commit) → answer. Every provider's webhook plugs
//! in its steps; the order, and what each refusal answers, live here once.
//!
//! - a signature that does not verify is 401, before the body is read;
//! - a body that cannot be read is 400, and nothing is applied;
//! - a delivery that carries nothing to apply is acknowledged;
//! - what applying says is mapped by [`crate::http::from_error`] (404 for an
//!   unknown tenant, 409, 503 where a retry helps, ...).

use async_trait::async_trait;
use lambda_http::Request;
use lambda_http::http::StatusCode;
use leadline_core::Error;
use leadline_core::kernel::redact::Redacted;

use crate::http::{HttpResponse, body_bytes, error, from_error};

/// One provider's webhook, as steps of the pipeline.
#[async_trait]
pub trait Webhook: Send + Sync {
    /// What a verified delivery holds.
    type Delivery: Send;
    /// Named in the logs.
    const NAME: &'static str;

    /// Checks the signature on the exact bytes received, in constant time,
    /// with the secret of whom leadline knows the delivery is for (the
    /// deployment's account, or the tenant of the webhook's path). The
    /// refusal's text is safe to answer and to log.
    async fn verify(&self, req: &Request) -> Result<(), String>;

    /// Reads the verified body. `None`: nothing leadline applies (an event
    /// type it does not use), acknowledged as received.
    fn parse(&self, req: &Request, body: &[u8]) -> Result<Option<Self::Delivery>, String>;

    /// Applies the delivery through the runner and answers it.
    async fn apply(&self, delivery: Self::Delivery) -> Result<HttpResponse, Error>;

    /// The answer to a delivery with nothing to apply.
    fn acknowledged(&self) -> HttpResponse;
}

/// Runs one delivery through the pipeline.
pub async fn handle<W: Webhook + ?Sized>(webhook: &W, req: &Request) -> HttpResponse {
    if let Err(why) = webhook.verify(req).await {
        tracing::warn!(webhook = W::NAME, error = %why, "webhook refused: bad signature");
        return error(StatusCode::UNAUTHORIZED, "unauthorized", &why);
    }
    let delivery = match webhook.parse(req, body_bytes(req)) {
        Ok(Some(delivery)) => delivery,
        Ok(None) => return webhook.acknowledged(),
        Err(why) => {
            tracing::warn!(webhook = W::NAME, error = %Redacted(&why), "webhook refused: unreadable body");
            return from_error(&Error::Malformed(why));
        }
    };
    match webhook.apply(delivery).await {
        Ok(response) => response,
        Err(e) => {
            tracing::warn!(webhook = W::NAME, error = %Redacted(&e), "webhook not applied");
            from_error(&e)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use lambda_http::Body;

    use super::*;
    use crate::http::json;

    /// A webhook that records which steps ran.
    struct Recorded {
        signed: bool,
        steps: Mutex<Vec<&'static str>>,
        applied: Result<(), fn() -> Error>,
    }

    impl Recorded {
        fn new(signed: bool) -> Self {
            Self {
                signed,
                steps: Mutex::new(Vec::new()),
                applied: Ok(()),
            }
        }
        fn steps(&self) -> Vec<&'static str> {
            self.steps.lock().unwrap().clone()
        }
    }

    #[async_trait]
    impl Webhook for Recorded {
        type Delivery = String;
        const NAME: &'static str = "test";

        async fn verify(&self, _: &Request) -> Result<(), String> {
            self.steps.lock().unwrap().push("verify");
            if self.signed {
                Ok(())
            } else {
                Err("the signature does not match".into())
            }
        }

        fn parse(&self, _: &Request, body: &[u8]) -> Result<Option<String>, String> {
            self.steps.lock().unwrap().push("parse");
            match body {
                b"" => Ok(None),
                b"{" => Err("not JSON".into()),
                other => Ok(Some(String::from_utf8_lossy(other).into())),
            }
        }

        async fn apply(&self, delivery: String) -> Result<HttpResponse, Error> {
            self.steps.lock().unwrap().push("apply");
            self.applied.map_err(|e| e())?;
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({ "applied": delivery }),
            ))
        }

        fn acknowledged(&self) -> HttpResponse {
            json(StatusCode::OK, &serde_json::json!({}))
        }
    }

    fn request(body: &str) -> Request {
        let mut req = Request::new(Body::Text(body.into()));
        *req.method_mut() = lambda_http::http::Method::POST;
        req
    }

    #[tokio::test]
    async fn an_unsigned_delivery_is_401_before_its_body_is_read() {
        let hook = Recorded::new(false);
        let response = handle(&hook, &request("{")).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(hook.steps(), ["verify"]);
    }

    #[tokio::test]
    async fn an_unreadable_body_is_400_and_nothing_is_applied() {
        let hook = Recorded::new(true);
        let response = handle(&hook, &request("{")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(hook.steps(), ["verify", "parse"]);
    }

    #[tokio::test]
    async fn a_delivery_with_nothing_to_apply_is_acknowledged() {
        let hook = Recorded::new(true);
        let response = handle(&hook, &request("")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(hook.steps(), ["verify", "parse"]);
    }

    #[tokio::test]
    async fn a_delivery_is_applied_and_what_applying_says_is_the_answer() {
        let hook = Recorded::new(true);
        let response = handle(&hook, &request("call_ended")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(hook.steps(), ["verify", "parse", "apply"]);

        let unknown = Recorded {
            applied: Err(|| Error::NotFound("tenant")),
            ..Recorded::new(true)
        };
        let response = handle(&unknown, &request("call_ended")).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let down = Recorded {
            applied: Err(|| Error::Unavailable("the table is throttled".into())),
            ..Recorded::new(true)
        };
        let response = handle(&down, &request("call_ended")).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
