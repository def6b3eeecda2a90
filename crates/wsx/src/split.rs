//! Reading and writing halves of one connection, for two tasks. They share
//! the protocol core under a mutex that is never held across an `.await`:
//! each poll locks, makes progress, unlocks. The writing half sends as
//! `WebSocket` does (`send`, `send_uncompressed`, `feed`, `flush`,
//! `send_prepared`, `feed_prepared`, `close`); what it feeds leaves with its
//! next `send` or `flush` (the reading half's receives write it too, but
//! they run apart from it). `ReadHalf::reunite` puts the halves back
//! together.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite};
use wsx_proto::{CloseCode, CloseFrame, Message, PreparedMessage, State};

use crate::error::Error;
use crate::websocket::WebSocket;

/// Wakes both halves: either half may need the other's readiness (the reader
/// writes Pongs and Close echoes), and a transport keeps one waker per
/// direction, so each half polls with this combined waker.
#[derive(Default)]
struct BothWakers {
    slots: Mutex<[Option<Waker>; 2]>,
}

impl Wake for BothWakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let wakers = match self.slots.lock() {
            Ok(mut slots) => [slots[0].take(), slots[1].take()],
            Err(poisoned) => {
                let mut slots = poisoned.into_inner();
                [slots[0].take(), slots[1].take()]
            }
        };
        for waker in wakers.into_iter().flatten() {
            waker.wake();
        }
    }
}

impl BothWakers {
    /// Wakes the task of one half only.
    fn wake_half(&self, slot: usize) {
        let waker = self.slots.lock().unwrap_or_else(|p| p.into_inner())[slot].take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

struct Shared<S> {
    ws: Mutex<WebSocket<S>>,
    wakers: Arc<BothWakers>,
}

impl<S> Shared<S> {
    /// Locks the connection after recording `cx`'s waker in `slot`; returns
    /// the guard and the combined waker to poll with.
    fn enter(&self, slot: usize, cx: &Context<'_>) -> (MutexGuard<'_, WebSocket<S>>, Waker) {
        {
            let mut slots = self.wakers.slots.lock().unwrap_or_else(|p| p.into_inner());
            match &mut slots[slot] {
                Some(existing) if existing.will_wake(cx.waker()) => {}
                other => *other = Some(cx.waker().clone()),
            }
        }
        let guard = self.ws.lock().unwrap_or_else(|p| p.into_inner());
        (guard, Waker::from(self.wakers.clone()))
    }
}

/// The reading half of a split [`WebSocket`]: a [`Stream`] of messages.
pub struct ReadHalf<S> {
    shared: Arc<Shared<S>>,
}

/// The writing half of a split [`WebSocket`]: a [`Sink`] of messages.
pub struct WriteHalf<S> {
    shared: Arc<Shared<S>>,
}

impl<S> std::fmt::Debug for ReadHalf<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadHalf")
    }
}

impl<S> std::fmt::Debug for WriteHalf<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteHalf")
    }
}

const READER: usize = 0;
const WRITER: usize = 1;

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// Splits the connection into a reading and a writing half, usable from
    /// two tasks.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), wsx::Error> {
    /// let (ws, _) = wsx::connect("ws://127.0.0.1:9001/echo").await?;
    /// let (mut reader, mut writer) = ws.split();
    /// tokio::spawn(async move { writer.send("hi").await });
    /// while let Some(message) = reader.recv().await {
    ///     println!("{:?}", message?);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn split(self) -> (ReadHalf<S>, WriteHalf<S>) {
        let shared = Arc::new(Shared { ws: Mutex::new(self), wakers: Arc::default() });
        (ReadHalf { shared: shared.clone() }, WriteHalf { shared })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> ReadHalf<S> {
    /// The next message; see [`WebSocket::recv`]. Cancel-safe.
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        let (mut ws, waker) = self.shared.enter(READER, cx);
        ws.poll_recv(&mut Context::from_waker(&waker))
    }

    /// Puts the two halves of one [`WebSocket`] back together; halves of
    /// different connections are handed back in the error.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), wsx::Error> {
    /// let (ws, _) = wsx::connect("ws://127.0.0.1:9001/echo").await?;
    /// let (reader, writer) = ws.split();
    /// let ws = reader.reunite(writer).expect("halves of one connection");
    /// # drop(ws); Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ReuniteError`] when `writer` was split from another connection.
    pub fn reunite(self, writer: WriteHalf<S>) -> Result<WebSocket<S>, ReuniteError<S>> {
        if !Arc::ptr_eq(&self.shared, &writer.shared) {
            return Err(ReuniteError { reader: self, writer });
        }
        drop(writer);
        match Arc::try_unwrap(self.shared) {
            Ok(shared) => Ok(shared.ws.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner())),
            // The two halves were the only owners; kept for completeness.
            Err(shared) => {
                Err(ReuniteError { reader: ReadHalf { shared: shared.clone() }, writer: WriteHalf { shared } })
            }
        }
    }
}

