//! The users API: routes, request types and the store behind them.
//!
//! Kept apart from `main.rs` so that the integration tests serve exactly
//! this app (`#[path = "../examples/users_api/app.rs"] mod users_api;`).

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use portico::Paging;
use portico::Rendered;
use portico::auth::Jwt;
use portico::caching::{ETag, IfMatch, ResponseCache};
use portico::docs::Info;
use portico::health::HealthChecker;
use portico::idempotency::{Idempotency, Idempotent};
use portico::middleware::{AccessLog, CatchPanic, RequestId};
use portico::pool::{PoolBuilder, PostgresManager};
use portico::prelude::*;
use portico::queue::{Task, TaskError, TaskId, TaskQueue, TaskRecord, Workers};
use portico::ratelimit::{PostgresStore, RateLimit, RedisStore};
use portico::telemetry::Metrics;
use regex::Regex;

use crate::store::{Removal, UserStore};

/// A stored user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct User {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub age: i32,
}

/// A created user, with the id of its welcome email task.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub(crate) struct CreatedUser {
    #[serde(flatten)]
    pub user: User,
    pub welcome_task: TaskId,
}

/// Sends a new user's welcome email (here: writes it to the outbox).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WelcomeEmail {
    pub user_id: i64,
    pub to: String,
}

impl Task for WelcomeEmail {
    const NAME: &'static str = "welcome_email";
    type Deps = Dep<UserStore>;
    type Output = serde_json::Value;

    async fn run(self, users: Dep<UserStore>) -> Result<serde_json::Value, TaskError> {
        let sent = users
            .send_welcome(self.user_id, self.to)
            .await
            .map_err(|e| TaskError::new(e.message().to_owned()))?;
        // Delivery is at least once: a second run finds the mail sent.
        Ok(serde_json::json!({ "sent": sent }))
    }
}

/// The body of `POST /users`, validated before the handler runs. Only
/// these fields are bound: a client that sends `id` (or anything else)
/// cannot choose it.
#[derive(Debug, Deserialize, Validate, JsonSchema)]
pub(crate) struct NewUser {
    #[validate(
        regex(path = NOT_BLANK, code = "blank", message = "must not be empty or only spaces"),
        length(max = 100)
    )]
    pub name: String,
    #[validate(email)]
    pub email: String,
    #[validate(range(min = 0, max = 150))]
    pub age: i32,
}

/// Not blank: at least one character other than spaces, control
/// characters (NUL) and the marks that take no room (zero-width space and
/// joiners, byte-order mark). A pattern rather than a custom function, so
/// that the published schema says it too: the syntax is one the Rust
/// `regex` crate and JSON Schema's ECMA-262 patterns read alike.
static NOT_BLANK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[^\s\x00-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff]")
        .unwrap_or_else(|err| unreachable!("a fixed pattern: {err}"))
});

/// Lists users: a page by cursor, or by number when asked.
///
/// `GET /users`, by id: a page of `?limit=` users `after=` or `before=` a
/// cursor from `meta.next` / `meta.prev` (or the `Link` header), at the
/// same cost however deep; or, when the query names `page` or
/// `page_size`, a numbered page in the seed's envelope (`meta: {total,
/// page, page_size, pages}`, numbered pages bounded in depth).
#[route(GET, "/users")]
pub(crate) async fn list_users(
    page: Page,
    cursor: Cursor<i64>,
    users: Dep<UserStore>,
) -> Result<ApiResponse<Vec<User>>, ApiError> {
    if page.requested() {
        let (items, total) = users.page(page.offset(), page.size()).await?;
        return Ok(page.respond(items, total));
    }
    let rows = users.seek(cursor.position(), cursor.fetch()).await?;
    Ok(cursor.page(rows, |user| user.id))
}

/// Creates a user and enqueues its welcome email.
///
/// Needs a bearer token. Extractors run in argument order: the token is
/// checked before the body is read, so an anonymous client gets a 401 and
/// learns nothing of the validation rules.
#[route(POST, "/users")]
pub(crate) async fn create_user(
    _caller: Claims,
    Json(new): Json<NewUser>,
    key: Option<Idempotent>,
    users: Dep<UserStore>,
    tasks: Dep<TaskQueue>,
) -> Result<Rendered<Created<ApiResponse<CreatedUser>>>, ApiError> {
    users.insert(new, &tasks, key, created).await
}

/// The answer to a created user.
fn created(created: CreatedUser) -> Created<ApiResponse<CreatedUser>> {
    Created::at(
        format!("/users/{}", created.user.id),
        ApiResponse::ok(created),
    )
}

