//! Unit tests of the chunk stream decoder and encoder, from byte vectors.

#![allow(clippy::unwrap_used)]

use super::*;
use bytes::Bytes;

fn decode_all(dec: &mut ChunkDecoder) -> Vec<Message> {
    let mut out = Vec::new();
    while let Some(m) = dec.poll_message().unwrap() {
        out.push(m);
    }
    out
}

fn msg(type_id: u8, stream_id: u32, timestamp: u32, payload: &[u8]) -> Message {
    Message {
        type_id,
        stream_id,
        timestamp,
        payload: Bytes::copy_from_slice(payload),
    }
}

#[test]
fn fmt0_single_chunk() {
    let mut dec = ChunkDecoder::new();
    // csid 3, ts 1000, len 4, type 20, stream id 1 (little endian)
    dec.push(&[0x03, 0, 0x03, 0xE8, 0, 0, 4, 20, 1, 0, 0, 0, b'a', b'b']);
    assert!(dec.poll_message().unwrap().is_none(), "incomplete");
    dec.push(b"cd");
    assert_eq!(decode_all(&mut dec), vec![msg(20, 1, 1000, b"abcd")]);
    assert_eq!(dec.buffered(), 0);
}

#[test]
fn fmt1_fmt2_fmt3_headers() {
    let mut dec = ChunkDecoder::new();
    let mut b = vec![0x04, 0, 0, 100, 0, 0, 2, 9, 1, 0, 0, 0, 1, 2];
    // fmt 1: delta 33, len 3, type 8 (stream id kept)
    b.extend([0x44, 0, 0, 33, 0, 0, 3, 8, 3, 4, 5]);
    // fmt 2: delta 10 (len 3, type 8 kept)
    b.extend([0x84, 0, 0, 10, 6, 7, 8]);
    // fmt 3: new message, delta 10 reused
    b.extend([0xC4, 9, 10, 11]);
    dec.push(&b);
    assert_eq!(
        decode_all(&mut dec),
        vec![
            msg(9, 1, 100, &[1, 2]),
            msg(8, 1, 133, &[3, 4, 5]),
            msg(8, 1, 143, &[6, 7, 8]),
            msg(8, 1, 153, &[9, 10, 11]),
        ]
    );
}

#[test]
fn two_and_three_byte_chunk_stream_ids() {
    let mut dec = ChunkDecoder::new();
    // csid 64 + 10 = 74 (2 bytes), then csid 64 + 1 + 2*256 = 577 (3 bytes)
    let mut b = vec![0x00, 10, 0, 0, 1, 0, 0, 1, 18, 0, 0, 0, 0, 0xAA];
    b.extend([0x01, 1, 2, 0, 0, 2, 0, 0, 1, 18, 0, 0, 0, 0, 0xBB]);
    dec.push(&b);
    assert_eq!(
        decode_all(&mut dec),
        vec![msg(18, 0, 1, &[0xAA]), msg(18, 0, 2, &[0xBB])]
    );
    let enc = ChunkEncoder::new();
    let mut out = BytesMut::new();
    enc.encode(74, &msg(18, 0, 1, &[0xAA]), &mut out);
    enc.encode(577, &msg(18, 0, 2, &[0xBB]), &mut out);
    assert_eq!(&out[..], &b[..]);
}

#[test]
fn extended_timestamp_including_fmt3_continuation() {
    let mut dec = ChunkDecoder::new();
    dec.set_chunk_size(2).unwrap();
    let ts: u32 = 0x0100_0000;
    let mut b = vec![0x03, 0xFF, 0xFF, 0xFF, 0, 0, 3, 9, 1, 0, 0, 0];
    b.extend(ts.to_be_bytes());
    b.extend([1, 2]);
    b.push(0xC3);
    b.extend(ts.to_be_bytes());
    b.push(3);
    dec.push(&b);
    assert_eq!(decode_all(&mut dec), vec![msg(9, 1, ts, &[1, 2, 3])]);

    // Same message, but the sender omits the extended timestamp on type 3.
    let mut dec = ChunkDecoder::new();
    dec.set_chunk_size(2).unwrap();
    let mut b = vec![0x03, 0xFF, 0xFF, 0xFF, 0, 0, 3, 9, 1, 0, 0, 0];
    b.extend(ts.to_be_bytes());
    b.extend([1, 2, 0xC3, 3, 0x43, 0, 0, 1, 0, 0, 1, 9, 7]);
    dec.push(&b);
    assert_eq!(
        decode_all(&mut dec),
        vec![msg(9, 1, ts, &[1, 2, 3]), msg(9, 1, ts + 1, &[7])]
    );

    // The encoder repeats it; the decoder reads its own output back.
    let enc = ChunkEncoder::new();
    let mut out = BytesMut::new();
    let big = msg(9, 1, ts, &[5u8; 300]);
    enc.encode(6, &big, &mut out);
    let mut dec = ChunkDecoder::new();
    dec.push(&out);
    assert_eq!(decode_all(&mut dec), vec![big]);
}

