//! RFC 6570 URI templates, the subset MCP servers use: simple `{var}`, reserved
//! `{+var}`, path segments `{/var}`, and query `{?a,b}` / continuation `{&a}`
//! expressions. Matching turns a concrete URI back into variables.

use std::collections::BTreeMap;

/// Variables extracted from a URI by a template.
pub type TemplateVars = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Simple(String),
    Reserved(String),
    Path(String),
    Query(Vec<String>),
}

/// A parsed URI template.
///
/// ```
/// use ferromcp_core::registry::UriTemplate;
/// let t = UriTemplate::parse("test://template/{id}/data").unwrap();
/// let vars = t.matches("test://template/42/data").unwrap();
/// assert_eq!(vars["id"], "42");
/// assert!(t.matches("test://template/4/2/data").is_none());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct UriTemplate {
    raw: String,
    parts: Vec<Part>,
}

impl UriTemplate {
    /// Parses a template; errors name what is wrong.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = raw;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_owned()));
            }
            let close = rest[open..].find('}').ok_or_else(|| format!("unclosed `{{` in template {raw:?}"))? + open;
            let expr = &rest[open + 1..close];
            let (op, names) = match expr.chars().next() {
                Some(c @ ('+' | '/' | '?' | '&' | '#')) => (Some(c), &expr[1..]),
                _ => (None, expr),
            };
            let names: Vec<String> = names.split(',').map(|n| n.trim_end_matches('*').to_owned()).collect();
            if names
                .iter()
                .any(|n| n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            {
                return Err(format!("bad variable name in `{{{expr}}}` of template {raw:?}"));
            }
            parts.push(match op {
                None if names.len() == 1 => Part::Simple(names[0].clone()),
                Some('+') | Some('#') if names.len() == 1 => Part::Reserved(names[0].clone()),
                Some('/') if names.len() == 1 => Part::Path(names[0].clone()),
                Some('?') | Some('&') => Part::Query(names),
                _ => return Err(format!("unsupported expression `{{{expr}}}` in template {raw:?}")),
            });
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_owned()));
        }
        Ok(UriTemplate { raw: raw.to_owned(), parts })
    }

    /// The template text.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The variable names, in order.
    pub fn variables(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for p in &self.parts {
            match p {
                Part::Simple(n) | Part::Reserved(n) | Part::Path(n) => out.push(n.as_str()),
                Part::Query(ns) => out.extend(ns.iter().map(String::as_str)),
                Part::Lit(_) => {}
            }
        }
        out
    }

    /// Matches `uri`, returning the variables, or `None` if it does not fit.
    ///
    /// Matching is guided by the literal that follows each variable and bounded by a step
    /// budget, so hostile URIs cost linear time; values are percent-decoded once, after a
    /// match.
    pub fn matches(&self, uri: &str) -> Option<TemplateVars> {
        let mut found: Vec<(usize, &str)> = Vec::with_capacity(self.parts.len());
        let mut budget = MATCH_BUDGET;
        if !self.match_from(0, uri, &mut found, &mut budget) {
            return None;
        }
        let mut vars = TemplateVars::new();
        for (i, raw) in found {
            match &self.parts[i] {
                Part::Simple(n) | Part::Reserved(n) | Part::Path(n) => {
                    vars.insert(n.clone(), decode(raw));
                }
                Part::Query(names) => {
                    for pair in raw.split('&') {
                        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                        if names.iter().any(|n| n == k) {
                            vars.insert(k.to_owned(), decode(v));
                        }
                    }
                }
                Part::Lit(_) => {}
            }
        }
        Some(vars)
    }

    fn match_from<'u>(&self, i: usize, s: &'u str, found: &mut Vec<(usize, &'u str)>, budget: &mut u32) -> bool {
        if *budget == 0 {
            return false;
        }
        *budget -= 1;
        let Some(part) = self.parts.get(i) else { return s.is_empty() };
        match part {
            Part::Lit(l) => s.strip_prefix(l.as_str()).is_some_and(|r| self.match_from(i + 1, r, found, budget)),
            Part::Query(_) => {
                if s.is_empty() {
                    return self.match_from(i + 1, s, found, budget);
                }
                // A query expression takes the rest of the URI.
                match s.strip_prefix('?').or_else(|| s.strip_prefix('&')) {
                    Some(q) => {
                        found.push((i, q));
                        true
                    }
                    None => false,
                }
            }
            Part::Simple(_) | Part::Reserved(_) | Part::Path(_) => {
                let (body, stop_slash) = match part {
                    Part::Path(_) => match s.strip_prefix('/') {
                        Some(b) => (b, true),
                        None => return false,
                    },
                    Part::Simple(_) => (s, true),
                    _ => (s, false),
                };
                let limit = body
                    .char_indices()
                    .find(|(_, c)| *c == '?' || (stop_slash && (*c == '/' || *c == '#')))
                    .map_or(body.len(), |(p, _)| p);
                for end in candidate_ends(body, limit, self.parts.get(i + 1), stop_slash) {
                    found.push((i, &body[..end]));
                    if self.match_from(i + 1, &body[end..], found, budget) {
                        return true;
                    }
                    found.pop();
                    if *budget == 0 {
                        return false;
                    }
                }
                false
            }
        }
    }
}

