//! The OpenAPI document an app publishes: made from the declarations
//! (routes, extractors, return types, `Validate` rules, layers), with
//! every error the framework can answer, and served with its docs page.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use portico::auth::{BearerAuth, Jwt};
use portico::caching::IfMatch;
use portico::docs::Info;
use portico::idempotency::Idempotency;
use portico::middleware::Timeout;
use portico::prelude::*;
use portico::ratelimit::RateLimit;
use portico::testing::TestClient;
use serde_json::{Value, json};

/// A user's address, validated where it is nested.
#[derive(Debug, Deserialize, Serialize, Validate, JsonSchema)]
struct Address {
    #[validate(length(min = 5, max = 5))]
    zip: String,
}

/// What `POST /things` reads.
#[derive(Debug, Deserialize, Validate, JsonSchema)]
#[validate(schema(function = consistent))]
struct NewThing {
    #[validate(length(min = 1, max = 20), does_not_contain(pattern = "admin"))]
    name: String,
    #[validate(email)]
    email: String,
    #[validate(url)]
    homepage: String,
    #[validate(range(min = 1, max = 10))]
    count: u32,
    #[validate(range(exclusive_min = 0.0, max = 1.5))]
    ratio: f64,
    #[validate(custom(function = shouted))]
    motto: String,
    #[validate(required)]
    nickname: Option<String>,
    password: String,
    #[validate(must_match(other = "password"))]
    password_again: String,
    #[validate(length(max = 3), nested)]
    addresses: Vec<Address>,
    #[validate(length(min = 1))]
    tags: std::collections::BTreeMap<String, String>,
    #[validate(regex(path = SLUG), contains(pattern = "-"))]
    slug: String,
    #[serde(default)]
    #[validate(length(max = 5))]
    alias: Patch<String>,
}

static SLUG: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new("^[a-z-]+$").unwrap());

fn consistent(_: &NewThing) -> Result<(), ValidationError> {
    Ok(())
}

fn shouted(value: &str) -> Result<(), ValidationError> {
    match value.chars().all(|c| !c.is_lowercase()) {
        true => Ok(()),
        false => Err(ValidationError::new("shouted")),
    }
}

/// A thing, as stored and as sent back.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Thing {
    id: i64,
    name: String,
    /// Sent back always; optional when read.
    #[serde(default)]
    note: String,
}

/// The filter of `GET /things`.
#[derive(Debug, Deserialize, Validate, JsonSchema)]
struct Filter {
    #[validate(length(min = 2))]
    q: String,
    #[allow(dead_code)]
    limit: Option<u8>,
}

/// A type with no schema: its route says so.
#[derive(Debug, Serialize)]
struct Opaque {
    secret: u8,
}

/// Lists things.
///
/// By name, `q` at least two characters long.
#[route(GET, "/things")]
async fn list_things(Query(filter): Query<Filter>) -> ApiResponse<Vec<Thing>> {
    let _ = filter;
    ApiResponse::ok(Vec::new())
}

/// Creates a thing.
#[route(POST, "/things")]
async fn create_thing(
    _who: Claims,
    Json(new): Json<NewThing>,
) -> Result<Created<ApiResponse<Thing>>, ApiError> {
    Ok(Created::at(
        "/things/1",
        ApiResponse::ok(Thing {
            id: 1,
            name: new.name,
            note: String::new(),
        }),
    ))
}

/// Replaces a thing: reads a `Thing`, sends one back.
#[route(PUT, "/things/<id>")]
async fn put_thing(id: i64, Json(thing): Json<Thing>) -> Json<Thing> {
    Json(Thing { id, ..thing })
}

#[route(GET, "/things/<id>", cache(max_age = 60))]
async fn get_thing(id: i64) -> ApiResponse<Thing> {
    ApiResponse::ok(Thing {
        id,
        name: "one".into(),
        note: String::new(),
    })
}

#[route(DELETE, "/things/<id>", role = "admin")]
async fn delete_thing(id: i64, precondition: IfMatch) -> Result<(), ApiError> {
    let _ = (id, precondition);
    Ok(())
}

#[route(GET, "/tags/<name>")]
async fn tag(name: String) -> String {
    name
}

#[route(GET, "/ping")]
async fn ping() -> &'static str {
    "pong"
}

#[route(GET, "/pages")]
async fn pages(page: Page) -> ApiResponse<Vec<u32>> {
    page.respond(Vec::new(), 0)
}

#[route(GET, "/cursors")]
async fn cursors(cursor: Cursor<i64>) -> ApiResponse<Vec<i64>> {
    cursor.page(Vec::new(), |id| *id)
}

