//! Procedural macros of Portico.
//!
//! Each macro is parse → check → expand: `parse` reads the tokens into a
//! small model, `check` enforces every rule and collects *all* mistakes
//! (each at its own span), `expand` only ever sees a checked model. Code
//! generated here names runtime items through `::portico::__private_0_1_0`
//! only (see the `exports` module), and on any mistake the user's item is still
//! emitted beside the errors so that one mistake never cascades.

mod emit;
mod errors;
mod exports;
mod inject;
mod route;
mod validate;

use proc_macro::TokenStream;

/// Declares a handler for a method and a path.
///
/// ```text
/// #[route(GET, "/users/<id>")]
/// async fn get_user(id: i64, users: Dep<Users>) -> Result<ApiResponse<User>, ApiError> { … }
/// ```
///
/// The `portico` crate docs give the grammar: methods, `<param>` and
/// `<rest..>` segments, `role = "…"`, and what a plain (non-`async`) fn does.
#[proc_macro_attribute]
pub fn route(args: TokenStream, item: TokenStream) -> TokenStream {
    route::route(args.into(), item.into()).into()
}

/// Collects the routes of `#[route]` handlers: `routes![list_users, users::get_user]`.
#[proc_macro]
pub fn routes(input: TokenStream) -> TokenStream {
    route::routes(input.into()).into()
}

/// Derives `Validate` from `#[validate(...)]` field rules, in the syntax of
/// the `validator` crate.
///
/// ```text
/// #[derive(Deserialize, Validate)]
/// struct NewUser {
///     #[validate(length(min = 1, max = 100))]
///     name: String,
///     #[validate(email)]
///     email: String,
///     #[validate(range(min = 0, max = 150))]
///     age: i32,
/// }
/// ```
#[proc_macro_derive(Validate, attributes(validate))]
pub fn derive_validate(input: TokenStream) -> TokenStream {
    validate::derive(input.into()).into()
}

/// Dependency wiring resolved from types.
///
/// On a struct, builds it from the container by the types of its fields
/// (each `Dep<T>` or another `#[inject]` struct); the struct can then be a
/// handler argument. On a fn, checks that every argument is injectable, so
/// that the fn can be registered as a provider (`App::provide_with`) or
/// called with `Container::call`.
///
/// ```text
/// #[inject]
/// struct Users {
///     db: Dep<Db>,
///     mailer: Dep<Mailer>,
/// }
/// ```
#[proc_macro_attribute]
pub fn inject(args: TokenStream, item: TokenStream) -> TokenStream {
    inject::inject(args.into(), item.into()).into()
}
