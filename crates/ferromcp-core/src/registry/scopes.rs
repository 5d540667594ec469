//! Per-component OAuth scope requirements (`ToolDef::scopes`, `#[tool(scopes = [..])]`):
//! a component needing scopes is listed only to callers whose token grants them all,
//! and a call by anyone else is refused with
//! [`insufficient_scope`](crate::auth::insufficient_scope) (HTTP 403 on HTTP
//! transports, a JSON-RPC error on stdio). Lists of a registry with scoped components
//! vary by caller, so they are marked `cacheScope: private` on 2026-07-28.

use super::{Component, Components};
use crate::state::{Principal, Visibility};

/// Whether `principal` holds every scope `c` needs.
pub(crate) fn allowed<T: Component>(c: &T, principal: Option<&Principal>) -> bool {
    let need = c.required_scopes();
    need.is_empty() || principal.is_some_and(|p| p.has_scopes(need))
}

impl Components {
    /// The descriptions of every component of kind `T` shown under `vis` to
    /// `principal` (components whose scopes it lacks are left out), in order.
    pub(crate) fn listed_for<T: Component>(
        &self,
        vis: Option<&Visibility>,
        principal: Option<&Principal>,
    ) -> Vec<T::Listed> {
        T::all(self).iter().filter(|c| c.shown(vis) && allowed(&***c, principal)).map(|c| c.listed().clone()).collect()
    }

    /// Whether any component of kind `T` needs scopes (so its list varies by caller).
    pub(crate) fn any_scoped<T: Component>(&self) -> bool {
        T::all(self).iter().any(|c| !c.required_scopes().is_empty())
    }

    /// The scopes the component serving `method` for `name` (a tool or prompt name, a
    /// resource URI) needs, if it exists and needs any; resource URIs are matched
    /// against static resources first, then templates, as `resources/read` does.
    pub fn required_scopes(&self, method: &str, name: &str) -> Option<&[String]> {
        let need = match method {
            "tools/call" => self.tools.get(name).map(|t| t.required_scopes()),
            "prompts/get" => self.prompts.get(name).map(|p| p.required_scopes()),
            "resources/read" => match self.resources.get(name) {
                Some(r) => Some(r.required_scopes()),
                None => self.templates.iter().find(|t| t.matcher.matches(name).is_some()).map(|t| t.required_scopes()),
            },
            _ => None,
        }?;
        (!need.is_empty()).then_some(need)
    }

    /// The scopes `principal` lacks for `method` on `name` (see [`required_scopes`]),
    /// `None` when nothing is missing.
    ///
    /// [`required_scopes`]: Components::required_scopes
    pub fn missing_scopes(&self, method: &str, name: &str, principal: Option<&Principal>) -> Option<Vec<String>> {
        let need = self.required_scopes(method, name)?;
        if principal.is_some_and(|p| p.has_scopes(need)) {
            return None;
        }
        Some(need.to_vec())
    }
}
