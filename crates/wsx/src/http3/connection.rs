//! What both ends of an HTTP/3 connection do besides requests (RFC 9114
//! §6.2, §7.2.4, §5.2; RFC 9204 §4.2): open our control stream and send
//! SETTINGS on it first; accept the peer's unidirectional streams — its
//! control stream, whose first frame must be SETTINGS, its QPACK encoder
//! and decoder streams (drained: with a table capacity of 0 they carry
//! nothing we use), and streams of unknown types (refused with
//! STOP_SENDING); read its GOAWAY; send ours.
//!
//! Contract: [`ConnectionHandle::start`] returns once our SETTINGS are
//! queued; the peer's SETTINGS and GOAWAY arrive later through
//! [`ConnectionHandle::peer_settings`] and [`ConnectionHandle::goaway`].
//! Every violation on these streams closes the connection with its code.
//! The connection closes with H3_NO_ERROR when the last handle is dropped
//! (the server's connection task and every stream hold one).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, watch};

use super::error::{ErrorCode, H3Error};
use super::frame::{self, FrameKind, Settings, stream_type};
use super::stream::Side;
use super::varint;

/// The largest control frame accepted (SETTINGS, GOAWAY, unknown ones):
/// more is H3_EXCESSIVE_LOAD. SETTINGS of every known parameter take
/// under 100 bytes.
const MAX_CONTROL_FRAME: u64 = 16 * 1024;

/// How long a peer's unidirectional stream may take to announce its type.
const STREAM_TYPE_DEADLINE: Duration = Duration::from_secs(10);

/// One HTTP/3 connection, shared by its task and its streams.
#[derive(Debug)]
pub(crate) struct ConnectionHandle {
    connection: quinn::Connection,
    /// Our control stream: it must stay open as long as the connection
    /// (RFC 9114 §6.2.1); GOAWAY goes on it.
    control: Mutex<quinn::SendStream>,
    peer_settings: watch::Receiver<Option<Settings>>,
    goaway: watch::Receiver<Option<u64>>,
}

impl Drop for ConnectionHandle {
    fn drop(&mut self) {
        // RFC 9114 §5.2: H3_NO_ERROR, "used when the connection or stream
        // needs to be closed, but there is no error to signal".
        self.connection.close(ErrorCode::NO_ERROR.varint(), b"");
    }
}

impl ConnectionHandle {
    /// Opens our control stream with `settings`, and starts reading the
    /// peer's unidirectional streams.
    pub(crate) async fn start(
        connection: quinn::Connection,
        side: Side,
        settings: Settings,
    ) -> Result<Arc<Self>, quinn::ConnectionError> {
        let mut control = connection.open_uni().await?;
        let mut first = Vec::with_capacity(64);
        varint::encode(stream_type::CONTROL, &mut first);
        settings.encode_frame(&mut first);
        // Into QUIC's send buffer at once: a new stream has the room.
        if control.write_all(&first).await.is_err() {
            return Err(connection.close_reason().unwrap_or(quinn::ConnectionError::LocallyClosed));
        }
        let (settings_tx, peer_settings) = watch::channel(None);
        let (goaway_tx, goaway) = watch::channel(None);
        let peer = Peer { connection: connection.clone(), side, settings: settings_tx, goaway: goaway_tx };
        tokio::spawn(peer.accept_unidirectional());
        Ok(Arc::new(Self { connection, control: Mutex::new(control), peer_settings, goaway }))
    }

    /// The QUIC connection.
    pub(crate) fn quic(&self) -> &quinn::Connection {
        &self.connection
    }

    pub(crate) fn remote_address(&self) -> SocketAddr {
        self.connection.remote_address()
    }

    /// Fails the connection with the error's code (RFC 9114 §8).
    pub(crate) fn close(&self, error: H3Error) {
        self.connection.close(error.code.varint(), error.reason.as_bytes());
    }

    /// The peer's SETTINGS once they arrived.
    pub(crate) fn peer_settings(&self) -> watch::Receiver<Option<Settings>> {
        self.peer_settings.clone()
    }

    /// The identifier of the peer's last GOAWAY, if it sent one.
    pub(crate) fn goaway(&self) -> watch::Receiver<Option<u64>> {
        self.goaway.clone()
    }

    /// Sends GOAWAY with `id` (RFC 9114 §5.2: a server sends the first
    /// request stream it will not process).
    pub(crate) async fn send_goaway(&self, id: u64) {
        let mut payload = Vec::with_capacity(8);
        varint::encode(id, &mut payload);
        let mut frame = Vec::with_capacity(16);
        frame::encode_frame(frame::kind::GOAWAY, &payload, &mut frame);
        let mut control = self.control.lock().await;
        let _ = tokio::time::timeout(Duration::from_secs(1), control.write_all(&frame)).await;
    }
}

