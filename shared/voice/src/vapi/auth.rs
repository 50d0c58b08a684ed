//! How a Vapi server message proves where it comes from: the legacy shared
//! secret in `x-vapi-secret`, or an HMAC credential whose headers, message
//! format, hash and encoding are all configurable.

use std::fmt;

use data_encoding::{BASE64, BASE64_NOPAD, HEXLOWER, HEXLOWER_PERMISSIVE};
use sha2::{Digest, Sha256};

use crate::signature::{HmacAlgorithm, SignatureError, hmac, same};

/// The header of the legacy inline secret (`server.secret`).
pub const SECRET_HEADER: &str = "x-vapi-secret";

/// Checks the legacy `x-vapi-secret` header, a plain shared secret. Both
/// sides are hashed before the constant-time comparison so that not even the
/// secret's length leaks. An empty configured secret accepts nothing.
pub fn verify_secret(header: Option<&str>, secret: &str) -> Result<(), SignatureError> {
    let given = header.ok_or_else(|| SignatureError::missing(SECRET_HEADER))?;
    if !secret.is_empty() && same(&Sha256::digest(given), &Sha256::digest(secret)) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// How the signature bytes are written in the header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SignatureEncoding {
    #[default]
    Hex,
    Base64,
}

/// A Vapi HMAC webhook credential (openapi `HMACAuthenticationPlan`).
///
/// Vapi enforces no replay window and its timestamp unit is unconfirmed, so
/// the timestamp is signed over but not checked for freshness; deduplicate
/// deliveries instead. The `{svix-id}` placeholder is not supported: it stays
/// as written in the signed message.
#[derive(Clone, PartialEq, Eq)]
pub struct VapiHmac {
    pub secret: String,
    pub algorithm: HmacAlgorithm,
    pub signature_header: String,
    pub timestamp_header: String,
    /// Written before the signature in its header, e.g. `sha256=`.
    pub signature_prefix: Option<String>,
    /// The signed message, with `{body}`, `{timestamp}`, `{method}` and `{url}`
    /// replaced.
    pub payload_format: String,
    pub encoding: SignatureEncoding,
    /// The secret is base64 text; the key is its decoded bytes.
    pub secret_is_base64: bool,
}

/// Everything but the secret.
impl fmt::Debug for VapiHmac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VapiHmac")
            .field("secret", &"[redacted]")
            .field("algorithm", &self.algorithm)
            .field("signature_header", &self.signature_header)
            .field("timestamp_header", &self.timestamp_header)
            .field("signature_prefix", &self.signature_prefix)
            .field("payload_format", &self.payload_format)
            .field("encoding", &self.encoding)
            .field("secret_is_base64", &self.secret_is_base64)
            .finish()
    }
}

impl VapiHmac {
    pub const DEFAULT_SIGNATURE_HEADER: &str = "x-signature";
    pub const DEFAULT_TIMESTAMP_HEADER: &str = "x-timestamp";
    pub const DEFAULT_PAYLOAD_FORMAT: &str = "{timestamp}.{body}";

    /// A credential with Vapi's defaults for everything but the secret and the
    /// algorithm (which Vapi requires).
    pub fn new(secret: impl Into<String>, algorithm: HmacAlgorithm) -> Self {
        Self {
            secret: secret.into(),
            algorithm,
            signature_header: Self::DEFAULT_SIGNATURE_HEADER.to_owned(),
            timestamp_header: Self::DEFAULT_TIMESTAMP_HEADER.to_owned(),
            signature_prefix: None,
            payload_format: Self::DEFAULT_PAYLOAD_FORMAT.to_owned(),
            encoding: SignatureEncoding::Hex,
            secret_is_base64: false,
        }
    }

