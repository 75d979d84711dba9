//! The `--state` journal across restarts in one process: inputs that used to brick it leave
//! nothing behind, a torn last line is cut before the next write (which then survives two
//! restarts), and a second sandbox on the same file fails while the first runs. (`kill -9`
//! with requests in flight: `connector/tests/sandbox_cli.rs`.) Reads after a delete, live and
//! replayed, find the usages that are left.

use std::io::Write;
use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use usage_sandbox::Config;
use usage_test_support::Sandbox;

/// A fresh state file path for `name` under the target's temporary directory.
fn state_file(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("sandbox-{name}.journal"));
    let _ = std::fs::remove_file(&path);
    path
}

async fn with_state(path: &Path) -> Sandbox {
    Sandbox::with(Config {
        state: Some(path.to_path_buf()),
        ..Config::default()
    })
    .await
}

fn usage(quantity: &str, usage_time: &str) -> String {
    format!(
        r#"{{"subscriptionId": "sub_limit_100", "quantity": {quantity}, "usageTime": "{usage_time}"}}"#
    )
}

async fn post_usage(s: &Sandbox, body: &str) -> (StatusCode, Value) {
    let headers = [
        ("REB-APIKEY", s.dev_key("rebilly")),
        ("content-type", "application/json"),
    ];
    let (status, _, body) = s.call(Method::POST, "/usages", &headers, Some(body)).await;
    (status, body)
}

/// The usages stored, in creation order.
async fn usages(s: &Sandbox) -> Vec<Value> {
    s.usages(&[("sort", "createdTime")]).await.items
}

#[tokio::test]
async fn inputs_that_used_to_brick_the_sandbox_leave_a_state_file_that_restarts() {
    let path = state_file("brick");
    let s = with_state(&path).await;
    for _ in 0..2 {
        let (status, p) = post_usage(&s, &usage("7e28", "2025-05-01T12:00:00Z")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    }
    let over = json!({"reference": "evt_over_0001", "meter_reference": "api_calls",
        "meter_values": vec![json!({"reference": "call_count", "number": "79228162514264337593543950335"}); 11]});
    let (status, _, e) = s
        .solvimon("/v1/events/calculate?cost_prediction=true", over)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let (status, ok) = post_usage(&s, &usage("2.5", "2025-05-01T12:00:00Z")).await;
    assert_eq!(status, StatusCode::CREATED, "{ok}");
    s.shutdown().await;

    let s = with_state(&path).await;
    assert_eq!(
        usages(&s).await,
        std::slice::from_ref(&ok),
        "only the acknowledged write is there"
    );
    let (status, next) = post_usage(&s, &usage("1", "2025-05-01T12:01:00Z")).await;
    assert_eq!(status, StatusCode::CREATED, "{next}");
    s.shutdown().await;
    let s = with_state(&path).await;
    assert_eq!(usages(&s).await, [ok, next]);
    s.shutdown().await;
}

#[tokio::test]
async fn a_torn_tail_is_cut_and_the_next_acknowledged_write_survives_two_restarts() {
    let path = state_file("torn");
    let s = with_state(&path).await;
    let (status, first) = post_usage(&s, &usage("1", "2025-05-01T12:00:00Z")).await;
    assert_eq!(status, StatusCode::CREATED);
    s.shutdown().await;
    // What a crash mid-write (or a full disk) leaves: half a line, no newline.
    let clean = std::fs::metadata(&path).unwrap().len();
    let torn =
        br#"{"op":"usage","record":{"id":"sub_usg_00000000000000000002","subscriptionId":"sub_li"#;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(torn)
        .unwrap();

    let s = with_state(&path).await;
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        clean,
        "the torn line is cut at start"
    );
    assert_eq!(usages(&s).await, std::slice::from_ref(&first));
    let (status, acked) = post_usage(&s, &usage("2", "2025-05-01T12:01:00Z")).await;
    assert_eq!(status, StatusCode::CREATED, "{acked}");
    s.shutdown().await;
    for restart in 1..=2 {
        let s = with_state(&path).await;
        assert_eq!(
            usages(&s).await,
            [first.clone(), acked.clone()],
            "restart {restart}"
        );
        // The limit still counts both: 100 - 1 - 2 = 97 left.
        let (status, p) = post_usage(&s, &usage("97.001", "2025-05-01T12:02:00Z")).await;
        assert_eq!(status, StatusCode::CONFLICT, "restart {restart}: {p}");
        s.shutdown().await;
    }
}

