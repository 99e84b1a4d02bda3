#!/usr/bin/env python3
"""Writes a 100-route API crate for Portico or for axum (validator for its
validation), doing the same work: 10 modules of 10 handlers, each a GET
with a path parameter, a GET with a query struct, a POST with a validated
JSON body or a DELETE, each taking a shared dependency (the store).

    generate.py portico OUT --portico PATH [--schema] [--routes SHAPE]
    generate.py axum OUT

--schema also derives `JsonSchema` on the request and response types and
serves the OpenAPI document (Portico only): what a user of /openapi.json
writes.

--routes takes the Portico app apart, to find what its routes cost the
compiler: `macro` (the default) is the app as a user writes it; `none`
drops every `#[route]` and `routes![…]` (the handlers stay, unrouted);
`written` writes out by hand what `#[route]` and `routes!` expand to, so
that the macros do not run (the text follows route/expand.rs: keep them
in step); `inline` writes the same route calls inside each module's
`routes()`, without the hidden type, impl and fn each route adds.
"""

import argparse
import pathlib
import re

MODULES = 10
PER_MODULE = 10


def portico_handler(m, j, schema):
    derive = ", JsonSchema" if schema else ""
    n = f"{m}_{j}"
    path = f"/m{m}/r{j}"
    kind = j % 4
    if kind == 0:
        return f'''
#[derive(Serialize{derive})]
pub struct Item{n} {{
    pub id: i64,
    pub name: String,
}}

/// Reads one item.
#[route(GET, "{path}/<id>")]
pub async fn get_{n}(id: i64, store: Dep<Store>) -> Result<ApiResponse<Item{n}>, ApiError> {{
    match store.name(id) {{
        Some(name) => Ok(ApiResponse::ok(Item{n} {{ id, name }})),
        None => Err(ApiError::not_found("no such item")),
    }}
}}
'''
    if kind == 1:
        return f'''
#[derive(Deserialize{derive})]
pub struct Filter{n} {{
    pub q: Option<String>,
    pub limit: Option<u32>,
}}

/// Lists items.
#[route(GET, "{path}")]
pub async fn list_{n}(Query(filter): Query<Filter{n}>, store: Dep<Store>) -> ApiResponse<Vec<String>> {{
    ApiResponse::ok(store.search(filter.q.as_deref(), filter.limit.unwrap_or(20)))
}}
'''
    if kind == 2:
        return f'''
#[derive(Deserialize, Validate{derive})]
pub struct New{n} {{
    #[validate(length(min = 1, max = 100))]
    pub name: String,
    #[validate(email)]
    pub email: String,
    #[validate(range(min = 0, max = 150))]
    pub age: i32,
}}

#[derive(Serialize{derive})]
pub struct Created{n} {{
    pub id: i64,
    pub name: String,
}}

/// Creates an item.
#[route(POST, "{path}")]
pub async fn create_{n}(Json(new): Json<New{n}>, store: Dep<Store>) -> Created<ApiResponse<Created{n}>> {{
    let id = store.insert(&new.name);
    Created::new(ApiResponse::ok(Created{n} {{ id, name: new.name }}))
}}
'''
    return f'''
/// Deletes an item.
#[route(DELETE, "{path}/<id>")]
pub async fn delete_{n}(id: i64, store: Dep<Store>) -> Result<ApiResponse<i64>, ApiError> {{
    if store.remove(id) {{ Ok(ApiResponse::ok(id)) }} else {{ Err(ApiError::not_found("no such item")) }}
}}
'''


def axum_handler(m, j):
    n = f"{m}_{j}"
    kind = j % 4
    if kind == 0:
        return f'''
#[derive(Serialize)]
pub struct Item{n} {{
    pub id: i64,
    pub name: String,
}}

pub async fn get_{n}(State(store): State<Arc<Store>>, Path(id): Path<i64>) -> Result<Json<Item{n}>, StatusCode> {{
    store.name(id).map(|name| Json(Item{n} {{ id, name }})).ok_or(StatusCode::NOT_FOUND)
}}
'''
    if kind == 1:
        return f'''
#[derive(Deserialize)]
pub struct Filter{n} {{
    pub q: Option<String>,
    pub limit: Option<u32>,
}}

pub async fn list_{n}(State(store): State<Arc<Store>>, Query(filter): Query<Filter{n}>) -> Json<Vec<String>> {{
    Json(store.search(filter.q.as_deref(), filter.limit.unwrap_or(20)))
}}
'''
    if kind == 2:
        return f'''
#[derive(Deserialize, Validate)]
pub struct New{n} {{
    #[validate(length(min = 1, max = 100))]
    pub name: String,
    #[validate(email)]
    pub email: String,
    #[validate(range(min = 0, max = 150))]
    pub age: i32,
}}

#[derive(Serialize)]
pub struct Created{n} {{
    pub id: i64,
    pub name: String,
}}

pub async fn create_{n}(State(store): State<Arc<Store>>, Json(new): Json<New{n}>) -> Result<(StatusCode, Json<Created{n}>), (StatusCode, String)> {{
    new.validate().map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let id = store.insert(&new.name);
    Ok((StatusCode::CREATED, Json(Created{n} {{ id, name: new.name }})))
}}
'''
    return f'''
pub async fn delete_{n}(State(store): State<Arc<Store>>, Path(id): Path<i64>) -> StatusCode {{
    if store.remove(id) {{ StatusCode::OK }} else {{ StatusCode::NOT_FOUND }}
}}
'''


