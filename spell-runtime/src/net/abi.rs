//! The guest side of `spell::http_request`: the two structs the guest passes, read and written
//! through bounds-checked guest memory. Layouts are wasm32, little-endian, 4-byte fields, as
//! `guest/include/spell_guest.h` declares them:
//!
//! ```text
//! spell_http_request_t  (36 bytes, read)       spell_http_response_t (28 bytes, read and written)
//!  0 method ptr    4 method len                  0 status (out)
//!  8 url ptr      12 url len                     4 headers ptr   8 headers cap  12 headers len (out)
//! 16 headers ptr  20 headers len                16 body ptr     20 body cap     24 body len (out)
//! 24 body ptr     28 body len
//! 32 timeout ms
//! ```
//!
//! Header blocks are `Name: value` lines ended by `\n` (`\r\n` accepted on the way in). Every
//! length is checked against guest memory and a cap before anything is copied.

use super::NetError;
use super::client::Response;
use crate::host::{HostCall, HostError};
use bytes::Bytes;
use http::Method;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Size of `spell_http_request_t`.
pub(crate) const REQUEST_SIZE: u32 = 36;
/// Size of `spell_http_response_t`.
pub(crate) const RESPONSE_SIZE: u32 = 28;
/// The longest method name accepted.
const MAX_METHOD_BYTES: u32 = 32;
/// The longest URL accepted: 8 KiB, what common servers accept in a request line.
pub(crate) const MAX_URL_BYTES: u32 = 8 << 10;
/// The largest request header block accepted: 64 KiB.
pub(crate) const MAX_HEADER_BYTES: u32 = 64 << 10;

/// Headers the host writes itself: framing and connection management stay the host's, so the
/// guest cannot smuggle a second request or keep a connection past the call.
const HOST_OWNED_HEADERS: [HeaderName; 7] = [
    header::HOST,
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

/// A request as the guest described it, validated.
#[derive(Debug)]
pub(crate) struct GuestRequest {
    pub(crate) method: Method,
    pub(crate) url: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// 0: until the cast's deadline.
    pub(crate) timeout_ms: u32,
}

fn invalid(e: HostError) -> NetError {
    NetError::Invalid(e.message)
}

fn field(raw: &[u8], index: usize) -> u32 {
    let mut b = [0; 4];
    b.copy_from_slice(&raw[index * 4..index * 4 + 4]);
    u32::from_le_bytes(b)
}

impl GuestRequest {
    pub(crate) fn read(call: &mut HostCall<'_>, ptr: u32) -> Result<GuestRequest, NetError> {
        let raw = call.read(ptr, REQUEST_SIZE).map_err(invalid)?;
        let f = |i| field(&raw, i);
        let capped = |what: &str, len: u32, max: u32| match len > max {
            true => Err(NetError::Invalid(format!(
                "{what} is {len} bytes, over {max}"
            ))),
            false => Ok(()),
        };
        capped("method", f(1), MAX_METHOD_BYTES)?;
        capped("URL", f(3), MAX_URL_BYTES)?;
        capped("header block", f(5), MAX_HEADER_BYTES)?;
        let method = match call.read(f(0), f(1)).map_err(invalid)? {
            m if m.is_empty() => Method::GET,
            m => Method::from_bytes(&m).map_err(|_| {
                NetError::Invalid(format!(
                    "method `{}` is not a token",
                    String::from_utf8_lossy(&m)
                ))
            })?,
        };
        if method == Method::CONNECT {
            return Err(NetError::Invalid("CONNECT is not supported".into()));
        }
        let url = call.read_str(f(2), f(3)).map_err(invalid)?;
        let headers = parse_headers(&call.read(f(4), f(5)).map_err(invalid)?)?;
        let body = Bytes::from(call.read(f(6), f(7)).map_err(invalid)?);
        Ok(GuestRequest {
            method,
            url,
            headers,
            body,
            timeout_ms: f(8),
        })
    }
}

fn parse_headers(block: &[u8]) -> Result<HeaderMap, NetError> {
    let mut map = HeaderMap::new();
    for line in block.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let shown = || String::from_utf8_lossy(line).into_owned();
        let colon = line
            .iter()
            .position(|b| *b == b':')
            .ok_or_else(|| NetError::Invalid(format!("header line `{}` has no `:`", shown())))?;
        let name = HeaderName::from_bytes(&line[..colon])
            .map_err(|_| NetError::Invalid(format!("header line `{}`: invalid name", shown())))?;
        let value = HeaderValue::from_bytes(line[colon + 1..].trim_ascii())
            .map_err(|_| NetError::Invalid(format!("header line `{}`: invalid value", shown())))?;
        if HOST_OWNED_HEADERS.contains(&name) {
            return Err(NetError::Invalid(format!(
                "header `{name}` is set by the host"
            )));
        }
        map.append(name, value);
    }
    Ok(map)
}

