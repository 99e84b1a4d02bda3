//! One operation (a route) as the document describes it, filled in by the
//! route's arguments, its return type and the layers that cover it.

use std::collections::BTreeMap;

use http::Method;
use schemars::JsonSchema;
use serde_json::{Map, Value, json};

use super::Schemas;
use super::refs::component;
use crate::validate::SchemaRules;

/// The app's bounds that extractors document (page sizes, body size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The page size when none is asked for.
    pub page_size_default: u32,
    /// The largest page size.
    pub page_size_max: u32,
    /// How deep numbered pages go, in items.
    pub max_offset: u64,
    /// The largest request body, in bytes.
    pub body_limit: usize,
}

/// How a route lists: the `meta` its envelope carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Listing {
    /// No listing: `{success, data, error}`.
    #[default]
    None,
    /// Numbered pages: `meta: {total, page, page_size, pages}`.
    Numbered,
    /// Cursor pages: `meta: {limit, next, prev}`, a `Link` header.
    Cursor,
    /// Either, as the query asks.
    Both,
}

/// Whether the route needs a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    None,
    Optional,
    Required,
}

/// One operation of the document, as the route's declarations describe it.
#[derive(Debug)]
pub struct Operation<'d> {
    method: &'d Method,
    path: &'d str,
    schemas: &'d mut Schemas,
    limits: Limits,
    parameters: Vec<Value>,
    /// Query objects whose properties become parameters once their rules
    /// are applied: `(schema, optional)`.
    query_objects: Vec<(Value, bool)>,
    body: Option<Value>,
    /// The schema the last extractor read (a body or a query object): the
    /// one its `Validate` rules constrain.
    payload: Option<Value>,
    responses: BTreeMap<String, Value>,
    success_status: Option<u16>,
    success_headers: Map<String, Value>,
    security: Security,
    listing: Listing,
    optional: bool,
    summary: Option<String>,
    description: Option<String>,
    extensions: Map<String, Value>,
}

impl<'d> Operation<'d> {
    pub(crate) fn new(
        method: &'d Method,
        path: &'d str,
        schemas: &'d mut Schemas,
        limits: Limits,
    ) -> Self {
        Operation {
            method,
            path,
            schemas,
            limits,
            parameters: Vec::new(),
            query_objects: Vec::new(),
            body: None,
            payload: None,
            responses: BTreeMap::new(),
            success_status: Some(200),
            success_headers: Map::new(),
            security: Security::None,
            listing: Listing::None,
            optional: false,
            summary: None,
            description: None,
            extensions: Map::new(),
        }
    }

    /// The route's method.
    pub fn method(&self) -> &Method {
        self.method
    }

    /// The route's path, in Portico's `<param>` syntax.
    pub fn path(&self) -> &str {
        self.path
    }

    /// The app's bounds.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The schema of `T` as a request reads it (serde's deserialising
    /// view): a `$ref` into the components for a named type.
    pub fn request_schema<T: JsonSchema>(&mut self) -> Value {
        self.schemas.request::<T>()
    }

    /// The schema of `T` as a response writes it (serde's serialising
    /// view).
    pub fn response_schema<T: JsonSchema>(&mut self) -> Value {
        self.schemas.response::<T>()
    }

    /// Folds `rules` (a type's `Validate::describe`) into the schema the
    /// last extractor read, so that the published constraints are the
    /// checked ones.
    pub fn constrain(&mut self, rules: fn(&mut SchemaRules)) {
        if let Some(payload) = self.payload.clone() {
            self.schemas.constrain(&payload, rules);
        }
    }

    /// Sets the summary (the first line of the handler's doc comment) and
    /// the description (all of it).
    pub fn doc(&mut self, summary: &str, description: &str) {
        if !summary.is_empty() {
            self.summary = Some(summary.to_owned());
        }
        if !description.is_empty() && description != summary {
            self.description = Some(description.to_owned());
        }
    }

    /// A path parameter; `schema` is `None` for a type without
    /// `JsonSchema` (published as a string). A parameter that is not text
    /// can fail to parse: a 400.
    pub fn path_param(&mut self, name: &str, schema: Option<Value>) {
        let schema = schema.unwrap_or_else(|| json!({"type": "string"}));
        let text = schema.get("type").and_then(Value::as_str) == Some("string")
            && schema.get("format").is_none();
        self.parameter(json!({"name": name, "in": "path", "required": true, "schema": schema}));
        if !text {
            self.error(400, "a path parameter does not parse as its type");
        }
    }

