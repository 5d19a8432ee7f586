//! The commands that talk to upstream: `harvest`, `plan` and `verify`. Their configuration is
//! loaded here, with the API-key policy, and the one fetcher every request goes through is
//! built here; the work itself is [`harvest`](crate::harvest)'s.

use indicatif::ProgressBar;
use tokio_util::sync::CancellationToken;

use super::args::HarvestArgs;
use super::{Outcome, print_report};
use crate::config::{self, Config};
use crate::error::{Error, Result};
use crate::harvest::{self, fetch::Fetcher, survey};
use crate::store::Store;
use crate::{api, terminal};

impl HarvestArgs {
    /// The configuration of `harvest`, `plan` or `verify`, from these flags, the config file
    /// and the environment read through `env`. With `source_from_db`, the source recorded in an
    /// existing mirror stands in for a `--base-url` not given (`plan` and `verify` of a mirror
    /// ask the source it was harvested from). Refuses to go on without an API key when the
    /// source is the Open Data Portal.
    pub fn load(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        source_from_db: bool,
    ) -> Result<Config> {
        let mut config = config::load(self.raw.clone(), self.config.as_deref(), env)?;
        if source_from_db
            && config.base_url == config::DEFAULT_BASE_URL
            && self.raw.base_url.is_none()
            && let Some(stored) = stored_source(&config.db)
        {
            let mut raw = self.raw.clone();
            raw.base_url = Some(stored);
            config = config::load(raw, self.config.as_deref(), env)?;
        }
        if !config.api_key.is_set() && config.base_url == config::DEFAULT_BASE_URL {
            return Err(Error::Config {
                origin: "environment".into(),
                key: config::API_KEY_ENV.into(),
                value: String::new(),
                problem: "is not set; the Open Data Portal needs an API key from your USPTO.gov account at data.uspto.gov (see \"Quick start\" in the README), or try the tool without one: \"Try it without an API key\"".into(),
            });
        }
        Ok(config)
    }
}

/// The source recorded in the mirror at `db`, if there is one.
fn stored_source(db: &std::path::Path) -> Option<String> {
    if !db.exists() {
        return None;
    }
    Store::open_read_only(db).ok()?.source().ok()?
}

/// The fetcher every request of a run goes through: the client of `config`'s source with its
/// timeouts and body limit, under `config`'s rate, retry and budget policy, stopping when
/// `shutdown` is cancelled.
pub fn fetcher(config: &Config, shutdown: CancellationToken) -> Result<Fetcher> {
    let client = api::Client::new(&config.base_url, &config.api_key, config.timeouts)?
        .with_max_response_bytes(config.max_response_bytes);
    Ok(Fetcher::new(client, config.into(), shutdown))
}

/// The fetcher of a command, and the token a first SIGINT or SIGTERM cancels (see
/// [`terminal::stop_on_signal`]): no new request is sent after it.
fn start(config: &Config) -> Result<(Fetcher, CancellationToken)> {
    let shutdown = CancellationToken::new();
    let fetcher = fetcher(config, shutdown.clone())?;
    tokio::spawn(terminal::stop_on_signal(shutdown.clone()));
    Ok((fetcher, shutdown))
}

/// `oac-mirror harvest`: mirrors the window into `config.db`, showing progress on `bar`. A
/// first signal stops the run with its progress committed.
pub async fn harvest(config: Config, bar: Option<ProgressBar>) -> Result<Outcome> {
    let (fetcher, shutdown) = start(&config)?;
    let store = Store::open(&config.db)?;
    let observer = bar.clone().map(terminal::observer);
    let outcome = harvest::run_observed(&config, fetcher, store, shutdown.clone(), observer).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let outcome = outcome?;
    let reason = outcome.message;
    Ok(if outcome.complete {
        tracing::info!("{reason}");
        Outcome::Complete { summary: None }
    } else if shutdown.is_cancelled() {
        Outcome::Interrupted { reason }
    } else {
        Outcome::Incomplete { reason }
    })
}

/// `oac-mirror plan`: what a harvest with `config` would fetch, printed on stdout.
pub async fn plan(config: &Config, json: bool) -> Result<Outcome> {
    let (mut fetcher, _) = start(config)?;
    let plan = survey::plan(config, &mut fetcher).await?;
    print_report(&plan, json)?;
    Ok(Outcome::Complete { summary: None })
}

/// `oac-mirror verify`: the mirror's counts against upstream's, printed on stdout;
/// [`Outcome::Differs`] when some disagree.
pub async fn verify(config: &Config, quick: bool, json: bool) -> Result<Outcome> {
    let (mut fetcher, _) = start(config)?;
    let store = Store::open_read_only(&config.db)?;
    let found = survey::verify(config, &mut fetcher, store, quick).await?;
    print_report(&found, json)?;
    Ok(if found.agrees() {
        Outcome::Complete { summary: None }
    } else {
        Outcome::Differs
    })
}
