//! Exercise 8: the typed response envelope.

use portico::prelude::*;
use serde_json::json;

fn show<T: Serialize>(label: &str, response: &ApiResponse<T>) -> crate::Outcome {
    println!("{label}: {}", serde_json::to_string(response)?);
    Ok(())
}

pub fn run() -> crate::Outcome {
    show(
        "Success",
        &ApiResponse::ok(json!({"id": 1, "name": "Alice"})),
    )?;
    show("Error", &ApiResponse::<()>::fail("Not found", 404))?;
    show("Paged", &ApiResponse::paginated(vec![1, 2, 3], 10, 1, 3))
}
