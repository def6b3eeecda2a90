//! One connection of `wsx connect`: the reading half prints what arrives
//! while a writer task sends what the user gives, so a large upload to an
//! echo server never waits on its own echoes.
//!
//! When the input ends, the Close is sent only after the server has been
//! quiet for the grace period (`--wait`), so a reply to the last message is
//! not cut off; a server that closes first ends the session at once.
//! Whatever stdin is doing, the session ends with the connection: the
//! closing handshake, a dropped TCP connection, or a timeout.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;
use wsx::{CloseCode, CloseFrame, Message, Transport, WebSocket, WriteHalf};

use super::input::{Command, HELP, Input};
use super::output::Printer;

/// How a session ended.
#[derive(Debug, Default)]
pub(crate) struct Ending {
    /// The Close frame received: `Some(None)` without a code, `None` if
    /// none arrived (1006).
    pub(crate) received: Option<Option<CloseFrame>>,
    /// We sent the first Close frame (the input ended, `/close`, Ctrl-C).
    pub(crate) by_us: bool,
    /// The user ended it (the input ended, `/close`, Ctrl-C): nothing to
    /// reconnect for.
    pub(crate) user_done: bool,
    /// A second Ctrl-C: leave without waiting for the closing handshake.
    pub(crate) interrupted: bool,
    /// The error the connection ended with, if any.
    pub(crate) error: Option<wsx::Error>,
}

/// What the writer task tells the session.
#[derive(Debug)]
enum WriterEvent {
    /// The input is over: start the quiet period.
    InputEnded,
    /// `/close` was typed; the Close frame is about to leave.
    UserClosed,
}

/// Runs one connection until it ends. `inputs` outlives the session (a
/// reconnect goes on with the same stdin).
pub(crate) async fn run(
    ws: WebSocket<Transport>,
    inputs: Arc<Mutex<mpsc::Receiver<Input>>>,
    printer: Printer,
    wait: Duration,
) -> Ending {
    let (mut reader, writer) = ws.split();
    let (close_tx, close_rx) = mpsc::channel(1);
    let (events_tx, mut events) = mpsc::channel(4);
    let writer_task = tokio::spawn(write_loop(writer, inputs, close_rx, events_tx, printer));
    let mut ending = Ending::default();
    let mut writer_alive = true;
    let mut quiet_until: Option<Instant> = None;
    let mut closing = false;
    loop {
        let quiet = async {
            match quiet_until {
                Some(deadline) if !closing => tokio::time::sleep_until(deadline).await,
                _ => std::future::pending().await,
            }
        };
        // Biased: a `/close` (event) is seen before the Close echo it
        // causes (message), so the echo is not taken for the server's own.
        tokio::select! {
            biased;
            _ = tokio::signal::ctrl_c() => {
                if closing {
                    ending.interrupted = true;
                    break;
                }
                start_close(&mut closing, &mut ending, &close_tx);
            }
            event = events.recv(), if writer_alive => match event {
                Some(WriterEvent::InputEnded) => quiet_until = Some(Instant::now() + wait),
                Some(WriterEvent::UserClosed) => {
                    closing = true;
                    ending.by_us = true;
                    ending.user_done = true;
                }
                None => writer_alive = false,
            },
            message = reader.recv() => match message {
                Some(Ok(Message::Close(frame))) => {
                    ending.by_us = closing;
                    ending.received = Some(frame);
                }
                Some(Ok(message)) => {
                    printer.message(&message);
                    if let Some(deadline) = &mut quiet_until {
                        *deadline = Instant::now() + wait;
                    }
                }
                Some(Err(error)) => ending.error = Some(error),
                None => break,
            },
            () = quiet => start_close(&mut closing, &mut ending, &close_tx),
        }
    }
    writer_task.abort();
    let _ = writer_task.await;
    ending
}

/// Asks the writer task for a normal close (once).
fn start_close(closing: &mut bool, ending: &mut Ending, close_tx: &mpsc::Sender<(CloseCode, String)>) {
    *closing = true;
    ending.by_us = true;
    ending.user_done = true;
    let _ = close_tx.try_send((CloseCode::NORMAL, String::new()));
}

/// Sends the user's messages and commands in order until the input ends,
/// then waits for the session to ask for the Close.
async fn write_loop(
    mut writer: WriteHalf<Transport>,
    inputs: Arc<Mutex<mpsc::Receiver<Input>>>,
    mut close: mpsc::Receiver<(CloseCode, String)>,
    events: mpsc::Sender<WriterEvent>,
    printer: Printer,
) {
    let mut inputs = inputs.lock_owned().await;
    let mut ended = false;
    loop {
        let input = tokio::select! {
            biased;
            request = close.recv() => {
                if let Some((code, reason)) = request {
                    let _ = writer.close(code, &reason).await;
                }
                return;
            }
            input = inputs.recv(), if !ended => input.unwrap_or(Input::End),
        };
        let sent = match input {
            Input::Text(text) => writer.send(Message::text(text)).await,
            Input::Binary(data) => writer.send(Message::Binary(data)).await,
            Input::Command(Command::Ping(data)) => writer.send(Message::Ping(data)).await,
            Input::Command(Command::Pong(data)) => writer.send(Message::Pong(data)).await,
            Input::Command(Command::Help) => {
                printer.note(HELP);
                Ok(())
            }
            Input::Command(Command::Close(code, reason)) => {
                let _ = events.send(WriterEvent::UserClosed).await;
                let _ = writer.close(code, &reason).await;
                return;
            }
            Input::Rejected(why) => {
                printer.error("input", &why);
                Ok(())
            }
            Input::End => {
                ended = true;
                let _ = events.send(WriterEvent::InputEnded).await;
                Ok(())
            }
        };
        if let Err(error) = sent {
            // The connection is closing or gone; the reading half reports how.
            tracing::debug!(%error, "send failed");
            return;
        }
    }
}
