//! Exercise 2: a request model validated by `#[derive(Validate)]`.

use portico::prelude::*;

#[derive(Debug, Serialize, Validate)]
struct UserCreateRequest {
    #[validate(length(min = 1))]
    name: String,
    #[validate(email)]
    email: String,
    #[validate(range(min = 0, max = 150))]
    age: i32,
}

fn show(request: &UserCreateRequest) -> crate::Outcome {
    let valid = request.validate();
    let data = serde_json::to_string(request)?;
    // The seed prints Python's `True`/`False`; the errors go to stderr.
    println!(
        "Valid: {} {data}",
        if valid.is_ok() { "True" } else { "False" }
    );
    if let Err(errors) = valid {
        eprintln!("errors: {}", serde_json::to_string(&errors)?);
    }
    Ok(())
}

pub(crate) fn run() -> crate::Outcome {
    show(&UserCreateRequest {
        name: "Alice".into(),
        email: "alice@example.com".into(),
        age: 30,
    })?;
    show(&UserCreateRequest {
        name: "".into(),
        email: "not-an-email".into(),
        age: -1,
    })
}
