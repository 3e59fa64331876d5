//! Signatures keygate checks: GitHub's secret scanning partner alerts are
//! signed with ECDSA over P-256 and SHA-256; the signature (base64 of its
//! ASN.1 DER form) covers the raw request body and names the signing key by
//! an identifier. [`ScanningKeys`] holds the public keys keygate trusts, read
//! from the JSON GitHub publishes for them (the same shape, so an operator
//! can save GitHub's list as it is), never fetched at run time.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::Deserialize;

/// The public keys alert signatures are checked against, by identifier.
#[derive(Clone, Default)]
pub struct ScanningKeys {
    keys: Vec<(String, VerifyingKey)>,
}

impl std::fmt::Debug for ScanningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|(id, _)| id))
            .finish()
    }
}

/// Why a signature was refused; the message never repeats the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadSignature {
    /// No key is configured at all.
    #[error("no secret scanning public keys are configured")]
    NoKeys,
    /// The identifier names no configured key.
    #[error("the public key identifier names no configured key")]
    UnknownKey,
    /// The signature is not base64 of a DER ECDSA signature.
    #[error("the signature is not base64 of a DER-encoded ECDSA signature")]
    Malformed,
    /// The signature does not match the body.
    #[error("the signature does not match the body")]
    Mismatch,
}

#[derive(Deserialize)]
struct PublishedKeys {
    public_keys: Vec<PublishedKey>,
}

#[derive(Deserialize)]
struct PublishedKey {
    key_identifier: String,
    key: String,
}

impl ScanningKeys {
    /// Reads GitHub's published shape,
    /// `{"public_keys": [{"key_identifier": "...", "key": "-----BEGIN PUBLIC KEY-----...", "is_current": true}]}`;
    /// every listed key is trusted (GitHub keeps signing with a key for a
    /// while after a newer one is listed). The error says what is wrong,
    /// never a key.
    pub fn parse(json: &str) -> Result<ScanningKeys, String> {
        let published: PublishedKeys = serde_json::from_str(json).map_err(|e| {
            format!("must be JSON of the form {{\"public_keys\": [{{\"key_identifier\": ..., \"key\": PEM}}]}} ({e})")
        })?;
        let mut keys = Vec::with_capacity(published.public_keys.len());
        for (i, key) in published.public_keys.into_iter().enumerate() {
            let parsed = VerifyingKey::from_public_key_pem(key.key.trim()).map_err(|_| {
                format!("public_keys[{i}].key is not a PEM-encoded P-256 public key")
            })?;
            if key.key_identifier.trim().is_empty() {
                return Err(format!("public_keys[{i}].key_identifier is empty"));
            }
            keys.push((key.key_identifier.trim().to_owned(), parsed));
        }
        Ok(ScanningKeys { keys })
    }

    /// How many keys are trusted.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is trusted (every alert is then refused).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks `signature` (base64 of DER) over `body` with the key named
    /// `identifier`.
    pub fn verify(
        &self,
        identifier: &str,
        signature: &str,
        body: &[u8],
    ) -> Result<(), BadSignature> {
        if self.keys.is_empty() {
            return Err(BadSignature::NoKeys);
        }
        let key = self
            .keys
            .iter()
            .find(|(id, _)| id == identifier.trim())
            .map(|(_, key)| key)
            .ok_or(BadSignature::UnknownKey)?;
        let der = STANDARD
            .decode(signature.trim())
            .map_err(|_| BadSignature::Malformed)?;
        let signature = Signature::from_der(&der).map_err(|_| BadSignature::Malformed)?;
        key.verify(body, &signature)
            .map_err(|_| BadSignature::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::SigningKey;
    use p256::pkcs8::{EncodePublicKey, LineEnding};

    use super::*;

    fn key_pair() -> (SigningKey, String) {
        let secret: [u8; 32] = rand::random();
        let signing = SigningKey::from_slice(&secret).expect("a random scalar is a key");
        let pem = signing
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        (signing, pem)
    }

    fn keys_json(id: &str, pem: &str) -> String {
        serde_json::json!({"public_keys": [{"key_identifier": id, "key": pem, "is_current": true}]})
            .to_string()
    }

    #[test]
    fn a_signed_body_verifies_and_an_altered_one_does_not() {
        let (signing, pem) = key_pair();
        let keys = ScanningKeys::parse(&keys_json("k1", &pem)).unwrap();
        let body = br#"[{"token":"x","type":"keygate_api_key"}]"#;
        let signature: Signature = signing.sign(body);
        let encoded = STANDARD.encode(signature.to_der().as_bytes());
        assert_eq!(keys.verify("k1", &encoded, body), Ok(()));
        assert_eq!(
            keys.verify("k1", &encoded, b"[]"),
            Err(BadSignature::Mismatch)
        );
        assert_eq!(
            keys.verify("k2", &encoded, body),
            Err(BadSignature::UnknownKey)
        );
        assert_eq!(
            keys.verify("k1", "not base64!", body),
            Err(BadSignature::Malformed)
        );
        assert_eq!(
            ScanningKeys::default().verify("k1", &encoded, body),
            Err(BadSignature::NoKeys)
        );
    }

    #[test]
    fn bad_key_lists_say_what_is_wrong() {
        assert!(ScanningKeys::parse("[]")
            .unwrap_err()
            .contains("public_keys"));
        let err = ScanningKeys::parse(&keys_json(
            "k1",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        ))
        .unwrap_err();
        assert!(err.contains("public_keys[0].key"), "{err}");
    }
}