/// Steps a single match may take (backtracking over adjacent variables is bounded).
const MATCH_BUDGET: u32 = 4096;

/// Where a variable spanning `body[..end]` may end, given what follows it: before an
/// occurrence of the next literal, at the query or the end of the URI, or (adjacent
/// variables) anywhere. Shortest first, except for reserved expansions.
fn candidate_ends(body: &str, limit: usize, next: Option<&Part>, shortest_first: bool) -> Vec<usize> {
    let mut ends: Vec<usize> = match next {
        None => {
            if limit == body.len() && limit > 0 {
                vec![limit]
            } else {
                Vec::new()
            }
        }
        Some(Part::Query(_)) => {
            if limit > 0 {
                vec![limit]
            } else {
                Vec::new()
            }
        }
        Some(Part::Lit(l)) => {
            body.match_indices(l.as_str()).map(|(p, _)| p).filter(|p| *p > 0 && *p <= limit).collect()
        }
        Some(_) => body[..limit]
            .char_indices()
            .map(|(p, _)| p)
            .skip(1)
            .chain(std::iter::once(limit))
            .take(MATCH_BUDGET as usize)
            .collect(),
    };
    if !shortest_first {
        ends.reverse();
    }
    ends
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_reserved_path_and_query() {
        let t = UriTemplate::parse("file:///{+path}").unwrap();
        assert_eq!(t.matches("file:///a/b/c.txt").unwrap()["path"], "a/b/c.txt");
        let t = UriTemplate::parse("api://users{/id}{?fields,lang}").unwrap();
        let v = t.matches("api://users/7?fields=name&lang=en").unwrap();
        assert_eq!(v["id"], "7");
        assert_eq!(v["fields"], "name");
        assert_eq!(v["lang"], "en");
        let t = UriTemplate::parse("x://{a}-{b}").unwrap();
        let v = t.matches("x://one-two").unwrap();
        assert_eq!((v["a"].as_str(), v["b"].as_str()), ("one", "two"));
        assert_eq!(UriTemplate::parse("x://{a}").unwrap().matches("x://hello%20world").unwrap()["a"], "hello world");
    }

    #[test]
    fn hostile_uris_are_matched_in_bounded_time() {
        let t = UriTemplate::parse("users://{id}/profile").unwrap();
        let long = format!("users://{}/nope", "a".repeat(200_000));
        let started = std::time::Instant::now();
        assert!(t.matches(&long).is_none());
        let adjacent = UriTemplate::parse("x://{a}{b}{c}{d}{e}/end").unwrap();
        assert!(adjacent.matches(&format!("x://{}/nope", "z".repeat(5_000))).is_none());
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "took {:?}", started.elapsed());
        assert_eq!(adjacent.matches("x://abcde/end").unwrap()["e"], "e");
    }

    #[test]
    fn malformed_templates_and_odd_uris_do_not_panic() {
        assert!(UriTemplate::parse("x://{a").is_err());
        assert!(UriTemplate::parse("x://{}").is_err());
        let t = UriTemplate::parse("x://{a}/z").unwrap();
        for uri in ["", "x://", "x:///z", "x://%", "x://%zz/z", "x://é/z"] {
            let _ = t.matches(uri);
        }
        assert_eq!(t.matches("x://%e2%82%ac/z").unwrap()["a"], "€");
    }
}
