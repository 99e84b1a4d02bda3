//! Validating a valid value allocates nothing: counted by a global
//! allocator, in a test binary of its own so nothing else allocates.

use portico::prelude::*;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations;

#[derive(Validate)]
struct Signup {
    #[validate(length(min = 1, max = 100))]
    name: String,
    #[validate(email)]
    email: String,
    #[validate(range(min = 0, max = 150))]
    age: i32,
    #[validate(url, regex(pattern = "^https://"))]
    homepage: Option<String>,
    #[validate(nested)]
    tags: Vec<Tag>,
}

#[derive(Validate)]
struct Tag {
    #[validate(length(min = 1, max = 20), does_not_contain(pattern = " "))]
    label: String,
}

#[test]
fn valid_values_validate_without_allocating_and_invalid_ones_do() {
    let valid = Signup {
        name: "Alice".into(),
        email: "alice@example.com".into(),
        age: 30,
        homepage: Some("https://example.com".into()),
        tags: vec![
            Tag {
                label: "rust".into(),
            },
            Tag {
                label: "web".into(),
            },
        ],
    };
    // The first run builds the lazily compiled regex; measure the next ones.
    assert!(valid.validate().is_ok());
    let before = allocations();
    for _ in 0..1000 {
        assert!(valid.validate().is_ok());
    }
    assert_eq!(allocations() - before, 0);

    // The counter does count: a failure builds its errors.
    let invalid = Signup { age: 200, ..valid };
    let before = allocations();
    assert!(invalid.validate().is_err());
    assert!(allocations() > before);
}
