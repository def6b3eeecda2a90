//! Who a member is: HMAC-signed JSON Web Tokens (RFC 7519, signed with
//! HS256, HS384 or HS512, RFC 7518 §3.2) carrying the user, the rooms it
//! may join and publish to, and an expiry.
//!
//! Claims: `sub` (the user; required), `name` (shown in presence; default
//! `sub`), `exp` (required, seconds since the Unix epoch), `join` and
//! `publish` (room patterns: a name, `*` for every room, or a prefix
//! ending in `*`, e.g. `chat.*`). `publish` is checked only for rooms the
//! member may join.
//!
//! The token comes in the request's `Authorization: Bearer …` header or
//! its `?token=` query parameter (a browser's `WebSocket` cannot set
//! headers). A refusal is a [`Refusal`]: the handshake completes and the
//! connection is closed at once with its code and reason, which a browser
//! can read (a refused handshake shows it nothing):
//!
//! | code | reason starts with | when |
//! |---|---|---|
//! | 4001 | `token required` / `invalid token` | no token and no anonymous access; a bad signature, a malformed token, a wrong algorithm |
//! | 4002 | `token expired` | `exp` is past |
//! | 4003 | `not allowed to join` / `not allowed to publish` | the room is not in `join`; a message sent to a room not in `publish` |

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use wsx::CloseCode;

use crate::{Identity, JoinParams};

/// Close code: no valid token (RFC 6455 §7.4.2: 4000–4999 are the application's).
pub const UNAUTHORIZED: u16 = 4001;
/// Close code: the token has expired.
pub const TOKEN_EXPIRED: u16 = 4002;
/// Close code: the token does not allow this room or this publication.
pub const FORBIDDEN: u16 = 4003;

/// The claims of a member's token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: String,
    /// The name others see (default: `sub`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Expiry, in seconds since the Unix epoch.
    pub exp: u64,
    /// Rooms the member may join.
    #[serde(default)]
    pub join: Vec<String>,
    /// Rooms the member may publish to.
    #[serde(default)]
    pub publish: Vec<String>,
}

/// Rooms a member may join, or publish to: names, `*`, or prefixes ending
/// in `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSet(Vec<String>);

impl RoomSet {
    /// Every room.
    pub fn all() -> Self {
        Self(vec!["*".to_owned()])
    }

    /// No room.
    pub fn none() -> Self {
        Self(Vec::new())
    }

    /// These patterns.
    pub fn of(patterns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self(patterns.into_iter().map(Into::into).collect())
    }

    /// Whether `room` matches one of the patterns.
    pub fn allows(&self, room: &str) -> bool {
        self.0.iter().any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => room.starts_with(prefix),
            None => pattern == room,
        })
    }
}

/// Why a member is turned away: a close code and its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The close code (4001, 4002, 4003).
    pub code: CloseCode,
    /// The reason, sent in the Close frame (at most 123 bytes).
    pub reason: String,
}

impl Refusal {
    pub(crate) fn new(code: u16, reason: impl Into<String>) -> Self {
        let mut reason: String = reason.into();
        // RFC 6455 §5.5: a control frame's payload is at most 125 bytes,
        // two of them the code.
        while reason.len() > 123 {
            reason.pop();
        }
        Self { code: CloseCode::from(code), reason }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", u16::from(self.code), self.reason)
    }
}

impl std::error::Error for Refusal {}

/// Checks members' tokens.
#[derive(Clone)]
pub struct TokenAuth {
    key: DecodingKey,
    validation: Validation,
    anonymous: bool,
}

impl std::fmt::Debug for TokenAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAuth").field("anonymous", &self.anonymous).finish_non_exhaustive()
    }
}

impl TokenAuth {
    /// Tokens signed with `secret` (HS256, HS384 or HS512); no anonymous
    /// access; 5 s of leeway on `exp`.
    pub fn hmac(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self { key: DecodingKey::from_secret(secret), validation, anonymous: false }
    }

    /// Also let members without a token in, as guests with the name they
    /// ask for, who may join and publish anywhere.
    pub fn allow_anonymous(mut self, anonymous: bool) -> Self {
        self.anonymous = anonymous;
        self
    }

