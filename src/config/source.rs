//! Where the data sets are: which ones a run works on, in the family's order, and the
//! citations' prefix (`base_url`) and the family's root (`api_root`) they are found under, each
//! an `https://` URL (or plain http to this machine only, so that the API key is never sent
//! unencrypted over a network).

use super::validate::Check;
use crate::config::DEFAULT_BASE_URL;
use crate::dataset::{self, CITATIONS, DEFAULT_API_ROOT, Dataset};
use crate::error::Result;

impl Check<'_> {
    /// The data sets named, each once, in the family's order; `all` names every one.
    pub(super) fn datasets(&self, names: Option<Vec<String>>) -> Result<Vec<&'static Dataset>> {
        let mut wanted = vec![];
        for name in names.unwrap_or_else(|| vec![CITATIONS.name.into()]) {
            match name.trim() {
                "all" => wanted.extend(dataset::ALL),
                one => match Dataset::named(one) {
                    Some(d) => wanted.push(d),
                    None => {
                        let problem = "expected citations, rejections, enriched or all";
                        return Err(self.bad("datasets", &name, problem));
                    }
                },
            }
        }
        if wanted.is_empty() {
            return Err(self.bad("datasets", &"[]", "must name at least one data set"));
        }
        Ok(dataset::ALL
            .into_iter()
            .filter(|d| wanted.iter().any(|w| std::ptr::eq(*w, *d)))
            .collect())
    }

    /// The citations' prefix and the family's root: either implies the other, both given must
    /// agree, and a sibling data set needs a root. Returns `(base_url, api_root)`.
    pub(super) fn source(
        &self,
        base_url: Option<String>,
        api_root: Option<String>,
        datasets: &[&'static Dataset],
    ) -> Result<(String, Option<String>)> {
        let api_root = api_root.map(|r| r.trim_end_matches('/').to_owned());
        let (base_url, api_root) = match (base_url, api_root) {
            (None, None) => (
                DEFAULT_BASE_URL.to_owned(),
                Some(DEFAULT_API_ROOT.to_owned()),
            ),
            (None, Some(root)) => (CITATIONS.prefix(&root), Some(root)),
            (Some(base), None) => {
                let root = beside(&base);
                (base, root)
            }
            (Some(base), Some(root)) => {
                if beside(&base).as_deref() != Some(root.as_str()) {
                    let problem = format!(
                        "disagrees with `api_root` ({root}): the citations' prefix under it is {}",
                        CITATIONS.prefix(&root)
                    );
                    return Err(self.bad("base_url", &base, &problem));
                }
                (base, Some(root))
            }
        };
        if api_root.is_none()
            && let Some(sibling) = datasets.iter().find(|d| !d.is_citations())
        {
            let problem = format!(
                "does not end in /{}, so the {} data set's prefix is unknown: give `api_root` (--api-root) too",
                CITATIONS.path, sibling.name
            );
            return Err(self.bad("base_url", &base_url, &problem));
        }
        // The root first: a base URL taken from it is refused under the root's name.
        if let Some(root) = &api_root {
            self.url("api_root", root)?;
        }
        self.url("base_url", &base_url)?;
        Ok((base_url.trim_end_matches('/').to_owned(), api_root))
    }

    /// An http(s) URL; plain http only to this machine.
    fn url(&self, key: &str, text: &str) -> Result<()> {
        let parsed = reqwest::Url::parse(text);
        if !matches!(parsed.as_ref().map(|u| u.scheme()), Ok("http" | "https")) {
            return Err(self.bad(key, &text, "expected an http:// or https:// URL"));
        }
        if let Ok(url) = &parsed
            && url.scheme() == "http"
            && !is_loopback(url)
        {
            return Err(self.bad(
                key,
                &text,
                "plain http would send the API key unencrypted; use https:// (http is allowed for 127.0.0.1, ::1 and localhost only)",
            ));
        }
        Ok(())
    }
}

/// The family's root of a citations prefix that ends in `/oa_citations/v2`.
fn beside(url: &str) -> Option<String> {
    url.trim_end_matches('/')
        .strip_suffix(&format!("/{}", CITATIONS.path))
        .map(str::to_owned)
}