    /// A query parameter.
    pub fn query(&mut self, name: &str, schema: Value, description: &str) {
        self.parameter(json!({
            "name": name, "in": "query", "required": false,
            "schema": schema, "description": description,
        }));
    }

    /// The properties of an object schema (a `$ref` to one), each a query
    /// parameter; its `Validate` rules may still follow.
    pub fn query_object(&mut self, schema: Value) {
        self.payload = Some(schema.clone());
        self.query_objects.push((schema, self.optional));
    }

    /// A request header.
    pub fn header(&mut self, name: &str, required: bool, schema: Value, description: &str) {
        self.parameter(json!({
            "name": name, "in": "header", "required": required && !self.optional,
            "schema": schema, "description": description,
        }));
    }

    fn parameter(&mut self, parameter: Value) {
        let same = |p: &Value| p["name"] == parameter["name"] && p["in"] == parameter["in"];
        if !self.parameters.iter().any(same) {
            self.parameters.push(parameter);
        }
    }

    /// The request body, of `content_type`.
    pub fn body(&mut self, content_type: &str, schema: Value) {
        self.payload = Some(schema.clone());
        self.body = Some(json!({
            "required": !self.optional,
            "content": { content_type: { "schema": schema } },
        }));
    }

    /// An error the route can answer with: the failure envelope.
    pub fn error(&mut self, status: u16, description: &str) {
        self.error_with(status, description, Map::new());
    }

    /// An error the route can answer with, with response headers (name →
    /// header object).
    pub fn error_with(&mut self, status: u16, description: &str, headers: Map<String, Value>) {
        let schema = if status == 422 {
            "ValidationFailure"
        } else {
            "Failure"
        };
        self.add_response(
            status.to_string(),
            description,
            json_content(component(schema)),
            headers,
        );
    }

    fn add_response(
        &mut self,
        key: String,
        description: &str,
        content: Value,
        headers: Map<String, Value>,
    ) {
        let response = self
            .responses
            .entry(key)
            .or_insert_with(|| json!({"description": description}));
        if let Some(described) = response["description"].as_str()
            && described != description
            && !described.contains(description)
        {
            response["description"] = Value::String(format!("{described}; or {description}"));
        }
        if !content.is_null() {
            response["content"] = content;
        }
        add_headers(response, &headers);
    }

    /// A header on the success responses (`Location`, `ETag`, `Link`).
    pub fn success_header(&mut self, name: &str, description: &str) {
        self.success_headers.insert(
            name.to_owned(),
            json!({"description": description, "schema": {"type": "string"}}),
        );
    }

    /// The success response's status (201 for `Created`); `None` when the
    /// handler picks it (`2XX`).
    pub fn success_status(&mut self, status: Option<u16>) {
        self.success_status = status;
    }

    /// The success response: `schema` of `content_type`, or no body.
    pub fn respond(&mut self, content_type: Option<&str>, schema: Value) {
        let key = self
            .success_status
            .map_or_else(|| "2XX".to_owned(), |s| s.to_string());
        let description = match self.success_status {
            Some(201) => "created",
            Some(204) => "done, nothing to return",
            Some(_) => "success",
            None => "a success chosen by the handler",
        };
        let content = content_type.map_or(Value::Null, |ty| json!({ ty: {"schema": schema} }));
        self.add_response(key, description, content, Map::new());
    }

    /// The success response in the envelope, `data` of `schema`, with the
    /// `meta` the route's listing gives.
    pub fn respond_envelope(&mut self, data: Value) {
        let envelope = match self.listing {
            Listing::None => json!({
                "type": "object",
                "required": ["success", "data", "error"],
                "properties": {
                    "success": {"const": true},
                    "data": data,
                    "error": {"type": "null"},
                },
            }),
            listing => {
                let meta = match listing {
                    Listing::Numbered => component("PageMeta"),
                    Listing::Cursor => component("CursorMeta"),
                    _ => json!({"oneOf": [component("PageMeta"), component("CursorMeta")]}),
                };
                json!({
                    "type": "object",
                    "required": ["success", "data", "meta"],
                    "properties": {"success": {"const": true}, "data": data, "meta": meta},
                })
            }
        };
        self.respond(Some("application/json"), envelope);
    }

    /// Any other error the handler returns (an `ApiError`): the failure
    /// envelope under `default`.
    pub fn default_error(&mut self) {
        self.add_response(
            "default".to_owned(),
            "an error the handler returns",
            json_content(component("Failure")),
            Map::new(),
        );
    }

