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
    j.finish("wf", "u", &a, "req-1").unwrap();
    j.complete("wf", "u", &serde_json::json!({"statusCode": 201}))
        .unwrap();
    drop(j);
    // A crash mid-write leaves half a line.
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"{\"event\":\"begin\",\"workflowId\":\"wf\",\"ta")
        .unwrap();
    drop(f);
    let j = FileJournal::open(&path).unwrap();
    let here = |done, began| Recalled {
        at,
        done,
        elsewhere: false,
        began,
    };
    assert_eq!(j.recall("wf", "t", &a), Some(here(false, t)));
    assert_eq!(j.recall("wf", "u", &a), Some(here(true, u)));
    assert_eq!(
        j.recall("wf", "u", &b),
        Some(Recalled {
            at,
            done: false,
            elsewhere: true,
            began: Began::default(),
        }),
        "another server: not done there, but looked up with the same identity (answered: \
         nothing binds it)"
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
    // What a task began with binds a resume only while it has no final answer.
    assert_eq!(
        (recorded["t"].began, recorded["t"].request.as_ref()),
        (t, None)
    );
    assert!(recorded["u"].began.is_none(), "{:?}", recorded["u"]);
    j.begin("wf2", "t", at, &b, Began::default()).unwrap();
    j.end("wf", "Failed").unwrap();
    let j = FileJournal::open(&path).unwrap();
    assert_eq!(
        j.recall("wf2", "t", &b),
        Some(here(false, Began::default()))
    );
    assert_eq!(j.ended("wf").as_deref(), Some("Failed"));

    // The id run again with another request for `u`: it is the one that may be in flight
    // until it is answered, and the old output no longer stands.
    let u2 = Began::of(&["key-u2"]);
    j.begin("wf", "u", at, &a, u2).unwrap();
    assert_eq!(j.recall("wf", "u", &a), Some(here(false, u2)));
    assert_eq!(j.recorded("wf")["u"].began, u2);
    j.finish("wf", "u", &a, "req-2").unwrap();
    assert_eq!(j.recall("wf", "u", &a), Some(here(true, u2)));
    assert_eq!(j.recorded("wf")["u"].output, None);
    // A second begin of a task with no final answer keeps the first identity.
    j.begin("wf", "t", at, &a, u2).unwrap();
    let j = FileJournal::open(&path).unwrap();
    assert_eq!(j.recall("wf", "t", &a), Some(here(false, t)));
    let recorded = j.recorded("wf");
    assert_eq!(recorded["t"].began, t);
    assert!(recorded["t"].binds(u2) && !recorded["t"].binds(t));
    // Both requests of `u` were answered: either may be sent again (a loop's visits).
    assert_eq!(recorded["u"].answered, [u, u2]);
    assert!(!recorded["u"].binds(u) && !recorded["u"].binds(u2));
    assert!(j.answered("wf", "u", u) && !j.answered("wf", "t", t));
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
