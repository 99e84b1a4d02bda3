//! The app's OpenAPI 3.1 document, put together from its routes and the
//! layers that cover them when the app is built, and served from memory:
//! `GET /openapi.json`, and with the `docs` feature `GET /docs`, an
//! interactive page (Swagger UI) whose assets ship inside the crate.

#[cfg(feature = "docs")]
mod page;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method};
use serde_json::{Map, Value, json};

use crate::extract::RequestContext;
use crate::handler::{HandlerFuture, Route, handler_future};
use crate::inject::{Dep, Inject, Needs};
use crate::openapi::{Limits, Operation, Schemas};
use crate::response::{ApiError, IntoResponse, Response};
use crate::router::covers;
use crate::service::Layer;

/// What the document says of the API as a whole: `info`.
///
/// ```
/// use portico_runtime::docs::Info;
///
/// let info = Info::new("Users API", "1.0.0").description("Users and their welcome emails.");
/// ```
#[derive(Debug, Clone)]
pub struct Info {
    title: String,
    version: String,
    description: Option<String>,
}

impl Info {
    /// The API's title and version (the API's, not Portico's).
    pub fn new(title: impl Into<String>, version: impl Into<String>) -> Self {
        Info {
            title: title.into(),
            version: version.into(),
            description: None,
        }
    }

    /// A description (CommonMark).
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }
}

/// The layers of an app, as the document needs them: each route is
/// covered by the global ones and the scoped ones whose prefix covers it.
pub(crate) struct Layers<'a> {
    pub(crate) global: &'a [Arc<dyn Layer>],
    pub(crate) scoped: &'a [(String, Arc<dyn Layer>)],
}

/// The OpenAPI 3.1 document of `routes`.
pub(crate) fn document(info: &Info, routes: &[Route], layers: Layers<'_>, limits: Limits) -> Value {
    let mut schemas = Schemas::default();
    let mut paths: Map<String, Value> = Map::new();
    let mut ids: HashMap<&str, usize> = HashMap::new();
    let mut bearer = false;
    for route in routes.iter().filter(|route| route.is_documented()) {
        let path = template(route.path());
        let mut op = Operation::new(route.method(), route.path(), &mut schemas, limits);
        route.describe(&mut op);
        for layer in layers.global {
            layer.describe(&mut op);
        }
        for (prefix, layer) in layers.scoped {
            if covers(prefix, route.path()) {
                layer.describe(&mut op);
            }
        }
        let seen = ids.entry(route.name()).or_insert(0);
        *seen += 1;
        let id = match *seen {
            1 => route.name().to_owned(),
            n => format!("{}_{n}", route.name()),
        };
        let operation = op.finish(&id);
        bearer |= operation.get("security").is_some();
        let item = paths.entry(path).or_insert_with(|| json!({}));
        item[route.method().as_str().to_ascii_lowercase()] = operation;
    }
    let responses = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op.get_mut("responses"));
    let mut components = json!({ "schemas": schemas.into_components(responses) });
    if bearer {
        components["securitySchemes"] = json!({
            "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        });
    }
    let mut info_object = json!({"title": info.title, "version": info.version});
    if let Some(description) = &info.description {
        info_object["description"] = json!(description);
    }
    json!({
        "openapi": "3.1.0",
        "info": info_object,
        "paths": paths,
        "components": components,
    })
}

/// `/users/<id>` → `/users/{id}`; a catch-all `<rest..>` is `{rest}`
/// (OpenAPI has no multi-segment parameter: its value may hold `/`).
fn template(path: &str) -> String {
    path.replace("..>", "}").replace('<', "{").replace('>', "}")
}

/// The document, serialised once when the app is built.
#[derive(Debug, Clone, Default)]
pub(crate) struct Published(Arc<OnceLock<Bytes>>);

impl Published {
    pub(crate) fn set(&self, document: &Value) {
        // A `Value` always serialises.
        let bytes = serde_json::to_vec_pretty(document).unwrap_or_default();
        let _ = self.0.set(Bytes::from(bytes));
    }
}

fn declare_published(needs: &mut Needs) {
    <Dep<Published> as Inject>::declare(needs);
}

fn openapi_json<'r>(ctx: &'r mut RequestContext<'_>) -> HandlerFuture<'r> {
    let published = <Dep<Published> as Inject>::resolve(&mut ctx.scope());
    handler_future(async move {
        match published.0.get() {
            Some(document) => {
                let mut response = Response::new(crate::body::Body::from(document.clone()));
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                response
            }
            None => {
                ApiError::unavailable("the document is made when the app is built").into_response()
            }
        }
    })
}

/// `GET /openapi.json` (and the `/docs` page with the `docs` feature),
/// themselves left out of the document.
pub(crate) fn routes() -> Vec<Route> {
    let document = Route::new(
        Method::GET,
        "/openapi.json",
        "openapi_json",
        openapi_json,
        declare_published,
    )
    .undocumented();
    #[allow(unused_mut)]
    let mut routes = vec![document];
    #[cfg(feature = "docs")]
    routes.extend(page::routes());
    routes
}
