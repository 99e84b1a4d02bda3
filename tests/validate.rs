//! `#[derive(Validate)]`: every rule at and around its boundaries, nested
//! paths, struct-level rules, overrides, and validation before handlers.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use portico::prelude::*;
use portico::testing::TestClient;
use portico::{ValidationErrors, http::StatusCode};
use serde_json::json;

fn codes(errors: &ValidationErrors) -> BTreeMap<String, Vec<String>> {
    errors
        .iter()
        .map(|(path, errs)| {
            (
                path.to_owned(),
                errs.iter().map(|e| e.code().to_owned()).collect(),
            )
        })
        .collect()
}

fn failing(value: &impl Validate) -> BTreeMap<String, Vec<String>> {
    value
        .validate()
        .err()
        .map(|e| codes(&e))
        .unwrap_or_default()
}

#[derive(Debug, Deserialize, Serialize, Validate)]
struct UserCreateRequest {
    #[validate(length(min = 1))]
    name: String,
    #[validate(email)]
    email: String,
    #[validate(range(min = 0, max = 150))]
    age: i32,
}

#[test]
fn seed_exercise_2_reports_all_three_fields() {
    let valid = UserCreateRequest {
        name: "Alice".into(),
        email: "alice@example.com".into(),
        age: 30,
    };
    assert!(valid.validate().is_ok());
    let invalid = UserCreateRequest {
        name: "".into(),
        email: "not-an-email".into(),
        age: -1,
    };
    let errors = invalid.validate().unwrap_err();
    assert_eq!(
        serde_json::to_value(&errors).unwrap(),
        json!({
            "age": [{"code": "range", "message": "must be between 0 and 150", "params": {"min": 0, "max": 150}}],
            "email": [{"code": "email", "message": "must be a valid email address"}],
            "name": [{"code": "length", "message": "must not be empty", "params": {"min": 1}}],
        })
    );
}

#[derive(Validate)]
struct Lengths {
    #[validate(length(min = 2, max = 4))]
    text: String,
    #[validate(length(equal = 3))]
    code: String,
    #[validate(length(min = 1, max = 2))]
    tags: Vec<u8>,
    #[validate(length(max = 1))]
    map: BTreeMap<String, u8>,
    #[validate(length(min = 2))]
    maybe: Option<String>,
}

fn lengths(text: &str, code: &str, tags: usize, map: usize, maybe: Option<&str>) -> Lengths {
    Lengths {
        text: text.into(),
        code: code.into(),
        tags: vec![0; tags],
        map: (0..map).map(|i| (i.to_string(), 0)).collect(),
        maybe: maybe.map(Into::into),
    }
}

#[test]
fn length_at_and_around_its_bounds_counting_characters() {
    assert!(failing(&lengths("ab", "abc", 1, 0, None)).is_empty());
    assert!(failing(&lengths("abcd", "abc", 2, 1, Some("ab"))).is_empty());
    // Multi-byte: four characters, twelve bytes.
    assert!(failing(&lengths("日本語字", "äöü", 1, 0, None)).is_empty());
    let all = failing(&lengths("a", "ab", 0, 2, Some("x")));
    assert_eq!(
        all.keys().collect::<Vec<_>>(),
        ["code", "map", "maybe", "tags", "text"]
    );
    assert_eq!(
        failing(&lengths("abcde", "abcd", 3, 0, None))
            .keys()
            .collect::<Vec<_>>(),
        ["code", "tags", "text"]
    );
    let error = lengths("a", "abc", 1, 0, None).validate().unwrap_err();
    assert_eq!(
        error.field("text")[0].message(),
        "must be between 2 and 4 characters long"
    );
}

#[derive(Validate)]
struct Ranges {
    #[validate(range(min = 0, max = 150))]
    age: i32,
    #[validate(range(exclusive_min = 0, exclusive_max = 1))]
    ratio: f64,
    #[validate(range(min = -5))]
    delta: i64,
    #[validate(range(max = 10))]
    limit: Option<u8>,
}

