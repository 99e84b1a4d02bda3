//! Reads `#[route(METHOD, "path")]` and the item it sits on.

use proc_macro2::{Delimiter, Ident, Spacing, Span, TokenStream, TokenTree};
use syn::parse::{Parse, ParseStream};
use syn::{LitInt, LitStr, Token};

/// The attribute's arguments, read as loosely as possible so that `check`
/// can report a wrong method and a wrong path in the same compile.
pub(crate) struct RouteArgs {
    pub(crate) method: Ident,
    pub(crate) path: LitStr,
    /// `role = "admin"`: a valid bearer token with that role is required.
    pub(crate) role: Option<LitStr>,
    /// `cache(...)`: the route's caching policy.
    pub(crate) cache: Option<CacheArgs>,
}

/// `cache(max_age = 60, private, stale_while_revalidate = 30, no_cache,
/// server = 60, tag = "user:<id>", vary = "Accept-Language")`, as written.
pub(crate) struct CacheArgs {
    /// The `cache` token, where errors about the whole policy point.
    pub(crate) name: Ident,
    pub(crate) max_age: Option<LitInt>,
    pub(crate) stale_while_revalidate: Option<LitInt>,
    pub(crate) public: Option<Ident>,
    pub(crate) private: Option<Ident>,
    pub(crate) no_cache: Option<Ident>,
    pub(crate) server: Option<Ident>,
    /// `server = N`: seconds kept server-side, when not `max_age`.
    pub(crate) server_ttl: Option<LitInt>,
    pub(crate) tag: Option<LitStr>,
    pub(crate) vary: Option<LitStr>,
}

const CACHE_KEYS: &str = "max_age = N, stale_while_revalidate = N, public, private, no_cache, server or server = N, tag = \"…\", vary = \"…\"";

impl CacheArgs {
    fn parse(name: Ident, input: ParseStream) -> syn::Result<Self> {
        let content;
        syn::parenthesized!(content in input);
        let mut args = CacheArgs {
            name,
            max_age: None,
            stale_while_revalidate: None,
            public: None,
            private: None,
            no_cache: None,
            server: None,
            server_ttl: None,
            tag: None,
            vary: None,
        };
        while !content.is_empty() {
            let key: Ident = content.call(syn::ext::IdentExt::parse_any)?;
            let repeated = || {
                syn::Error::new(
                    key.span(),
                    format!("`{key}` is given twice in `cache(...)`"),
                )
            };
            match key.to_string().as_str() {
                "max_age" | "stale_while_revalidate" => {
                    content.parse::<Token![=]>()?;
                    let value: LitInt = content.parse().map_err(|e| {
                        syn::Error::new(
                            e.span(),
                            format!("`{key}` takes a number of seconds: `{key} = 60`"),
                        )
                    })?;
                    let slot = if key == "max_age" {
                        &mut args.max_age
                    } else {
                        &mut args.stale_while_revalidate
                    };
                    if slot.replace(value).is_some() {
                        return Err(repeated());
                    }
                }
                "tag" | "vary" => {
                    content.parse::<Token![=]>()?;
                    let value: LitStr = content.parse().map_err(|e| {
                        syn::Error::new(e.span(), format!("`{key}` takes a string literal"))
                    })?;
                    let slot = if key == "tag" {
                        &mut args.tag
                    } else {
                        &mut args.vary
                    };
                    if slot.replace(value).is_some() {
                        return Err(repeated());
                    }
                }
                "public" | "private" | "no_cache" | "server" => {
                    let slot = match key.to_string().as_str() {
                        "public" => &mut args.public,
                        "private" => &mut args.private,
                        "no_cache" => &mut args.no_cache,
                        _ => &mut args.server,
                    };
                    if slot.replace(key.clone()).is_some() {
                        return Err(repeated());
                    }
                    if key == "server" && content.peek(Token![=]) {
                        content.parse::<Token![=]>()?;
                        args.server_ttl = Some(content.parse().map_err(|e| {
                            syn::Error::new(
                                e.span(),
                                "`server` takes a number of seconds: `server = 60`",
                            )
                        })?);
                    }
                }
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!("unknown `cache` setting `{key}`; expected {CACHE_KEYS}"),
                    ));
                }
            }
            if !content.is_empty() {
                content.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

const USAGE: &str =
    r#"expected `#[route(METHOD, "/path")]`, for example `#[route(GET, "/users/<id>")]`"#;

impl Parse for RouteArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(input.error(USAGE));
        }
        if input.peek(LitStr) {
            return Err(input.error(
                r#"the method comes first, as an upper-case word: `#[route(GET, "/path")]`"#,
            ));
        }
        let method: Ident = input
            .call(syn::ext::IdentExt::parse_any)
            .map_err(|e| syn::Error::new(e.span(), USAGE))?;
        if input.is_empty() {
            return Err(syn::Error::new(
                method.span(),
                format!(r#"missing path: write `#[route({method}, "/path")]`"#),
            ));
        }
        input.parse::<Token![,]>()?;
        let path: LitStr = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                r#"expected the path as a string literal, for example "/users/<id>""#,
            )
        })?;
        let mut role = None;
        let mut cache = None;
        while input.peek(Token![,]) {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let name: Ident = input.call(syn::ext::IdentExt::parse_any)?;
            if name == "cache" && cache.is_none() && input.peek(syn::token::Paren) {
                cache = Some(CacheArgs::parse(name, input)?);
                continue;
            }
            if name != "role" || role.is_some() {
                return Err(syn::Error::new(
                    name.span(),
                    format!(
                        "unexpected argument `{name}`; after the method and the path, #[route] takes `role = \"…\"` and `cache(...)`"
                    ),
                ));
            }
            input.parse::<Token![=]>()?;
            role = Some(input.parse::<LitStr>().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    r#"`role` takes a string literal: `role = "admin"`"#,
                )
            })?);
        }
        if !input.is_empty() {
            return Err(input.error(format!(
                "unexpected argument; {USAGE} takes a method, a path and optionally `role = \"…\"` and `cache(...)`"
            )));
        }
        Ok(RouteArgs {
            method,
            path,
            role,
            cache,
        })
    }
}

