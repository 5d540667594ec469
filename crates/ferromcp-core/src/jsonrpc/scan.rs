//! A validating JSON scanner for the envelope decoder.
//!
//! It walks an object's keys and hands back the exact text of each value, checking the
//! JSON grammar as it goes but building nothing, so the decoder reads `jsonrpc`, `id`,
//! `method`, `params._meta` and the routing fields in one pass over the body. Strings
//! are borrowed unless they hold escapes.
//!
//! It accepts exactly what `serde_json` accepts when it skips a value (the module tests
//! check this against `serde_json` on generated inputs): RFC 8259 JSON, nesting up to
//! 128 levels (deeper input is an error, never a stack overflow), escapes checked for
//! form but lone surrogates allowed in skipped strings. Unlike `serde_json` it works on
//! `&str`, so the caller checks UTF-8 once for the whole body.

use std::borrow::Cow;

/// Nesting limit, as in `serde_json`.
const MAX_DEPTH: usize = 128;

/// Where and why the input stopped being JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    /// Byte offset of the error.
    pub(crate) at: usize,
    /// What was wrong.
    pub(crate) what: &'static str,
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

type Result<T> = std::result::Result<T, SyntaxError>;

/// The offset (from `from`) of the first byte that ends a plain run of string
/// characters: `"`, `\\` or a control byte; `b.len()` if there is none. Eight bytes at a
/// time (the classic SWAR zero-byte test): a flagged lane is exact for the lowest one,
/// which is all that is used.
fn string_run_end(b: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut lanes = [0u8; 8];
        lanes.copy_from_slice(chunk);
        let x = u64::from_le_bytes(lanes);
        let quote = x ^ (ONES * u64::from(b'"'));
        let backslash = x ^ (ONES * u64::from(b'\\'));
        let found = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (x.wrapping_sub(ONES * 0x20) & !x);
        let found = found & HIGH;
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !matches!(b[i], b'"' | b'\\' | 0..0x20) {
        i += 1;
    }
    i
}

