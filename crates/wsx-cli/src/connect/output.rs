//! What `wsx connect` prints. Messages go to stdout, one per line; status
//! (connected, pings, the close, errors) to stderr. With `--jsonl` every
//! event is one JSON object on stdout instead, with an RFC 3339 timestamp.
//!
//! Plain output keeps one message on one line: in text, and in binary shown
//! `escaped`, a backslash is `\\`, newline `\n`, carriage return `\r`, tab
//! `\t`, another control character `\u{hex}`, and (binary only) a byte that
//! is not UTF-8 `\xhh`. On a terminal, received messages start with `< `.

use std::io::Write;
use std::time::SystemTime;

use anstream::{eprintln, println};
use base64::Engine as _;
use clap::ValueEnum;
use serde_json::{Value, json};
use wsx::{CloseFrame, Message};

use crate::term;

/// How binary messages are shown (`--show-binary`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BinaryFormat {
    /// UTF-8 where it is valid, `\xhh` for other bytes, control characters escaped.
    Escaped,
    /// Two lower-case hex digits per byte.
    Hex,
    /// Standard base64 with padding (RFC 4648 §4).
    Base64,
    /// Invalid UTF-8 replaced by U+FFFD, control characters escaped.
    Utf8Lossy,
}

/// Writes events in the chosen format.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Printer {
    /// One JSON object per event on stdout.
    pub(crate) jsonl: bool,
    /// How binary payloads are shown (plain output only).
    pub(crate) binary: BinaryFormat,
    /// Show received pings and pongs (always shown with `jsonl`).
    pub(crate) show_ping_pong: bool,
    /// Received messages start with `< ` (stdout is a terminal).
    pub(crate) marker: bool,
}

impl Printer {
    /// A received message.
    pub(crate) fn message(&self, message: &Message) {
        if self.jsonl {
            let event = match message {
                Message::Text(text) => json!({"event": "text", "data": text.as_str()}),
                Message::Binary(data) => json!({"event": "binary", "base64": base64(data)}),
                Message::Ping(data) => json!({"event": "ping", "base64": base64(data)}),
                Message::Pong(data) => json!({"event": "pong", "base64": base64(data)}),
                // The close is reported once, by `closed`, with who started it.
                Message::Close(_) => return,
            };
            return self.json(event);
        }
        match message {
            Message::Text(text) => self.line(&escape(text.as_bytes())),
            Message::Binary(data) => self.line(&self.show_binary(data)),
            Message::Ping(data) | Message::Pong(data) if self.show_ping_pong => {
                let kind = if matches!(message, Message::Ping(_)) { "ping" } else { "pong" };
                let dim = term::DIM;
                eprintln!("{dim}< {kind} {}{dim:#}", self.show_binary(data));
            }
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => {}
        }
    }

    fn line(&self, text: &str) {
        if self.marker {
            let style = term::INCOMING;
            println!("{style}<{style:#} {text}");
        } else {
            println!("{text}");
        }
    }

    fn show_binary(&self, data: &[u8]) -> String {
        match self.binary {
            BinaryFormat::Escaped => escape(data),
            BinaryFormat::Hex => data.iter().map(|b| format!("{b:02x}")).collect(),
            BinaryFormat::Base64 => base64(data),
            BinaryFormat::Utf8Lossy => escape(String::from_utf8_lossy(data).as_bytes()),
        }
    }

    /// The connection is open.
    pub(crate) fn connected(
        &self,
        url: &str,
        transport: &str,
        subprotocol: Option<&str>,
        extensions: &str,
        verbose: bool,
    ) {
        if self.jsonl {
            let event = json!({"event": "open", "url": url, "transport": transport, "subprotocol": subprotocol,
                "extensions": extensions});
            return self.json(event);
        }
        let good = term::GOOD;
        match subprotocol {
            Some(protocol) => eprintln!("{good}connected{good:#} (subprotocol: {protocol})"),
            None => eprintln!("{good}connected{good:#}"),
        }
        if verbose {
            eprintln!("transport: {transport}");
            eprintln!("subprotocol: {}", subprotocol.unwrap_or("none"));
            eprintln!("extensions: {}", if extensions.is_empty() { "none" } else { extensions });
        }
    }

    /// The connection ended: the Close frame received (if one was) and
    /// who started the closing handshake.
    pub(crate) fn closed(&self, received: Option<&Option<CloseFrame>>, by_us: bool) {
        let initiator = if by_us { "client" } else { "server" };
        if self.jsonl {
            let (code, reason) = match received {
                Some(Some(frame)) => (Value::from(frame.code.as_u16()), Value::from(frame.reason.as_str())),
                Some(None) => (Value::from(1005), Value::from("")),
                None => (Value::from(1006), Value::from("")),
            };
            return self.json(json!({"event": "close", "code": code, "reason": reason, "initiator": initiator}));
        }
        match received {
            Some(Some(frame)) => {
                let style = if frame.code.as_u16() <= 1001 { term::GOOD } else { term::BAD };
                eprintln!("{style}closed: {} {:?}{style:#}", frame.code, frame.reason.as_str());
            }
            Some(None) => eprintln!("{}closed: no status code{:#}", term::GOOD, term::GOOD),
            None => eprintln!("{}closed abnormally (1006): no Close frame{:#}", term::BAD, term::BAD),
        }
    }

    /// Something to tell the user (a rejected line, `/help`, reconnecting).
    pub(crate) fn note(&self, text: &str) {
        if self.jsonl {
            return self.json(json!({"event": "note", "message": text}));
        }
        let dim = term::DIM;
        eprintln!("{dim}{text}{dim:#}");
    }

    /// An error; `kind` is a stable word for scripts (see the exit statuses).
    pub(crate) fn error(&self, kind: &str, text: &str) {
        if self.jsonl {
            return self.json(json!({"event": "error", "kind": kind, "message": text}));
        }
        let bad = term::BAD;
        eprintln!("{bad}wsx connect:{bad:#} {text}");
    }

    fn json(&self, mut event: Value) {
        let ts = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        if let Value::Object(fields) = &mut event {
            fields.insert("ts".into(), Value::from(ts));
        }
        let mut stdout = std::io::stdout().lock();
        // A closed stdout (`| head`) is not worth a panic; the session ends
        // with the connection.
        let _ = writeln!(stdout, "{event}").and_then(|()| stdout.flush());
    }
}

fn base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Printable text with control characters (and invalid UTF-8, as `\xhh`)
/// escaped, so one message is always one line.
pub(crate) fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for ch in chunk.valid().chars() {
            match ch {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_characters_and_invalid_utf8() {
        assert_eq!(escape(b"a\nb\tc\x00\\"), "a\\nb\\tc\\u{0}\\\\");
        assert_eq!(escape("héllo".as_bytes()), "héllo");
        assert_eq!(escape(b"\xff\xfe"), "\\xff\\xfe");
    }

    #[test]
    fn binary_formats() {
        let printer = |binary| Printer { jsonl: false, binary, show_ping_pong: false, marker: false };
        let data = b"\x00hi\xff\n";
        assert_eq!(printer(BinaryFormat::Escaped).show_binary(data), "\\u{0}hi\\xff\\n");
        assert_eq!(printer(BinaryFormat::Hex).show_binary(data), "006869ff0a");
        assert_eq!(printer(BinaryFormat::Base64).show_binary(data), "AGhp/wo=");
        assert_eq!(printer(BinaryFormat::Utf8Lossy).show_binary(data), "\\u{0}hi\u{fffd}\\n");
    }
}