/// The fn a `#[route]` sits on, read from its tokens by hand: its doc
/// comment, visibility, name, arguments and return type, each kept as
/// the tokens written (so they keep their spans), with the body never
/// walked.
///
/// Not `syn::Signature`: a proc macro runs unoptimized in a debug build
/// (Cargo's default `build-override`), and syn's parse of one signature
/// took ~0.3 M instructions, re-run for every route on every
/// `cargo check`. The compiler has already parsed the item, so only its
/// shape is left to find.
pub(crate) struct Handler {
    /// The doc comment's lines, unescaped.
    pub(crate) docs: Vec<String>,
    pub(crate) vis: TokenStream,
    pub(crate) asyncness: bool,
    pub(crate) ident: Ident,
    /// `<…>` after the name, when the fn is generic.
    pub(crate) generics: Option<TokenStream>,
    /// `where …`, when there is one.
    pub(crate) where_clause: Option<TokenStream>,
    pub(crate) inputs: Vec<Input>,
    /// The return type's tokens, when there is one.
    pub(crate) output: Option<TokenStream>,
    /// The fn's tokens, as written.
    pub(crate) tokens: TokenStream,
}

/// One argument, as written.
pub(crate) struct Input {
    /// The whole argument, attributes aside: where errors about it point.
    pub(crate) tokens: TokenStream,
    /// The argument's name, when its pattern is one (`id`, `mut id`).
    pub(crate) name: Option<Ident>,
    /// The type's tokens (empty for a receiver or `...`).
    pub(crate) ty: TokenStream,
    pub(crate) kind: InputKind,
}

#[derive(PartialEq, Eq)]
pub(crate) enum InputKind {
    Typed,
    /// `self`, `&self`, `mut self`, `self: Box<Self>`, …
    Receiver,
    /// C's `...`.
    Variadic,
}

impl Input {
    /// Where errors about the type point: its first token (what syn's
    /// `span()` gives on stable, where spans do not join).
    pub(crate) fn ty_span(&self) -> Span {
        first_span(&self.ty).unwrap_or_else(Span::call_site)
    }
}

