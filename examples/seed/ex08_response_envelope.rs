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
    // The seed's `to_dict` leaves `page_size` out of `meta`; Portico's
    // envelope carries it, and the seed's shape is that envelope less it.
    let mut paged = serde_json::to_value(ApiResponse::paginated(vec![1, 2, 3], 10, 1, 3))?;
    if let Some(meta) = paged["meta"].as_object_mut() {
        meta.remove("page_size");
    }
    show("Paged", &paged)
}
