//! AMF0 (Action Message Format 0), the encoding of RTMP command and data
//! messages: a bounded decoder and an encoder.
//!
//! Lengths declared by the peer are checked against the bytes actually present
//! before anything is allocated, and nesting is limited to [`MAX_DEPTH`].

use bytes::{BufMut, BytesMut};

/// Deepest nesting of objects and arrays accepted.
pub const MAX_DEPTH: usize = 16;

mod marker {
    pub const NUMBER: u8 = 0x00;
    pub const BOOLEAN: u8 = 0x01;
    pub const STRING: u8 = 0x02;
    pub const OBJECT: u8 = 0x03;
    pub const NULL: u8 = 0x05;
    pub const UNDEFINED: u8 = 0x06;
    pub const ECMA_ARRAY: u8 = 0x08;
    pub const OBJECT_END: u8 = 0x09;
    pub const STRICT_ARRAY: u8 = 0x0A;
    pub const DATE: u8 = 0x0B;
    pub const LONG_STRING: u8 = 0x0C;
}

#[derive(Debug, Clone, PartialEq)]
pub enum Amf0Value {
    Number(f64),
    Boolean(bool),
    /// A string or long string (the encoder picks by length).
    String(String),
    Object(Vec<(String, Amf0Value)>),
    Null,
    Undefined,
    EcmaArray(Vec<(String, Amf0Value)>),
    StrictArray(Vec<Amf0Value>),
    /// Milliseconds since the Unix epoch (the time zone field is ignored).
    Date(f64),
}

