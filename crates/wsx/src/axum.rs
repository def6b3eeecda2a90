//! An axum extractor for WebSocket upgrades (RFC 6455 §4.2), on top of the
//! hyper glue in [`crate::hyper`].
//!
//! Contract: extracting [`WebSocketUpgrade`] validates the handshake (a
//! refusal becomes the matching 4xx response); [`WebSocketUpgrade::on_upgrade`]
//! answers 101 — after the Origin allow-list of its [`Config`] — and runs the
//! callback with a [`WebSocket`] in a task of its own.
//!
//! ```no_run
//! use axum::{Router, routing::get, response::Response};
//! async fn echo(upgrade: wsx::axum::WebSocketUpgrade) -> Response {
//!     upgrade.protocols(["chat.v2"]).on_upgrade(|mut ws| async move {
//!         while let Some(Ok(message)) = ws.recv().await {
//!             if ws.send(message).await.is_err() { break; }
//!         }
//!     })
//! }
//! let app: Router = Router::new().route("/echo", get(echo)).route("/", get(|| async { "hello" }));
//! ```

use std::future::Future;

use ::axum::body::Body;
use ::axum::extract::FromRequestParts;
use ::axum::response::{IntoResponse, Response};
use http::request::Parts;
use wsx_proto::handshake::ClientOffer;

use crate::config::Config;
use crate::hyper::{Rejection, UpgradedIo, head_of, prepare};
use crate::policy::select_subprotocol;
use crate::server::Accept;
use crate::websocket::WebSocket;

/// The extractor: a valid WebSocket handshake request.
#[derive(Debug)]
pub struct WebSocketUpgrade {
    head: http::Request<()>,
    offer: ClientOffer,
    on_upgrade: Option<::hyper::upgrade::OnUpgrade>,
    config: Config,
    accept: Accept,
    subprotocol: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = UpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let head = head_of(&parts.method, &parts.uri, parts.version, &parts.headers);
        // Validate now (so a bad request never reaches the handler); the
        // Origin check waits for the handler's `Config`.
        let upgrade = prepare(&head, &mut parts.extensions, Config::default()).map_err(UpgradeRejection)?;
        let (offer, on_upgrade, config) = upgrade.into_parts();
        Ok(Self { head, offer, on_upgrade: Some(on_upgrade), config, accept: Accept::default(), subprotocol: None })
    }
}

impl WebSocketUpgrade {
    /// The request head (path, query, headers).
    pub fn request(&self) -> &http::Request<()> {
        &self.head
    }

    /// Connection settings, including [`Config::allowed_origins`].
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Selects the first subprotocol of the client's list that is in
    /// `supported`; none is selected if there is no match.
    pub fn protocols<I, P>(mut self, supported: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<str>,
    {
        let supported: Vec<P> = supported.into_iter().collect();
        self.subprotocol = select_subprotocol(&self.offer.subprotocols, &supported).map(str::to_owned);
        if let Some(protocol) = &self.subprotocol {
            self.accept = std::mem::take(&mut self.accept).subprotocol(protocol.clone());
        }
        self
    }

    /// What the client offered (subprotocols, extensions, origin).
    pub fn offer(&self) -> &ClientOffer {
        &self.offer
    }

    /// The subprotocol [`protocols`](Self::protocols) selected.
    pub fn selected_protocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// Adds a header to the 101 response (`Set-Cookie`, …).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.accept = std::mem::take(&mut self.accept).header(name, value);
        self
    }

    /// Answers 101 and runs `callback` with the connection in a new task;
    /// or returns the refusal (403 for an origin not allowed).
    pub fn on_upgrade<F, Fut>(mut self, callback: F) -> Response
    where
        F: FnOnce(WebSocket<UpgradedIo>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some(on_upgrade) = self.on_upgrade.take() else {
            return http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let mut extensions = http::Extensions::new();
        extensions.insert(on_upgrade);
        let upgrade = match prepare(&self.head, &mut extensions, self.config) {
            Ok(upgrade) => upgrade,
            Err(rejection) => return UpgradeRejection(rejection).into_response(),
        };
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
