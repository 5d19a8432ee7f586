//! `oac-mirror replica`: a local stand-in for the USPTO service, served until Ctrl-C.

use std::time::Duration;

use super::Outcome;
use super::args::ReplicaArgs;
use crate::error::{Error, Result};
use crate::replica;

/// Serves synthetic records at `--listen` (loopback only unless `--allow-remote`) until Ctrl-C.
pub async fn replica(args: ReplicaArgs) -> Result<Outcome> {
    if !args.listen.ip().is_loopback() && !args.allow_remote {
        return Err(Error::Usage {
            flag: "--listen".into(),
            value: args.listen.to_string(),
            problem: "is not a loopback address; the replica serves only this machine unless --allow-remote is given".into(),
        });
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
            kinds: replica::Fault::all(Duration::from_secs(150)),
            seed: args.fault_seed,
            latency: Duration::from_millis(args.latency_ms),
            ms_per_mb: args.ms_per_mb,
            ..Default::default()
        },
        ..replica::Settings::default()
    };
    let server = replica::Replica::start(args.listen, data, settings)
        .await
        .map_err(|source| Error::Io {
            path: format!("--listen {}", args.listen).into(),
            source,
        })?;
    eprintln!(
        "replica serving {} synthetic records at {} (and their rejections and enriched citations beside them)\n  try: oac-mirror harvest --base-url {} --db demo.db [--dataset all]",
        args.records,
        server.base_url(),
        server.base_url()
    );
    tokio::signal::ctrl_c().await.map_err(|source| Error::Io {
        path: "the Ctrl-C handler".into(),
        source,
    })?;
    Ok(Outcome::Complete { summary: None })
}