/// A background task's record.
///
/// Its payload only for an authenticated caller.
#[route(GET, "/tasks/<id>")]
pub(crate) async fn get_task(
    id: i64,
    caller: Option<Claims>,
    tasks: Dep<TaskQueue>,
) -> Result<ApiResponse<TaskRecord>, ApiError> {
    let mut record = tasks
        .status(TaskId(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no task with id {id}")))?;
    if caller.is_none() {
        record.payload = serde_json::Value::Null;
    }
    Ok(ApiResponse::ok(record))
}

/// Reads a user.
///
/// Revalidated on every use (`no-cache`, with a strong `ETag`: a client
/// holding the current one gets a 304), and kept server-side for ten
/// seconds under the tag `user:<id>`, which a delete invalidates (on its
/// own instance: the ten seconds bound what another instance may serve).
#[route(GET, "/users/<id>", cache(no_cache, server = 10, tag = "user:<id>"))]
pub(crate) async fn get_user(
    id: i64,
    users: Dep<UserStore>,
) -> Result<ApiResponse<User>, ApiError> {
    users
        .get(id)
        .await?
        .map(ApiResponse::ok)
        .ok_or_else(|| ApiError::not_found(format!("no user with id {id}")))
}

/// Deletes a user.
///
/// Needs a bearer token with the `admin` role. With `If-Match`, deletes
/// only the representation the client saw (`GET /users/<id>`'s `ETag`),
/// checked in the delete's transaction: else 412.
#[route(DELETE, "/users/<id>", role = "admin")]
pub(crate) async fn delete_user(
    id: i64,
    precondition: IfMatch,
    users: Dep<UserStore>,
    responses: Dep<ResponseCache>,
) -> Result<ApiResponse<User>, ApiError> {
    let unchanged = {
        let precondition = precondition.clone();
        move |user: &User| precondition.check(Some(&ETag::of_json(&ApiResponse::ok(user))))
    };
    match users.remove_if(id, unchanged).await? {
        Removal::Removed(user) => {
            if let Err(err) = responses.invalidate(&format!("user:{id}")).await {
                tracing::warn!(%err, id, "a kept answer for this user may be served until it expires");
            }
            Ok(ApiResponse::ok(user))
        }
        Removal::Refused(error) => Err(error),
        Removal::Missing => {
            // `If-Match` names a representation; there is none.
            precondition.check(None)?;
            Err(ApiError::not_found(format!("no user with id {id}")))
        }
    }
}

/// What the app is configured with (from the environment in `main`).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub database_url: String,
    pub jwt_secret: Vec<u8>,
    pub rate_capacity: u32,
    pub rate_refill_per_sec: f64,
    /// How long an `Idempotency-Key`'s answer is kept.
    pub idempotency_ttl: Duration,
    /// How long a keyed request holds its key unrenewed (after a crash,
    /// the key is free again within this time).
    pub idempotency_lease: Duration,
    /// How long a task worker holds a task unrenewed (after a crash, the
    /// task runs again within this time).
    pub task_lease: Duration,
    /// The bearer token `/metrics` asks for; open without one.
    pub metrics_token: Option<String>,
    /// Where the rate limiter keeps its buckets when instances share them
    /// (`redis://…` or `postgres://…`); in this process without one.
    pub state_url: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database_url: "sqlite://portico.db".into(),
            // No secret until one is given or made (`main`): a token
            // signed with a known default could be forged by anyone.
            jwt_secret: Vec::new(),
            rate_capacity: 100,
            rate_refill_per_sec: 10.0,
            idempotency_ttl: Duration::from_secs(24 * 3600),
            idempotency_lease: Duration::from_secs(60),
            task_lease: Duration::from_secs(30),
            metrics_token: None,
            state_url: None,
        }
    }
}

impl Settings {
    /// Page sizes 20 (default) to 100; cursors signed with a key derived
    /// from the JWT secret, so the instances that share the secret accept
    /// each other's cursors (and a restart keeps them valid).
    pub(crate) fn paging(&self) -> Paging {
        let key = [b"users_api cursors\0".as_slice(), &self.jwt_secret].concat();
        Paging::default().page_size(20, 100).cursor_key(key)
    }

    pub(crate) fn jwt(&self) -> Result<Jwt, portico::Error> {
        Jwt::new(&self.jwt_secret).map_err(|err| portico::Error::Config {
            name: "PORTICO_JWT_SECRET".into(),
            message: err.to_string(),
        })
    }

    /// A signed token with claims `sub`, `role`, `iat` and `exp` (in an hour).
    pub(crate) fn token(&self, sub: &str, role: &str) -> Result<String, portico::Error> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let claims = serde_json::json!({"sub": sub, "role": role, "iat": now, "exp": now + 3600});
        self.jwt()?
            .create(&claims)
            .map_err(|err| portico::Error::Config {
                name: "PORTICO_JWT_SECRET".into(),
                message: err.to_string(),
            })
    }
}

