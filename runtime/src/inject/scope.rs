//! `Scope`: a cursor over dependencies resolved ahead of time.

use std::any::Any;
use std::sync::Arc;

/// A resolved dependency.
#[derive(Clone)]
pub(crate) enum Slot {
    /// A singleton, built when the app was built.
    Singleton(Arc<dyn Any + Send + Sync>),
    /// The `n`-th request-scoped value made for this request.
    Request(usize),
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Slot::Singleton(_) => f.write_str("Singleton"),
            Slot::Request(n) => write!(f, "Request({n})"),
        }
    }
}

/// Hands out resolved dependencies in the order they were declared.
///
/// Made by the framework; an `Inject::resolve` impl only calls
/// [`take`](Scope::take).
#[derive(Debug)]
pub struct Scope<'s> {
    slots: &'s [Slot],
    request: &'s [Arc<dyn Any + Send + Sync>],
    next: &'s mut usize,
}

impl<'s> Scope<'s> {
    #[inline]
    pub(crate) fn new(
        slots: &'s [Slot],
        request: &'s [Arc<dyn Any + Send + Sync>],
        next: &'s mut usize,
    ) -> Self {
        Scope {
            slots,
            request,
            next,
        }
    }

    /// The next dependency, which must be a `T`.
    ///
    /// # Panics
    /// When `take` calls do not follow the `declare` order — a bug in an
    /// `Inject` impl, never a request that could be sent.
    pub fn take<T: Send + Sync + 'static>(&mut self) -> Arc<T> {
        let any = match &self.slots[*self.next] {
            Slot::Singleton(any) => any,
            Slot::Request(n) => &self.request[*n],
        };
        *self.next += 1;
        Arc::clone(any).downcast::<T>().unwrap_or_else(|_| {
            panic!("Inject::resolve took a different type than Inject::declare declared")
        })
    }
}
