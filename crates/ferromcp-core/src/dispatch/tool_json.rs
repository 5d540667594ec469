//! A direct JSON writer for `CallToolResult`, the result of every tool call.
//!
//! It writes exactly the bytes of the protocol type's own `Serialize` (the tests compare
//! them), but writes plain text blocks itself instead of going through serde's
//! internally tagged enum machinery, which was the largest single cost in serializing a
//! small tool result. Other content blocks, structured content and `_meta` still go
//! through `Serialize`.

use serde::Serialize;

use crate::protocol::{CallToolResult, ContentBlock};

fn field(buf: &mut Vec<u8>, first: &mut bool, name: &str) {
    if !std::mem::take(first) {
        buf.push(b',');
    }
    buf.push(b'"');
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b"\":");
}

fn content_block(buf: &mut Vec<u8>, block: &ContentBlock) -> serde_json::Result<()> {
    match block {
        ContentBlock::Text(t) if t.meta.is_none() && t.annotations.is_none() => {
            buf.extend_from_slice(br#"{"type":"text","text":"#);
            serde_json::to_writer(&mut *buf, &t.text)?;
            buf.push(b'}');
            Ok(())
        }
        other => serde_json::to_writer(buf, other),
    }
}

/// Appends `r` as a JSON object, byte for byte what `serde_json::to_writer(buf, r)` writes.
pub(crate) fn write(buf: &mut Vec<u8>, r: &CallToolResult) -> serde_json::Result<()> {
    let mut first = true;
    buf.push(b'{');
    if let Some(t) = &r.result_type {
        field(buf, &mut first, "resultType");
        serde_json::to_writer(&mut *buf, t)?;
    }
    field(buf, &mut first, "content");
    buf.push(b'[');
    for (i, block) in r.content.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        content_block(buf, block)?;
    }
    buf.push(b']');
    write_opt(buf, &mut first, "structuredContent", r.structured_content.as_ref())?;
    write_opt(buf, &mut first, "isError", r.is_error.as_ref())?;
    write_opt(buf, &mut first, "_meta", r.meta.as_ref())?;
    buf.push(b'}');
    Ok(())
}

fn write_opt<T: Serialize>(buf: &mut Vec<u8>, first: &mut bool, name: &str, v: Option<&T>) -> serde_json::Result<()> {
    if let Some(v) = v {
        field(buf, first, name);
        serde_json::to_writer(&mut *buf, v)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::protocol::{Annotations, Role};

    fn results() -> Vec<CallToolResult> {
        let text = |s: &str| ContentBlock::text(s);
        let mut annotated = rmcp::model::TextContent::new("noted");
        let mut notes = Annotations::default();
        notes.audience = Some(vec![Role::User]);
        notes.priority = Some(0.5);
        annotated.annotations = Some(notes);
        let mut with_meta = CallToolResult::success(vec![text("m")]);
        with_meta.meta = serde_json::from_value(json!({ "k": [1, "two"] })).ok();
        let mut structured = CallToolResult::success(vec![text("7")]);
        structured.structured_content = Some(json!({ "result": 7, "nested": { "a": [true, null, 1.5] } }));
        let mut no_type = CallToolResult::error(vec![text("bad \"quote\" \\ \n\u{1} é 😀")]);
        no_type.result_type = None;
        let mut empty = CallToolResult::success(Vec::new());
        empty.result_type = None;
        vec![
            CallToolResult::success(vec![text("plain")]),
            CallToolResult::success(vec![text("a"), text("b"), ContentBlock::Text(annotated)]),
            CallToolResult::success(vec![ContentBlock::image("aGk=", "image/png"), text("after")]),
            with_meta,
            structured,
            no_type,
            empty,
        ]
    }

    #[test]
    fn writes_the_same_bytes_as_serialize() {
        for r in results() {
            let want = serde_json::to_vec(&r).unwrap();
            let mut got = Vec::new();
            write(&mut got, &r).unwrap();
            assert_eq!(String::from_utf8(got).unwrap(), String::from_utf8(want).unwrap());
        }
    }
}
