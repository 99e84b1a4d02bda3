use portico::prelude::*;

#[derive(Validate)]
struct Search {
    // Valid syntax, but far past the engine's compiled-size limit.
    #[validate(regex(pattern = r"\w{1000}\w{1000}\w{1000}\w{1000}"))]
    query: String,
}

fn main() {}
