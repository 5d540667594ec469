//! Fuzzes RFC 6570 URI template parsing and matching
//! (`ferromcp_core::registry::UriTemplate`). The input is split at the first NUL byte
//! (or, without one, in the middle): the first part is the template, the rest the URI.

#![no_main]

use ferromcp_core::registry::UriTemplate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (template, uri) = match text.split_once('\0') {
        Some(pair) => pair,
        None => {
            let mut mid = text.len() / 2;
            while !text.is_char_boundary(mid) {
                mid -= 1;
            }
            text.split_at(mid)
        }
    };
    let _ = UriTemplate::parse(template).map(|t| t.matches(uri));
});