#[tokio::test]
async fn a_second_sandbox_on_the_same_state_file_fails_while_the_first_runs() {
    let path = state_file("locked");
    let first = with_state(&path).await;
    let err = usage_sandbox::start(Config {
        state: Some(path.clone()),
        ..Config::default()
    })
    .await
    .err()
    .expect("the second sandbox does not start");
    assert!(
        matches!(err, usage_sandbox::Error::StateLocked { .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains(path.to_str().unwrap()) && message.contains("in use by another sandbox"),
        "{message}"
    );
    // The first one is unaffected and still writes.
    let (status, _) = post_usage(&first, &usage("1", "2025-05-01T12:00:00Z")).await;
    assert_eq!(status, StatusCode::CREATED);
    first.shutdown().await;
    let second = with_state(&path).await;
    assert_eq!(
        usages(&second).await.len(),
        1,
        "once the first stops, the file is free"
    );
    second.shutdown().await;
}

/// Reads by id, usage time and subscription find the right usages after an earlier one is
/// deleted (every later one moves up a place), live and after a restart from the state file.
#[tokio::test]
async fn reads_after_a_delete_find_the_usages_that_are_left() {
    let path = state_file("reads-after-delete");
    let s = with_state(&path).await;
    let mut ids = Vec::new();
    for (i, time) in [
        "2025-05-01T12:00:01Z",
        "2025-05-01T12:00:02Z",
        "2025-05-01T12:00:03Z",
    ]
    .iter()
    .enumerate()
    {
        let (status, u) = post_usage(&s, &usage(&(i + 1).to_string(), time)).await;
        assert_eq!(status, StatusCode::CREATED, "{u}");
        ids.push(u["id"].as_str().unwrap().to_owned());
    }
    let key = [("REB-APIKEY", s.dev_key("rebilly"))];
    let (status, _, _) = s
        .call(Method::DELETE, &format!("/usages/{}", ids[0]), &key, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    check_reads(&s, &ids).await;
    s.shutdown().await;
    check_reads(&with_state(&path).await, &ids).await;
}

/// The reads of `reads_after_a_delete_find_the_usages_that_are_left`.
async fn check_reads(s: &Sandbox, ids: &[String]) {
    let key = [("REB-APIKEY", s.dev_key("rebilly"))];
    let (status, _, first) = s
        .call(Method::GET, &format!("/usages/{}", ids[0]), &key, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{first}");
    let (_, _, second) = s
        .call(Method::GET, &format!("/usages/{}", ids[1]), &key, None)
        .await;
    assert_eq!(second["quantity"], 2, "{second}");
    let at = |time: &str| format!("usageTime:{time}");
    let third = s.usages(&[("filter", &at("2025-05-01T12:00:03Z"))]).await;
    assert_eq!(third.total, 1);
    assert_eq!(third.items[0]["id"], ids[2].as_str());
    let gone = s.usages(&[("filter", &at("2025-05-01T12:00:01Z"))]).await;
    assert_eq!(gone.total, 0);
    // Two filters (and), one of them met by two usages; a value given twice (or) counts once.
    let both = format!(
        "subscriptionId:sub_limit_100;{}",
        at("2025-05-01T12:00:03Z")
    );
    let third = s.usages(&[("filter", &both)]).await;
    assert_eq!((third.total, &third.items[0]["id"]), (1, &json!(ids[2])));
    let twice = format!("id:{0},{0}", ids[1]);
    assert_eq!(s.usages(&[("filter", &twice)]).await.total, 1);
    let left = s
        .usages(&[("filter", "subscriptionId:sub_limit_100")])
        .await;
    let quantities: Vec<&Value> = left.items.iter().map(|u| &u["quantity"]).collect();
    assert_eq!(quantities, [&json!(2), &json!(3)], "in creation order");
}
