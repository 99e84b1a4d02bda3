//! The compiled route tree: method + path → route, with path parameters.
//!
//! Built once when the app is built; a lookup walks one node per path
//! segment, prefers static segments over `<param>` over `<rest..>` (and
//! backtracks when a static branch leads nowhere), and allocates nothing.

mod key;
mod params;
mod pattern;

use key::Key;

pub use params::{MAX_PARAMS, Params};
pub use pattern::{PathError, PatternError, Segment};

use http::{HeaderValue, Method};

/// Why a route could not be added.
#[derive(Debug, thiserror::Error)]
pub enum InsertError<T> {
    /// The pattern is malformed.
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// Only the seven methods of [`METHODS`] can be routed.
    #[error("method {0} cannot be routed; use one of GET POST PUT PATCH DELETE HEAD OPTIONS")]
    UnsupportedMethod(Method),
    /// Another route already answers the same method on the same path shape.
    #[error(
        "{method} {pattern} conflicts with a route already registered for the same method and path shape"
    )]
    Conflict {
        /// The method of both routes.
        method: Method,
        /// The pattern being inserted.
        pattern: String,
        /// The value of the route that was there first.
        existing: T,
    },
}

/// The methods a route can be registered for, in `Allow` header order.
pub const METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

fn method_index(method: &Method) -> Option<usize> {
    // Matching on the standard constants is a pointer-free comparison of
    // the inline representation; no string compare on the hot path.
    Some(match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::PATCH => 4,
        Method::DELETE => 5,
        Method::OPTIONS => 6,
        _ => return None,
    })
}

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup<'r, T> {
    /// A route answers this method and path.
    Found {
        /// The route's value.
        value: &'r T,
        /// The request was HEAD and is answered by the GET route.
        head_via_get: bool,
    },
    /// The path exists, but not for this method. `allow` lists the methods it has.
    MethodNotAllowed {
        /// Value for the `Allow` header.
        allow: &'r HeaderValue,
    },
    /// No route has this path.
    NotFound,
}

/// A route tree mapping `(method, path pattern)` to values of type `T`.
///
/// ```
/// use portico_runtime::router::{Lookup, Params, Router};
/// use http::Method;
///
/// let mut router = Router::new();
/// router.insert(Method::GET, "/users/<id>", "get_user").unwrap();
/// let mut params = Params::default();
/// match router.lookup(&Method::GET, "/users/42", &mut params) {
///     Lookup::Found { value, .. } => {
///         assert_eq!(*value, "get_user");
///         assert_eq!(params.raw("/users/42", 0), Some("42"));
///     }
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug)]
pub struct Router<T> {
    root: Node<T>,
}

#[derive(Debug)]
struct Node<T> {
    /// Static children: `static_keys[i]` leads to `static_nodes[i]`. The
    /// keys sit in their own compact array because a lookup scans them.
    static_keys: Vec<Key>,
    static_nodes: Vec<Node<T>>,
    param: Option<Box<Node<T>>>,
    catch_all: Option<Box<Endpoint<T>>>,
    endpoint: Option<Box<Endpoint<T>>>,
}

#[derive(Debug)]
struct Endpoint<T> {
    by_method: [Option<T>; 7],
    allow: HeaderValue,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            static_keys: Vec::new(),
            static_nodes: Vec::new(),
            param: None,
            catch_all: None,
            endpoint: None,
        }
    }
}

impl<T> Endpoint<T> {
    fn new() -> Self {
        Endpoint {
            by_method: Default::default(),
            allow: HeaderValue::from_static(""),
        }
    }

    fn insert(&mut self, index: usize, value: T) -> Result<(), T>
    where
        T: Clone,
    {
        if let Some(existing) = &self.by_method[index] {
            return Err(existing.clone());
        }
        self.by_method[index] = Some(value);
        self.allow = self.compute_allow();
        Ok(())
    }

    /// `Allow` lists every routed method, HEAD wherever GET is, and OPTIONS
    /// always (the app answers it).
    fn compute_allow(&self) -> HeaderValue {
        let has = |i: usize| self.by_method[i].is_some();
        let allow: Vec<&str> = METHODS
            .iter()
            .enumerate()
            .filter(|&(i, _)| has(i) || (i == 1 && has(0)) || i == 6)
            .map(|(_, m)| m.as_str())
            .collect();
        HeaderValue::from_str(&allow.join(", ")).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Router {
            root: Node::default(),
        }
    }
}