/// `name: value\n` lines (names lowercase), whole lines only, at most `cap` bytes. The flag
/// says whether some did not fit.
fn encode_headers(headers: &HeaderMap, cap: usize) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    for (name, value) in headers {
        let len = name.as_str().len() + 2 + value.len() + 1;
        if out.len() + len > cap {
            return (out, true);
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    }
    (out, false)
}

/// The guest's response struct: where its buffers are, all checked to lie in guest memory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResponseBuffers {
    at: u32,
    headers: (u32, u32),
    body: (u32, u32),
}

impl ResponseBuffers {
    pub(crate) fn read(call: &mut HostCall<'_>, ptr: u32) -> Result<ResponseBuffers, NetError> {
        let raw = call.read(ptr, RESPONSE_SIZE).map_err(invalid)?;
        let buffers = ResponseBuffers {
            at: ptr,
            headers: (field(&raw, 1), field(&raw, 2)),
            body: (field(&raw, 4), field(&raw, 5)),
        };
        call.check_range(buffers.headers.0, buffers.headers.1)
            .map_err(invalid)?;
        call.check_range(buffers.body.0, buffers.body.1)
            .map_err(invalid)?;
        Ok(buffers)
    }

    pub(crate) fn body_cap(&self) -> usize {
        self.body.1 as usize
    }

    /// Delivers a response. Returns whether all of it fit.
    pub(crate) fn deliver(
        &self,
        call: &mut HostCall<'_>,
        response: &Response,
    ) -> Result<bool, HostError> {
        let (headers, headers_cut) = encode_headers(&response.headers, self.headers.1 as usize);
        call.write(self.headers.0, &headers)?;
        call.write(self.body.0, &response.body)?;
        self.set_outputs(
            call,
            u32::from(response.status),
            headers.len(),
            response.body.len(),
        )?;
        Ok(!headers_cut && !response.truncated)
    }

    /// Delivers a failure: status 0, no headers, the reason (cut to fit) in the body buffer.
    pub(crate) fn fail(&self, call: &mut HostCall<'_>, reason: &str) -> Result<(), HostError> {
        let mut cut = reason.len().min(self.body.1 as usize);
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        call.write(self.body.0, &reason.as_bytes()[..cut])?;
        self.set_outputs(call, 0, 0, cut)
    }

    fn set_outputs(
        &self,
        call: &mut HostCall<'_>,
        status: u32,
        headers_len: usize,
        body_len: usize,
    ) -> Result<(), HostError> {
        // Both lengths are at most their buffer's u32 capacity.
        call.write(self.at, &status.to_le_bytes())?;
        call.write(self.at + 12, &(headers_len as u32).to_le_bytes())?;
        call.write(self.at + 24, &(body_len as u32).to_le_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_blocks_parse_lines_and_refuse_host_owned_headers() {
        let map = parse_headers(b"Accept: text/plain\r\nX-A:  1 \nx-a: 2\n\n").expect("headers");
        assert_eq!(
            map.get("accept").map(|v| v.as_bytes()),
            Some(&b"text/plain"[..])
        );
        assert_eq!(
            map.get_all("x-a")
                .iter()
                .map(|v| v.as_bytes())
                .collect::<Vec<_>>(),
            [b"1", b"2"]
        );
        for bad in [
            &b"NoColon"[..],
            b"Bad Name: x",
            b"X: a\rb",
            b"Host: evil",
            b"transfer-encoding: chunked",
            b"Connection: keep-alive",
        ] {
            assert!(
                parse_headers(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn response_headers_encode_whole_lines_within_the_cap() {
        let mut map = HeaderMap::new();
        map.insert("content-type", HeaderValue::from_static("text/plain"));
        map.insert("x-long", HeaderValue::from_static("0123456789"));
        assert_eq!(
            encode_headers(&map, 1024),
            (
                b"content-type: text/plain\nx-long: 0123456789\n".to_vec(),
                false
            )
        );
        assert_eq!(
            encode_headers(&map, 30),
            (b"content-type: text/plain\n".to_vec(), true)
        );
        assert_eq!(encode_headers(&map, 0), (Vec::new(), true));
    }
}
