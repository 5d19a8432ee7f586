//! The `oac-mirror` command: parses arguments, sets up logging, loads the configuration, calls
//! one library entry point and turns the result into an exit status
//! (0 complete or done, 1 incomplete but resumable or a runtime failure, 2 usage or
//! configuration error).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use indicatif::ProgressBar;
use oac_mirror::config::{self, LogFormat, RawConfig};
use oac_mirror::export::{self, ExportRequest, Format, Output, PartitionBy};
use oac_mirror::harvest::{self, fetch::Fetcher, survey};
use oac_mirror::pack::{self, PackOptions};
use oac_mirror::store::Store;
use oac_mirror::{Error, api, error, replica, terminal};
use tokio_util::sync::CancellationToken;

/// mimalloc: a harvest allocates and frees every record's JSON, and glibc's allocator spent
/// a third of its CPU doing so.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "oac-mirror",
    version,
    about = "Mirror the USPTO Office Action Citations API (v2) into SQLite"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Harvest (or continue harvesting) the window into the database. The API key is read
    /// from the environment variable USPTO_API_KEY.
    Harvest(HarvestArgs),
    /// Say what `harvest` with the same options would fetch: the windows, their upstream
    /// counts and about how many requests, against the weekly call budget. Counts upstream;
    /// writes nothing.
    Plan(PlanArgs),
    /// Compare the mirror's counts with upstream's for every partition and print the ones that
    /// differ; exit 0 when none do, 1 otherwise. Writes nothing.
    Verify(VerifyArgs),
    /// Report the state of a mirror from the database alone.
    Status(StatusArgs),
    /// Serve a local replica of the USPTO service with synthetic records, for trying the tool
    /// without an API key.
    Replica(ReplicaArgs),
    /// Write a compact, self-describing copy of the mirror for analysts (not WAL, ANALYZEd,
    /// integrity-checked, without the harvest's working tables).
    Pack(PackArgs),
    /// Stream a table, view or query out as CSV, NDJSON or Parquet.
    Export(ExportArgs),
}

#[derive(Args)]
struct HarvestArgs {
    /// Config file (TOML); see config.example.toml. Also OAC_MIRROR_CONFIG.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Every configuration key as a flag (`--rate` for `rate`); see config.rs.
    #[command(flatten)]
    raw: RawConfig,
}

