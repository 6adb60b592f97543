//! Whether a CMAF chunk's movie fragment starts every track on a sync sample (pure:
//! the muxer's header bytes in, a yes, a no or "cannot tell" out).
//!
//! The muxer marks the first chunk of each fragment as a fragment start, and a segment
//! begins there. At a session's end it can start a last fragment with what was left
//! after the previous one closed: a few audio frames without video (the muxer lets the
//! audio decide that the fragment was full once the video had ended), or video that is
//! not a keyframe. Such a segment does not decode on its own. The sink asks
//! [`starts_with_sync`] and keeps those chunks in the open segment instead.
//!
//! Reads `moov/trak/{tkhd,mdia/hdlr}` of the init segment for the video track
//! ([`video_track`]) and `moof/traf/{tfhd,trun}` (ISO/IEC 14496-12 §8.8) of a chunk: a
//! track's first sample flags come from the `trun`'s first-sample flags, else its first
//! per-sample flags, else the `tfhd` defaults; `sample_is_non_sync_sample` (bit 16)
//! clear means sync. Without a known video track, every track must start on a sync
//! sample (audio tracks carry only sync samples).

/// `sample_is_non_sync_sample` in a sample's flags.
const NON_SYNC: u32 = 0x0001_0000;

// tfhd flags.
const TFHD_BASE_DATA_OFFSET: u32 = 0x01;
const TFHD_SAMPLE_DESCRIPTION_INDEX: u32 = 0x02;
const TFHD_DEFAULT_DURATION: u32 = 0x08;
const TFHD_DEFAULT_SIZE: u32 = 0x10;
const TFHD_DEFAULT_FLAGS: u32 = 0x20;

// trun flags.
const TRUN_DATA_OFFSET: u32 = 0x001;
const TRUN_FIRST_SAMPLE_FLAGS: u32 = 0x004;
const TRUN_SAMPLE_DURATION: u32 = 0x100;
const TRUN_SAMPLE_SIZE: u32 = 0x200;
const TRUN_SAMPLE_FLAGS: u32 = 0x400;

/// Boxes in `data[from..to]`: `(type, body start, end)`.
fn boxes(data: &[u8], from: usize, to: usize) -> Option<Vec<([u8; 4], usize, usize)>> {
    let mut out = Vec::new();
    let mut at = from;
    while at + 8 <= to {
        let size = u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?) as usize;
        let kind: [u8; 4] = data.get(at + 4..at + 8)?.try_into().ok()?;
        let (body, end) = match size {
            // 64-bit size: never used for a fragment header.
            1 => return None,
            // To the end of the enclosing box.
            0 => (at + 8, to),
            s if s >= 8 => (at + 8, at.checked_add(s)?),
            _ => return None,
        };
        if end > to {
            // The header buffer may end inside a box (the `mdat` whose payload follows).
            out.push((kind, body, to));
            break;
        }
        out.push((kind, body, end));
        at = end;
    }
    Some(out)
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

/// The first sample's flags in one `traf`, when the fragment says them.
fn first_sample_flags(data: &[u8], body: usize, end: usize) -> Option<Option<u32>> {
    let children = boxes(data, body, end)?;
    let mut default = None;
    if let Some(&(_, b, _)) = children.iter().find(|(k, ..)| k == b"tfhd") {
        let flags = u32_at(data, b)? & 0x00ff_ffff;
        // version/flags, track_ID, then the optional fields in order.
        let mut at = b + 8;
        if flags & TFHD_BASE_DATA_OFFSET != 0 {
            at += 8;
        }
        for f in [
            TFHD_SAMPLE_DESCRIPTION_INDEX,
            TFHD_DEFAULT_DURATION,
            TFHD_DEFAULT_SIZE,
        ] {
            if flags & f != 0 {
                at += 4;
            }
        }
        if flags & TFHD_DEFAULT_FLAGS != 0 {
            default = Some(u32_at(data, at)?);
        }
    }
    let Some(&(_, b, _)) = children.iter().find(|(k, ..)| k == b"trun") else {
        // No samples in this track.
        return Some(None);
    };
    let flags = u32_at(data, b)? & 0x00ff_ffff;
    if u32_at(data, b + 4)? == 0 {
        return Some(None);
    }
    let mut at = b + 8;
    if flags & TRUN_DATA_OFFSET != 0 {
        at += 4;
    }
    if flags & TRUN_FIRST_SAMPLE_FLAGS != 0 {
        return Some(Some(u32_at(data, at)?));
    }
    if flags & TRUN_SAMPLE_FLAGS != 0 {
        for f in [TRUN_SAMPLE_DURATION, TRUN_SAMPLE_SIZE] {
            if flags & f != 0 {
                at += 4;
            }
        }
        return Some(Some(u32_at(data, at)?));
    }
    Some(default)
}

