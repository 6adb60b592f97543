//! The event operations through the file store, as the console and the command line
//! use them, read back through the directory.

use super::record::STREAM_KEY_LEN;
use super::*;
use amphi_ingest::KeyDirectory;

#[test]
fn create_list_rotate_delete() {
    let dir = std::env::temp_dir().join(format!("amphi-events-{}", std::process::id()));
    let store = EventsFileStore::new(&dir);
    let e = store
        .create("lecture", Some("Physics 101".into()), None)
        .expect("create");
    assert_eq!(e.stream_key.len(), STREAM_KEY_LEN);
    assert!(store.create("lecture", None, None).is_err());
    assert!(store.create("Bad Id", None, None).is_err());
    // Embedding restricted to one site, then opened again; hostile values refused.
    let sites = vec!["https://moodle.example.edu".to_owned()];
    let embed_on = |sites: Vec<String>| EventChanges {
        embed_on: Some(sites),
        ..EventChanges::default()
    };
    store
        .edit("lecture", embed_on(sites.clone()))
        .expect("embed-on");
    let d = Directory::new(store.load().expect("load"));
    assert_eq!(d.frame_ancestors("lecture"), Some(sites));
    assert!(store
        .edit(
            "lecture",
            embed_on(vec!["https://a.edu; script-src *".into()])
        )
        .is_err());
    store
        .edit("lecture", embed_on(Vec::new()))
        .expect("embed anywhere");
    let d = Directory::new(store.load().expect("load"));
    assert_eq!(d.frame_ancestors("lecture"), None);
    let rotated = store.rotate_key("lecture").expect("rotate");
    assert_ne!(rotated.stream_key, e.stream_key);
    let d = Directory::new(store.load().expect("load"));
    assert_eq!(
        d.event_for_key(&rotated.stream_key).map(|e| e.to_string()),
        Some("lecture".into())
    );
    assert_eq!(d.event_for_key(&e.stream_key), None);
    assert_eq!(d.access("lecture"), amphi_origin::Access::Public);
    let changes = EventChanges {
        private: Some(true),
        ..EventChanges::default()
    };
    let private = store.edit("lecture", changes).expect("private");
    assert_eq!(private.viewer_secret, e.viewer_secret);
    let d = Directory::new(store.load().expect("load"));
    assert_eq!(
        d.access("lecture"),
        amphi_origin::Access::Private {
            viewer_secret: e.viewer_secret.clone()
        }
    );
    assert_eq!(d.access("unknown"), amphi_origin::Access::Public);
    store.delete("lecture").expect("delete");
    assert!(store.load().expect("load").is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn changes_are_checked_before_any_is_applied() {
    let dir = std::env::temp_dir().join(format!("amphi-changes-{}", std::process::id()));
    let store = EventsFileStore::new(&dir);
    let changes = EventChanges {
        title: Some("  Optics  ".into()),
        description: Some("Lenses and mirrors".into()),
        starts_at: Some("2026-12-01T14:00:00+01:00".into()),
        takeover: Some(TakeoverPolicy::Refuse),
        named_viewers: Some(true),
        ..EventChanges::default()
    };
    let e = store.create_with("optics", changes, None).expect("create");
    assert_eq!(e.title, "Optics");
    assert!(e.no_takeover && e.named_viewers);
    let summary = EventSummary::from(&e);
    assert_eq!(summary.takeover, TakeoverPolicy::Refuse);
    for bad in [
        EventChanges {
            title: Some(" ".into()),
            ..EventChanges::default()
        },
        EventChanges {
            starts_at: Some("tomorrow at two".into()),
            private: Some(true),
            ..EventChanges::default()
        },
        EventChanges {
            rtsp_url: Some("ftp://cam/x".into()),
            ..EventChanges::default()
        },
    ] {
        assert!(store.edit("optics", bad).is_err());
    }
    assert_eq!(store.secrets("optics").expect("show"), e, "nothing applied");
    let cleared = EventChanges {
        description: Some(String::new()),
        starts_at: Some(String::new()),
        ..EventChanges::default()
    };
    let e = store.edit("optics", cleared).expect("clear");
    assert_eq!((e.description, e.starts_at), (None, None));
    let snippets = embed_snippets("https://a.example/", "optics", Some("1.x"));
    assert_eq!(
        snippets.iframe,
        "<iframe src=\"https://a.example/embed/optics?token=1.x\" allow=\"autoplay; fullscreen\" width=\"960\" height=\"540\"></iframe>"
    );
    assert!(snippets
        .script
        .contains("<amphi-player event=\"optics\" token=\"1.x\">"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_event_has_its_own_part_duration_within_bounds() {
    let dir = std::env::temp_dir().join(format!("amphi-part-{}", std::process::id()));
    let store = EventsFileStore::new(&dir);
    let fast = EventChanges {
        part_duration_ms: Some(200),
        ..EventChanges::default()
    };
    let e = store.create_with("fast", fast, None).expect("create");
    assert_eq!(e.part_duration_ms, Some(200));
    assert_eq!(EventSummary::from(&e).part_duration_ms, Some(200));
    let d = Directory::new(store.load().expect("load"));
    assert_eq!(
        d.part_duration("fast"),
        Some(std::time::Duration::from_millis(200))
    );
    assert_eq!(d.part_duration("unknown"), None);
    for bad in [100, 1500] {
        let changes = EventChanges {
            part_duration_ms: Some(bad),
            title: Some("changed".into()),
            ..EventChanges::default()
        };
        let err = store.edit("fast", changes).expect_err("out of bounds");
        assert!(err.to_string().contains("part duration"), "{err}");
    }
    assert_eq!(store.secrets("fast").expect("show"), e, "nothing applied");
    let back = EventChanges {
        part_duration_ms: Some(0),
        ..EventChanges::default()
    };
    let e = store.edit("fast", back).expect("back to the server's");
    assert_eq!(e.part_duration_ms, None);
    let _ = std::fs::remove_dir_all(&dir);
}