#[route(GET, "/opaque")]
async fn opaque() -> ApiResponse<Opaque> {
    ApiResponse::ok(Opaque { secret: 7 })
}

fn jwt() -> Jwt {
    Jwt::new(b"the openapi tests' own secret, 32 bytes or more").unwrap()
}

fn app() -> App {
    App::new()
        .body_limit(4096)
        .provide(jwt())
        .wrap(
            RateLimit::per_client(100, 10.0)
                .exempt("/ping")
                .authenticate_with(Arc::new(jwt())),
        )
        .wrap(Idempotency::default().only("/things"))
        .wrap_prefix("/cursors", Timeout(Duration::from_secs(2)))
        .wrap_prefix("/pages", BearerAuth::new(Arc::new(jwt())))
        .mount(routes![
            list_things,
            create_thing,
            put_thing,
            get_thing,
            delete_thing,
            tag,
            ping,
            pages,
            cursors,
            opaque
        ])
        .openapi(Info::new("Things", "2.1.0").description("Things, tagged."))
}

fn document() -> Value {
    app().openapi_document().expect("the app serves a document")
}

fn operation<'d>(doc: &'d Value, method: &str, path: &str) -> &'d Value {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "{method} {path} in {:#}", doc["paths"]);
    op
}

fn statuses(op: &Value) -> Vec<String> {
    op["responses"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

fn component<'d>(doc: &'d Value, name: &str) -> &'d Value {
    let schema = &doc["components"]["schemas"][name];
    assert!(
        schema.is_object(),
        "component {name} in {:?}",
        doc["components"]["schemas"].as_object().unwrap().keys()
    );
    schema
}

fn parameters(op: &Value) -> BTreeMap<(String, String), Value> {
    op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let key = (
                p["in"].as_str().unwrap().to_owned(),
                p["name"].as_str().unwrap().to_owned(),
            );
            (key, p.clone())
        })
        .collect()
}

/// What the dependency-taking twin of a route reads from the app.
struct Shelf;

/// Creates a thing, its body read between two dependencies.
#[route(POST, "/shelved")]
async fn create_shelved(
    _before: Dep<Shelf>,
    Json(new): Json<NewThing>,
    _after: Dep<Shelf>,
) -> ApiResponse<String> {
    ApiResponse::ok(new.name)
}

/// Creates a thing.
#[route(POST, "/plain")]
async fn create_plain(Json(new): Json<NewThing>) -> ApiResponse<String> {
    ApiResponse::ok(new.name)
}

#[test]
fn a_dependency_adds_nothing_to_an_operation_and_leaves_the_body_rules_in_place() {
    let doc = App::new()
        .provide(Shelf)
        .mount(routes![create_shelved, create_plain])
        .openapi(Info::new("Shelves", "1.0.0"))
        .openapi_document()
        .expect("the app serves a document");
    let shelved = operation(&doc, "post", "/shelved");
    let plain = operation(&doc, "post", "/plain");
    assert_eq!(shelved["requestBody"], plain["requestBody"]);
    assert_eq!(parameters(shelved), parameters(plain));
    assert_eq!(statuses(shelved), statuses(plain));
    // The rules of the body read between the two dependencies are in
    // its schema: a `Dep<T>` after it folds nothing in, or over them.
    let name = &component(&doc, "NewThing")["properties"]["name"];
    assert_eq!(name["minLength"], 1, "{name}");
    assert_eq!(name["maxLength"], 20, "{name}");
}

#[test]
fn an_app_without_openapi_publishes_nothing() {
    assert!(App::new().mount(routes![tag]).openapi_document().is_none());
}

#[test]
fn document_names_the_api_and_every_route_by_its_handler() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["info"],
        json!({"title": "Things", "version": "2.1.0", "description": "Things, tagged."})
    );
    let mut routes: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            routes.push(format!(
                "{method} {path} {}",
                op["operationId"].as_str().unwrap()
            ));
        }
    }
    routes.sort();
    assert_eq!(
        routes,
        [
            "delete /things/{id} delete_thing",
            "get /cursors cursors",
            "get /opaque opaque",
            "get /pages pages",
            "get /ping ping",
            "get /tags/{name} tag",
            "get /things list_things",
            "get /things/{id} get_thing",
            "post /things create_thing",
            "put /things/{id} put_thing",
        ],
        "the document's own routes (/openapi.json, /docs) are not in it"
    );
    let list = operation(&doc, "get", "/things");
    assert_eq!(list["summary"], "Lists things.");
    assert_eq!(
        list["description"],
        "Lists things.\n\nBy name, `q` at least two characters long."
    );
    assert!(
        operation(&doc, "get", "/tags/{name}")
            .get("summary")
            .is_none()
    );
}