impl<T> Router<T> {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a route. Two routes with the same method whose patterns differ
    /// only in parameter names can never be told apart, so the second is a
    /// [`InsertError::Conflict`] that hands back the first one's value.
    pub fn insert(&mut self, method: Method, pattern: &str, value: T) -> Result<(), InsertError<T>>
    where
        T: Clone,
    {
        let parsed = pattern::parse(pattern)?;
        let Some(index) = method_index(&method) else {
            return Err(InsertError::UnsupportedMethod(method));
        };
        let mut node = &mut self.root;
        let mut catch_all = false;
        for segment in &parsed {
            node = match segment {
                Segment::Static(s) => {
                    let pos = match node.static_keys.iter().position(|k| k.as_str() == *s) {
                        Some(pos) => pos,
                        None => {
                            node.static_keys.push(Key::new(s));
                            node.static_nodes.push(Node::default());
                            node.static_keys.len() - 1
                        }
                    };
                    &mut node.static_nodes[pos]
                }
                Segment::Param(_) => node.param.get_or_insert_with(Default::default),
                Segment::CatchAll(_) => {
                    catch_all = true;
                    break;
                }
            };
        }
        let slot = if catch_all {
            &mut node.catch_all
        } else {
            &mut node.endpoint
        };
        slot.get_or_insert_with(|| Box::new(Endpoint::new()))
            .insert(index, value)
            .map_err(|existing| InsertError::Conflict {
                method,
                pattern: pattern.to_owned(),
                existing,
            })
    }

    /// Finds the route for `method` and `path` (the URI path, still
    /// percent-encoded). A HEAD request falls back to the GET route. The
    /// route's parameters are written into `params` (emptied first): the
    /// caller keeps them where they are used, rather than receiving them
    /// in the answer and moving them on.
    pub fn lookup<'r>(&'r self, method: &Method, path: &str, params: &mut Params) -> Lookup<'r, T> {
        params.clear();
        // `OPTIONS *` and other non-origin forms never name a route; params
        // store u16 offsets, so longer paths cannot either (hyper caps URIs
        // below that anyway).
        if !path.starts_with('/') || path.len() > u16::MAX as usize {
            return Lookup::NotFound;
        }
        let rest = if path == "/" { "" } else { path };
        let Some(endpoint) = self
            .root
            .find(path.as_bytes(), path.len() - rest.len(), params)
        else {
            return Lookup::NotFound;
        };
        let found = |value, head_via_get| Lookup::Found {
            value,
            head_via_get,
        };
        match method_index(method) {
            Some(i) => match &endpoint.by_method[i] {
                Some(value) => found(value, false),
                None if i == 1 => match &endpoint.by_method[0] {
                    Some(value) => found(value, true),
                    None => Lookup::MethodNotAllowed {
                        allow: &endpoint.allow,
                    },
                },
                None => Lookup::MethodNotAllowed {
                    allow: &endpoint.allow,
                },
            },
            None => Lookup::MethodNotAllowed {
                allow: &endpoint.allow,
            },
        }
    }
}

impl<T> Node<T> {
    /// `path[pos..]` is what is left to match: empty, or `/segment...`.
    /// Works on bytes: `/` is ASCII, so every split point is a char boundary.
    fn find(&self, path: &[u8], pos: usize, params: &mut Params) -> Option<&Endpoint<T>> {
        if pos == path.len() {
            if let Some(endpoint) = &self.endpoint {
                return Some(endpoint);
            }
            return self.catch_all.as_deref().inspect(|_| params.push(pos, pos));
        }
        // A static key matches when the rest of the path starts with it and
        // its segment ends there: no scan for the segment's end unless a
        // parameter must take it. Keys hold no `/`, so one key at most can
        // match.
        let seg_start = pos + 1;
        let rest = &path[seg_start..];
        if !self.static_keys.is_empty()
            && let head = key::word(rest)
            // Zipped rather than indexed: no bounds check on the node found.
            && let Some((key, child)) = self
                .static_keys
                .iter()
                .zip(&self.static_nodes)
                .find(|(key, _)| key.starts(rest, head))
        {
            let next = seg_start + key.len();
            // A path's last segment naming a route is answered here, without
            // a call for the child (the common end of a static route).
            if next == path.len()
                && let Some(endpoint) = &child.endpoint
            {
                return Some(endpoint);
            }
            // Nothing else to try here should the child fail: a tail call,
            // which the compiler makes a jump.
            if self.param.is_none() && self.catch_all.is_none() {
                return child.find(path, next, params);
            }
            if let Some(found) = child.find(path, next, params) {
                return Some(found);
            }
        }
        let seg_end = rest
            .iter()
            .position(|&b| b == b'/')
            .map_or(path.len(), |at| seg_start + at);
        if let Some(child) = &self.param
            && seg_end > seg_start
        {
            params.push(seg_start, seg_end);
            // As for a static key: a last segment naming a route ends here.
            if seg_end == path.len()
                && let Some(endpoint) = &child.endpoint
            {
                return Some(endpoint);
            }
            if let Some(found) = child.find(path, seg_end, params) {
                return Some(found);
            }
            params.pop();
        }
        self.catch_all
            .as_deref()
            .inspect(|_| params.push(seg_start, path.len()))
    }
}