/// The rate limiter's buckets, shared by the instances that name the same
/// `PORTICO_STATE_URL`.
#[derive(Clone)]
enum SharedLimits {
    Postgres(Arc<PostgresStore>),
    Redis(RedisStore),
}

impl SharedLimits {
    async fn connect(url: &str) -> Result<Self, portico::Error> {
        let config = |message: String| portico::Error::Config {
            name: "PORTICO_STATE_URL".into(),
            message,
        };
        if url.starts_with("redis://") || url.starts_with("rediss://") {
            let store = RedisStore::connect(url)
                .await
                .map_err(|e| config(e.to_string()))?;
            return Ok(SharedLimits::Redis(store));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PoolBuilder::new()
                .max_size(8)
                .acquire_timeout(Duration::from_millis(250))
                .build(PostgresManager::new(url))
                .await
                .map_err(|e| config(e.to_string()))?;
            let store = PostgresStore::new(pool)
                .await
                .map_err(|e| config(e.to_string()))?;
            return Ok(SharedLimits::Postgres(Arc::new(store)));
        }
        Err(config("must be a redis:// or postgres:// URL".into()))
    }

    fn limit(&self, limit: RateLimit) -> RateLimit {
        match self {
            SharedLimits::Postgres(store) => limit.store(Arc::clone(store)),
            SharedLimits::Redis(store) => limit.store(store.clone()),
        }
    }

    async fn ping(&self) -> Result<(), String> {
        let pinged = match self {
            SharedLimits::Postgres(store) => store.ping().await,
            SharedLimits::Redis(store) => store.ping().await,
        };
        pinged.map_err(|e| e.to_string())
    }
}

/// The users API on the database `settings` name: connects to it and
/// brings its schema up to date first.
pub(crate) async fn app(settings: &Settings) -> Result<App, portico::Error> {
    let limit = RateLimit::try_per_client(settings.rate_capacity, settings.rate_refill_per_sec)
        .map_err(|err| portico::Error::Config {
            name: "PORTICO_RATE_CAPACITY / PORTICO_RATE_REFILL_PER_SEC".into(),
            message: err.to_string(),
        })?
        .authenticate_with(Arc::new(settings.jwt()?));
    let shared = match &settings.state_url {
        Some(url) => Some(SharedLimits::connect(url).await?),
        None => None,
    };
    let limit = match &shared {
        Some(shared) => shared.limit(limit),
        None => limit,
    };
    let store = UserStore::connect(&settings.database_url).await?;
    let tasks = store.task_queue().await?;
    // Keys live in the users' database: a user and the key that created
    // it commit together, and survive a restart.
    let idempotency = Idempotency::default()
        .shared_store(store.idempotency_store().await?)
        .only("/users")
        .ttl(settings.idempotency_ttl)
        .lease(settings.idempotency_lease);
    let mut metrics = store.watched(Metrics::new()).queue("default", &tasks);
    if let Some(token) = &settings.metrics_token {
        metrics = metrics.token(token.clone());
    }
    Ok(App::new()
        // A user is a few hundred bytes; nobody needs to send a megabyte.
        .body_limit(16 * 1024)
        .wrap(RequestId::default())
        .wrap(AccessLog)
        .wrap(CatchPanic)
        .wrap(limit)
        .wrap(idempotency)
        .provide(settings.jwt()?)
        .workers(
            Workers::new(&tasks)
                .task::<WelcomeEmail>()
                .queue("default", 2)
                .lease(settings.task_lease),
        )
        .provide(store)
        .provide(tasks)
        .paging(settings.paging())
        .mount(routes![
            list_users,
            create_user,
            get_user,
            delete_user,
            get_task
        ])
        .health_with(|store: Dep<UserStore>, tasks: Dep<TaskQueue>| {
            HealthChecker::new()
                .register("db", true, move || {
                    let store = Dep::clone(&store);
                    async move { store.ping().await }
                })
                .register("queue", true, move || {
                    let tasks = Dep::clone(&tasks);
                    async move { tasks.ping().await }
                })
                // Not critical: without it each instance limits on its own.
                .register("ratelimit", false, move || {
                    let shared = shared.clone();
                    async move {
                        match shared {
                            Some(shared) => shared.ping().await,
                            None => Ok(()),
                        }
                    }
                })
        })
        // `GET /metrics`: exempt from the rate limit, like the health
        // routes, so a scraper never meets it.
        .metrics(metrics)
        // `GET /openapi.json` and `GET /docs`, from the declarations above.
        .openapi(
            Info::new("Users API", env!("CARGO_PKG_VERSION")).description(
                "Portico's flagship: users, their welcome emails, and the tasks that send them.",
            ),
        ))
}
