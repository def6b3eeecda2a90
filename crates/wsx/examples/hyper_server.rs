//! WebSockets and plain HTTP on one port with hyper 1.x:
//! `cargo run -p wsx --features hyper --example hyper_server [ADDR]`, then
//! `curl http://127.0.0.1:9002/` and `wsx connect ws://127.0.0.1:9002/echo`.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

async fn handle(mut request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.uri().path() != "/echo" {
        return Ok(Response::new(Full::new(Bytes::from_static(b"hello from hyper\n"))));
    }
    let policy = wsx::HandshakePolicy::default().subprotocols(["echo.v1"]);
    let upgrade = match wsx::hyper::upgrade(&mut request, &policy, wsx::Config::default()) {
        Ok(upgrade) => upgrade,
        Err(rejection) => return Ok(rejection.into_response().map(Full::new)),
    };
    // Pick the first subprotocol of the client's list that we speak.
    let chosen = wsx::select_subprotocol(&upgrade.offer().subprotocols, &["echo.v1"]).map(str::to_owned);
    let accept = chosen.map_or_else(wsx::Accept::default, |p| wsx::Accept::default().subprotocol(p));
    match upgrade.accept(accept) {
        Ok((response, pending)) => {
            tokio::spawn(async move {
                match pending.await {
                    Ok(mut ws) => {
                        while let Some(Ok(message)) = ws.recv().await {
                            if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                                break;
                            }
                        }
                    }
                    Err(error) => eprintln!("upgrade failed: {error}"),
                }
            });
            Ok(response.map(Full::new))
        }
        Err(rejection) => Ok(rejection.into_response().map(Full::new)),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9002".to_owned());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        tokio::spawn(async move {
            let connection = http1::Builder::new().serve_connection(TokioIo::new(tcp), service_fn(handle));
            // `with_upgrades` lets the connection be handed over after the 101.
            if let Err(error) = connection.with_upgrades().await {
                eprintln!("connection error: {error}");
            }
        });
    }
}
