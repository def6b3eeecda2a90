//! One member's connection to `/rooms/{name}` (RFC 6455 §5.6 data frames,
//! §7.4.1 close codes): what it sends goes to the room, what the room sends
//! leaves through its bounded queue; a member dropped for being too slow is
//! closed with 1008.

use std::sync::Arc;

use bytes::Bytes;
use wsx::{CloseCode, IncomingRequest, Message, WebSocket};

use super::envelope::client_text;
use super::{Membership, Rooms, member_name, valid_room_name};

/// Largest message a member may send to a room: each one is copied to every
/// member's queue, so the server-wide limit would be far too generous.
const MAX_ROOM_MESSAGE: usize = 1 << 20;
/// Most queued messages written in one vectored write.
const BATCH: usize = 64;

/// Handles a request for `/rooms/{room}`.
pub(crate) async fn run(
    incoming: IncomingRequest<wsx::Transport>,
    rooms: Arc<Rooms>,
    room: &str,
) -> Result<(), wsx::Error> {
    if !valid_room_name(room) {
        let response = http::Response::builder().status(http::StatusCode::BAD_REQUEST).body(());
        return match response {
            Ok(response) => {
                incoming.reject(response, Bytes::from_static(b"room names are 1-64 of A-Z a-z 0-9 - _ .\n")).await
            }
            Err(_) => Ok(()),
        };
    }
    let name = member_name(incoming.request().uri().query());
    // Join before answering 101, so a client that sees the upgrade already
    // receives the room's messages.
    let mut membership = rooms.join(room, name).await;
    let result = match incoming.accept().await {
        Ok(ws) => converse(ws, &rooms, &mut membership).await,
        Err(error) => Err(error),
    };
    rooms.leave(&membership).await;
    result
}

async fn converse(
    mut ws: WebSocket<wsx::Transport>,
    rooms: &Rooms,
    membership: &mut Membership,
) -> Result<(), wsx::Error> {
    for message in std::mem::take(&mut membership.greeting) {
        ws.feed_prepared(&message).await?;
    }
    ws.flush().await?;
    let kicked = membership.kicked.clone();
    let outcome = tokio::select! {
        outcome = relay(&mut ws, rooms, membership) => outcome?,
        // Dropped by the room while this task may be stuck writing to a
        // peer that does not read.
        () = kicked.notified() => Ending::TooSlow,
    };
    match outcome {
        Ending::Closed => Ok(()),
        Ending::TooBig => ws.close(CloseCode::MESSAGE_TOO_BIG, "too big for a room").await.map(drop),
        Ending::TooSlow => {
            tracing::info!(room = %membership.room, member = %membership.info.id, "closing a member that fell behind");
            // The Close frame queues behind what the peer has not read; the
            // close timeout bounds how long this waits for it.
            ws.close(CloseCode::POLICY_VIOLATION, "too slow").await.map(drop)
        }
    }
}

enum Ending {
    Closed,
    TooBig,
    TooSlow,
}

async fn relay(
    ws: &mut WebSocket<wsx::Transport>,
    rooms: &Rooms,
    membership: &mut Membership,
) -> Result<Ending, wsx::Error> {
    loop {
        tokio::select! {
            incoming = ws.recv() => match incoming {
                Some(Ok(Message::Text(text))) if text.len() <= MAX_ROOM_MESSAGE => {
                    rooms.message(membership, &client_text(&text));
                }
                Some(Ok(Message::Binary(data))) if data.len() <= MAX_ROOM_MESSAGE => rooms.binary(membership, data),
                Some(Ok(Message::Text(_) | Message::Binary(_))) => return Ok(Ending::TooBig),
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error),
                None => return Ok(Ending::Closed),
            },
            outgoing = membership.outbox.recv() => match outgoing {
                Some(message) => {
                    ws.feed_prepared(&message).await?;
                    let mut batched = 1;
                    while batched < BATCH && let Ok(message) = membership.outbox.try_recv() {
                        ws.feed_prepared(&message).await?;
                        batched += 1;
                    }
                    ws.flush().await?;
                }
                None => return Ok(Ending::TooSlow),
            },
        }
    }
}
