//! The endpoint rule shared by the verifiers: a JWKS or introspection URL must be
//! `https`, except on loopback (`localhost`, `127.0.0.0/8`, `::1`), where plain `http`
//! is accepted for development and tests.

use crate::AuthError;

/// Parses `url` and checks the rule above.
pub(crate) fn endpoint(url: &str) -> Result<reqwest::Url, AuthError> {
    let bad = |why: &str| AuthError::BadUrl { url: url.to_owned(), why: why.to_owned() };
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback(&parsed) => Ok(parsed),
        "http" => Err(bad("plain http is accepted only for loopback hosts; use https")),
        _ => Err(bad("use an https URL")),
    }
}

fn is_loopback(u: &reqwest::Url) -> bool {
    let Some(host) = u.host_str() else { return false };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::endpoint;

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(endpoint("https://id.example.com/jwks").is_ok());
        assert!(endpoint("http://127.0.0.1:8080/jwks").is_ok());
        assert!(endpoint("http://localhost/jwks").is_ok());
        assert!(endpoint("http://[::1]:9/jwks").is_ok());
        let e = endpoint("http://id.example.com/jwks").unwrap_err().to_string();
        assert!(e.contains("loopback"), "{e}");
        assert!(endpoint("ftp://127.0.0.1/jwks").is_err());
        assert!(endpoint("not a url").is_err());
    }
}