#[test]
fn every_route_lists_the_errors_the_framework_can_answer() {
    let doc = document();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            let statuses = statuses(op);
            for always in ["500", "503"] {
                assert!(
                    statuses.contains(&always.to_owned()),
                    "{}: {statuses:?}",
                    op["operationId"]
                );
            }
            assert_eq!(
                op["responses"]["500"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/Failure"
            );
        }
    }
    let create = operation(&doc, "post", "/things");
    assert_eq!(
        statuses(create),
        [
            "201", "400", "401", "408", "409", "413", "415", "422", "429", "500", "503", "default"
        ]
    );
    assert!(
        create["responses"]["413"]["description"]
            .as_str()
            .unwrap()
            .contains("4096 bytes")
    );
    assert_eq!(
        create["responses"]["422"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ValidationFailure"
    );
    assert_eq!(create["security"], json!([{"bearerAuth": []}]));
    assert!(create["responses"]["401"]["headers"]["WWW-Authenticate"].is_object());
    assert!(create["responses"]["429"]["headers"]["Retry-After"].is_object());
    let created = &create["responses"]["201"];
    for header in [
        "Location",
        "RateLimit",
        "RateLimit-Policy",
        "Idempotent-Replayed",
    ] {
        assert!(
            created["headers"][header].is_object(),
            "{header}: {created:#}"
        );
    }
    let key = &parameters(create)[&("header".into(), "Idempotency-Key".into())];
    assert_eq!(key["required"], false);

    let delete = operation(&doc, "delete", "/things/{id}");
    assert_eq!(
        statuses(delete),
        [
            "204", "400", "401", "403", "412", "429", "500", "503", "default"
        ],
        "a role is a 401 and a 403, `If-Match` a 412; the idempotency layer honours POST and PATCH only"
    );
}

#[test]
fn path_parameters_are_typed_and_only_typed_ones_can_fail_to_parse() {
    let doc = document();
    let get = operation(&doc, "get", "/things/{id}");
    let id = &parameters(get)[&("path".into(), "id".into())];
    assert_eq!(id["required"], true);
    assert_eq!(id["schema"], json!({"type": "integer", "format": "int64"}));
    assert!(statuses(get).contains(&"400".to_owned()));
    let tag = operation(&doc, "get", "/tags/{name}");
    assert_eq!(
        parameters(tag)[&("path".into(), "name".into())]["schema"],
        json!({"type": "string"})
    );
    assert_eq!(
        statuses(tag),
        ["200", "429", "500", "503"],
        "a string cannot fail to parse"
    );
    let ping = operation(&doc, "get", "/ping");
    assert_eq!(
        statuses(ping),
        ["200", "500", "503"],
        "exempt from the limiter"
    );
    assert_eq!(
        tag["responses"]["200"]["content"],
        json!({"text/plain; charset=utf-8": {"schema": {"type": "string"}}})
    );
}