STORE = '''
/// The shared dependency every handler takes.
#[derive(Default)]
pub struct Store {
    names: std::sync::Mutex<Vec<String>>,
}

impl Store {
    pub fn name(&self, id: i64) -> Option<String> {
        self.names.lock().ok()?.get(usize::try_from(id).ok()?).cloned()
    }
    pub fn search(&self, q: Option<&str>, limit: u32) -> Vec<String> {
        let names = self.names.lock().map(|n| n.clone()).unwrap_or_default();
        names.into_iter().filter(|n| q.is_none_or(|q| n.contains(q))).take(limit as usize).collect()
    }
    pub fn insert(&self, name: &str) -> i64 {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        names.push(name.to_owned());
        names.len() as i64 - 1
    }
    pub fn remove(&self, id: i64) -> bool {
        self.name(id).is_some()
    }
}
'''


def route_path(m, j):
    kind = j % 4
    base = f"/m{m}/r{j}"
    return base + ("/{id}" if kind in (0, 3) else "")


PRIVATE = "::portico::__private_0_1_0"


def route_call(method, path, doc, name, args, ret):
    """What `#[route]` writes for one handler: the body-read-once
    constants, and its `route{N}(…)` call."""
    params = re.findall(r"<(\w+)>", path)
    plans, extractors = [], []
    for arg in args:
        pattern, ty = (part.strip() for part in arg.split(":", 1))
        if pattern in params:
            plans.append(f'(&&&__portico::param::<{ty}>({params.index(pattern)}usize, "{pattern}")).param_plan()')
        else:
            plans.append(f"(&&&&&__portico::arg::<{ty}>()).arg_plan()")
            extractors.append(ty)
    consts = ""
    for i in range(1, len(extractors)):
        earlier = " || ".join(f"{PRIVATE}::arg::<{t}>().takes_body" for t in extractors[:i])
        consts += (f"const _: () = {PRIVATE}::body_read_once("
                   f"{PRIVATE}::arg::<{extractors[i]}>().takes_body && ({earlier}));\n")
    names = "".join(f'"{p}",' for p in params)
    call = (f'__portico::route{len(args)}(__portico::info(__portico::{method}, "{path}", "{name}", "", "{doc}", "{doc}", &[{names}]), '
            + "".join(plan + ", " for plan in plans)
            + f"{name}, (&__portico::response::<{ret}>()).describer())")
    return consts, call


def shape_routes(body, shape):
    """The module's source with its routes in `shape` (see --routes)."""
    if shape == "macro":
        return body
    calls = {}

    def handler(m):
        doc, method, path, name, args, ret = m.groups()
        arg_list = [a for a in re.split(r",\s*(?![^<]*>)", args) if a]
        consts, call = route_call(method, path, doc, name, arg_list, ret.strip())
        calls[name] = call
        fn = f"/// {doc}\npub async fn {name}({args}) -> {ret}{{"
        if shape == "written":
            return (consts + f"#[doc(hidden)] pub struct {name} {{}} "
                    f"impl {PRIVATE}::RouteDef for {name} {{ fn route() -> {PRIVATE}::Route {{ "
                    f"use {PRIVATE}::probe::*; {call} }} }}\n" + fn)
        return (consts if shape == "inline" else "") + fn

    body = re.sub(r'/// (.*)\n#\[route\((\w+), "([^"]*)"\)\]\npub async fn (\w+)\((.*)\) -> (.*?)\{',
                  handler, body)
    names = lambda m: [n.strip() for n in m.group(1).split(",")]
    if shape == "none":
        return "#![allow(dead_code)]\n" + re.sub(r"routes!\[(.*)\]", "Vec::new()", body)
    if shape == "written":
        # The macro's type names are spanned at the attribute, where the
        # lint leaves them alone; written out here, they are the module's.
        return "#![allow(non_camel_case_types)]\n" + re.sub(r"routes!\[(.*)\]", lambda m: "vec![" + "".join(
            f"<{n} as {PRIVATE}::RouteDef>::route()," for n in names(m)) + "]", body)
    return re.sub(r"routes!\[(.*)\]", lambda m: f"{{ use {PRIVATE}::probe::*; vec![" + "".join(
        calls[n] + "," for n in names(m)) + "] }", body)