/// A cursor over a JSON text.
pub(crate) struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Scanner { text, pos: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn fail<T>(&self, what: &'static str) -> Result<T> {
        Err(SyntaxError { at: self.pos, what })
    }

    fn skip_ws(&mut self) {
        let b = self.bytes();
        while self.pos < b.len() && matches!(b[self.pos], b' ' | b'\n' | b'\r' | b'\t') {
            self.pos += 1;
        }
    }

    /// The offset of the next non-whitespace byte.
    pub(crate) fn offset(&mut self) -> usize {
        self.skip_ws();
        self.pos
    }

    /// The next non-whitespace byte, not consumed.
    pub(crate) fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes().get(self.pos).copied()
    }

    /// Whether only whitespace is left.
    pub(crate) fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    fn expect(&mut self, byte: u8, what: &'static str) -> Result<()> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            self.fail(what)
        }
    }

    /// Reads an object. `each` is called with every key and must consume the key's value
    /// (with [`Scanner::value`] or [`Scanner::object`]).
    pub(crate) fn object(&mut self, mut each: impl FnMut(&mut Self, Cow<'a, str>) -> Result<()>) -> Result<()> {
        self.expect(b'{', "expected `{`")?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            if self.peek() != Some(b'"') {
                return self.fail("expected a string key");
            }
            let at = self.pos;
            let key = match self.string() {
                Ok(k) => k,
                // A key with a lone surrogate is still JSON; it just names nothing we read.
                // Hand over its raw text, which (quotes included) matches no field name.
                Err(e) if e.what.starts_with("lone") => {
                    self.pos = at;
                    self.skip_string()?;
                    Cow::Borrowed(&self.text[at..self.pos])
                }
                Err(e) => return Err(e),
            };
            self.expect(b':', "expected `:`")?;
            each(self, key)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return self.fail("expected `,` or `}`"),
            }
        }
    }

    /// Skips one value, checking it, and returns its text.
    pub(crate) fn value(&mut self) -> Result<&'a str> {
        self.skip_ws();
        let start = self.pos;
        self.skip_value()?;
        Ok(&self.text[start..self.pos])
    }

    /// Skips one value without recursion: bit `d` of `objects` tells whether the open
    /// container at depth `d` is an object (128 levels fit in a `u128`).
    fn skip_value(&mut self) -> Result<()> {
        let mut objects = 0u128;
        let mut depth = 0usize;
        loop {
            // A value (possibly the opening of a container).
            match self.peek() {
                Some(b'"') => self.skip_string()?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                Some(open @ (b'{' | b'[')) => {
                    if depth == MAX_DEPTH {
                        return self.fail("recursion limit exceeded");
                    }
                    let object = open == b'{';
                    self.pos += 1;
                    if object {
                        objects |= 1 << depth;
                    } else {
                        objects &= !(1 << depth);
                    }
                    depth += 1;
                    if self.peek() == Some(if object { b'}' } else { b']' }) {
                        self.pos += 1;
                        depth -= 1;
                    } else {
                        if object {
                            self.key()?;
                        }
                        continue;
                    }
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(_) => return self.fail("expected a value"),
                None => return self.fail("unexpected end of input"),
            }
            // After a value: close containers or move to the next element.
            loop {
                if depth == 0 {
                    return Ok(());
                }
                let object = objects & (1 << (depth - 1)) != 0;
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if object {
                            self.key()?;
                        }
                        break;
                    }
                    Some(b'}') if object => {
                        self.pos += 1;
                        depth -= 1;
                    }
                    Some(b']') if !object => {
                        self.pos += 1;
                        depth -= 1;
                    }
                    _ => return self.fail(if object { "expected `,` or `}`" } else { "expected `,` or `]`" }),
                }
            }
        }
    }

    /// A key and its colon, inside an object being skipped.
    fn key(&mut self) -> Result<()> {
        if self.peek() != Some(b'"') {
            return self.fail("expected a string key");
        }
        self.skip_string()?;
        self.expect(b':', "expected `:`")
    }

    fn literal(&mut self, lit: &'static [u8]) -> Result<()> {
        if self.bytes()[self.pos..].starts_with(lit) {
            self.pos += lit.len();
            Ok(())
        } else {
            self.fail("invalid literal")
        }
    }

    fn digits(&mut self) -> usize {
        let b = self.bytes();
        let start = self.pos;
        while self.pos < b.len() && b[self.pos].is_ascii_digit() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<()> {
        let b = self.bytes();
        if b[self.pos] == b'-' {
            self.pos += 1;
        }
        match b.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return self.fail("invalid number"),
        }
        if b.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return self.fail("invalid number");
            }
        }
        if matches!(b.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(b.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return self.fail("invalid number");
            }
        }
        Ok(())
    }

    /// Skips a string (the cursor is on its `"`), checking escapes and control bytes.
    fn skip_string(&mut self) -> Result<()> {
        self.pos += 1;
        let b = self.bytes();
        loop {
            self.pos = string_run_end(b, self.pos);
            match b.get(self.pos) {
                None => return self.fail("unterminated string"),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape(None)?;
                }
                Some(0..0x20) => return self.fail("control character in string"),
                Some(_) => self.pos += 1,
            }
        }
    }

    /// Reads a string (the cursor is on its `"`), unescaping it if needed. Here, unlike
    /// in skipped strings, surrogates must pair up (the text becomes a Rust `str`).
    pub(crate) fn string(&mut self) -> Result<Cow<'a, str>> {
        self.pos += 1;
        let start = self.pos;
        let b = self.bytes();
        loop {
            self.pos = string_run_end(b, self.pos);
            match b.get(self.pos) {
                None => return self.fail("unterminated string"),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Borrowed(&self.text[start..self.pos - 1]));
                }
                Some(b'\\') => break,
                Some(0..0x20) => return self.fail("control character in string"),
                Some(_) => self.pos += 1,
            }
        }
        let mut out = String::with_capacity(self.pos - start + 16);
        out.push_str(&self.text[start..self.pos]);
        loop {
            let run = self.pos;
            match b.get(self.pos) {
                None => return self.fail("unterminated string"),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape(Some(&mut out))?;
                }
                Some(0..0x20) => return self.fail("control character in string"),
                Some(_) => {
                    self.pos = string_run_end(b, self.pos);
                    out.push_str(&self.text[run..self.pos]);
                }
            }
        }
    }

    /// One escape after its backslash; appends the character to `out` when given.
    fn escape(&mut self, out: Option<&mut String>) -> Result<()> {
        let Some(&c) = self.bytes().get(self.pos) else { return self.fail("unterminated string") };
        self.pos += 1;
        let ch = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let n = self.hex4()?;
                let Some(out) = out else { return Ok(()) };
                let ch = match n {
                    0xD800..=0xDBFF => {
                        if !self.bytes()[self.pos..].starts_with(b"\\u") {
                            return self.fail("lone leading surrogate in hex escape");
                        }
                        self.pos += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return self.fail("lone leading surrogate in hex escape");
                        }
                        char::from_u32(0x10000 + ((u32::from(n) - 0xD800) << 10) + (u32::from(low) - 0xDC00))
                    }
                    _ => char::from_u32(u32::from(n)),
                };
                match ch {
                    Some(ch) => out.push(ch),
                    None => return self.fail("lone trailing surrogate in hex escape"),
                }
                return Ok(());
            }
            _ => return self.fail("invalid escape"),
        };
        if let Some(out) = out {
            out.push(ch);
        }
        Ok(())
    }

    fn hex4(&mut self) -> Result<u16> {
        let Some(digits) = self.bytes().get(self.pos..self.pos + 4) else { return self.fail("unterminated string") };
        let mut n = 0u16;
        for &d in digits {
            let v = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return self.fail("invalid hex escape"),
            };
            n = (n << 4) | u16::from(v);
        }
        self.pos += 4;
        Ok(n)
    }
}

