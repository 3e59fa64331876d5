//! Hashing of presented keys. Only the SHA-256 of a key is ever stored; a
//! key has 190 bits of randomness, so a fast unsalted hash is safe here and
//! lets a key be found by its hash in one indexed look-up.

use sha2::{Digest, Sha256};

/// Hex SHA-256 of a key.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn hash_is_hex_sha256() {
        assert_eq!(
            super::hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
