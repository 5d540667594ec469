//! Request-local typed extensions: a type map for values that are not serializable
//! (a database handle, a verified token) that middleware hands to handlers.
//! Unlike session state they live only as long as the request.

use std::any::{Any, TypeId};
use std::collections::HashMap;

/// A map from type to one value of that type.
///
/// ```
/// let mut ext = ferromcp_core::Extensions::default();
/// ext.insert(42u32);
/// assert_eq!(ext.get::<u32>(), Some(&42));
/// assert!(ext.get::<String>().is_none());
/// ```
#[derive(Default)]
pub struct Extensions {
    map: Option<HashMap<TypeId, Box<dyn Any + Send + Sync>>>,
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extensions").field("len", &self.map.as_ref().map_or(0, HashMap::len)).finish()
    }
}

impl Extensions {
    /// Inserts a value, returning the previous one of the same type.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) -> Option<T> {
        self.map
            .get_or_insert_with(HashMap::new)
            .insert(TypeId::of::<T>(), Box::new(value))
            .and_then(|b| b.downcast().ok().map(|b| *b))
    }
    /// A reference to the value of type `T`.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.map.as_ref()?.get(&TypeId::of::<T>())?.downcast_ref()
    }
    /// A mutable reference to the value of type `T`.
    pub fn get_mut<T: Send + Sync + 'static>(&mut self) -> Option<&mut T> {
        self.map.as_mut()?.get_mut(&TypeId::of::<T>())?.downcast_mut()
    }
    /// Removes and returns the value of type `T`.
    pub fn remove<T: Send + Sync + 'static>(&mut self) -> Option<T> {
        self.map.as_mut()?.remove(&TypeId::of::<T>()).and_then(|b| b.downcast().ok().map(|b| *b))
    }
}
