//! ferrobench: ferromcp's in-repository benchmark (see `bench/README.md`).
//!
//! ```sh
//! cargo run --release -p ferrobench -- all        # S1 ferromcp + ceiling, session memory, state
//! cargo run --release -p ferrobench -- s1 --duration-s 5 --repeats 3
//! cargo run --release -p ferrobench -- sessions --sessions 10000
//! cargo run --release -p ferrobench -- resume     # event store off / memory / SQLite / Redis
//! cargo run --release -p ferrobench -- state      # session state: MemoryStore, increment, memory per key
//! cargo run --release -p ferrobench -- registry   # a full session registry vs an uncapped one
//! cargo run --release -p ferrobench -- proxy      # the proxy hop vs direct, and FastMCP's proxy
//! cargo build --release -p ferrobench -p rmcp-client && target/release/ferrobench client
//! cargo run --release -p ferrobench -- auth       # server CPU/request: no auth, static bearer, JWT
//! ```
//!
//! The load generator runs in this process (tokio current-thread runtime, pinned to
//! `--loadgen-cpu` with `taskset -a -p`); every server is this binary re-executed with a
//! hidden subcommand (`serve-ferromcp`, `serve-ceiling`) under `taskset -c
//! --server-cpu`, a fresh process per run, killed at the end or on error.
//!
//! Modules: [`auth`] (bearer authentication cost), [`client`] (HTTP/MCP client), [`clientbench`]
//! (`client`: ferromcp-client vs rmcp's client), [`load`] (S1 closed loop), [`sessions`]
//! (memory per idle session), [`resume`] (cost of resumable streams), [`state`]
//! (session state: stores, `increment`, memory per key), [`registry`] (a session
//! registry full at its cap vs uncapped: inits/s, another client's latency), [`servers`] (the servers under
//! test), [`ceiling`] (the raw axum ceiling, shared with the `ferrobench-inproc` binary,
//! which measures one call in process), [`procs`] (/proc, pinning, child processes),
//! [`report`] (table, verdicts, JSON line).

mod auth;
mod ceiling;
mod client;
mod clientbench;
mod load;
mod procs;
mod proxy;
mod registry;
mod report;
mod resume;
mod servers;
mod sessions;
mod state;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

use crate::procs::ServerProc;
use crate::report::{Config, LoadJson, Report};
use crate::servers::{Mode, RuntimeKind};

#[derive(Parser)]
#[command(name = "ferrobench", about = "ferromcp benchmark: S1 throughput vs a raw axum ceiling, memory per session")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// S1 against ferromcp and the ceiling, then memory per idle session, then session state.
    All(Opts),
    /// S1 only (ferromcp and the ceiling).
    S1(Opts),
    /// Memory per idle legacy session only.
    Sessions(Opts),
    /// Cost of resumable legacy streams: event store off, memory, SQLite, Redis.
    Resume(Opts),
    /// Session state: MemoryStore ops/s, increment calls/s (memory, Redis) vs add, memory per key.
    State(Opts),
    /// A full session registry vs an uncapped one: initialize throughput and another
    /// client's tools/call latency during an initialize flood.
    Registry(Opts),
    /// The proxy hop: tools/call latency and server CPU per call direct to everything,
    /// through examples/proxy (HTTP and stdio backends) and through FastMCP's proxy.
    Proxy(proxy::ProxyOpts),
    /// Client cost: ferromcp-client vs rmcp's client driving `tools/call add`, both eras
    /// (build `rmcp-client` first: `cargo build --release -p rmcp-client`).
    Client {
        #[command(flatten)]
        opts: Opts,
        /// The rmcp driver binary (default: `rmcp-client` next to this executable).
        #[arg(long)]
        rmcp_client: Option<std::path::PathBuf>,
    },
    /// (internal) ferromcp-client's load driver for `client`.
    #[command(hide = true)]
    ClientDriver(clientbench::DriverArgs),
    /// Server CPU per request of bearer authentication: none, static, JWT (cached / not).
    Auth(Opts),
    /// (internal) Serve `tools/call add` with one authentication mode for `auth`.
    #[command(hide = true)]
    ServeAuth {
        #[arg(long, default_value_t = 0)]
        port: u16,
        #[arg(long, value_enum)]
        auth: auth::AuthMode,
        #[arg(long, value_enum, default_value_t = RuntimeKind::Current)]
        runtime: RuntimeKind,
    },
    /// (internal) Measure MemoryStore in a fresh process for `state`.
    #[command(hide = true)]
    StateChild(state::ChildArgs),
    /// (internal) Serve the ferromcp bench server.
    #[command(hide = true)]
    ServeFerromcp {
        #[arg(long, default_value_t = 0)]
        port: u16,
        #[arg(long, value_enum, default_value_t = Mode::Stateless)]
        mode: Mode,
        #[arg(long, value_enum, default_value_t = RuntimeKind::Current)]
        runtime: RuntimeKind,
        /// Event store (`off`, `memory`, `sqlite:PATH`); also serves `add_progress`.
        #[arg(long)]
        events: Option<servers::Events>,
        /// Session state in Redis at this URL (`state` benchmark) instead of memory.
        #[arg(long)]
        redis: Option<String>,
        /// Legacy session registry cap.
        #[arg(long, default_value_t = 100_000)]
        max_sessions: usize,
        /// Sessions per client (0 = no per-client cap: benchmarks open every session
        /// from one address).
        #[arg(long, default_value_t = 0)]
        sessions_per_client: usize,
    },
    /// (internal) Serve the raw axum + serde_json ceiling.
    #[command(hide = true)]
    ServeCeiling {
        #[arg(long, default_value_t = 0)]
        port: u16,
        #[arg(long, value_enum, default_value_t = RuntimeKind::Current)]
        runtime: RuntimeKind,
    },
}

