//! Registration, building and per-route resolution of dependencies.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::RequestHead;
use super::factory::{BoxError, BoxFuture};
use super::graph::{self, InjectProblem, Node};
use super::scope::{Slot, SlotKind};
use super::{AsyncFactory, Dep, Factory, Need, Needs, RequestFactory, Scope, short_name};

type AnyArc = Arc<dyn Any + Send + Sync>;
type RequestFn = Arc<dyn Fn(&RequestHead<'_>, &mut Scope<'_>) -> AnyArc + Send + Sync>;
type AsyncMake = Box<dyn FnOnce(&mut Scope<'_>) -> BoxFuture<Result<AnyArc, BoxError>> + Send>;

enum Make {
    Value(AnyArc),
    Sync(Box<dyn FnOnce(&mut Scope<'_>) -> AnyArc + Send>),
    Async(AsyncMake),
    Request(RequestFn),
}

struct Provider {
    makes: Need,
    needs: Vec<Need>,
    make: Make,
}

fn needs_of(declare: fn(&mut Needs)) -> Vec<Need> {
    let mut needs = Needs::default();
    declare(&mut needs);
    needs.into_vec()
}

/// The providers registered on an app, before anything is built.
#[derive(Default)]
pub(crate) struct Registry {
    providers: Vec<Provider>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.providers.iter().map(|p| p.makes.name))
            .finish()
    }
}

impl Registry {
    pub(crate) fn provide<T: Send + Sync + 'static>(&mut self, value: T) {
        self.providers.push(Provider {
            makes: Need::of::<T>(),
            needs: Vec::new(),
            make: Make::Value(Arc::new(value)),
        });
    }

    pub(crate) fn provide_with<Args, F>(&mut self, factory: F)
    where
        F: Factory<Args>,
        F::Output: Send + Sync + 'static,
    {
        self.providers.push(Provider {
            makes: Need::of::<F::Output>(),
            needs: needs_of(F::declare),
            make: Make::Sync(Box::new(move |scope| {
                Arc::new(factory.call(scope)) as AnyArc
            })),
        });
    }

    pub(crate) fn provide_async<Args, F>(&mut self, factory: F)
    where
        F: AsyncFactory<Args>,
        F::Output: Send + Sync + 'static,
    {
        self.providers.push(Provider {
            makes: Need::of::<F::Output>(),
            needs: needs_of(F::declare),
            make: Make::Async(Box::new(move |scope| {
                let future = factory.call(scope);
                Box::pin(async move { future.await.map(|v| Arc::new(v) as AnyArc) })
            })),
        });
    }

    pub(crate) fn provide_request<Args, F>(&mut self, factory: F)
    where
        F: RequestFactory<Args>,
        F::Output: Send + Sync + 'static,
    {
        self.providers.push(Provider {
            makes: Need::of::<F::Output>(),
            needs: needs_of(F::declare),
            make: Make::Request(Arc::new(move |request, scope| {
                Arc::new(factory.call(request, scope)) as AnyArc
            })),
        });
    }

    /// Forgets every provider of `T`, so that another can take its place.
    pub(crate) fn forget<T: 'static>(&mut self) {
        let key = TypeId::of::<T>();
        self.providers.retain(|p| p.makes.key() != key);
    }

    fn nodes(&self) -> Vec<Node<'_>> {
        self.providers
            .iter()
            .map(|p| Node {
                makes: &p.makes,
                needs: &p.needs,
                request_scoped: matches!(p.make, Make::Request(_)),
            })
            .collect()
    }

    /// Every problem of the graph serving `consumers` (label, needs).
    pub(crate) fn check(&self, consumers: &[(String, Vec<Need>)]) -> Vec<InjectProblem> {
        graph::check(&self.nodes(), consumers)
    }

    /// Builds every singleton, in dependency order, running async
    /// factories. Call only after `check` found nothing.
    pub(crate) async fn build(self) -> Result<Container, Vec<InjectProblem>> {
        let order = graph::build_order(&self.nodes());
        let mut providers: Vec<Option<Provider>> = self.providers.into_iter().map(Some).collect();
        let mut singletons: HashMap<TypeId, AnyArc> = HashMap::new();
        let mut request: HashMap<TypeId, (RequestFn, Vec<Need>)> = HashMap::new();
        let mut failures = Vec::new();
        for i in order {
            let Some(provider) = providers[i].take() else {
                continue;
            };
            let key = provider.makes.key();
            let slots = match singleton_slots(&provider.needs, &singletons) {
                Some(slots) => slots,
                // A dependency failed to build; its failure is reported.
                None => continue,
            };
            let mut next = 0;
            let mut scope = Scope::new(&slots, &[], &mut next);
            let built = match provider.make {
                Make::Value(value) => Ok(value),
                Make::Sync(make) => Ok(make(&mut scope)),
                Make::Async(make) => make(&mut scope).await,
                Make::Request(make) => {
                    request.insert(key, (make, provider.needs));
                    continue;
                }
            };
            match built {
                Ok(value) => {
                    singletons.insert(key, value);
                }
                Err(error) => failures.push(InjectProblem::Failed {
                    name: short_name(provider.makes.name),
                    error: error.to_string(),
                }),
            }
        }
        if failures.is_empty() {
            Ok(Container {
                singletons,
                request,
            })
        } else {
            Err(failures)
        }
    }
}

