use super::*;

/// 1.4 s of 160x90 H.264 (15 fps, keyframe every 10 frames) and 48 kHz mono AAC, as
/// ffmpeg's MPEG-TS muxer writes it for `-f mpegts` (what its SRT output carries).
const CAPTURE: &[u8] = include_bytes!("testdata/ffmpeg_h264_aac.ts");
/// ffprobe counts 21 video frames in it.
const CAPTURE_VIDEO_FRAMES: usize = 21;

fn demux_all(chunks: &mut dyn Iterator<Item = &[u8]>) -> (Vec<TsEvent>, Result<(), TsError>) {
    let mut d = TsDemuxer::new();
    let mut events = Vec::new();
    for c in chunks {
        if let Err(e) = d.handle_input(c) {
            return (events, Err(e));
        }
        while let Some(e) = d.poll_event() {
            events.push(e);
        }
    }
    d.finish();
    while let Some(e) = d.poll_event() {
        events.push(e);
    }
    (events, Ok(()))
}

fn pes_of(events: &[TsEvent], pid: u16) -> Vec<&Pes> {
    events
        .iter()
        .filter_map(|e| match e {
            TsEvent::Pes(p) if p.pid == pid => Some(p),
            _ => None,
        })
        .collect()
}

#[test]
fn crc_matches_the_mpeg2_check_value() {
    assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_e6e7);
}

#[test]
fn a_capture_gives_its_program_and_every_frame() {
    let (events, r) = demux_all(&mut CAPTURE.chunks(1316));
    r.expect("a transport stream");
    assert_eq!(
        events.first(),
        Some(&TsEvent::Program(vec![
            EsInfo {
                pid: 0x100,
                stream_type: STREAM_H264
            },
            EsInfo {
                pid: 0x101,
                stream_type: STREAM_AAC_ADTS
            },
        ]))
    );
    let video = pes_of(&events, 0x100);
    assert_eq!(video.len(), CAPTURE_VIDEO_FRAMES);
    for w in video.windows(2) {
        assert!(w[1].dts.or(w[1].pts) > w[0].dts.or(w[0].pts), "in order");
    }
    assert!(video.iter().all(|p| p.data.starts_with(&[0, 0, 0, 1])));
    let audio = pes_of(&events, 0x101);
    assert!(!audio.is_empty());
    assert!(audio.iter().all(|p| p.pts.is_some() && p.data[0] == 0xff));
    assert!(!events.iter().any(|e| matches!(e, TsEvent::Dropped { .. })));
}

#[test]
fn any_split_of_the_input_gives_the_same_events() {
    let (whole, _) = demux_all(&mut std::iter::once(CAPTURE));
    let (bytewise, _) = demux_all(&mut CAPTURE.chunks(1));
    let (odd, _) = demux_all(&mut CAPTURE.chunks(1000));
    assert_eq!(whole, bytewise);
    assert_eq!(whole, odd);
}

#[test]
fn a_lost_packet_drops_its_frame_only() {
    // Remove the fourth TS packet of the video PID that does not start a PES.
    let mut seen = 0;
    let mut removed = None;
    for (i, p) in CAPTURE.chunks(TS_PACKET).enumerate() {
        let pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
        if pid == 0x100 && p[1] & 0x40 == 0 {
            seen += 1;
            if seen == 4 {
                removed = Some(i);
                break;
            }
        }
    }
    let removed = removed.expect("the capture has continuation packets");
    let lossy: Vec<u8> = CAPTURE
        .chunks(TS_PACKET)
        .enumerate()
        .filter(|(i, _)| *i != removed)
        .flat_map(|(_, p)| p.iter().copied())
        .collect();
    let (events, r) = demux_all(&mut lossy.chunks(1316));
    r.expect("still a transport stream");
    let dropped: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            TsEvent::Dropped { pid, at, reason } => Some((*pid, *at, *reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        dropped,
        vec![(
            0x100,
            (removed * TS_PACKET) as u64,
            DropReason::Discontinuity
        )]
    );
    assert_eq!(pes_of(&events, 0x100).len(), CAPTURE_VIDEO_FRAMES - 1);
}

#[test]
fn garbage_is_refused_with_its_offset_and_a_bad_pat_is_reported() {
    let junk = vec![0x11u8; 4000];
    let (_, r) = demux_all(&mut std::iter::once(&junk[..]));
    assert!(
        matches!(r, Err(TsError::LostSync { at, .. }) if at > MAX_RESYNC as u64),
        "{r:?}"
    );
    // A few stray bytes between packets are skipped.
    let mut noisy = CAPTURE[..TS_PACKET * 10].to_vec();
    noisy.splice(TS_PACKET * 5..TS_PACKET * 5, [1u8, 2, 3]);
    let (_, r) = demux_all(&mut std::iter::once(&noisy[..]));
    assert!(r.is_ok());
    // A PAT whose CRC is wrong.
    let mut bad = CAPTURE.to_vec();
    let pat = bad
        .chunks(TS_PACKET)
        .position(|p| p[1] & 0x1f == 0 && p[2] == 0)
        .expect("a PAT");
    bad[pat * TS_PACKET + 10] ^= 0xff;
    let (events, _) = demux_all(&mut std::iter::once(&bad[..]));
    assert!(events.contains(&TsEvent::Dropped {
        pid: 0,
        at: (pat * TS_PACKET) as u64,
        reason: DropReason::BadSection
    }));
}

#[test]
fn hostile_bytes_never_panic() {
    // Packets with a sync byte and random everything else, and mutated captures.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..200 {
        let mut data = CAPTURE[..TS_PACKET * 40].to_vec();
        for _ in 0..(round % 50 + 1) {
            let i = (next() as usize) % data.len();
            data[i] = next() as u8;
        }
        let (_, _) = demux_all(&mut data.chunks(1 + (next() as usize) % 1500));
        let random: Vec<u8> = (0..TS_PACKET * 8)
            .map(|i| {
                if i % TS_PACKET == 0 {
                    SYNC
                } else {
                    next() as u8
                }
            })
            .collect();
        let (_, _) = demux_all(&mut std::iter::once(&random[..]));
    }
}
