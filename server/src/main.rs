//! `submit-guard-server`: parses flags, opens the store, binds, prints
//! `listening on http://ADDR` on stdout, serves until SIGINT or SIGTERM.
//! See the README (The reference server) for the protocol and the flags.

#![deny(unsafe_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use submit_guard_server::{
    Config, ConnLimits, MemoryStore, PostgresStore, SqliteStore, Store, app, purge_expired,
    serve_with,
};
use tracing_subscriber::EnvFilter;

/// Reference server for the IETF Idempotency-Key protocol (submit-guard).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to bind; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// `memory`, `sqlite:PATH` or `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`
    /// (a database several instances may share).
    #[arg(long, default_value = "sqlite:submit-guard.db", value_parser = parse_store)]
    store: StoreSpec,
    /// How long keys are remembered, e.g. `24h`, `30s`, `1500ms`.
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    retention: Duration,
    /// How long a claim may stay unfinished before a retry takes it over.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    lock_timeout: Duration,
    /// Serve this directory at `/` (index.html for `/`); a directory with a
    /// built app in `DIR/dist` (such as `www`) serves that build.
    #[arg(long = "static", value_name = "DIR")]
    static_dir: Option<PathBuf>,
    /// Enable X-Fault, POST /api/_reset and GET /api/_requests.
    #[arg(long)]
    test_mode: bool,
    /// Reject unsafe requests to protected endpoints without an Idempotency-Key (400).
    #[arg(long)]
    require_key: bool,
    /// Largest request body: bytes, or with a unit (`64KiB`, `1MiB`, `64k`).
    #[arg(long, default_value = "64KiB", value_parser = parse_size)]
    body_limit: usize,
    /// Close a connection whose request head is not complete this long after
    /// it opened or after its previous response (slow-header clients).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    header_timeout: Duration,
    /// Close a connection with no request in progress that has sent and
    /// received nothing for this long.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    idle_timeout: Duration,
    /// Most open connections; at the cap the idlest is closed to make room
    /// (or, when all are busy, a new one waits).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Benchmarking aid: serve the same routes and handlers without the
    /// idempotency layer (keys are ignored). Never in production.
    #[arg(long)]
    no_idempotency: bool,
    /// The key principals are derived with (HMAC-SHA-256), as at least 32
    /// hex digits. Default: one the store creates on first start and keeps
    /// (in the SQLite file; per process for `--store memory`).
    #[arg(long, value_name = "HEX", value_parser = parse_secret, env = "SUBMIT_GUARD_PRINCIPAL_SECRET", hide_env_values = true)]
    principal_secret: Option<Secret>,
}

/// A secret that never shows in `Debug` output (the startup log).
#[derive(Clone)]
struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

fn parse_secret(s: &str) -> Result<Secret, String> {
    let s = s.trim();
    if s.len() < 32 || s.len() % 2 != 0 {
        return Err(format!(
            "expected an even number (at least 32) of hex digits, got {} characters",
            s.len()
        ));
    }
    let digits: Option<Vec<u8>> = s
        .as_bytes()
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(pair, 16).ok()
        })
        .collect();
    digits
        .map(Secret)
        .ok_or_else(|| "expected hex digits (0-9, a-f)".to_owned())
}

#[derive(Clone)]
enum StoreSpec {
    Memory,
    Sqlite(PathBuf),
    Postgres(String),
}

impl std::fmt::Debug for StoreSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl StoreSpec {
    /// For logs: never a password.
    fn describe(&self) -> String {
        match self {
            Self::Memory => "memory".into(),
            Self::Sqlite(path) => format!("sqlite:{}", path.display()),
            Self::Postgres(url) => match url.rsplit_once('@') {
                Some((_, place)) => format!("postgres (…@{place})"),
                None => "postgres".into(),
            },
        }
    }
}

fn parse_store(s: &str) -> Result<StoreSpec, String> {
    match s {
        "memory" => Ok(StoreSpec::Memory),
        _ if s.starts_with("postgres://") || s.starts_with("postgresql://") => {
            Ok(StoreSpec::Postgres(s.to_owned()))
        }
        _ => match s.strip_prefix("sqlite:") {
            Some(path) if !path.is_empty() => Ok(StoreSpec::Sqlite(path.into())),
            _ => Err(format!(
                "expected `memory`, `sqlite:PATH` or `postgres://USER@HOST:PORT/DB`, got {s:?}"
            )),
        },
    }
}

fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: usize = digits
        .parse()
        .map_err(|_| format!("expected a size like 65536 or 64KiB, got {s:?}"))?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        other => return Err(format!("unknown size unit {other:?}; use B, KiB or MiB")),
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();

    let store: Arc<dyn Store> = match &args.store {
        StoreSpec::Memory => Arc::new(MemoryStore::new()),
        StoreSpec::Sqlite(path) => match SqliteStore::open(path) {
            Ok(store) => Arc::new(store),
            Err(err) => {
                eprintln!("submit-guard-server: cannot open {}: {err}", path.display());
                return ExitCode::FAILURE;
            }
        },
        StoreSpec::Postgres(url) => match PostgresStore::connect(url).await {
            Ok(store) => Arc::new(store),
            Err(err) => {
                // The error names the URL, without its password.
                eprintln!("submit-guard-server: {err}");
                return ExitCode::FAILURE;
            }
        },
    };
    let mut config = Config::new(store);
    config.retention = args.retention;
    config.lock_timeout = args.lock_timeout;
    config.require_key = args.require_key;
    config.test_mode = args.test_mode;
    config.body_limit = args.body_limit;
    config.idempotency = !args.no_idempotency;
    config.principal_secret = args.principal_secret.clone().map(|s| s.0);
    config.static_dir = match args.static_dir.as_deref().map(site_root).transpose() {
        Ok(dir) => dir,
        Err(err) => {
            eprintln!("submit-guard-server: --static: {err}");
            return ExitCode::FAILURE;
        }
    };

    let listener = match tokio::net::TcpListener::bind(args.addr).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("submit-guard-server: cannot bind {}: {err}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(err) => {
            eprintln!("submit-guard-server: no local address: {err}");
            return ExitCode::FAILURE;
        }
    };
    {
        let mut stdout = std::io::stdout().lock();
        if writeln!(stdout, "listening on http://{addr}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            tracing::warn!("could not write the listening line to stdout");
        }
    }
    let limits = ConnLimits {
        header_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
        max_connections: args.max_connections as usize,
    };
    tracing::info!(%addr, store = %args.store.describe(), static_dir = ?config.static_dir, test_mode = args.test_mode, ?limits, require_key = args.require_key, idempotency = !args.no_idempotency, "serving");

    let router = match app(config.clone()) {
        Ok(router) => router,
        Err(err) => {
            eprintln!("submit-guard-server: cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    tokio::spawn(purge_periodically(config));
    serve_with(listener, router, limits, shutdown_signal()).await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// The directory `--static DIR` serves: `DIR/dist` when it holds a built
/// app (`dist/index.html`: `www`, whose `index.html` is the Vite source,
/// serves the demo's build), else `DIR` itself. A missing directory is an
/// error rather than a server that answers 404 to every page.
fn site_root(dir: &Path) -> Result<PathBuf, String> {
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let built = dir.join("dist");
    if built.join("index.html").is_file() {
        return Ok(built);
    }
    if ["vite.config.js", "vite.config.ts", "vite.config.mjs"]
        .iter()
        .any(|name| dir.join(name).is_file())
    {
        return Err(format!(
            "{} is an app's source and {} has no index.html: build it first (make www)",
            dir.display(),
            built.display()
        ));
    }
    Ok(dir.to_path_buf())
}

/// Purges expired keys every `retention / 4`, clamped to 1 s ..= 60 s.
async fn purge_periodically(config: Config) {
    let period = (config.retention / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        match purge_expired(&config).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "purged expired idempotency keys"),
            Err(err) => tracing::warn!(error = %err, "purge failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %err, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("64k"), Ok(65536));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert!(parse_size("KiB").is_err());
        assert!(parse_size("1GiB").is_err());
    }

    #[test]
    fn stores() {
        assert!(matches!(parse_store("memory"), Ok(StoreSpec::Memory)));
        assert!(
            matches!(parse_store("sqlite:/tmp/x.db"), Ok(StoreSpec::Sqlite(p)) if p.as_os_str() == "/tmp/x.db")
        );
        assert!(parse_store("sqlite:").is_err());
        assert!(
            matches!(parse_store("postgres://u@127.0.0.1:5432/db"), Ok(StoreSpec::Postgres(u)) if u == "postgres://u@127.0.0.1:5432/db")
        );
        assert!(parse_store("mysql://x").is_err());
    }

    #[test]
    fn secrets() {
        let hex = "00ff".repeat(8);
        assert_eq!(parse_secret(&hex).unwrap().0, [0, 255].repeat(8));
        assert!(parse_secret("abcd").is_err(), "too short");
        assert!(parse_secret(&"zz".repeat(16)).is_err(), "not hex");
        assert!(parse_secret(&"a".repeat(33)).is_err(), "odd");
        assert!(!format!("{:?}", parse_secret(&hex).unwrap()).contains("00ff"));
    }

    #[test]
    fn static_dirs() {
        let root = tempfile::tempdir().unwrap();
        let plain = root.path().join("plain");
        std::fs::create_dir(&plain).unwrap();
        assert_eq!(site_root(&plain), Ok(plain.clone()));

        let app = root.path().join("app");
        std::fs::create_dir(&app).unwrap();
        std::fs::write(app.join("index.html"), "<script src=/src/main.jsx>").unwrap();
        std::fs::write(app.join("vite.config.js"), "").unwrap();
        let err = site_root(&app).unwrap_err();
        assert!(err.contains("make www"), "{err}");
        std::fs::create_dir(app.join("dist")).unwrap();
        std::fs::write(app.join("dist/index.html"), "<p>built").unwrap();
        assert_eq!(site_root(&app), Ok(app.join("dist")));

        let missing = root.path().join("missing");
        let err = site_root(&missing).unwrap_err();
        assert!(
            err.contains("missing") && err.contains("not a directory"),
            "{err}"
        );
    }

    #[test]
    fn defaults_and_durations() {
        let args = Args::try_parse_from(["s"]).unwrap();
        assert_eq!(args.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(args.retention, Duration::from_secs(86_400));
        assert_eq!(args.lock_timeout, Duration::from_secs(30));
        assert_eq!(args.body_limit, 65536);
        assert!(!args.test_mode && !args.require_key && !args.no_idempotency);
        let limits = ConnLimits::default();
        assert_eq!(args.header_timeout, limits.header_timeout);
        assert_eq!(args.idle_timeout, limits.idle_timeout);
        assert_eq!(args.max_connections as usize, limits.max_connections);
        assert!(Args::try_parse_from(["s", "--max-connections", "0"]).is_err());
        let args = Args::try_parse_from([
            "s",
            "--retention",
            "1500ms",
            "--lock-timeout",
            "1s",
            "--store",
            "memory",
        ])
        .unwrap();
        assert_eq!(args.retention, Duration::from_millis(1500));
        assert_eq!(args.lock_timeout, Duration::from_secs(1));
    }
}