fn singleton_slots(needs: &[Need], singletons: &HashMap<TypeId, AnyArc>) -> Option<Vec<Slot>> {
    needs
        .iter()
        .map(|need| {
            singletons.get(&need.key()).map(|v| Slot {
                kind: SlotKind::Singleton(Arc::clone(v)),
                type_id: need.key(),
            })
        })
        .collect()
}

/// The dependencies of one route, resolved when the app was built: a slot
/// per declared need, and the request-scoped factories to run (in
/// dependency order) for each request.
#[derive(Debug, Default)]
pub(crate) struct RouteDeps {
    pub(crate) slots: Box<[Slot]>,
    pub(crate) plan: Box<[PlanStep]>,
}

pub(crate) struct PlanStep {
    pub(crate) make: RequestFn,
    pub(crate) slots: Box<[Slot]>,
}

impl fmt::Debug for PlanStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlanStep")
            .field("slots", &self.slots)
            .finish_non_exhaustive()
    }
}

impl RouteDeps {
    /// Runs the request-scoped factories for one request.
    pub(crate) fn run_plan(&self, request: &RequestHead<'_>) -> Vec<AnyArc> {
        let mut values = Vec::with_capacity(self.plan.len());
        for step in &self.plan {
            let mut next = 0;
            let value = (step.make)(request, &mut Scope::new(&step.slots, &values, &mut next));
            values.push(value);
        }
        values
    }
}

/// The built dependencies: singletons by type, and request-scoped
/// factories.
pub struct Container {
    singletons: HashMap<TypeId, AnyArc>,
    request: HashMap<TypeId, (RequestFn, Vec<Need>)>,
}

impl fmt::Debug for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Container")
            .field("singletons", &self.singletons.len())
            .field("request_scoped", &self.request.len())
            .finish()
    }
}

impl Container {
    /// A builder for a container used on its own (an app builds its own).
    pub fn builder() -> ContainerBuilder {
        ContainerBuilder::default()
    }

    /// The singleton of type `T`, if one was provided. A map lookup:
    /// fine at start-up, not what handlers use (they get `Dep<T>`
    /// resolved ahead of time).
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<Dep<T>> {
        let any = Arc::clone(self.singletons.get(&TypeId::of::<T>())?);
        any.downcast().ok().map(Dep::from_arc)
    }

    /// Calls `f` with its arguments resolved from the singletons.
    pub fn call<Args, F: Factory<Args>>(&self, f: F) -> Result<F::Output, InjectProblem> {
        let mut needs = Needs::default();
        F::declare(&mut needs);
        let slots = self.resolve_singletons(&needs.into_vec(), "the called fn")?;
        let mut next = 0;
        Ok(f.call(&mut Scope::new(&slots, &[], &mut next)))
    }

    fn resolve_singletons(&self, needs: &[Need], who: &str) -> Result<Vec<Slot>, InjectProblem> {
        needs
            .iter()
            .map(|need| match self.singletons.get(&need.key()) {
                Some(value) => Ok(Slot {
                    kind: SlotKind::Singleton(Arc::clone(value)),
                    type_id: need.key(),
                }),
                None if self.request.contains_key(&need.key()) => {
                    Err(InjectProblem::OutsideRequest(short_name(need.name)))
                }
                None => Err(InjectProblem::Missing {
                    who: who.to_owned(),
                    need: need.describe(),
                }),
            })
            .collect()
    }

