use super::*;

fn to(server: &str) -> Destination {
    Destination {
        endpoint: Some("rebilly.create-usage".into()),
        server: server.into(),
        credentials: Some("c1".into()),
    }
}

#[tokio::test]
async fn what_one_destination_delivered_is_looked_up_at_another_and_older_lines_are_adopted() {
    let dir = std::env::temp_dir().join(format!("uc-ingest-journal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("in.ndjson.journal");
    let at = "2026-01-02T03:04:05.678Z";
    // Written before destinations were recorded: line 1 delivered, line 2 begun.
    std::fs::write(
        &path,
        format!(
            "{{\"ingest\":1,\"template\":\"t\"}}\n{{\"line\":1,\"digest\":\"aa\",\"at\":\"{at}\"}}\n{{\"line\":1,\"outcome\":\"created\"}}\n{{\"line\":2,\"digest\":\"bb\",\"at\":\"{at}\"}}\n"
        ),
    )
    .unwrap();
    let (a, b) = (to("http://a"), to("http://b"));
    let at: DateTime<Utc> = at.parse().unwrap();
    let (none, k3, k4) = (Began::default(), Began::of(&["k3"]), Began::of(&["k4"]));
    // The first destination to open it adopts the older lines, as before.
    let j = IngestJournal::open(&path, "t", &a).unwrap();
    assert_eq!(j.seen(1, "aa").unwrap(), Seen::Done("created"));
    assert_eq!(j.seen(2, "bb").unwrap(), Seen::Begun { at, began: none });
    j.begin_as(3, "cc", at, None, k3).await.unwrap();
    // Begun again (a later run): the identity it first began with stands.
    j.begin_as(3, "cc", at, None, k4).await.unwrap();
    j.close();
    drop(j);
    // Another destination: nothing is done there; what began anywhere keeps its time and
    // its identity.
    let j = IngestJournal::open(&path, "t", &b).unwrap();
    assert_eq!(
        j.seen(1, "aa").unwrap(),
        Seen::Elsewhere { at, began: none }
    );
    assert_eq!(j.seen(3, "cc").unwrap(), Seen::Elsewhere { at, began: k3 });
    assert_eq!(j.seen(4, "dd").unwrap(), Seen::New);
    assert!(j.seen(1, "ff").is_err(), "a changed line is still refused");
    j.begin_as(1, "aa", at, None, none).await.unwrap();
    j.end(1, "created", None).unwrap();
    j.close();
    drop(j);
    let j = IngestJournal::open(&path, "t", &b).unwrap();
    assert_eq!(j.seen(1, "aa").unwrap(), Seen::Done("created"));
    drop(j);
    // And the first destination still knows its own.
    let j = IngestJournal::open(&path, "t", &a).unwrap();
    assert_eq!(j.seen(1, "aa").unwrap(), Seen::Done("created"));
    assert_eq!(j.seen(3, "cc").unwrap(), Seen::Begun { at, began: k3 });
    // Settled undelivered (the API refused it): new again, its line free to change.
    j.end(3, SETTLED_FAILED, None).unwrap();
    j.close();
    drop(j);
    let j = IngestJournal::open(&path, "t", &a).unwrap();
    assert_eq!(j.seen(3, "changed").unwrap(), Seen::New);
    j.close();
    drop(j);
    // Elsewhere too: nothing of it stands at another destination.
    let j = IngestJournal::open(&path, "t", &b).unwrap();
    assert_eq!(j.seen(3, "changed").unwrap(), Seen::New);
    assert_eq!(j.seen(1, "aa").unwrap(), Seen::Done("created"));
    assert!(k3.matches(k3) && !k3.matches(k4) && !k3.matches(none));
    assert!(
        none.matches(k3),
        "a begin written before identities were kept matches any"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A record settled undelivered at one destination stays begun where it began elsewhere: a
/// refusal there says nothing of a send to another destination.
#[tokio::test]
async fn a_refusal_at_one_destination_leaves_begins_at_others_standing() {
    let dir = std::env::temp_dir().join(format!("uc-ingest-settled-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("in.ndjson.journal");
    let at: DateTime<Utc> = "2026-01-02T03:04:05.678Z".parse().unwrap();
    let (a, b, c) = (to("http://a"), to("http://b"), to("http://c"));
    let k = Began::of(&["k"]);
    for (dest, settle) in [(&a, false), (&b, true)] {
        let j = IngestJournal::open(&path, "t", dest).unwrap();
        j.begin_as(5, "ee", at, None, k).await.unwrap();
        if settle {
            j.end(5, SETTLED_FAILED, None).unwrap();
        }
        j.close();
    }
    let j = IngestJournal::open(&path, "t", &c).unwrap();
    assert_eq!(j.seen(5, "ee").unwrap(), Seen::Elsewhere { at, began: k });
    j.close();
    // Settled at a too: nothing of it stands anywhere.
    let j = IngestJournal::open(&path, "t", &a).unwrap();
    j.end(5, SETTLED_FAILED, None).unwrap();
    j.close();
    let j = IngestJournal::open(&path, "t", &c).unwrap();
    assert_eq!(j.seen(5, "changed").unwrap(), Seen::New);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One delivery at a time: while a journal is open, another open of it is refused (two would
/// both find a record new and both send it); once closed, it opens.
#[test]
fn a_journal_is_held_by_one_delivery_at_a_time() {
    let dir = std::env::temp_dir().join(format!("uc-ingest-lock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("in.ndjson.journal");
    let first = IngestJournal::open(&path, "t", &to("http://a")).unwrap();
    match IngestJournal::open(&path, "t", &to("http://a")) {
        Err(Error::InUse { path: held }) => assert_eq!(held, path),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("opened twice"),
    }
    first.close();
    drop(first);
    IngestJournal::open(&path, "t", &to("http://a")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