/// The reading side of the peer's unidirectional streams.
#[derive(Clone)]
struct Peer {
    connection: quinn::Connection,
    side: Side,
    settings: watch::Sender<Option<Settings>>,
    goaway: watch::Sender<Option<u64>>,
}

/// Which critical streams the peer has opened (each at most once).
#[derive(Default)]
struct Opened {
    control: bool,
    encoder: bool,
    decoder: bool,
}

impl Peer {
    fn fail(&self, error: H3Error) {
        tracing::debug!(%error, "closing the HTTP/3 connection");
        self.connection.close(error.code.varint(), error.reason.as_bytes());
    }

    async fn accept_unidirectional(self) {
        let opened = Arc::new(std::sync::Mutex::new(Opened::default()));
        while let Ok(recv) = self.connection.accept_uni().await {
            let peer = self.clone();
            let opened = opened.clone();
            tokio::spawn(async move {
                if let Err(error) = peer.serve_unidirectional(recv, &opened).await {
                    peer.fail(error);
                }
            });
        }
    }

    async fn serve_unidirectional(
        &self,
        mut recv: quinn::RecvStream,
        opened: &std::sync::Mutex<Opened>,
    ) -> Result<(), H3Error> {
        let kind = match tokio::time::timeout(STREAM_TYPE_DEADLINE, read_varint(&mut recv)).await {
            Ok(Ok(Some(kind))) => kind,
            // Reset or ended before its type, or too slow: nothing to keep.
            _ => {
                let _ = recv.stop(ErrorCode::STREAM_CREATION_ERROR.varint());
                return Ok(());
            }
        };
        let duplicate = {
            let mut opened = opened.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let slot = match kind {
                stream_type::CONTROL => &mut opened.control,
                stream_type::QPACK_ENCODER => &mut opened.encoder,
                stream_type::QPACK_DECODER => &mut opened.decoder,
                _ => &mut false,
            };
            std::mem::replace(slot, true)
        };
        match kind {
            // RFC 9114 §6.2.1: "Receipt of a second stream claiming to be a
            // control stream MUST be treated as a connection error of type
            // H3_STREAM_CREATION_ERROR"; RFC 9204 §4.2 says the same of the
            // QPACK streams.
            stream_type::CONTROL | stream_type::QPACK_ENCODER | stream_type::QPACK_DECODER if duplicate => {
                Err(H3Error::connection(ErrorCode::STREAM_CREATION_ERROR, "a second critical stream of one type"))
            }
            stream_type::CONTROL => self.read_control(recv).await,
            stream_type::QPACK_ENCODER => read_encoder_stream(recv).await,
            stream_type::QPACK_DECODER => drain(recv).await,
            // §6.2.2: "Only servers can push; if a server receives a
            // client-initiated push stream, this MUST be treated as a
            // connection error of type H3_STREAM_CREATION_ERROR"; a server
            // may push only up to the MAX_PUSH_ID we never sent (§4.6).
            stream_type::PUSH => Err(match self.side {
                Side::Server => H3Error::connection(ErrorCode::STREAM_CREATION_ERROR, "push stream from a client"),
                Side::Client => H3Error::connection(ErrorCode::ID_ERROR, "push stream without MAX_PUSH_ID"),
            }),
            // §6.2: "Recipients of unknown stream types MUST either abort
            // reading of the stream or discard incoming data ... If reading
            // is aborted, the recipient SHOULD use the
            // H3_STREAM_CREATION_ERROR error code".
            _ => {
                let _ = recv.stop(ErrorCode::STREAM_CREATION_ERROR.varint());
                Ok(())
            }
        }
    }

