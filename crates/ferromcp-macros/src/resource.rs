//! `#[resource("uri")]`: a function becomes a unit struct that converts into a
//! `ResourceDef`, or into a `ResourceTemplateDef` when the URI has `{variables}`.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ext::IdentExt;
use syn::{Ident, ItemFn, LitStr};

use crate::args::{AttrArgs, Common};
use crate::func::{self, Param, ParamKind};

pub fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut attr_args: AttrArgs = syn::parse2(attr)?;
    let mut f: ItemFn = syn::parse2(item)?;
    let uri = match (attr_args.positional.take(), attr_args.string("uri")?) {
        (Some(u), None) | (None, Some(u)) => u,
        (Some(_), Some(u)) => {
            return Err(syn::Error::new_spanned(u, "the URI is given twice"));
        }
        (None, None) => {
            return Err(syn::Error::new(
                Span::call_site(),
                "expected a URI: #[resource(\"scheme://path\")] or #[resource(\"scheme://{id}\")]",
            ));
        }
    };
    let core = attr_args.core_path()?;
    let common = Common::parse(&mut attr_args, &f)?;
    let mime = attr_args.string("mime_type")?;
    let accepted: Vec<&str> = Common::KEYS.iter().copied().chain(["uri", "mime_type"]).collect();
    attr_args.finish(&accepted)?;
    func::check_signature(&f, "resource")?;
    let params = func::parse_params(&mut f, "resource")?;
    let is_template = uri.value().contains(['{', '}']);
    let vars = if is_template {
        template_vars(&uri.value()).map_err(|e| syn::Error::new_spanned(&uri, e))?
    } else {
        Vec::new()
    };
    for p in params.iter().filter(|p| matches!(p.kind, ParamKind::Value)) {
        if let Some(d) = &p.description {
            return Err(syn::Error::new_spanned(d, "#[arg(description)] has no effect on a resource parameter"));
        }
        if !is_template {
            return Err(syn::Error::new_spanned(
                &p.ty,
                "a resource without `{variables}` in its URI takes only a `Context` parameter",
            ));
        }
        let var = var_name(p);
        if !vars.contains(&var) {
            return Err(syn::Error::new_spanned(
                &p.ident,
                format!(
                    "parameter `{var}` is not a variable of the URI template {:?} (variables: {})",
                    uri.value(),
                    vars.join(", ")
                ),
            ));
        }
    }
    let attrs = func::split_attrs(&f.attrs);

    let name = &f.sig.ident;
    let resource_name = &common.name;
    let setters = common.setters();
    let mime = mime.map(|m| quote!(.mime_type(#m)));
    let ctx = func::ctx_ident();
    let call = func::call_expr(name, &params, &ctx, f.sig.asyncness.is_some());
    let (target, def) = if is_template {
        let vars_ident = Ident::new("__ferromcp_vars", Span::mixed_site());
        let bindings =
            params.iter().filter(|p| matches!(p.kind, ParamKind::Value)).map(|p| binding(&core, &vars_ident, p));
        let target = quote!(#core::ResourceTemplateDef);
        let def = quote! {
            #target::new(#uri, #resource_name)
                .expect("URI template validated by #[resource]")
                #setters
                #mime
                .handler(|#ctx: #core::Context, #vars_ident: #core::registry::TemplateVars| async move {
                    #(#bindings)*
                    ::core::result::Result::Ok::<_, #core::Error>(#call)
                })
        };
        (target, def)
    } else {
        let target = quote!(#core::ResourceDef);
        let def = quote! {
            #target::new(#uri, #resource_name)
                #setters
                #mime
                .handler(|#ctx: #core::Context| async move { #call })
        };
        (target, def)
    };
    let item = func::unit_struct_and_call(&f, &attrs, "resource");
    let cfgs = &attrs.cfgs;
    Ok(quote! {
        #item

        #(#cfgs)*
        impl ::core::convert::From<#name> for #target {
            fn from(_: #name) -> Self {
                #def
            }
        }
    })
}

/// The template variable a parameter reads: `#[arg(rename)]` or its own name.
fn var_name(p: &Param) -> String {
    match &p.rename {
        Some(r) => r.value(),
        None => p.ident.unraw().to_string(),
    }
}

/// `let name: T = <parsed from vars["name"]>;`, failing with invalid params.
fn binding(core: &syn::Path, vars: &Ident, p: &Param) -> TokenStream {
    let ident = &p.ident;
    let ty = &p.ty;
    let var = LitStr::new(&var_name(p), Span::call_site());
    let (inner, optional) = match p.option_inner() {
        Some(t) => (t, true),
        None => (ty, false),
    };
    let expected = quote!(#inner).to_string().replace(' ', "");
    let raw = Ident::new("__ferromcp_raw", Span::mixed_site());
    let parse = quote! {
        <#inner as ::core::str::FromStr>::from_str(#raw).map_err(|_| {
            #core::Error::invalid_params(::std::format!(
                "template variable `{}` must be a {}, got {:?}", #var, #expected, #raw
            ))
        })?
    };
    let value = if optional {
        quote! {
            match #vars.get(#var) {
                ::core::option::Option::Some(#raw) => ::core::option::Option::Some(#parse),
                ::core::option::Option::None => ::core::option::Option::None,
            }
        }
    } else {
        quote! {
            match #vars.get(#var) {
                ::core::option::Option::Some(#raw) => #parse,
                ::core::option::Option::None => {
                    return ::core::result::Result::Err(#core::Error::invalid_params(
                        ::std::format!("missing template variable `{}`", #var),
                    ));
                }
            }
        }
    };
    quote!(let #ident: #ty = #value;)
}

/// The variables of an RFC 6570 template, checked the way the runtime parser
/// (`UriTemplate::parse`) checks them, so the generated `.expect()` cannot fire.
pub fn template_vars(raw: &str) -> Result<Vec<String>, String> {
    let mut vars = Vec::new();
    let mut rest = raw;
    loop {
        let open = rest.find('{');
        if let Some(close) = rest.find('}')
            && open.is_none_or(|o| close < o)
        {
            return Err(format!("unbalanced `}}` in URI template {raw:?}"));
        }
        let Some(open) = open else { break };
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| format!("unclosed `{{` in URI template {raw:?}"))?;
        let expr = &after[..close];
        if expr.contains('{') {
            return Err(format!("nested `{{` in URI template {raw:?}"));
        }
        let (op, names) = match expr.chars().next() {
            Some(c @ ('+' | '/' | '?' | '&' | '#')) => (Some(c), &expr[1..]),
            _ => (None, expr),
        };
        let names: Vec<&str> = names.split(',').map(|n| n.trim_end_matches('*')).collect();
        if let Some(bad) = names.iter().find(|n| !is_identifier(n)) {
            return Err(format!(
                "template variable {bad:?} in `{{{expr}}}` is not an identifier \
                 (letters, digits and `_`, not starting with a digit)"
            ));
        }
        match op {
            None | Some('+' | '#' | '/') if names.len() > 1 => {
                return Err(format!("`{{{expr}}}` lists several variables; only `{{?a,b}}` and `{{&a,b}}` may"));
            }
            _ => {}
        }
        for n in names {
            if vars.iter().any(|v| v == n) {
                return Err(format!("template variable `{n}` appears twice"));
            }
            vars.push(n.to_owned());
        }
        rest = &after[close + 1..];
    }
    Ok(vars)
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::template_vars;

    #[test]
    fn accepts_the_supported_forms() {
        assert_eq!(template_vars("a://{id}/x").unwrap(), ["id"]);
        assert_eq!(template_vars("a://{+path}{/seg}{?q,page}{&more}").unwrap(), ["path", "seg", "q", "page", "more"]);
        assert!(template_vars("a://plain").unwrap().is_empty());
    }

    #[test]
    fn rejects_bad_templates() {
        for bad in [
            "a://{id",
            "a://id}",
            "a://}{id}",
            "a://{{id}}",
            "a://{}",
            "a://{1x}",
            "a://{a-b}",
            "a://{a,b}",
            "a://{a}/{a}",
        ] {
            assert!(template_vars(bad).is_err(), "{bad} should be rejected");
        }
    }
}