#[derive(Args)]
struct PlanArgs {
    #[command(flatten)]
    harvest: HarvestArgs,
    /// Print one JSON object instead of text
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct VerifyArgs {
    /// The mirror's own window is verified; --from and --to are not used.
    #[command(flatten)]
    harvest: HarvestArgs,
    /// Descend only where counts differ, from the whole window down (a few requests), instead
    /// of comparing every partition (one request each)
    #[arg(long)]
    quick: bool,
    /// Print one JSON object instead of text
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct StatusArgs {
    /// Config file (TOML), for its `db` key. Also OAC_MIRROR_CONFIG.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// SQLite database file
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Print one JSON object instead of text
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct PackArgs {
    /// Config file (TOML), for its `db` key. Also OAC_MIRROR_CONFIG.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// The mirror to pack
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// The packed file to write
    #[arg(long, value_name = "PATH")]
    out: PathBuf,
    /// Replace --out if it exists
    #[arg(long)]
    force: bool,
    /// Keep the harvest's working tables (partitions, runs, rejected_records)
    #[arg(long)]
    keep_working_tables: bool,
}

#[derive(Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["table", "query"]))]
struct ExportArgs {
    /// Config file (TOML), for its `db` key. Also OAC_MIRROR_CONFIG.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// The mirror (or packed file) to read
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Output format: csv, ndjson or parquet
    #[arg(long, value_name = "FORMAT")]
    format: Format,
    /// Output file, `-` for standard output, or with --partition-by a directory
    #[arg(long, value_name = "PATH")]
    out: PathBuf,
    /// Export every row of this table or view
    #[arg(long, value_name = "NAME")]
    table: Option<String>,
    /// Export the rows of this read-only SQL query
    #[arg(long, value_name = "SQL")]
    query: Option<String>,
    /// Parquet only: one file per year of create_date_time, in year=YYYY/ directories
    #[arg(long, value_name = "year")]
    partition_by: Option<PartitionBy>,
    /// Replace --out if it exists
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct ReplicaArgs {
    /// Address to listen on; only loopback unless --allow-remote
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// Allow --listen on an address other machines can reach
    #[arg(long)]
    allow_remote: bool,
    /// How many synthetic records to serve
    #[arg(long, default_value_t = 100_000)]
    records: usize,
    /// Seed of the synthetic records (the same seed gives the same records)
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Require this X-API-KEY (default: accept any non-empty key, or none)
    #[arg(long, value_name = "KEY")]
    require_key: Option<String>,
    /// The replica's paging cap (start + rows), like the real service's
    #[arg(long, default_value_t = config::DEFAULT_PAGING_CAP)]
    paging_cap: u64,
    /// Share of /records requests (0 to 1) that meet a fault: 5xx, 429, a timeout, a cut
    /// connection or malformed JSON
    #[arg(long, default_value_t = 0.0)]
    fault_rate: f64,
    /// Seed of the faults
    #[arg(long, default_value_t = 1)]
    fault_seed: u64,
    /// Answer 429 when more requests than this are in flight (the real service allows 1)
    #[arg(long, value_name = "N")]
    max_in_flight: Option<usize>,
    /// Answer 429 above this many requests in one second
    #[arg(long, value_name = "N")]
    max_per_second: Option<usize>,
    /// Answer 413 when a response body would be larger than this
    #[arg(long, value_name = "BYTES")]
    max_response_bytes: Option<usize>,
    /// Service time of each /records answer before its body (the Open Data Portal: about 300)
    #[arg(long, value_name = "MS", default_value_t = 0)]
    latency_ms: u64,
    /// Service time per MB of each /records answer (the Open Data Portal: about 100)
    #[arg(long, value_name = "MS", default_value_t = 0.0)]
    ms_per_mb: f64,
}

fn main() -> ExitCode {
    // The replica's flags are its own, not configuration keys.
    let command = Cli::command().mut_subcommands(|sub| match sub.get_name() {
        "replica" => sub,
        _ => config::document(sub),
    });
    let cli = Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("start the async runtime");
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            terminal::say(&error::report(e.as_ref()));
            match e.downcast_ref::<Error>() {
                Some(e) if e.is_usage() => ExitCode::from(2),
                _ => ExitCode::from(1),
            }
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Loads the configuration of `harvest`, `plan` or `verify` (with `source_from_db`, the
/// source recorded in an existing mirror stands in for a `--base-url` not given), checks the
/// API key, sets up logging, and builds the fetcher every request goes through.
fn connect(
    args: &HarvestArgs,
    bar: bool,
    source_from_db: bool,
) -> anyhow::Result<(
    config::Config,
    Fetcher,
    CancellationToken,
    Option<ProgressBar>,
)> {
    let mut config = config::load(args.raw.clone(), args.config.as_deref(), &env)?;
    // `plan` and `verify` of an existing mirror ask the source it was harvested from, unless
    // a base URL is given.
    if source_from_db
        && config.base_url == config::DEFAULT_BASE_URL
        && args.raw.base_url.is_none()
        && let Some(stored) = stored_source(&config.db)
    {
        let mut raw = args.raw.clone();
        raw.base_url = Some(stored);
        config = config::load(raw, args.config.as_deref(), &env)?;
    }
    if !config.api_key.is_set() && config.base_url == config::DEFAULT_BASE_URL {
        return Err(Error::Config {
            origin: "environment".into(),
            key: config::API_KEY_ENV.into(),
            value: String::new(),
            problem:
                "is not set; the Open Data Portal needs an API key from your USPTO.gov account at data.uspto.gov (see \"Quick start\" in the README), or try the tool without one: \"Try it without an API key\""
                    .into(),
        }
        .into());
    }
    let bar = if bar {
        terminal::progress_bar(&config)
    } else {
        None
    };
    terminal::init_logging(config.quiet, config.log_format, bar.clone());
    let client = api::Client::new(&config.base_url, &config.api_key, config.timeouts)?
        .with_max_response_bytes(config.max_response_bytes);
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    let fetcher = Fetcher::new(client, (&config).into(), shutdown.clone());
    Ok((config, fetcher, shutdown, bar))
}

/// Prints a report on stdout: one JSON object with `json`, text for a person otherwise.
fn report(value: &(impl serde::Serialize + std::fmt::Display), json: bool) -> anyhow::Result<()> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).context("encode JSON")?
        );
    } else {
        print!("{value}");
    }
    Ok(())
}

async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Harvest(args) => {
            let (config, fetcher, shutdown, bar) = connect(&args, true, false)?;
            let store = Store::open(&config.db)?;
            let observer = bar.clone().map(terminal::observer);
            let outcome = harvest::run_observed(&config, fetcher, store, shutdown, observer).await;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            let outcome = outcome?;
            if outcome.complete {
                tracing::info!("{}", outcome.message);
                Ok(ExitCode::SUCCESS)
            } else {
                terminal::say(&outcome.message);
                Ok(ExitCode::from(1))
            }
        }
        Command::Plan(args) => {
            let (config, fetcher, _, _) = connect(&args.harvest, false, true)?;
            let plan = survey::plan(&config, &fetcher).await?;
            report(&plan, args.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify(args) => {
            let (config, fetcher, _, _) = connect(&args.harvest, false, true)?;
            let store = Store::open_read_only(&config.db)?;
            let found = survey::verify(&config, &fetcher, store, args.quick).await?;
            report(&found, args.json)?;
            Ok(if found.agrees() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Status(args) => {
            terminal::init_logging(false, LogFormat::Text, None);
            let db = db_path(args.db, args.config.as_deref())?;
            let store = Store::open_read_only(&db)?;
            if let Some(packed) = store.packed()? {
                report(&packed, args.json)?;
                return Ok(ExitCode::SUCCESS);
            }
            let status = store.status()?;
            report(&status, args.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Pack(args) => {
            terminal::init_logging(false, LogFormat::Text, None);
            let db = db_path(args.db, args.config.as_deref())?;
            let options = PackOptions {
                force: args.force,
                keep_working_tables: args.keep_working_tables,
            };
            let report = pack::pack(&db, &args.out, &options)?;
            eprintln!(
                "packed {} records ({}) into {} ({} bytes)",
                report.records,
                if report.complete {
                    "proven complete"
                } else {
                    "NOT proven complete; see meta"
                },
                report.out.display(),
                report.bytes
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Export(args) => {
            terminal::init_logging(false, LogFormat::Text, None);
            let db = db_path(args.db, args.config.as_deref())?;
            let source = match (args.table, args.query) {
                (Some(table), _) => export::Source::Table(table),
                (None, Some(query)) => export::Source::Query(query),
                (None, None) => unreachable!("clap requires one of --table, --query"),
            };
            let request = ExportRequest {
                source,
                format: args.format,
                out: Output::parse(&args.out),
                partition_by: args.partition_by,
                force: args.force,
            };
            let report = export::export(&db, &request)?;
            if request.out != Output::Stdout {
                eprintln!(
                    "exported {} rows to {} ({} file(s), {} bytes)",
                    report.rows,
                    args.out.display(),
                    report.files,
                    report.bytes
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Replica(args) => {
            terminal::init_logging(false, LogFormat::Text, None);
            if !args.listen.ip().is_loopback() && !args.allow_remote {
                return Err(Error::Usage {
                    flag: "--listen".into(),
                    value: args.listen.to_string(),
                    problem: "is not a loopback address; the replica serves only this machine unless --allow-remote is given".into(),
                }
                .into());
            }
            let data = replica::synthetic(args.records, args.seed);
            let settings = replica::Settings {
                require_key: args.require_key,
                paging_cap: args.paging_cap,
                misbehaviour: replica::Misbehaviour {
                    max_in_flight: args.max_in_flight,
                    max_per_second: args.max_per_second,
                    max_response_bytes: args.max_response_bytes,
                    fault_rate: args.fault_rate,
                    kinds: replica::Fault::all(std::time::Duration::from_secs(150)),
                    seed: args.fault_seed,
                    latency: std::time::Duration::from_millis(args.latency_ms),
                    ms_per_mb: args.ms_per_mb,
                    ..Default::default()
                },
                ..replica::Settings::default()
            };
            let server = replica::Replica::start(args.listen, data, settings).await?;
            eprintln!(
                "replica serving {} synthetic records at {}\n  try: oac-mirror harvest --base-url {} --db demo.db",
                args.records,
                server.base_url(),
                server.base_url()
            );
            tokio::signal::ctrl_c().await.context("wait for Ctrl-C")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The source recorded in the mirror at `db`, if there is one.
fn stored_source(db: &std::path::Path) -> Option<String> {
    if !db.exists() {
        return None;
    }
    Store::open_read_only(db).ok()?.source().ok()?
}

/// The database named by `--db`, the config file or the default, as `status` finds it.
fn db_path(db: Option<PathBuf>, config_file: Option<&std::path::Path>) -> anyhow::Result<PathBuf> {
    Ok(config::load_db(db, config_file, &env)?)
}

/// Cancels `shutdown` on SIGINT or SIGTERM: no new requests are sent, requests in flight are
/// dropped, and the run ends with its progress committed. A second signal exits at once with
/// status 130 (a page is stored with its checkpoint or not at all: the batch of pages not yet
/// committed, at most a second's, is fetched again by the next run).
async fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::warn!(
        "signal received: stopping (requests in flight are dropped); a second Ctrl-C exits at once"
    );
    shutdown.cancel();
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    eprintln!(
        "oac-mirror: second signal: exiting at once; rerunning continues from the last page stored"
    );
    std::process::exit(130);
}
