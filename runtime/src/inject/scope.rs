//! `Scope`: a cursor over dependencies resolved ahead of time.

use std::any::{Any, TypeId};
use std::sync::Arc;

/// A resolved dependency, with the type it was resolved as.
#[derive(Clone)]
pub(crate) struct Slot {
    pub(crate) kind: SlotKind,
    /// The type of the value: the key it was provided under.
    pub(crate) type_id: TypeId,
}

#[derive(Clone)]
pub(crate) enum SlotKind {
    /// A singleton, built when the app was built.
    Singleton(Arc<dyn Any + Send + Sync>),
    /// The `n`-th request-scoped value made for this request.
    Request(usize),
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            SlotKind::Singleton(_) => f.write_str("Singleton"),
            SlotKind::Request(n) => write!(f, "Request({n})"),
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
    #[inline(always)]
    pub fn take<T: Send + Sync + 'static>(&mut self) -> Arc<T> {
        let index = *self.next;
        *self.next = index + 1;
        let Some(slot) = self.slots.get(index) else {
            mismatch()
        };
        if slot.type_id != TypeId::of::<T>() {
            mismatch();
        }
        let any = match &slot.kind {
            SlotKind::Singleton(any) => any,
            SlotKind::Request(n) => &self.request[*n],
        };
        let raw = Arc::into_raw(Arc::clone(any)).cast::<T>();
        // SAFETY: every value behind a slot was created as an `Arc<T>` for
        // the type the slot records (the container stores each value under
        // `TypeId::of` its own type, and slots copy that key), and we just
        // checked that type is `T`. This is what `Arc::downcast` does,
        // without its second, virtual, type check on the hot path.
        unsafe { Arc::from_raw(raw) }
    }
}

#[cold]
#[inline(never)]
fn mismatch() -> ! {
    panic!("Inject::resolve took a different type than Inject::declare declared")
}
