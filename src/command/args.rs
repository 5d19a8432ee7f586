//! The command line: every subcommand's arguments, as clap reads them. The configuration keys
//! are not repeated here: `harvest`, `plan` and `verify` flatten [`RawConfig`], and [`Cli::parse_args`]
//! completes their help with each key's default and range.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::{self, RawConfig};
use crate::export::{Format, PartitionBy};

#[derive(Parser)]
#[command(
    name = "oac-mirror",
    version,
    about = "Mirror the USPTO Office Action Citations API (v2) into SQLite"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
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
pub struct HarvestArgs {
    /// Config file (TOML); see config.example.toml. Also OAC_MIRROR_CONFIG.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Every configuration key as a flag (`--rate` for `rate`); see `config::keys`.
    #[command(flatten)]
    pub raw: RawConfig,
}

#[derive(Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub harvest: HarvestArgs,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// The mirror's own window is verified; --from and --to are not used.
    #[command(flatten)]
    pub harvest: HarvestArgs,
    /// Descend only where counts differ, from the whole window down (a few requests), instead
    /// of comparing every partition (one request each)
    #[arg(long)]
    pub quick: bool,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct StatusArgs {
    /// Config file (TOML), for its `db` key. Also OAC_MIRROR_CONFIG.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// SQLite database file
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct PackArgs {
    /// Config file (TOML), for its `db` key. Also OAC_MIRROR_CONFIG.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The mirror to pack
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// The packed file to write
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// Replace --out if it exists
    #[arg(long)]
    pub force: bool,
    /// Keep the harvest's working tables (partitions, runs, rejected_records)
    #[arg(long)]
    pub keep_working_tables: bool,
}

#[derive(Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["table", "query"]))]
pub struct ExportArgs {
    /// Config file (TOML), for its `db` key. Also OAC_MIRROR_CONFIG.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The mirror (or packed file) to read
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Output format: csv, ndjson or parquet
    #[arg(long, value_name = "FORMAT")]
    pub format: Format,
    /// Output file, `-` for standard output, or with --partition-by a directory
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// Export every row of this table or view
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
    /// Export the rows of this read-only SQL query
    #[arg(long, value_name = "SQL")]
    pub query: Option<String>,
    /// Parquet only: one file per year of create_date_time, in year=YYYY/ directories
    #[arg(long, value_name = "year")]
    pub partition_by: Option<PartitionBy>,
    /// Replace --out if it exists
    #[arg(long)]
    pub force: bool,
}

#[derive(Args)]
pub struct ReplicaArgs {
    /// Address to listen on; only loopback unless --allow-remote
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,
    /// Allow --listen on an address other machines can reach
    #[arg(long)]
    pub allow_remote: bool,
    /// How many synthetic records to serve
    #[arg(long, default_value_t = 100_000)]
    pub records: usize,
    /// Seed of the synthetic records (the same seed gives the same records)
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Require this X-API-KEY (default: accept any non-empty key, or none)
    #[arg(long, value_name = "KEY")]
    pub require_key: Option<String>,
    /// The replica's paging cap (start + rows), like the real service's
    #[arg(long, default_value_t = crate::config::DEFAULT_PAGING_CAP)]
    pub paging_cap: u64,
    /// Share of /records requests (0 to 1) that meet a fault: 5xx, 429, a timeout, a cut
    /// connection or malformed JSON
    #[arg(long, default_value_t = 0.0)]
    pub fault_rate: f64,
    /// Seed of the faults
    #[arg(long, default_value_t = 1)]
    pub fault_seed: u64,
    /// Answer 429 when more requests than this are in flight (the real service allows 1)
    #[arg(long, value_name = "N")]
    pub max_in_flight: Option<usize>,
    /// Answer 429 above this many requests in one second
    #[arg(long, value_name = "N")]
    pub max_per_second: Option<usize>,
    /// Answer 413 when a response body would be larger than this
    #[arg(long, value_name = "BYTES")]
    pub max_response_bytes: Option<usize>,
    /// Service time of each /records answer before its body (the Open Data Portal: about 300)
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency_ms: u64,
    /// Service time per MB of each /records answer (the Open Data Portal: about 100)
    #[arg(long, value_name = "MS", default_value_t = 0.0)]
    pub ms_per_mb: f64,
}

impl Cli {
    /// Parses the process's arguments, or exits with clap's message (status 2) or with `--help`
    /// and `--version` (status 0). The help of every configuration key shows its default and
    /// range; the replica's flags are its own, not configuration keys.
    pub fn parse_args() -> Cli {
        let command = Cli::command().mut_subcommands(|sub| match sub.get_name() {
            "replica" => sub,
            _ => config::document(sub),
        });
        Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit())
    }
}