#[derive(Args, Clone)]
struct Opts {
    /// S1 warm-up, seconds.
    #[arg(long, default_value_t = 2.0)]
    warmup_s: f64,
    /// S1 measured window, seconds.
    #[arg(long, default_value_t = 10.0)]
    duration_s: f64,
    /// Keep-alive connections (closed-loop workers), S1 and sessions.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// S1 repetitions per server, interleaved; the median by req/s is reported.
    #[arg(long, default_value_t = 1)]
    repeats: usize,
    /// Idle sessions measured.
    #[arg(long, default_value_t = 10_000)]
    sessions: usize,
    /// Warm-up sessions opened before the base RSS reading.
    #[arg(long, default_value_t = 100)]
    warm_sessions: usize,
    /// Pause before each RSS reading, seconds.
    #[arg(long, default_value_t = 1.0)]
    settle_s: f64,
    /// Sessions checked for liveness after the memory reading.
    #[arg(long, default_value_t = 50)]
    sample: usize,
    /// Per-request timeout, milliseconds.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// CPU of the load generator.
    #[arg(long, default_value_t = 0)]
    loadgen_cpu: usize,
    /// CPU of the servers.
    #[arg(long, default_value_t = 1)]
    server_cpu: usize,
    /// Do not pin anything.
    #[arg(long)]
    no_pin: bool,
    /// Nice value for the load generator and the servers (e.g. -10 on a shared, busy
    /// machine; needs CAP_SYS_NICE). 0 leaves the priority alone.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    nice: i32,
    /// Runtime of both servers: current-thread, or multi-thread with one worker.
    #[arg(long, value_enum, default_value_t = RuntimeKind::Current)]
    server_runtime: RuntimeKind,
    #[command(flatten)]
    state: state::StateArgs,
    /// `registry`: sessions filled before the flood (the cap of the full registry).
    #[arg(long, default_value_t = 100_000)]
    registry_sessions: usize,
}

fn runtime_name(r: RuntimeKind) -> &'static str {
    match r {
        RuntimeKind::Current => "current",
        RuntimeKind::Multi1 => "multi1",
    }
}