#[test]
fn interleaved_chunk_streams() {
    let mut dec = ChunkDecoder::new();
    dec.set_chunk_size(2).unwrap();
    let mut b = vec![0x04, 0, 0, 10, 0, 0, 4, 9, 1, 0, 0, 0, b'v', b'1'];
    b.extend([0x05, 0, 0, 20, 0, 0, 3, 8, 1, 0, 0, 0, b'a', b'1']);
    b.extend([0xC4, b'v', b'2']);
    b.extend([0xC5, b'a']);
    dec.push(&b);
    assert_eq!(
        decode_all(&mut dec),
        vec![msg(9, 1, 10, b"v1v2"), msg(8, 1, 20, b"a1a")]
    );
}

#[test]
fn set_chunk_size_applies_to_following_chunks() {
    let enc = ChunkEncoder::new();
    let mut out = BytesMut::new();
    enc.encode(2, &Message::set_chunk_size(4096), &mut out);
    let mut enc = ChunkEncoder::new();
    enc.set_chunk_size(4096);
    let big = msg(9, 1, 0, &[7u8; 3000]);
    enc.encode(6, &big, &mut out);
    assert_eq!(out.len(), 12 + 4 + 12 + 3000, "one chunk after the change");
    let mut dec = ChunkDecoder::new();
    // Byte at a time, to exercise incomplete input everywhere.
    let mut got = Vec::new();
    for byte in out.iter() {
        dec.push(&[*byte]);
        while let Some(m) = dec.poll_message().unwrap() {
            got.push(m);
        }
    }
    assert_eq!(got.len(), 2);
    assert_eq!(dec.chunk_size(), 4096);
    assert_eq!(got[1], big);
}

#[test]
fn abort_discards_partial_message() {
    let mut dec = ChunkDecoder::new();
    dec.set_chunk_size(2).unwrap();
    let mut b = vec![0x04, 0, 0, 10, 0, 0, 4, 9, 1, 0, 0, 0, 1, 2];
    b.extend([0x02, 0, 0, 0, 0, 0, 4, 2, 0, 0, 0, 0, 0, 0]);
    b.extend([0xC2, 0, 4]); // rest of the Abort for csid 4 (chunk size 2)
    b.extend([0x04, 0, 0, 11, 0, 0, 1, 9, 1, 0, 0, 0, 9]);
    dec.push(&b);
    let got = decode_all(&mut dec);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].type_id, msg_type::ABORT);
    assert_eq!(got[1], msg(9, 1, 11, &[9]));
}

#[test]
fn limits_are_typed_errors() {
    let mut dec = ChunkDecoder::new();
    dec.push(&[0x43, 0, 0, 0, 0, 0, 1, 9]);
    assert!(matches!(
        dec.poll_message(),
        Err(ChunkError::NoPreviousHeader {
            csid: 3,
            fmt: 1,
            ..
        })
    ));

    let mut dec = ChunkDecoder::new();
    dec.push(&[0x03, 0, 0, 0, 0x90, 0, 0, 9, 1, 0, 0, 0]);
    assert!(matches!(
        dec.poll_message(),
        Err(ChunkError::MessageTooLong { len: 0x90_0000, .. })
    ));

    let mut dec = ChunkDecoder::new();
    for csid in 2..=(MAX_CHUNK_STREAMS as u8 + 2) {
        dec.push(&[0x00, csid, 0, 0, 0, 0, 0, 1, 18, 0, 0, 0, 0, 0]);
    }
    let err = loop {
        match dec.poll_message() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("expected an error"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, ChunkError::TooManyChunkStreams { .. }));

    let mut dec = ChunkDecoder::new();
    let mut out = BytesMut::new();
    ChunkEncoder::new().encode(2, &Message::set_chunk_size(0x2000_0000), &mut out);
    dec.push(&out);
    assert_eq!(
        dec.poll_message(),
        Err(ChunkError::BadChunkSize(0x2000_0000))
    );

    let mut dec = ChunkDecoder::new();
    dec.set_chunk_size(2).unwrap();
    dec.push(&[0x04, 0, 0, 10, 0, 0, 4, 9, 1, 0, 0, 0, 1, 2]);
    dec.push(&[0x04, 0, 0, 10, 0, 0, 4, 9, 1, 0, 0, 0, 1, 2]);
    assert!(matches!(
        dec.poll_message(),
        Err(ChunkError::InterruptedMessage {
            received: 2,
            len: 4,
            ..
        })
    ));
}

