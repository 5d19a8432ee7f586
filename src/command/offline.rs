//! The commands that read a mirror and send nothing: `status`, `pack` and `export`. Each reads
//! only the `db` of the configuration (see [`config::load_db`]).

use super::args::{ExportArgs, PackArgs, StatusArgs};
use super::{Outcome, print_report};
use crate::config;
use crate::error::Result;
use crate::export::{self, ExportRequest, Output};
use crate::pack::{self, PackOptions};
use crate::store::Store;

/// `oac-mirror status`: the state of the mirror (or packed copy) at `--db`, on stdout.
pub fn status(args: StatusArgs, env: &dyn Fn(&str) -> Option<String>) -> Result<Outcome> {
    let db = config::load_db(args.db, args.config.as_deref(), env)?;
    let store = Store::open_read_only(&db)?;
    match store.packed()? {
        Some(packed) => print_report(&packed, args.json)?,
        None => print_report(&store.status()?, args.json)?,
    }
    Ok(Outcome::Complete { summary: None })
}

/// `oac-mirror pack`: a compact, checked copy of the mirror at `--db` written to `--out`.
pub fn pack(args: PackArgs, env: &dyn Fn(&str) -> Option<String>) -> Result<Outcome> {
    let db = config::load_db(args.db, args.config.as_deref(), env)?;
    let options = PackOptions {
        force: args.force,
        keep_working_tables: args.keep_working_tables,
    };
    let report = pack::pack(&db, &args.out, &options)?;
    let summary = format!(
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
    Ok(Outcome::Complete {
        summary: Some(summary),
    })
}

/// `oac-mirror export`: a table, view or query of the mirror at `--db` streamed to `--out`.
pub fn export(args: ExportArgs, env: &dyn Fn(&str) -> Option<String>) -> Result<Outcome> {
    let db = config::load_db(args.db, args.config.as_deref(), env)?;
    let source = match (args.table, args.query) {
        (Some(table), _) => export::Source::Table(table),
        (None, Some(query)) => export::Source::Query(query),
        (None, None) => {
            return Err(crate::Error::Usage {
                flag: "--table".into(),
                value: String::new(),
                problem: "or --query is needed: what to export".into(),
            });
        }
    };
    let request = ExportRequest {
        source,
        format: args.format,
        out: Output::parse(&args.out),
        partition_by: args.partition_by,
        force: args.force,
    };
    let report = export::export(&db, &request)?;
    // On standard output the rows are the answer; a summary would be noise in the pipe.
    let summary = (request.out != Output::Stdout).then(|| {
        format!(
            "exported {} rows to {} ({} file(s), {} bytes)",
            report.rows,
            args.out.display(),
            report.files,
            report.bytes
        )
    });
    Ok(Outcome::Complete { summary })
}
