//! What the providers' signature schemes share: the error, the HMAC and the
//! constant-time comparison.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

/// Why a webhook was not accepted as coming from the provider. The receiver
/// answers 401 to all of them; the variants exist for logs and tests.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {header} header is missing")]
    Missing { header: String },
    #[error("the {header} header is malformed: {problem}")]
    Malformed {
        header: String,
        problem: &'static str,
    },
    #[error("the signature is {age_ms} ms old, older than the replay window allows")]
    Stale { age_ms: u64 },
    #[error("the signature is dated {ahead_ms} ms ahead of our clock, beyond the replay window")]
    FromTheFuture { ahead_ms: u64 },
    #[error("the signature does not match the body")]
    Mismatch,
    #[error("the configured signing secret is not valid base64")]
    InvalidSecret,
}

impl SignatureError {
    pub(crate) fn missing(header: &str) -> Self {
        Self::Missing {
            header: header.to_owned(),
        }
    }

    pub(crate) fn malformed(header: &str, problem: &'static str) -> Self {
        Self::Malformed {
            header: header.to_owned(),
            problem,
        }
    }
}

/// The hash behind an HMAC signature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum HmacAlgorithm {
    #[default]
    Sha256,
    Sha512,
    Sha1,
}

/// The HMAC of the concatenation of `parts` under `key`.
pub(crate) fn hmac(algorithm: HmacAlgorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    match algorithm {
        HmacAlgorithm::Sha256 => mac_of::<Hmac<Sha256>>(key, parts),
        HmacAlgorithm::Sha512 => mac_of::<Hmac<Sha512>>(key, parts),
        HmacAlgorithm::Sha1 => mac_of::<Hmac<Sha1>>(key, parts),
    }
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

    // RFC 4231 test case 2 (SHA-256, SHA-512) and RFC 2202 test case 2 (SHA-1).
    #[test]
    fn each_algorithm_gives_its_rfc_test_vector() {
        let mac = |algorithm| {
            HEXLOWER.encode(&hmac(
                algorithm,
                b"Jefe",
                &[b"what do ya want ", b"for nothing?"],
            ))
        };
        assert_eq!(
            mac(HmacAlgorithm::Sha256),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            mac(HmacAlgorithm::Sha512),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
        assert_eq!(
            mac(HmacAlgorithm::Sha1),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }

    #[test]
    fn comparison_tells_equal_from_different_bytes() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }
}
