//! Reads the item `#[inject]` sits on.

use syn::{Item, ItemFn, ItemStruct};

use crate::errors::Errors;

/// What `#[inject]` can apply to.
pub(crate) enum Target {
    /// Built from the container by the types of its fields.
    Struct(ItemStruct),
    /// A provider whose arguments the container resolves.
    Fn(ItemFn),
}

/// The item as a target, or the item back (to re-emit) with the error.
pub(crate) fn parse(item: Item, errors: &mut Errors) -> Result<Target, Box<Item>> {
    let what = match &item {
        Item::Struct(_) => {
            let Item::Struct(s) = item else {
                unreachable!()
            };
            return Ok(Target::Struct(s));
        }
        Item::Fn(_) => {
            let Item::Fn(f) = item else { unreachable!() };
            return Ok(Target::Fn(f));
        }
        Item::Enum(e) => (quote::ToTokens::to_token_stream(&e.enum_token), "an enum"),
        Item::Trait(t) => (quote::ToTokens::to_token_stream(&t.trait_token), "a trait"),
        Item::Impl(i) => (
            quote::ToTokens::to_token_stream(&i.impl_token),
            "an impl block",
        ),
        Item::Union(u) => (quote::ToTokens::to_token_stream(&u.union_token), "a union"),
        Item::Type(t) => (
            quote::ToTokens::to_token_stream(&t.type_token),
            "a type alias",
        ),
        Item::Const(c) => (quote::ToTokens::to_token_stream(&c.const_token), "a const"),
        Item::Static(s) => (
            quote::ToTokens::to_token_stream(&s.static_token),
            "a static",
        ),
        Item::Mod(m) => (quote::ToTokens::to_token_stream(&m.mod_token), "a module"),
        other => (quote::ToTokens::to_token_stream(other), "this item"),
    };
    errors.spanned(
        what.0,
        format!(
            "#[inject] goes on a struct (built from its `Dep<T>` fields) or on a provider fn, not on {}",
            what.1
        ),
    );
    Err(Box::new(item))
}

impl quote::ToTokens for Target {
    fn to_tokens(&self, tokens: &mut proc_macro2::TokenStream) {
        match self {
            Target::Struct(item) => item.to_tokens(tokens),
            Target::Fn(func) => func.to_tokens(tokens),
        }
    }
}
