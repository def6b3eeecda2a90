//! The HTTP/1.1 upgrade of the sockudo-ws servers (echo and fan-out), with
//! its own handshake helpers.

use bytes::{Bytes, BytesMut};
use sockudo_ws::handshake::{build_response, generate_accept_key, parse_request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads the request, answers 101; returns what followed the request (a
/// client may send its first frames at once).
pub async fn handshake(stream: &mut TcpStream) -> Option<Bytes> {
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if stream.read_buf(&mut buf).await.ok()? == 0 {
            return None;
        }
        if let Some((request, used)) = parse_request(&buf).ok()? {
            let response = build_response(&generate_accept_key(request.key), None, None);
            stream.write_all(&response).await.ok()?;
            return Some(buf.split_off(used).freeze());
        }
    }
}
