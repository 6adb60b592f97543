//! Private events: a viewer token as one path segment, `/live/{event}/t/{token}/…`.
//! No token → 401, invalid or expired → 403, valid → served; public events are unaffected.

mod common;

use amphi_hls::store::MemoryStore;
use amphi_origin::{token, Access, EventCatalog, EventInfo, OriginConfig};
use common::*;
use std::sync::Arc;

const SECRET: &str = "viewer-secret-for-tests";
const PUBLIC: &str = "open-day";

/// `cs101` (the common event) is private; `open-day` is public.
struct Catalog;

impl EventCatalog for Catalog {
    fn events(&self) -> Vec<EventInfo> {
        Vec::new()
    }

    fn access(&self, event: &str) -> Access {
        if event == EVENT {
            Access::Private {
                viewer_secret: SECRET.to_owned(),
            }
        } else {
            Access::Public
        }
    }
}

/// Now, moved by `secs` seconds.
fn now_plus(secs: i64) -> amphi_time::WallTime {
    amphi_time::WallTime::from(std::time::SystemTime::now())
        + amphi_time::TimeDelta::from_millis(secs * 1000)
}

async fn origin() -> axum::Router {
    let store = Arc::new(MemoryStore::new());
    for event in [EVENT, PUBLIC] {
        put(&store, &format!("live/{event}/master.m3u8"), "#EXTM3U\n").await;
        put(
            &store,
            &format!("live/{event}/{RENDITION}/index.m3u8"),
            playlist(3, 5, 2, false),
        )
        .await;
        put(
            &store,
            &format!("live/{event}/{RENDITION}/part5.1.m4s"),
            &b"part 5.1"[..],
        )
        .await;
    }
    amphi_origin::router(store, Arc::new(Catalog), OriginConfig::default())
}

const NAMES: [&str; 3] = ["master.m3u8", "720p/index.m3u8", "720p/part5.1.m4s"];

#[tokio::test]
async fn private_event_without_token_is_401() {
    let app = origin().await;
    for name in NAMES {
        let res = request(&app, "GET", &format!("/live/{EVENT}/{name}")).await;
        assert_eq!(res.status(), 401, "{name}");
        assert_eq!(header(&res, "cache-control"), "no-cache");
    }
}

#[tokio::test]
async fn private_event_with_bad_token_is_403() {
    let app = origin().await;
    let expired = token::sign(SECRET.as_bytes(), EVENT, now_plus(-1));
    let other_event = token::sign(SECRET.as_bytes(), PUBLIC, now_plus(600));
    let other_secret = token::sign(b"not the secret", EVENT, now_plus(600));
    for bad in [
        expired.as_str(),
        &other_event,
        &other_secret,
        "garbage",
        "1.2",
    ] {
        for name in NAMES {
            let res = request(&app, "GET", &format!("/live/{EVENT}/t/{bad}/{name}")).await;
            assert_eq!(res.status(), 403, "{bad} {name}");
            assert_eq!(header(&res, "cache-control"), "no-cache");
        }
    }
}

#[tokio::test]
async fn private_event_with_valid_token_is_served() {
    let app = origin().await;
    let t = token::sign(SECRET.as_bytes(), EVENT, now_plus(600));
    let res = request(&app, "GET", &format!("/live/{EVENT}/t/{t}/master.m3u8")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(text(res).await, "#EXTM3U\n");
    let res = request(&app, "GET", &format!("/live/{EVENT}/t/{t}/720p/index.m3u8")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "cache-control"), "public, max-age=1");
    assert_eq!(text(res).await, playlist(3, 5, 2, false));
    let res = request(
        &app,
        "GET",
        &format!("/live/{EVENT}/t/{t}/720p/part5.1.m4s"),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        header(&res, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(&body(res).await[..], b"part 5.1");
    // A blocking request goes through the same check.
    let res = request(
        &app,
        "GET",
        &format!("/live/{EVENT}/t/{t}/720p/index.m3u8?_HLS_msn=5&_HLS_part=1"),
    )
    .await;
    assert_eq!(res.status(), 200);
    // Names still need to be valid behind the token.
    let res = request(&app, "GET", &format!("/live/{EVENT}/t/{t}/720p/nope.txt")).await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn public_event_ignores_tokens() {
    let app = origin().await;
    for name in NAMES {
        for path in [
            format!("/live/{PUBLIC}/{name}"),
            format!("/live/{PUBLIC}/t/anything/{name}"),
            format!(
                "/live/{PUBLIC}/t/{}/{name}",
                token::sign(b"x", PUBLIC, now_plus(-10))
            ),
        ] {
            let res = request(&app, "GET", &path).await;
            assert_eq!(res.status(), 200, "{path}");
        }
    }
}
