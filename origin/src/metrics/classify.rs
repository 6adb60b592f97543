//! What a request asked for, as counted in `amphi_origin_requests_total`, read with the
//! live routes' own rules: the viewer-token split and target names of `live.rs`, the
//! delivery directives of `query.rs`.

use crate::live::{parse_target, split_token, Target};
use amphi_hls::names::MediaName;

/// What a request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// A media playlist without `_HLS_msn`.
    PlaylistPlain,
    /// A media playlist with `_HLS_msn` (held until the part exists).
    PlaylistBlocking,
    Part,
    Segment,
    Init,
    Master,
    Other,
}

impl RequestKind {
    pub const ALL: [RequestKind; 7] = [
        RequestKind::PlaylistPlain,
        RequestKind::PlaylistBlocking,
        RequestKind::Part,
        RequestKind::Segment,
        RequestKind::Init,
        RequestKind::Master,
        RequestKind::Other,
    ];

    pub fn label(self) -> &'static str {
        match self {
            RequestKind::PlaylistPlain => "playlist_plain",
            RequestKind::PlaylistBlocking => "playlist_blocking",
            RequestKind::Part => "part",
            RequestKind::Segment => "segment",
            RequestKind::Init => "init",
            RequestKind::Master => "master",
            RequestKind::Other => "other",
        }
    }
}

/// The `status` label of a response status code.
pub const STATUS_CLASSES: [&str; 5] = ["2xx", "3xx", "4xx", "5xx", "other"];

pub fn status_class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

/// Classifies a request path and query; for live media playlists also returns the
/// event and rendition (for the viewer estimate).
pub fn classify<'a>(
    path: &'a str,
    query: Option<&str>,
) -> (RequestKind, Option<(&'a str, &'a str)>) {
    let Some((event, rest)) = path
        .strip_prefix("/live/")
        .and_then(|rest| rest.split_once('/'))
    else {
        return (RequestKind::Other, None);
    };
    let (_token, name) = split_token(rest);
    match parse_target(name) {
        Some(Target::Master) => (RequestKind::Master, None),
        Some(Target::Media {
            rendition, name, ..
        }) => match name {
            MediaName::Playlist | MediaName::DeltaPlaylist => {
                let blocking = crate::query::parse(query).is_ok_and(|d| d.awaited.is_some());
                let kind = if blocking {
                    RequestKind::PlaylistBlocking
                } else {
                    RequestKind::PlaylistPlain
                };
                (kind, Some((event, rendition)))
            }
            MediaName::Init { .. } => (RequestKind::Init, None),
            MediaName::Segment { .. } | MediaName::SubtitleSegment { .. } => {
                (RequestKind::Segment, None)
            }
            MediaName::Captions => (RequestKind::Other, None),
            MediaName::Part { .. } | MediaName::SubtitlePart { .. } => (RequestKind::Part, None),
        },
        None => (RequestKind::Other, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_requests() {
        use RequestKind::*;
        let c = |p, q| classify(p, q).0;
        assert_eq!(c("/live/cs/master.m3u8", None), Master);
        assert_eq!(c("/live/cs/720p/index.m3u8", None), PlaylistPlain);
        assert_eq!(
            c("/live/cs/720p/index.m3u8", Some("_HLS_skip=YES")),
            PlaylistPlain
        );
        assert_eq!(
            c("/live/cs/720p/index.m3u8", Some("_HLS_msn=3&_HLS_part=1")),
            PlaylistBlocking
        );
        assert_eq!(c("/live/cs/720p/part3.1.m4s", None), Part);
        assert_eq!(c("/live/cs/t/abc.def/720p/part3.1.m4s", None), Part);
        assert_eq!(c("/live/cs/t/abc.def/master.m3u8", None), Master);
        assert_eq!(c("/live/cs/720p/seg3.m4s", None), Segment);
        assert_eq!(c("/live/cs/720p/init.mp4", None), Init);
        for other in [
            "/",
            "/healthz",
            "/live/cs",
            "/live/cs/720p/x.m4s",
            "/api/events",
        ] {
            assert_eq!(c(other, None), Other, "{other}");
        }
        assert_eq!(
            classify("/live/cs/720p/index.m3u8", None).1,
            Some(("cs", "720p"))
        );
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(304), "3xx");
        assert_eq!(status_class(404), "4xx");
        assert_eq!(status_class(503), "5xx");
        assert_eq!(status_class(101), "other");
        assert!(STATUS_CLASSES.contains(&status_class(999)));
    }
}
