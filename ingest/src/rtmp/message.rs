//! RTMP messages (RTMP spec §5.4, §6): the unit the chunk stream carries, message
//! type ids, and the protocol control / user control messages, as pure builders
//! and parsers.

use bytes::{BufMut, Bytes, BytesMut};

/// Message type ids.
pub mod msg_type {
    pub const SET_CHUNK_SIZE: u8 = 1;
    pub const ABORT: u8 = 2;
    pub const ACKNOWLEDGEMENT: u8 = 3;
    pub const USER_CONTROL: u8 = 4;
    pub const WINDOW_ACK_SIZE: u8 = 5;
    pub const SET_PEER_BANDWIDTH: u8 = 6;
    pub const AUDIO: u8 = 8;
    pub const VIDEO: u8 = 9;
    pub const DATA_AMF3: u8 = 15;
    pub const SHARED_OBJECT_AMF3: u8 = 16;
    pub const COMMAND_AMF3: u8 = 17;
    pub const DATA_AMF0: u8 = 18;
    pub const SHARED_OBJECT_AMF0: u8 = 19;
    pub const COMMAND_AMF0: u8 = 20;
    pub const AGGREGATE: u8 = 22;
}

/// User control event types (RTMP spec §6.2 / §7.1.7).
pub mod user_control {
    pub const STREAM_BEGIN: u16 = 0;
    pub const STREAM_EOF: u16 = 1;
    pub const SET_BUFFER_LENGTH: u16 = 3;
    pub const PING_REQUEST: u16 = 6;
    pub const PING_RESPONSE: u16 = 7;
}

/// Chunk stream ids we send on.
pub mod csid {
    /// Protocol control and user control messages.
    pub const CONTROL: u32 = 2;
    /// NetConnection commands.
    pub const COMMAND: u32 = 3;
    /// NetStream commands (`onStatus`).
    pub const STREAM: u32 = 5;
}

/// Set Peer Bandwidth limit type "dynamic".
pub const BANDWIDTH_DYNAMIC: u8 = 2;

/// One reassembled RTMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub type_id: u8,
    /// Message stream id (0 for the NetConnection, 1.. for NetStreams).
    pub stream_id: u32,
    /// Milliseconds, on the sender's clock, already accumulated from deltas.
    pub timestamp: u32,
    pub payload: Bytes,
}

impl Message {
    fn control(type_id: u8, payload: Bytes) -> Message {
        Message {
            type_id,
            stream_id: 0,
            timestamp: 0,
            payload,
        }
    }

    fn control_u32(type_id: u8, value: u32) -> Message {
        Message::control(type_id, Bytes::copy_from_slice(&value.to_be_bytes()))
    }

    pub fn set_chunk_size(size: u32) -> Message {
        Message::control_u32(msg_type::SET_CHUNK_SIZE, size & 0x7FFF_FFFF)
    }

    pub fn acknowledgement(sequence: u32) -> Message {
        Message::control_u32(msg_type::ACKNOWLEDGEMENT, sequence)
    }

    pub fn window_ack_size(size: u32) -> Message {
        Message::control_u32(msg_type::WINDOW_ACK_SIZE, size)
    }

    pub fn set_peer_bandwidth(size: u32, limit_type: u8) -> Message {
        let mut b = BytesMut::with_capacity(5);
        b.put_u32(size);
        b.put_u8(limit_type);
        Message::control(msg_type::SET_PEER_BANDWIDTH, b.freeze())
    }

    pub fn user_control(event: u16, value: u32) -> Message {
        let mut b = BytesMut::with_capacity(6);
        b.put_u16(event);
        b.put_u32(value);
        Message::control(msg_type::USER_CONTROL, b.freeze())
    }

    /// The first 4 bytes of the payload as a big-endian u32 (protocol control messages).
    pub fn payload_u32(&self) -> Option<u32> {
        let b: [u8; 4] = self.payload.get(..4)?.try_into().ok()?;
        Some(u32::from_be_bytes(b))
    }

    /// A user control message's event type and first 4-byte argument.
    pub fn user_control_event(&self) -> Option<(u16, u32)> {
        let ev: [u8; 2] = self.payload.get(..2)?.try_into().ok()?;
        let val: [u8; 4] = self.payload.get(2..6)?.try_into().ok()?;
        Some((u16::from_be_bytes(ev), u32::from_be_bytes(val)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages() {
        let m = Message::window_ack_size(2_500_000);
        assert_eq!(m.type_id, msg_type::WINDOW_ACK_SIZE);
        assert_eq!(m.payload_u32(), Some(2_500_000));
        let m = Message::set_peer_bandwidth(2_500_000, BANDWIDTH_DYNAMIC);
        assert_eq!(&m.payload[..], &[0x00, 0x26, 0x25, 0xA0, 2]);
        let m = Message::user_control(user_control::STREAM_BEGIN, 1);
        assert_eq!(m.user_control_event(), Some((0, 1)));
        assert_eq!(
            Message::set_chunk_size(0xFFFF_FFFF).payload_u32(),
            Some(0x7FFF_FFFF)
        );
        let short = Message::control(msg_type::ACKNOWLEDGEMENT, Bytes::from_static(&[1, 2]));
        assert_eq!(short.payload_u32(), None);
        assert_eq!(short.user_control_event(), None);
    }
}
