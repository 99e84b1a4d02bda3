//! The one body type that flows through Portico, in both directions.
//!
//! A request body is either what hyper read from the socket or, from the
//! test client, bytes in memory; a response body is almost always a
//! single buffer. One concrete enum keeps the hot path free of boxing;
//! any other body (from a tower layer, a stream) is boxed.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;

/// The error of a body that failed mid-stream.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request or response body.
#[derive(Debug, Default)]
pub struct Body(Inner);

#[derive(Debug, Default)]
enum Inner {
    #[default]
    Empty,
    Full(Option<Bytes>),
    Incoming(Incoming),
    Boxed(UnsyncBoxBody<Bytes, BoxError>),
}

impl Body {
    /// The body's length when it is known exactly: what `size_hint().exact()`
    /// says, without building the hint for the common kinds.
    #[inline]
    pub(crate) fn exact_len(&self) -> Option<u64> {
        match &self.0 {
            Inner::Empty => Some(0),
            Inner::Full(bytes) => Some(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Inner::Incoming(incoming) => http_body::Body::size_hint(incoming).exact(),
            Inner::Boxed(body) => http_body::Body::size_hint(body).exact(),
        }
    }

    /// An empty body.
    pub const fn empty() -> Self {
        Body(Inner::Empty)
    }

    /// A body made of one buffer.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        if bytes.is_empty() {
            Body(Inner::Empty)
        } else {
            Body(Inner::Full(Some(bytes)))
        }
    }

    /// The whole body, when it is already in memory (empty or one buffer).
    pub(crate) fn in_memory(&self) -> Option<Bytes> {
        match &self.0 {
            Inner::Empty | Inner::Full(None) => Some(Bytes::new()),
            Inner::Full(Some(bytes)) => Some(bytes.clone()),
            Inner::Incoming(_) | Inner::Boxed(_) => None,
        }
    }

    pub(crate) fn incoming(incoming: Incoming) -> Self {
        Body(Inner::Incoming(incoming))
    }

    /// Any other body, boxed (a stream, or a body a tower layer made).
    pub fn new<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Body(Inner::Boxed(body.map_err(Into::into).boxed_unsync()))
    }
}

/// The most of an unread request body drained after an early answer.
const LINGER_BYTES: usize = 4 * 1024 * 1024;
/// The longest it is drained for.
const LINGER_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// A request body dropped before its end (an early 401, 413 or 415, a
/// handler that did not read it) is read and thrown away for a while, up
/// to a bound, instead of closing the connection at once: a client still
/// sending it would otherwise get a connection reset, which can discard
/// the answer before the client reads it (a lingering close).
impl Drop for Body {
    // Inlined where bodies are dropped, which is every request twice: the
    // check is a few instructions, the lingering is out of line.
    #[inline]
    fn drop(&mut self) {
        if let Inner::Incoming(incoming) = &self.0
            && !http_body::Body::is_end_stream(incoming)
        {
            self.drain_later();
        }
    }
}

impl Body {
    #[cold]
    #[inline(never)]
    fn drain_later(&mut self) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current()
            && let Inner::Incoming(incoming) = std::mem::take(&mut self.0)
        {
            runtime.spawn(linger(incoming));
        }
    }
}

async fn linger(mut incoming: Incoming) {
    let drain = async {
        let mut drained = 0;
        while drained < LINGER_BYTES {
            match incoming.frame().await {
                Some(Ok(frame)) => drained += frame.data_ref().map_or(0, Bytes::len),
                Some(Err(_)) | None => break,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Body::full(bytes)
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::full(s)
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::full(Bytes::from_static(s.as_bytes()))
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Body::full(v)
    }
}

// Inlined into hyper's generic code that sends a response (it asks the
// body its end, its size and its frames): a response body is nearly
// always one buffer, answered in a few instructions; every other kind,
// the empty body included, is asked out of line, so that what is inlined
// stays small. Testing for the one kind is a compare of the enum's niche
// byte, where telling three kinds apart decodes it first (~10
// instructions per question, three or four questions per response).
impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    #[inline(always)]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match &mut self.get_mut().0 {
            Inner::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            other => poll_other(other, cx),
        }
    }

    #[inline(always)]
    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Inner::Full(bytes) => bytes.is_none(),
            other => other_end(other),
        }
    }

    #[inline(always)]
    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Inner::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            other => other_size(other),
        }
    }
}

#[inline(never)]
fn poll_other(
    inner: &mut Inner,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
    match inner {
        Inner::Incoming(incoming) => {
            http_body::Body::poll_frame(Pin::new(incoming), cx).map_err(Into::into)
        }
        Inner::Boxed(body) => http_body::Body::poll_frame(Pin::new(body), cx),
        Inner::Empty | Inner::Full(_) => Poll::Ready(None),
    }
}

#[inline(never)]
fn other_end(inner: &Inner) -> bool {
    match inner {
        Inner::Incoming(incoming) => http_body::Body::is_end_stream(incoming),
        Inner::Boxed(body) => http_body::Body::is_end_stream(body),
        Inner::Empty | Inner::Full(_) => true,
    }
}

#[inline(never)]
fn other_size(inner: &Inner) -> SizeHint {
    match inner {
        Inner::Incoming(incoming) => http_body::Body::size_hint(incoming),
        Inner::Boxed(body) => http_body::Body::size_hint(body),
        Inner::Empty | Inner::Full(_) => SizeHint::with_exact(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What hyper asks a response body, answered inline for one buffer and
    /// out of line for the rest: both paths must agree on the end.
    #[tokio::test]
    async fn in_memory_bodies_tell_their_size_frames_and_end() {
        let mut empty = Body::empty();
        assert!(http_body::Body::is_end_stream(&empty));
        assert_eq!(http_body::Body::size_hint(&empty).exact(), Some(0));
        assert!(empty.frame().await.is_none());

        let mut full = Body::full("hello");
        assert!(!http_body::Body::is_end_stream(&full));
        assert_eq!(http_body::Body::size_hint(&full).exact(), Some(5));
        let frame = full.frame().await.expect("a frame").expect("no error");
        assert_eq!(frame.into_data().ok(), Some(Bytes::from_static(b"hello")));
        assert!(http_body::Body::is_end_stream(&full));
        assert_eq!(http_body::Body::size_hint(&full).exact(), Some(0));
        assert!(full.frame().await.is_none());

        let mut boxed = Body::new(http_body_util::Full::new(Bytes::from_static(b"hi")));
        assert_eq!(http_body::Body::size_hint(&boxed).exact(), Some(2));
        assert!(boxed.frame().await.is_some());
        assert!(http_body::Body::is_end_stream(&boxed));
    }
}
