//! Server-Sent Events, the receiving side: bytes in, complete events out. Pure, so the
//! framing is tested without a socket.

/// One event: its `event:` name (`message` when absent) and its `data:` lines joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub name: String,
    pub data: String,
}

/// Collects bytes as they arrive and yields each event once its blank line has come.
#[derive(Debug, Default)]
pub struct SseParser {
    buffer: Vec<u8>,
}

impl SseParser {
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Add bytes; returns the events they completed, in order. Comments (`:` lines, the
    /// keep-alives) and events without data are skipped.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some((end, separator)) = find_blank_line(&self.buffer) {
            let block = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
            self.buffer.drain(..end + separator);
            if let Some(event) = parse_block(&block) {
                events.push(event);
            }
        }
        events
    }
}

/// Where the first blank line starts, and how long the separator is.
fn find_blank_line(buffer: &[u8]) -> Option<(usize, usize)> {
    for i in 0..buffer.len() {
        for separator in [&b"\r\n\r\n"[..], b"\n\n", b"\r\r"] {
            if buffer[i..].starts_with(separator) {
                return Some((i, separator.len()));
            }
        }
    }
    None
}

fn parse_block(block: &str) -> Option<SseEvent> {
    let mut name = String::from("message");
    let mut data: Vec<&str> = Vec::new();
    for line in block.lines() {
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => name = value.to_string(),
            "data" => data.push(value),
            _ => {}
        }
    }
    (!data.is_empty()).then(|| SseEvent {
        name,
        data: data.join("\n"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_come_out_whole_and_keep_alives_are_skipped() {
        let mut parser = SseParser::new();
        assert!(parser.push(b"event: status\ndata: {\"a\"").is_empty());
        let events = parser.push(b":1}\n\n: keep-alive\n\ndata: x\r\ndata: y\r\n\r\n");
        assert_eq!(
            events,
            [
                SseEvent {
                    name: "status".into(),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    name: "message".into(),
                    data: "x\ny".into()
                }
            ]
        );
        assert!(parser.push(b"data: unfinished").is_empty());
    }
}
