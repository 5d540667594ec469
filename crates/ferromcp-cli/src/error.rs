//! [`CliError`]: a message for stderr and the exit code a script can rely on.

use ferromcp_client::ClientError;

/// The server answered with an error: a tool result with `isError`, or a JSON-RPC error.
pub const SERVER_ERROR: u8 = 1;
/// The command line is wrong: unknown command or target, arguments that do not fit.
pub const USAGE: u8 = 2;
/// Connecting or talking to the server failed.
pub const CONNECTION: u8 = 3;

/// Why a command failed.
#[derive(Debug)]
pub struct CliError {
    /// The exit code ([`SERVER_ERROR`], [`USAGE`] or [`CONNECTION`]).
    pub code: u8,
    /// What to print on stderr (after `ferromcp: `); empty when already printed.
    pub message: String,
}

impl CliError {
    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        CliError { code: USAGE, message: message.into() }
    }
    /// A server-reported error (exit 1).
    pub fn server(message: impl Into<String>) -> Self {
        CliError { code: SERVER_ERROR, message: message.into() }
    }
    /// A connection or protocol failure (exit 3).
    pub fn connection(message: impl Into<String>) -> Self {
        CliError { code: CONNECTION, message: message.into() }
    }
    /// Maps a client error while doing `what` to its exit code.
    pub fn client(what: &str, e: ClientError) -> Self {
        let message = format!("{what}: {e}");
        match e {
            ClientError::Protocol(_) | ClientError::Handler { .. } => CliError::server(message),
            ClientError::Usage(_) => CliError::usage(message),
            _ => CliError::connection(message),
        }
    }
}