/// The string a captured JSON value holds, or `None` if the value is not a string.
pub(crate) fn string_value(text: &str) -> Option<Cow<'_, str>> {
    if !text.starts_with('"') {
        return None;
    }
    Scanner::new(text).string().ok()
}

/// Whether `text` is a single valid JSON value (surrounding whitespace allowed).
pub(crate) fn is_json(text: &str) -> bool {
    let mut s = Scanner::new(text);
    s.value().is_ok() && s.at_end()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn serde_ok(text: &str) -> bool {
        serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
    }

    /// A small deterministic generator (no extra dependency).
    pub(in crate::jsonrpc) struct Rng(pub(in crate::jsonrpc) u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const SEEDS: &[&str] = &[
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"add","arguments":{"a":3,"b":-4.5e3},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#,
        r#" { "a" : [ 1 , 2.0 , -0 , 1E+2 , true , false , null , "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00" ] , "b" : { } , "c" : [ ] } "#,
        r#"[{"id":"s","result":{"content":[{"type":"text","text":"héllo"}]}}]"#,
        r#""just a string""#,
        "0",
        "[[[[[[[[[[]]]]]]]]]]",
        r#"{"a\ud800":1,"\udc00b":[2]}"#,
    ];

    const NASTY: &[u8] = b"{}[]\",:\\/u0123456789abcdefABCDEF.-+eEtrufalsn \t\n\r\x01\x7f";

    /// `seed` with one to three random edits (delete, replace, insert, truncate).
    pub(in crate::jsonrpc) fn mutate(rng: &mut Rng, seed: &str) -> Vec<u8> {
        let mut bytes = seed.as_bytes().to_vec();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(bytes.len() + 1);
            match rng.below(4) {
                0 if at < bytes.len() => {
                    bytes.remove(at);
                }
                1 if at < bytes.len() => bytes[at] = NASTY[rng.below(NASTY.len())],
                2 => bytes.insert(at, NASTY[rng.below(NASTY.len())]),
                _ => bytes.truncate(at),
            }
        }
        bytes
    }

    #[test]
    fn accepts_exactly_what_serde_json_accepts() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut checked = 0;
        for seed in SEEDS {
            assert!(is_json(seed), "{seed}");
            for _ in 0..4000 {
                let bytes = mutate(&mut rng, seed);
                let Ok(text) = std::str::from_utf8(&bytes) else { continue };
                assert_eq!(is_json(text), serde_ok(text), "disagreement on {text:?}");
                checked += 1;
            }
        }
        assert!(checked > 20_000, "only {checked} inputs checked");
    }

    #[test]
    fn string_runs_end_at_the_first_special_byte() {
        let specials = [b'"', b'\\', 0u8, 0x1f];
        let mut rng = Rng(7);
        for _ in 0..5000 {
            let len = rng.below(40);
            let text: Vec<u8> = (0..len)
                .map(|_| match rng.below(10) {
                    0 => specials[rng.below(specials.len())],
                    1 => 0x20 + rng.below(0x60) as u8,
                    2 => 0x80 | rng.below(0x80) as u8,
                    _ => b'a' + rng.below(26) as u8,
                })
                .collect();
            let from = rng.below(len + 1);
            let want = (from..len).find(|&i| matches!(text[i], b'"' | b'\\' | 0..0x20)).unwrap_or(len);
            assert_eq!(string_run_end(&text, from), want, "{text:?} from {from}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(is_json(&ok));
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(!is_json(&deep));
        assert!(!is_json(&"[".repeat(1_000_000)));
        assert!(!is_json(&"{\"a\":".repeat(1_000_000)));
    }

    #[test]
    fn strings_unescape_like_serde_json() {
        for text in [r#""plain""#, r#""a\"b\\c\/d\b\f\n\r\t""#, r#""\u00e9\ud83d\ude00x""#, r#""""#] {
            let want: String = serde_json::from_str(text).unwrap();
            assert_eq!(string_value(text).unwrap(), want, "{text}");
        }
        assert!(matches!(string_value(r#""borrowed""#), Some(Cow::Borrowed("borrowed"))));
        for bad in [r#""\ud83d""#, r#""\ude00""#, r#""\ud83dx""#, r#""\x""#, "\"a\u{1}\"", r#""open"#, "7"] {
            assert!(string_value(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn objects_yield_keys_and_value_texts() {
        let mut seen = Vec::new();
        let mut s = Scanner::new(r#" {"a" : [1, {"x":2}] , "b\u0063":"v", "n":null} "#);
        s.object(|s, k| {
            let v = s.value()?;
            seen.push((k.into_owned(), v.to_owned()));
            Ok(())
        })
        .unwrap();
        assert!(s.at_end());
        let want = [("a", r#"[1, {"x":2}]"#), ("bc", r#""v""#), ("n", "null")];
        assert_eq!(seen, want.map(|(k, v)| (k.to_owned(), v.to_owned())));
    }
}
