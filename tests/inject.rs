//! Dependency injection: singletons made once, request scope made per
//! request, and every graph problem reported when the app is built.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use portico::inject::{InjectProblem, RequestHead};
use portico::prelude::*;
use portico::testing::TestClient;
use portico::{BuildProblem, Container};

#[derive(Debug)]
struct Database {
    url: String,
}

#[derive(Debug)]
struct Mailer {
    smtp: String,
}

#[inject]
fn create_user(db: Dep<Database>, mailer: Dep<Mailer>) -> String {
    format!("User created via {} and {}", db.url, mailer.smtp)
}

#[tokio::test]
async fn seed_exercise_3_singletons_are_made_once_and_shared() {
    let made = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&made);
    let container = Container::builder()
        .provide_with(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Database {
                url: "postgresql://localhost/app".into(),
            }
        })
        .provide_with(|| Mailer {
            smtp: "smtp.example.com".into(),
        })
        .build()
        .await
        .unwrap();
    let first = container.get::<Database>().unwrap();
    let second = container.get::<Database>().unwrap();
    assert!(Dep::ptr_eq(&first, &second), "the same instance");
    assert_eq!(first.url, "postgresql://localhost/app");
    assert_eq!(
        container.call(create_user).unwrap(),
        "User created via postgresql://localhost/app and smtp.example.com"
    );
    assert_eq!(made.load(Ordering::SeqCst), 1, "the factory ran once");
    assert!(container.get::<String>().is_none());
}

#[inject]
struct Users {
    db: Dep<Database>,
    mailer: Dep<Mailer>,
}

#[route(GET, "/users")]
async fn list_users(users: Users) -> String {
    format!("{} {}", users.db.url, users.mailer.smtp)
}

#[route(POST, "/mail")]
async fn send_mail(mailer: Dep<Mailer>) -> String {
    mailer.smtp.clone()
}

fn problems(app: App) -> Vec<String> {
    match app.verify() {
        Ok(()) => Vec::new(),
        Err(err) => err.problems().iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_missing_dependency_names_who_needs_it() {
    let app = App::new()
        .provide(Database { url: "db".into() })
        .mount(routes![list_users, send_mail]);
    assert_eq!(
        problems(app),
        [
            "GET /users -> list_users needs Dep<Mailer> (through Users), which nothing provides",
            "POST /mail -> send_mail needs Dep<Mailer>, which nothing provides",
        ]
    );
}

struct A;
struct B;
struct C;

#[test]
fn cycles_are_reported_as_a_path() {
    let app = App::new()
        .provide_with(|_: Dep<B>| A)
        .provide_with(|_: Dep<C>| B)
        .provide_with(|_: Dep<A>| C);
    assert_eq!(problems(app), ["dependency cycle: A -> B -> C -> A"]);
}

struct CurrentUser;
struct AuditLog;

#[test]
fn a_singleton_may_not_capture_a_request_scoped_value() {
    let app = App::new()
        .provide_request(|_: &RequestHead<'_>| CurrentUser)
        .provide_with(|_: Dep<CurrentUser>| AuditLog);
    assert_eq!(
        problems(app),
        [
            "singleton AuditLog needs request-scoped CurrentUser; make AuditLog request-scoped too, or take CurrentUser in the handler"
        ]
    );
}

#[tokio::test]
async fn every_problem_is_reported_at_once_and_serving_is_refused() {
    let app = || {
        App::new()
            .provide_with(|_: Dep<B>| A)
            .provide_with(|_: Dep<A>| B)
            .provide(Mailer { smtp: "x".into() })
            .provide(Mailer { smtp: "y".into() })
            .mount(routes![list_users])
    };
    assert_eq!(
        problems(app()),
        [
            "Mailer is provided twice; keep one provider",
            "GET /users -> list_users needs Dep<Database> (through Users), which nothing provides",
            "dependency cycle: A -> B -> A",
        ]
    );
    match app().bind("127.0.0.1:0").await {
        Err(portico::Error::Build(err)) => assert_eq!(err.problems().len(), 3),
        other => panic!("expected a build error, got {other:?}"),
    }
}

#[derive(Debug)]
struct RequestTag {
    serial: usize,
    caller: String,
}

#[route(GET, "/tag")]
async fn tag(first: Dep<RequestTag>, second: Dep<RequestTag>, db: Dep<Database>) -> String {
    assert!(Dep::ptr_eq(&first, &second), "one value per request");
    format!("{} {} {}", first.serial, first.caller, db.url)
}

#[tokio::test]
async fn request_scoped_values_are_fresh_per_request_and_see_the_request() {
    let serial = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&serial);
    let app = App::new()
        .provide(Database { url: "db".into() })
        .provide_request(
            move |request: &RequestHead<'_>, db: Dep<Database>| RequestTag {
                serial: counter.fetch_add(1, Ordering::SeqCst),
                caller: format!(
                    "{}@{}",
                    request
                        .headers()
                        .get("x-caller")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("nobody"),
                    db.url
                ),
            },
        )
        .mount(routes![tag, send_mail])
        .provide(Mailer {
            smtp: "smtp".into(),
        });
    let client = TestClient::new(app).await;
    assert_eq!(
        client
            .get("/tag")
            .header("x-caller", "ann")
            .send()
            .await
            .text(),
        "0 ann@db db"
    );
    assert_eq!(
        client
            .get("/tag")
            .header("x-caller", "bob")
            .send()
            .await
            .text(),
        "1 bob@db db"
    );
    assert_eq!(client.post("/mail").send().await.text(), "smtp");
    assert_eq!(
        serial.load(Ordering::SeqCst),
        2,
        "routes that do not need it never make it"
    );
}

/// A request-scoped value that counts its drops (a transaction that
/// rolls back on drop, say).
struct Scoped(Arc<AtomicUsize>);

impl Drop for Scoped {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[route(GET, "/scoped")]
async fn scoped(_value: Dep<Scoped>) -> &'static str {
    "ok"
}

#[tokio::test]
async fn request_scoped_values_are_dropped_when_their_request_ends() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&dropped);
    let app = App::new()
        .provide_request(move |_: &RequestHead<'_>| Scoped(Arc::clone(&counter)))
        .mount(routes![scoped]);
    let client = TestClient::new(app).await;
    for expected in 1..=3 {
        assert_eq!(client.get("/scoped").send().await.text(), "ok");
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            expected,
            "request {expected}"
        );
    }
}

