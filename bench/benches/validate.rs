//! Validating the same 4-field struct (with an e-mail) with Portico,
//! `validator` and `garde`, on valid and on invalid input.
//!
//! `cargo bench -p portico-bench --bench validate`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

mod portico_side {
    use portico::Validate;

    #[derive(Validate)]
    pub struct NewUser {
        #[validate(length(min = 1, max = 100))]
        pub name: String,
        #[validate(email)]
        pub email: String,
        #[validate(range(min = 0, max = 150))]
        pub age: i32,
        #[validate(length(max = 500))]
        pub bio: String,
    }
}

mod validator_side {
    use validator::Validate;

    #[derive(Validate)]
    pub struct NewUser {
        #[validate(length(min = 1, max = 100))]
        pub name: String,
        #[validate(email)]
        pub email: String,
        #[validate(range(min = 0, max = 150))]
        pub age: i32,
        #[validate(length(max = 500))]
        pub bio: String,
    }
}

mod garde_side {
    use garde::Validate;

    #[derive(Validate)]
    pub struct NewUser {
        #[garde(length(chars, min = 1, max = 100))]
        pub name: String,
        #[garde(email)]
        pub email: String,
        #[garde(range(min = 0, max = 150))]
        pub age: i32,
        #[garde(length(chars, max = 500))]
        pub bio: String,
    }
}

macro_rules! user {
    ($module:ident, $name:expr, $email:expr, $age:expr) => {
        $module::NewUser {
            name: $name.into(),
            email: $email.into(),
            age: $age,
            bio: "Writes Rust, reads poetry, runs on weekends.".into(),
        }
    };
}

fn validate(c: &mut Criterion) {
    for (case, name, email, age) in [
        ("valid", "Alice Liddell", "alice.liddell@example.com", 30),
        ("invalid", "", "not-an-email", -1),
    ] {
        let mut group = c.benchmark_group(format!("validate_{case}"));
        let portico = user!(portico_side, name, email, age);
        let validator = user!(validator_side, name, email, age);
        let garde = user!(garde_side, name, email, age);
        // The same verdict from all three, or the race is not the same.
        let verdicts = [
            portico::Validate::validate(&portico).is_ok(),
            validator::Validate::validate(&validator).is_ok(),
            garde::Validate::validate(&garde).is_ok(),
        ];
        assert_eq!(
            verdicts,
            [case == "valid"; 3],
            "{case}: portico, validator, garde"
        );
        group.bench_function("portico", |b| {
            b.iter(|| black_box(portico::Validate::validate(black_box(&portico)).is_ok()))
        });
        group.bench_function("validator", |b| {
            b.iter(|| black_box(validator::Validate::validate(black_box(&validator)).is_ok()))
        });
        group.bench_function("garde", |b| {
            b.iter(|| black_box(garde::Validate::validate(black_box(&garde)).is_ok()))
        });
        group.finish();
    }
}

criterion_group!(benches, validate);
criterion_main!(benches);
