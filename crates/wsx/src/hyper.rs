//! WebSockets inside a hyper 1.x server, so they share a port with
//! ordinary HTTP routes: an HTTP/1.1 upgrade (RFC 6455 §4.2) or an HTTP/2
//! extended CONNECT (RFC 8441).
//!
//! Contract: [`upgrade`] checks the request with
//! [`wsx_proto::handshake::validate_request`] (HTTP/1.1) or
//! [`wsx_proto::handshake::validate_extended_connect`] (HTTP/2) and the
//! [`HandshakePolicy`]; [`Upgrade::accept`] gives the response for hyper to
//! send (101, or 200 on HTTP/2) and a [`PendingWebSocket`] that resolves,
//! once hyper hands over the connection or stream, to a [`WebSocket`] built
//! by [`WebSocket::from_upgraded`] — our handshake parser is not involved.
//! Serve HTTP/1.1 with `hyper::server::conn::http1::Builder::serve_connection(…)
//! .with_upgrades()`, HTTP/2 with `hyper::server::conn::http2::Builder`
//! and `enable_connect_protocol()`.

use bytes::Bytes;
use http::{Extensions, HeaderValue, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use wsx_proto::Negotiated;
use wsx_proto::handshake::{ClientOffer, error_response, validate_extended_connect, validate_request};

use crate::config::Config;
use crate::error::Error;
use crate::websocket::WebSocket;
use wsx_proto::handshake::Accept;
use wsx_proto::handshake::HandshakePolicy;

/// The connection hyper hands over after the 101.
pub type UpgradedIo = TokioIo<::hyper::upgrade::Upgraded>;

/// Whether `request` asks for a WebSocket (`Upgrade: websocket`, or an
/// HTTP/2 CONNECT with `:protocol websocket`); a quick test for routing,
/// not a validation.
pub fn is_upgrade_request<B>(request: &Request<B>) -> bool {
    if let Some(protocol) = request.extensions().get::<::hyper::ext::Protocol>() {
        return request.method() == http::Method::CONNECT && protocol.as_str() == "websocket";
    }
    request
        .headers()
        .get_all(http::header::UPGRADE)
        .iter()
        .any(|value| value.to_str().is_ok_and(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case("websocket"))))
}

/// A refused upgrade: the HTTP response to send instead of 101.
#[derive(Debug)]
pub struct Rejection {
    // Boxed: a whole response head is large, and most results are `Ok`.
    response: Box<Response<()>>,
    body: Bytes,
}

impl Rejection {
    pub(crate) fn new(response: Response<()>, body: Bytes) -> Self {
        Self { response: Box::new(response), body }
    }

    /// The status (400, 403, 426 …).
    pub fn status(&self) -> StatusCode {
        self.response.status()
    }

    /// The response, with a `Bytes` body (map it to your body type).
    pub fn into_response(self) -> Response<Bytes> {
        let (mut parts, ()) = (*self.response).into_parts();
        parts.headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(self.body.len()));
        Response::from_parts(parts, self.body)
    }
}

/// A valid WebSocket handshake request, waiting for the application's
/// decision.
#[derive(Debug)]
pub struct Upgrade {
    offer: ClientOffer,
    on_upgrade: ::hyper::upgrade::OnUpgrade,
    config: Config,
}

/// Checks `request` as an opening handshake (an HTTP/1.1 upgrade, or an
/// HTTP/2 extended CONNECT) and against `policy` (origins; a required
/// subprotocol), and takes hyper's upgrade handle from it.
///
/// ```no_run
/// use http_body_util::Full;
/// async fn handle(mut request: http::Request<hyper::body::Incoming>) -> http::Response<Full<bytes::Bytes>> {
///     let policy = wsx::HandshakePolicy::default();
///     let upgrade = match wsx::hyper::upgrade(&mut request, &policy, wsx::Config::default()) {
///         Ok(upgrade) => upgrade,
///         Err(rejection) => return rejection.into_response().map(Full::new),
///     };
///     match upgrade.accept(wsx::Accept::default()) {
///         Ok((response, pending)) => {
///             tokio::spawn(async move {
///                 if let Ok(mut ws) = pending.await {
///                     while let Some(Ok(message)) = ws.recv().await {
///                         if ws.send(message).await.is_err() { break; }
///                     }
///                 }
///             });
///             response.map(Full::new)
///         }
///         Err(rejection) => rejection.into_response().map(Full::new),
///     }
/// }
/// ```
///
/// # Errors
/// A [`Rejection`] with the status of the first violation (400, 426, 501,
/// 403 for a refused origin, 500 if the connection cannot be upgraded).
pub fn upgrade<B>(request: &mut Request<B>, policy: &HandshakePolicy, config: Config) -> Result<Upgrade, Rejection> {
    let head = head_of(request.method(), request.uri(), request.version(), request.headers());
    prepare(&head, request.extensions_mut(), policy, config)
}

