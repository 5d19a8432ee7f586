//! The `oac-mirror` commands: their arguments as clap reads them ([`args`]) and one entry point
//! each, which the binary calls after setting up logging. An entry point returns what happened
//! as an [`Outcome`] (or an [`Error`]); the binary only turns that into words on
//! stderr and an exit status.
//!
//! - [`args`]: [`Cli`], the subcommands and their flags;
//! - `mirror`: `harvest`, `plan` and `verify`, which talk to upstream, and the configuration and
//!   fetcher they share;
//! - `offline`: `status`, `pack` and `export`, which only read a mirror;
//! - `serve`: `replica`.

use std::io::Write;

use crate::error::{Error, Result};

pub mod args;
mod mirror;
mod offline;
mod serve;

pub use args::{Cli, Command};
pub use mirror::{fetcher, harvest, plan, verify};
pub use offline::{export, pack, status};
pub use serve::replica;

/// How a command ended, when it did not fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It did its job (a harvest: the window is mirrored and proven). `summary` is a line for
    /// the person at the terminal, if the command has one (what `pack` wrote).
    Complete { summary: Option<String> },
    /// A harvest stopped with work left (failed partitions, a budget spent, upstream
    /// trouble); rerunning continues. `reason` says what is left.
    Incomplete { reason: String },
    /// A harvest stopped on SIGINT or SIGTERM with its progress committed.
    Interrupted { reason: String },
    /// `verify` found counts that differ; its report on stdout says where.
    Differs,
}

impl Outcome {
    /// The exit status: 0 complete, 1 anything left to do.
    pub fn exit_status(&self) -> u8 {
        match self {
            Outcome::Complete { .. } => 0,
            Outcome::Incomplete { .. } | Outcome::Interrupted { .. } | Outcome::Differs => 1,
        }
    }
}

/// Prints a report on stdout: one JSON object with `json`, text for a person otherwise. A reader
/// that went away (`| head`) is not an error: it has read what it wanted.
fn print_report(value: &(impl serde::Serialize + std::fmt::Display), json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let written = if json {
        serde_json::to_writer_pretty(&mut out, value)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        write!(out, "{value}")
    };
    match written.and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Io {
            path: "standard output".into(),
            source: e,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_complete_command_exits_0() {
        let reason = || "r".to_owned();
        assert_eq!(Outcome::Complete { summary: None }.exit_status(), 0);
        assert_eq!(Outcome::Incomplete { reason: reason() }.exit_status(), 1);
        assert_eq!(Outcome::Interrupted { reason: reason() }.exit_status(), 1);
        assert_eq!(Outcome::Differs.exit_status(), 1);
    }
}
