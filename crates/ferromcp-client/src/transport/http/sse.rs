//! A small Server-Sent Events parser over a byte stream (the WHATWG event-stream
//! format): `data`, `id`, `event` and `retry` fields, comments, CRLF or LF line ends.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

/// The longest accepted event (all its lines together), in bytes.
const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// One dispatched event. An event may carry only an `id` and/or `retry` (a priming
/// event): `data` is then empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `id` field, if the event had one.
    pub(crate) id: Option<String>,
    /// The `event` field, if any.
    pub(crate) event: Option<String>,
    /// The `data` lines joined with `\n`.
    pub(crate) data: String,
    /// The `retry` field, if it was a valid number of milliseconds.
    pub(crate) retry: Option<Duration>,
}

/// Reads events from a stream of byte chunks.
pub(crate) struct SseReader<S> {
    stream: S,
    buf: Vec<u8>,
    cur: SseEvent,
    has_field: bool,
    data_seen: bool,
    ended: bool,
}

impl<S, E> SseReader<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    pub(crate) fn new(stream: S) -> Self {
        SseReader {
            stream,
            buf: Vec::new(),
            cur: SseEvent::default(),
            has_field: false,
            data_seen: false,
            ended: false,
        }
    }

    /// The next event; `None` when the stream ended, `Some(Err)` when it broke.
    pub(crate) async fn next(&mut self) -> Option<Result<SseEvent, String>> {
        loop {
            while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if let Some(ev) = self.line(&line) {
                    return Some(Ok(ev));
                }
            }
            if self.ended {
                return None;
            }
            match self.stream.next().await {
                Some(Ok(chunk)) => {
                    if self.buf.len() + chunk.len() + self.cur.data.len() > MAX_EVENT_BYTES {
                        self.ended = true;
                        return Some(Err(format!(
                            "an SSE event is longer than {MAX_EVENT_BYTES} bytes"
                        )));
                    }
                    self.buf.extend_from_slice(&chunk);
                }
                Some(Err(e)) => {
                    self.ended = true;
                    return Some(Err(e.to_string()));
                }
                None => {
                    // A last event without its blank line is dropped, as the format says.
                    self.ended = true;
                    return None;
                }
            }
        }
    }

    /// Handles one line; returns an event when the line is blank and fields were seen.
    fn line(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            if !self.has_field {
                return None;
            }
            self.has_field = false;
            self.data_seen = false;
            return Some(std::mem::take(&mut self.cur));
        }
        if line[0] == b':' {
            return None;
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (text.as_ref(), ""),
        };
        match field {
            "data" => {
                if self.data_seen {
                    self.cur.data.push('\n');
                }
                self.cur.data.push_str(value);
                self.data_seen = true;
            }
            "id" if !value.contains('\0') => self.cur.id = Some(value.to_owned()),
            "event" => self.cur.event = Some(value.to_owned()),
            "retry" => {
                if let Ok(ms) = value.parse::<u64>() {
                    self.cur.retry = Some(Duration::from_millis(ms));
                }
            }
            _ => return None,
        }
        self.has_field = true;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(
        chunks: &[&'static str],
    ) -> SseReader<impl Stream<Item = Result<Bytes, String>> + Unpin> {
        let items: Vec<Result<Bytes, String>> = chunks
            .iter()
            .map(|c| Ok(Bytes::from_static(c.as_bytes())))
            .collect();
        SseReader::new(futures_util::stream::iter(items))
    }

    #[tokio::test]
    async fn events_split_across_chunks_and_fields() {
        let mut r = reader(&[
            "id: 1\nretry: 250\ndata: \n\n: keep-alive\n\nda",
            "ta: {\"a\":1}\r\nid: 2\r\n\r\nevent: message\ndata: x\ndata: y\n\n",
            "data: unterminated",
        ]);
        let first = r.next().await.and_then(Result::ok).unwrap_or_default();
        assert_eq!(first.id.as_deref(), Some("1"));
        assert_eq!(first.retry, Some(Duration::from_millis(250)));
        assert_eq!(first.data, "");
        let second = r.next().await.and_then(Result::ok).unwrap_or_default();
        assert_eq!(second.data, "{\"a\":1}");
        assert_eq!(second.id.as_deref(), Some("2"));
        let third = r.next().await.and_then(Result::ok).unwrap_or_default();
        assert_eq!(third.data, "x\ny");
        assert_eq!(third.event.as_deref(), Some("message"));
        assert!(r.next().await.is_none());
    }
}
