//! The annotated function: its parameters and signature checks, and the pieces of
//! generated code built from them (argument struct, call expression, unit struct).

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::ext::IdentExt as _;
use syn::{Attribute, FnArg, Ident, ItemFn, LitStr, Pat, Path, Type};

/// How a parameter is supplied.
pub enum ParamKind {
    /// `Context`: a clone of the request context.
    Context,
    /// `&Context`: a borrow of it.
    ContextRef,
    /// Decoded from the arguments (or a template variable).
    Value,
}

/// One parameter of the annotated function.
pub struct Param {
    pub ident: Ident,
    pub ty: Type,
    pub kind: ParamKind,
    pub description: Option<LitStr>,
    pub rename: Option<LitStr>,
}

impl Param {
    /// The inner type if this parameter is an `Option<T>`.
    pub fn option_inner(&self) -> Option<&Type> {
        option_inner(&self.ty)
    }
    /// Whether this is a session handle: a value whose type (or the `T` of an
    /// `Option<T>`) is a path ending in `SessionHandle`.
    pub fn is_session_handle(&self) -> bool {
        matches!(self.kind, ParamKind::Value)
            && last_segment_is(self.option_inner().unwrap_or(&self.ty), "SessionHandle")
    }
    /// The argument's name on the wire (`#[arg(rename)]`, else the parameter's name).
    pub fn wire_name(&self) -> String {
        match &self.rename {
            Some(r) => r.value(),
            None => self.ident.unraw().to_string(),
        }
    }
}

/// The builder call that marks a tool as taking a session handle (`.session_handle_argument()`,
/// detected from the parameter's Rust type), or nothing. A handle parameter must be the
/// `session` argument on the wire: that is the argument the server resolves the state scope from.
pub fn session_handle(params: &[Param]) -> syn::Result<TokenStream> {
    let mut handles = params.iter().filter(|p| p.is_session_handle());
    let Some(p) = handles.next() else { return Ok(quote!()) };
    if p.wire_name() != "session" {
        return Err(syn::Error::new_spanned(
            &p.ident,
            "a `SessionHandle` parameter must be the `session` argument: name it `session` \
             or add `#[arg(rename = \"session\")]`",
        ));
    }
    if let Some(second) = handles.next() {
        return Err(syn::Error::new_spanned(&second.ident, "a tool takes at most one `SessionHandle` parameter"));
    }
    Ok(quote!(.session_handle_argument()))
}

fn last_segment_is(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Path(p) => p.qself.is_none() && p.path.segments.last().is_some_and(|s| s.ident == name),
        Type::Group(g) => last_segment_is(&g.elem, name),
        Type::Paren(p) => last_segment_is(&p.elem, name),
        _ => false,
    }
}

fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let seg = p.path.segments.last()?;
    if seg.ident != "Option" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &seg.arguments else {
        return None;
    };
    match args.args.first() {
        Some(syn::GenericArgument::Type(t)) if args.args.len() == 1 => Some(t),
        _ => None,
    }
}

/// The macro-level checks every annotated function must pass.
pub fn check_signature(f: &ItemFn, what: &str) -> syn::Result<()> {
    let sig = &f.sig;
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(&sig.generics, format!("#[{what}] functions cannot be generic")));
    }
    if let Some(v) = &sig.variadic {
        return Err(syn::Error::new_spanned(v, format!("#[{what}] functions cannot be variadic")));
    }
    if let Some(u) = &sig.unsafety {
        return Err(syn::Error::new_spanned(u, format!("#[{what}] functions cannot be unsafe")));
    }
    if let Some(abi) = &sig.abi {
        return Err(syn::Error::new_spanned(abi, format!("#[{what}] functions cannot have an explicit ABI")));
    }
    if let Some(c) = &sig.constness {
        return Err(syn::Error::new_spanned(c, format!("#[{what}] functions cannot be const")));
    }
    Ok(())
}

/// Reads the parameters, removing `#[arg(..)]` attributes from `f` as it goes.
pub fn parse_params(f: &mut ItemFn, what: &str) -> syn::Result<Vec<Param>> {
    let mut out = Vec::new();
    for input in f.sig.inputs.iter_mut() {
        let pt = match input {
            FnArg::Receiver(r) => {
                return Err(syn::Error::new_spanned(
                    r,
                    format!("#[{what}] must be on a free function, not a method taking `self`"),
                ));
            }
            FnArg::Typed(pt) => pt,
        };
        let ident = match &*pt.pat {
            Pat::Ident(pi) if pi.subpat.is_none() && pi.by_ref.is_none() => pi.ident.clone(),
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    format!(
                        "#[{what}] parameters must be plain names (like `city: String`); \
                         destructure inside the function body instead"
                    ),
                ));
            }
        };
        let (mut description, mut rename) = (None, None);
        let mut kept = Vec::new();
        for attr in pt.attrs.drain(..) {
            if !attr.path().is_ident("arg") {
                kept.push(attr);
                continue;
            }
            attr.parse_nested_meta(|meta| {
                let slot = if meta.path.is_ident("description") {
                    &mut description
                } else if meta.path.is_ident("rename") {
                    &mut rename
                } else {
                    return Err(meta.error("unknown #[arg] key; accepted: description, rename"));
                };
                *slot = Some(meta.value()?.parse::<LitStr>()?);
                Ok(())
            })?;
        }
        pt.attrs = kept;
        let kind = match &*pt.ty {
            Type::Reference(r) if last_segment_is(&r.elem, "Context") => {
                if r.mutability.is_some() {
                    return Err(syn::Error::new_spanned(
                        r,
                        "take the context as `Context` or `&Context`, not `&mut Context`",
                    ));
                }
                ParamKind::ContextRef
            }
            Type::Reference(r) => {
                return Err(syn::Error::new_spanned(
                    r,
                    format!(
                        "#[{what}] parameters must be owned types (e.g. `String`, not `&str`): \
                         they are decoded from JSON"
                    ),
                ));
            }
            ty if last_segment_is(ty, "Context") => ParamKind::Context,
            Type::ImplTrait(t) => {
                return Err(syn::Error::new_spanned(t, format!("#[{what}] parameters cannot be `impl Trait`")));
            }
            _ => ParamKind::Value,
        };
        if !matches!(kind, ParamKind::Value) && (description.is_some() || rename.is_some()) {
            return Err(syn::Error::new_spanned(&pt.ty, "#[arg] has no effect on a context parameter"));
        }
        out.push(Param { ident, ty: (*pt.ty).clone(), kind, description, rename });
    }
    Ok(out)
}

