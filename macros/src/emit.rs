//! Builds a macro's output as Rust source text, which the compiler lexes
//! in one call, with the user's tokens spliced in where their spans
//! matter.
//!
//! A proc macro runs unoptimized in a debug build (Cargo's default
//! `build-override`), and `quote!` builds its output a token at a time,
//! each token then handed to the compiler on its own: for `#[route]`
//! that was half of what the macro cost every `cargo check`. Text is
//! formatted by the standard library, which is always optimized, and
//! crosses to the compiler once. Tokens that must point at the user's
//! code (the spans a trait-bound error is reported at) are still built
//! as tokens.

use std::fmt;

use proc_macro2::{Delimiter, Span, TokenStream};
use quote::ToTokens;

/// Output under construction: finished pieces, then text not yet lexed.
///
/// The pieces are `proc_macro` streams, joined once at the end: each
/// join of proc_macro2 streams is a call into the compiler that copies
/// what came before.
#[derive(Default)]
pub(crate) struct Emit {
    done: Vec<proc_macro::TokenStream>,
    text: String,
}

impl Emit {
    /// Appends source text. Every delimiter it opens, it closes: a group
    /// with tokens spliced inside is made with [`Emit::group`].
    pub(crate) fn text(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends tokens as they are, spans and all.
    pub(crate) fn tokens(&mut self, tokens: impl ToTokens) -> &mut Self {
        self.lex();
        self.done.push(tokens.into_token_stream().into());
        self
    }

    /// Appends `text`, words and punctuation only (no literal, no
    /// delimiter), every token spanned at `span`: the parts of a call
    /// whose errors must point at a user's token (a lexed token is
    /// spanned at the macro's call site). Read here rather than by the
    /// compiler: the text is the macro's own, a few tokens long.
    pub(crate) fn spanned(&mut self, span: Span, text: &str) -> &mut Self {
        self.lex();
        let span = span.unwrap();
        let bytes = text.as_bytes();
        // A byte past ASCII belongs to a word: a field may be named
        // `größe`.
        let word = |b: u8| b == b'_' || b.is_ascii_alphanumeric() || !b.is_ascii();
        let mut trees: Vec<proc_macro::TokenTree> = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            if c.is_ascii_whitespace() {
                i += 1;
            } else if word(c) {
                let raw = c == b'r' && bytes.get(i + 1) == Some(&b'#');
                let start = if raw { i + 2 } else { i };
                i = start;
                while i < bytes.len() && word(bytes[i]) {
                    i += 1;
                }
                let name = &text[start..i];
                let ident = if raw {
                    proc_macro::Ident::new_raw(name, span)
                } else {
                    proc_macro::Ident::new(name, span)
                };
                trees.push(ident.into());
            } else {
                debug_assert!(
                    !b"()[]{}\"'".contains(&c),
                    "no literal or delimiter in spanned text"
                );
                let next = bytes.get(i + 1).copied().unwrap_or(b' ');
                let spacing = if next.is_ascii_punctuation() && !word(next) {
                    proc_macro::Spacing::Joint
                } else {
                    proc_macro::Spacing::Alone
                };
                let mut punct = proc_macro::Punct::new(char::from(c), spacing);
                punct.set_span(span);
                trees.push(punct.into());
                i += 1;
            }
        }
        self.done.push(trees.into_iter().collect());
        self
    }

    /// Appends a group delimited by `delimiter` and spanned at `span`,
    /// its content emitted by `content`.
    pub(crate) fn group(
        &mut self,
        delimiter: Delimiter,
        span: Span,
        content: impl FnOnce(&mut Emit),
    ) -> &mut Self {
        let mut inner = Emit::default();
        content(&mut inner);
        let delimiter = match delimiter {
            Delimiter::Parenthesis => proc_macro::Delimiter::Parenthesis,
            Delimiter::Brace => proc_macro::Delimiter::Brace,
            Delimiter::Bracket => proc_macro::Delimiter::Bracket,
            Delimiter::None => proc_macro::Delimiter::None,
        };
        let mut group = proc_macro::Group::new(delimiter, inner.finish_raw());
        group.set_span(span.unwrap());
        self.lex();
        self.done.push(proc_macro::TokenTree::Group(group).into());
        self
    }

    /// The tokens emitted.
    pub(crate) fn finish(self) -> TokenStream {
        self.finish_raw().into()
    }

    fn finish_raw(mut self) -> proc_macro::TokenStream {
        self.lex();
        self.done.into_iter().collect()
    }

    fn lex(&mut self) {
        if self.text.is_empty() {
            return;
        }
        // Lexed by the compiler itself: proc_macro2's own `parse` first
        // runs its fallback lexer over the text (unoptimized), which cost
        // nine times what the compiler's lexing does. The text is the
        // macros' own, with the user's strings in it escaped by `{:?}`:
        // a failure here is a bug in the macro.
        let lexed: proc_macro::TokenStream = self.text.parse().unwrap_or_else(|e| {
            panic!(
                "portico-macros emitted text that does not lex ({e}): {}",
                self.text
            )
        });
        self.done.push(lexed);
        self.text.clear();
    }
}

impl fmt::Write for Emit {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.text.push_str(text);
        Ok(())
    }
}