/// Two halves that were not split from the same [`WebSocket`], handed back.
pub struct ReuniteError<S> {
    /// The reading half given.
    pub reader: ReadHalf<S>,
    /// The writing half given.
    pub writer: WriteHalf<S>,
}

impl<S> std::fmt::Debug for ReuniteError<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReuniteError")
    }
}

impl<S> std::fmt::Display for ReuniteError<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the halves were split from different WebSockets")
    }
}

impl<S> std::error::Error for ReuniteError<S> {}

impl<S: AsyncRead + AsyncWrite + Unpin> WriteHalf<S> {
    /// Sends a message and flushes it; see [`WebSocket::send`].
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        std::future::poll_fn(|cx| self.with(cx, |ws, cx| ws.poll_send_ready(cx))).await?;
        self.may_close(|ws| ws.start_send_message(message))?;
        self.flush().await
    }

    /// Sends a text or binary message uncompressed even when
    /// permessage-deflate is in use, and flushes it; see
    /// [`WebSocket::send_uncompressed`].
    pub async fn send_uncompressed(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        std::future::poll_fn(|cx| self.with(cx, |ws, cx| ws.poll_send_ready(cx))).await?;
        self.may_close(|ws| ws.start_send(message, false))?;
        self.flush().await
    }

    /// Queues a message without flushing, for sending several in one write;
    /// see [`WebSocket::feed`].
    pub async fn feed(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        std::future::poll_fn(|cx| self.with(cx, |ws, cx| ws.poll_send_ready(cx))).await?;
        self.may_close(|ws| ws.start_send_message(message))
    }

    /// Sends a message encoded once for many connections, and flushes it;
    /// see [`WebSocket::send_prepared`].
    pub async fn send_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        self.feed_prepared(message).await?;
        self.flush().await
    }

    /// Queues a prepared message without flushing, like [`feed`](Self::feed).
    pub async fn feed_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        std::future::poll_fn(|cx| self.with(cx, |ws, cx| ws.poll_send_ready(cx))).await?;
        self.may_close(|ws| ws.start_send_prepared(message))
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> Result<(), Error> {
        std::future::poll_fn(|cx| self.with(cx, |ws, cx| ws.poll_write_out(cx))).await
    }

    /// Sends a Close frame and flushes. The reading half sees the peer's
    /// Close and then the end of the stream.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let frame = CloseFrame::new(code, reason)?;
        self.may_close(|ws| ws.start_close(Some(frame)))?;
        self.flush().await
    }

    /// Runs `f`, which may start the closing handshake (`close`, or a send
    /// over the write-buffer cap). If it did, wakes the reading half: it
    /// runs the close timer and reads the peer's Close, and may be waiting
    /// on a quiet transport.
    fn may_close<T>(&self, f: impl FnOnce(&mut WebSocket<S>) -> T) -> T {
        let mut ws = self.shared.ws.lock().unwrap_or_else(|p| p.into_inner());
        let was_open = *ws.state() == State::Open;
        let result = f(&mut ws);
        let closing = was_open && *ws.state() != State::Open;
        drop(ws);
        if closing {
            self.shared.wakers.wake_half(READER);
        }
        result
    }

    fn with<T>(&self, cx: &mut Context<'_>, f: impl FnOnce(&mut WebSocket<S>, &mut Context<'_>) -> Poll<T>) -> Poll<T> {
        let (mut ws, waker) = self.shared.enter(WRITER, cx);
        f(&mut ws, &mut Context::from_waker(&waker))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for ReadHalf<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WriteHalf<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.with(cx, |ws, cx| ws.poll_send_ready(cx))
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        self.may_close(|ws| ws.start_send_message(message))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.with(cx, |ws, cx| ws.poll_write_out(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.may_close(|ws| ws.start_close(Some(CloseFrame { code: CloseCode::NORMAL, reason: Default::default() })))?;
        self.with(cx, |ws, cx| ws.poll_write_out(cx))
    }
}
