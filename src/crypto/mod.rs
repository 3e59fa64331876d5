//! Cryptography, in one room: hashing of issued keys and keyed hashes
//! (`hash`), the AES-256-GCM envelope bound to its row and field
//! (`envelope`), and the sealing service that owns the master keys
//! (`vault`), the rekeying that moves stored values to the active key
//! (`rekey`), and the signatures of GitHub's secret scanning alerts
//! (`signature`). Resources seal and open through [`vault::Vault`] only.

pub mod envelope;
pub mod hash;
pub mod rekey;
pub mod signature;
pub mod vault;

pub use hash::{hash_key, keyed_hash};