    /// Checks a delivery. `header` looks a request header up by its
    /// lower-cased name; `method` and `url` are the request's, as Vapi sent
    /// them (only needed when the payload format names them).
    pub fn verify<'h>(
        &self,
        header: impl Fn(&str) -> Option<&'h str>,
        method: &str,
        url: &str,
        raw_body: &[u8],
    ) -> Result<(), SignatureError> {
        let signature_header = self.signature_header.to_ascii_lowercase();
        let signature =
            header(&signature_header).ok_or_else(|| SignatureError::missing(&signature_header))?;
        let timestamp = self.timestamp_from(&header)?;
        let given = self.decode_signature(signature, &signature_header)?;
        let expected = self.mac(timestamp, method, url, raw_body)?;
        if same(&expected, &given) {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }

    /// The signature header value Vapi would send. For tests and the provider
    /// simulator.
    pub fn sign(
        &self,
        timestamp: &str,
        method: &str,
        url: &str,
        raw_body: &[u8],
    ) -> Result<String, SignatureError> {
        let mac = self.mac(timestamp, method, url, raw_body)?;
        let encoded = match self.encoding {
            SignatureEncoding::Hex => HEXLOWER.encode(&mac),
            SignatureEncoding::Base64 => BASE64.encode(&mac),
        };
        Ok(format!(
            "{}{encoded}",
            self.signature_prefix.as_deref().unwrap_or_default()
        ))
    }

    /// The timestamp header, required only when the payload format signs it.
    fn timestamp_from<'h>(
        &self,
        header: &impl Fn(&str) -> Option<&'h str>,
    ) -> Result<&'h str, SignatureError> {
        if !self.payload_format.contains("{timestamp}") {
            return Ok("");
        }
        let name = self.timestamp_header.to_ascii_lowercase();
        header(&name).ok_or_else(|| SignatureError::missing(&name))
    }

    fn decode_signature(&self, value: &str, header: &str) -> Result<Vec<u8>, SignatureError> {
        let prefix = self.signature_prefix.as_deref().unwrap_or_default();
        let encoded = value
            .trim()
            .strip_prefix(prefix)
            .ok_or_else(|| SignatureError::malformed(header, "the signature prefix is missing"))?;
        let decoded = match self.encoding {
            SignatureEncoding::Hex => HEXLOWER_PERMISSIVE.decode(encoded.as_bytes()),
            SignatureEncoding::Base64 => BASE64.decode(encoded.as_bytes()),
        };
        decoded
            .map_err(|_| SignatureError::malformed(header, "the signature is not properly encoded"))
    }

    fn mac(
        &self,
        timestamp: &str,
        method: &str,
        url: &str,
        raw_body: &[u8],
    ) -> Result<Vec<u8>, SignatureError> {
        let key = self.key()?;
        let message = self.message(timestamp, method, url, raw_body);
        Ok(hmac(self.algorithm, &key, &[&message]))
    }

    fn key(&self) -> Result<Vec<u8>, SignatureError> {
        if !self.secret_is_base64 {
            return Ok(self.secret.as_bytes().to_vec());
        }
        let text = self.secret.trim().as_bytes();
        BASE64
            .decode(text)
            .or_else(|_| BASE64_NOPAD.decode(text))
            .map_err(|_| SignatureError::InvalidSecret)
    }

    /// The payload format with its placeholders replaced. Built as bytes: the
    /// body is signed as received, whatever its encoding.
    fn message(&self, timestamp: &str, method: &str, url: &str, raw_body: &[u8]) -> Vec<u8> {
        let placeholders: [(&str, &[u8]); 4] = [
            ("{body}", raw_body),
            ("{timestamp}", timestamp.as_bytes()),
            ("{method}", method.as_bytes()),
            ("{url}", url.as_bytes()),
        ];
        let mut message = Vec::with_capacity(self.payload_format.len() + raw_body.len());
        let mut rest = self.payload_format.as_str();
        while let Some(open) = rest.find('{') {
            message.extend_from_slice(&rest.as_bytes()[..open]);
            let tail = &rest[open..];
            match placeholders.iter().find(|(name, _)| tail.starts_with(name)) {
                Some((name, value)) => {
                    message.extend_from_slice(value);
                    rest = &tail[name.len()..];
                }
                None => {
                    message.push(b'{');
                    rest = &tail[1..];
                }
            }
        }
        message.extend_from_slice(rest.as_bytes());
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const BODY: &[u8] = br#"{"message":{"type":"status-update","status":"ended"}}"#;
    const URL: &str = "https://hooks.example.com/vapi";

    fn headers(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn verify_with(
        hmac: &VapiHmac,
        headers: &HashMap<String, String>,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        hmac.verify(
            |name| headers.get(name).map(String::as_str),
            "POST",
            URL,
            body,
        )
    }

    fn signed(hmac: &VapiHmac) -> HashMap<String, String> {
        let signature = hmac.sign("1732000000", "POST", URL, BODY).unwrap();
        headers(&[
            (&hmac.signature_header.to_ascii_lowercase(), &signature),
            (&hmac.timestamp_header.to_ascii_lowercase(), "1732000000"),
        ])
    }

    #[test]
    fn the_secret_stays_out_of_debug_output() {
        let debug = format!("{:?}", VapiHmac::new("hunter2", HmacAlgorithm::Sha256));
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn the_shared_secret_must_match() {
        assert_eq!(verify_secret(Some("s3cret"), "s3cret"), Ok(()));
        assert_eq!(
            verify_secret(Some("s3cret!"), "s3cret"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_secret(Some(""), "s3cret"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_secret(None, "s3cret"),
            Err(SignatureError::Missing {
                header: SECRET_HEADER.into()
            })
        );
    }

    #[test]
    fn an_empty_configured_secret_accepts_nothing() {
        assert_eq!(verify_secret(Some(""), ""), Err(SignatureError::Mismatch));
    }

    #[test]
    fn the_default_scheme_signs_timestamp_dot_body_in_hex() {
        let hmac = VapiHmac::new("whsec", HmacAlgorithm::Sha256);
        let expected = HEXLOWER.encode(&super::hmac(
            HmacAlgorithm::Sha256,
            b"whsec",
            &[b"1732000000.", BODY],
        ));
        assert_eq!(
            hmac.sign("1732000000", "POST", URL, BODY).unwrap(),
            expected
        );
        assert_eq!(verify_with(&hmac, &signed(&hmac), BODY), Ok(()));
    }

    #[test]
    fn each_algorithm_round_trips() {
        for algorithm in [
            HmacAlgorithm::Sha256,
            HmacAlgorithm::Sha512,
            HmacAlgorithm::Sha1,
        ] {
            let hmac = VapiHmac::new("whsec", algorithm);
            assert_eq!(
                verify_with(&hmac, &signed(&hmac), BODY),
                Ok(()),
                "{algorithm:?}"
            );
            let other = VapiHmac {
                algorithm: HmacAlgorithm::Sha512,
                ..hmac.clone()
            };
            if algorithm != HmacAlgorithm::Sha512 {
                assert_eq!(
                    verify_with(&other, &signed(&hmac), BODY),
                    Err(SignatureError::Mismatch)
                );
            }
        }
    }

    #[test]
    fn a_wrong_secret_or_body_or_timestamp_does_not_match() {
        let hmac = VapiHmac::new("whsec", HmacAlgorithm::Sha256);
        let wrong = VapiHmac::new("other", HmacAlgorithm::Sha256);
        assert_eq!(
            verify_with(&wrong, &signed(&hmac), BODY),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_with(&hmac, &signed(&hmac), b"{}"),
            Err(SignatureError::Mismatch)
        );
        let mut replayed = signed(&hmac);
        replayed.insert("x-timestamp".into(), "1732000001".into());
        assert_eq!(
            verify_with(&hmac, &replayed, BODY),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn missing_headers_are_named() {
        let hmac = VapiHmac::new("whsec", HmacAlgorithm::Sha256);
        let mut only_signature = signed(&hmac);
        only_signature.remove("x-timestamp");
        assert_eq!(
            verify_with(&hmac, &only_signature, BODY),
            Err(SignatureError::Missing {
                header: "x-timestamp".into()
            })
        );
        assert_eq!(
            verify_with(&hmac, &HashMap::new(), BODY),
            Err(SignatureError::Missing {
                header: "x-signature".into()
            })
        );
    }

    #[test]
    fn custom_headers_prefix_format_and_base64_round_trip() {
        let hmac = VapiHmac {
            signature_header: "X-Leadline-Signature".into(),
            timestamp_header: "X-Leadline-Time".into(),
            signature_prefix: Some("sha256=".into()),
            payload_format: "{method} {url}\n{timestamp}\n{body}".into(),
            encoding: SignatureEncoding::Base64,
            ..VapiHmac::new("whsec", HmacAlgorithm::Sha256)
        };
        let headers = signed(&hmac);
        assert!(headers["x-leadline-signature"].starts_with("sha256="));
        assert_eq!(verify_with(&hmac, &headers, BODY), Ok(()));
        assert_eq!(
            hmac.verify(
                |name| headers.get(name).map(String::as_str),
                "GET",
                URL,
                BODY
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_format_without_timestamp_needs_no_timestamp_header() {
        let hmac = VapiHmac {
            payload_format: "{body}".into(),
            ..VapiHmac::new("whsec", HmacAlgorithm::Sha1)
        };
        let signature = hmac.sign("", "POST", URL, BODY).unwrap();
        assert_eq!(
            verify_with(&hmac, &headers(&[("x-signature", &signature)]), BODY),
            Ok(())
        );
    }

    #[test]
    fn unknown_placeholders_are_signed_as_written() {
        let hmac = VapiHmac {
            payload_format: "{svix-id}.{body}".into(),
            ..VapiHmac::new("k", HmacAlgorithm::Sha256)
        };
        assert_eq!(
            hmac.message("", "POST", URL, b"{}"),
            b"{svix-id}.{}".to_vec()
        );
    }

    #[test]
    fn upper_case_hex_is_accepted() {
        let hmac = VapiHmac::new("whsec", HmacAlgorithm::Sha256);
        let mut headers = signed(&hmac);
        let upper = headers["x-signature"].to_uppercase();
        headers.insert("x-signature".into(), upper);
        assert_eq!(verify_with(&hmac, &headers, BODY), Ok(()));
    }

    #[test]
    fn a_missing_prefix_or_bad_encoding_is_malformed() {
        let hmac = VapiHmac {
            signature_prefix: Some("sha256=".into()),
            ..VapiHmac::new("whsec", HmacAlgorithm::Sha256)
        };
        let mut headers = signed(&hmac);
        let bare = headers["x-signature"]
            .trim_start_matches("sha256=")
            .to_owned();
        headers.insert("x-signature".into(), bare);
        assert!(matches!(
            verify_with(&hmac, &headers, BODY),
            Err(SignatureError::Malformed { .. })
        ));
        headers.insert("x-signature".into(), "sha256=not-hex".into());
        assert!(matches!(
            verify_with(&hmac, &headers, BODY),
            Err(SignatureError::Malformed { .. })
        ));
    }

    #[test]
    fn a_base64_secret_is_decoded_into_the_key() {
        let plain = VapiHmac::new("key!", HmacAlgorithm::Sha256);
        let encoded = VapiHmac {
            secret: BASE64.encode(b"key!"),
            secret_is_base64: true,
            ..plain.clone()
        };
        assert_eq!(verify_with(&encoded, &signed(&plain), BODY), Ok(()));
        let broken = VapiHmac {
            secret: "%%%".into(),
            ..encoded
        };
        assert_eq!(
            verify_with(&broken, &signed(&plain), BODY),
            Err(SignatureError::InvalidSecret)
        );
    }
}
