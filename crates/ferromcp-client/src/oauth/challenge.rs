//! Parsing `WWW-Authenticate: Bearer ...` challenges (RFC 6750 §3, RFC 9728 §5.1).

/// The parameters of a Bearer challenge that the OAuth flow uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BearerChallenge {
    /// `resource_metadata`: where the protected resource metadata lives.
    pub resource_metadata: Option<String>,
    /// `scope`: the scopes the request needs, space separated.
    pub scope: Option<String>,
    /// `error`: e.g. `invalid_token`, `insufficient_scope`.
    pub error: Option<String>,
}

impl BearerChallenge {
    /// Parses the `Bearer` challenge of a `WWW-Authenticate` value; other schemes and
    /// malformed parameters are skipped, never an error.
    ///
    /// ```
    /// use ferromcp_client::oauth::BearerChallenge;
    /// let c = BearerChallenge::parse(r#"Bearer error="insufficient_scope", scope="a b", resource_metadata="https://x/.well-known/oauth-protected-resource""#);
    /// assert_eq!(c.scope.as_deref(), Some("a b"));
    /// assert_eq!(c.error.as_deref(), Some("insufficient_scope"));
    /// ```
    pub fn parse(header: &str) -> Self {
        let mut out = BearerChallenge::default();
        let mut in_bearer = false;
        for (key, value) in params(header) {
            match (key, value) {
                (k, None) => in_bearer = k.eq_ignore_ascii_case("bearer"),
                (k, Some(v)) if in_bearer => match k.to_ascii_lowercase().as_str() {
                    "resource_metadata" => out.resource_metadata = Some(v),
                    "scope" => out.scope = Some(v),
                    "error" => out.error = Some(v),
                    _ => {}
                },
                _ => {}
            }
        }
        out
    }

    /// The challenged scopes, split on spaces.
    pub fn scopes(&self) -> Vec<String> {
        split_scopes(self.scope.as_deref())
    }
}

/// Splits a space-separated scope string.
pub(crate) fn split_scopes(s: Option<&str>) -> Vec<String> {
    s.unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Tokens of a challenge list: a scheme name gives `(name, None)`, an auth-param gives
/// `(key, Some(value))`.
fn params(header: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut chars = header.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || c == ',' || c == '=' {
                break;
            }
            word.push(c);
            chars.next();
        }
        if word.is_empty() {
            match chars.next() {
                Some(_) => continue,
                None => break,
            }
        }
        while chars.peek().is_some_and(|c| *c == ' ') {
            chars.next();
        }
        if chars.peek() == Some(&'=') {
            chars.next();
            while chars.peek().is_some_and(|c| *c == ' ') {
                chars.next();
            }
            let mut value = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                value.push(n);
                            }
                        }
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' || c.is_whitespace() {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
            out.push((word, Some(value)));
        } else {
            out.push((word, None));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quoted_and_token_params() {
        let c = BearerChallenge::parse(
            r#"Bearer error="invalid_token", error_description="Missing, header", resource_metadata="http://h/.well-known/oauth-protected-resource/mcp""#,
        );
        assert_eq!(c.error.as_deref(), Some("invalid_token"));
        assert_eq!(
            c.resource_metadata.as_deref(),
            Some("http://h/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(c.scope, None);
        let c = BearerChallenge::parse("Bearer scope=read, error=insufficient_scope");
        assert_eq!(c.scopes(), vec!["read".to_owned()]);
        assert_eq!(c.error.as_deref(), Some("insufficient_scope"));
    }

    #[test]
    fn ignores_other_schemes_and_garbage() {
        let c = BearerChallenge::parse(r#"Basic realm="x", Bearer scope="a b""#);
        assert_eq!(c.scopes(), vec!["a".to_owned(), "b".to_owned()]);
        let c = BearerChallenge::parse(r#"Basic realm="x" scope="nope""#);
        assert_eq!(c.scope, None);
        for junk in [
            "",
            "=",
            "\"",
            "Bearer =\"",
            "Bearer a=\"unterminated",
            ",,,",
        ] {
            let _ = BearerChallenge::parse(junk);
        }
    }
}
