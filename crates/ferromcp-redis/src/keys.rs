//! Pure helpers: key patterns for `SCAN MATCH` and TTLs in milliseconds.

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
    fn ttls_round_up_and_are_bounded() {
        assert_eq!(ttl_millis(Duration::ZERO), 1);
        assert_eq!(ttl_millis(Duration::from_nanos(1)), 1);
        assert_eq!(ttl_millis(Duration::from_micros(1500)), 2);
        assert_eq!(ttl_millis(Duration::from_millis(300)), 300);
        assert_eq!(ttl_millis(Duration::MAX), MAX_TTL_MS);
    }
}
