//! The `ferromcp` binary in a real pseudo-terminal (rexpect): a call with progress
//! draws a progress bar, and an elicitation is answered by typing into the prompts, in
//! both protocol eras (2025-11-25: a real server→client request on the call's stream;
//! 2026-07-28: an `input_required` round), over HTTP and with a stdio server. Every
//! wait is bounded by the session timeout.

mod common;

use std::process::Command;

use common::{FERROMCP, Served};
use rexpect::session::{PtySession, spawn_command};

/// Milliseconds any expectation may wait.
const TIMEOUT_MS: u64 = 60_000;

fn spawn(args: &[&str]) -> PtySession {
    let mut cmd = Command::new(FERROMCP);
    cmd.args(args).env("TERM", "xterm").env_remove("NO_COLOR");
    spawn_command(cmd, Some(TIMEOUT_MS)).expect("spawn ferromcp in a pseudo-terminal")
}

/// Waits for the end of the output and returns the exit code.
fn finish(mut p: PtySession) -> i32 {
    p.exp_eof().expect("ferromcp ends");
    match p.process.wait().expect("wait") {
        rexpect::process::wait::WaitStatus::Exited(_, code) => code,
        other => panic!("ferromcp did not exit normally: {other:?}"),
    }
}

#[test]
fn a_call_with_progress_draws_a_progress_bar() {
    let every = Served::everything();
    for era in ["legacy", "modern"] {
        let mut p = spawn(&["call", &every.url, "test_tool_with_progress", "--era", era]);
        // A bar frame: `[=====>    ]  50% working` (the percentage and the message).
        let (_, frame) = p.exp_regex(r"\[[=> ]+\] +\d+% working").expect("a progress bar frame");
        assert!(frame.contains('%'), "{frame}");
        p.exp_string("Progress test completed").expect("the result");
        assert_eq!(finish(p), 0, "{era}");
    }
}

#[test]
fn an_elicitation_is_answered_on_the_terminal() {
    let every = Served::everything();
    for era in ["legacy", "modern"] {
        let mut p = spawn(&["call", &every.url, "test_elicitation", "message=Who are you?", "--era", era]);
        p.exp_string("The server asks: Who are you?").expect("the question");
        p.exp_string("accept (answer the questions)").expect("the choice of action");
        p.send("\r").expect("enter: accept");
        p.flush().expect("flush");
        p.exp_string("username").expect("the username prompt");
        p.send_line("ada").expect("type the username");
        p.exp_string("email").expect("the email prompt");
        p.send_line("ada@example.com").expect("type the email");
        p.exp_string("User response: action=accept").expect("the tool's result");
        let (_, rest) = p.exp_regex(r#"content=\{[^}]*\}"#).expect("the content");
        assert!(rest.contains(r#""username":"ada""#) && rest.contains(r#""email":"ada@example.com""#), "{era}: {rest}");
        assert_eq!(finish(p), 0, "{era}");
    }
}

#[test]
fn an_elicitation_can_be_declined_on_the_terminal() {
    let every = Served::everything();
    let mut p = spawn(&["call", &every.url, "test_elicitation", "message=Share?", "--era", "legacy"]);
    p.exp_string("decline").expect("the choice of action");
    // Arrow down to `decline`, then enter.
    p.send("\x1b[B").expect("down");
    p.flush().expect("flush");
    p.send("\r").expect("enter");
    p.flush().expect("flush");
    p.exp_string("User response: action=decline").expect("the tool saw the decline");
    assert_eq!(finish(p), 0);
}

#[test]
fn a_stdio_server_gets_its_elicitation_answered_and_draws_progress() {
    let every = common::example("everything").to_string_lossy().into_owned();
    for era in ["legacy", "modern"] {
        let mut p = spawn(&["call", "test_elicitation", "message=Name?", "--era", era, "--", &every, "--stdio"]);
        p.exp_string("The server asks: Name?").expect("the question");
        p.exp_string("cancel").expect("the choice of action");
        p.send("\r").expect("enter: accept");
        p.flush().expect("flush");
        p.exp_string("username").expect("the username prompt");
        p.send_line("grace").expect("type the username");
        p.exp_string("email").expect("the email prompt");
        p.send_line("g@h.i").expect("type the email");
        p.exp_string("User response: action=accept").expect("the tool's result");
        assert_eq!(finish(p), 0, "{era}");

        let mut p = spawn(&["call", "test_tool_with_progress", "--era", era, "--", &every, "--stdio"]);
        p.exp_regex(r"\[[=> ]+\] +\d+% working").expect("a progress bar frame");
        p.exp_string("Progress test completed").expect("the result");
        assert_eq!(finish(p), 0, "{era}");
    }
}