#[test]
fn range_at_and_around_its_bounds() {
    let r = |age, ratio, delta, limit| {
        failing(&Ranges {
            age,
            ratio,
            delta,
            limit,
        })
    };
    assert!(r(0, 0.5, -5, None).is_empty());
    assert!(r(150, 0.999, 0, Some(10)).is_empty());
    assert_eq!(r(-1, 0.0, -6, Some(11)).len(), 4);
    assert_eq!(
        r(151, 1.0, -5, Some(0)).keys().collect::<Vec<_>>(),
        ["age", "ratio"]
    );
    assert_eq!(
        r(1, f64::NAN, 0, None).keys().collect::<Vec<_>>(),
        ["ratio"]
    );
}

static SLUG: LazyLock<regex::Regex> = LazyLock::new(|| regex::Regex::new("^[a-z-]+$").unwrap());

fn even(value: &u32) -> Result<(), ValidationError> {
    if value.is_multiple_of(2) {
        Ok(())
    } else {
        Err(ValidationError::new("even")
            .with_message("must be even")
            .with_param("value", value))
    }
}

#[derive(Validate)]
struct Strings {
    #[validate(url)]
    homepage: String,
    #[validate(contains(pattern = "@"), does_not_contain(pattern = "admin"))]
    handle: String,
    #[validate(regex(path = *SLUG))]
    slug: String,
    #[validate(regex(pattern = r"^\d{5}$", message = "must be five digits", code = "zip"))]
    zip: String,
    #[validate(custom(function = even))]
    count: u32,
}

fn strings(homepage: &str, handle: &str, slug: &str, zip: &str, count: u32) -> Strings {
    Strings {
        homepage: homepage.into(),
        handle: handle.into(),
        slug: slug.into(),
        zip: zip.into(),
        count,
    }
}

#[test]
fn string_rules_custom_functions_and_overrides() {
    assert!(
        failing(&strings(
            "https://example.com/x",
            "@bob",
            "hello-world",
            "12345",
            4
        ))
        .is_empty()
    );
    let errors = strings("example.com", "@admin", "Hello", "1234", 3)
        .validate()
        .unwrap_err();
    assert_eq!(
        codes(&errors),
        BTreeMap::from([
            ("count".into(), vec!["even".into()]),
            ("handle".into(), vec!["does_not_contain".into()]),
            ("homepage".into(), vec!["url".into()]),
            ("slug".into(), vec!["regex".into()]),
            ("zip".into(), vec!["zip".into()]),
        ])
    );
    assert_eq!(errors.field("zip")[0].message(), "must be five digits");
    assert_eq!(errors.field("count")[0].param("value"), Some(&json!(3)));
    assert_eq!(
        failing(&strings("http://a", "bob", "a", "00000", 0))
            .keys()
            .collect::<Vec<_>>(),
        ["handle"]
    );
}

fn passwords_differ_from_name(form: &Signup) -> Result<(), ValidationError> {
    if form.password.contains(&form.name) {
        Err(ValidationError::new("password_contains_name")
            .with_message("the password must not contain the name"))
    } else {
        Ok(())
    }
}

#[derive(Validate)]
#[validate(schema(function = passwords_differ_from_name))]
struct Signup {
    #[validate(length(min = 1))]
    name: String,
    #[validate(length(min = 8))]
    password: String,
    #[validate(must_match(other = "password"))]
    confirm: String,
    #[validate(required, length(min = 2))]
    nickname: Option<String>,
}

#[test]
fn struct_level_must_match_and_required() {
    let form = |password: &str, confirm: &str, nickname: Option<&str>| Signup {
        name: "bob".into(),
        password: password.into(),
        confirm: confirm.into(),
        nickname: nickname.map(Into::into),
    };
    assert!(failing(&form("s3cret-pass", "s3cret-pass", Some("bo"))).is_empty());
    assert_eq!(
        failing(&form("bob-is-great", "bob-is-grea", None)),
        BTreeMap::from([
            ("__all__".into(), vec!["password_contains_name".into()]),
            ("confirm".into(), vec!["must_match".into()]),
            ("nickname".into(), vec!["required".into()]),
        ])
    );
    assert_eq!(
        failing(&form("s3cret-pass", "s3cret-pass", Some("b")))
            .keys()
            .collect::<Vec<_>>(),
        ["nickname"]
    );
}

#[derive(Debug, Deserialize, Validate)]
struct Address {
    #[validate(length(equal = 5))]
    zip: String,
}

