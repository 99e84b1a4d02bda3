//! Exercise 3: a dependency container resolving by type, with
//! singletons made once and a fn whose arguments are injected.

use std::fmt;

use portico::Container;
use portico::prelude::*;

struct Database {
    url: String,
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Database url={}>", self.url)
    }
}

struct Mailer {
    smtp: String,
}

impl fmt::Display for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Mailer smtp={}>", self.smtp)
    }
}

#[inject]
fn create_user(db: Dep<Database>, mailer: Dep<Mailer>) -> String {
    let _ = (&db.url, &mailer.smtp);
    "User created: alice@example.com".to_owned()
}

pub(crate) async fn run() -> crate::Outcome {
    let container = Container::builder()
        .provide_with(|| Database {
            url: "postgresql://localhost/app".into(),
        })
        .provide_with(|| Mailer {
            smtp: "smtp.example.com".into(),
        })
        .build()
        .await?;
    let db = container.get::<Database>().ok_or("no Database")?;
    let mailer = container.get::<Mailer>().ok_or("no Mailer")?;
    println!("db={db}");
    println!("mailer={mailer}");
    println!("result={}", container.call(create_user)?);
    Ok(())
}
