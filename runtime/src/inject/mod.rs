//! Dependency injection: values keyed by type, wired when the app is built.
//!
//! Register values and factories on the app (`provide`, `provide_with`,
//! `provide_async`, `provide_request`); take them in handlers as `Dep<T>`
//! or through a struct marked `#[inject]`. When the app is built, the
//! whole graph is checked — every missing dependency, every cycle, every
//! singleton that would capture a request-scoped value — and reported at
//! once, before a port is bound. Each route then holds its dependencies
//! already resolved, in argument order: a request takes them with a
//! cursor, with no map lookup and no lock, and nothing can be missing.

mod container;
mod factory;
mod graph;
mod head;
mod scope;

pub use container::{Container, ContainerBuilder};
pub use factory::{AsyncFactory, BoxError, Factory, RequestFactory};
pub use graph::InjectProblem;
pub use head::RequestHead;
pub use scope::Scope;

pub(crate) use container::{Registry, RouteDeps, provide_methods};
pub(crate) use scope::Slot;

use std::any::{TypeId, type_name};
use std::fmt;
use std::sync::Arc;

/// A shared dependency of type `T`: a singleton registered with
/// `App::provide`/`provide_with`/`provide_async`, or a request-scoped
/// value from `App::provide_request`.
///
/// `Dep<T>` derefs to `T` and is cheap to clone (an `Arc`).
pub struct Dep<T: ?Sized>(Arc<T>);

impl<T> Dep<T> {
    /// Wraps a value; handy when calling a handler directly in a test.
    pub fn new(value: T) -> Self {
        Dep(Arc::new(value))
    }
}

impl<T: ?Sized> Dep<T> {
    /// Wraps a shared value.
    pub fn from_arc(value: Arc<T>) -> Self {
        Dep(value)
    }

    /// The shared value.
    pub fn into_arc(self) -> Arc<T> {
        self.0
    }

    /// Whether two `Dep`s are the same instance.
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
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

impl<T: ?Sized + fmt::Display> fmt::Display for Dep<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A value the container can build: `Dep<T>`, or a struct marked
/// `#[inject]` whose fields are.
///
/// `declare` lists what `resolve` will take, in the same order: the app
/// resolves the list once when it is built, and `resolve` walks it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be injected",
    label = "not injectable",
    note = "an injected value is `Dep<T>` for a `T` given to `App::provide` (or `provide_with`, `provide_async`, `provide_request`), or a struct marked `#[inject]`"
)]
pub trait Inject: Sized + Send {
    /// Lists the dependencies `resolve` takes, in order.
    fn declare(needs: &mut Needs);

    /// Builds the value from dependencies resolved in `declare`'s order.
    fn resolve(scope: &mut Scope<'_>) -> Self;
}

impl<T: Send + Sync + 'static> Inject for Dep<T> {
    fn declare(needs: &mut Needs) {
        needs.push(Need::of::<T>());
    }

    #[inline]
    fn resolve(scope: &mut Scope<'_>) -> Self {
        Dep(scope.take::<T>())
    }
}

/// Nothing to inject: for what takes no dependencies (a task's `Deps`).
impl Inject for () {
    fn declare(_: &mut Needs) {}

    fn resolve(_: &mut Scope<'_>) -> Self {}
}

/// Several dependencies at once, resolved in order.
impl<A: Inject, B: Inject> Inject for (A, B) {
    fn declare(needs: &mut Needs) {
        A::declare(needs);
        B::declare(needs);
    }

    fn resolve(scope: &mut Scope<'_>) -> Self {
        let a = A::resolve(scope);
        (a, B::resolve(scope))
    }
}

/// One dependency: the type that must be provided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    key: TypeId,
    name: &'static str,
    via: Option<&'static str>,
}

impl Need {
    /// The need for a `T`.
    pub fn of<T: 'static>() -> Self {
        Need {
            key: TypeId::of::<T>(),
            name: type_name::<T>(),
            via: None,
        }
    }

    pub(crate) fn key(&self) -> TypeId {
        self.key
    }

    /// `Dep<Mailer>`, or `Dep<Mailer> (through Users)`.
    pub(crate) fn describe(&self) -> String {
        match self.via {
            Some(via) => format!(
                "Dep<{}> (through {})",
                short_name(self.name),
                short_name(via)
            ),
            None => format!("Dep<{}>", short_name(self.name)),
        }
    }
}

/// The list an [`Inject::declare`] appends to.
#[derive(Debug, Default, Clone)]
pub struct Needs {
    list: Vec<Need>,
    via: Option<&'static str>,
}

impl Needs {
    /// Appends a need.
    pub fn push(&mut self, mut need: Need) {
        if need.via.is_none() {
            need.via = self.via;
        }
        self.list.push(need);
    }

    /// Declares the needs of `T`'s fields as coming through `T` (for messages).
    pub fn through<T>(&mut self, declare: impl FnOnce(&mut Needs)) {
        let outer = self.via;
        self.via = Some(outer.unwrap_or(type_name::<T>()));
        declare(self);
        self.via = outer;
    }

    pub(crate) fn into_vec(self) -> Vec<Need> {
        self.list
    }
}

/// `alloc::sync::Arc<my_app::db::Pool>` → `Arc<Pool>`: type names as
/// people write them, for messages.
pub(crate) fn short_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut segment_start = 0;
    for (i, c) in full.char_indices() {
        if matches!(c, '<' | '>' | ',' | ' ' | '(' | ')' | '[' | ']' | '&' | ';') {
            out.push_str(last_segment(&full[segment_start..i]));
            out.push(c);
            segment_start = i + c.len_utf8();
        }
    }
    out.push_str(last_segment(&full[segment_start..]));
    out
}

fn last_segment(path: &str) -> &str {
    path.rsplit("::").next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_drop_module_paths() {
        assert_eq!(
            short_name("alloc::sync::Arc<my_app::db::Pool>"),
            "Arc<Pool>"
        );
        assert_eq!(
            short_name("core::option::Option<(u8, a::B)>"),
            "Option<(u8, B)>"
        );
        assert_eq!(short_name("Mailer"), "Mailer");
    }
}