#[derive(Debug, Deserialize, Validate)]
struct Item {
    #[validate(range(min = 1))]
    qty: u32,
}

#[derive(Debug, Deserialize, Validate)]
struct Order {
    #[validate(nested)]
    address: Address,
    #[validate(nested)]
    billing: Option<Address>,
    #[validate(nested, length(min = 1))]
    items: Vec<Item>,
    #[validate(nested)]
    by_sku: BTreeMap<String, Item>,
    #[serde(rename = "giftNote")]
    #[validate(length(max = 3))]
    gift_note: Option<String>,
}

#[test]
fn nested_values_report_full_paths() {
    let order: Order = serde_json::from_value(json!({
        "address": {"zip": "123"},
        "billing": {"zip": "123456"},
        "items": [{"qty": 1}, {"qty": 0}, {"qty": 0}],
        "by_sku": {"abc": {"qty": 0}},
        "giftNote": "too long",
    }))
    .unwrap();
    assert_eq!(
        failing(&order).keys().collect::<Vec<_>>(),
        [
            "address.zip",
            "billing.zip",
            "by_sku[abc].qty",
            "giftNote",
            "items[1].qty",
            "items[2].qty"
        ]
    );
    let empty: Order = serde_json::from_value(
        json!({"address": {"zip": "12345"}, "billing": null, "items": [], "by_sku": {}}),
    )
    .unwrap();
    assert_eq!(failing(&empty).keys().collect::<Vec<_>>(), ["items"]);
}

/// A generic struct: the impl carries its parameters and where clause.
#[derive(Validate)]
struct Batch<T, const N: usize>
where
    T: Validate,
{
    #[validate(nested, length(max = 2))]
    entries: Vec<T>,
    #[validate(range(min = 1))]
    size: u8,
}

#[test]
fn a_generic_struct_validates_its_rules_and_its_values() {
    let batch = |qtys: &[u32], size| Batch::<Item, 3> {
        entries: qtys.iter().map(|&qty| Item { qty }).collect(),
        size,
    };
    assert!(failing(&batch(&[1, 2], 1)).is_empty());
    assert_eq!(
        failing(&batch(&[1, 0, 2], 0)).keys().collect::<Vec<_>>(),
        ["entries", "entries[1].qty", "size"]
    );
}

/// Fields named past ASCII, which the derive writes into its checks.
#[derive(Validate)]
struct Größen {
    #[validate(required, range(max = 10))]
    größe: Option<u32>,
    #[validate(must_match(other = "größe"))]
    bestätigung: Option<u32>,
}

#[test]
fn fields_named_past_ascii_are_checked() {
    let größen = |größe, bestätigung| Größen {
        größe, bestätigung
    };
    assert!(failing(&größen(Some(3), Some(3))).is_empty());
    assert_eq!(
        failing(&größen(None, Some(3))).keys().collect::<Vec<_>>(),
        ["bestätigung", "größe"]
    );
    assert_eq!(
        failing(&größen(Some(11), Some(11)))
            .keys()
            .collect::<Vec<_>>(),
        ["größe"]
    );
}

#[route(POST, "/orders")]
async fn create_order(order: Json<Order>) -> ApiResponse<usize> {
    ApiResponse::ok(order.items.len())
}

#[derive(Debug, Deserialize, Validate)]
struct Search {
    #[validate(length(min = 3))]
    q: String,
}

#[route(GET, "/search")]
async fn search(query: Query<Search>) -> String {
    query.0.q
}

#[derive(Debug, Deserialize)]
struct Unvalidated {
    n: i64,
}

#[route(POST, "/plain")]
async fn plain(body: Json<Unvalidated>) -> String {
    body.n.to_string()
}