/// Whether `prefix` covers `path` by whole segments: `/admin` (or
/// `/admin/`) covers `/admin` and `/admin/users`, not `/administrators`;
/// `` and `/` cover every path. The one rule for every per-prefix setting
/// (route layers, rate-limit policies, idempotency).
pub(crate) fn covers(prefix: &str, path: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    prefix.is_empty()
        || path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_covers_whole_segments() {
        for prefix in ["/admin", "/admin/"] {
            assert!(covers(prefix, "/admin"));
            assert!(covers(prefix, "/admin/users"));
            assert!(!covers(prefix, "/administrators"));
            assert!(!covers(prefix, "/"));
        }
        for everything in ["", "/"] {
            assert!(covers(everything, "/"));
            assert!(covers(everything, "/users/1"));
        }
    }

    fn router(routes: &[(Method, &'static str)]) -> Router<&'static str> {
        let mut r = Router::new();
        for (m, p) in routes {
            r.insert(m.clone(), p, *p).unwrap();
        }
        r
    }

    fn found(
        r: &Router<&'static str>,
        m: Method,
        path: &str,
    ) -> Option<(&'static str, Vec<String>)> {
        let mut params = Params::default();
        match r.lookup(&m, path, &mut params) {
            Lookup::Found { value, .. } => Some((
                *value,
                (0..params.len())
                    .map(|i| params.decoded(path, i).unwrap().unwrap().into_owned())
                    .collect(),
            )),
            _ => None,
        }
    }

    #[test]
    fn static_wins_over_param_and_backtracks() {
        let r = router(&[
            (Method::GET, "/users/me"),
            (Method::GET, "/users/<id>"),
            (Method::GET, "/users/<id>/posts"),
            (Method::GET, "/users/me/settings"),
        ]);
        assert_eq!(found(&r, Method::GET, "/users/me").unwrap().0, "/users/me");
        assert_eq!(
            found(&r, Method::GET, "/users/7").unwrap(),
            ("/users/<id>", vec!["7".into()])
        );
        assert_eq!(
            found(&r, Method::GET, "/users/me/posts").unwrap(),
            ("/users/<id>/posts", vec!["me".into()])
        );
        assert_eq!(
            found(&r, Method::GET, "/users/me/settings").unwrap().0,
            "/users/me/settings"
        );
    }

    /// Keys longer than the eight bytes compared as one word, siblings
    /// sharing those eight (and, past sixteen, their last eight too).
    #[test]
    fn long_keys_sharing_their_first_bytes_are_told_apart() {
        let r = router(&[
            (Method::GET, "/notification"),
            (Method::GET, "/notifications/<id>"),
            (Method::GET, "/notifications-archive-of-2026"),
            (Method::GET, "/notifications-archive-of-2025"),
            (Method::GET, "/<any>"),
        ]);
        assert_eq!(
            found(&r, Method::GET, "/notification").unwrap().0,
            "/notification"
        );
        assert_eq!(
            found(&r, Method::GET, "/notifications/7").unwrap(),
            ("/notifications/<id>", vec!["7".into()])
        );
        for year in ["2025", "2026"] {
            let path = format!("/notifications-archive-of-{year}");
            assert_eq!(found(&r, Method::GET, &path).unwrap().0, &path[..]);
        }
        // Same first and last eight bytes as a key, another middle.
        assert_eq!(
            found(&r, Method::GET, "/notifications-ARCHIVE-of-2026").unwrap(),
            ("/<any>", vec!["notifications-ARCHIVE-of-2026".into()])
        );
        assert_eq!(
            found(&r, Method::GET, "/notifications").unwrap().0,
            "/<any>",
            "a key's prefix is not the key"
        );
    }

    #[test]
    fn a_static_key_matches_a_whole_segment_only() {
        let r = router(&[
            (Method::GET, "/a"),
            (Method::GET, "/ab"),
            (Method::GET, "/abc/<x>"),
            (Method::GET, "/<any>/z"),
        ]);
        assert_eq!(found(&r, Method::GET, "/a").unwrap().0, "/a");
        assert_eq!(found(&r, Method::GET, "/ab").unwrap().0, "/ab");
        // `/ab` is a prefix of `abc` and `abcd`, not their segment.
        assert!(found(&r, Method::GET, "/abc").is_none());
        assert!(found(&r, Method::GET, "/abcd/1").is_none());
        assert_eq!(
            found(&r, Method::GET, "/abc/1").unwrap(),
            ("/abc/<x>", vec!["1".into()])
        );
        assert_eq!(
            found(&r, Method::GET, "/ab/z").unwrap(),
            ("/<any>/z", vec!["ab".into()])
        );
        assert_eq!(
            found(&r, Method::GET, "/abc/z").unwrap(),
            ("/abc/<x>", vec!["z".into()])
        );
        assert!(found(&r, Method::GET, "/a/").is_none());
    }

    #[test]
    fn params_are_percent_decoded_and_never_empty() {
        let r = router(&[(Method::GET, "/users/<id>")]);
        assert_eq!(found(&r, Method::GET, "/users/a%20b").unwrap().1, ["a b"]);
        assert!(matches!(
            r.lookup(&Method::GET, "/users/", &mut Params::default()),
            Lookup::NotFound
        ));
        assert!(matches!(
            r.lookup(&Method::GET, "/users", &mut Params::default()),
            Lookup::NotFound
        ));
        assert!(matches!(
            r.lookup(&Method::GET, "/users/1/x", &mut Params::default()),
            Lookup::NotFound
        ));
    }

    #[test]
    fn catch_all_takes_zero_or_more_segments() {
        let r = router(&[
            (Method::GET, "/static/<path..>"),
            (Method::GET, "/static/index"),
        ]);
        assert_eq!(
            found(&r, Method::GET, "/static/a/b.css").unwrap(),
            ("/static/<path..>", vec!["a/b.css".into()])
        );
        assert_eq!(
            found(&r, Method::GET, "/static/index").unwrap().0,
            "/static/index"
        );
        assert_eq!(found(&r, Method::GET, "/static").unwrap().1, [""]);
    }

    #[test]
    fn asterisk_form_never_matches_a_root_catch_all() {
        let r = router(&[(Method::OPTIONS, "/<rest..>")]);
        assert!(matches!(
            r.lookup(&Method::OPTIONS, "*", &mut Params::default()),
            Lookup::NotFound
        ));
        assert!(found(&r, Method::OPTIONS, "/x").is_some());
    }

    #[test]
    fn root_route() {
        let r = router(&[(Method::GET, "/")]);
        assert_eq!(found(&r, Method::GET, "/").unwrap().0, "/");
        assert!(matches!(
            r.lookup(&Method::GET, "/x", &mut Params::default()),
            Lookup::NotFound
        ));
    }

    #[test]
    fn wrong_method_lists_allowed_ones() {
        let r = router(&[(Method::GET, "/users"), (Method::POST, "/users")]);
        match r.lookup(&Method::DELETE, "/users", &mut Params::default()) {
            Lookup::MethodNotAllowed { allow } => assert_eq!(allow, "GET, HEAD, POST, OPTIONS"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            r.lookup(&Method::HEAD, "/users", &mut Params::default()),
            Lookup::Found {
                head_via_get: true,
                ..
            }
        ));
    }

    #[test]
    fn same_shape_same_method_conflicts() {
        let mut r = Router::new();
        r.insert(Method::GET, "/users/<id>", "get_user").unwrap();
        r.insert(Method::DELETE, "/users/<uid>", "delete_user")
            .unwrap();
        match r.insert(Method::GET, "/users/<name>", "by_name") {
            Err(InsertError::Conflict { existing, .. }) => assert_eq!(existing, "get_user"),
            other => panic!("{other:?}"),
        }
    }
}
