//! RFC 9113 and RFC 8441, server role: the server's HTTP/2 path (the one a
//! cleartext connection with prior knowledge takes in `wsx::Server`, from
//! the first frame to each stream's handler and WebSocket) fed frames built
//! from the input by a small byte code, so that the fuzzer gets past HPACK
//! and framing at once and spends its time on what follows: extended
//! CONNECTs well and badly formed, WebSocket frames in DATA, resets,
//! window updates, SETTINGS, PINGs, CONTINUATIONs and raw frames of any
//! type, on any stream. The handler echoes WebSocket messages on `/echo`
//! and refuses other paths.
//!
//! Each run drives the server on a runtime with a paused clock, so its
//! deadlines pass without real waiting; the client side ends after the
//! input. The run must end (no task may wait forever), nothing may panic,
//! and what the server wrote must be whole HTTP/2 frames of known types,
//! its SETTINGS first (RFC 9113 §3.4).
#![no_main]

use std::time::Duration;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsx_fuzz::h2::{Frame, encode_program};

/// Most bytes of server output kept (a run past it still drains the rest).
const KEEP: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let input = encode_program(data);
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().expect("a runtime");
    let output = runtime.block_on(async move {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let config = wsx::Config::default().max_message_size(64 * 1024).compression(wsx::DeflateConfig::default());
        let serving = tokio::spawn(wsx::__fuzz_serve_http2(server, config, |incoming| async move {
            if incoming.request().uri().path() != "/echo" {
                let refusal = http::Response::builder().status(404).body(()).expect("a response");
                let _ = incoming.reject(refusal, Bytes::from_static(b"no such endpoint\n")).await;
                return;
            }
            let Ok(mut ws) = incoming.accept().await else { return };
            while let Some(Ok(message)) = ws.recv().await {
                if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                    break;
                }
            }
        }));
        let run = async {
            let (mut reader, mut writer) = tokio::io::split(&mut client);
            let write = async {
                // The server may stop reading (a GOAWAY, a full window):
                // then the rest of the input is dropped.
                let _ = writer.write_all(&input).await;
                // As a client would, wait for the answers before ending the
                // connection: on the paused clock this second passes once
                // every task has done what it can without a timer.
                tokio::time::sleep(Duration::from_secs(1)).await;
                let _ = writer.shutdown().await;
            };
            let read = async {
                let mut output = Vec::new();
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    match reader.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) if output.len() < KEEP => output.extend_from_slice(&buf[..n]),
                        Ok(_) => {}
                    }
                }
                output
            };
            let ((), output) = tokio::join!(write, read);
            output
        };
        // Virtual time: the handshake, close and keepalive deadlines all
        // pass long before this one, so a run still going is a hang.
        let output = tokio::time::timeout(Duration::from_secs(24 * 3600), run)
            .await
            .expect("the server ended the connection after the client's input");
        let _ = serving.await;
        output
    });
    check_output(&output);
});

/// The server's bytes: its SETTINGS, then whole frames of known types.
fn check_output(output: &[u8]) {
    let mut rest = output;
    let mut first = true;
    while !rest.is_empty() {
        let frame = Frame::parse(rest).unwrap_or_else(|| panic!("a partial frame at the end: {rest:02x?}"));
        assert!(frame.kind <= 0x9, "frame type {:#x} from the server", frame.kind);
        if first {
            assert_eq!(frame.kind, 0x4, "the server's preface is a SETTINGS frame");
            first = false;
        }
        rest = &rest[frame.len..];
    }
}