/// The first token's span.
pub(crate) fn first_span(tokens: &TokenStream) -> Option<Span> {
    tokens.clone().into_iter().next().map(|tt| tt.span())
}

impl Handler {
    /// Reads `item` as a fn, or says why it is none: `Err(None)` when it
    /// is some other item (the caller reports that, at its keyword).
    pub(crate) fn parse(item: TokenStream) -> Result<Self, Option<syn::Error>> {
        let tokens: Vec<TokenTree> = item.clone().into_iter().collect();
        let mut at = 0;
        let mut docs = Vec::new();
        // Outer attributes: `#` then `[…]`.
        while let (Some(TokenTree::Punct(hash)), Some(TokenTree::Group(attr))) =
            (tokens.get(at), tokens.get(at + 1))
        {
            if hash.as_char() != '#' || attr.delimiter() != Delimiter::Bracket {
                break;
            }
            if let Some(line) = doc_line(attr.stream()) {
                docs.push(line);
            }
            at += 2;
        }
        let vis_start = at;
        if is_ident(tokens.get(at), "pub") {
            at += 1;
            if matches!(tokens.get(at), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis)
            {
                at += 1;
            }
        }
        let vis = tokens[vis_start..at].iter().cloned().collect();
        // Qualifiers, then `fn`: anything else is another item.
        let mut asyncness = false;
        loop {
            match tokens.get(at) {
                Some(TokenTree::Ident(word)) => match word.to_string().as_str() {
                    "fn" => break,
                    "async" => asyncness = true,
                    "const" | "unsafe" | "safe" => {}
                    "extern" => {
                        if matches!(tokens.get(at + 1), Some(TokenTree::Literal(_))) {
                            at += 1;
                        }
                    }
                    _ => return Err(None),
                },
                _ => return Err(None),
            }
            at += 1;
        }
        let Some(TokenTree::Ident(ident)) = tokens.get(at + 1) else {
            return Err(None);
        };
        let ident = ident.clone();
        at += 2;
        let generics = if is_punct(tokens.get(at), '<') {
            let end = angle_end(&tokens, at);
            let generics = tokens[at..end].iter().cloned().collect();
            at = end;
            Some(generics)
        } else {
            None
        };
        let Some(TokenTree::Group(args)) = tokens.get(at) else {
            return Err(None);
        };
        let inputs = split_args(args.stream());
        at += 1;
        if !matches!(tokens.last(), Some(TokenTree::Group(body)) if body.delimiter() == Delimiter::Brace)
        {
            return Err(Some(syn::Error::new(
                ident.span(),
                "expected the handler's body, `{ … }`",
            )));
        }
        let rest = &tokens[at..tokens.len() - 1];
        let where_at = rest
            .iter()
            .position(|tt| matches!(tt, TokenTree::Ident(w) if w == "where"))
            .unwrap_or(rest.len());
        let output = match rest {
            [TokenTree::Punct(dash), TokenTree::Punct(arrow), ..]
                if dash.as_char() == '-' && arrow.as_char() == '>' =>
            {
                Some(rest[2..where_at].iter().cloned().collect())
            }
            _ => None,
        };
        let where_clause =
            (where_at < rest.len()).then(|| rest[where_at..].iter().cloned().collect());
        Ok(Handler {
            docs,
            vis,
            asyncness,
            ident,
            generics,
            where_clause,
            inputs,
            output,
            tokens: item,
        })
    }
}

/// Whether `tt` is the word `word`.
pub(crate) fn is_ident(tt: Option<&TokenTree>, word: &str) -> bool {
    matches!(tt, Some(TokenTree::Ident(i)) if i == word)
}

fn is_punct(tt: Option<&TokenTree>, ch: char) -> bool {
    matches!(tt, Some(TokenTree::Punct(p)) if p.as_char() == ch)
}

/// Whether `tokens[i]` is a `>` that closes an angle bracket (not the
/// end of `->` or `=>`).
fn closes_angle(tokens: &[TokenTree], i: usize) -> bool {
    is_punct(tokens.get(i), '>')
        && !matches!(i.checked_sub(1).and_then(|j| tokens.get(j)),
            Some(TokenTree::Punct(p)) if matches!(p.as_char(), '-' | '=') && p.spacing() == Spacing::Joint)
}

