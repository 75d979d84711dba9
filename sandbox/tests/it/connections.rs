//! Connection limits over loopback: idle and half-open sockets cannot starve a real request
//! (the connection cap evicts them), and the header-read, idle and body timeouts close what
//! sends too little.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use usage_sandbox::Config;
use usage_test_support::Sandbox;

/// The soft limit on open files of this process (`/proc/self/limits`; 1,024 if unreadable).
fn open_file_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(3)?.parse().ok()
        })
        .unwrap_or(1024)
}

/// Reads until the server closes `socket` (EOF or reset), at most `within`; what it read, or
/// `None` when it was still open.
async fn closed_within(socket: &mut TcpStream, within: Duration) -> Option<String> {
    let mut read = Vec::new();
    match tokio::time::timeout(within, socket.read_to_end(&mut read)).await {
        Ok(_) => Some(String::from_utf8_lossy(&read).into_owned()),
        Err(_) => None,
    }
}

/// A socket that connected and sent `sent` (maybe nothing), then nothing more.
async fn idle_socket(addr: SocketAddr, sent: &[u8]) -> TcpStream {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(sent).await.unwrap();
    socket
}

const HALF_OPEN: &[u8] = b"POST /usages HTTP/1.1\r\nhost: sandbox\r\ncontent-type: app";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_half_open_sockets_do_not_starve_a_fresh_client() {
    const CAP: usize = 200;
    // 2,000 sockets, or as many as this process's descriptor limit allows next to the
    // sandbox's CAP and some spare.
    let count = 2_000.min(open_file_limit().saturating_sub(CAP + 200));
    assert!(count > CAP, "too few file descriptors to outnumber the cap");
    let header_read_timeout = Duration::from_secs(30);
    let s = Sandbox::with(Config {
        max_connections: CAP,
        header_read_timeout,
        ..Config::default()
    })
    .await;
    let addr = s.running().addr();
    let mut sockets = Vec::with_capacity(count);
    for i in 0..count {
        let sent = if i % 2 == 0 { &b""[..] } else { HALF_OPEN };
        sockets.push(idle_socket(addr, sent).await);
    }
    // A fresh client's requests complete well before any of those sockets times out: they
    // were evicted to make room, not waited out.
    let bound = header_read_timeout / 2;
    let (status, _, usage) = tokio::time::timeout(
        bound,
        s.rebilly(
            "/usages",
            json!({"subscriptionId": "sub_unlimited", "quantity": 1}),
        ),
    )
    .await
    .expect("the request completes within the bound");
    assert_eq!(status, StatusCode::CREATED, "{usage}");
    let stats = tokio::time::timeout(bound, s.stats())
        .await
        .expect("a read completes too");
    assert_eq!(stats["usages"], 1);
    // The sandbox kept at most CAP of them: the rest were closed.
    let mut reads = JoinSet::new();
    for mut socket in sockets {
        reads.spawn(async move {
            closed_within(&mut socket, Duration::from_secs(3))
                .await
                .is_some()
        });
    }
    let closed = reads.join_all().await.into_iter().filter(|c| *c).count();
    assert!(
        closed >= count - CAP,
        "only {closed} of {count} closed with a cap of {CAP}"
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_that_send_too_little_are_closed_after_their_timeouts() {
    let s = Sandbox::with(Config {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(700),
        ..Config::default()
    })
    .await;
    let addr = s.running().addr();
    let bound = Duration::from_secs(10);
    // Silent, and half-open: closed after the header-read timeout, unanswered.
    for sent in [&b""[..], HALF_OPEN] {
        let mut socket = idle_socket(addr, sent).await;
        let answer = closed_within(&mut socket, bound).await;
        assert_eq!(
            answer.as_deref(),
            Some(""),
            "sent {:?}",
            String::from_utf8_lossy(sent)
        );
    }
    // Kept alive: two requests on one connection, then closed after the idle timeout.
    let mut socket = TcpStream::connect(addr).await.unwrap();
    for _ in 0..2 {
        socket
            .write_all(b"GET /_sandbox/stats HTTP/1.1\r\nhost: sandbox\r\n\r\n")
            .await
            .unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"}") {
            let mut byte = [0u8; 1];
            assert_eq!(
                socket.read(&mut byte).await.unwrap(),
                1,
                "answered: {head:?}"
            );
            head.push(byte[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 200 OK\r\n"),
            "{}",
            String::from_utf8_lossy(&head)
        );
    }
    assert_eq!(closed_within(&mut socket, bound).await.as_deref(), Some(""));
    // A body that stops short: 408 after the read timeout, in the vendor's format.
    let key = s.dev_key("rebilly");
    let mut socket = idle_socket(
        addr,
        format!("POST /usages HTTP/1.1\r\nhost: sandbox\r\nreb-apikey: {key}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"quantity\"").as_bytes(),
    )
    .await;
    let answer = closed_within(&mut socket, bound)
        .await
        .expect("answered and closed");
    assert!(
        answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{answer}"
    );
    assert!(answer.contains("application/problem+json"), "{answer}");
    s.shutdown().await;
}
