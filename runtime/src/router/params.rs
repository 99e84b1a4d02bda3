//! Path parameter values captured by a lookup, kept as offsets into the path.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

pub use portico_path::MAX_PARAMS;

/// The values of a route's `<params>`, in pattern order, as byte ranges of
/// the request path: capturing them allocates nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Params {
    len: u8,
    spans: [(u16, u16); MAX_PARAMS],
}

impl Params {
    pub(crate) fn push(&mut self, start: usize, end: usize) {
        // The router refuses patterns with more than MAX_PARAMS parameters
        // and paths longer than u16::MAX, so neither can overflow here.
        self.spans[self.len as usize] = (start as u16, end as u16);
        self.len += 1;
    }

    pub(crate) fn pop(&mut self) {
        self.len -= 1;
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// How many values were captured.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the route has no parameters.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The raw (still percent-encoded) value of parameter `index` in `path`.
    pub fn raw<'p>(&self, path: &'p str, index: usize) -> Option<&'p str> {
        let spans = &self.spans[..self.len as usize];
        let &(start, end) = spans.get(index)?;
        path.get(start as usize..end as usize)
    }

    /// The percent-decoded value of parameter `index` in `path`; `None` when
    /// there is no such parameter, `Some(Err)` when it is not UTF-8 once decoded.
    pub fn decoded<'p>(
        &self,
        path: &'p str,
        index: usize,
    ) -> Option<Result<Cow<'p, str>, std::str::Utf8Error>> {
        self.raw(path, index).map(|raw| {
            // Most values have no escapes: borrow them as they are. (A
            // plain loop: values are short, and `contains` is a call.)
            if raw.bytes().any(|b| b == b'%') {
                percent_decode_str(raw).decode_utf8()
            } else {
                Ok(Cow::Borrowed(raw))
            }
        })
    }
}
