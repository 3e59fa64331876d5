//! The AES-256-GCM envelope for values keygate must give back later:
//! connector secrets, proxy secret keys and provider credentials.
//!
//! An envelope is `[version 1][key id: 4 bytes][nonce: 12 bytes][ciphertext
//! and tag]`. The key id is the first four bytes of the SHA-256 of the master
//! key, so a value sealed under another key is recognised as such instead of
//! failing as "tampered". The associated data names the table, organization,
//! row and field, so an envelope copied to another row or field does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

const VERSION: u8 = 1;
const HEADER: usize = 1 + 4 + 12;
/// Label of the derivation of the keyed-hash key from the master key.
const HASH_KEY_LABEL: &[u8] = b"keygate:keyed-hash-key:v1";

/// The id of the key an envelope names (hex), if it is an envelope.
pub fn key_id_of(envelope: &[u8]) -> Option<String> {
    (envelope.len() >= HEADER && envelope[0] == VERSION).then(|| hex::encode(&envelope[1..5]))
}

/// Where a sealed value lives; bound into its associated data.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    /// Table name.
    pub table: &'a str,
    /// Owning organization.
    pub organization_id: &'a str,
    /// Row id.
    pub row_id: &'a str,
    /// Column name.
    pub field: &'a str,
}

impl Place<'_> {
    fn associated_data(&self) -> Vec<u8> {
        format!(
            "keygate:v{VERSION}:{}:{}:{}:{}",
            self.table, self.organization_id, self.row_id, self.field
        )
        .into_bytes()
    }
}

/// Why an envelope did not open. Never carries plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Not an envelope of a known format version.
    #[error("not a keygate envelope (format version or length)")]
    Malformed,
    /// Sealed under another master key.
    #[error("sealed under master key {found}, but the configured key is {expected}")]
    WrongKey {
        /// The configured key's id.
        expected: String,
        /// The id in the envelope.
        found: String,
    },
    /// The right key, but the data or its place does not match: moved to
    /// another row or field, or altered.
    #[error("does not authenticate for this row and field (moved or altered)")]
    Unauthentic,
}

/// The master key. `Debug` shows only its id.
pub struct MasterKey {
    id: [u8; 4],
    cipher: Aes256Gcm,
    /// The key of [`MasterKey::keyed_hash`]: derived from the master key
    /// by HMAC under a fixed label, so it is independent of the AES key.
    hash_key: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    /// A master key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> MasterKey {
        let digest = Sha256::digest(bytes);
        let hash_key = {
            use hmac::{Hmac, Mac};
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(bytes)
                .expect("HMAC takes a key of any length");
            mac.update(HASH_KEY_LABEL);
            mac.finalize().into_bytes().into()
        };
        MasterKey {
            id: [digest[0], digest[1], digest[2], digest[3]],
            cipher: Aes256Gcm::new(bytes.into()),
            hash_key,
        }
    }

    /// A master key from base64 text of 32 bytes; `None` otherwise.
    pub fn from_base64(text: &str) -> Option<MasterKey> {
        let bytes = STANDARD.decode(text.trim()).ok()?;
        let bytes: [u8; 32] = bytes.try_into().ok()?;
        Some(MasterKey::from_bytes(&bytes))
    }

    /// 32 random bytes as base64: a new master key's text.
    pub fn generate_base64() -> String {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        STANDARD.encode(bytes)
    }

    /// [`super::hash::keyed_hash`] under the key derived from this master key:
    /// for finding equal low-entropy values (proxy keys) without storing
    /// them or a guessable hash of them.
    pub fn keyed_hash(&self, domain: &str, scope: &str, value: &[u8]) -> String {
        super::hash::keyed_hash(&self.hash_key, domain, scope, value)
    }

    /// The key's id: hex of the first four bytes of its SHA-256.
    pub fn id(&self) -> String {
        hex::encode(self.id)
    }

    /// Seals a value for a place.
    pub fn seal(&self, place: Place<'_>, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let aad = place.associated_data();
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .expect("AES-GCM encryption of an in-memory value cannot fail");
        let mut out = Vec::with_capacity(HEADER + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&self.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens an envelope sealed for this place.
    pub fn open(&self, place: Place<'_>, envelope: &[u8]) -> Result<Vec<u8>, OpenError> {
        if envelope.len() < HEADER + 16 || envelope[0] != VERSION {
            return Err(OpenError::Malformed);
        }
        let key_id = &envelope[1..5];
        if key_id != self.id {
            return Err(OpenError::WrongKey {
                expected: self.id(),
                found: hex::encode(key_id),
            });
        }
        let aad = place.associated_data();
        self.cipher
            .decrypt(
                Nonce::from_slice(&envelope[5..HEADER]),
                Payload {
                    msg: &envelope[HEADER..],
                    aad: &aad,
                },
            )
            .map_err(|_| OpenError::Unauthentic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(row: &str) -> Place<'_> {
        Place {
            table: "secrets",
            organization_id: "org_1",
            row_id: row,
            field: "value",
        }
    }

    #[test]
    fn a_sealed_value_opens_only_in_its_place_and_under_its_key() {
        let key = MasterKey::from_base64(&MasterKey::generate_base64()).unwrap();
        let sealed = key.seal(place("a"), b"hunter2");
        assert!(
            !sealed.windows(7).any(|w| w == b"hunter2"),
            "no plaintext in the envelope"
        );
        assert_eq!(key.open(place("a"), &sealed).unwrap(), b"hunter2");
        assert_eq!(key.open(place("b"), &sealed), Err(OpenError::Unauthentic));
        let other = MasterKey::from_base64(&MasterKey::generate_base64()).unwrap();
        assert!(matches!(
            other.open(place("a"), &sealed),
            Err(OpenError::WrongKey { .. })
        ));
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(key.open(place("a"), &altered), Err(OpenError::Unauthentic));
        assert_eq!(
            key.open(place("a"), &sealed[..10]),
            Err(OpenError::Malformed)
        );
    }

    #[test]
    fn keyed_hashes_depend_on_the_master_key_and_not_on_its_raw_bytes() {
        let bytes = [3u8; 32];
        let key = MasterKey::from_bytes(&bytes);
        let hash = key.keyed_hash("d", "s", b"v");
        assert_eq!(
            hash,
            MasterKey::from_bytes(&bytes).keyed_hash("d", "s", b"v")
        );
        assert_ne!(
            hash,
            MasterKey::from_bytes(&[4u8; 32]).keyed_hash("d", "s", b"v")
        );
        // The derived key is not the AES key itself.
        assert_ne!(hash, super::super::hash::keyed_hash(&bytes, "d", "s", b"v"));
    }

    #[test]
    fn only_32_byte_base64_is_a_master_key() {
        assert!(MasterKey::from_base64("c2hvcnQ=").is_none());
        assert!(MasterKey::from_base64("not base64!").is_none());
        let key = MasterKey::generate_base64();
        assert!(!format!("{:?}", MasterKey::from_base64(&key).unwrap()).contains(&key));
    }
}
