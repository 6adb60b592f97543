//! Server side of the RTMP "simple" handshake (RTMP spec §5.2), sans-IO.
//!
//! C0 (version 3) and C1 (1536 bytes) in; S0, S1 and S2 out; then C2 in. S2 echoes
//! C1, which ffmpeg and OBS accept even though they put digests in C1 (they only
//! verify S2 for the digest ("complex") handshake when they require it, and neither
//! does for publishing). Bytes after C2 belong to the chunk stream.

use bytes::{BufMut, Bytes, BytesMut};

pub const RTMP_VERSION: u8 = 3;
/// Size of C1, C2, S1 and S2.
pub const HANDSHAKE_SIZE: usize = 1536;
/// Random bytes in S1 (after its 4-byte time and 4 zero bytes).
pub const RANDOM_SIZE: usize = HANDSHAKE_SIZE - 8;

#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error(
        "unsupported RTMP version {0} in C0 (only 3 is supported; RTMPE/encrypted RTMP is not)"
    )]
    UnsupportedVersion(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitC0C1,
    AwaitC2,
    Done,
}

#[derive(Debug)]
pub struct Handshake {
    state: State,
    buf: BytesMut,
    out: BytesMut,
    s1_time: u32,
    random: Box<[u8; RANDOM_SIZE]>,
}

impl Handshake {
    /// `s1_time` is our epoch in milliseconds; `random` fills S1.
    pub fn new(s1_time: u32, random: Box<[u8; RANDOM_SIZE]>) -> Self {
        Handshake {
            state: State::AwaitC0C1,
            buf: BytesMut::new(),
            out: BytesMut::new(),
            s1_time,
            random,
        }
    }

    /// Feeds bytes from the client. Bytes past C2 are kept for [`Self::into_remaining`].
    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), HandshakeError> {
        self.buf.extend_from_slice(data);
        if self.state == State::AwaitC0C1 {
            if let Some(&version) = self.buf.first() {
                if version != RTMP_VERSION {
                    return Err(HandshakeError::UnsupportedVersion(version));
                }
            }
            if self.buf.len() < 1 + HANDSHAKE_SIZE {
                return Ok(());
            }
            let c0c1 = self.buf.split_to(1 + HANDSHAKE_SIZE);
            let c1 = &c0c1[1..];
            self.out.reserve(1 + 2 * HANDSHAKE_SIZE);
            self.out.put_u8(RTMP_VERSION);
            self.out.put_u32(self.s1_time);
            self.out.put_u32(0);
            self.out.put_slice(&self.random[..]);
            self.out.put_slice(c1);
            self.state = State::AwaitC2;
        }
        if self.state == State::AwaitC2 && self.buf.len() >= HANDSHAKE_SIZE {
            // C2 should echo S1; clients vary, so it is not checked.
            let _c2 = self.buf.split_to(HANDSHAKE_SIZE);
            self.state = State::Done;
        }
        Ok(())
    }

    /// Bytes to send to the client, if any.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        (!self.out.is_empty()).then(|| self.out.split().freeze())
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Bytes received after C2 (the start of the chunk stream).
    pub fn into_remaining(self) -> Bytes {
        self.buf.freeze()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn c1() -> Vec<u8> {
        (0..HANDSHAKE_SIZE).map(|i| (i * 7) as u8).collect()
    }

    #[test]
    fn simple_handshake() {
        let mut hs = Handshake::new(42, Box::new([0xAB; RANDOM_SIZE]));
        hs.handle_input(&[3]).unwrap();
        assert!(hs.poll_transmit().is_none());
        hs.handle_input(&c1()[..1000]).unwrap();
        assert!(hs.poll_transmit().is_none());
        hs.handle_input(&c1()[1000..]).unwrap();
        let out = hs.poll_transmit().unwrap();
        assert_eq!(out.len(), 1 + 2 * HANDSHAKE_SIZE);
        assert_eq!(out[0], 3);
        assert_eq!(&out[1..5], &42u32.to_be_bytes());
        assert_eq!(&out[5..9], &[0, 0, 0, 0]);
        assert!(out[9..1 + HANDSHAKE_SIZE].iter().all(|&b| b == 0xAB));
        assert_eq!(&out[1 + HANDSHAKE_SIZE..], &c1()[..], "S2 echoes C1");
        assert!(!hs.is_done());
        let mut c2 = out[1..1 + HANDSHAKE_SIZE].to_vec();
        c2.extend([0x02, 0xFF]);
        hs.handle_input(&c2).unwrap();
        assert!(hs.is_done());
        assert!(hs.poll_transmit().is_none());
        assert_eq!(&hs.into_remaining()[..], &[0x02, 0xFF]);
    }

    #[test]
    fn all_at_once() {
        let mut hs = Handshake::new(0, Box::new([0; RANDOM_SIZE]));
        let mut all = vec![3];
        all.extend(c1());
        all.extend(c1());
        hs.handle_input(&all).unwrap();
        assert!(hs.is_done());
        assert!(hs.poll_transmit().is_some());
        assert!(hs.into_remaining().is_empty());
    }

    #[test]
    fn wrong_version_refused() {
        let mut hs = Handshake::new(0, Box::new([0; RANDOM_SIZE]));
        assert_eq!(
            hs.handle_input(b"GET / HTTP/1.1\r\n"),
            Err(HandshakeError::UnsupportedVersion(b'G'))
        );
        let mut hs = Handshake::new(0, Box::new([0; RANDOM_SIZE]));
        assert_eq!(
            hs.handle_input(&[6]),
            Err(HandshakeError::UnsupportedVersion(6))
        );
    }
}
