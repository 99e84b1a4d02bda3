//! The application builder: routes, dependencies and configuration in,
//! a verified [`Service`] out.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::caching::ResponseCache;
use crate::docs::{Info, Layers, Published};
use crate::error::{BuildError, BuildProblem};
use crate::extract::{Paging, Settings};
use crate::handler::Route;
use crate::health::HealthChecker;
use crate::inject::{Needs, Registry, RequestFactory};
use crate::metrics::ServerStats;
use crate::openapi::Limits;
use crate::queue::Workers;
use crate::router::covers;
use crate::router::{InsertError, Router};
use crate::server::{Server, ServerConfig};
use crate::service::{HttpMetrics, Layer, Middleware, Pipeline, RouteEntry, Service};
use crate::shutdown::Shutdown;
use crate::telemetry::{Metrics, Scrape, Sources};

/// Default largest request body a body extractor reads: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// A Portico application under construction.
///
/// Dependencies are registered with `provide` (a ready value),
/// `provide_with` (a sync factory whose arguments are injected),
/// `provide_async` (an async factory, run by [`build`](App::build)) and
/// `provide_request` (a value made per request):
///
/// ```
/// use portico_runtime::{App, inject::Dep};
///
/// struct Config { smtp: String }
/// struct Mailer { smtp: String }
///
/// let app = App::new()
///     .provide(Config { smtp: "smtp.example.com".into() })
///     .provide_with(|config: Dep<Config>| Mailer { smtp: config.smtp.clone() });
/// assert!(app.verify().is_ok());
/// ```
///
/// ```no_run
/// # async fn run(routes: Vec<portico_runtime::Route>) -> Result<(), portico_runtime::Error> {
/// use portico_runtime::App;
///
/// App::new().mount(routes).serve("127.0.0.1:8080").await
/// # }
/// ```
#[derive(Debug)]
#[must_use = "an App does nothing until it is built or served"]
pub struct App {
    routes: Vec<Route>,
    body_limit: usize,
    paging: Paging,
    registry: Registry,
    shutdown: Shutdown,
    responses: ResponseCache,
    server: ServerConfig,
    global: Vec<Arc<dyn Layer>>,
    scoped: Vec<(String, Arc<dyn Layer>)>,
    workers: Vec<Workers>,
    openapi: Option<(Info, Published)>,
    metrics: Option<(Metrics, Scrape)>,
}

impl Default for App {
    fn default() -> Self {
        let shutdown = Shutdown::new();
        let mut registry = Registry::default();
        // Every app provides its shutdown signal to whoever must react,
        // and its response cache to the handlers that invalidate it.
        registry.provide(shutdown.clone());
        let responses = ResponseCache::default();
        registry.provide(responses.clone());
        App {
            routes: Vec::new(),
            body_limit: DEFAULT_BODY_LIMIT,
            paging: Paging::default(),
            registry,
            shutdown,
            responses,
            server: ServerConfig::default(),
            global: Vec::new(),
            scoped: Vec::new(),
            workers: Vec::new(),
            openapi: None,
            metrics: None,
        }
    }
}

impl App {
    /// An app with no routes and the default configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds routes, usually `routes![a, b, c]`. Routes keep the order in
    /// which they were mounted.
    pub fn mount(mut self, routes: impl IntoIterator<Item = Route>) -> Self {
        self.routes.extend(routes);
        self
    }

    crate::inject::provide_methods!(registry, "the app is built");

    /// Registers a request-scoped factory: it runs for every request that
    /// needs its value, with the request (its headers, the claims a
    /// middleware attached) and injected arguments. Singletons may not
    /// depend on it.
    pub fn provide_request<Args, F>(mut self, factory: F) -> Self
    where
        F: RequestFactory<Args>,
        F::Output: Send + Sync + 'static,
    {
        self.registry.provide_request(factory);
        self
    }

