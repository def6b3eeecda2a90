//! Prints the in-memory size of the per-connection state of `wsx` (what an
//! idle connection costs before any buffer): the connection, its config and
//! the future `wsx::serve` spawns for the echo handler.

use std::mem::size_of;

use tokio::net::TcpStream;

async fn echo(incoming: wsx::IncomingRequest<TcpStream>) {
    let Ok(mut ws) = incoming.accept().await else { return };
    while let Some(Ok(message)) = ws.recv().await {
        if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
            return;
        }
    }
}

fn main() {
    println!("wsx::WebSocket<TcpStream>        {:>6} B", size_of::<wsx::WebSocket<TcpStream>>());
    println!("wsx::Config                      {:>6} B", size_of::<wsx::Config>());
    println!("wsx::proto::Connection            {:>6} B", size_of::<wsx::proto::Connection>());
    println!("wsx::IncomingRequest<TcpStream>  {:>6} B", size_of::<wsx::IncomingRequest<TcpStream>>());
    println!("tokio::time::Sleep               {:>6} B", size_of::<tokio::time::Sleep>());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let _client = TcpStream::connect(addr).await.expect("connect");
        let (tcp, _) = listener.accept().await.expect("accept");
        let read = wsx::IncomingRequest::read(tcp, wsx::Config::default());
        println!("IncomingRequest::read future     {:>6} B", size_of_val(&read));
        let handler = |incoming| echo(incoming);
        let _ = handler;
        println!("echo handler future              {:>6} B", future_size(echo));
    });
}

fn future_size<F, Fut>(_: F) -> usize
where
    F: Fn(wsx::IncomingRequest<TcpStream>) -> Fut,
{
    size_of::<Fut>()
}
