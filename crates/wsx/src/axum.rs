//! An axum extractor for WebSockets — an HTTP/1.1 upgrade (RFC 6455 §4.2)
//! or an HTTP/2 extended CONNECT (RFC 8441) — on top of the hyper glue in
//! [`crate::hyper`].
//!
//! Contract: extracting [`WebSocketUpgrade`] validates the handshake (a
//! refusal becomes the matching 4xx response); [`WebSocketUpgrade::on_upgrade`]
//! answers (101, or 200 on HTTP/2) — after the [`HandshakePolicy`] given
//! with [`policy`](WebSocketUpgrade::policy) — and runs the callback with a
//! [`WebSocket`] in a task of its own. Route with `any` (not `get`) so the
//! HTTP/2 CONNECT reaches the handler too.
//!
//! ```no_run
//! use axum::{Router, routing::{any, get}, response::Response};
//! async fn echo(upgrade: wsx::axum::WebSocketUpgrade) -> Response {
//!     let policy = wsx::HandshakePolicy::default().subprotocols(["chat.v2"]);
//!     upgrade.policy(&policy).on_upgrade(|mut ws| async move {
//!         while let Some(Ok(message)) = ws.recv().await {
//!             if ws.send(message).await.is_err() { break; }
//!         }
//!     })
//! }
//! let app: Router = Router::new().route("/echo", any(echo)).route("/", get(|| async { "hello" }));
//! ```

use std::future::Future;

use ::axum::body::Body;
use ::axum::extract::FromRequestParts;
use ::axum::response::{IntoResponse, Response};
use http::request::Parts;
use wsx_proto::handshake::ClientOffer;

use crate::config::Config;
use crate::hyper::{Rejection, Upgrade, UpgradedIo, head_of, prepare};
use crate::websocket::WebSocket;
use wsx_proto::handshake::Accept;
use wsx_proto::handshake::HandshakePolicy;

/// The extractor: a valid WebSocket handshake request.
#[derive(Debug)]
pub struct WebSocketUpgrade {
    head: http::Request<()>,
    offer: ClientOffer,
    on_upgrade: Option<::hyper::upgrade::OnUpgrade>,
    config: Config,
    policy: HandshakePolicy,
    accept: Accept,
    subprotocol: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = UpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let head = head_of(&parts.method, &parts.uri, parts.version, &parts.headers);
        // Validate now (so a bad request never reaches the handler); the
        // policy's checks wait for the handler's `policy`.
        let no_policy = HandshakePolicy::default();
        let upgrade = prepare(&head, &mut parts.extensions, &no_policy, Config::default()).map_err(UpgradeRejection)?;
        let (offer, on_upgrade, config) = upgrade.into_parts();
        Ok(Self {
            head,
            offer,
            on_upgrade: Some(on_upgrade),
            config,
            policy: no_policy,
            accept: Accept::default(),
            subprotocol: None,
        })
    }
}

impl WebSocketUpgrade {
    /// The request head (path, query, headers).
    pub fn request(&self) -> &http::Request<()> {
        &self.head
    }

    /// Connection settings.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The handshake policy: origins allowed (others get 403 from
    /// [`on_upgrade`](Self::on_upgrade)), and the subprotocol, the first of
    /// the client's list the policy speaks (a 400 if it requires one and
    /// none is shared).
    pub fn policy(mut self, policy: &HandshakePolicy) -> Self {
        self.policy = policy.clone();
        self.subprotocol = match policy.choose_subprotocol(&self.offer) {
            Ok(protocol) => protocol.map(str::to_owned),
            Err(_) => None,
        };
        if let Some(protocol) = &self.subprotocol {
            self.accept = std::mem::take(&mut self.accept).subprotocol(protocol.clone());
        }
        self
    }

    /// What the client offered (subprotocols, extensions, origin).
    pub fn offer(&self) -> &ClientOffer {
        &self.offer
    }

    /// The subprotocol the [`policy`](Self::policy) selected.
    pub fn selected_protocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// Adds a header to the 101 response (`Set-Cookie`, …).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.accept = std::mem::take(&mut self.accept).header(name, value);
        self
    }

    /// Answers (101, or 200 on HTTP/2) and runs `callback` with the
    /// connection in a new task; or returns the refusal (403 for an origin
    /// not allowed, 400 when the policy requires a subprotocol the client
    /// does not offer).
    pub fn on_upgrade<F, Fut>(mut self, callback: F) -> Response
    where
        F: FnOnce(WebSocket<UpgradedIo>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some(on_upgrade) = self.on_upgrade.take() else {
            return http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let refusal = self.policy.check_origin(&self.offer).and_then(|()| self.policy.choose_subprotocol(&self.offer));
        if let Err(refusal) = refusal {
            let (response, body) = *refusal;
            return UpgradeRejection(Rejection::new(response, body)).into_response();
        }
        let upgrade = Upgrade::from_parts(self.offer, on_upgrade, self.config);
        match upgrade.accept(self.accept) {
            Ok((response, pending)) => {
                tokio::spawn(async move {
                    match pending.await {
                        Ok(ws) => callback(ws).await,
                        Err(error) => tracing::debug!(%error, "upgrade failed"),
                    }
                });
                response.map(Body::from)
            }
            Err(rejection) => UpgradeRejection(rejection).into_response(),
        }
    }
}

/// Why the extractor refused: answered with the handshake's status (400,
/// 426 with `Sec-WebSocket-Version: 13`, 403 …).
#[derive(Debug)]
pub struct UpgradeRejection(Rejection);

impl UpgradeRejection {
    /// The status sent.
    pub fn status(&self) -> http::StatusCode {
        self.0.status()
    }
}

impl IntoResponse for UpgradeRejection {
    fn into_response(self) -> Response {
        self.0.into_response().map(Body::from)
    }
}
