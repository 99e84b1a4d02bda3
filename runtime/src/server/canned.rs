//! hyper's own answers to an HTTP/1.1 request it cannot parse (400 for a
//! malformed head, 414 for a request target too long, 431 for a head
//! over the limit: a bare status line, `content-length: 0`), written as
//! the envelope every other refusal wears, with a JSON content type.
//!
//! hyper writes them itself, before any service sees a request, so they
//! are recognised on their way out: the one write that is exactly such a
//! head is replaced. A response of the app never looks like one (every
//! one carries `x-content-type-options`), and the check of an ordinary
//! response is a look at one byte of its status code.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::StatusCode;

use crate::response::ApiError;

pin_project_lite::pin_project! {
    /// A connection's IO whose writes of hyper's canned answers are
    /// replaced by the envelope.
    pub(super) struct Enveloped<I> {
        #[pin]
        io: I,
        replacing: Option<Replacement>,
    }
}

/// The envelope being written in place of `claimed` bytes of hyper's.
struct Replacement {
    bytes: Vec<u8>,
    written: usize,
    claimed: usize,
}

impl<I> Enveloped<I> {
    pub(super) fn new(io: I) -> Self {
        Enveloped {
            io,
            replacing: None,
        }
    }
}

const LINE: &[u8] = b"HTTP/1.1 ";
const CANNED: &[u8] = b"\r\nconnection: close\r\ncontent-length: 0\r\n";

/// Whether `head` may be one of hyper's canned answers: an ordinary
/// response (2xx, 3xx) is told apart by one byte of its status code.
#[inline]
fn may_be_canned(head: &[u8]) -> bool {
    matches!(head.get(LINE.len()), Some(b'4'))
}

/// The envelope for `head`, when it is one of hyper's canned answers.
fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    if !head.starts_with(LINE) {
        return None;
    }
    let code = head.get(LINE.len()..LINE.len() + 3)?;
    let (status, message) = match code {
        b"400" => (
            StatusCode::BAD_REQUEST,
            "the request is not well-formed HTTP/1.1",
        ),
        b"414" => (
            StatusCode::URI_TOO_LONG,
            "the request target is longer than this server accepts",
        ),
        b"431" => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "the request head is larger than this server accepts",
        ),
        _ => return None,
    };
    let line_end = head.windows(2).position(|w| w == b"\r\n")?;
    let rest = &head[line_end..];
    if !rest.starts_with(CANNED) || !rest.ends_with(b"\r\n\r\n") {
        return None;
    }
    let headers = &rest[CANNED.len()..rest.len() - 2];
    // What may follow: hyper's `date`, nothing else.
    if !(headers.is_empty() || headers.starts_with(b"date: ") && headers.ends_with(b"\r\n")) {
        return None;
    }
    let body = serde_json::to_vec(&ApiError::new(status, message)).ok()?;
    let mut bytes = Vec::with_capacity(160 + body.len());
    bytes.extend_from_slice(&head[..line_end]);
    bytes.extend_from_slice(b"\r\nconnection: close\r\ncontent-type: application/json\r\n");
    bytes.extend_from_slice(b"x-content-type-options: nosniff\r\ncache-control: no-store\r\n");
    bytes.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    bytes.extend_from_slice(&body);
    Some(bytes)
}

impl<I: tokio::io::AsyncWrite> Enveloped<I> {
    /// Writes `buf`, or its envelope when it is a canned answer; the
    /// envelope is written whole before `buf` counts as written. An
    /// ordinary response goes straight through: this much is inlined in
    /// the write, the rest is not.
    #[inline]
    fn write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.replacing.is_none() && !may_be_canned(buf) {
            return self.project().io.poll_write(cx, buf);
        }
        self.write_enveloped(cx, buf)
    }

    #[inline(never)]
    fn write_enveloped(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let mut this = self.project();
        let replacing = match this.replacing {
            Some(replacing) => replacing,
            None => match replacement(buf) {
                Some(bytes) => this.replacing.insert(Replacement {
                    bytes,
                    written: 0,
                    claimed: buf.len(),
                }),
                None => return this.io.poll_write(cx, buf),
            },
        };
        while replacing.written < replacing.bytes.len() {
            let n = ready!(
                this.io
                    .as_mut()
                    .poll_write(cx, &replacing.bytes[replacing.written..])
            )?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            replacing.written += n;
        }
        let claimed = replacing.claimed;
        *this.replacing = None;
        Poll::Ready(Ok(claimed))
    }
}

impl<I: tokio::io::AsyncRead> tokio::io::AsyncRead for Enveloped<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.project().io.poll_read(cx, buf)
    }
}

impl<I: tokio::io::AsyncWrite> tokio::io::AsyncWrite for Enveloped<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write(cx, buf)
    }

    /// A canned answer is one slice (it has no body); anything else goes
    /// through as it came.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let mut filled = bufs.iter().filter(|b| !b.is_empty());
        match (filled.next(), filled.next()) {
            (Some(only), None) if self.replacing.is_some() || may_be_canned(only) => {
                self.write(cx, only)
            }
            _ => self.project().io.poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_canned_answers_become_envelopes() {
        for (head, code) in [
            (&b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: Mon, 30 Nov 2026 11:13:40 GMT\r\n\r\n"[..], 431),
            (b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n", 400),
            (b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: x\r\n\r\n", 414),
        ] {
            let bytes = replacement(head).expect("replaced");
            let text = String::from_utf8(bytes).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with(&format!("HTTP/1.1 {code} ")), "{head}");
            assert!(head.contains("content-type: application/json"), "{head}");
            assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
            let body: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(body["success"], false);
            assert_eq!(body["error"]["code"], code);
        }
    }

    #[test]
    fn other_answers_pass_untouched() {
        for head in [
            &b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            // The app's own 400: its headers differ.
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nx-content-type-options: nosniff\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\nx-other: 1\r\n\r\n",
            b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n{}",
            b"HTTP/1.1 4",
        ] {
            assert!(replacement(head).is_none(), "{}", String::from_utf8_lossy(head));
        }
    }
}
