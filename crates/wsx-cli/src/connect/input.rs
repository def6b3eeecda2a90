//! What `wsx connect` sends: stdin read on a thread of its own (lines or
//! binary chunks, each length bounded), `--execute` messages, and the
//! interactive slash commands.
//!
//! stdin is read by a plain thread with blocking reads, not by the async
//! runtime: a read that never returns (a terminal nobody types into) must
//! not keep the process alive once the connection has ended.

use std::io::{BufRead, Read};

use bytes::Bytes;
use tokio::sync::mpsc;
use wsx::CloseCode;

/// One thing to do, in the order the user gave them.
#[derive(Debug, PartialEq)]
pub(crate) enum Input {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Bytes),
    /// A slash command.
    Command(Command),
    /// A line that could not be sent (too long, not UTF-8, a bad command):
    /// reported, the rest goes on.
    Rejected(String),
    /// The input is over (end of stdin, or every `--execute` message sent).
    End,
}

/// The interactive commands (`/help` lists them).
#[derive(Debug, PartialEq)]
pub(crate) enum Command {
    /// `/ping [data]`: a Ping with `data` (at most 125 bytes).
    Ping(Bytes),
    /// `/pong [data]`: an unsolicited Pong (a heartbeat, §5.5.3).
    Pong(Bytes),
    /// `/close [code [reason]]`: starts the closing handshake.
    Close(CloseCode, String),
    /// `/help`.
    Help,
}

/// The text `/help` prints.
pub(crate) const HELP: &str = "commands: /ping [data], /pong [data], /close [code [reason]], /help; \
    start a line with // to send a text that begins with /";

/// How stdin is turned into messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StdinMode {
    /// Each read of stdin is one binary message (else each line is a text message).
    pub(crate) binary: bool,
    /// Lines starting with `/` are commands.
    pub(crate) slash: bool,
    /// The longest line or chunk sent, in bytes.
    pub(crate) max_len: usize,
}

/// Messages given on the command line (`--execute`), then the end.
pub(crate) fn from_messages(messages: &[String], slash: bool) -> mpsc::Receiver<Input> {
    let (tx, rx) = mpsc::channel(messages.len() + 1);
    for message in messages {
        // Capacity covers every message: `try_send` cannot fail here.
        let _ = tx.try_send(parse_line(message, slash));
    }
    let _ = tx.try_send(Input::End);
    rx
}

/// Starts the thread that reads stdin until its end (or until the receiver
/// is gone). The channel is bounded: a slow connection slows the reads.
pub(crate) fn from_stdin(mode: StdinMode) -> mpsc::Receiver<Input> {
    let (tx, rx) = mpsc::channel(64);
    let spawned = std::thread::Builder::new().name("stdin".into()).spawn(move || {
        let stdin = std::io::stdin().lock();
        let result = if mode.binary { read_chunks(stdin, mode.max_len, &tx) } else { read_lines(stdin, mode, &tx) };
        if let Err(error) = result {
            let _ = tx.blocking_send(Input::Rejected(format!("reading stdin: {error}")));
        }
        let _ = tx.blocking_send(Input::End);
    });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the stdin thread");
    }
    rx
}

fn read_chunks(mut stdin: impl Read, max_len: usize, tx: &mpsc::Sender<Input>) -> std::io::Result<()> {
    let mut buffer = vec![0; max_len.clamp(1, 64 * 1024)];
    loop {
        let read = match stdin.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if tx.blocking_send(Input::Binary(Bytes::copy_from_slice(&buffer[..read]))).is_err() {
            return Ok(());
        }
    }
}

fn read_lines(mut stdin: impl BufRead, mode: StdinMode, tx: &mpsc::Sender<Input>) -> std::io::Result<()> {
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let (ended, overlong) = read_line_bounded(&mut stdin, &mut line, mode.max_len)?;
        if ended && line.is_empty() && !overlong {
            return Ok(());
        }
        number += 1;
        let input = if overlong {
            Input::Rejected(format!("line {number} is longer than {} bytes; not sent", mode.max_len))
        } else {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            match std::str::from_utf8(&line) {
                Ok(text) => parse_line(text, mode.slash),
                Err(_) => Input::Rejected(format!("line {number} is not UTF-8; not sent (use --binary)")),
            }
        };
        if tx.blocking_send(input).is_err() || ended {
            return Ok(());
        }
    }
}