/// Pins this process (all threads) and returns (loadgen CPU, server CPU) if pinned.
fn pin(o: &Opts) -> (Option<usize>, Option<usize>) {
    if o.no_pin {
        eprintln!("ferrobench: WARNING: --no-pin: load generator and server share the CPUs");
        return (None, None);
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus <= o.loadgen_cpu.max(o.server_cpu) {
        eprintln!("ferrobench: WARNING: only {cpus} CPU(s) available, running unpinned");
        return (None, None);
    }
    if !procs::taskset_available() {
        eprintln!("ferrobench: WARNING: `taskset` not found, running unpinned (figures are less stable)");
        return (None, None);
    }
    match procs::pin_self(o.loadgen_cpu) {
        Ok(()) => (Some(o.loadgen_cpu), Some(o.server_cpu)),
        Err(e) => {
            eprintln!("ferrobench: WARNING: could not pin to CPU {}: {e}; running unpinned", o.loadgen_cpu);
            (None, None)
        }
    }
}

/// Waits (≤ 10 s) until the server answers a modern `tools/call add` correctly.
async fn wait_ready(port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut link = client::Link::new(port, Duration::from_secs(2));
    let headers = client::modern_add_headers();
    let mut last = String::new();
    while Instant::now() < deadline {
        match link.post(client::modern_add_body(1, 2, 3), &headers).await {
            Ok(a) => match client::check_add(&a, 5) {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            },
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("server on port {port} not ready after 10 s: {last}"))
}

async fn start(args: &[&str], o: &Opts, cpu: Option<usize>) -> Result<ServerProc, String> {
    let rt = runtime_name(o.server_runtime);
    let mut all = args.to_vec();
    all.extend(["--runtime", rt]);
    let server = ServerProc::spawn(&all, cpu).await?;
    if let Err(e) = wait_ready(server.port).await {
        server.stop().await;
        return Err(e);
    }
    // let the accept loop and allocator settle before measuring
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(server)
}

async fn s1_once(args: &[&str], o: &Opts, cpu: Option<usize>) -> Result<load::LoadResult, String> {
    let server = start(args, o, cpu).await?;
    eprintln!("ferrobench: S1 against `{}` (pid {}, port {})", args[0], server.pid, server.port);
    let opts = load::LoadOpts {
        concurrency: o.concurrency.max(1),
        warmup: Duration::from_secs_f64(o.warmup_s.max(0.0)),
        duration: Duration::from_secs_f64(o.duration_s.max(0.1)),
        timeout: Duration::from_millis(o.timeout_ms),
    };
    let r = load::run(server.port, server.pid, opts).await;
    server.stop().await;
    Ok(r)
}

async fn bench(
    cmd: &str,
    o: &Opts,
    server_cpu: Option<usize>,
) -> Result<(Option<report::S1Json>, Option<LoadJson>, Option<report::SessionsJson>), String> {
    let (mut s1, mut ceiling, mut sessions) = (None, None, None);
    if matches!(cmd, "all" | "s1") {
        let (mut ferro_runs, mut ceil_runs) = (Vec::new(), Vec::new());
        for rep in 0..o.repeats.max(1) {
            // alternate the order so neither server always runs first
            let ferro_first = rep % 2 == 0;
            for k in 0..2 {
                if (k == 0) == ferro_first {
                    ferro_runs.push(s1_once(&["serve-ferromcp", "--mode", "stateless"], o, server_cpu).await?);
                } else {
                    ceil_runs.push(s1_once(&["serve-ceiling"], o, server_cpu).await?);
                }
            }
        }
        let c = LoadJson::from_runs(ceil_runs);
        s1 = Some(report::s1(LoadJson::from_runs(ferro_runs), Some(&c)));
        ceiling = Some(c);
    }
    if matches!(cmd, "all" | "sessions") {
        let server = start(&["serve-ferromcp", "--mode", "stateful"], o, server_cpu).await?;
        eprintln!("ferrobench: opening {} idle sessions (pid {}, port {})", o.sessions, server.pid, server.port);
        let opts = sessions::SessionOpts {
            sessions: o.sessions,
            warm: o.warm_sessions,
            concurrency: o.concurrency.max(1),
            settle: Duration::from_secs_f64(o.settle_s.max(0.0)),
            sample: o.sample,
            timeout: Duration::from_millis(o.timeout_ms),
        };
        let r = sessions::run(server.port, server.pid, opts).await;
        server.stop().await;
        sessions = Some(report::sessions(r));
    }
    Ok((s1, ceiling, sessions))
}

/// Runs the `registry` benchmark: the uncapped server, then the capped one.
async fn registry_bench(
    o: &Opts,
    ro: registry::RegistryOpts,
    server_cpu: Option<usize>,
) -> Result<[registry::Side; 2], String> {
    let mut sides: [registry::Side; 2] = Default::default();
    for (side, cap) in sides.iter_mut().zip(registry::caps(&ro)) {
        let cap_arg = cap.to_string();
        let args = ["serve-ferromcp", "--mode", "stateful", "--max-sessions", &cap_arg];
        let server = start(&args, o, server_cpu).await?;
        eprintln!("ferrobench: registry, max {cap} sessions (pid {}, port {})", server.pid, server.port);
        let r = registry::run(server.port, server.pid, cap, ro).await;
        server.stop().await;
        *side = r?;
    }
    Ok(sides)
}

/// Set in the environment of the copy of this command that runs in its own session.
const OWN_SESSION_ENV: &str = "FERROBENCH_OWN_SESSION";

/// `--nice`: the nice value of an autogroup (one per session) is what ranks it against
/// other sessions, so the benchmark re-runs itself in a new session (`setsid -w`) and
/// sets that session's group nice; the caller's session keeps its priority. Returns the
/// nice value in effect.
fn apply_nice(o: &Opts) -> i32 {
    let own_session = std::env::var_os(OWN_SESSION_ENV).is_some();
    match procs::renice_self(o.nice, own_session) {
        Ok(()) => o.nice,
        Err(e) => {
            eprintln!("ferrobench: WARNING: could not set nice {}: {e}", o.nice);
            0
        }
    }
}

fn run_bench(cmd: &str, o: &Opts) -> Result<(), String> {
    if o.nice != 0 && std::env::var_os(OWN_SESSION_ENV).is_none() {
        match procs::rerun_in_own_session(OWN_SESSION_ENV) {
            Some(s) if s.success() => return Ok(()),
            Some(s) => return Err(format!("the benchmark (in its own session) ended with {s}")),
            None => eprintln!("ferrobench: WARNING: `setsid` not found; --nice only ranks within this session"),
        }
    }
    let (loadgen_cpu, server_cpu) = pin(o);
    let nice = if o.nice != 0 { apply_nice(o) } else { 0 };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| format!("runtime: {e}"))?;
    if cmd == "registry" {
        let ro = registry::RegistryOpts {
            sessions: o.registry_sessions.max(1),
            concurrency: o.concurrency.max(1),
            duration: Duration::from_secs_f64(o.duration_s.max(0.5)),
            timeout: Duration::from_millis(o.timeout_ms),
        };
        let sides = rt.block_on(registry_bench(o, ro, server_cpu))?;
        registry::print(&sides, &ro);
        return Ok(());
    }
    if cmd == "auth" {
        let ao = auth::AuthOpts {
            concurrency: o.concurrency.max(1),
            warmup: Duration::from_secs_f64(o.warmup_s.max(0.0)),
            duration: Duration::from_secs_f64(o.duration_s.max(0.1)),
            timeout: Duration::from_millis(o.timeout_ms),
            runtime: runtime_name(o.server_runtime),
        };
        let rows = rt.block_on(auth::bench(&ao, server_cpu))?;
        auth::print(&rows, &ao);
        return Ok(());
    }
    if cmd == "resume" {
        let rows = rt.block_on(resume::bench(o, server_cpu))?;
        resume::print(&rows, o, (loadgen_cpu, server_cpu), nice);
        return Ok(());
    }
    let (s1, ceiling, sessions) = rt.block_on(bench(cmd, o, server_cpu))?;
    let state = match cmd {
        "all" | "state" => Some(rt.block_on(state::bench(o, (loadgen_cpu, server_cpu)))?),
        _ => None,
    };
    let config = Config {
        concurrency: o.concurrency,
        warmup_s: o.warmup_s,
        duration_s: o.duration_s,
        repeats: o.repeats.max(1),
        server_runtime: runtime_name(o.server_runtime).to_owned(),
        loadgen_cpu,
        server_cpu,
        nice,
    };
    report::print(&Report { s1, ceiling, sessions, state, config });
    Ok(())
}

/// `client`: ferromcp-client vs rmcp's client (see [`clientbench`]). The drivers are
/// pinned to `--loadgen-cpu`, the servers to `--server-cpu`; this process only waits.
fn client_bench(o: &Opts, rmcp: Option<&std::path::PathBuf>) -> Result<(), String> {
    let pins = if o.no_pin
        || !procs::taskset_available()
        || std::thread::available_parallelism().map_or(1, |n| n.get()) <= o.loadgen_cpu.max(o.server_cpu)
    {
        eprintln!("ferrobench: WARNING: running unpinned (--no-pin, no taskset, or too few CPUs)");
        (None, None)
    } else {
        (Some(o.loadgen_cpu), Some(o.server_cpu))
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| format!("runtime: {e}"))?;
    let rows = rt.block_on(clientbench::bench(o, rmcp, pins))?;
    clientbench::print(&rows, o);
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match &cli.cmd {
        Cmd::All(o) => run_bench("all", o),
        Cmd::S1(o) => run_bench("s1", o),
        Cmd::Sessions(o) => run_bench("sessions", o),
        Cmd::Resume(o) => run_bench("resume", o),
        Cmd::State(o) => run_bench("state", o),
        Cmd::Registry(o) => run_bench("registry", o),
        Cmd::Proxy(o) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("runtime: {e}"))
            .and_then(|rt| rt.block_on(proxy::run(o.clone()))),
        Cmd::Client { opts, rmcp_client } => client_bench(opts, rmcp_client.as_ref()),
        Cmd::ClientDriver(a) => clientbench::driver(a),
        Cmd::Auth(o) => run_bench("auth", o),
        Cmd::ServeAuth { port, auth, runtime } => {
            auth::serve(*port, *auth, *runtime).map_err(|e| format!("serve-auth: {e}"))
        }
        Cmd::StateChild(a) => state::child(a),
        Cmd::ServeFerromcp { port, mode, runtime, events, redis, max_sessions, sessions_per_client } => {
            let limits = ferromcp::session::SessionLimits::default()
                .max_sessions(*max_sessions)
                .max_per_client((*sessions_per_client > 0).then_some(*sessions_per_client));
            servers::serve_ferromcp(*port, *mode, *runtime, events.clone(), redis.clone(), limits)
                .map_err(|e| format!("serve-ferromcp: {e}"))
        }
        Cmd::ServeCeiling { port, runtime } => {
            servers::serve_ceiling(*port, *runtime).map_err(|e| format!("serve-ceiling: {e}"))
        }
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrobench: error: {e}");
            ExitCode::FAILURE
        }
    }
}
