//! Collects every mistake found in a macro input, so that one compile
//! reports them all, each at its own span.

/// An accumulator of `syn::Error`s, combined into one on `finish`.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn spanned(
        &mut self,
        tokens: impl quote::ToTokens,
        message: impl std::fmt::Display,
    ) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// How many mistakes were reported so far.
    pub(crate) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |all| all.into_iter().count())
    }

    /// Whether nothing was reported so far.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    pub(crate) fn finish(self) -> Result<(), syn::Error> {
        self.0.map_or(Ok(()), Err)
    }
}

/// The user's item, unchanged, followed by the errors: the item still
/// compiles, so one mistake does not turn into a cascade of others.
pub(crate) fn with_errors(
    item: proc_macro2::TokenStream,
    errors: Errors,
) -> proc_macro2::TokenStream {
    match errors.finish() {
        Ok(()) => item,
        Err(e) => {
            let errors = e.to_compile_error();
            quote::quote!(#item #errors)
        }
    }
}
