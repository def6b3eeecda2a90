//! One member's connection (RFC 6455 §5.6 data frames, §7.4.1 close
//! codes): what it sends goes to the broker, what the room sends leaves
//! through its bounded outbox, in offset order, each kept message once;
//! a member dropped for being too slow is closed with 1008.

use tokio::io::{AsyncRead, AsyncWrite};
use wsx::{CloseCode, Message, PreparedMessage, WebSocket};

use crate::auth::{FORBIDDEN, Refusal};
use crate::envelope::{ServerEvent, client_message, epoch_hex};
use crate::hub::{Outgoing, Seq, Taken};
use crate::metrics::add;
use crate::{BrokerError, Membership, Rooms};

/// Largest message a member may send to a room: each one is copied to every
/// member's queue, so the server-wide limit would be far too generous.
pub(crate) const MAX_ROOM_MESSAGE: usize = 1 << 20;
/// Most queued messages written in one vectored write.
const BATCH: usize = 64;
/// The most queued messages whose room a member keeps between batches.
const KEPT_BATCH: usize = 16;

/// What [`Membership::admit`] decides for one queued message.
enum Admit {
    Skip,
    Send,
    /// Send this `gap` event, then the message.
    GapFirst(PreparedMessage),
}

enum Ending {
    Closed,
    TooBig,
    TooSlow,
    Refused(Refusal),
}

pub(crate) async fn serve<S>(
    rooms: &Rooms,
    ws: &mut WebSocket<S>,
    membership: &mut Membership,
) -> Result<(), wsx::Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    for message in std::mem::take(&mut membership.greeting) {
        ws.feed_prepared(&message).await?;
    }
    ws.flush().await?;
    let ending = relay(rooms, ws, membership).await?;
    let metrics = &rooms.metrics;
    match &ending {
        Ending::Closed => {}
        Ending::TooBig => add(&metrics.closed_too_big, 1),
        Ending::TooSlow => add(&metrics.closed_slow, 1),
        Ending::Refused(_) => add(&metrics.closed_refused, 1),
    }
    match ending {
        Ending::Closed => Ok(()),
        Ending::TooBig => ws.close(CloseCode::MESSAGE_TOO_BIG, "too big for a room").await.map(drop),
        Ending::Refused(refusal) => {
            tracing::info!(room = %membership.room, member = %membership.info.id, reason = %refusal.reason, "member refused");
            ws.close(refusal.code, &refusal.reason).await.map(drop)
        }
        Ending::TooSlow => {
            tracing::info!(room = %membership.room, member = %membership.info.id, "closing a member that fell behind");
            // The Close frame queues behind what the peer has not read; the
            // close timeout bounds how long this waits for it.
            ws.close(CloseCode::POLICY_VIOLATION, "too slow").await.map(drop)
        }
    }
}

async fn relay<S>(rooms: &Rooms, ws: &mut WebSocket<S>, membership: &mut Membership) -> Result<Ending, wsx::Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let outbox = membership.outbox.clone();
    // Reused from batch to batch: no allocation per delivery. A member
    // keeps room for at most `KEPT_BATCH` between batches.
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            incoming = ws.recv() => match incoming {
                Some(Ok(Message::Text(_) | Message::Binary(_))) if !membership.may_publish => {
                    let reason = format!("not allowed to publish in room {}", membership.room);
                    return Ok(Ending::Refused(Refusal::new(FORBIDDEN, reason)));
                }
                Some(Ok(Message::Text(text))) if text.len() <= MAX_ROOM_MESSAGE => {
                    let (text, key) = client_message(&text);
                    if let Err(error) = rooms.send_text(membership, &text, key.as_deref()).await {
                        Box::pin(refused(ws, error)).await?;
                    }
                }
                Some(Ok(Message::Binary(data))) if data.len() <= MAX_ROOM_MESSAGE => {
                    if let Err(error) = rooms.send_binary(membership, data).await {
                        Box::pin(refused(ws, error)).await?;
                    }
                }
                Some(Ok(Message::Text(_) | Message::Binary(_))) => return Ok(Ending::TooBig),
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error),
                None => return Ok(Ending::Closed),
            },
            taken = outbox.take(BATCH, &mut batch) => match taken {
                Taken::Messages => {
                    // Closing already (a shutdown's 1001): the Close
                    // exchange goes on in `recv`.
                    if !ws.is_open() {
                        batch.clear();
                        continue;
                    }
                    let mut fed = false;
                    for outgoing in batch.drain(..) {
                        match membership.admit(&outgoing) {
                            Admit::Skip => continue,
                            Admit::Send => {}
                            Admit::GapFirst(gap) => ws.feed_prepared(&gap).await?,
                        }
                        ws.feed_prepared(&outgoing.message).await?;
                        fed = true;
                    }
                    if batch.capacity() > KEPT_BATCH {
                        batch = Vec::new();
                    }
                    if fed {
                        ws.flush().await?;
                    }
                }
                Taken::Kicked => return Ok(Ending::TooSlow),
            },
        }
    }
}

/// Tells the sender its message was not delivered. Boxed where it is
/// awaited: it is rare, and inline it would add its size to every
/// member's future.
async fn refused<S>(ws: &mut WebSocket<S>, error: BrokerError) -> Result<(), wsx::Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if !ws.is_open() {
        return Ok(());
    }
    let text = format!("not delivered: {error}");
    let event = ServerEvent::Error { code: "unavailable", text: &text };
    ws.send(Message::text(event.to_json())).await
}

impl Membership {
    /// Whether to send one queued message: not if the member has it
    /// already (a kept message the greeting's history held), after a `gap`
    /// if the room's epoch changed under the member.
    fn admit(&mut self, outgoing: &Outgoing) -> Admit {
        let Some(seq) = outgoing.seq else { return Admit::Send };
        let admit = match self.cursor {
            Some(cursor) if cursor.epoch == seq.epoch && seq.offset <= cursor.offset => return Admit::Skip,
            Some(cursor) if cursor.epoch != seq.epoch && self.stamped => {
                let gap = ServerEvent::Gap {
                    room: &self.room,
                    epoch: epoch_hex(seq.epoch),
                    from: cursor.offset + 1,
                    to: None,
                };
                Admit::GapFirst(PreparedMessage::text(gap.to_json()))
            }
            _ => Admit::Send,
        };
        self.cursor = Some(Seq { epoch: seq.epoch, offset: seq.offset });
        admit
    }
}
