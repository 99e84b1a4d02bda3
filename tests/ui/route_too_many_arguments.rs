use portico::http::Method;
use portico::prelude::*;

#[route(GET, "/busy")]
async fn busy(
    _a0: Method,
    _a1: Method,
    _a2: Method,
    _a3: Method,
    _a4: Method,
    _a5: Method,
    _a6: Method,
    _a7: Method,
    _a8: Method,
    _a9: Method,
    _a10: Method,
    _a11: Method,
    _a12: Method,
    _a13: Method,
    _a14: Method,
    _a15: Method,
    _a16: Method,
) -> &'static str {
    "busy"
}

fn main() {}
