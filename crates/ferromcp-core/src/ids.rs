//! Random identifiers: session ids, stream ids and test namespaces. A leaf module, so
//! that the state and event stores can mint ids without depending on sessions.

use std::sync::Arc;

use base64::Engine as _;

/// A fresh session id: 128 bits from the OS CSPRNG, base64url (22 visible ASCII chars).
///
/// ```
/// let id = ferromcp_core::session::new_session_id();
/// assert_eq!(id.len(), 22);
/// assert_ne!(id, ferromcp_core::session::new_session_id());
/// ```
pub fn new_session_id() -> Arc<str> {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // The OS CSPRNG is unavailable: fail loudly rather than mint guessable ids.
        panic!("the operating system's random number generator is unavailable");
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b).into()
}
