//! `Query<T>`: the URL query string, deserialized with serde.

use serde::de::DeserializeOwned;

use super::{FromRequest, RequestContext};
use crate::openapi::{Describe, JsonSchema, Operation};
use crate::response::Rejection;
use crate::validate::{SchemaRules, Validate, Validated, ValidationErrors};

/// The query string deserialized into `T`; a string that does not fit `T`
/// is a 422 envelope whose `error.fields` names the parameter, as a
/// failed validation does.
///
/// ```
/// use portico_runtime::extract::Query;
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct Page { page: Option<u32> }
///
/// fn page(Query(p): Query<Page>) -> u32 { p.page.unwrap_or(1) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest for Query<T> {
    type Rejection = Rejection;

    async fn from_request(ctx: &mut RequestContext<'_>) -> Result<Self, Self::Rejection> {
        let query = ctx.uri().query().unwrap_or("");
        serde_urlencoded::from_str(query).map(Query).map_err(|_| {
            let pairs = form_urlencoded::parse(query.as_bytes());
            Rejection::BadQuery(super::shape::shape_errors::<T, _>(
                serde_urlencoded::Deserializer::new(pairs),
            ))
        })
    }
}

impl<T> std::ops::Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Validate> Validated for Query<T> {
    fn validate_extracted(&self) -> Result<(), ValidationErrors> {
        self.0.validate()
    }

    fn rules() -> fn(&mut SchemaRules) {
        T::describe
    }
}

impl<T: JsonSchema> Describe for Query<T> {
    fn describe(op: &mut Operation<'_>) {
        let schema = op.request_schema::<T>();
        op.query_object(schema);
        op.error(422, "the query string does not fit the parameters");
    }
}