/// True when `url`'s host is this machine: 127.0.0.0/8, ::1 or `localhost`.
fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::no_env;
    use super::super::{RawConfig, load};
    use super::*;
    use crate::error::Error;

    #[test]
    fn the_family_takes_its_prefixes_beside_the_citations_or_under_api_root() {
        let env =
            |name: &str| (name == "OAC_MIRROR_DATASETS").then(|| "citations, enriched".to_owned());
        let c = load(RawConfig::default(), None, &env).unwrap();
        let names: Vec<&str> = c.datasets.iter().map(|d| d.name).collect();
        assert_eq!(names, ["citations", "enriched"]);
        assert_eq!(
            c.prefix(&dataset::ENRICHED),
            format!("{DEFAULT_API_ROOT}/enriched_cited_reference_metadata/v3")
        );
        let local = "http://127.0.0.1:8787/api/v1/patent/oa";
        let flags = |base: Option<&str>, root: Option<&str>| RawConfig {
            base_url: base.map(str::to_owned),
            api_root: root.map(str::to_owned),
            datasets: Some(vec!["all".into()]),
            ..Default::default()
        };
        let c = load(
            flags(Some(&format!("{local}/oa_citations/v2")), None),
            None,
            &no_env,
        )
        .unwrap();
        assert_eq!(c.datasets.len(), 3);
        assert_eq!(
            c.prefix(&dataset::REJECTIONS),
            format!("{local}/oa_rejections/v2")
        );
        let c = load(flags(None, Some(local)), None, &no_env).unwrap();
        assert_eq!(c.base_url, format!("{local}/oa_citations/v2"));
        // A sibling with no root to find it under, or a base URL and root that disagree.
        for (base, root) in [
            (Some("http://127.0.0.1:1/citations"), None),
            (Some("http://127.0.0.1:1/citations"), Some(local)),
            (Some("http://127.0.0.1:1/x/oa_citations/v2"), Some(local)),
        ] {
            let e = load(flags(base, root), None, &no_env).unwrap_err();
            assert!(
                matches!(e, Error::Config { ref key, .. } if key == "base_url"),
                "{e}"
            );
        }
        // The citations alone need no root.
        let mut alone = flags(Some("http://127.0.0.1:1/citations"), None);
        alone.datasets = None;
        assert!(load(alone, None, &no_env).is_ok());
        let mut bad = flags(None, None);
        bad.datasets = Some(vec!["actions".into()]);
        assert!(load(bad, None, &no_env).is_err());
    }

    /// `--api-root` is checked like `--base-url`, under its own name; a data set is one of the
    /// family's.
    #[test]
    fn the_family_flags_validate() {
        for (root, problem) in [
            ("ftp://example.com/oa", "http:// or https://"),
            ("http://example.com/oa", "plain http"),
        ] {
            let flags = RawConfig {
                api_root: Some(root.into()),
                datasets: Some(vec!["all".into()]),
                ..Default::default()
            };
            let e = load(flags, None, &no_env).unwrap_err();
            assert!(e.is_usage(), "{e}");
            let e = e.to_string();
            assert!(
                e.contains("command line") && e.contains("`api_root`") && e.contains(problem),
                "{e}"
            );
        }
        let env =
            |name: &str| (name == "OAC_MIRROR_DATASETS").then(|| "citations,bogus".to_owned());
        let e = load(RawConfig::default(), None, &env)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("environment") && e.contains("`datasets`") && e.contains("bogus"),
            "{e}"
        );
    }

    #[test]
    fn plain_http_only_to_this_machine() {
        for url in [
            "http://127.0.0.1:8787/ds",
            "http://127.9.9.9/ds",
            "http://[::1]:80/ds",
            "http://LOCALHOST/ds",
            "https://example.com/ds",
        ] {
            let flags = RawConfig {
                base_url: Some(url.into()),
                ..Default::default()
            };
            assert!(load(flags, None, &no_env).is_ok(), "{url}");
        }
        for url in [
            "http://example.com/ds",
            "http://10.0.0.1/ds",
            "http://localhost.example.com/ds",
        ] {
            let flags = RawConfig {
                base_url: Some(url.into()),
                ..Default::default()
            };
            let e = load(flags, None, &no_env).unwrap_err().to_string();
            assert!(e.contains("plain http"), "{url}: {e}");
        }
    }
}
