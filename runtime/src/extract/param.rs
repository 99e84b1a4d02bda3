//! `FromParam`: parsing a `<param>` path segment into a handler argument.

use std::convert::Infallible;
use std::fmt::Display;

/// A type a `<param>` path segment can be parsed into.
///
/// The value is percent-decoded first. Implemented for `String`, the
/// integer and float types, `bool` and `char`; implement it for your own
/// types (an id newtype, an enum of slugs).
///
/// ```
/// use portico_runtime::extract::FromParam;
///
/// struct Slug(String);
///
/// impl FromParam for Slug {
///     type Error = &'static str;
///     fn from_param(value: &str) -> Result<Self, Self::Error> {
///         if value.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
///             Ok(Slug(value.to_owned()))
///         } else {
///             Err("lower-case letters and dashes only")
///         }
///     }
/// }
/// assert!(Slug::from_param("hello-world").is_ok());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be parsed from a path parameter",
    label = "path parameter types must implement `FromParam`",
    note = "use `String`, an integer, `bool`, or implement `portico::FromParam` for `{Self}`"
)]
pub trait FromParam: Sized {
    /// Why a value did not parse; shown to the client in the 400 envelope.
    type Error: Display;

    /// Parses the decoded segment.
    fn from_param(value: &str) -> Result<Self, Self::Error>;
}

impl FromParam for String {
    type Error = Infallible;

    fn from_param(value: &str) -> Result<Self, Self::Error> {
        Ok(value.to_owned())
    }
}

macro_rules! from_str_params {
    ($($ty:ty),*) => {$(
        impl FromParam for $ty {
            type Error = <$ty as std::str::FromStr>::Err;

            fn from_param(value: &str) -> Result<Self, Self::Error> {
                value.parse()
            }
        }
    )*};
}

from_str_params!(
    i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64, bool, char
);
