//! `GET /docs`: Swagger UI over `/openapi.json`, its files compiled into
//! the crate (`runtime/assets/swagger-ui`, see its `VERSION`), so the page
//! works on a machine with no internet.

use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderName, HeaderValue, Method};

use crate::extract::RequestContext;
use crate::handler::{HandlerFuture, Route, handler_future};
use crate::response::Response;

const CONTENT_SECURITY_POLICY: HeaderName = HeaderName::from_static("content-security-policy");

/// Everything the page loads comes from here; Swagger UI styles inline
/// and draws small images as `data:` URLs.
const POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'";

fn asset(body: &'static [u8], content_type: &'static str) -> Response {
    let mut response = Response::new(crate::body::Body::from(bytes::Bytes::from_static(body)));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    // The files change only with the crate: a day is safe, and `no-cache`
    // would refetch 1.7 MB on every visit.
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}

macro_rules! assets {
    ($($fn_name:ident, $path:literal, $file:literal, $type:literal;)*) => {
        $(
            fn $fn_name<'r>(_: &'r mut RequestContext<'_>) -> HandlerFuture<'r> {
                handler_future(async {
                    asset(include_bytes!(concat!("../../assets/swagger-ui/", $file)), $type)
                })
            }
        )*

        pub(super) fn routes() -> Vec<Route> {
            vec![$(
                Route::new(Method::GET, $path, stringify!($fn_name), $fn_name, |_| {}).undocumented(),
            )*]
        }
    };
}

assets! {
    docs_page, "/docs", "index.html", "text/html; charset=utf-8";
    docs_init, "/docs/init.js", "init.js", "text/javascript; charset=utf-8";
    docs_bundle, "/docs/swagger-ui-bundle.js", "swagger-ui-bundle.js", "text/javascript; charset=utf-8";
    docs_style, "/docs/swagger-ui.css", "swagger-ui.css", "text/css; charset=utf-8";
}