#[route(GET, "/instance")]
async fn instance(db: Dep<Database>) -> String {
    format!("{:p}", Arc::as_ptr(&db.into_arc()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_requests_share_one_singleton() {
    let made = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&made);
    let app = App::new()
        .provide_with(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Database { url: "db".into() }
        })
        .mount(routes![instance]);
    let client = TestClient::new(app).await;
    let requests: Vec<_> = (0..1000)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get("/instance").send().await.text().to_owned() })
        })
        .collect();
    let mut addresses = std::collections::BTreeSet::new();
    for request in requests {
        addresses.insert(request.await.unwrap());
    }
    assert_eq!(addresses.len(), 1, "{addresses:?}");
    assert_eq!(made.load(Ordering::SeqCst), 1);
}

#[derive(Debug)]
struct Pool {
    size: usize,
}

#[inject]
async fn connect(config: Dep<Config>) -> Result<Pool, std::io::Error> {
    if config.size == 0 {
        return Err(std::io::Error::other("pool size must be at least 1"));
    }
    Ok(Pool { size: config.size })
}

struct Config {
    size: usize,
}

#[inject]
struct Repo {
    pool: Dep<Pool>,
}

#[inject]
struct Service {
    repo: Repo,
    mailer: Dep<Mailer>,
}

#[route(GET, "/pool")]
async fn pool(service: Service) -> String {
    format!("{} {}", service.repo.pool.size, service.mailer.smtp)
}

#[tokio::test]
async fn async_providers_and_nested_inject_structs() {
    let app = App::new()
        .provide(Config { size: 4 })
        .provide_async(connect)
        .provide(Mailer {
            smtp: "smtp".into(),
        })
        .mount(routes![pool]);
    let client = TestClient::new(app).await;
    assert_eq!(client.get("/pool").send().await.text(), "4 smtp");

    let failing = App::new()
        .provide(Config { size: 0 })
        .provide_async(connect);
    match failing.build().await {
        Err(err) => match err.problems() {
            [BuildProblem::Inject(InjectProblem::Failed { name, error })] => {
                assert_eq!(name, "Pool");
                assert_eq!(error, "pool size must be at least 1");
            }
            other => panic!("{other:?}"),
        },
        Ok(_) => panic!("a failing factory stops the build"),
    }
}

#[test]
fn nested_missing_dependencies_name_the_outer_struct() {
    let app = App::new()
        .provide(Mailer { smtp: "x".into() })
        .mount(routes![pool]);
    assert_eq!(
        problems(app),
        ["GET /pool -> pool needs Dep<Pool> (through Service), which nothing provides"]
    );
}

/// A mailer that records what it sends.
struct RecordingMailer {
    transport: &'static str,
    sent: std::sync::Mutex<Vec<String>>,
}

impl RecordingMailer {
    fn new(transport: &'static str) -> Self {
        RecordingMailer {
            transport,
            sent: std::sync::Mutex::new(Vec::new()),
        }
    }
}

struct SmtpHost(&'static str);

#[route(POST, "/welcome/<name>")]
async fn welcome(name: String, mailer: Dep<RecordingMailer>) -> String {
    mailer.sent.lock().unwrap().push(name);
    format!("sent via {}", mailer.transport)
}

fn mail_app() -> App {
    App::new()
        .provide(SmtpHost("smtp.example.com"))
        .provide_with(|host: Dep<SmtpHost>| RecordingMailer::new(host.0))
        .mount(routes![welcome])
}

#[tokio::test]
async fn a_test_client_overrides_a_dependency_for_itself_only() {
    let fake = TestClient::builder(mail_app())
        .override_dep(RecordingMailer::new("memory"))
        .build()
        .await;
    assert_eq!(
        fake.post("/welcome/ada").send().await.text(),
        "sent via memory"
    );
    let recorder = fake.service().container().get::<RecordingMailer>().unwrap();
    assert_eq!(*recorder.sent.lock().unwrap(), ["ada"]);

    let real = TestClient::new(mail_app()).await;
    assert_eq!(
        real.post("/welcome/ada").send().await.text(),
        "sent via smtp.example.com"
    );
}

#[tokio::test]
async fn an_override_factory_gets_its_arguments_injected() {
    let client = TestClient::builder(mail_app())
        .override_with(|_: Dep<SmtpHost>| RecordingMailer::new("factory fake"))
        .build()
        .await;
    assert_eq!(
        client.post("/welcome/bo").send().await.text(),
        "sent via factory fake"
    );
}

#[tokio::test]
async fn an_override_is_verified_with_the_rest_of_the_graph() {
    struct Outbox;
    let err = TestClient::builder(mail_app())
        .override_with(|_: Dep<Outbox>| RecordingMailer::new("queue"))
        .try_build()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("Outbox") && text.contains("nothing provides"),
        "{text}"
    );
}
