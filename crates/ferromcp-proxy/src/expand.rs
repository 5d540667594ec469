//! RFC 6570 URI-template expansion (levels 1–3, the forms MCP resource templates use),
//! so a read of a proxied template reaches the backend as the URI the frontend asked
//! for: the frontend matched the URI into variables, the proxy expands them again.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Expands `template` with `vars` (missing variables are left out, as RFC 6570 says).
///
/// ```ignore
/// assert_eq!(expand("test://t/{id}/data", &vars([("id", "123")])), "test://t/123/data");
/// ```
pub(crate) fn expand(template: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        expression(&rest[open + 1..open + close], vars, &mut out);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// Expands one `{…}` expression into `out`.
fn expression(expr: &str, vars: &BTreeMap<String, String>, out: &mut String) {
    let (op, names) = match expr.chars().next() {
        Some(c @ ('+' | '#' | '.' | '/' | ';' | '?' | '&')) => (Some(c), &expr[1..]),
        _ => (None, expr),
    };
    let (first, sep, named, reserved) = match op {
        None => ("", ",", false, false),
        Some('+') => ("", ",", false, true),
        Some('#') => ("#", ",", false, true),
        Some('.') => (".", ".", false, false),
        Some('/') => ("/", "/", false, false),
        Some(';') => (";", ";", true, false),
        Some('?') => ("?", "&", true, false),
        _ => ("&", "&", true, false),
    };
    let mut wrote = false;
    for name in names.split(',') {
        let name = name.trim_end_matches('*');
        let name = name.split(':').next().unwrap_or(name);
        let Some(value) = vars.get(name) else { continue };
        out.push_str(if wrote { sep } else { first });
        wrote = true;
        if named {
            out.push_str(name);
            if value.is_empty() && op == Some(';') {
                continue;
            }
            out.push('=');
        }
        encode(value, reserved, out);
    }
}

/// Percent-encodes `value`: unreserved characters stay, and with `reserved` the
/// reserved ones and existing `%XX` escapes too.
fn encode(value: &str, reserved: bool, out: &mut String) {
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
        let kept = reserved && (b"!#$&'()*+,/:;=?@[]".contains(&b));
        let escape = reserved
            && b == b'%'
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        if unreserved || kept || escape {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<const N: usize>(pairs: [(&str, &str); N]) -> BTreeMap<String, String> {
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
    }

    #[test]
    fn expands_the_common_forms() {
        let v = vars([("id", "123"), ("path", "a/b c"), ("q", "x y"), ("n", "2")]);
        assert_eq!(expand("test://template/{id}/data", &v), "test://template/123/data");
        assert_eq!(expand("file:///{+path}", &v), "file:///a/b%20c");
        assert_eq!(expand("file:///{path}", &v), "file:///a%2Fb%20c");
        assert_eq!(expand("s://x{?q,n,missing}", &v), "s://x?q=x%20y&n=2");
        assert_eq!(expand("s://x{/id,n}{&q}", &v), "s://x/123/2&q=x%20y");
        assert_eq!(expand("s://{missing}x", &v), "s://x");
        assert_eq!(expand("s://unclosed{id", &v), "s://unclosed{id");
        // Non-ASCII is percent-encoded byte by byte (UTF-8).
        assert_eq!(expand("s://{id}", &vars([("id", "é")])), "s://%C3%A9");
    }
}
