use super::*;

fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    put_box(&mut v, kind, body);
    v
}

fn full(version: u8, rest: &[u8]) -> Vec<u8> {
    let mut v = vec![version, 0, 0, 0];
    v.extend_from_slice(rest);
    v
}

/// `mvhd`/`mdhd` version 0: times, timescale, duration, then padding.
fn header_v0(timescale: u32) -> Vec<u8> {
    let mut rest = vec![0; 8];
    rest.extend_from_slice(&timescale.to_be_bytes());
    rest.extend_from_slice(&0u32.to_be_bytes());
    rest.extend_from_slice(&[0; 8]);
    full(0, &rest)
}

fn trak(id: u32, timescale: u32, codec: &[u8; 4]) -> Vec<u8> {
    let mut tkhd = vec![0; 8];
    tkhd.extend_from_slice(&id.to_be_bytes());
    tkhd.extend_from_slice(&[0; 8]);
    let stsd = bx(
        b"stsd",
        &full(
            0,
            &[
                0, 0, 0, 1, 0, 0, 0, 8, codec[0], codec[1], codec[2], codec[3],
            ],
        ),
    );
    let stbl = bx(b"stbl", &stsd);
    let minf = bx(b"minf", &stbl);
    let mut mdia = bx(b"mdhd", &header_v0(timescale));
    mdia.extend(minf);
    let mut t = bx(b"tkhd", &full(0, &tkhd));
    t.extend(bx(b"mdia", &mdia));
    bx(b"trak", &t)
}

fn init(video_codec: &[u8; 4]) -> Vec<u8> {
    let mut moov = bx(b"mvhd", &header_v0(1000));
    moov.extend(trak(1, 90_000, video_codec));
    moov.extend(trak(2, 48_000, b"mp4a"));
    moov.extend(bx(b"mvex", &bx(b"trex", &full(0, &[0; 20]))));
    let mut out = bx(b"ftyp", b"iso6\0\0\0\0");
    out.extend(bx(b"moov", &moov));
    out
}

fn traf(track: u32, tfdt: u64, version: u8) -> Vec<u8> {
    let mut t = bx(b"tfhd", &full(0, &track.to_be_bytes()));
    let value = if version == 1 {
        tfdt.to_be_bytes().to_vec()
    } else {
        (tfdt as u32).to_be_bytes().to_vec()
    };
    t.extend(bx(b"tfdt", &full(version, &value)));
    t.extend(bx(b"trun", &full(0, &[0, 0, 0, 0])));
    bx(b"traf", &t)
}

fn segment(seq: u32, video: u64, audio: u64) -> Vec<u8> {
    let mut moof = bx(b"mfhd", &full(0, &seq.to_be_bytes()));
    moof.extend(traf(1, video, 1));
    moof.extend(traf(2, audio, 0));
    let mut out = bx(b"styp", b"msdh\0\0\0\0");
    out.extend(bx(b"moof", &moof));
    out.extend(bx(b"mdat", b"media bytes"));
    out
}

#[test]
fn init_info_reads_tracks() {
    let info = InitInfo::parse(&init(b"avc1")).expect("parses");
    assert_eq!(info.movie_timescale, 1000);
    assert_eq!(
        info.tracks
            .iter()
            .map(|(k, v)| (*k, v.0))
            .collect::<Vec<_>>(),
        vec![(1, 90_000), (2, 48_000)]
    );
    let other = InitInfo::parse(&init(b"hvc1")).expect("parses");
    assert!(!info.compatible(&other));
    assert!(info.compatible(&info.clone()));
}

