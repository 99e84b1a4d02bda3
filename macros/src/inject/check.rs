//! The rules of `#[inject]` that syntax can decide. Whether each field or
//! argument is injectable is the `Inject` trait's to say, at its type.

use syn::{GenericParam, ItemFn, ItemStruct, TypeParamBound, WherePredicate};

use super::parse::Target;
use crate::errors::Errors;

/// An item that passed every rule: all `expand` accepts. Only [`check`]
/// makes one.
pub(crate) struct Checked {
    target: Target,
}

impl Checked {
    pub(crate) fn target(&self) -> &Target {
        &self.target
    }
}

/// Checks the item, reporting each mistake; the checked model when there
/// were none (here or before). On a mistake the item comes back, to be
/// re-emitted unchanged beside the errors.
pub(crate) fn check(target: Target, errors: &mut Errors) -> Result<Checked, Box<Target>> {
    match &target {
        Target::Struct(item) => check_struct(item, errors),
        Target::Fn(func) => check_fn(func, errors),
    }
    if errors.is_empty() {
        Ok(Checked { target })
    } else {
        Err(Box::new(target))
    }
}

fn check_fn(func: &ItemFn, errors: &mut Errors) {
    let sig = &func.sig;
    if let Some(receiver) = sig.receiver() {
        errors.spanned(
            receiver,
            "a provider fn cannot take `self`: the container calls it with injected arguments only; write a free fn",
        );
    }
    if !sig.generics.params.is_empty() {
        errors.spanned(
            &sig.generics,
            "a provider fn cannot be generic: the container resolves arguments by their concrete types",
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.spanned(variadic, "a provider fn cannot be variadic");
    }
}

/// Injected values are shared between threads and live as long as the
/// app, so every type parameter needs `Send + Sync + 'static`; say so once
/// per parameter instead of letting the compiler say it at every use.
fn check_struct(item: &ItemStruct, errors: &mut Errors) {
    for param in &item.generics.params {
        let GenericParam::Type(param) = param else {
            continue;
        };
        let mut bounds: Vec<&TypeParamBound> = param.bounds.iter().collect();
        if let Some(where_clause) = &item.generics.where_clause {
            for predicate in &where_clause.predicates {
                if let WherePredicate::Type(p) = predicate
                    && let syn::Type::Path(path) = &p.bounded_ty
                    && path.path.is_ident(&param.ident)
                {
                    bounds.extend(p.bounds.iter());
                }
            }
        }
        let has = |name: &str| {
            bounds.iter().any(|b| match b {
                TypeParamBound::Trait(t) => t.path.segments.last().is_some_and(|s| s.ident == name),
                TypeParamBound::Lifetime(l) => name == "'static" && l.ident == "static",
                _ => false,
            })
        };
        let missing: Vec<&str> = ["Send", "Sync", "'static"]
            .into_iter()
            .filter(|b| !has(b))
            .collect();
        if !missing.is_empty() {
            let ident = &param.ident;
            errors.spanned(
                param,
                format!(
                    "type parameter `{ident}` of an #[inject] struct needs `{ident}: Send + Sync + 'static` (missing: {}), because injected values are shared between threads for the life of the app",
                    missing.join(", ")
                ),
            );
        }
    }
}
