//! The shape of keygate-issued keys: `kg_<kind>_<32 base62><6 base62 CRC32>`.
//!
//! The checksum covers everything before it, so a mistyped or truncated key is
//! rejected without a database look-up, and secret scanners can recognise
//! leaked keys with a regular expression plus the checksum.

use rand::distr::{Alphanumeric, SampleString};

const RANDOM_LEN: usize = 32;
const CHECKSUM_LEN: usize = 6;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The regular expression every keygate-issued key matches, as registered
/// with GitHub's secret scanning partner program (docs/OPERATIONS.md): the
/// kind, then 32 random and 6 checksum base62 characters. A match is only a
/// candidate: [`parse`] checks the checksum.
pub const KEY_PATTERN: &str = r"\bkg_(?:ak|ck|cs)_[0-9A-Za-z]{38}\b";

/// What a key is for; the kind is part of the key's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// `kg_ak_`: an API key callers authenticate with.
    ApiKey,
    /// `kg_ck_`: a connected cluster's key.
    ClusterKey,
    /// `kg_cs_`: a connected cluster's per-service key.
    ClusterServiceKey,
}

impl KeyKind {
    /// The key's leading text, e.g. `kg_ak_`.
    pub fn prefix(self) -> &'static str {
        match self {
            KeyKind::ApiKey => "kg_ak_",
            KeyKind::ClusterKey => "kg_ck_",
            KeyKind::ClusterServiceKey => "kg_cs_",
        }
    }

    fn from_prefix(prefix: &str) -> Option<Self> {
        [
            KeyKind::ApiKey,
            KeyKind::ClusterKey,
            KeyKind::ClusterServiceKey,
        ]
        .into_iter()
        .find(|kind| kind.prefix() == prefix)
    }
}

/// Why a presented key was rejected without a look-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MalformedKey {
    /// Not `kg_<kind>_` followed by base62 of the right length.
    #[error("not a keygate key")]
    Shape,
    /// The shape is right but the checksum does not match.
    #[error("checksum mismatch")]
    Checksum,
}

/// A freshly minted key. `Debug` never shows the value.
pub struct GeneratedKey {
    /// The full key, to be shown once.
    pub value: String,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GeneratedKey(<redacted>)")
    }
}

impl GeneratedKey {
    /// The first ten characters (`kg_ak_` and four more), safe to display.
    pub fn display_prefix(&self) -> String {
        display_prefix(&self.value)
    }

    /// The last four characters, safe to display.
    pub fn last4(&self) -> String {
        self.value[self.value.len() - 4..].to_owned()
    }
}

/// The first ten characters of a key: its kind and four random characters.
pub fn display_prefix(key: &str) -> String {
    key.chars().take(10).collect()
}

/// Mints a new random key of the given kind.
pub fn generate(kind: KeyKind) -> GeneratedKey {
    let mut value = String::with_capacity(6 + RANDOM_LEN + CHECKSUM_LEN);
    value.push_str(kind.prefix());
    value.push_str(&Alphanumeric.sample_string(&mut rand::rng(), RANDOM_LEN));
    let checksum = checksum(&value);
    value.push_str(&checksum);
    GeneratedKey { value }
}

/// Checks a presented key's shape and checksum and returns its kind.
pub fn parse(key: &str) -> Result<KeyKind, MalformedKey> {
    if key.len() != 6 + RANDOM_LEN + CHECKSUM_LEN || !key.is_ascii() {
        return Err(MalformedKey::Shape);
    }
    let kind = KeyKind::from_prefix(&key[..6]).ok_or(MalformedKey::Shape)?;
    let (body, sum) = key.split_at(6 + RANDOM_LEN);
    if !key[6..].bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(MalformedKey::Shape);
    }
    if checksum(body) != sum {
        return Err(MalformedKey::Checksum);
    }
    Ok(kind)
}

fn checksum(body: &str) -> String {
    let mut n = crc32fast::hash(body.as_bytes());
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| b as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_back_to_their_kind() {
        for kind in [
            KeyKind::ApiKey,
            KeyKind::ClusterKey,
            KeyKind::ClusterServiceKey,
        ] {
            let key = generate(kind);
            assert!(key.value.starts_with(kind.prefix()));
            assert_eq!(parse(&key.value), Ok(kind));
        }
    }

    #[test]
    fn a_changed_character_breaks_the_checksum() {
        let key = generate(KeyKind::ApiKey).value;
        let mut bytes = key.clone().into_bytes();
        bytes[10] = if bytes[10] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(bytes).unwrap();
        assert_eq!(parse(&typo), Err(MalformedKey::Checksum));
    }

    #[test]
    fn wrong_shapes_are_rejected() {
        let key = generate(KeyKind::ApiKey).value;
        let cases = [
            ("empty", String::new()),
            ("truncated", key[..key.len() - 1].to_owned()),
            ("unknown kind", key.replacen("kg_ak_", "kg_zz_", 1)),
            ("non-base62", format!("{}-{}", &key[..20], &key[21..])),
        ];
        for (what, case) in cases {
            assert_eq!(parse(&case), Err(MalformedKey::Shape), "{what}");
        }
    }

    #[test]
    fn the_registered_pattern_matches_every_kind_and_nothing_longer() {
        let pattern = regex::Regex::new(KEY_PATTERN).unwrap();
        for kind in [
            KeyKind::ApiKey,
            KeyKind::ClusterKey,
            KeyKind::ClusterServiceKey,
        ] {
            let key = generate(kind).value;
            let text = format!("token: \"{key}\"\n");
            assert_eq!(pattern.find(&text).unwrap().as_str(), key);
            assert!(!pattern.is_match(&format!("{key}x")), "a longer word");
            assert!(!pattern.is_match(&key[..key.len() - 1]), "a shorter one");
        }
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = generate(KeyKind::ApiKey);
        assert!(!format!("{key:?}").contains(&key.value));
    }
}