    /// The identity of a request: from its token, or a guest when it has
    /// none and anonymous access is on.
    pub fn identify(&self, request: &http::Request<()>) -> Result<Identity, Refusal> {
        let params = JoinParams::from_query(request.uri().query());
        let bearer = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim);
        match bearer.or(params.token.as_deref()) {
            Some(token) => self.verify(token),
            None if self.anonymous => Ok(Identity::guest(params.name)),
            None => Err(Refusal::new(UNAUTHORIZED, "token required")),
        }
    }

    /// The identity a token carries.
    pub fn verify(&self, token: &str) -> Result<Identity, Refusal> {
        match jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation) {
            Ok(data) => {
                let claims = data.claims;
                let name: String = claims.name.unwrap_or_else(|| claims.sub.clone());
                let name: String = name.chars().filter(|c| !c.is_control()).take(32).collect();
                Ok(Identity {
                    name: Some(name),
                    user: Some(claims.sub),
                    join: RoomSet::of(claims.join),
                    publish: RoomSet::of(claims.publish),
                })
            }
            Err(error) => Err(match error.kind() {
                ErrorKind::ExpiredSignature => Refusal::new(TOKEN_EXPIRED, "token expired"),
                kind => Refusal::new(UNAUTHORIZED, format!("invalid token: {kind:?}")),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests: a failure is the test's failure")]

    use jsonwebtoken::{EncodingKey, Header, encode};

    use super::*;

    fn token(secret: &[u8], exp: u64) -> String {
        let claims = Claims {
            sub: "u1".into(),
            name: Some("Ada".into()),
            exp,
            join: vec!["lobby".into(), "chat.*".into()],
            publish: vec!["lobby".into()],
        };
        encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    #[test]
    fn patterns() {
        let rooms = RoomSet::of(["lobby", "chat.*"]);
        assert!(rooms.allows("lobby") && rooms.allows("chat.a") && rooms.allows("chat."));
        assert!(!rooms.allows("lobby2") && !rooms.allows("chat") && !rooms.allows("x"));
        assert!(RoomSet::all().allows("anything") && !RoomSet::none().allows("lobby"));
    }

    #[test]
    fn tokens_are_verified() {
        let auth = TokenAuth::hmac(b"secret");
        let identity = auth.verify(&token(b"secret", now() + 60)).unwrap();
        assert_eq!((identity.name.as_deref(), identity.user.as_deref()), (Some("Ada"), Some("u1")));
        assert!(identity.join.allows("chat.x") && !identity.publish.allows("chat.x"));
        assert_eq!(auth.verify(&token(b"secret", now() - 60)).unwrap_err().code, CloseCode::from(TOKEN_EXPIRED));
        let wrong = auth.verify(&token(b"other", now() + 60)).unwrap_err();
        assert_eq!(
            (wrong.code, wrong.reason.as_str()),
            (CloseCode::from(UNAUTHORIZED), "invalid token: InvalidSignature")
        );
        assert_eq!(auth.verify("not.a.token").unwrap_err().code, CloseCode::from(UNAUTHORIZED));
    }

    #[test]
    fn requests_carry_the_token_in_a_header_or_the_query() {
        let auth = TokenAuth::hmac(b"secret");
        let valid = token(b"secret", now() + 60);
        let request = http::Request::get(format!("/rooms/lobby?token={valid}")).body(()).unwrap();
        assert_eq!(auth.identify(&request).unwrap().user.as_deref(), Some("u1"));
        let request =
            http::Request::get("/rooms/lobby").header("authorization", format!("Bearer {valid}")).body(()).unwrap();
        assert_eq!(auth.identify(&request).unwrap().user.as_deref(), Some("u1"));
        let bare = http::Request::get("/rooms/lobby?name=eve").body(()).unwrap();
        assert_eq!(auth.identify(&bare).unwrap_err(), Refusal::new(UNAUTHORIZED, "token required"));
        let guest = auth.allow_anonymous(true).identify(&bare).unwrap();
        assert_eq!((guest.name.as_deref(), guest.user), (Some("eve"), None));
    }
}
