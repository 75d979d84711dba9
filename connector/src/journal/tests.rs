use super::*;

fn to(server: &str) -> Destination {
    Destination {
        endpoint: Some("rebilly.create-usage".into()),
        server: server.into(),
        credentials: Some("cred-1".into()),
    }
}

#[test]
fn a_reopened_journal_recalls_by_destination_and_survives_a_torn_line() {
    let dir = std::env::temp_dir().join(format!("uc-journal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("journal.jsonl");
    let at: DateTime<Utc> = "2026-01-02T03:04:05.678Z".parse().unwrap();
    let (a, b) = (to("http://a"), to("http://b"));
    let j = FileJournal::open(&path).unwrap();
    assert_eq!(j.recall("wf", "t", &a), None);
    let (t, u) = (Began::of(&["key-t"]), Began::of(&["key-u"]));
    j.begin("wf", "t", at, &a, t).unwrap();
    j.begin("wf", "u", at, &a, u).unwrap();
    j.finish("wf", "u", &a, "req-1", u).unwrap();
    j.complete("wf", "u", &serde_json::json!({"statusCode": 201}))
        .unwrap();
    drop(j);
    // A crash mid-write leaves half a line.
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"{\"event\":\"begin\",\"workflowId\":\"wf\",\"ta")
        .unwrap();
    drop(f);
    let j = FileJournal::open(&path).unwrap();
    let here = |done| Recalled {
        at,
        done,
        elsewhere: false,
    };
    assert_eq!(j.recall("wf", "t", &a), Some(here(false)));
    assert_eq!(j.recall("wf", "u", &a), Some(here(true)));
    assert_eq!(
        j.recall("wf", "u", &b),
        Some(Recalled {
            at,
            done: false,
            elsewhere: true,
        }),
        "another server: not done there, but looked up with the same identity"
    );
    assert_eq!(j.recall("wf", "v", &a), None);
    let recorded = j.recorded("wf");
    assert_eq!(recorded["u"].request.as_deref(), Some("req-1"));
    assert_eq!(
        recorded["u"].output,
        Some(serde_json::json!({"statusCode": 201}))
    );
    assert_eq!(recorded["t"].output, None);
    assert_eq!(recorded["t"].at, Some(at));
    j.begin("wf2", "t", at, &b, t).unwrap();
    j.end("wf", "Failed").unwrap();
    let j = FileJournal::open(&path).unwrap();
    assert_eq!(j.recall("wf2", "t", &b), Some(here(false)));
    assert_eq!(j.ended("wf").as_deref(), Some("Failed"));

    // The id run again with another request for `u`: the old output no longer stands.
    j.finish("wf", "u", &a, "req-2", u).unwrap();
    assert_eq!(j.recorded("wf")["u"].output, None);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A request begun without a final answer binds its task: another request of it may not be
/// sent (anywhere) until that one is answered, except one answered before at the same
/// destination (a loop's visit, a repeat).
#[test]
fn an_open_request_binds_its_task_until_it_is_answered() {
    let dir = std::env::temp_dir().join(format!("uc-journal-open-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("journal.jsonl");
    let at: DateTime<Utc> = "2026-01-02T03:04:05.678Z".parse().unwrap();
    let (a, b) = (to("http://a"), to("http://b"));
    let [x1, x2, x3] = ["x1", "x2", "x3"].map(|k| Began::of(&[k]));
    let j = FileJournal::open(&path).unwrap();
    assert_eq!(j.binds("wf", "t", &a, x1), None, "nothing began");
    // Visit 1 answered, visit 2 open (its outcome unknown).
    j.begin("wf", "t", at, &a, x1).unwrap();
    j.finish("wf", "t", &a, "req-1", x1).unwrap();
    j.begin("wf", "t", at, &a, x2).unwrap();
    let j = FileJournal::open(&path).unwrap();
    assert_eq!(j.binds("wf", "t", &a, x2), None, "the open one itself");
    assert_eq!(j.binds("wf", "t", &a, x1), None, "answered here: a repeat");
    assert_eq!(j.binds("wf", "t", &a, x3), Some(false), "another request");
    assert_eq!(j.binds("wf", "t", &b, x1), Some(true), "answered only at a");
    let recorded = &j.recorded("wf")["t"];
    assert_eq!(
        (recorded.open.as_slice(), recorded.answered.as_slice()),
        (&[x2][..], &[x1][..])
    );
    assert!(recorded.binds(x3) && !recorded.binds(x1) && !recorded.binds(x2));
    // Visit 1 sent again and answered: visit 2 is still open.
    j.begin("wf", "t", at, &a, x1).unwrap();
    j.finish("wf", "t", &a, "req-1", x1).unwrap();
    assert_eq!(j.binds("wf", "t", &a, x3), Some(false));
    assert_eq!(j.recall("wf", "t", &a).map(|r| r.done), Some(false));
    // Visit 2 answered: the task is free.
    j.finish("wf", "t", &a, "req-2", x2).unwrap();
    assert_eq!(j.binds("wf", "t", &a, x3), None);
    assert_eq!(j.recall("wf", "t", &a).map(|r| r.done), Some(true));
    assert!(!j.recorded("wf")["t"].binds(x3));
    // A begin written before identities were kept binds nothing, and frees nothing.
    j.begin("wf", "u", at, &b, Began::default()).unwrap();
    assert_eq!(j.binds("wf", "u", &a, x3), None);
    j.begin("wf", "u", at, &a, x1).unwrap();
    assert_eq!(j.binds("wf", "u", &a, x3), Some(false));
    assert!(j.recorded("wf")["u"].binds(x3));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn lines_of_an_older_journal_are_looked_up_before_anything_is_sent_again() {
    let dir = std::env::temp_dir().join(format!("uc-journal-legacy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("journal.jsonl");
    std::fs::write(
        &path,
        "{\"workflowId\":\"wf\",\"task\":\"t\",\"at\":\"2026-01-02T03:04:05.678Z\",\"done\":true}\n",
    )
    .unwrap();
    let j = FileJournal::open(&path).unwrap();
    let recalled = j.recall("wf", "t", &to("http://a")).unwrap();
    assert!(recalled.elsewhere, "{recalled:?}");
    assert_eq!(
        recalled.at,
        "2026-01-02T03:04:05.678Z".parse::<DateTime<Utc>>().unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A journal opened while another process held it, and taken once that one let go, sees what
/// the other wrote in between: a task it delivered is done, not new.
#[test]
fn a_journal_taken_after_another_process_let_go_sees_what_it_wrote() {
    let dir = std::env::temp_dir().join(format!("uc-journal-lock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("journal.jsonl");
    let at: DateTime<Utc> = "2026-01-02T03:04:05.678Z".parse().unwrap();
    let a = to("http://a");
    let first = FileJournal::open(&path).unwrap();
    assert!(first.lock().unwrap());
    let second = FileJournal::open(&path).unwrap();
    assert!(!second.lock().unwrap(), "held by the first");
    let t = Began::of(&["key-t"]);
    first.begin("wf", "t", at, &a, t).unwrap();
    first.finish("wf", "t", &a, "req-1", t).unwrap();
    drop(first);
    assert!(second.lock().unwrap());
    assert_eq!(
        second.recall("wf", "t", &a),
        Some(Recalled {
            at,
            done: true,
            elsewhere: false
        }),
        "what the first wrote after the second opened the journal"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
