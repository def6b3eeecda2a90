//! The JSON envelope of a room (text frames, RFC 6455 §5.6).
//!
//! Server to client, one JSON object per text message:
//!
//! | `type` | fields | when |
//! |---|---|---|
//! | `welcome` | `room`, `you` `{id, name}`, `members` `[{id, name}]`, `history` (count), `epoch` (16 hex digits), `offset` (the room's latest) | first message after the handshake; the next `history` messages are the room's messages the member has not seen, oldest first |
//! | `gap` | `room`, `epoch`, `from`, `to` | after the welcome of a resumed member, when the room's history no longer holds offsets `from` to `to` (or the epoch changed: `to` is then absent); live, when the room's epoch changes under a member |
//! | `message` | `offset`, `room`, `from` (name), `id` (member id), `text`, `ts` (ms since the Unix epoch), `key` (if the sender gave one) | a member sent text |
//! | `join` / `leave` | `room`, `id`, `name`, `ts` | presence (no offset: not kept, not recovered) |
//! | `error` | `code`, `text` | the server refused what the member sent (the member stays) |
//!
//! Every message a member sends (text or binary) takes the room's next
//! offset: offsets of a room are consecutive, so a client counts binary
//! messages too. Client to server: `{"type":"message","text":"…"}`; any
//! other text is taken as the text itself, so `wsx connect` lines work as
//! they are. Binary messages are relayed to the other members unchanged.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A member as others see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemberInfo {
    /// Unique across nodes: the node id and a counter.
    pub id: String,
    /// The member's name: from its token when authenticated, else the one
    /// it asked for (or `guest-…`).
    pub name: String,
}

/// Everything the server sends as JSON.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum ServerEvent<'a> {
    Welcome {
        room: &'a str,
        you: &'a MemberInfo,
        members: &'a [MemberInfo],
        history: usize,
        epoch: String,
        offset: u64,
    },
    Gap {
        room: &'a str,
        epoch: String,
        from: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        to: Option<u64>,
    },
    Message {
        room: &'a str,
        from: &'a str,
        id: &'a str,
        text: &'a str,
        ts: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        key: Option<&'a str>,
    },
    Join {
        room: &'a str,
        id: &'a str,
        name: &'a str,
        ts: u64,
    },
    Leave {
        room: &'a str,
        id: &'a str,
        name: &'a str,
        ts: u64,
    },
    Error {
        code: &'a str,
        text: &'a str,
    },
}

impl ServerEvent<'_> {
    pub(crate) fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail (string keys, no maps
        // with non-string keys, no custom Serialize).
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// An epoch as clients see it: 16 hex digits (a JSON number would lose
/// precision past 2^53 in JavaScript).
pub(crate) fn epoch_hex(epoch: u64) -> String {
    format!("{epoch:016x}")
}

/// A `message` envelope with its offset in front: `{"offset":N,…}`.
pub(crate) fn stamp(envelope: &str, offset: u64) -> String {
    match envelope.strip_prefix('{') {
        Some(rest) if rest.starts_with('}') => format!("{{\"offset\":{offset}}}"),
        Some(rest) => format!("{{\"offset\":{offset},{rest}"),
        None => envelope.to_owned(),
    }
}

#[derive(Debug, Deserialize)]
struct ClientMessage {
    #[serde(rename = "type")]
    kind: String,
    text: String,
    #[serde(default)]
    key: Option<String>,
}

/// Longest conflation key kept (longer ones are cut).
const MAX_KEY: usize = 64;

/// The text a client's text message carries, and its conflation key.
pub(crate) fn client_message(raw: &str) -> (std::borrow::Cow<'_, str>, Option<String>) {
    match serde_json::from_str::<ClientMessage>(raw) {
        Ok(message) if message.kind == "message" => {
            let key = message.key.map(|key| key.chars().take(MAX_KEY).collect());
            (message.text.into(), key)
        }
        _ => (raw.into(), None),
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamping_puts_the_offset_first() {
        assert_eq!(stamp(r#"{"type":"message"}"#, 7), r#"{"offset":7,"type":"message"}"#);
        assert_eq!(stamp("{}", 1), r#"{"offset":1}"#);
        assert_eq!(stamp("not json", 1), "not json");
    }

    #[test]
    fn client_messages_unwrap_the_envelope_only() {
        let text = |raw| client_message(raw).0.into_owned();
        assert_eq!(text(r#"{"type":"message","text":"hi"}"#), "hi");
        assert_eq!(text(r#"{"type":"other","text":"hi"}"#), r#"{"type":"other","text":"hi"}"#);
        assert_eq!(text("plain"), "plain");
        assert_eq!(client_message(r#"{"type":"message","text":"1","key":"BTC"}"#).1.as_deref(), Some("BTC"));
    }
}
