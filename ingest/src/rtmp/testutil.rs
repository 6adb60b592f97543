//! Test helpers: a scripted RTMP client (built on our own encoder and decoder) and
//! pseudo-random bytes.

use super::amf0::{self, Amf0Value};
use super::chunk::{ChunkDecoder, ChunkEncoder};
use super::message::{msg_type, Message};
use bytes::{Bytes, BytesMut};

/// xorshift64*: deterministic pseudo-random bytes without a dependency.
pub(crate) fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// The client side of the chunk stream, as a publisher would drive it.
pub(crate) struct Client {
    pub enc: ChunkEncoder,
    pub dec: ChunkDecoder,
}

impl Client {
    pub fn new() -> Self {
        Client {
            enc: ChunkEncoder::new(),
            dec: ChunkDecoder::new(),
        }
    }

    pub fn command(&self, stream_id: u32, values: &[Amf0Value]) -> BytesMut {
        let msg = Message {
            type_id: msg_type::COMMAND_AMF0,
            stream_id,
            timestamp: 0,
            payload: amf0::encode_all(values).freeze(),
        };
        let mut out = BytesMut::new();
        self.enc.encode(3, &msg, &mut out);
        out
    }

    pub fn connect(&self, app: &str) -> BytesMut {
        self.command(
            0,
            &[
                Amf0Value::string("connect"),
                Amf0Value::Number(1.0),
                Amf0Value::object([
                    ("app", Amf0Value::string(app)),
                    ("type", Amf0Value::string("nonprivate")),
                    ("flashVer", Amf0Value::string("FMLE/3.0 (compatible; test)")),
                    ("tcUrl", Amf0Value::string("rtmp://127.0.0.1/live")),
                ]),
            ],
        )
    }

    /// releaseStream, FCPublish and createStream (transactions 2, 3, 4).
    pub fn prepare(&self, key: &str) -> BytesMut {
        let mut out = BytesMut::new();
        for (txn, name) in [(2.0, "releaseStream"), (3.0, "FCPublish")] {
            out.extend(self.command(
                0,
                &[
                    Amf0Value::string(name),
                    Amf0Value::Number(txn),
                    Amf0Value::Null,
                    Amf0Value::string(key),
                ],
            ));
        }
        out.extend(self.command(
            0,
            &[
                Amf0Value::string("createStream"),
                Amf0Value::Number(4.0),
                Amf0Value::Null,
            ],
        ));
        out
    }

    pub fn publish(&self, key: &str) -> BytesMut {
        self.command(
            1,
            &[
                Amf0Value::string("publish"),
                Amf0Value::Number(5.0),
                Amf0Value::Null,
                Amf0Value::string(key),
                Amf0Value::string("live"),
            ],
        )
    }

    pub fn media(&self, type_id: u8, timestamp: u32, payload: Bytes) -> BytesMut {
        let msg = Message {
            type_id,
            stream_id: 1,
            timestamp,
            payload,
        };
        let mut out = BytesMut::new();
        let csid = if type_id == msg_type::VIDEO { 6 } else { 4 };
        self.enc.encode(csid, &msg, &mut out);
        out
    }

    /// Decodes the server's replies.
    pub fn read(&mut self, data: &[u8]) -> Vec<Message> {
        self.dec.push(data);
        let mut msgs = Vec::new();
        while let Some(m) = self.dec.poll_message().expect("server output decodes") {
            msgs.push(m);
        }
        msgs
    }
}

/// A command message's values.
pub(crate) fn values(msg: &Message) -> Vec<Amf0Value> {
    assert_eq!(msg.type_id, msg_type::COMMAND_AMF0, "{msg:?}");
    amf0::decode_all(&msg.payload).expect("server commands decode")
}

/// The `code` of an `_result`/`_error`/`onStatus` info object.
pub(crate) fn status_code(msg: &Message) -> String {
    values(msg)
        .get(3)
        .and_then(|i| i.get("code"))
        .and_then(Amf0Value::as_str)
        .unwrap_or("")
        .to_owned()
}