/// Reads one line (without its `\n`) into `line`, keeping at most `max`
/// bytes: the rest of a longer line is read and dropped. Returns whether
/// stdin ended, and whether the line was too long.
fn read_line_bounded(stdin: &mut impl BufRead, line: &mut Vec<u8>, max: usize) -> std::io::Result<(bool, bool)> {
    let mut overlong = false;
    loop {
        let available = match stdin.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if available.is_empty() {
            return Ok((true, overlong));
        }
        let (piece, used, done) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (&available[..end], end + 1, true),
            None => (available, available.len(), false),
        };
        if line.len() + piece.len() > max {
            overlong = true;
            line.clear();
        } else if !overlong {
            line.extend_from_slice(piece);
        }
        stdin.consume(used);
        if done {
            return Ok((false, overlong));
        }
    }
}

/// A line as typed: a text message, or with `slash` a command when it
/// starts with one `/` (`//` escapes it).
pub(crate) fn parse_line(line: &str, slash: bool) -> Input {
    if !slash || !line.starts_with('/') {
        return Input::Text(line.to_owned());
    }
    if let Some(text) = line.strip_prefix("//") {
        return Input::Text(format!("/{text}"));
    }
    let (name, rest) = line[1..].split_once(' ').unwrap_or((&line[1..], ""));
    let command = match name {
        "ping" | "pong" if rest.len() > 125 => {
            return Input::Rejected("a ping or pong carries at most 125 bytes".into());
        }
        "ping" => Command::Ping(Bytes::copy_from_slice(rest.as_bytes())),
        "pong" => Command::Pong(Bytes::copy_from_slice(rest.as_bytes())),
        "close" => match parse_close(rest) {
            Ok((code, reason)) => Command::Close(code, reason),
            Err(why) => return Input::Rejected(why),
        },
        "help" | "?" => Command::Help,
        _ => return Input::Rejected(format!("unknown command /{name}; {HELP}")),
    };
    Input::Command(command)
}

/// `[code [reason]]` of `/close`: a code a peer may send (§7.4) and a
/// reason that fits a Close frame (123 bytes).
fn parse_close(rest: &str) -> Result<(CloseCode, String), String> {
    let rest = rest.trim_start();
    if rest.is_empty() {
        return Ok((CloseCode::NORMAL, String::new()));
    }
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    let code: u16 = code.parse().map_err(|_| format!("/close: {code:?} is not a close code"))?;
    let code = CloseCode::from(code);
    if !code.is_sendable() {
        return Err(format!("/close: {code} may not be sent (RFC 6455 §7.4: use 1000–1003, 1007–1014, 3000–4999)"));
    }
    if reason.len() > 123 {
        return Err("/close: the reason is longer than 123 bytes".into());
    }
    Ok((code, reason.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slash_commands_and_the_escape() {
        assert_eq!(parse_line("/ping", true), Input::Command(Command::Ping(Bytes::new())));
        assert_eq!(parse_line("/ping hi there", true), Input::Command(Command::Ping(Bytes::from_static(b"hi there"))));
        assert_eq!(parse_line("/pong", true), Input::Command(Command::Pong(Bytes::new())));
        assert_eq!(parse_line("/close", true), Input::Command(Command::Close(CloseCode::NORMAL, String::new())));
        assert_eq!(
            parse_line("/close 4001 go away", true),
            Input::Command(Command::Close(CloseCode::from(4001), "go away".into()))
        );
        assert_eq!(parse_line("//ping", true), Input::Text("/ping".into()));
        assert_eq!(parse_line("/ping", false), Input::Text("/ping".into()));
        assert_eq!(parse_line("plain", true), Input::Text("plain".into()));
        assert!(matches!(parse_line("/nope", true), Input::Rejected(_)));
        assert!(matches!(parse_line("/close 1005", true), Input::Rejected(_)));
        assert!(matches!(parse_line("/close abc", true), Input::Rejected(_)));
        assert!(matches!(parse_line(&format!("/ping {}", "x".repeat(126)), true), Input::Rejected(_)));
    }

    #[test]
    fn lines_are_bounded_and_overlong_ones_skipped() -> std::io::Result<()> {
        let mut input = &b"short\r\nthis one is too long\nok\nlast"[..];
        let mut line = Vec::new();
        assert_eq!(read_line_bounded(&mut input, &mut line, 8)?, (false, false));
        assert_eq!(line, b"short\r");
        line.clear();
        assert_eq!(read_line_bounded(&mut input, &mut line, 8)?, (false, true));
        line.clear();
        assert_eq!(read_line_bounded(&mut input, &mut line, 8)?, (false, false));
        assert_eq!(line, b"ok");
        line.clear();
        assert_eq!(read_line_bounded(&mut input, &mut line, 8)?, (true, false));
        assert_eq!(line, b"last");
        Ok(())
    }
}
