//! Attribute arguments shared by the three macros (`name = ..`, flags, `tags(..)`,
//! `crate = ..`) and the doc-comment description.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, ExprLit, Ident, ItemFn, Lit, LitStr, Meta, Path, Token};

/// The value of one `key ...` attribute argument.
pub enum Value {
    /// `key` alone.
    Flag,
    /// `key = "lit"`, `key = true`.
    Lit(Lit),
    /// `key = some::path`.
    Path(Path),
    /// `key("a", "b")` or `key = ["a", "b"]`.
    List(Vec<LitStr>),
}

/// One `key ...` attribute argument.
pub struct Item {
    pub key: Ident,
    pub value: Value,
}

impl Parse for Item {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let key = Ident::parse_any(input)?;
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            if input.peek(syn::token::Bracket) {
                // `key = ["a", "b"]`
                let content;
                syn::bracketed!(content in input);
                let list = Punctuated::<LitStr, Token![,]>::parse_terminated(&content)?;
                Value::List(list.into_iter().collect())
            } else if input.peek(Lit) {
                Value::Lit(input.parse()?)
            } else {
                Value::Path(input.parse()?)
            }
        } else if input.peek(syn::token::Paren) {
            let content;
            syn::parenthesized!(content in input);
            let list = Punctuated::<LitStr, Token![,]>::parse_terminated(&content)?;
            Value::List(list.into_iter().collect())
        } else {
            Value::Flag
        };
        Ok(Item { key, value })
    }
}

/// The arguments of a macro attribute: an optional leading string literal, then
/// `key`, `key = value` and `key("a", ..)` items.
pub struct AttrArgs {
    pub positional: Option<LitStr>,
    items: Vec<Item>,
}

impl Parse for AttrArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let positional = if input.peek(LitStr) {
            let lit = input.parse()?;
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
            Some(lit)
        } else {
            None
        };
        let items = Punctuated::<Item, Token![,]>::parse_terminated(input)?;
        let mut out: Vec<Item> = Vec::new();
        for item in items {
            if out.iter().any(|i| i.key == item.key) {
                return Err(syn::Error::new_spanned(&item.key, format!("`{}` is given twice", item.key)));
            }
            out.push(item);
        }
        Ok(AttrArgs { positional, items: out })
    }
}

impl AttrArgs {
    fn take(&mut self, key: &str) -> Option<Item> {
        let i = self.items.iter().position(|i| i.key == key)?;
        Some(self.items.remove(i))
    }

    /// `key = "text"`.
    pub fn string(&mut self, key: &str) -> syn::Result<Option<LitStr>> {
        match self.take(key) {
            None => Ok(None),
            Some(Item { value: Value::Lit(Lit::Str(s)), .. }) => Ok(Some(s)),
            Some(item) => Err(syn::Error::new_spanned(&item.key, format!("expected `{key} = \"...\"`"))),
        }
    }

    /// `key` (true) or `key = true|false`.
    pub fn boolean(&mut self, key: &str) -> syn::Result<Option<bool>> {
        match self.take(key) {
            None => Ok(None),
            Some(Item { value: Value::Flag, .. }) => Ok(Some(true)),
            Some(Item { value: Value::Lit(Lit::Bool(b)), .. }) => Ok(Some(b.value)),
            Some(item) => Err(syn::Error::new_spanned(&item.key, format!("expected `{key}` or `{key} = true|false`"))),
        }
    }

    /// `key("a", "b")` or `key = ["a", "b"]`.
    pub fn list(&mut self, key: &str) -> syn::Result<Vec<LitStr>> {
        match self.take(key) {
            None => Ok(Vec::new()),
            Some(Item { value: Value::List(l), .. }) => Ok(l),
            Some(item) => Err(syn::Error::new_spanned(
                &item.key,
                format!("expected `{key}(\"a\", \"b\")` or `{key} = [\"a\", \"b\"]`"),
            )),
        }
    }

    /// `crate = "path"` or `crate = path`; defaults to `::ferromcp::__core`.
    pub fn core_path(&mut self) -> syn::Result<Path> {
        match self.take("crate") {
            None => Ok(syn::parse_quote!(::ferromcp::__core)),
            Some(Item { value: Value::Lit(Lit::Str(s)), .. }) => s.parse(),
            Some(Item { value: Value::Path(p), .. }) => Ok(p),
            Some(item) => Err(syn::Error::new_spanned(&item.key, "expected `crate = \"path::to::ferromcp_core\"`")),
        }
    }

    /// Fails on any argument not consumed, listing the accepted ones.
    pub fn finish(self, accepted: &[&str]) -> syn::Result<()> {
        match self.items.first() {
            None => Ok(()),
            Some(item) => Err(syn::Error::new_spanned(
                &item.key,
                format!("unknown argument `{}`; accepted: {}", item.key, accepted.join(", ")),
            )),
        }
    }
}

/// The doc comment of an item, with the leading space of each line removed.
pub fn doc_string(attrs: &[Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .flat_map(|s| {
            // `split`, not `lines`: an empty `///` line is a paragraph break.
            s.split('\n').map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end().to_owned()).collect::<Vec<_>>()
        })
        .collect();
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// The arguments every macro accepts: `name`, `title`, `description`, `tags(..)`,
/// `enabled`, `scopes = [..]` (OAuth scopes a caller needs), plus the doc comment as
/// the default description.
pub struct Common {
    pub name: String,
    pub title: Option<LitStr>,
    pub description: Option<String>,
    pub tags: Vec<LitStr>,
    pub enabled: Option<bool>,
    pub scopes: Vec<LitStr>,
}

impl Common {
    pub const KEYS: [&'static str; 7] = ["name", "title", "description", "tags", "enabled", "scopes", "crate"];

    pub fn parse(args: &mut AttrArgs, f: &ItemFn) -> syn::Result<Self> {
        let name = match args.string("name")? {
            Some(n) if n.value().is_empty() => {
                return Err(syn::Error::new_spanned(n, "the name cannot be empty"));
            }
            Some(n) => n.value(),
            None => f.sig.ident.unraw().to_string(),
        };
        Ok(Common {
            name,
            title: args.string("title")?,
            description: args.string("description")?.map(|d| d.value()).or_else(|| doc_string(&f.attrs)),
            tags: args.list("tags")?,
            enabled: args.boolean("enabled")?,
            scopes: args.list("scopes")?,
        })
    }

    /// `.description(..).title(..).tag(..).enabled(..).scopes(..)` for whichever were given.
    pub fn setters(&self) -> TokenStream {
        let description = self.description.as_ref().map(|d| quote!(.description(#d)));
        let title = self.title.as_ref().map(|t| quote!(.title(#t)));
        let tags = &self.tags;
        let enabled = self.enabled.map(|e| quote!(.enabled(#e)));
        let scopes = (!self.scopes.is_empty()).then(|| {
            let s = &self.scopes;
            quote!(.scopes([#(#s),*]))
        });
        quote!(#description #title #(.tag(#tags))* #enabled #scopes)
    }
}

/// Rejects a leading string literal where the macro takes none.
pub fn no_positional(args: &AttrArgs, what: &str) -> syn::Result<()> {
    match &args.positional {
        Some(lit) => {
            Err(syn::Error::new_spanned(lit, format!("#[{what}] takes no positional argument; use `name = \"...\"`")))
        }
        None => Ok(()),
    }
}
