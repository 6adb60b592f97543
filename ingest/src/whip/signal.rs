//! WHIP signalling checks (RFC 9725), free of any HTTP library: the bearer token, the
//! content type, the size and shape of the SDP offer, and the refusals they map to.
//!
//! The HTTP layer reads the request, calls these in order (token, content type, offer)
//! and turns a [`WhipError`] into its status code and plain-text reason.

use crate::hub::EventId;
use crate::pii::Redacted;

/// Largest SDP offer accepted (browsers send 3–10 KiB).
pub const MAX_OFFER_BYTES: usize = 64 * 1024;
/// The media type of WHIP offers and answers.
pub const SDP_CONTENT_TYPE: &str = "application/sdp";
/// Most `m=` sections an offer may have (WHIP publishes one video and one audio).
pub const MAX_MEDIA_SECTIONS: usize = 8;

/// Why a WHIP request was refused; each maps to one HTTP status.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WhipError {
    #[error("missing bearer token")]
    MissingToken,
    #[error("bearer token {0} is not a publisher token of this event")]
    WrongToken(Redacted),
    #[error("content type must be application/sdp, got {0:?}")]
    ContentType(String),
    #[error("offer of {0} bytes exceeds the {MAX_OFFER_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("malformed SDP offer: {0}")]
    MalformedSdp(String),
    #[error("the offer has no H.264 video; Amphi needs H.264 + Opus (offered: {0})")]
    NoH264(String),
    #[error("event {0} already has a live publisher")]
    AlreadyLive(EventId),
    #[error("no such session")]
    UnknownSession,
    #[error("trickle ICE and ICE restarts are not supported; send all candidates in the offer")]
    PatchNotSupported,
    #[error("the WebRTC media server is not running")]
    Unavailable,
}

