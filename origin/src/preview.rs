//! The green room at the origin: while an event is *in preview* its stream is packaged
//! as usual, but viewers' paths (`/live/{event}/…`, with or without a viewer token)
//! answer 404 `no-cache` — the player shows its waiting room — and only the preview
//! paths `/live/{event}/p/{key}/…` serve it, each answer `private, no-store`.
//!
//! Why that is safe behind a CDN: a preview answer is never stored by a shared cache
//! (`no-store`, and its URL differs from every viewer URL), and a viewer answer during
//! the preview is an error that is not kept either; at Go live the viewer URLs start
//! answering with the same bytes and their usual cache headers. Nothing a viewer could
//! have cached from the preview exists.
//!
//! The key is derived from the event's moderator token (HMAC-SHA256 over the event id),
//! so the moderator token itself never appears in a URL and a leaked preview key grants
//! nothing but watching the preview.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// `Cache-Control` of every preview answer.
pub const CACHE_PREVIEW: &str = "private, no-store";
/// Characters of a preview key (base64url of the first 18 bytes of the MAC: 144 bits).
pub const KEY_LEN: usize = 24;

/// An event's green-room state, as the origin applies it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Preview {
    /// Viewers wait: the event's playlists and media are not served on viewer paths.
    pub in_preview: bool,
    /// The key of the preview paths (valid in any state, so the preview page keeps
    /// playing after Go live); `None` for an unknown event.
    pub key: Option<String>,
}

/// The preview key of `event` for the holders of `moderator_token`.
pub fn preview_key(moderator_token: &str, event: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(moderator_token.as_bytes())
        .expect("HMAC-SHA256 takes a key of any length");
    mac.update(b"amphi-preview|");
    mac.update(event.as_bytes());
    let tag = mac.finalize().into_bytes();
    URL_SAFE_NO_PAD.encode(&tag[..18])
}

/// Splits a preview key off `p/{key}/{name}`; other paths have none.
pub(crate) fn split_preview(rest: &str) -> (Option<&str>, &str) {
    match rest.strip_prefix("p/").and_then(|r| r.split_once('/')) {
        Some((key, name)) => (Some(key), name),
        None => (None, rest),
    }
}

/// Whether `given` is the event's preview key (compared in constant time).
pub(crate) fn key_matches(preview: &Preview, given: &str) -> bool {
    let Some(key) = &preview.key else {
        return false;
    };
    key.len() == given.len()
        && key
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// What a `/live/{event}/…` request gets in the green room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// A viewer path of an event that is open: the usual answer.
    Viewer,
    /// A preview path with the right key: served `private, no-store`.
    Preview,
    /// A viewer path while the event is in preview: 404, the player waits.
    NotYet,
    /// A preview path with a wrong key: 403.
    BadKey,
}

pub(crate) fn gate(preview: &Preview, key: Option<&str>) -> Gate {
    match key {
        Some(k) if key_matches(preview, k) => Gate::Preview,
        Some(_) => Gate::BadKey,
        None if preview.in_preview => Gate::NotYet,
        None => Gate::Viewer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_per_event_and_token() {
        let a = preview_key("modtoken", "ev");
        assert_eq!(a.len(), KEY_LEN);
        assert_ne!(a, preview_key("modtoken", "ev2"));
        assert_ne!(a, preview_key("other", "ev"));
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)));
    }

    #[test]
    fn gate_decisions() {
        let key = preview_key("m", "ev");
        let open = Preview {
            in_preview: false,
            key: Some(key.clone()),
        };
        let green = Preview {
            in_preview: true,
            ..open.clone()
        };
        assert_eq!(gate(&open, None), Gate::Viewer);
        assert_eq!(gate(&green, None), Gate::NotYet);
        assert_eq!(gate(&green, Some(&key)), Gate::Preview);
        // The preview page keeps playing after Go live.
        assert_eq!(gate(&open, Some(&key)), Gate::Preview);
        assert_eq!(gate(&green, Some("x")), Gate::BadKey);
        assert_eq!(gate(&Preview::default(), Some(&key)), Gate::BadKey);
    }

    #[test]
    fn preview_paths() {
        assert_eq!(
            split_preview("p/abc/720p/index.m3u8"),
            (Some("abc"), "720p/index.m3u8")
        );
        assert_eq!(
            split_preview("p/abc/master.m3u8"),
            (Some("abc"), "master.m3u8")
        );
        // A rendition named "p" keeps working.
        assert_eq!(split_preview("p/index.m3u8"), (None, "p/index.m3u8"));
        assert_eq!(split_preview("720p/seg1.m4s"), (None, "720p/seg1.m4s"));
    }
}
