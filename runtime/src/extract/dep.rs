//! `Dep<T>`: a value the app was given with `App::provide`.

use std::any::{Any, TypeId, type_name};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::{FromRequest, RequestContext};
use crate::response::ApiError;

/// A shared dependency of type `T`, registered with `App::provide`.
///
/// `Dep<T>` derefs to `T` and is cheap to clone (an `Arc`).
pub struct Dep<T: ?Sized>(Arc<T>);

impl<T: ?Sized> Dep<T> {
    /// Wraps a shared value; handy when calling a handler directly in a test.
    pub fn from_arc(value: Arc<T>) -> Self {
        Dep(value)
    }
}

impl<T> Dep<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Dep(Arc::new(value))
    }
}

impl<T: ?Sized> Clone for Dep<T> {
    fn clone(&self) -> Self {
        Dep(Arc::clone(&self.0))
    }
}

impl<T: ?Sized> std::ops::Deref for Dep<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Dep<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Dep").field(&&*self.0).finish()
    }
}

/// The values given to `App::provide`, keyed by type.
#[derive(Default)]
pub(crate) struct Deps(HashMap<TypeId, Arc<dyn Any + Send + Sync>>);

impl Deps {
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.0.insert(TypeId::of::<T>(), Arc::new(value));
    }

    fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let any = Arc::clone(self.0.get(&TypeId::of::<T>())?);
        any.downcast().ok()
    }
}

impl fmt::Debug for Deps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Deps({} values)", self.0.len())
    }
}

impl<T: Send + Sync + 'static> FromRequest for Dep<T> {
    type Rejection = ApiError;

    async fn from_request(ctx: &mut RequestContext<'_>) -> Result<Self, Self::Rejection> {
        ctx.shared().deps.get::<T>().map(Dep).ok_or_else(|| {
            tracing::error!(dependency = type_name::<T>(), "dependency was not provided");
            ApiError::internal("internal server error")
        })
    }
}