impl WhipError {
    /// The HTTP status of this refusal.
    pub fn status(&self) -> u16 {
        match self {
            WhipError::MissingToken | WhipError::WrongToken(_) => 401,
            WhipError::ContentType(_) => 415,
            WhipError::TooLarge(_) => 413,
            WhipError::MalformedSdp(_) => 400,
            WhipError::NoH264(_) => 406,
            WhipError::AlreadyLive(_) => 409,
            WhipError::UnknownSession => 404,
            WhipError::PatchNotSupported => 405,
            WhipError::Unavailable => 503,
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header (the workspace's one reading
/// of it, [`amphi_time::header::bearer_token`]).
pub fn bearer_token(authorization: Option<&str>) -> Result<&str, WhipError> {
    authorization
        .and_then(amphi_time::header::bearer_token)
        .ok_or(WhipError::MissingToken)
}

/// Checks that the content type is `application/sdp` (parameters allowed).
pub fn check_content_type(content_type: Option<&str>) -> Result<(), WhipError> {
    let ct = content_type.unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case(SDP_CONTENT_TYPE) {
        Ok(())
    } else {
        Err(WhipError::ContentType(ct.chars().take(100).collect()))
    }
}

/// What Amphi needs to know about an offer before accepting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferSummary {
    /// Opus channels (2 when the offer asks for stereo, else 1), if audio is offered.
    pub opus_channels: Option<u8>,
    /// The video codecs offered, for messages.
    pub video_codecs: Vec<String>,
}

/// Validates an SDP offer's size and shape and that it offers H.264 (packetization
/// mode 1) video. The full parse is str0m's; this gives the user a clear reason first.
pub fn inspect_offer(body: &[u8]) -> Result<(String, OfferSummary), WhipError> {
    if body.len() > MAX_OFFER_BYTES {
        return Err(WhipError::TooLarge(body.len()));
    }
    let sdp = std::str::from_utf8(body)
        .map_err(|e| WhipError::MalformedSdp(format!("not UTF-8 (at byte {})", e.valid_up_to())))?;
    if !sdp.trim_start().starts_with("v=0") {
        return Err(WhipError::MalformedSdp(
            "an SDP offer starts with \"v=0\"".into(),
        ));
    }
    let mut sections: Vec<Section> = Vec::new();
    for (n, raw) in sdp.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let b = line.as_bytes();
        if b.len() < 2 || b[1] != b'=' || !b[0].is_ascii_lowercase() {
            return Err(WhipError::MalformedSdp(format!(
                "line {} is not \"x=value\": {:?}",
                n + 1,
                line.chars().take(60).collect::<String>()
            )));
        }
        if let Some(m) = line.strip_prefix("m=") {
            if sections.len() == MAX_MEDIA_SECTIONS {
                return Err(WhipError::MalformedSdp(format!(
                    "more than {MAX_MEDIA_SECTIONS} media sections"
                )));
            }
            let kind = m.split(' ').next().unwrap_or("").to_owned();
            let formats = m.split(' ').skip(3).map(str::to_owned).collect();
            sections.push(Section {
                kind,
                formats,
                ..Section::default()
            });
        } else if let Some(section) = sections.last_mut() {
            if let Some(rtpmap) = line.strip_prefix("a=rtpmap:") {
                let (pt, codec) = rtpmap.split_once(' ').unwrap_or((rtpmap, ""));
                section.rtpmap.push((pt.to_owned(), codec.to_owned()));
            } else if let Some(fmtp) = line.strip_prefix("a=fmtp:") {
                let (pt, params) = fmtp.split_once(' ').unwrap_or((fmtp, ""));
                section.fmtp.push((pt.to_owned(), params.to_owned()));
            }
        }
    }
    if sections.is_empty() {
        return Err(WhipError::MalformedSdp("no media section (m=)".into()));
    }
    // Each payload type is described where it is listed, and listed once in the
    // offer: str0m's answer panics on a payload type it would claim twice.
    let mut listed = std::collections::HashSet::new();
    for s in &sections {
        let shown = |pt: &str| pt.chars().take(12).collect::<String>();
        if let Some((pt, _)) = s.rtpmap.iter().find(|(pt, _)| !s.formats.contains(pt)) {
            return Err(WhipError::MalformedSdp(format!(
                "a=rtpmap:{} in the {} section, whose m= line does not list it",
                shown(pt),
                shown(&s.kind)
            )));
        }
        if let Some(pt) = s.formats.iter().find(|pt| !listed.insert(pt.as_str())) {
            return Err(WhipError::MalformedSdp(format!(
                "payload type {} listed by two media sections",
                shown(pt)
            )));
        }
    }
    let mut video_codecs = Vec::new();
    let mut h264 = false;
    let mut opus_channels = None;
    for s in &sections {
        for (pt, codec) in &s.rtpmap {
            let name = codec.split('/').next().unwrap_or("");
            if s.kind == "video" {
                if !name.eq_ignore_ascii_case("rtx")
                    && !name.eq_ignore_ascii_case("red")
                    && !name.eq_ignore_ascii_case("ulpfec")
                    && !video_codecs
                        .iter()
                        .any(|c: &String| c.eq_ignore_ascii_case(name))
                {
                    video_codecs.push(name.to_owned());
                }
                if name.eq_ignore_ascii_case("h264")
                    && s.param(pt, "packetization-mode") == Some("1")
                {
                    h264 = true;
                }
            } else if s.kind == "audio"
                && name.eq_ignore_ascii_case("opus")
                && opus_channels.is_none()
            {
                let stereo = s.param(pt, "stereo") == Some("1");
                opus_channels = Some(if stereo { 2 } else { 1 });
            }
        }
    }
    if !h264 {
        let offered = if video_codecs.is_empty() {
            "no video".to_owned()
        } else {
            video_codecs.join(", ")
        };
        return Err(WhipError::NoH264(offered));
    }
    Ok((
        sdp.to_owned(),
        OfferSummary {
            opus_channels,
            video_codecs,
        },
    ))
}

#[derive(Debug, Default)]
struct Section {
    kind: String,
    /// The payload types the m= line lists.
    formats: Vec<String>,
    rtpmap: Vec<(String, String)>,
    fmtp: Vec<(String, String)>,
}

impl Section {
    /// The value of `name` in the fmtp line of payload type `pt`.
    fn param(&self, pt: &str, name: &str) -> Option<&str> {
        let (_, params) = self.fmtp.iter().find(|(p, _)| p == pt)?;
        params.split(';').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
a=group:BUNDLE 0 1\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97 102\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n\
a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n\
a=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendonly\r\n\
a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1;stereo=1\r\n";

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer_token(Some("Bearer abc")), Ok("abc"));
        assert_eq!(bearer_token(Some("bearer  abc ")), Ok("abc"));
        assert_eq!(bearer_token(None), Err(WhipError::MissingToken));
        assert_eq!(
            bearer_token(Some("Basic abc")),
            Err(WhipError::MissingToken)
        );
        assert_eq!(bearer_token(Some("Bearer ")), Err(WhipError::MissingToken));
        assert_eq!(bearer_token(Some("Bearer")), Err(WhipError::MissingToken));
    }

    #[test]
    fn content_types() {
        assert!(check_content_type(Some("application/sdp")).is_ok());
        assert!(check_content_type(Some("Application/SDP; charset=utf-8")).is_ok());
        assert_eq!(
            check_content_type(Some("text/plain")).map_err(|e| e.status()),
            Err(415)
        );
        assert!(check_content_type(None).is_err());
    }

    #[test]
    fn browser_like_offer_is_accepted() {
        let (_, s) = inspect_offer(OFFER.as_bytes()).expect("valid offer");
        assert_eq!(s.opus_channels, Some(2));
        assert_eq!(s.video_codecs, vec!["VP8".to_owned(), "H264".to_owned()]);
    }

    #[test]
    fn offers_without_h264_mode_1_are_refused_with_the_codecs_offered() {
        let vp8_only = OFFER.replace("a=rtpmap:102 H264/90000\r\n", "").replace(
            "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n",
            "",
        );
        let e = inspect_offer(vp8_only.as_bytes()).expect_err("no H.264");
        assert_eq!(e.status(), 406);
        assert!(e.to_string().contains("H.264 + Opus"), "{e}");
        assert!(e.to_string().contains("VP8"), "{e}");
        let mode0 = OFFER.replace("packetization-mode=1", "packetization-mode=0");
        assert_eq!(
            inspect_offer(mode0.as_bytes())
                .map_err(|e| e.status())
                .err(),
            Some(406)
        );
    }

    #[test]
    fn audio_is_optional_and_mono_by_default() {
        let no_stereo = OFFER.replace(";stereo=1", "");
        assert_eq!(
            inspect_offer(no_stereo.as_bytes())
                .expect("valid")
                .1
                .opus_channels,
            Some(1)
        );
        let video_only = &OFFER[..OFFER.find("m=audio").expect("audio section")];
        assert_eq!(
            inspect_offer(video_only.as_bytes())
                .expect("valid")
                .1
                .opus_channels,
            None
        );
    }

    #[test]
    fn malformed_offers_get_400_with_a_reason() {
        for bad in [
            &b"hello"[..],
            b"",
            b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n",
            b"v=0\r\nthis is not sdp\r\n",
            &[0xff, 0xfe, 0x00][..],
        ] {
            let e = inspect_offer(bad).expect_err("malformed");
            assert_eq!(e.status(), 400, "{e}");
            assert!(e.to_string().starts_with("malformed SDP offer: "));
        }
        let big = vec![b'a'; MAX_OFFER_BYTES + 1];
        assert_eq!(inspect_offer(&big).map_err(|e| e.status()).err(), Some(413));
        let many = format!("v=0\r\n{}", "m=video 9 RTP/AVP 96\r\n".repeat(20));
        assert_eq!(
            inspect_offer(many.as_bytes()).map_err(|e| e.status()).err(),
            Some(400)
        );
    }
}
