//! A test client that sends requests to an app without a socket, with
//! dependency overrides.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use portico_runtime::{App, testing::TestClient};
//!
//! let client = TestClient::new(App::new()).await;
//! let response = client.get("/nowhere").send().await;
//! assert_eq!(response.status(), 404);
//! assert_eq!(response.json()["success"], false);
//! # });
//! ```

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::app::App;
use crate::body::Body;
use crate::error::BuildError;
use crate::inject::{AsyncFactory, Factory};
use crate::service::Service;

/// Sends requests straight to a built app.
#[derive(Debug, Clone)]
pub struct TestClient {
    service: Service,
}

impl TestClient {
    /// Builds `app`.
    ///
    /// # Panics
    /// When the app does not build, with every problem in the message: a
    /// test of a broken app should fail right here.
    pub async fn new(app: App) -> Self {
        match app.build().await {
            Ok(service) => TestClient { service },
            Err(err) => panic!("{err}"),
        }
    }

    /// A client for an already built app.
    pub fn from_service(service: Service) -> Self {
        TestClient { service }
    }

    /// A client for `app` with some of its dependencies replaced, as a
    /// test swaps a real mailer for one that records:
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use portico_runtime::{App, testing::TestClient};
    ///
    /// struct Mailer { transport: &'static str }
    ///
    /// let app = App::new().provide(Mailer { transport: "smtp" });
    /// let client = TestClient::builder(app)
    ///     .override_dep(Mailer { transport: "memory" })
    ///     .build()
    ///     .await;
    /// let mailer = client.service().container().get::<Mailer>().unwrap();
    /// assert_eq!(mailer.transport, "memory");
    /// # });
    /// ```
    pub fn builder(app: App) -> TestClientBuilder {
        TestClientBuilder { app }
    }

    /// The app under test.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// A request with any method.
    pub fn request(&self, method: Method, path: &str) -> TestRequest<'_> {
        TestRequest {
            client: self,
            request: http::Request::builder().method(method).uri(path),
            body: Bytes::new(),
        }
    }
}

/// Builds a [`TestClient`] whose app has some dependencies replaced.
///
/// An override takes the place of whatever provided its type (a value or
/// a factory), for this client only; the whole dependency graph is still
/// verified with the overrides in place, so a fake that needs something
/// nothing provides fails the build like any other provider.
#[derive(Debug)]
#[must_use = "a TestClientBuilder does nothing until it is built"]
pub struct TestClientBuilder {
    app: App,
}

impl TestClientBuilder {
    /// Replaces the provider of `T` with `value`.
    pub fn override_dep<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.app = self.app.forget::<T>().provide(value);
        self
    }

    /// Replaces the provider of the factory's output with the factory
    /// (its arguments injected).
    pub fn override_with<Args, F>(mut self, factory: F) -> Self
    where
        F: Factory<Args>,
        F::Output: Send + Sync + 'static,
    {
        self.app = self.app.forget::<F::Output>().provide_with(factory);
        self
    }

    /// Replaces the provider of the async factory's output with it.
    pub fn override_async<Args, F>(mut self, factory: F) -> Self
    where
        F: AsyncFactory<Args>,
        F::Output: Send + Sync + 'static,
    {
        self.app = self.app.forget::<F::Output>().provide_async(factory);
        self
    }

    /// Builds the app with the overrides, or every problem found.
    pub async fn try_build(self) -> Result<TestClient, BuildError> {
        Ok(TestClient {
            service: self.app.build().await?,
        })
    }

    /// Builds the app with the overrides.
    ///
    /// # Panics
    /// When the app does not build, with every problem in the message.
    pub async fn build(self) -> TestClient {
        match self.try_build().await {
            Ok(client) => client,
            Err(err) => panic!("{err}"),
        }
    }
}

macro_rules! methods {
    ($($name:ident => $method:ident),*) => {
        impl TestClient {$(
            #[doc = concat!("A ", stringify!($method), " request.")]
            pub fn $name(&self, path: &str) -> TestRequest<'_> {
                self.request(Method::$method, path)
            }
        )*}
    };
}

methods!(get => GET, post => POST, put => PUT, patch => PATCH, delete => DELETE, head => HEAD, options => OPTIONS);

/// A request being built by a [`TestClient`].
#[derive(Debug)]
#[must_use = "a TestRequest does nothing until it is sent"]
pub struct TestRequest<'c> {
    client: &'c TestClient,
    request: http::request::Builder,
    body: Bytes,
}

impl TestRequest<'_> {
    /// Adds a header. An invalid name or value makes [`send`](Self::send) panic.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.request = self.request.header(name, value);
        self
    }

    /// Sets a JSON body and `Content-Type: application/json`.
    pub fn json(mut self, value: &impl Serialize) -> Self {
        let body = serde_json::to_vec(value).expect("test request body must serialise");
        self.request = self.request.header(CONTENT_TYPE, "application/json");
        self.body = body.into();
        self
    }

    /// Sets a raw body (no content type).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sends the request and reads the whole response.
    pub async fn send(self) -> TestResponse {
        let request = self
            .request
            .body(Body::full(self.body))
            .expect("a valid test request");
        let response = self.client.service.call(request).await;
        let (parts, body) = response.into_parts();
        let body = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(err) => panic!("reading the response body failed: {err}"),
        };
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }
}

/// A response read in full by a [`TestClient`].
#[derive(Debug, Clone)]
pub struct TestResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl TestResponse {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// One header as text, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }

    /// The body as text.
    ///
    /// # Panics
    /// When the body is not UTF-8.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("response body is not UTF-8")
    }

    /// The body as a JSON value.
    ///
    /// # Panics
    /// When the body is not JSON, with the body in the message.
    pub fn json(&self) -> serde_json::Value {
        self.json_as()
    }

    /// The body deserialised as `T`.
    ///
    /// # Panics
    /// When the body does not deserialise, with the body in the message.
    pub fn json_as<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "response body is not the expected JSON ({err}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}
