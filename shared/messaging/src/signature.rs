//! What the providers' signature schemes share: the error, the HMAC and the
//! constant-time comparison.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Why a webhook was not accepted as coming from the provider. The receiver
/// answers 401 (403 for a refused WhatsApp handshake) to all of them; the
/// variants exist for logs and tests. None carries a secret or the body.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {header} header is missing")]
    Missing { header: String },
    #[error("the {header} header is malformed: {problem}")]
    Malformed {
        header: String,
        problem: &'static str,
    },
    #[error("the signature is {age_secs} s old, older than the replay window allows")]
    Stale { age_secs: u64 },
    #[error("the signature is dated {ahead_secs} s ahead of our clock, beyond the replay window")]
    FromTheFuture { ahead_secs: u64 },
    #[error("the body does not match its bodySHA256")]
    BodyHashMismatch,
    #[error("the signature does not match the request")]
    Mismatch,
    #[error("the configured verification key is not valid: {0}")]
    InvalidKey(&'static str),
}

impl SignatureError {
    pub(crate) fn malformed(header: &str, problem: &'static str) -> Self {
        Self::Malformed {
            header: header.to_owned(),
            problem,
        }
    }
}

/// HMAC-SHA1 of the concatenation of `parts` under `key` (Twilio).
pub(crate) fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    mac_of::<Hmac<Sha1>>(key, parts)
}

/// HMAC-SHA256 of the concatenation of `parts` under `key` (WhatsApp).
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    mac_of::<Hmac<Sha256>>(key, parts)
}

fn mac_of<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Equality that takes the same time wherever the inputs differ (their
/// lengths are not secret).
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use data_encoding::HEXLOWER;

    // RFC 2202 test case 2 (SHA-1) and RFC 4231 test case 2 (SHA-256).
    #[test]
    fn each_hmac_gives_its_rfc_test_vector() {
        let parts: &[&[u8]] = &[b"what do ya want ", b"for nothing?"];
        assert_eq!(
            HEXLOWER.encode(&hmac_sha1(b"Jefe", parts)),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            HEXLOWER.encode(&hmac_sha256(b"Jefe", parts)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn comparison_tells_equal_from_different_bytes() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }
}
