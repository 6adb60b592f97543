//! A deliberately minimal RTMP publisher, used to send input ffmpeg would never send
//! (a broken AVC sequence header, garbage after the handshake).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const CHUNK: usize = 128;

pub enum Amf<'a> {
    Num(f64),
    Str(&'a str),
    Null,
    Obj(Vec<(&'a str, Amf<'a>)>),
}

pub fn amf(values: &[Amf]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        encode(v, &mut out);
    }
    out
}

fn encode(v: &Amf, out: &mut Vec<u8>) {
    match v {
        Amf::Num(n) => {
            out.push(0);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Amf::Str(s) => {
            out.push(2);
            out.extend_from_slice(&(s.len() as u16).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Amf::Null => out.push(5),
        Amf::Obj(fields) => {
            out.push(3);
            for (k, v) in fields {
                out.extend_from_slice(&(k.len() as u16).to_be_bytes());
                out.extend_from_slice(k.as_bytes());
                encode(v, out);
            }
            out.extend_from_slice(&[0, 0, 9]);
        }
    }
}

pub struct Client {
    pub sock: TcpStream,
}

impl Client {
    /// Connects and completes the plain handshake.
    pub fn connect(addr: &str) -> std::io::Result<Client> {
        let mut sock = TcpStream::connect(addr)?;
        sock.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut c0c1 = vec![3u8];
        c0c1.extend(std::iter::repeat_n(7u8, 1536));
        sock.write_all(&c0c1)?;
        let mut s = vec![0u8; 1 + 1536 + 1536];
        sock.read_exact(&mut s)?;
        sock.write_all(&s[1..1537])?;
        Ok(Client { sock })
    }

    /// Sends one message on chunk stream `csid`, split into 128-byte chunks.
    pub fn send(
        &mut self,
        csid: u8,
        type_id: u8,
        stream_id: u32,
        timestamp: u32,
        payload: &[u8],
    ) -> std::io::Result<()> {
        let mut out = Vec::new();
        out.push(csid & 0x3f);
        out.extend_from_slice(&timestamp.to_be_bytes()[1..]);
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
        out.push(type_id);
        out.extend_from_slice(&stream_id.to_le_bytes());
        for (i, chunk) in payload.chunks(CHUNK).enumerate() {
            if i > 0 {
                out.push(0xc0 | (csid & 0x3f));
            }
            out.extend_from_slice(chunk);
        }
        self.sock.write_all(&out)
    }

    /// connect → createStream → publish(key); returns once the server says publishing
    /// started (`NetStream.Publish.Start`), an error if it does not within 10 s.
    pub fn publish(&mut self, rtmp_url: &str, key: &str) -> std::io::Result<()> {
        let connect = amf(&[
            Amf::Str("connect"),
            Amf::Num(1.0),
            Amf::Obj(vec![
                ("app", Amf::Str("live")),
                ("type", Amf::Str("nonprivate")),
                ("tcUrl", Amf::Str(rtmp_url)),
            ]),
        ]);
        self.send(3, 20, 0, 0, &connect)?;
        self.send(
            3,
            20,
            0,
            0,
            &amf(&[Amf::Str("createStream"), Amf::Num(2.0), Amf::Null]),
        )?;
        self.send(
            8,
            20,
            1,
            0,
            &amf(&[
                Amf::Str("publish"),
                Amf::Num(3.0),
                Amf::Null,
                Amf::Str(key),
                Amf::Str("live"),
            ]),
        )?;
        self.until_publish_start(Duration::from_secs(10))
    }

    /// Reads until the server's `NetStream.Publish.Start` arrives (the server sends
    /// its replies in chunks larger than they are, so the code is never split).
    fn until_publish_start(&mut self, within: Duration) -> std::io::Result<()> {
        const START: &[u8] = b"NetStream.Publish.Start";
        let _ = self.sock.set_read_timeout(Some(Duration::from_millis(100)));
        let deadline = std::time::Instant::now() + within;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while std::time::Instant::now() < deadline {
            match self.sock.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    seen.extend_from_slice(&buf[..n]);
                    if seen.windows(START.len()).any(|w| w == START) {
                        return Ok(());
                    }
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other(format!(
            "no NetStream.Publish.Start within {within:?} ({} bytes received)",
            seen.len()
        )))
    }

    /// Reads whatever arrives for `d`; returns false if the server closed the connection.
    pub fn drain(&mut self, d: Duration) -> bool {
        let _ = self.sock.set_read_timeout(Some(Duration::from_millis(100)));
        let deadline = std::time::Instant::now() + d;
        let mut buf = [0u8; 4096];
        while std::time::Instant::now() < deadline {
            match self.sock.read(&mut buf) {
                Ok(0) => return false,
                Ok(_) => {}
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return false,
            }
        }
        true
    }

    /// Waits up to `d` for the server to close the connection.
    pub fn closed_within(&mut self, d: Duration) -> bool {
        !self.drain(d)
    }
}