    /// The route needs a bearer token (when not inside
    /// [`optionally`](Operation::optionally)): 401 without a valid one.
    pub fn bearer(&mut self) {
        self.security = match (self.optional, self.security) {
            (_, Security::Required) | (false, _) => Security::Required,
            (true, _) => Security::Optional,
        };
        let mut headers = Map::new();
        headers.insert(
            "WWW-Authenticate".into(),
            json!({"description": "the scheme to authenticate with", "schema": {"type": "string"}}),
        );
        self.error_with(401, "no bearer token, or not a valid one", headers);
    }

    /// How the route lists.
    pub fn listing(&mut self, listing: Listing) {
        self.listing = match (self.listing, listing) {
            (Listing::None, new) => new,
            (old, new) if old == new => old,
            _ => Listing::Both,
        };
    }

    /// Runs `describe` for an extractor that may be missing (`Option<T>`):
    /// what it reads becomes optional.
    pub fn optionally(&mut self, describe: impl FnOnce(&mut Self)) {
        let was = std::mem::replace(&mut self.optional, true);
        describe(self);
        self.optional = was;
    }

    /// A return type with no description ([`DescribeResponse`]): any
    /// success, named in `x-portico-undocumented` so that a reader (and
    /// the document's review) sees what is missing.
    ///
    /// [`DescribeResponse`]: super::DescribeResponse
    pub fn undocumented(&mut self, type_name: &str) {
        self.success_status(None);
        self.respond(None, Value::Null);
        self.default_error();
        let listed = self
            .extensions
            .entry("x-portico-undocumented")
            .or_insert_with(|| json!([]));
        if let Some(listed) = listed.as_array_mut() {
            listed.push(json!(type_name));
        }
    }

    /// A response with no body (a 304).
    pub fn empty_response(&mut self, status: u16, description: &str) {
        self.add_response(status.to_string(), description, Value::Null, Map::new());
    }

    /// A vendor extension (`x-…`) on the operation.
    pub fn extension(&mut self, name: &str, value: Value) {
        self.extensions.insert(name.to_owned(), value);
    }

    /// The operation object, with `operation_id`; 500 and 503 apply to
    /// every route (a panic, a database that is down, shutting down).
    pub(crate) fn finish(mut self, operation_id: &str) -> Value {
        for (schema, optional) in std::mem::take(&mut self.query_objects) {
            for parameter in self.schemas.query_parameters(&schema, optional) {
                self.parameter(parameter);
            }
        }
        self.error(
            500,
            "the server failed (a bug, a panic): the request may be retried",
        );
        let mut headers = Map::new();
        headers.insert(
            "Retry-After".into(),
            json!({"description": "seconds to wait", "schema": {"type": "integer"}}),
        );
        self.error_with(
            503,
            "a dependency is unavailable, or the server is shutting down: retry later",
            headers,
        );
        if !self
            .responses
            .keys()
            .any(|k| k.starts_with('2') || k == "default")
        {
            self.respond(None, Value::Null);
        }
        for (status, response) in &mut self.responses {
            if status.starts_with('2') {
                add_headers(response, &self.success_headers);
            }
        }
        let mut op = Map::new();
        op.insert("operationId".into(), operation_id.into());
        if let Some(summary) = self.summary {
            op.insert("summary".into(), summary.into());
        }
        if let Some(description) = self.description {
            op.insert("description".into(), description.into());
        }
        if !self.parameters.is_empty() {
            op.insert("parameters".into(), Value::Array(self.parameters));
        }
        if let Some(body) = self.body {
            op.insert("requestBody".into(), body);
        }
        op.insert("responses".into(), json!(self.responses));
        match self.security {
            Security::None => {}
            Security::Required => {
                op.insert("security".into(), json!([{"bearerAuth": []}]));
            }
            Security::Optional => {
                op.insert("security".into(), json!([{}, {"bearerAuth": []}]));
            }
        }
        op.extend(self.extensions);
        Value::Object(op)
    }
}

/// Adds `headers` (name → header object) to a response object.
fn add_headers(response: &mut Value, headers: &Map<String, Value>) {
    if headers.is_empty() {
        return;
    }
    if let Some(response) = response.as_object_mut()
        && let Value::Object(all) = response.entry("headers").or_insert_with(|| json!({}))
    {
        all.extend(headers.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}