#[test]
fn validate_rules_become_the_published_constraints() {
    let doc = document();
    let create = operation(&doc, "post", "/things");
    assert_eq!(create["requestBody"]["required"], true);
    assert_eq!(
        create["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/NewThing"
    );
    let thing = component(&doc, "NewThing");
    let field = |name: &str| &thing["properties"][name];
    assert_eq!(field("name")["minLength"], 1);
    assert_eq!(field("name")["maxLength"], 20);
    assert_eq!(
        field("name")["allOf"],
        json!([{"not": {"pattern": "admin"}}])
    );
    assert_eq!(field("email")["format"], "email");
    assert_eq!(field("homepage")["format"], "uri");
    assert_eq!(
        (
            field("count")["minimum"].as_f64(),
            field("count")["maximum"].as_f64()
        ),
        (Some(1.0), Some(10.0))
    );
    assert_eq!(field("ratio")["exclusiveMinimum"], 0.0);
    assert_eq!(field("ratio")["maximum"], 1.5);
    assert_eq!(
        field("motto")["x-portico-rules"],
        json!(["custom: shouted"])
    );
    assert!(
        field("motto")["description"]
            .as_str()
            .unwrap()
            .contains("custom: shouted")
    );
    assert_eq!(
        field("password_again")["x-portico-rules"],
        json!(["must_match: password"])
    );
    assert_eq!(thing["x-portico-rules"], json!(["schema: consistent"]));
    assert_eq!(field("addresses")["maxItems"], 3);
    assert_eq!(field("tags")["minProperties"], 1);
    // `required` on an `Option`: present, and not null.
    assert!(
        thing["required"]
            .as_array()
            .unwrap()
            .contains(&json!("nickname"))
    );
    assert_eq!(
        field("nickname")["type"],
        "string",
        "{:#}",
        field("nickname")
    );
    // `regex` by a path: its pattern; `contains`: a second one, escaped.
    assert_eq!(field("slug")["pattern"], "^[a-z-]+$");
    assert_eq!(field("slug")["allOf"], json!([{"pattern": r"\-"}]));
    // A `Patch`: absent or null or a value, the rules on the value.
    assert!(
        !thing["required"]
            .as_array()
            .unwrap()
            .contains(&json!("alias"))
    );
    assert_eq!(field("alias")["type"], json!(["string", "null"]));
    assert_eq!(field("alias")["maxLength"], 5);
    // `nested`: the field type's own rules, in its component.
    assert_eq!(
        component(&doc, "Address")["properties"]["zip"]["minLength"],
        5
    );
    assert_eq!(
        component(&doc, "Address")["properties"]["zip"]["maxLength"],
        5
    );
}

#[test]
fn query_structs_become_parameters_with_their_rules() {
    let doc = document();
    let list = operation(&doc, "get", "/things");
    let params = parameters(list);
    let q = &params[&("query".into(), "q".into())];
    assert_eq!(q["required"], true);
    assert_eq!(q["schema"]["minLength"], 2);
    let limit = &params[&("query".into(), "limit".into())];
    assert_eq!(limit["required"], false);
    assert!(statuses(list).contains(&"422".to_owned()));
}

#[test]
fn success_responses_wear_the_envelope_and_listings_their_meta() {
    let doc = document();
    let ok = &operation(&doc, "get", "/things/{id}")["responses"]["200"];
    let schema = &ok["content"]["application/json"]["schema"];
    assert_eq!(schema["required"], json!(["success", "data", "error"]));
    assert_eq!(schema["properties"]["success"], json!({"const": true}));
    assert_eq!(
        schema["properties"]["data"]["$ref"],
        "#/components/schemas/ThingResponse"
    );
    for header in ["Cache-Control", "ETag"] {
        assert!(ok["headers"][header].is_object(), "{header}");
    }
    assert!(operation(&doc, "get", "/things/{id}")["responses"]["304"].is_object());

    let pages = operation(&doc, "get", "/pages");
    let meta =
        &pages["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["meta"];
    assert_eq!(meta["$ref"], "#/components/schemas/PageMeta");
    let size = &parameters(pages)[&("query".into(), "page_size".into())];
    assert_eq!(size["schema"]["maximum"], 100);
    assert_eq!(size["schema"]["default"], 20);

    let cursors = operation(&doc, "get", "/cursors");
    let ok = &cursors["responses"]["200"];
    assert_eq!(
        ok["content"]["application/json"]["schema"]["properties"]["meta"]["$ref"],
        "#/components/schemas/CursorMeta"
    );
    assert!(ok["headers"]["Link"].is_object());
    let params = parameters(cursors);
    for name in ["limit", "after", "before"] {
        assert!(
            params.contains_key(&("query".into(), name.into())),
            "{name}"
        );
    }
    assert!(
        statuses(cursors).contains(&"504".to_owned()),
        "the scoped Timeout layer covers /cursors"
    );
    assert!(!statuses(&operation(&doc, "get", "/pages").clone()).contains(&"504".to_owned()));
    // A scoped `BearerAuth` puts the token on the routes it covers only.
    assert_eq!(pages["security"], json!([{"bearerAuth": []}]));
    assert!(statuses(pages).contains(&"401".to_owned()));
    assert!(cursors.get("security").is_none());
}

#[test]
fn a_type_read_and_written_differently_is_published_twice() {
    let doc = document();
    // `note` has a default: optional in a request, always in a response.
    let read = component(&doc, "Thing");
    assert!(
        !read["required"]
            .as_array()
            .unwrap()
            .contains(&json!("note"))
    );
    // Doc comments on types and fields become descriptions.
    assert_eq!(read["description"], "A thing, as stored and as sent back.");
    assert_eq!(
        read["properties"]["note"]["description"],
        "Sent back always; optional when read."
    );
    let written = component(&doc, "ThingResponse");
    assert!(
        written["required"]
            .as_array()
            .unwrap()
            .contains(&json!("note"))
    );
    let put = operation(&doc, "put", "/things/{id}");
    assert_eq!(
        put["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Thing"
    );
    assert_eq!(
        put["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ThingResponse",
        "Json<T> is sent as is, outside the envelope"
    );
}

#[test]
fn a_return_type_without_a_schema_is_named_not_guessed() {
    let doc = document();
    let op = operation(&doc, "get", "/opaque");
    assert_eq!(op["x-portico-undocumented"].as_array().unwrap().len(), 1);
    assert!(
        op["x-portico-undocumented"][0]
            .as_str()
            .unwrap()
            .contains("ApiResponse<openapi::Opaque>")
    );
    assert!(op["responses"]["2XX"].is_object());
}

/// Answers with a type it does not name.
#[route(GET, "/hidden")]
async fn hidden() -> impl IntoResponse {
    "hidden"
}

/// Answers with a type it does not name, inside one it does.
#[route(GET, "/hidden-or-not")]
async fn hidden_or_not() -> Result<impl IntoResponse, ApiError> {
    Ok::<_, ApiError>("maybe")
}

#[tokio::test]
async fn a_return_type_that_names_no_type_is_served_and_listed_as_undocumented() {
    let app = || {
        App::new()
            .mount(routes![hidden, hidden_or_not])
            .openapi(Info::new("Hidden", "1.0.0"))
    };
    let doc = app().openapi_document().expect("the app serves a document");
    for path in ["/hidden", "/hidden-or-not"] {
        let op = operation(&doc, "get", path);
        assert_eq!(
            op["x-portico-undocumented"],
            json!(["impl IntoResponse"]),
            "{path}: {op:#}"
        );
    }
    let client = TestClient::new(app()).await;
    let reply = client.get("/hidden-or-not").send().await;
    assert_eq!(reply.status(), 200);
}

#[tokio::test]
async fn the_document_is_served_as_built() {
    let client = TestClient::new(app()).await;
    let reply = client.get("/openapi.json").send().await;
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let served: Value = serde_json::from_slice(reply.bytes()).unwrap();
    assert_eq!(served, document());
}

#[tokio::test]
async fn the_docs_page_and_its_assets_are_served_from_the_crate() {
    let client = TestClient::new(app()).await;
    let page = client.get("/docs").send().await;
    assert_eq!(page.status(), 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    let html = page.text();
    let mut loaded = Vec::new();
    for attr in ["href=\"", "src=\""] {
        for piece in html.split(attr).skip(1) {
            loaded.push(piece.split('"').next().unwrap().to_owned());
        }
    }
    assert_eq!(
        loaded,
        [
            "/docs/swagger-ui.css",
            "/docs/swagger-ui-bundle.js",
            "/docs/init.js"
        ]
    );
    for path in &loaded {
        let asset = client.get(path).send().await;
        assert_eq!(asset.status(), 200, "{path}");
        assert!(asset.bytes().len() > 100, "{path}");
    }
    let init = client.get("/docs/init.js").send().await;
    assert!(init.text().contains("url: \"/openapi.json\""));
    assert!(
        init.text().contains("validatorUrl: null"),
        "no call to the online validator"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no other host: {html}"
    );
}

/// Says "hi" to `C:\temp`: a doc comment's escapes survive.
#[doc = r#"A raw line with "quotes"."#]
///
/// The rest.
#[route(GET, "/odd/<id>/<name>")]
pub(crate) async fn odd_signature(
    #[allow(unused_mut)] mut id: u32,
    name: String,
    Query(pairs): Query<std::collections::HashMap<String, String>>,
) -> Result<ApiResponse<(u32, String, usize)>, ApiError> {
    id += 1;
    Ok(ApiResponse::ok((id, name, pairs.len())))
}

#[tokio::test]
async fn a_signature_is_read_as_written_attributes_patterns_and_nested_generics_included() {
    let app = || {
        App::new()
            .mount(routes![odd_signature,])
            .openapi(Info::new("Odd", "1.0.0"))
    };
    let doc = app().openapi_document().expect("the app serves a document");
    let op = operation(&doc, "get", "/odd/{id}/{name}");
    assert_eq!(
        op["summary"],
        r#"Says "hi" to `C:\temp`: a doc comment's escapes survive. A raw line with "quotes"."#
    );
    assert_eq!(
        op["description"],
        "Says \"hi\" to `C:\\temp`: a doc comment's escapes survive.\nA raw line with \"quotes\".\n\nThe rest."
    );
    let params = parameters(op);
    assert_eq!(
        params[&("path".into(), "id".into())]["schema"]["type"],
        "integer"
    );
    assert_eq!(
        params[&("path".into(), "name".into())]["schema"]["type"],
        "string"
    );
    let client = TestClient::new(app()).await;
    let reply = client.get("/odd/7/bob?a=1&b=2").send().await;
    assert_eq!(reply.status(), 200);
    let body: Value = serde_json::from_slice(reply.bytes()).unwrap();
    assert_eq!(body["data"], json!([8, "bob", 2]));
}
