//! The JSON envelope of `/rooms/{name}` (text frames, RFC 6455 §5.6).
//!
//! Server to client, one JSON object per text message:
//!
//! | `type` | fields | when |
//! |---|---|---|
//! | `welcome` | `room`, `you` `{id, name}`, `members` `[{id, name}]`, `history` (count) | first message after the handshake; the next `history` messages are the room's recent messages, oldest first |
//! | `message` | `room`, `from` (name), `id` (member id), `text`, `ts` (ms since the Unix epoch) | a member sent text |
//! | `join` / `leave` | `room`, `id`, `name`, `ts` | presence |
//!
//! Client to server: `{"type":"message","text":"…"}`; any other text is
//! taken as the text itself, so `wsx connect` lines work as they are.
//! Binary messages are relayed to the other members unchanged.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A member as others see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct MemberInfo {
    /// Unique across nodes: the node id and a counter.
    pub(crate) id: String,
    /// The name the member picked (or `guest-…`).
    pub(crate) name: String,
}

/// Everything the server sends as JSON.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum ServerEvent<'a> {
    Welcome { room: &'a str, you: &'a MemberInfo, members: &'a [MemberInfo], history: usize },
    Message { room: &'a str, from: &'a str, id: &'a str, text: &'a str, ts: u64 },
    Join { room: &'a str, id: &'a str, name: &'a str, ts: u64 },
    Leave { room: &'a str, id: &'a str, name: &'a str, ts: u64 },
}

impl ServerEvent<'_> {
    pub(crate) fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail (string keys, no maps
        // with non-string keys, no custom Serialize).
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[derive(Debug, Deserialize)]
struct ClientMessage {
    #[serde(rename = "type")]
    kind: String,
    text: String,
}

/// The text a client's text message carries.
pub(crate) fn client_text(raw: &str) -> std::borrow::Cow<'_, str> {
    match serde_json::from_str::<ClientMessage>(raw) {
        Ok(message) if message.kind == "message" => message.text.into(),
        _ => raw.into(),
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
