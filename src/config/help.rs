//! `--help` from the key list: each key's flag help completed with its default and its range,
//! so that help shows the values the configuration uses rather than a copy of them.

use super::keys::{KEYS, RawConfig, range};

/// The default of `key` as a person reads it (`4`, `oac-mirror.db`), if it has one.
pub fn default_text(key: &str) -> Option<String> {
    let defaults = toml::Table::try_from(RawConfig::defaults()).ok()?;
    Some(match defaults.get(key)? {
        toml::Value::String(s) => s.clone(),
        toml::Value::Float(f) => f.to_string(),
        // A list as its flag takes it: `citations,rejections`.
        toml::Value::Array(items) => items
            .iter()
            .map(|item| match item {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    })
}

/// Completes the `--help` of every key's flag in `command` (those it has) with its default and
/// its range, so that help shows the values this module uses rather than a copy of them. The
/// switches (`--quiet`, `--full-refresh`) are off unless given and show no default.
pub fn document(command: clap::Command) -> clap::Command {
    let present: Vec<&'static str> = KEYS
        .iter()
        .copied()
        .filter(|key| command.get_arguments().any(|a| a.get_id() == *key))
        .collect();
    present.into_iter().fold(command, |command, key| {
        command.mut_arg(key, |arg| {
            let mut help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            if arg.get_num_args() != Some(0.into())
                && let Some(default) = default_text(key)
            {
                help.push_str(&format!(" [default: {default}]"));
            }
            if let Some((lo, hi)) = range(key) {
                help.push_str(&format!(" [range: {lo} to {hi}]"));
            }
            arg.help(help)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::super::load;
    use super::super::tests::no_env;
    use super::*;
    use crate::dataset::DEFAULT_API_ROOT;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        raw: RawConfig,
    }

    fn command() -> clap::Command {
        document(<Cli as clap::CommandFactory>::command())
    }

    /// `--dataset` is repeatable and takes a comma-separated list, as the environment does.
    #[test]
    fn the_family_flags_parse() {
        let mut command = command();
        let help = command.render_help().to_string();
        assert!(help.contains("--dataset <NAME>"), "{help}");
        assert!(help.contains("[default: citations]"), "{help}");
        assert!(
            help.contains(&format!("[default: {DEFAULT_API_ROOT}]")),
            "{help}"
        );
        let m = command
            .try_get_matches_from([
                "x",
                "--dataset",
                "enriched",
                "--dataset",
                "citations,rejections",
            ])
            .unwrap();
        let raw = <RawConfig as clap::FromArgMatches>::from_arg_matches(&m).unwrap();
        let c = load(raw, None, &no_env).unwrap();
        let names: Vec<&str> = c.datasets.iter().map(|d| d.name).collect();
        assert_eq!(names, ["citations", "rejections", "enriched"]);
    }

    /// `--help` shows the defaults and ranges of this module, not a copy of them.
    #[test]
    fn help_is_built_from_the_defaults() {
        let mut command = command();
        let help = command.render_help().to_string();
        assert!(
            help.contains("[default: 128] [range: 2 to 65536]"),
            "{help}"
        );
        let rows = command
            .get_arguments()
            .find(|a| a.get_id() == "rows")
            .and_then(|a| a.get_help())
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(
            !rows.contains("[default:") && rows.contains("[range: 1 to 1000000]"),
            "{rows}"
        );
        assert!(
            help.contains("[default: 4] [range: 0.001 to 10000]"),
            "{help}"
        );
        assert!(
            help.contains("[default: 0.5] [range: 0.001 to 86400]"),
            "{help}"
        );
        let m = command
            .try_get_matches_from(["x", "--quiet", "--rate", "2"])
            .unwrap();
        let raw = <RawConfig as clap::FromArgMatches>::from_arg_matches(&m).unwrap();
        assert_eq!(raw.quiet, Some(true));
        assert_eq!(raw.full_refresh, None);
        assert_eq!(raw.rate, Some(2.0));
    }
}