impl Amf0Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Amf0Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<f64> {
        match self {
            Amf0Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// A property of an object or ECMA array.
    pub fn get(&self, key: &str) -> Option<&Amf0Value> {
        match self {
            Amf0Value::Object(props) | Amf0Value::EcmaArray(props) => {
                props.iter().find(|(k, _)| k == key).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    /// Builds an object from `(key, value)` pairs.
    pub fn object<const N: usize>(props: [(&str, Amf0Value); N]) -> Amf0Value {
        Amf0Value::Object(props.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    pub fn string(s: &str) -> Amf0Value {
        Amf0Value::String(s.to_owned())
    }
}

#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Amf0Error {
    #[error("AMF0 value truncated at byte {offset}")]
    Truncated { offset: usize },
    #[error("unsupported AMF0 type marker {marker:#04x} at byte {offset}")]
    UnsupportedMarker { marker: u8, offset: usize },
    #[error("AMF0 values nested deeper than {MAX_DEPTH} at byte {offset}")]
    TooDeep { offset: usize },
    #[error("AMF0 string is not UTF-8 at byte {offset}")]
    InvalidUtf8 { offset: usize },
}

/// Decodes every value in `data` (a command message body).
pub fn decode_all(data: &[u8]) -> Result<Vec<Amf0Value>, Amf0Error> {
    let mut r = Reader { data, pos: 0 };
    let mut values = Vec::new();
    while r.pos < data.len() {
        values.push(r.value(0)?);
    }
    Ok(values)
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Amf0Error> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or(Amf0Error::Truncated { offset: self.pos })?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, Amf0Error> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, Amf0Error> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, Amf0Error> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn f64(&mut self) -> Result<f64, Amf0Error> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_be_bytes(a))
    }

    fn utf8(&mut self, len: usize) -> Result<String, Amf0Error> {
        let offset = self.pos;
        let b = self.take(len)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| Amf0Error::InvalidUtf8 { offset })
    }

    fn value(&mut self, depth: usize) -> Result<Amf0Value, Amf0Error> {
        let offset = self.pos;
        if depth > MAX_DEPTH {
            return Err(Amf0Error::TooDeep { offset });
        }
        Ok(match self.u8()? {
            marker::NUMBER => Amf0Value::Number(self.f64()?),
            marker::BOOLEAN => Amf0Value::Boolean(self.u8()? != 0),
            marker::STRING => {
                let len = self.u16()?;
                Amf0Value::String(self.utf8(usize::from(len))?)
            }
            marker::LONG_STRING => {
                let len = self.u32()?;
                Amf0Value::String(self.utf8(len as usize)?)
            }
            marker::OBJECT => Amf0Value::Object(self.properties(depth)?),
            marker::NULL => Amf0Value::Null,
            marker::UNDEFINED => Amf0Value::Undefined,
            marker::ECMA_ARRAY => {
                // The count is advisory; the properties end with the end marker.
                self.u32()?;
                Amf0Value::EcmaArray(self.properties(depth)?)
            }
            marker::STRICT_ARRAY => {
                let count = self.u32()?;
                let mut items = Vec::new();
                for _ in 0..count {
                    // Each item is at least one byte: a huge count fails as truncated.
                    items.push(self.value(depth + 1)?);
                }
                Amf0Value::StrictArray(items)
            }
            marker::DATE => {
                let ms = self.f64()?;
                self.u16()?;
                Amf0Value::Date(ms)
            }
            m => return Err(Amf0Error::UnsupportedMarker { marker: m, offset }),
        })
    }

    fn properties(&mut self, depth: usize) -> Result<Vec<(String, Amf0Value)>, Amf0Error> {
        let mut props = Vec::new();
        loop {
            let len = self.u16()?;
            if len == 0 && self.data.get(self.pos) == Some(&marker::OBJECT_END) {
                self.pos += 1;
                return Ok(props);
            }
            let key = self.utf8(usize::from(len))?;
            let value = self.value(depth + 1)?;
            props.push((key, value));
        }
    }
}

/// Appends the encoding of `value`.
pub fn encode(value: &Amf0Value, out: &mut BytesMut) {
    match value {
        Amf0Value::Number(n) => {
            out.put_u8(marker::NUMBER);
            out.put_f64(*n);
        }
        Amf0Value::Boolean(b) => {
            out.put_u8(marker::BOOLEAN);
            out.put_u8(u8::from(*b));
        }
        Amf0Value::String(s) => match u16::try_from(s.len()) {
            Ok(len) => {
                out.put_u8(marker::STRING);
                out.put_u16(len);
                out.put_slice(s.as_bytes());
            }
            Err(_) => {
                out.put_u8(marker::LONG_STRING);
                out.put_u32(u32::try_from(s.len()).unwrap_or(u32::MAX));
                out.put_slice(&s.as_bytes()[..s.len().min(u32::MAX as usize)]);
            }
        },
        Amf0Value::Object(props) => {
            out.put_u8(marker::OBJECT);
            encode_properties(props, out);
        }
        Amf0Value::Null => out.put_u8(marker::NULL),
        Amf0Value::Undefined => out.put_u8(marker::UNDEFINED),
        Amf0Value::EcmaArray(props) => {
            out.put_u8(marker::ECMA_ARRAY);
            out.put_u32(u32::try_from(props.len()).unwrap_or(u32::MAX));
            encode_properties(props, out);
        }
        Amf0Value::StrictArray(items) => {
            out.put_u8(marker::STRICT_ARRAY);
            out.put_u32(u32::try_from(items.len()).unwrap_or(u32::MAX));
            for v in items {
                encode(v, out);
            }
        }
        Amf0Value::Date(ms) => {
            out.put_u8(marker::DATE);
            out.put_f64(*ms);
            out.put_u16(0);
        }
    }
}

fn encode_properties(props: &[(String, Amf0Value)], out: &mut BytesMut) {
    for (k, v) in props {
        // Keys are short names we choose; longer ones are truncated.
        let key = &k.as_bytes()[..k.len().min(usize::from(u16::MAX))];
        out.put_u16(key.len() as u16);
        out.put_slice(key);
        encode(v, out);
    }
    out.put_u16(0);
    out.put_u8(marker::OBJECT_END);
}

/// Encodes a sequence of values (a command message body).
pub fn encode_all(values: &[Amf0Value]) -> BytesMut {
    let mut out = BytesMut::new();
    for v in values {
        encode(v, &mut out);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let values = vec![
            Amf0Value::string("connect"),
            Amf0Value::Number(1.0),
            Amf0Value::object([
                ("app", Amf0Value::string("live")),
                ("fpad", Amf0Value::Boolean(false)),
                ("capabilities", Amf0Value::Number(15.0)),
                ("nested", Amf0Value::object([("x", Amf0Value::Null)])),
            ]),
            Amf0Value::Null,
            Amf0Value::Undefined,
            Amf0Value::EcmaArray(vec![("duration".into(), Amf0Value::Number(0.0))]),
            Amf0Value::StrictArray(vec![Amf0Value::Number(1.5), Amf0Value::string("é")]),
            Amf0Value::Date(1.7e12),
            Amf0Value::String("x".repeat(70_000)),
        ];
        let bytes = encode_all(&values);
        assert_eq!(decode_all(&bytes).unwrap(), values);
    }

    #[test]
    fn known_encoding() {
        let bytes = encode_all(&[
            Amf0Value::string("ab"),
            Amf0Value::Number(1.0),
            Amf0Value::object([("k", Amf0Value::Boolean(true))]),
        ]);
        assert_eq!(
            &bytes[..],
            &[2, 0, 2, b'a', b'b', 0, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0, 3, 0, 1, b'k', 1, 1, 0, 0, 9]
        );
        let long = encode_all(&[Amf0Value::String("y".repeat(65_536))]);
        assert_eq!(&long[..5], &[0x0C, 0, 1, 0, 0]);
        let v = decode_all(&bytes).unwrap();
        assert_eq!(v[2].get("k"), Some(&Amf0Value::Boolean(true)));
        assert_eq!(v[0].as_str(), Some("ab"));
        assert_eq!(v[1].as_number(), Some(1.0));
    }

    #[test]
    fn limits_and_malformed_input() {
        // String longer than the data.
        assert_eq!(
            decode_all(&[2, 0xFF, 0xFF, b'a']),
            Err(Amf0Error::Truncated { offset: 3 })
        );
        // Strict array declaring 4 billion items.
        assert!(matches!(
            decode_all(&[0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 5]),
            Err(Amf0Error::Truncated { .. })
        ));
        // Long string declaring 4 GiB.
        assert!(matches!(
            decode_all(&[0x0C, 0xFF, 0xFF, 0xFF, 0xFF]),
            Err(Amf0Error::Truncated { .. })
        ));
        // Object without its end marker.
        assert!(decode_all(&[3, 0, 1, b'k', 5]).is_err());
        // A bare object end marker, references and AMF3 switches are refused.
        assert!(matches!(
            decode_all(&[9]),
            Err(Amf0Error::UnsupportedMarker { marker: 9, .. })
        ));
        assert!(decode_all(&[0x11]).is_err());
        assert_eq!(
            decode_all(&[2, 0, 1, 0xFF]),
            Err(Amf0Error::InvalidUtf8 { offset: 3 })
        );
        // Deep nesting.
        let mut deep = Vec::new();
        for _ in 0..100 {
            deep.extend([0x0A, 0, 0, 0, 1]);
        }
        deep.push(5);
        assert!(matches!(decode_all(&deep), Err(Amf0Error::TooDeep { .. })));
    }

    #[test]
    fn garbage_never_panics() {
        for seed in 1..3000u64 {
            let data = crate::rtmp::testutil::garbage(seed, 1 + seed as usize % 300);
            let _ = decode_all(&data);
            // Valid-looking prefixes make the decoder go deeper.
            let mut d = vec![3, 0, 1, b'a'];
            d.extend(&data);
            let _ = decode_all(&d);
        }
    }
}
