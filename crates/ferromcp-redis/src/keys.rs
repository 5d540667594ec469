//! Pure helpers: key patterns for `SCAN MATCH`, the names of per-scope index keys, and
//! TTLs in milliseconds.

use std::time::Duration;

/// The longest TTL sent to Redis, in milliseconds (about 146 million years). Redis
/// rejects an expiry whose absolute time overflows; anything longer is as good as this.
const MAX_TTL_MS: u64 = 1 << 62;

/// A `SCAN MATCH` pattern matching exactly the keys that start with `prefix`: every glob
/// metacharacter (`* ? [ ] \`) is escaped with a backslash, then `*` is appended.
/// (Glob metacharacters are ASCII, so escaping per `char` is also correct per byte.)
pub(crate) fn prefix_pattern(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 8);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('*');
    out
}

/// Ends the name of a scope's index key. Byte `0xFF` never occurs in UTF-8, and every
/// key the store writes for a caller is UTF-8 (a `&str`, after a `&str` key prefix), so
/// no caller's key can be an index key, whatever the scope or the key.
const INDEX_SUFFIX: &[u8] = b"\xffkeys";

/// The index key of the scope whose full (prefixed) key prefix is `full_prefix`: it
/// starts with the prefix, so `delete_prefix` of the scope finds it too.
pub(crate) fn index_key(full_prefix: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(full_prefix.len() + INDEX_SUFFIX.len());
    k.extend_from_slice(full_prefix.as_bytes());
    k.extend_from_slice(INDEX_SUFFIX);
    k
}

/// Whether a Redis key is a scope index rather than a stored value.
pub(crate) fn is_index_key(key: &[u8]) -> bool {
    key.ends_with(INDEX_SUFFIX)
}

/// A TTL as `PX` milliseconds: rounded up (a sub-millisecond TTL still expires, and
/// `PX 0` is an error in Redis) and capped at [`MAX_TTL_MS`].
pub(crate) fn ttl_millis(ttl: Duration) -> u64 {
    let ms = ttl.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(MAX_TTL_MS).clamp(1, MAX_TTL_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_metacharacters_are_escaped() {
        assert_eq!(prefix_pattern("ns:p:"), "ns:p:*");
        assert_eq!(prefix_pattern("glob*?[x]"), r"glob\*\?\[x\]*");
        assert_eq!(prefix_pattern(r"back\slash"), r"back\\slash*");
        assert_eq!(prefix_pattern("uni-☃-é ^-!"), "uni-☃-é ^-!*");
        assert_eq!(prefix_pattern(""), "*");
    }

    #[test]
    fn index_keys_cannot_be_caller_keys() {
        let k = index_key("app:principal:x:");
        assert!(k.starts_with(b"app:principal:x:"));
        assert!(is_index_key(&k));
        assert!(std::str::from_utf8(&k).is_err(), "not UTF-8, so never the key of a value");
        assert!(!is_index_key("app:principal:x:keys".as_bytes()));
        assert!(!is_index_key("app:principal:x:\u{ff}keys".as_bytes()), "U+00FF is two other bytes in UTF-8");
    }

    #[test]
    fn ttls_round_up_and_are_bounded() {
        assert_eq!(ttl_millis(Duration::ZERO), 1);
        assert_eq!(ttl_millis(Duration::from_nanos(1)), 1);
        assert_eq!(ttl_millis(Duration::from_micros(1500)), 2);
        assert_eq!(ttl_millis(Duration::from_millis(300)), 300);
        assert_eq!(ttl_millis(Duration::MAX), MAX_TTL_MS);
    }
}
