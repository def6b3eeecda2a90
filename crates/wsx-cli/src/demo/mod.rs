//! The demo page served at `GET /` (plain HTTP/1.1, RFC 9112; not an
//! upgrade): a self-contained chat client for `/rooms/{name}` using the
//! browser's own `WebSocket` API, embedded in the binary.

use bytes::Bytes;
use wsx::IncomingRequest;

/// The page: HTML, CSS and plain JavaScript in one file (kept with the rooms).
const PAGE: &str = wsx_rooms::DEMO_PAGE;

/// Answers `GET /` with the page (and closes the connection).
pub(crate) async fn serve(incoming: IncomingRequest<wsx::Transport>) -> Result<(), wsx::Error> {
    let response = http::Response::builder()
        .status(http::StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(http::header::CACHE_CONTROL, "no-cache")
        // The page loads nothing from elsewhere and talks only to this host.
        .header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self' ws: wss:",
        )
        .body(());
    match response {
        Ok(response) => incoming.reject(response, Bytes::from_static(PAGE.as_bytes())).await,
        Err(_) => Ok(()),
    }
}