#[tokio::test]
async fn invalid_bodies_and_queries_never_reach_the_handler() {
    let client = TestClient::new(App::new().mount(routes![create_order, search, plain])).await;
    let response = client
        .post("/orders")
        .json(
            &json!({"address": {"zip": "1"}, "billing": null, "items": [{"qty": 0}], "by_sku": {}}),
        )
        .send()
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = response.json();
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["message"], "validation failed");
    assert_eq!(body["error"]["code"], 422);
    assert_eq!(body["error"]["fields"]["address.zip"][0]["code"], "length");
    assert_eq!(body["error"]["fields"]["items[0].qty"][0]["code"], "range");

    let ok = client
        .post("/orders")
        .json(&json!({"address": {"zip": "12345"}, "items": [{"qty": 2}], "by_sku": {}}))
        .send()
        .await;
    assert_eq!(ok.status(), 200, "{}", ok.text());
    assert_eq!(ok.json()["data"], 1);

    let short = client.get("/search?q=ab").send().await;
    assert_eq!(short.status(), 422);
    assert_eq!(short.json()["error"]["fields"]["q"][0]["params"]["min"], 3);
    assert_eq!(client.get("/search?q=abc").send().await.text(), "abc");

    assert_eq!(
        client
            .post("/plain")
            .json(&json!({"n": -4}))
            .send()
            .await
            .text(),
        "-4"
    );
}

/// A partial update: `nickname` may be cleared (`null`), `age` may not.
#[derive(Debug, Deserialize, Validate)]
struct ProfilePatch {
    #[serde(default)]
    #[validate(length(min = 2, max = 20))]
    nickname: Patch<String>,
    #[serde(default)]
    #[validate(range(max = 150))]
    age: Option<u8>,
    #[serde(default, rename = "photoUrl")]
    #[validate(url)]
    photo_url: Patch<String>,
}

#[derive(Debug, Deserialize, Validate)]
#[serde(default)]
struct Consent {
    #[validate(required)]
    accepted: Patch<bool>,
}

impl Default for Consent {
    fn default() -> Self {
        Consent {
            accepted: Patch::Absent,
        }
    }
}

#[test]
fn patch_fields_tell_absent_from_null_and_rules_apply_to_a_sent_value() {
    let patch = |body: serde_json::Value| serde_json::from_value::<ProfilePatch>(body).unwrap();
    let none = patch(json!({}));
    assert_eq!(none.nickname, Patch::Absent);
    assert_eq!(none.photo_url, Patch::Absent);
    assert!(failing(&none).is_empty());

    let cleared = patch(json!({"nickname": null, "photoUrl": null}));
    assert_eq!(cleared.nickname, Patch::Null);
    assert_eq!(cleared.photo_url, Patch::Null);
    assert!(
        failing(&cleared).is_empty(),
        "null passes the value's rules"
    );
    let mut stored = Some("zed".to_owned());
    cleared.nickname.apply_to(&mut stored);
    assert_eq!(stored, None);

    let bad = patch(json!({"nickname": "z", "photoUrl": "not a url", "age": 200}));
    assert_eq!(
        failing(&bad).keys().collect::<Vec<_>>(),
        ["age", "nickname", "photoUrl"]
    );
    let good = patch(json!({"nickname": "zed"}));
    assert_eq!(good.nickname.value().map(String::as_str), Some("zed"));
    assert_eq!(
        good.nickname.applied(Some("old".into())),
        Some("zed".into())
    );
    assert_eq!(
        Patch::<String>::Absent.applied(Some("old".into())),
        Some("old".into())
    );

    // `required` on a Patch: a value, neither absent nor null.
    for (body, ok) in [
        (json!({}), false),
        (json!({"accepted": null}), false),
        (json!({"accepted": false}), true),
    ] {
        let consent: Consent = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(failing(&consent).is_empty(), ok, "{body}");
    }
}

#[route(PATCH, "/profile")]
async fn patch_profile(body: Json<ProfilePatch>) -> ApiResponse<serde_json::Value> {
    let state = |p: &Patch<String>| match p {
        Patch::Absent => "absent",
        Patch::Null => "null",
        Patch::Value(_) => "value",
    };
    ApiResponse::ok(json!({"nickname": state(&body.nickname), "photoUrl": state(&body.photo_url)}))
}

#[tokio::test]
async fn a_patch_body_reaches_the_handler_with_three_states() {
    let client = TestClient::new(App::new().mount(routes![patch_profile])).await;
    let send = |body: serde_json::Value| {
        let client = &client;
        async move { client.patch("/profile").json(&body).send().await }
    };
    let response = send(json!({"nickname": null})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json()["data"],
        json!({"nickname": "null", "photoUrl": "absent"})
    );
    let refused = send(json!({"nickname": "x"})).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.json()["error"]["fields"]["nickname"][0]["code"],
        "length"
    );
}