/// The track ID of the (first) video track of an init segment.
pub fn video_track(init: &[u8]) -> Option<u32> {
    let top = boxes(init, 0, init.len())?;
    let &(_, body, end) = top.iter().find(|(k, ..)| k == b"moov")?;
    for (kind, b, e) in boxes(init, body, end)? {
        if &kind != b"trak" {
            continue;
        }
        let trak = boxes(init, b, e)?;
        let Some(&(_, tkhd, _)) = trak.iter().find(|(k, ..)| k == b"tkhd") else {
            continue;
        };
        let id_at = if init.get(tkhd) == Some(&1) {
            tkhd + 20
        } else {
            tkhd + 12
        };
        let Some(&(_, mb, me)) = trak.iter().find(|(k, ..)| k == b"mdia") else {
            continue;
        };
        let mdia = boxes(init, mb, me)?;
        let Some(&(_, hdlr, _)) = mdia.iter().find(|(k, ..)| k == b"hdlr") else {
            continue;
        };
        if init.get(hdlr + 8..hdlr + 12) == Some(b"vide") {
            return u32_at(init, id_at);
        }
    }
    None
}

/// Whether the `moof` in `header` starts on a sync sample: with `video` (its track
/// ID, from [`video_track`]), whether that track has samples and starts on a keyframe;
/// without, whether every track with samples starts on a sync sample. `None` when the
/// bytes do not say (no `moof`, malformed, or flags left to the init segment's
/// defaults).
pub fn starts_with_sync(header: &[u8], video: Option<u32>) -> Option<bool> {
    let top = boxes(header, 0, header.len())?;
    let &(_, body, end) = top.iter().find(|(k, ..)| k == b"moof")?;
    let mut any = false;
    for (kind, b, e) in boxes(header, body, end)? {
        if &kind != b"traf" {
            continue;
        }
        if let Some(v) = video {
            let tfhd = boxes(header, b, e)?
                .into_iter()
                .find(|(k, ..)| k == b"tfhd")
                .and_then(|(_, tb, _)| u32_at(header, tb + 4));
            if tfhd != Some(v) {
                continue;
            }
        }
        match first_sample_flags(header, b, e)? {
            Some(flags) if flags & NON_SYNC != 0 => return Some(false),
            Some(_) => any = true,
            None if video.is_some() => return None,
            None => {}
        }
    }
    match (any, video) {
        (true, _) => Some(true),
        // The video track has no sample in this fragment.
        (false, Some(_)) => Some(false),
        (false, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    fn full(flags: u32, rest: &[u8]) -> Vec<u8> {
        let mut v = flags.to_be_bytes().to_vec();
        v.extend_from_slice(rest);
        v
    }

    /// A traf with per-sample flags (as the muxer writes video).
    fn traf_per_sample(track: u32, first_flags: u32) -> Vec<u8> {
        let tfhd = bx(b"tfhd", &full(0x02_0000, &track.to_be_bytes()));
        let mut samples = Vec::new();
        for flags in [first_flags, 0x0101_0000] {
            samples.extend_from_slice(&3000u32.to_be_bytes()); // duration
            samples.extend_from_slice(&500u32.to_be_bytes()); // size
            samples.extend_from_slice(&flags.to_be_bytes());
        }
        let mut body = 2u32.to_be_bytes().to_vec();
        body.extend_from_slice(&100u32.to_be_bytes()); // data offset
        body.extend_from_slice(&samples);
        let trun = bx(
            b"trun",
            &full(
                TRUN_DATA_OFFSET | TRUN_SAMPLE_DURATION | TRUN_SAMPLE_SIZE | TRUN_SAMPLE_FLAGS,
                &body,
            ),
        );
        bx(b"traf", &[tfhd, trun].concat())
    }

    /// A traf whose flags are the tfhd defaults (as the muxer writes audio).
    fn traf_defaults(track: u32, default_flags: u32) -> Vec<u8> {
        let mut rest = track.to_be_bytes().to_vec();
        rest.extend_from_slice(&1024u32.to_be_bytes()); // default duration
        rest.extend_from_slice(&default_flags.to_be_bytes());
        let tfhd = bx(
            b"tfhd",
            &full(TFHD_DEFAULT_DURATION | TFHD_DEFAULT_FLAGS, &rest),
        );
        let trun = bx(
            b"trun",
            &full(
                TRUN_SAMPLE_SIZE,
                &[1u32.to_be_bytes(), 9u32.to_be_bytes()].concat(),
            ),
        );
        bx(b"traf", &[tfhd, trun].concat())
    }

    fn header(trafs: &[Vec<u8>]) -> Vec<u8> {
        let mfhd = bx(b"mfhd", &full(0, &7u32.to_be_bytes()));
        let mut moof = bx(b"moof", &[vec![mfhd], trafs.to_vec()].concat().concat());
        // The mdat's header is in the same buffer, its payload is not.
        moof.extend_from_slice(&5000u32.to_be_bytes());
        moof.extend_from_slice(b"mdat");
        moof
    }

    #[test]
    fn a_keyframe_with_audio_starts_on_sync() {
        let h = header(&[
            traf_per_sample(1, 0x0200_0000),
            traf_defaults(2, 0x0200_0000),
        ]);
        assert_eq!(starts_with_sync(&h, None), Some(true));
    }

    #[test]
    fn video_starting_on_a_delta_frame_is_not_sync() {
        let h = header(&[
            traf_per_sample(1, 0x0101_0000),
            traf_defaults(2, 0x0200_0000),
        ]);
        assert_eq!(starts_with_sync(&h, None), Some(false));
        let alone = header(&[traf_per_sample(1, 0x0101_0000)]);
        assert_eq!(starts_with_sync(&alone, None), Some(false));
    }

    #[test]
    fn with_the_video_track_known_audio_alone_does_not_start_a_segment() {
        let both = header(&[
            traf_per_sample(1, 0x0200_0000),
            traf_defaults(2, 0x0200_0000),
        ]);
        assert_eq!(starts_with_sync(&both, Some(1)), Some(true));
        let audio = header(&[traf_defaults(2, 0x0200_0000)]);
        assert_eq!(starts_with_sync(&audio, Some(1)), Some(false));
        assert_eq!(starts_with_sync(&audio, None), Some(true));
        let delta = header(&[
            traf_defaults(2, 0x0200_0000),
            traf_per_sample(1, 0x0101_0000),
        ]);
        assert_eq!(starts_with_sync(&delta, Some(1)), Some(false));
    }

    #[test]
    fn the_video_track_of_an_init_segment() {
        let trak = |id: u32, handler: &[u8; 4], version: u8| {
            let mut tkhd = vec![version, 0, 0, 7];
            tkhd.extend(std::iter::repeat_n(0u8, if version == 1 { 16 } else { 8 }));
            tkhd.extend_from_slice(&id.to_be_bytes());
            tkhd.extend_from_slice(&[0; 60]);
            let mut hdlr = vec![0u8; 8];
            hdlr.extend_from_slice(handler);
            hdlr.extend_from_slice(&[0; 13]);
            let mdia = bx(
                b"mdia",
                &[bx(b"mdhd", &[0; 24]), bx(b"hdlr", &hdlr)].concat(),
            );
            bx(b"trak", &[bx(b"tkhd", &tkhd), mdia].concat())
        };
        let init = |traks: &[Vec<u8>]| {
            let moov = bx(
                b"moov",
                &[vec![bx(b"mvhd", &[0; 100])], traks.to_vec()]
                    .concat()
                    .concat(),
            );
            [bx(b"ftyp", b"iso6"), moov].concat()
        };
        assert_eq!(
            video_track(&init(&[trak(2, b"soun", 0), trak(1, b"vide", 0)])),
            Some(1)
        );
        assert_eq!(video_track(&init(&[trak(5, b"vide", 1)])), Some(5));
        assert_eq!(video_track(&init(&[trak(2, b"soun", 0)])), None);
        let full = init(&[trak(2, b"soun", 0), trak(1, b"vide", 0)]);
        for n in 0..full.len() {
            let _ = video_track(&full[..n]);
        }
    }

    #[test]
    fn first_sample_flags_win() {
        let tfhd = bx(b"tfhd", &full(0, &1u32.to_be_bytes()));
        let mut body = 1u32.to_be_bytes().to_vec();
        body.extend_from_slice(&0x0200_0000u32.to_be_bytes());
        let trun = bx(b"trun", &full(TRUN_FIRST_SAMPLE_FLAGS, &body));
        let h = header(&[bx(b"traf", &[tfhd, trun].concat())]);
        assert_eq!(starts_with_sync(&h, None), Some(true));
    }

    #[test]
    fn what_the_bytes_do_not_say_is_unknown() {
        assert_eq!(starts_with_sync(b"", None), None);
        assert_eq!(starts_with_sync(&bx(b"mdat", b"xx"), Some(1)), None);
        // Flags only in the init segment's trex.
        let tfhd = bx(b"tfhd", &full(0, &1u32.to_be_bytes()));
        let trun = bx(b"trun", &full(0, &1u32.to_be_bytes()));
        assert_eq!(
            starts_with_sync(&header(&[bx(b"traf", &[tfhd, trun].concat())]), None),
            None
        );
        // Truncated anywhere: never a panic.
        let h = header(&[
            traf_per_sample(1, 0x0200_0000),
            traf_defaults(2, 0x0200_0000),
        ]);
        for n in 0..h.len() {
            let _ = starts_with_sync(&h[..n], Some(1));
            let _ = starts_with_sync(&h[..n], None);
        }
        let mut bad = h.clone();
        bad[3] = 3; // a box smaller than its header
        assert_eq!(starts_with_sync(&bad, None), None);
    }
}
