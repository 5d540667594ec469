//! DNS-rebinding protection: `Host` and `Origin` checks (spec digest §6). A present but
//! disallowed `Origin` is 403; so is a `Host` outside the allowed set.

use axum::http::HeaderMap;
use axum::http::header::{HOST, ORIGIN};

use crate::config::DnsRebinding;

fn loopback_host(host: &str) -> bool {
    let h = host.trim();
    let name = if let Some(rest) = h.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inner, port)) if port.is_empty() || port.starts_with(':') => return inner == "::1",
            _ => return false,
        }
    } else {
        h.rsplit_once(':').map_or(h, |(n, p)| if p.chars().all(|c| c.is_ascii_digit()) { n } else { h })
    };
    name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1"
}

fn loopback_origin(origin: &str) -> bool {
    let rest = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
    rest.is_some_and(|r| !r.contains('/') && loopback_host(r))
}

/// `Err(reason)` if the request must be refused.
pub(crate) fn check(policy: &DnsRebinding, h: &HeaderMap) -> Result<(), &'static str> {
    let host = h.get(HOST).and_then(|v| v.to_str().ok());
    let origin = h.get(ORIGIN).and_then(|v| v.to_str().ok());
    match policy {
        DnsRebinding::Off => Ok(()),
        DnsRebinding::Loopback => {
            if host.is_some_and(|v| !loopback_host(v)) {
                return Err("Host header is not a loopback name (DNS-rebinding protection)");
            }
            // `Origin: null` (sandboxed frames, file: pages, some redirects) is no
            // loopback origin: refused like any other foreign origin.
            if origin.is_some_and(|o| !loopback_origin(o)) {
                return Err("Origin is not allowed (DNS-rebinding protection)");
            }
            Ok(())
        }
        DnsRebinding::AllowList { hosts, origins } => {
            if host.is_some_and(|v| !hosts.iter().any(|a| a.eq_ignore_ascii_case(v))) {
                return Err("Host header is not allowed (DNS-rebinding protection)");
            }
            if origin.is_some_and(|o| !origins.iter().any(|a| a.eq_ignore_ascii_case(o))) {
                return Err("Origin is not allowed (DNS-rebinding protection)");
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_pass_and_others_fail() {
        for ok in ["localhost", "localhost:3001", "127.0.0.1", "127.0.0.1:80", "[::1]", "[::1]:3001", "LOCALHOST:1"] {
            assert!(loopback_host(ok), "{ok}");
        }
        for bad in
            ["evil.example.com", "evil.example.com:3001", "127.0.0.1.evil.com", "[::2]", "[::1]x", "localhost.evil"]
        {
            assert!(!loopback_host(bad), "{bad}");
        }
        assert!(loopback_origin("http://localhost:3001"));
        assert!(!loopback_origin("http://evil.example.com"));
        assert!(!loopback_origin("http://localhost:3001/path"));
        let mut h = HeaderMap::new();
        h.insert(ORIGIN, axum::http::HeaderValue::from_static("null"));
        assert!(check(&DnsRebinding::Loopback, &h).is_err());
        h.insert(ORIGIN, axum::http::HeaderValue::from_static("http://127.0.0.1:3001"));
        assert!(check(&DnsRebinding::Loopback, &h).is_ok());
    }
}
