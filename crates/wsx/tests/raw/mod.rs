//! Hand-made frames for the driver tests: the raw end of a duplex writes
//! bytes built here and reads back what the driver wrote, without wsx's own
//! codec in the way.

#![allow(dead_code, reason = "each test binary uses part of the shared helpers")]

use std::future::Future;

use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt, DuplexStream};
use wsx::{CloseCode, CloseFrame, Message};

#[allow(unused_imports, reason = "each test binary uses part of the shared helpers")]
pub(crate) use wsx_test_support::{KEY, client_frame, frame, server_frame};

pub(crate) fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut out = code.to_be_bytes().to_vec();
    out.extend_from_slice(reason.as_bytes());
    out
}

pub(crate) fn close_message(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame::new(CloseCode::from(code), reason).unwrap()))
}

/// Reads one frame: its first byte, whether it was masked, its (unmasked) payload.
pub(crate) async fn read_frame(raw: &mut (impl AsyncRead + Unpin)) -> (u8, bool, Vec<u8>) {
    let mut head = [0u8; 2];
    raw.read_exact(&mut head).await.unwrap();
    let masked = head[1] & 0x80 != 0;
    let len = match head[1] & 0x7f {
        126 => {
            let mut ext = [0u8; 2];
            raw.read_exact(&mut ext).await.unwrap();
            u16::from_be_bytes(ext) as usize
        }
        127 => {
            let mut ext = [0u8; 8];
            raw.read_exact(&mut ext).await.unwrap();
            u64::from_be_bytes(ext) as usize
        }
        n => n as usize,
    };
    let mut key = [0u8; 4];
    if masked {
        raw.read_exact(&mut key).await.unwrap();
    }
    let mut payload = vec![0u8; len];
    raw.read_exact(&mut payload).await.unwrap();
    if masked {
        wsx_test_support::unmask(&mut payload, key);
    }
    (head[0], masked, payload)
}

/// Polls once, outside the cooperative budget: `None` if not ready.
pub(crate) fn now<F: Future>(fut: F) -> Option<F::Output> {
    tokio::task::unconstrained(fut).now_or_never()
}

/// The next frame, which must already be written.
pub(crate) fn frame_now(raw: &mut DuplexStream) -> (u8, bool, Vec<u8>) {
    now(read_frame(raw)).expect("the frame should already be written")
}

pub(crate) fn assert_eof_now(raw: &mut DuplexStream) {
    let read = now(raw.read(&mut [0u8; 16])).expect("end of stream should already be there");
    assert_eq!(read.unwrap(), 0, "expected end of stream");
}

pub(crate) fn assert_nothing_now(raw: &mut DuplexStream) {
    let mut buf = [0u8; 64];
    if let Some(read) = now(raw.read(&mut buf)) {
        let n = read.unwrap();
        panic!("expected nothing written, read {n} bytes: {:02x?}", &buf[..n]);
    }
}

/// Reads one frame that must be unmasked (a server's): its first byte and payload.
pub(crate) async fn read_server_frame(raw: &mut DuplexStream) -> (u8, Vec<u8>) {
    let (first, masked, payload) = read_frame(raw).await;
    assert!(!masked, "a server frame is not masked");
    (first, payload)
}

/// The next server frame, which must already be written.
pub(crate) fn server_frame_now(raw: &mut DuplexStream) -> (u8, Vec<u8>) {
    now(read_server_frame(raw)).expect("the frame should already be written")
}