    /// The peer's control stream: SETTINGS first, then GOAWAY and frames
    /// we ignore, until the connection ends.
    async fn read_control(&self, mut recv: quinn::RecvStream) -> Result<(), H3Error> {
        let mut first = true;
        loop {
            let (kind, payload) = read_control_frame(&mut recv).await?;
            let frame_kind = FrameKind::of(kind);
            // §6.2.1: "Each side MUST initiate a single control stream at the
            // beginning of the connection and send its SETTINGS frame as the
            // first frame on this stream. If the first frame of the control
            // stream is any other frame type, this MUST be treated as a
            // connection error of type H3_MISSING_SETTINGS."
            if first && frame_kind != FrameKind::Settings {
                return Err(H3Error::connection(ErrorCode::MISSING_SETTINGS, "control stream starts without SETTINGS"));
            }
            match frame_kind {
                FrameKind::Settings if first => {
                    let settings = Settings::decode(&payload)?;
                    let _ = self.settings.send(Some(settings));
                }
                // §7.2.4: "If an endpoint receives a second SETTINGS frame
                // on the control stream, the endpoint MUST respond with a
                // connection error of type H3_FRAME_UNEXPECTED."
                FrameKind::Settings => {
                    return Err(H3Error::connection(ErrorCode::FRAME_UNEXPECTED, "second SETTINGS"));
                }
                FrameKind::Goaway => {
                    let id = frame::decode_goaway(&payload)?;
                    // §5.2: "An endpoint MAY send multiple GOAWAY frames ...
                    // [it] MUST NOT increase the value".
                    if self.goaway.borrow().is_some_and(|previous| id > previous) {
                        return Err(H3Error::connection(ErrorCode::ID_ERROR, "GOAWAY identifier increased"));
                    }
                    tracing::debug!(id, "HTTP/3 GOAWAY received");
                    let _ = self.goaway.send(Some(id));
                }
                // §7.2.7: "A MAX_PUSH_ID frame sent by a server ... MUST be
                // treated as a connection error of type
                // H3_FRAME_UNEXPECTED"; from a client it allows pushes we
                // never make, as CANCEL_PUSH cancels them.
                FrameKind::PushControl if self.side == Side::Client && kind == frame::kind::MAX_PUSH_ID => {
                    return Err(H3Error::connection(ErrorCode::FRAME_UNEXPECTED, "MAX_PUSH_ID from a server"));
                }
                FrameKind::PushControl | FrameKind::Unknown => {}
                // §7.2.1, §7.2.2, §7.2.5, §7.2.8: not on a control stream.
                FrameKind::Data | FrameKind::Headers | FrameKind::PushPromise | FrameKind::Http2Only => {
                    return Err(H3Error::connection(
                        ErrorCode::FRAME_UNEXPECTED,
                        "request frame on the control stream",
                    ));
                }
            }
            first = false;
        }
    }
}

/// The end or reset of a critical stream (RFC 9114 §6.2.1: "If either
/// control stream is closed at any point, this MUST be treated as a
/// connection error of type H3_CLOSED_CRITICAL_STREAM").
const CLOSED_CRITICAL: H3Error =
    H3Error::connection(ErrorCode::CLOSED_CRITICAL_STREAM, "a control or QPACK stream was closed");

/// One variable-length integer, or `None` at the stream's clean end
/// before its first byte.
async fn read_varint(recv: &mut quinn::RecvStream) -> Result<Option<u64>, quinn::ReadExactError> {
    let mut bytes = [0u8; 8];
    match recv.read_exact(&mut bytes[..1]).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(error) => return Err(error),
    }
    let len = varint::encoded_len(bytes[0]);
    recv.read_exact(&mut bytes[1..len]).await?;
    Ok(varint::decode(&bytes[..len]).map(|(value, _)| value))
}

/// One whole frame from a control stream, bounded by [`MAX_CONTROL_FRAME`].
async fn read_control_frame(recv: &mut quinn::RecvStream) -> Result<(u64, Vec<u8>), H3Error> {
    let kind = read_varint(recv).await.ok().flatten().ok_or(CLOSED_CRITICAL)?;
    let len = read_varint(recv).await.ok().flatten().ok_or(CLOSED_CRITICAL)?;
    if len > MAX_CONTROL_FRAME {
        return Err(H3Error::connection(ErrorCode::EXCESSIVE_LOAD, "control frame over 16 KiB"));
    }
    let mut payload = vec![0; len as usize];
    recv.read_exact(&mut payload).await.map_err(|_| CLOSED_CRITICAL)?;
    Ok((kind, payload))
}

/// The peer's QPACK encoder stream. With our table capacity at 0 the only
/// instruction it may carry is Set Dynamic Table Capacity of 0 (RFC 9204
/// §4.3.1: "The decoder MUST treat a new dynamic table capacity value that
/// exceeds this limit as a connection error of type
/// QPACK_ENCODER_STREAM_ERROR"); an insertion could not fit either.
async fn read_encoder_stream(mut recv: quinn::RecvStream) -> Result<(), H3Error> {
    let refused = H3Error::connection(ErrorCode::QPACK_ENCODER_STREAM_ERROR, "dynamic table use with capacity 0");
    loop {
        let mut byte = [0u8; 1];
        recv.read_exact(&mut byte).await.map_err(|_| CLOSED_CRITICAL)?;
        // 001xxxxx: Set Dynamic Table Capacity, 5-bit prefix; only 0 fits.
        if byte[0] != 0x20 {
            return Err(refused);
        }
    }
}

/// The peer's QPACK decoder stream: acknowledgements of a dynamic table we
/// never use; read and dropped, in bounded reads.
async fn drain(mut recv: quinn::RecvStream) -> Result<(), H3Error> {
    let mut buf = [0u8; 256];
    loop {
        match recv.read(&mut buf).await {
            Ok(Some(_)) => {}
            _ => return Err(CLOSED_CRITICAL),
        }
    }
}
