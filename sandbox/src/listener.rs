//! The accept loop and each connection's task: hyper HTTP/1 connections under the
//! [`connections`](crate::connections) limits, each its own task so one slow or panicking
//! connection touches no other.
//!
//! Policy: a connection gets a place in the [`Registry`] or, when every open connection is busy,
//! a `503` with `Connection: close` written at once (no request is read). Its task ends when the
//! connection closes, its phase runs out (header-read or idle timeout), it is evicted (dropped
//! at once while waiting for a head; otherwise shut down gracefully, finishing an answer in
//! flight, within the header-read timeout), a fault drops it (an RST when asked), or the sandbox
//! stops. Shutdown waits for every connection task, so nothing holds the state file after it.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::app::App;
use crate::connections::{Conn, Limits, Registry, Slot};
use crate::server;

/// What a connection past the cap is told when every open connection is busy.
fn over_capacity(max: usize) -> String {
    let body = format!(
        r#"{{"message":"too many connections: all {max} open ones are busy; retry in a second"}}"#
    );
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Binds `addr`.
pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `app` on `listener`, its connections in `registry` (which holds the limits), until
/// `shutdown` turns true (or its sender is dropped); returns once every connection task has
/// ended.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    registry: Arc<Registry>,
    mut shutdown: watch::Receiver<bool>,
) {
    let limits = *registry.limits();
    let mut tasks = JoinSet::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors, usually: let connections close, then go on.
                Err(_) => { tokio::time::sleep(Duration::from_millis(10)).await; continue; }
            },
            _ = shutdown.changed() => break,
        };
        while tasks.try_join_next().is_some() {}
        let Some(slot) = registry.admit() else {
            // Every connection is busy: say so without reading the request, and close.
            let _ = stream.try_write(over_capacity(limits.max_connections).as_bytes());
            continue;
        };
        let _ = stream.set_nodelay(true);
        tasks.spawn(connection(
            stream,
            slot,
            app.clone(),
            limits,
            shutdown.clone(),
        ));
    }
    drop(listener);
    while tasks.join_next().await.is_some() {}
}

/// Serves one connection until it closes, runs out of time, is evicted or dropped, or the
/// sandbox stops.
async fn connection(
    stream: TcpStream,
    slot: Slot,
    app: Arc<App>,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let conn = slot.conn.clone();
    let io = Io {
        stream,
        conn: conn.clone(),
    };
    let handler_conn = conn.clone();
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let (app, conn) = (app.clone(), handler_conn.clone());
        async move {
            conn.busy();
            let response = server::handle(app, conn.clone(), req.map(Body::new)).await;
            conn.done();
            Ok::<_, Infallible>(response)
        }
    });
    let mut http = pin!(
        http1::Builder::new()
            .keep_alive(true)
            // The header-read timeout is ours (`Conn::deadline`): hyper's starts again at
            // every idle spell, which would make it the idle timeout too.
            .header_read_timeout(None)
            .serve_connection(TokioIo::new(io), service)
    );
    if *stop.borrow_and_update() {
        return;
    }
    let mut evicted_by: Option<tokio::time::Instant> = None;
    loop {
        let deadline = evicted_by.unwrap_or_else(|| conn.deadline(&limits));
        tokio::select! {
            _ = http.as_mut() => break,
            () = conn.killed() => break,
            _ = stop.changed() => break,
            () = conn.evicted(), if evicted_by.is_none() => {
                if conn.waiting_for_head() {
                    break;
                }
                http.as_mut().graceful_shutdown();
                evicted_by = Some(tokio::time::Instant::now() + limits.header_read_timeout);
            }
            () = tokio::time::sleep_until(deadline) => {
                if evicted_by.is_some() || conn.expired(&limits) {
                    break;
                }
            }
        }
    }
    drop(slot);
}

/// A connection's socket as hyper reads and writes it: it tells the [`Conn`] when bytes arrive
/// (an idle connection starts waiting for a head), and closes with an RST when a fault asked
/// for one. One file descriptor per connection (no duplicate for the RST).
struct Io {
    stream: TcpStream,
    conn: Arc<Conn>,
}

