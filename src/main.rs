//! The `oac-mirror` command: parses arguments, sets up logging, calls one library entry point
//! per command (see `oac_mirror::command`) and turns what it returns into an exit status:
//! 0 complete or done, 1 incomplete but resumable or a runtime failure, 2 usage or
//! configuration error.

use std::process::ExitCode;

use indicatif::ProgressBar;
use oac_mirror::command::{self, Cli, Command, Outcome};
use oac_mirror::config::{Config, LogFormat};
use oac_mirror::{Error, terminal};

/// mimalloc: a harvest allocates and frees every record's JSON, and glibc's allocator spent
/// a third of its CPU doing so.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("start the async runtime");
    let ended = runtime.block_on(run(cli.command));
    ExitCode::from(exit_status(ended))
}

/// Runs `command` with logging set up as its configuration asks.
async fn run(command: Command) -> Result<Outcome, Error> {
    match command {
        Command::Harvest(args) => {
            let config = args.load(&env, false)?;
            let bar = log_for(&config, true);
            command::harvest(config, bar).await
        }
        Command::Plan(args) => {
            let config = args.harvest.load(&env, true)?;
            log_for(&config, false);
            command::plan(&config, args.json).await
        }
        Command::Verify(args) => {
            let config = args.harvest.load(&env, true)?;
            log_for(&config, false);
            command::verify(&config, args.quick, args.json).await
        }
        Command::Status(args) => {
            log_plain();
            command::status(args, &env)
        }
        Command::Pack(args) => {
            log_plain();
            command::pack(args, &env)
        }
        Command::Export(args) => {
            log_plain();
            command::export(args, &env)
        }
        Command::Replica(args) => {
            log_plain();
            command::replica(args).await
        }
    }
}

/// The last words of a command on stderr, and its exit status.
fn exit_status(ended: Result<Outcome, Error>) -> u8 {
    match ended {
        Ok(outcome) => {
            match &outcome {
                Outcome::Complete {
                    summary: Some(line),
                } => eprintln!("{line}"),
                Outcome::Incomplete { reason } | Outcome::Interrupted { reason } => {
                    terminal::say(reason)
                }
                Outcome::Complete { summary: None } | Outcome::Differs => {}
            }
            outcome.exit_status()
        }
        Err(e) => {
            terminal::say(&e.report());
            e.exit_status()
        }
    }
}

/// Logging as `config` asks (quiet, text or JSON), with a progress line if `bar` is wanted and
/// stderr is a terminal that can show one.
fn log_for(config: &Config, bar: bool) -> Option<ProgressBar> {
    let bar = bar.then(|| terminal::progress_bar(config)).flatten();
    terminal::init_logging(config.quiet, config.log_format, bar.clone());
    bar
}

/// Logging for the commands that read no configuration but `db`: text, not quiet.
fn log_plain() {
    terminal::init_logging(false, LogFormat::Text, None);
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