/// The index after the `>` matching the `<` at `start`.
fn angle_end(tokens: &[TokenTree], start: usize) -> usize {
    let mut depth = 0usize;
    for i in start..tokens.len() {
        if is_punct(tokens.get(i), '<') {
            depth += 1;
        } else if closes_angle(tokens, i) {
            depth -= 1;
            if depth == 0 {
                return i + 1;
            }
        }
    }
    tokens.len()
}

/// The arguments in `(…)`, split at the commas outside angle brackets.
fn split_args(stream: TokenStream) -> Vec<Input> {
    let tokens: Vec<TokenTree> = stream.into_iter().collect();
    let mut inputs = Vec::new();
    let mut start = 0;
    let mut depth = 0usize;
    for i in 0..=tokens.len() {
        match tokens.get(i) {
            Some(TokenTree::Punct(p)) if p.as_char() == '<' => depth += 1,
            Some(TokenTree::Punct(p)) if p.as_char() == '>' && closes_angle(&tokens, i) => {
                depth = depth.saturating_sub(1);
            }
            Some(TokenTree::Punct(p)) if p.as_char() == ',' && depth == 0 => {
                inputs.push(input(&tokens[start..i]));
                start = i + 1;
            }
            None if start < i => inputs.push(input(&tokens[start..i])),
            _ => {}
        }
    }
    inputs
}

/// One argument's tokens: attributes, pattern, `:`, type.
fn input(mut tokens: &[TokenTree]) -> Input {
    while let [TokenTree::Punct(hash), TokenTree::Group(_), rest @ ..] = tokens {
        if hash.as_char() != '#' {
            break;
        }
        tokens = rest;
    }
    let whole = tokens.iter().cloned().collect();
    // The `:` between pattern and type: the first one not half of `::`.
    let colon = (0..tokens.len()).find(|&i| {
        is_punct(tokens.get(i), ':')
            && !is_punct(tokens.get(i + 1), ':')
            && !(i > 0 && is_punct(tokens.get(i - 1), ':'))
    });
    let (pattern, ty) = match colon {
        Some(i) => (&tokens[..i], &tokens[i + 1..]),
        None => (tokens, &[][..]),
    };
    let dots = |t: &[TokenTree]| t.len() == 3 && t.iter().all(|tt| is_punct(Some(tt), '.'));
    let kind = if pattern.last().is_some_and(|tt| is_ident(Some(tt), "self")) {
        InputKind::Receiver
    } else if dots(pattern) || dots(ty) {
        InputKind::Variadic
    } else {
        InputKind::Typed
    };
    let name = match pattern {
        [TokenTree::Ident(name)] | [TokenTree::Ident(_), TokenTree::Ident(name)]
            if name != "_" && (pattern.len() == 1 || is_ident(pattern.first(), "mut")) =>
        {
            Some(name.clone())
        }
        _ => None,
    };
    Input {
        tokens: whole,
        name,
        ty: if kind == InputKind::Typed {
            ty.iter().cloned().collect()
        } else {
            TokenStream::new()
        },
        kind,
    }
}

/// The text of a `doc = "…"` attribute's literal, unescaped; `None` for
/// any other attribute.
fn doc_line(attr: TokenStream) -> Option<String> {
    let mut parts = attr.into_iter();
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (
            Some(TokenTree::Ident(doc)),
            Some(TokenTree::Punct(eq)),
            Some(TokenTree::Literal(text)),
            None,
        ) if doc == "doc" && eq.as_char() == '=' => {
            // A doc comment without escapes (nearly all) is its text
            // between the quotes; syn unescapes the rest.
            let repr = text.to_string();
            match repr.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
                Some(plain) if !plain.contains('\\') => Some(plain.to_owned()),
                _ => match syn::Lit::new(text) {
                    syn::Lit::Str(text) => Some(text.value()),
                    _ => None,
                },
            }
        }
        _ => None,
    }
}