    /// Forgets whatever provides `T` (a test client's override takes its place).
    pub(crate) fn forget<T: 'static>(mut self) -> Self {
        self.registry.forget::<T>();
        self
    }

    /// The largest request body, in bytes, that `Json`, `Bytes` and
    /// `String` read; a larger one is a 413. Default: 1 MiB.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Replaces the server-side response cache (the routes that declare
    /// `cache(server …)` keep their answers in it): another bound,
    /// `ResponseCache::new(MemoryResponses::new(50_000))`, or a store that
    /// several instances share.
    pub fn response_cache(mut self, responses: ResponseCache) -> Self {
        self.registry.forget::<ResponseCache>();
        self.registry.provide(responses.clone());
        self.responses = responses;
        self
    }

    /// How listings page: the bounds of `Page` (`?page=&page_size=`) and
    /// `Cursor` (`?limit=&after=`), and the key that signs cursors (give
    /// every instance the same one). Default: [`Paging::default`].
    pub fn paging(mut self, paging: Paging) -> Self {
        self.paging = paging;
        self
    }

    /// Adds a global layer, around the router: every request goes through
    /// it, those that match no route too. The first layer added is the
    /// outermost.
    pub fn wrap(mut self, layer: impl Middleware) -> Self {
        self.global.push(Arc::new(layer));
        self
    }

    /// Adds a `tower::Layer` (tower-http's compression, tracing, …) as a
    /// global layer; see [`wrap`](App::wrap).
    pub fn layer<L>(self, layer: L) -> Self
    where
        crate::middleware::TowerLayer<L>: Middleware,
    {
        self.wrap(crate::middleware::TowerLayer(layer))
    }

    /// Adds a layer around the routes whose path starts with `prefix`
    /// (whole segments: `/admin` covers `/admin` and `/admin/users`, not
    /// `/administrators`). It runs after routing, before the extractors.
    pub fn wrap_prefix(mut self, prefix: &str, layer: impl Middleware) -> Self {
        self.scoped
            .push((prefix.trim_end_matches('/').to_owned(), Arc::new(layer)));
        self
    }

    /// Serves `GET /healthz` (liveness) and `GET /ready` (readiness from
    /// `checker`, 503 once shutdown begins).
    pub fn health(self, checker: crate::health::HealthChecker) -> Self {
        self.provide(checker).mount(crate::health::routes())
    }

    /// [`health`](App::health) with a checker made from the app's
    /// dependencies — those of `provide_async` too — when the app is
    /// built:
    ///
    /// ```
    /// use portico_runtime::{App, health::HealthChecker, inject::Dep};
    ///
    /// struct Db;
    /// impl Db {
    ///     async fn connect() -> Result<Db, std::io::Error> { Ok(Db) }
    ///     async fn ping(&self) -> Result<(), String> { Ok(()) }
    /// }
    ///
    /// let app = App::new()
    ///     .provide_async(Db::connect)
    ///     .health_with(|db: Dep<Db>| {
    ///         HealthChecker::new().register("db", true, move || {
    ///             let db = Dep::clone(&db);
    ///             async move { db.ping().await }
    ///         })
    ///     });
    /// assert!(app.verify().is_ok());
    /// ```
    pub fn health_with<Args, F>(self, checker: F) -> Self
    where
        F: crate::inject::Factory<Args, Output = crate::health::HealthChecker>,
    {
        self.provide_with(checker).mount(crate::health::routes())
    }

    /// Runs background tasks: `workers` start when the app is built, with
    /// their tasks' dependencies checked and resolved like the routes',
    /// and drain when it shuts down.
    pub fn workers(mut self, workers: Workers) -> Self {
        self.workers.push(workers);
        self
    }

    /// Serves the API's OpenAPI 3.1 document at `GET /openapi.json`, made
    /// from the routes' declarations and the layers that cover them when
    /// the app is built (see [`openapi_document`](App::openapi_document)),
    /// and with the `docs` feature an interactive page at `GET /docs`.
    pub fn openapi(mut self, info: Info) -> Self {
        let published = Published::default();
        self.registry.provide(published.clone());
        self.openapi = Some((info, published));
        self.mount(crate::docs::routes())
    }

    /// Counts every request by the OpenTelemetry HTTP conventions and
    /// serves `GET /metrics` (see [`Metrics`]): the HTTP server metrics,
    /// the server's connections and caught panics, the pools and queues
    /// `metrics` names, the health checks of [`health`](App::health), and
    /// what the app's layers count (rate limits, idempotency). Exempt
    /// from [`RateLimit`](crate::ratelimit::RateLimit) by default; left
    /// out of the OpenAPI document.
    pub fn metrics(mut self, metrics: Metrics) -> Self {
        let scrape = Scrape::default();
        self.registry.provide(scrape.clone());
        let route = crate::telemetry::route(metrics.serves());
        self.metrics = Some((metrics, scrape));
        self.mount([route])
    }

    /// The OpenAPI 3.1 document of the app as it stands (`None` without
    /// [`openapi`](App::openapi)): every route with its parameters, body,
    /// success response and every error the framework can answer it with.
    pub fn openapi_document(&self) -> Option<serde_json::Value> {
        let (info, _) = self.openapi.as_ref()?;
        let layers = Layers {
            global: &self.global,
            scoped: &self.scoped,
        };
        Some(crate::docs::document(
            info,
            &self.routes,
            layers,
            self.limits(),
        ))
    }

    fn limits(&self) -> Limits {
        Limits {
            page_size_default: self.paging.default_size(),
            page_size_max: self.paging.max_size(),
            max_offset: self.paging.max_offset_items(),
            body_limit: self.body_limit,
        }
    }

    /// The server's limits and timeouts (see [`ServerConfig`]).
    pub fn server_config(mut self, config: ServerConfig) -> Self {
        self.server = config;
        self
    }

    /// The route registry in registration order; its `Display` prints one
    /// `GET /users -> list_users` line per route.
    pub fn routes(&self) -> RouteTable<'_> {
        RouteTable(&self.routes)
    }

    /// Checks everything that can be checked before serving, and reports
    /// every problem at once: each route pattern, each pair of routes that
    /// could never be told apart, each dependency nothing provides, each
    /// dependency cycle and each singleton that needs a request-scoped value.
    pub fn verify(&self) -> Result<(), BuildError> {
        self.check().map(drop)
    }

    fn check(&self) -> Result<Router<usize>, BuildError> {
        let mut router = Router::new();
        let mut problems = Vec::new();
        for (index, route) in self.routes.iter().enumerate() {
            match router.insert(route.method().clone(), route.path(), index) {
                Ok(()) => {}
                Err(InsertError::Pattern(error)) => problems.push(BuildProblem::Pattern {
                    route: route.to_string(),
                    error,
                }),
                Err(InsertError::UnsupportedMethod(_)) => {
                    problems.push(BuildProblem::UnsupportedMethod(route.to_string()))
                }
                Err(InsertError::Conflict { existing, .. }) => {
                    problems.push(BuildProblem::Conflict {
                        first: self.routes[existing].to_string(),
                        second: route.to_string(),
                    })
                }
            }
        }
        let tasks = self.workers.iter().flat_map(|w| &w.tasks).map(|task| {
            let mut needs = Needs::default();
            (task.declare)(&mut needs);
            (format!("task {}", task.name), needs.into_vec())
        });
        let consumers: Vec<_> = self
            .routes
            .iter()
            .map(|r| (r.to_string(), r.needs()))
            .chain(tasks)
            .collect();
        problems.extend(
            self.registry
                .check(&consumers)
                .into_iter()
                .map(BuildProblem::Inject),
        );
        if problems.is_empty() {
            Ok(router)
        } else {
            Err(BuildError { problems })
        }
    }

    /// Verifies the app (see [`verify`](App::verify)), builds every
    /// singleton dependency (running async factories), resolves each
    /// route's dependencies and compiles the router.
    pub fn build(self) -> impl Future<Output = Result<Service, BuildError>> + Send + 'static {
        // Boxed, from a fn that is not generic: compiled once, here. As an
        // `async fn` awaited from `bind` (generic over the address), its
        // body was compiled again in every app.
        let building: Pin<Box<dyn Future<Output = Result<Service, BuildError>> + Send>> =
            Box::pin(self.build_service());
        building
    }

    async fn build_service(self) -> Result<Service, BuildError> {
        let router = self.check()?;
        if let (Some(document), Some((_, published))) = (self.openapi_document(), &self.openapi) {
            published.set(&document);
        }
        let container = self.registry.build().await.map_err(|problems| BuildError {
            problems: problems.into_iter().map(BuildProblem::Inject).collect(),
        })?;
        let mut problems = Vec::new();
        let mut task_slots = Vec::new();
        for workers in &self.workers {
            let mut slots = HashMap::new();
            for task in &workers.tasks {
                let mut needs = Needs::default();
                (task.declare)(&mut needs);
                let deps = container.route_deps(&needs.into_vec());
                if !deps.plan.is_empty() {
                    problems.push(BuildProblem::TaskNeedsRequest {
                        task: task.name.to_owned(),
                    });
                }
                slots.insert(task.name, Arc::from(deps.slots));
            }
            task_slots.push(slots);
        }
        if !problems.is_empty() {
            return Err(BuildError { problems });
        }
        for (workers, slots) in self.workers.into_iter().zip(task_slots) {
            workers.start(slots, &self.shutdown);
        }
        let stats = Arc::new(ServerStats::default());
        let http = self.metrics.map(|(config, scrape)| {
            let http = Arc::new(HttpMetrics::new(&self.routes));
            scrape.start(
                Sources {
                    config,
                    http: Arc::clone(&http),
                    server: Arc::clone(&stats),
                    layers: self
                        .global
                        .iter()
                        .chain(self.scoped.iter().map(|(_, layer)| layer))
                        .cloned()
                        .collect(),
                    health: container.get::<HealthChecker>(),
                },
                &self.shutdown,
            );
            http
        });
        let scoped = self.scoped;
        let routes = self
            .routes
            .into_iter()
            .map(|route| {
                let deps = container.route_deps(&route.needs());
                let stack = scoped
                    .iter()
                    .filter(|(prefix, _)| covers(prefix, route.path()))
                    .map(|(_, layer)| Arc::clone(layer))
                    .collect();
                RouteEntry::new(route, deps, stack, Arc::clone(&stats))
            })
            .collect();
        Ok(Service::new(Pipeline {
            global: self.global.into_boxed_slice(),
            router,
            routes,
            container,
            shutdown: self.shutdown,
            settings: Settings {
                body_limit: self.body_limit,
                body_idle_timeout: self.server.body_idle_timeout,
                body_timeout: self.server.body_timeout,
                paging: self.paging,
            },
            responses: self.responses,
            metrics: http,
            stats,
        }))
    }

    /// Builds the app and binds a listener (port 0 picks a free port; the
    /// bound address is `Server::local_addr`).
    pub async fn bind(
        self,
        addr: impl tokio::net::ToSocketAddrs,
    ) -> Result<Server, crate::error::Error> {
        let config = self.server.clone();
        let service = self.build().await?;
        Server::bind(service, config, addr).await
    }

    /// Builds, binds and serves until SIGINT or SIGTERM, then shuts down
    /// gracefully.
    pub async fn serve(
        self,
        addr: impl tokio::net::ToSocketAddrs,
    ) -> Result<(), crate::error::Error> {
        self.bind(addr).await?.run().await
    }
}

/// The route registry of an app, printed one route per line.
#[derive(Debug, Clone, Copy)]
pub struct RouteTable<'a>(&'a [Route]);

impl<'a> RouteTable<'a> {
    /// The routes, in registration order.
    pub fn iter(&self) -> std::slice::Iter<'a, Route> {
        self.0.iter()
    }
}

impl fmt::Display for RouteTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for route in self.0 {
            writeln!(f, "{route}")?;
        }
        Ok(())
    }
}
