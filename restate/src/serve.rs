//! Serving the services: the SDK's HTTP/2 server loop with one difference, `TCP_NODELAY` on
//! every accepted connection. Without it each journaled step after the first waits for the
//! server's delayed ACK (Nagle): measured, a handler with three `ctx.run`s took 55 ms instead of
//! ~12 ms one at a time (`cargo bench -p usage-restate --bench engines`, docs/engines.md).

use std::future::Future;
use std::time::Duration;

use hyper::server::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use restate_sdk::endpoint::Endpoint;
use restate_sdk::hyper::HyperEndpoint;
use tokio::net::TcpListener;

/// Serves `endpoint` on `listener` until `stop` completes, then lets open connections finish
/// for up to 10 s. Connections that cannot be served are logged (tracing) and dropped.
pub async fn serve(endpoint: Endpoint, listener: TcpListener, stop: impl Future) {
    let endpoint = HyperEndpoint::new(endpoint);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!("accepting a connection: {e}");
                        // Out of file handles, say: do not spin.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::warn!("TCP_NODELAY on {remote}: {e}");
                }
                let connection = http2::Builder::new(TokioExecutor::default())
                    .serve_connection(TokioIo::new(stream), endpoint.clone());
                let watched = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = watched.await {
                        tracing::warn!("serving {remote}: {e:?}");
                    }
                });
            }
            _ = &mut stop => break,
        }
    }
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(10)) => {
            tracing::warn!("connections still open 10 s after the stop");
        }
    }
}
