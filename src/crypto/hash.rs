//! Hashing. Only the SHA-256 of an issued key is ever stored; a
//! key has 190 bits of randomness, so a fast unsalted hash is safe here and
//! lets a key be found by its hash in one indexed look-up.
//!
//! Values chosen by people (proxy keys, say) may have little entropy, so a
//! plain hash of one could be reversed by guessing; [`keyed_hash`] is an
//! HMAC-SHA256 under a key only the server holds (derived from the master
//! key, see [`super::envelope::MasterKey::keyed_hash`]), which still finds equal
//! values by equal hashes.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Hex SHA-256 of a key.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Hex HMAC-SHA256 of `value` under `key`, for one `domain` (what is
/// hashed, e.g. `api_proxy_key`) and `scope` (whose, e.g. an organization
/// id). Each part is length-prefixed, so no two (domain, scope, value)
/// triples hash the same input; equal values in different scopes or domains
/// get unrelated hashes.
pub fn keyed_hash(key: &[u8; 32], domain: &str, scope: &str, value: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    for part in [domain.as_bytes(), scope.as_bytes(), value] {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn keyed_hash_depends_on_key_domain_scope_and_value() {
        let key = [7u8; 32];
        let base = super::keyed_hash(&key, "d", "s", b"value");
        assert_eq!(base.len(), 64, "hex of 32 bytes");
        assert_eq!(base, super::keyed_hash(&key, "d", "s", b"value"));
        assert_ne!(base, super::keyed_hash(&[8u8; 32], "d", "s", b"value"));
        assert_ne!(base, super::keyed_hash(&key, "e", "s", b"value"));
        assert_ne!(base, super::keyed_hash(&key, "d", "t", b"value"));
        assert_ne!(base, super::keyed_hash(&key, "d", "s", b"valuf"));
        // Length prefixes: moving a byte between parts changes the hash.
        assert_ne!(
            super::keyed_hash(&key, "ab", "c", b""),
            super::keyed_hash(&key, "a", "bc", b"")
        );
        // Not the plain SHA-256 of the value.
        assert_ne!(base, super::hash_key("value"));
    }

    #[test]
    fn hash_is_hex_sha256() {
        assert_eq!(
            super::hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