def write_portico(out, portico, schema, shape="macro"):
    src = out / "src"
    src.mkdir(parents=True, exist_ok=True)
    extra = 'schemars = "1"\n' if schema else ""
    (out / "Cargo.toml").write_text(f'''[package]
name = "portico_app"
version = "0.1.0"
edition = "2024"

[workspace]

[dependencies]
portico = {{ path = "{portico}" }}
serde = {{ version = "1", features = ["derive"] }}
{extra}tokio = {{ version = "1", features = ["macros", "rt-multi-thread"] }}
''')
    mods = []
    for m in range(MODULES):
        body = "use portico::prelude::*;\nuse crate::Store;\n"
        body += "".join(portico_handler(m, j, schema) for j in range(PER_MODULE))
        names = []
        for j in range(PER_MODULE):
            names.append(["get", "list", "create", "delete"][j % 4] + f"_{m}_{j}")
        body += "\npub fn routes() -> Vec<portico::Route> {\n    routes![" + ", ".join(names) + "]\n}\n"
        (src / f"m{m}.rs").write_text(shape_routes(body, shape))
        mods.append(f"m{m}")
    openapi = '.openapi(portico::docs::Info::new("app", "1"))' if schema else ""
    main = "".join(f"mod {m};\n" for m in mods) + STORE + f'''
#[tokio::main]
async fn main() -> Result<(), portico::Error> {{
    let mut app = portico::App::new().provide(Store::default());
    {"".join(f"app = app.mount({m}::routes());" for m in mods)}
    app{openapi}.serve("127.0.0.1:0").await
}}
'''
    (src / "main.rs").write_text(main)


def write_axum(out):
    src = out / "src"
    src.mkdir(parents=True, exist_ok=True)
    (out / "Cargo.toml").write_text('''[package]
name = "axum_app"
version = "0.1.0"
edition = "2024"

[workspace]

[dependencies]
axum = "0.8"
serde = { version = "1", features = ["derive"] }
tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
validator = { version = "0.20", features = ["derive"] }
''')
    mods = []
    for m in range(MODULES):
        body = ("use std::sync::Arc;\nuse axum::{Json, Router, extract::{Path, Query, State}, http::StatusCode, "
                "routing::{delete, get, post}};\nuse serde::{Deserialize, Serialize};\nuse validator::Validate;\n"
                "use crate::Store;\n")
        body += "".join(axum_handler(m, j) for j in range(PER_MODULE))
        body += "\npub fn routes() -> Router<Arc<Store>> {\n    Router::new()\n"
        for j in range(PER_MODULE):
            kind = j % 4
            method = ["get", "get", "post", "delete"][kind]
            name = ["get", "list", "create", "delete"][kind] + f"_{m}_{j}"
            body += f'        .route("{route_path(m, j)}", {method}({name}))\n'
        body += "}\n"
        (src / f"m{m}.rs").write_text(body)
        mods.append(f"m{m}")
    main = "use std::sync::Arc;\n" + "".join(f"mod {m};\n" for m in mods) + STORE + f'''
#[tokio::main]
async fn main() {{
    let app = axum::Router::new(){"".join(f".merge({m}::routes())" for m in mods)}.with_state(Arc::new(Store::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    axum::serve(listener, app).await.unwrap();
}}
'''
    (src / "main.rs").write_text(main)


def main():
    args = argparse.ArgumentParser()
    args.add_argument("framework", choices=["portico", "axum"])
    args.add_argument("out", type=pathlib.Path)
    args.add_argument("--portico", type=pathlib.Path)
    args.add_argument("--schema", action="store_true")
    args.add_argument("--routes", choices=["macro", "none", "written", "inline"], default="macro")
    a = args.parse_args()
    if a.framework == "portico":
        write_portico(a.out, a.portico.resolve(), a.schema, a.routes)
    else:
        write_axum(a.out)


if __name__ == "__main__":
    main()
