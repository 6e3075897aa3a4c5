//! Writing values into a log line: as text, JSON-escaped, or as typed JSON.

use gateway_core::{ResponseFlag, extensions::ResourceRef};
use std::{
    borrow::Cow,
    fmt::{self, Write as _},
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use super::time::TimeFormat;

/// Where rendered bytes go.
pub(crate) trait Out {
    /// Appends `bytes`.
    fn put(&mut self, bytes: &[u8]);
}

impl Out for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// JSON string escaping in front of another [`Out`]; the input must be UTF-8.
pub(crate) struct Escaped<'a, O>(pub(crate) &'a mut O);

impl<O: Out> Out for Escaped<'_, O> {
    fn put(&mut self, bytes: &[u8]) {
        let mut start = 0;
        for (i, &byte) in bytes.iter().enumerate() {
            let escape: &[u8] = match byte {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0..=0x1f | 0x7f => b"",
                _ => continue,
            };
            self.0.put(&bytes[start..i]);
            if escape.is_empty() {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                self.0.put(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(byte >> 4)],
                    HEX[usize::from(byte & 0xf)],
                ]);
            } else {
                self.0.put(escape);
            }
            start = i + 1;
        }
        self.0.put(&bytes[start..]);
    }
}

/// Passes at most `left` bytes on, cutting at a UTF-8 character boundary (`:Z`).
pub(crate) struct Limited<'a, O> {
    pub(crate) out: &'a mut O,
    pub(crate) left: usize,
}

impl<O: Out> Out for Limited<'_, O> {
    fn put(&mut self, bytes: &[u8]) {
        let mut take = bytes.len().min(self.left);
        if take < bytes.len() {
            // Do not split a multi-byte character.
            while take > 0 && bytes[take] & 0b1100_0000 == 0b1000_0000 {
                take -= 1;
            }
            self.left = 0;
        } else {
            self.left -= take;
        }
        self.out.put(&bytes[..take]);
    }
}

/// `fmt::Write` over an [`Out`], for `Display` values.
struct Formatter<'a, O>(&'a mut O);

impl<O: Out> fmt::Write for Formatter<'_, O> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.put(s.as_bytes());
        Ok(())
    }
}

/// The response flags of one request: the one the gateway recorded, plus `DC` when the
/// client went away before the response was complete.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Flags {
    pub(crate) flag: Option<ResponseFlag>,
    pub(crate) downstream_closed: bool,
}

impl Flags {
    /// Whether the short code `code` is among these flags.
    pub(crate) fn contains(&self, code: &str) -> bool {
        self.flag.is_some_and(|flag| flag.as_str() == code)
            || (self.downstream_closed && code == "DC")
    }

    fn write(&self, out: &mut impl Out) {
        match (self.flag, self.downstream_closed) {
            (None, false) => out.put(b"-"),
            (Some(flag), false) => out.put(flag.as_str().as_bytes()),
            (None, true) => out.put(b"DC"),
            (Some(flag), true) => {
                out.put(flag.as_str().as_bytes());
                out.put(b",DC");
            }
        }
    }
}

/// One command operator's value for one request.
#[derive(Debug)]
pub(crate) enum Value<'a> {
    /// Not available: `-` as text, `null` as typed JSON.
    Missing,
    /// Header bytes (maybe not UTF-8).
    Bytes(&'a [u8]),
    /// Text.
    Str(&'a str),
    /// A count, code or duration: a number in typed JSON.
    Number(u64),
    /// Response flags: always a string, `-` when there are none.
    Flags(Flags),
    /// An address with its port.
    Addr(SocketAddr),
    /// An address without port.
    Ip(IpAddr),
    /// A time since the epoch, in a format.
    Time(Duration, &'a TimeFormat),
    /// A route: `namespace/name` and `/section` when it has one.
    Route(&'a ResourceRef),
}

impl Value<'_> {
    /// Writes the value as text (`-` when unset or empty), at most `max_len` bytes.
    pub(crate) fn write_text(&self, max_len: Option<usize>, out: &mut impl Out) {
        match max_len {
            Some(left) => self.write_plain(&mut Limited { out, left }, true),
            None => self.write_plain(out, true),
        }
    }

    /// Writes the value as typed JSON, strings at most `max_len` bytes.
    pub(crate) fn write_typed(&self, max_len: Option<usize>, out: &mut impl Out) {
        match self {
            Value::Missing => out.put(b"null"),
            Value::Number(number) => {
                let _ = write!(Formatter(out), "{number}");
            }
            _ => {
                out.put(b"\"");
                let mut escaped = Escaped(out);
                match max_len {
                    Some(left) => self.write_plain(
                        &mut Limited {
                            out: &mut escaped,
                            left,
                        },
                        false,
                    ),
                    None => self.write_plain(&mut escaped, false),
                }
                out.put(b"\"");
            }
        }
    }

    /// Writes the value as text; `dash` writes `-` for empty strings as well as unset
    /// values (typed JSON writes empty strings as `""`).
    fn write_plain(&self, out: &mut impl Out, dash: bool) {
        match self {
            Value::Missing => out.put(b"-"),
            Value::Bytes(bytes) if bytes.is_empty() && dash => out.put(b"-"),
            Value::Str(text) if text.is_empty() && dash => out.put(b"-"),
            // Lines stay UTF-8 (JSON needs it): bytes that are not become U+FFFD.
            Value::Bytes(bytes) => match String::from_utf8_lossy(bytes) {
                Cow::Borrowed(_) => out.put(bytes),
                Cow::Owned(text) => out.put(text.as_bytes()),
            },
            Value::Str(text) => out.put(text.as_bytes()),
            Value::Number(number) => {
                let _ = write!(Formatter(out), "{number}");
            }
            Value::Flags(flags) => flags.write(out),
            Value::Addr(addr) => {
                let _ = write!(Formatter(out), "{addr}");
            }
            Value::Ip(ip) => {
                let _ = write!(Formatter(out), "{ip}");
            }
            Value::Time(since_epoch, format) => format.render(*since_epoch, out),
            Value::Route(route) => {
                let _ = write!(Formatter(out), "{}/{}", route.namespace, route.name);
                if let Some(section) = &route.section {
                    let _ = write!(Formatter(out), "/{section}");
                }
            }
        }
    }
}