#[test]
fn pending_bytes_are_bounded() {
    let mut dec = ChunkDecoder::new();
    dec.set_chunk_size(MAX_MESSAGE_LEN / 2).unwrap();
    let chunk = vec![0u8; (MAX_MESSAGE_LEN / 2) as usize];
    let mut err = None;
    for csid in 3..8u8 {
        let mut h = vec![csid, 0, 0, 0];
        h.extend(&MAX_MESSAGE_LEN.to_be_bytes()[1..]);
        h.extend([9, 1, 0, 0, 0]);
        dec.push(&h);
        dec.push(&chunk);
        if let Err(e) = dec.poll_message() {
            err = Some(e);
            break;
        }
    }
    assert!(matches!(err, Some(ChunkError::TooMuchPending { .. })));
}

#[test]
fn garbage_never_panics() {
    for seed in 1..2000u64 {
        let data = crate::rtmp::testutil::garbage(seed, 64 + (seed as usize % 700));
        let mut dec = ChunkDecoder::new();
        for piece in data.chunks(1 + seed as usize % 97) {
            dec.push(piece);
            // Keep feeding after errors too: still no panic allowed.
            while let Ok(Some(_)) = dec.poll_message() {}
        }
    }
    // Garbage after a valid start (small chunk sizes, fmt 3 chains).
    for seed in 1..500u64 {
        let mut dec = ChunkDecoder::new();
        dec.push(&[0x03, 0, 0, 1, 0, 0, 200, 9, 1, 0, 0, 0]);
        dec.push(&crate::rtmp::testutil::garbage(seed, 2000));
        while let Ok(Some(_)) = dec.poll_message() {}
    }
}

#[test]
fn lowered_limits_refuse_large_messages_before_buffering_them() {
    let mut dec = ChunkDecoder::new();
    dec.set_limits(64 * 1024, 128 * 1024);
    // A 1 MiB video message announced before authentication: refused at its header.
    dec.push(&[0x04, 0, 0, 0, 0x10, 0, 0, 9, 1, 0, 0, 0]);
    assert!(matches!(
        dec.poll_message(),
        Err(ChunkError::MessageTooLong {
            len: 0x10_0000,
            limit: 65536,
            ..
        })
    ));
    assert!(dec.buffered() <= 12, "nothing beyond the header was kept");
    // Many partly received messages: refused past the pending cap.
    let mut dec = ChunkDecoder::new();
    dec.set_limits(64 * 1024, 128 * 1024);
    dec.set_chunk_size(60_000).unwrap();
    let mut err = None;
    for csid in 3..10u8 {
        dec.push(&[csid, 0, 0, 0, 0, 0xFF, 0xFF, 9, 1, 0, 0, 0]);
        dec.push(&vec![0u8; 60_000]);
        if let Err(e) = dec.poll_message() {
            err = Some(e);
            break;
        }
    }
    assert!(
        matches!(err, Some(ChunkError::TooMuchPending { limit: 131072, .. })),
        "{err:?}"
    );
    // Raising them back allows full-size media.
    let mut dec = ChunkDecoder::new();
    dec.set_limits(64 * 1024, 128 * 1024);
    dec.set_limits(MAX_MESSAGE_LEN, MAX_PENDING_BYTES);
    dec.push(&[0x04, 0, 0, 0, 0x10, 0, 0, 9, 1, 0, 0, 0]);
    assert_eq!(dec.poll_message(), Ok(None));
}
