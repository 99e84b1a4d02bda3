//! Factories: plain fns and closures whose arguments are injected,
//! implemented for every arity up to eight.

use std::future::Future;
use std::pin::Pin;

use super::RequestHead;
use super::{Inject, Needs, Scope};

/// The error an async factory may fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A boxed, sendable future.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A sync fn or closure whose arguments are all [`Inject`] types: a
/// singleton factory for `App::provide_with`, or a fn for `Container::call`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a factory",
    label = "every argument must be injectable (`Dep<T>` or an `#[inject]` struct)",
    note = "put `#[inject]` on the fn to see which argument is not"
)]
pub trait Factory<Args>: Send + 'static {
    /// What it makes.
    type Output;
    /// Its arguments' needs, in order.
    fn declare(needs: &mut Needs);
    /// Resolves the arguments and calls it.
    fn call(self, scope: &mut Scope<'_>) -> Self::Output;
}

/// An async fn or closure whose arguments are all [`Inject`] types and
/// whose future yields `Result<T, E>`: a singleton factory for
/// `App::provide_async` (a pool that connects, say).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an async factory",
    label = "expected an async fn of injectable arguments returning `Result<T, E>`",
    note = "for a sync factory use `provide_with`; put `#[inject]` on the fn to check its arguments"
)]
pub trait AsyncFactory<Args>: Send + 'static {
    /// What it makes.
    type Output;
    /// Its arguments' needs, in order.
    fn declare(needs: &mut Needs);
    /// Resolves the arguments and starts it.
    fn call(
        self,
        scope: &mut Scope<'_>,
    ) -> BoxFuture<Result<Self::Output, super::factory::BoxError>>;
}

/// A sync fn or closure taking the request first, then injectable
/// arguments: a request-scoped factory for `App::provide_request`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a request-scoped factory",
    label = "expected `Fn(&RequestHead<'_>, …) -> T` with injectable arguments after the request"
)]
pub trait RequestFactory<Args>: Send + Sync + 'static {
    /// What it makes.
    type Output;
    /// Its arguments' needs, in order.
    fn declare(needs: &mut Needs);
    /// Resolves the arguments and calls it for `request`.
    fn call(&self, request: &RequestHead<'_>, scope: &mut Scope<'_>) -> Self::Output;
}

macro_rules! factories {
    ($($arg:ident),*) => {
        #[allow(non_snake_case, unused_variables)]
        impl<F, T, $($arg),*> Factory<($($arg,)*)> for F
        where
            F: FnOnce($($arg),*) -> T + Send + 'static,
            $($arg: Inject,)*
        {
            type Output = T;

            fn declare(needs: &mut Needs) {
                $($arg::declare(needs);)*
            }

            fn call(self, scope: &mut Scope<'_>) -> T {
                $(let $arg = $arg::resolve(scope);)*
                self($($arg),*)
            }
        }

        #[allow(non_snake_case, unused_variables)]
        impl<F, Fut, T, E, $($arg),*> AsyncFactory<($($arg,)*)> for F
        where
            F: FnOnce($($arg),*) -> Fut + Send + 'static,
            Fut: Future<Output = Result<T, E>> + Send + 'static,
            E: Into<BoxError>,
            $($arg: Inject + 'static,)*
        {
            type Output = T;

            fn declare(needs: &mut Needs) {
                $($arg::declare(needs);)*
            }

            fn call(self, scope: &mut Scope<'_>) -> BoxFuture<Result<T, BoxError>> {
                $(let $arg = $arg::resolve(scope);)*
                let future = self($($arg),*);
                Box::pin(async move { future.await.map_err(Into::into) })
            }
        }

        #[allow(non_snake_case, unused_variables)]
        impl<F, T, $($arg),*> RequestFactory<($($arg,)*)> for F
        where
            F: Fn(&RequestHead<'_>, $($arg),*) -> T + Send + Sync + 'static,
            $($arg: Inject,)*
        {
            type Output = T;

            fn declare(needs: &mut Needs) {
                $($arg::declare(needs);)*
            }

            fn call(&self, request: &RequestHead<'_>, scope: &mut Scope<'_>) -> T {
                $(let $arg = $arg::resolve(scope);)*
                self(request, $($arg),*)
            }
        }
    };
}

factories!();
factories!(A1);
factories!(A1, A2);
factories!(A1, A2, A3);
factories!(A1, A2, A3, A4);
factories!(A1, A2, A3, A4, A5);
factories!(A1, A2, A3, A4, A5, A6);
factories!(A1, A2, A3, A4, A5, A6, A7);
factories!(A1, A2, A3, A4, A5, A6, A7, A8);
