//! Interop with the tower ecosystem: any `tower::Layer` can be a Portico
//! layer (`App::layer`), and a built app is a `tower::Service`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;

use super::{Middleware, Next, Request};
use crate::body::{Body, BoxError};
use crate::response::{ApiError, IntoResponse, Response};
use crate::service::Service;

/// The rest of the onion as a `tower::Service`, for a tower layer to wrap.
/// It serves one request: a layer that calls it twice (a retry) gets a 500.
#[derive(Debug)]
pub struct NextService(Option<Next>);

impl tower::Service<Request> for NextService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self.0.take() {
            Some(next) => Box::pin(async move { Ok(next.run(request).await) }),
            None => Box::pin(async {
                tracing::error!("a tower layer called the inner service twice");
                Ok(ApiError::internal("internal server error").into_response())
            }),
        }
    }
}

/// A `tower::Layer` used as Portico middleware (see `App::layer`).
#[derive(Debug, Clone)]
pub struct TowerLayer<L>(pub L);

impl<L, S, B> Middleware for TowerLayer<L>
where
    L: tower::Layer<NextService, Service = S> + Send + Sync + 'static,
    S: tower::Service<Request, Response = http::Response<B>> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    async fn call(&self, request: Request, next: Next) -> Response {
        let mut service = self.0.layer(NextService(Some(next)));
        // Errors are boxed at once: a layer's error type need not be `Send`.
        let ready =
            std::future::poll_fn(|cx| service.poll_ready(cx).map_err(Into::<BoxError>::into)).await;
        let outcome = match ready {
            Ok(()) => service.call(request).await.map_err(Into::<BoxError>::into),
            Err(err) => Err(err),
        };
        match outcome {
            Ok(response) => response.map(Body::new),
            Err(err) => {
                tracing::error!(error = %err, "a tower layer failed");
                ApiError::internal("internal server error").into_response()
            }
        }
    }
}

/// A built app serves any request whose body is an `http_body::Body`, so it
/// can be embedded in a tower stack or driven with `tower::ServiceExt`.
impl<B> tower::Service<http::Request<B>> for Service
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let service = self.clone();
        Box::pin(async move { Ok(service.call(request.map(Body::new)).await) })
    }
}