/// The type the handler decodes its arguments into: a generated struct of the value
/// parameters, or the runtime's `NoArgs` when there are none.
pub struct ArgsType {
    /// The struct definition (empty for `NoArgs`), placed inside the `From` impl.
    pub def: TokenStream,
    /// The closure parameter that destructures it (`Args { a, b }: Args`).
    pub pat: TokenStream,
}

/// Builds the [`ArgsType`] for `params`, with serde/schemars derives routed through
/// `core`.
pub fn args_type(core: &Path, name: &str, params: &[Param]) -> ArgsType {
    let values: Vec<&Param> = params.iter().filter(|p| matches!(p.kind, ParamKind::Value)).collect();
    if values.is_empty() {
        return ArgsType { def: quote!(), pat: quote!(_: #core::NoArgs) };
    }
    let name = Ident::new(name, Span::mixed_site());
    let serde_crate = LitStr::new(&format!("{}::serde", quote!(#core)), Span::call_site());
    let schemars_crate = LitStr::new(&format!("{}::schemars", quote!(#core)), Span::call_site());
    let fields = values.iter().map(|p| {
        let (ident, ty) = (&p.ident, &p.ty);
        let doc = p.description.as_ref().map(|d| quote!(#[doc = #d]));
        let default = p.option_inner().map(|_| quote!(#[serde(default)]));
        let rename = p.rename.as_ref().map(|r| quote!(#[serde(rename = #r)]));
        quote!(#doc #default #rename #ident: #ty)
    });
    let idents = values.iter().map(|p| &p.ident);
    ArgsType {
        def: quote! {
            #[derive(#core::serde::Deserialize, #core::schemars::JsonSchema)]
            #[serde(crate = #serde_crate)]
            #[schemars(crate = #schemars_crate)]
            #[allow(non_camel_case_types, non_snake_case)]
            struct #name { #(#fields,)* }
        },
        pat: quote!(#name { #(#idents),* }: #name),
    }
}

/// The call expression `#target::call(..)` with context parameters supplied from
/// `ctx` and value parameters from same-named local bindings.
pub fn call_expr(target: &Ident, params: &[Param], ctx: &Ident, is_async: bool) -> TokenStream {
    let args = params.iter().map(|p| match p.kind {
        ParamKind::Context => quote!(::core::clone::Clone::clone(&#ctx)),
        ParamKind::ContextRef => quote!(&#ctx),
        ParamKind::Value => {
            let i = &p.ident;
            quote!(#i)
        }
    });
    let await_ = is_async.then(|| quote!(.await));
    quote!(#target::call(#(#args),*) #await_)
}

/// Splits the function's attributes: doc comments (for the generated struct), `cfg`s
/// (for every generated item) and the rest (kept on the `call` function).
pub struct SplitAttrs {
    pub docs: Vec<Attribute>,
    pub cfgs: Vec<Attribute>,
    pub rest: Vec<Attribute>,
}

pub fn split_attrs(attrs: &[Attribute]) -> SplitAttrs {
    let mut s = SplitAttrs { docs: Vec::new(), cfgs: Vec::new(), rest: Vec::new() };
    for a in attrs {
        if a.path().is_ident("doc") {
            s.docs.push(a.clone());
        } else if a.path().is_ident("cfg") {
            s.cfgs.push(a.clone());
        } else {
            s.rest.push(a.clone());
        }
    }
    s
}

/// The unit struct that replaces the function, and its inherent `call`.
pub fn unit_struct_and_call(f: &ItemFn, attrs: &SplitAttrs, what: &str) -> TokenStream {
    let SplitAttrs { docs, cfgs, rest } = attrs;
    let vis = &f.vis;
    let name = &f.sig.ident;
    let mut sig = f.sig.clone();
    sig.ident = format_ident!("call", span = name.span());
    let block = &f.block;
    let note =
        format!("Registration handle generated by `#[{what}]`; call the original function with `{name}::call(..)`.");
    let doc_note = if docs.is_empty() { quote!(#[doc = #note]) } else { quote!(#[doc = ""] #[doc = #note]) };
    quote! {
        #(#cfgs)*
        #(#docs)*
        #doc_note
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, Default)]
        #vis struct #name;

        #(#cfgs)*
        impl #name {
            #(#rest)*
            #vis #sig #block
        }
    }
}

/// The identifier the generated handlers bind the request context to.
pub fn ctx_ident() -> Ident {
    Ident::new("__ferromcp_ctx", Span::mixed_site())
}