#[test]
fn duration_goes_into_mvhd_and_mehd() {
    let src = init(b"avc1");
    let out = with_duration(&src, Duration::from_millis(12_345)).expect("rewrites");
    assert_eq!(out.len(), src.len() + 20, "one mehd box added");
    let info = InitInfo::parse(&out).expect("still parses");
    assert_eq!(info, InitInfo::parse(&src).expect("parses"));
    let top = children(&out, 0, out.len()).expect("boxes");
    let moov = find(&top, b"moov").expect("moov");
    let in_moov = children(&out, moov.body, moov.end).expect("boxes");
    let mvhd = find(&in_moov, b"mvhd").expect("mvhd");
    assert_eq!(read_u32(&out, mvhd.body + 16), Ok(12_345));
    let mvex = find(&in_moov, b"mvex").expect("mvex");
    let in_mvex = children(&out, mvex.body, mvex.end).expect("boxes");
    let mehd = find(&in_mvex, b"mehd").expect("mehd");
    assert_eq!(read_u64(&out, mehd.body + 4), Ok(12_345));
    assert!(find(&in_mvex, b"trex").is_some());
    // Rewriting again replaces the mehd rather than adding one.
    let twice = with_duration(&out, Duration::from_secs(1)).expect("rewrites");
    assert_eq!(twice.len(), out.len());
}

#[test]
fn runs_are_shifted_onto_one_timeline() {
    let info = InitInfo::parse(&init(b"avc1")).expect("parses");
    // A run whose audio starts 20 ms before its video, at 100 s of its own media time.
    let seg = segment(7, 100 * 90_000 + 1800, 100 * 48_000);
    let first = first_decode_times(&seg, &info).expect("times");
    assert_eq!(first.get(&2), Some(&100.0));
    let retimer = Retimer::new(&info, &first, Duration::from_secs(30));
    let mut seq = 1;
    let out = retimer.rewrite(&seg, &mut seq).expect("rewrites");
    assert_eq!(seq, 2);
    assert_eq!(
        out.len(),
        seg.len() - 16,
        "styp dropped, nothing else resized"
    );
    let times = first_decode_times(&out, &info).expect("times");
    assert_eq!(
        times.get(&2),
        Some(&30.0),
        "earliest track starts at the run start"
    );
    assert_eq!(times.get(&1), Some(&30.02), "tracks keep their offset");
    let top = children(&out, 0, out.len()).expect("boxes");
    let moof = find(&top, b"moof").expect("moof");
    let mfhd = find(
        &children(&out, moof.body, moof.end).expect("boxes"),
        b"mfhd",
    )
    .expect("mfhd");
    assert_eq!(read_u32(&out, mfhd.body + 4), Ok(1), "renumbered");
    // Shifting before zero is refused, not wrapped.
    let back = Retimer::new(&info, &BTreeMap::from([(2, 200.0)]), Duration::ZERO);
    assert!(matches!(
        back.rewrite(&seg, &mut seq),
        Err(Fmp4Error::TimeRange { .. })
    ));
}

#[test]
fn malformed_boxes_are_errors_not_panics() {
    let seg = segment(1, 0, 0);
    for cut in 0..seg.len() {
        let _ = first_decode_times(&seg[..cut], &InitInfo::parse(&init(b"avc1")).expect("ok"));
        let _ = Retimer::new(
            &InitInfo::parse(&init(b"avc1")).expect("ok"),
            &BTreeMap::new(),
            Duration::ZERO,
        )
        .rewrite(&seg[..cut], &mut 0);
    }
    let i = init(b"avc1");
    for cut in 0..i.len() {
        let _ = InitInfo::parse(&i[..cut]);
        let _ = with_duration(&i[..cut], Duration::from_secs(1));
    }
    let mut huge = seg.clone();
    huge[0..4].copy_from_slice(&1u32.to_be_bytes());
    assert!(Retimer::new(
        &InitInfo::parse(&i).expect("ok"),
        &BTreeMap::new(),
        Duration::ZERO
    )
    .rewrite(&huge, &mut 0)
    .is_err());
    let mut moof = bx(b"mfhd", &full(0, &1u32.to_be_bytes()));
    moof.extend(traf(9, 0, 1));
    let unknown = bx(b"moof", &moof);
    assert_eq!(
        first_decode_times(&unknown, &InitInfo::parse(&i).expect("ok")),
        Err(Fmp4Error::UnknownTrack { track: 9 })
    );
}