/// [`upgrade`] on a request head and its extensions (for frameworks that
/// split requests into parts).
pub(crate) fn prepare(
    head: &Request<()>,
    extensions: &mut Extensions,
    policy: &HandshakePolicy,
    config: Config,
) -> Result<Upgrade, Rejection> {
    let offer = validate(head, extensions).map_err(|error| {
        let (response, body) = error_response(&error);
        Rejection::new(response, body)
    })?;
    policy.check_origin(&offer).map_err(|refusal| Rejection::new(refusal.0, refusal.1))?;
    let Some(on_upgrade) = extensions.remove::<::hyper::upgrade::OnUpgrade>() else {
        // hyper stores the handle only when the connection can be upgraded
        // (HTTP/1.1 served `with_upgrades`).
        let mut response = Response::new(());
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        return Err(Rejection::new(response, Bytes::from_static(b"connection cannot be upgraded\n")));
    };
    Ok(Upgrade { offer, on_upgrade, config })
}

/// The offer of an HTTP/1.1 upgrade, or of an HTTP/2 extended CONNECT
/// (whose `:protocol` hyper keeps in the extensions).
pub(crate) fn validate(
    head: &Request<()>,
    extensions: &Extensions,
) -> Result<ClientOffer, wsx_proto::handshake::HandshakeError> {
    let protocol = extensions.get::<::hyper::ext::Protocol>();
    if protocol.is_some() || head.method() == http::Method::CONNECT {
        validate_extended_connect(head, protocol.map(|p| p.as_str()))
    } else {
        validate_request(head)
    }
}

/// A copy of a request's head, for the validators that work on `Request<()>`.
pub(crate) fn head_of(
    method: &http::Method,
    uri: &http::Uri,
    version: http::Version,
    headers: &http::HeaderMap,
) -> Request<()> {
    let mut head = Request::new(());
    *head.method_mut() = method.clone();
    *head.uri_mut() = uri.clone();
    *head.version_mut() = version;
    *head.headers_mut() = headers.clone();
    head
}

impl Upgrade {
    /// What the client offered (subprotocols, extensions, origin).
    pub fn offer(&self) -> &ClientOffer {
        &self.offer
    }

    pub(crate) fn into_parts(self) -> (ClientOffer, ::hyper::upgrade::OnUpgrade, Config) {
        (self.offer, self.on_upgrade, self.config)
    }

    pub(crate) fn from_parts(offer: ClientOffer, on_upgrade: ::hyper::upgrade::OnUpgrade, config: Config) -> Self {
        Self { offer, on_upgrade, config }
    }

    /// Accepts: the 101 response to return from the hyper service, and the
    /// connection to await once hyper has sent it.
    ///
    /// # Errors
    /// A 500 [`Rejection`] if `accept` is invalid (a subprotocol the client
    /// did not offer, a bad header).
    pub fn accept(self, accept: Accept) -> Result<(Response<Bytes>, PendingWebSocket), Rejection> {
        match accept.respond(&self.offer, self.config.protocol.get_compression()) {
            Ok((response, negotiated)) => {
                let pending = PendingWebSocket { on_upgrade: self.on_upgrade, negotiated, config: self.config };
                Ok((response.map(|()| Bytes::new()), pending))
            }
            Err(error) => {
                tracing::warn!(%error, "cannot accept the upgrade as asked");
                let mut response = Response::new(());
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                Err(Rejection::new(response, Bytes::from_static(b"cannot accept the WebSocket upgrade\n")))
            }
        }
    }
}

/// The connection after the 101: await it (`pending.await`) in a task of
/// its own, after the response has been returned to hyper.
#[derive(Debug)]
pub struct PendingWebSocket {
    on_upgrade: ::hyper::upgrade::OnUpgrade,
    negotiated: Negotiated,
    config: Config,
}

impl std::future::IntoFuture for PendingWebSocket {
    type Output = Result<WebSocket<UpgradedIo>, Error>;
    type IntoFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let upgraded = self.on_upgrade.await.map_err(|e| Error::Io {
                context: "taking over the upgraded connection from hyper",
                source: std::io::Error::other(e),
            })?;
            // hyper keeps any bytes read past the request inside `Upgraded`
            // and returns them first, so there is no leftover to pass here.
            WebSocket::from_upgraded(TokioIo::new(upgraded), self.negotiated, self.config, &[])
        })
    }
}
