//! CORS with an explicit allow-list: nothing is allowed until configured.

use std::time::Duration;

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{HeaderValue, Method, StatusCode};

use super::{Middleware, Next, Request};
use crate::response::{ApiError, IntoResponse, Response};

/// Cross-origin resource sharing, deny by default: only the listed origins,
/// methods and request headers are allowed.
///
/// ```
/// use portico_runtime::middleware::Cors;
/// use http::Method;
///
/// let cors = Cors::new()
///     .allow_origin("https://app.example.com")
///     .allow_methods([Method::GET, Method::POST])
///     .allow_headers(["content-type", "authorization"]);
/// # let _ = cors;
/// ```
#[derive(Debug, Clone, Default)]
pub struct Cors {
    origins: Vec<HeaderValue>,
    methods: Vec<Method>,
    headers: Vec<String>,
    credentials: bool,
    max_age: Option<Duration>,
}

impl Cors {
    /// A policy that allows nothing.
    pub fn new() -> Self {
        Cors::default()
    }

    /// Allows requests from `origin` (`scheme://host[:port]`, exactly).
    pub fn allow_origin(mut self, origin: &str) -> Self {
        if let Ok(origin) = HeaderValue::from_str(origin) {
            self.origins.push(origin);
        }
        self
    }

    /// Allows these methods.
    pub fn allow_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods.extend(methods);
        self
    }

    /// Allows these request headers (case-insensitive).
    pub fn allow_headers<'h>(mut self, headers: impl IntoIterator<Item = &'h str>) -> Self {
        self.headers
            .extend(headers.into_iter().map(str::to_ascii_lowercase));
        self
    }

    /// Allows credentials (cookies, `Authorization`).
    pub fn allow_credentials(mut self, allow: bool) -> Self {
        self.credentials = allow;
        self
    }

    /// How long browsers may cache a preflight answer.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    fn preflight(&self, request: &Request, origin: &HeaderValue) -> Response {
        let method_ok = request
            .headers()
            .get(ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
            .is_some_and(|m| self.methods.contains(&m));
        let headers_ok = request
            .headers()
            .get(ACCESS_CONTROL_REQUEST_HEADERS)
            .and_then(|h| h.to_str().ok())
            .is_none_or(|list| {
                list.split(',')
                    .map(|h| h.trim().to_ascii_lowercase())
                    .filter(|h| !h.is_empty())
                    .all(|h| self.headers.contains(&h))
            });
        if !method_ok || !headers_ok {
            return ApiError::forbidden("CORS preflight refused").into_response();
        }
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        let methods: Vec<&str> = self.methods.iter().map(Method::as_str).collect();
        if let Ok(value) = HeaderValue::from_str(&methods.join(", ")) {
            headers.insert(ACCESS_CONTROL_ALLOW_METHODS, value);
        }
        if let Ok(value) = HeaderValue::from_str(&self.headers.join(", ")) {
            headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, value);
        }
        if let Some(max_age) = self.max_age {
            headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from(max_age.as_secs()));
        }
        self.common(headers);
        response
    }

    fn common(&self, headers: &mut http::HeaderMap) {
        headers.append(VARY, HeaderValue::from_static("origin"));
        if self.credentials {
            headers.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }
}

impl Middleware for Cors {
    async fn call(&self, request: Request, next: Next) -> Response {
        let Some(origin) = request.headers().get(ORIGIN).cloned() else {
            return next.run(request).await; // not a cross-origin request
        };
        let allowed = self.origins.contains(&origin);
        let is_preflight = request.method() == Method::OPTIONS
            && request
                .headers()
                .contains_key(ACCESS_CONTROL_REQUEST_METHOD);
        match (allowed, is_preflight) {
            (true, true) => self.preflight(&request, &origin),
            (false, true) => ApiError::forbidden("CORS preflight refused").into_response(),
            (true, false) => {
                let mut response = next.run(request).await;
                let headers = response.headers_mut();
                headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                self.common(headers);
                response
            }
            // Served without CORS headers: the browser withholds the answer.
            (false, false) => next.run(request).await,
        }
    }
}