    /// Resolves a route's needs. Call only for needs `check` accepted.
    pub(crate) fn route_deps(&self, needs: &[Need]) -> RouteDeps {
        let mut plan: Vec<PlanStep> = Vec::new();
        let mut planned: HashMap<TypeId, usize> = HashMap::new();
        let slots = needs
            .iter()
            .map(|need| self.slot(need, &mut plan, &mut planned))
            .collect();
        RouteDeps {
            slots,
            plan: plan.into_boxed_slice(),
        }
    }

    fn slot(
        &self,
        need: &Need,
        plan: &mut Vec<PlanStep>,
        planned: &mut HashMap<TypeId, usize>,
    ) -> Slot {
        let slot = |kind| Slot {
            kind,
            type_id: need.key(),
        };
        if let Some(value) = self.singletons.get(&need.key()) {
            return slot(SlotKind::Singleton(Arc::clone(value)));
        }
        if let Some(&n) = planned.get(&need.key()) {
            return slot(SlotKind::Request(n));
        }
        let (make, needs) = &self.request[&need.key()];
        let slots = needs.iter().map(|n| self.slot(n, plan, planned)).collect();
        plan.push(PlanStep {
            make: Arc::clone(make),
            slots,
        });
        planned.insert(need.key(), plan.len() - 1);
        slot(SlotKind::Request(plan.len() - 1))
    }
}

/// The singleton `provide*` methods of a builder that holds a [`Registry`]
/// in the field `$registry`: written once, for `App` and
/// [`ContainerBuilder`] alike. `$when` says when factories run.
macro_rules! provide_methods {
    ($registry:ident, $when:literal) => {
        /// Registers a ready value, a singleton taken as `Dep<T>`.
        pub fn provide<T: Send + Sync + 'static>(mut self, value: T) -> Self {
            self.$registry.provide(value);
            self
        }

        #[doc = concat!("Registers a sync factory whose arguments are injected (`Dep<T>`, `#[inject]` structs); it runs once, when ", $when, ", and its value is a singleton.")]
        pub fn provide_with<Args, F>(mut self, factory: F) -> Self
        where
            F: $crate::inject::Factory<Args>,
            F::Output: Send + Sync + 'static,
        {
            self.$registry.provide_with(factory);
            self
        }

        #[doc = concat!("Registers an async factory returning `Result<T, E>` (a database pool that connects, say); it runs once, when ", $when, ", and an error stops the build.")]
        pub fn provide_async<Args, F>(mut self, factory: F) -> Self
        where
            F: $crate::inject::AsyncFactory<Args>,
            F::Output: Send + Sync + 'static,
        {
            self.$registry.provide_async(factory);
            self
        }
    };
}
pub(crate) use provide_methods;

/// Registers dependencies for a [`Container`] used on its own.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use portico_runtime::inject::{Container, Dep};
///
/// struct Greeting(String);
/// let container = Container::builder()
///     .provide(String::from("world"))
///     .provide_with(|name: Dep<String>| Greeting(format!("hello, {}", *name)))
///     .build()
///     .await
///     .unwrap();
/// assert_eq!(container.get::<Greeting>().unwrap().0, "hello, world");
/// # });
/// ```
#[derive(Default, Debug)]
#[must_use = "a ContainerBuilder does nothing until it is built"]
pub struct ContainerBuilder {
    registry: Registry,
}

/// Why a container could not be built: every problem found.
#[derive(Debug, thiserror::Error)]
#[error("the dependencies cannot be built:{}", .0.iter().map(|p| format!("\n  - {p}")).collect::<String>())]
pub struct ContainerError(pub Vec<InjectProblem>);

impl ContainerBuilder {
    provide_methods!(registry, "the container is built");

    /// Checks the graph and builds every singleton.
    pub async fn build(self) -> Result<Container, ContainerError> {
        let problems = self.registry.check(&[]);
        if !problems.is_empty() {
            return Err(ContainerError(problems));
        }
        self.registry.build().await.map_err(ContainerError)
    }
}