impl Drop for Io {
    fn drop(&mut self) {
        if self.conn.reset_requested() {
            let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
        }
    }
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.conn.received();
        }
        polled
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use crate::auth::{REBILLY, least_privileged};
    use crate::faults::FaultSpec;
    use crate::store::Store;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A sandbox served by [`serve`] directly, so a test sees its [`App`] and [`Registry`].
    struct Served {
        addr: SocketAddr,
        app: Arc<App>,
        registry: Arc<Registry>,
        stop: watch::Sender<bool>,
        task: tokio::task::JoinHandle<()>,
    }

    async fn served(config: Config) -> Served {
        let store = Store::open(&config.fixture, None).unwrap();
        let app = Arc::new(App::new(
            config.fixture.clone(),
            store,
            config.faults.clone(),
            0,
            false,
        ));
        let registry = Registry::new(config.limits());
        let listener = bind(config.addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(serve(listener, app.clone(), registry.clone(), stopped));
        Served {
            addr,
            app,
            registry,
            stop,
            task,
        }
    }

    fn usage_post(key: &str) -> String {
        let body = r#"{"subscriptionId":"sub_unlimited","quantity":1}"#;
        format!(
            "POST /usages HTTP/1.1\r\nhost: x\r\nreb-apikey: {key}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    /// Sends `request` on a new connection and reads until the server closes it.
    async fn exchange(addr: SocketAddr, request: &str) -> String {
        let mut socket = TcpStream::connect(addr).await.unwrap();
        socket.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let _ = socket.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_handler_panicking_with_the_store_locked_leaves_the_sandbox_working() {
        let s = served(Config::default()).await;
        let key = least_privileged(&s.app.fixture.keys, &[REBILLY.write])
            .unwrap()
            .key
            .clone();
        let panicked = exchange(
            s.addr,
            "GET /_sandbox/panic HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(
            panicked, "",
            "the panicking request's connection closes unanswered"
        );
        assert!(
            s.app.store_poisoned(),
            "the panic happened with the lock held"
        );
        let created = exchange(s.addr, &usage_post(&key)).await;
        assert!(created.starts_with("HTTP/1.1 201"), "{created}");
        let stats = exchange(
            s.addr,
            "GET /_sandbox/stats HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert!(stats.contains(r#""usages":1"#), "{stats}");
        let _ = s.stop.send(true);
        s.task.await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn past_the_cap_with_every_connection_busy_a_new_one_gets_a_503_at_once() {
        let s = served(Config {
            max_connections: 2,
            faults: FaultSpec::parse("delay=30s,prefix=/usages").unwrap(),
            ..Config::default()
        })
        .await;
        let key = least_privileged(&s.app.fixture.keys, &[REBILLY.write])
            .unwrap()
            .key
            .clone();
        let mut slow = Vec::new();
        for _ in 0..2 {
            let (addr, request) = (s.addr, usage_post(&key));
            slow.push(tokio::spawn(async move { exchange(addr, &request).await }));
        }
        // Bounded wait for both handlers to be running (delayed 30 s by the fault).
        tokio::time::timeout(Duration::from_secs(10), async {
            while s.registry.busy() < 2 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("both slow requests are being handled");
        let refused = tokio::time::timeout(Duration::from_secs(10), exchange(s.addr, ""))
            .await
            .expect("the connection past the cap is answered, not left hanging");
        assert!(
            refused.starts_with("HTTP/1.1 503 Service Unavailable\r\n")
                && refused.contains("connection: close")
                && refused.contains("too many connections"),
            "{refused}"
        );
        assert!(
            slow.iter().all(|t| !t.is_finished()),
            "the busy connections were left alone"
        );
        assert_eq!(s.registry.open(), 2);
        let _ = s.stop.send(true);
        s.task.await.unwrap();
        for t in slow {
            assert_eq!(t.await.unwrap(), "", "shutdown closes them");
        }
    }
}
