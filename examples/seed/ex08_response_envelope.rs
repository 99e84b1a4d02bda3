//! Exercise 8: the typed response envelope.

use portico::prelude::*;
use serde_json::json;

fn show(label: &str, response: &impl Serialize) -> crate::Outcome {
    println!("{label}: {}", serde_json::to_string(response)?);
    Ok(())
}

pub(crate) fn run() -> crate::Outcome {
    show(
        "Success",
        &ApiResponse::ok(json!({"id": 1, "name": "Alice"})),
    )?;
    show("Error", &ApiError::not_found("Not found"))?;
    show("Paged", &ApiResponse::paginated(vec![1, 2, 3], 10, 1, 3))
}
