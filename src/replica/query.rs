//! The subset of Solr's query syntax the replica understands: `*:*`, `field:value`,
//! `field:"quoted value"`, `field:prefix*`, ranges `field:[a TO b]` (also `{}` for exclusive
//! bounds and `*` for an open one), joined by `AND`. Values compare as strings, as upstream's
//! string-indexed fields do; booleans compare as `true`/`false`.

use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    All,
    Term {
        field: String,
        value: String,
    },
    Prefix {
        field: String,
        prefix: String,
    },
    Range {
        field: String,
        lo: Option<String>,
        hi: Option<String>,
        lo_inclusive: bool,
        hi_inclusive: bool,
    },
    And(Vec<Query>),
}

impl Query {
    /// Parses `criteria`; the error says where it stopped making sense.
    pub fn parse(criteria: &str) -> Result<Query, String> {
        let mut p = Parser {
            s: criteria,
            pos: 0,
        };
        let mut clauses = vec![p.clause()?];
        loop {
            p.skip_ws();
            if p.rest().is_empty() {
                break;
            }
            p.keyword("AND")?;
            clauses.push(p.clause()?);
        }
        Ok(if clauses.len() == 1 {
            clauses.pop().expect("one")
        } else {
            Query::And(clauses)
        })
    }

    pub fn matches(&self, doc: &Value) -> bool {
        match self {
            Query::All => true,
            Query::Term { field, value } => text(doc, field).is_some_and(|v| v == *value),
            Query::Prefix { field, prefix } => {
                text(doc, field).is_some_and(|v| v.starts_with(prefix.as_str()))
            }
            Query::Range {
                field,
                lo,
                hi,
                lo_inclusive,
                hi_inclusive,
            } => text(doc, field).is_some_and(|v| {
                let above = lo
                    .as_ref()
                    .is_none_or(|lo| if *lo_inclusive { v >= *lo } else { v > *lo });
                let below = hi
                    .as_ref()
                    .is_none_or(|hi| if *hi_inclusive { v <= *hi } else { v < *hi });
                above && below
            }),
            Query::And(all) => all.iter().all(|q| q.matches(doc)),
        }
    }

    /// The bounds this query puts on `field`, for narrowing a sorted index before matching.
    pub fn bounds_on(&self, field: &str) -> (Option<&str>, Option<&str>) {
        match self {
            Query::Range {
                field: f, lo, hi, ..
            } if f == field => (lo.as_deref(), hi.as_deref()),
            Query::Term { field: f, value } if f == field => (Some(value), Some(value)),
            Query::And(all) => all
                .iter()
                .map(|q| q.bounds_on(field))
                .find(|b| b != &(None, None))
                .unwrap_or((None, None)),
            _ => (None, None),
        }
    }
}

/// A field's value as the index would compare it; `None` when absent or null.
pub fn text(doc: &Value, field: &str) -> Option<String> {
    match doc.get(field)? {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.s[self.pos..]
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.s.len() - trimmed.len();
    }

    fn err(&self, what: &str) -> String {
        format!(
            "cannot parse criteria {:?} at offset {}: {what}",
            self.s, self.pos
        )
    }

    fn keyword(&mut self, word: &str) -> Result<(), String> {
        self.skip_ws();
        let rest = self.rest();
        if rest.starts_with(word) && rest[word.len()..].starts_with(char::is_whitespace) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.err(&format!("expected {word}")))
        }
    }

    fn clause(&mut self) -> Result<Query, String> {
        self.skip_ws();
        if let Some(after) = self.rest().strip_prefix("*:*")
            && (after.is_empty() || after.starts_with(char::is_whitespace))
        {
            self.pos += 3;
            return Ok(Query::All);
        }
        let field_len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(self.rest().len());
        if field_len == 0 || !self.rest()[field_len..].starts_with(':') {
            return Err(self.err("expected field:value"));
        }
        let field = self.rest()[..field_len].to_owned();
        self.pos += field_len + 1;
        match self.rest().chars().next() {
            Some(open @ ('[' | '{')) => {
                self.pos += 1;
                self.skip_ws();
                let lo = self.bound()?;
                self.keyword("TO")?;
                self.skip_ws();
                let hi = self.bound()?;
                self.skip_ws();
                let close = self.rest().chars().next();
                if !matches!(close, Some(']' | '}')) {
                    return Err(self.err("expected ] or }"));
                }
                self.pos += 1;
                Ok(Query::Range {
                    field,
                    lo,
                    hi,
                    lo_inclusive: open == '[',
                    hi_inclusive: close == Some(']'),
                })
            }
            Some('"') => Ok(Query::Term {
                field,
                value: self.quoted()?,
            }),
            Some(_) => {
                let token = self.token(&[])?;
                match token.strip_suffix('*') {
                    Some(prefix) if !prefix.ends_with('\\') => Ok(Query::Prefix {
                        field,
                        prefix: unescape(prefix),
                    }),
                    _ => Ok(Query::Term {
                        field,
                        value: unescape(&token),
                    }),
                }
            }
            None => Err(self.err("expected a value")),
        }
    }

    fn bound(&mut self) -> Result<Option<String>, String> {
        if self.rest().starts_with('"') {
            return self.quoted().map(Some);
        }
        let token = self.token(&[']', '}'])?;
        Ok((token != "*").then(|| unescape(&token)))
    }

    fn token(&mut self, stops: &[char]) -> Result<String, String> {
        let len = self
            .rest()
            .find(|c: char| c.is_whitespace() || stops.contains(&c))
            .unwrap_or(self.rest().len());
        if len == 0 {
            return Err(self.err("expected a value"));
        }
        let token = self.rest()[..len].to_owned();
        self.pos += len;
        Ok(token)
    }

    fn quoted(&mut self) -> Result<String, String> {
        let mut out = String::new();
        let mut chars = self.rest().char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, next)) = chars.next() {
                        out.push(next);
                    }
                }
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                c => out.push(c),
            }
        }
        Err(self.err("unterminated quote"))
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_what_the_harvester_and_real_clients_send() {
        assert_eq!(Query::parse("*:*").unwrap(), Query::All);
        assert_eq!(
            Query::parse("patentApplicationNumber:16123456").unwrap(),
            Query::Term {
                field: "patentApplicationNumber".into(),
                value: "16123456".into()
            }
        );
        let q =
            Query::parse("createDateTime:[2025-07-07T01:12:35 TO 2025-07-07T01:12:35] AND id:a0*")
                .unwrap();
        assert_eq!(
            q,
            Query::And(vec![
                Query::Range {
                    field: "createDateTime".into(),
                    lo: Some("2025-07-07T01:12:35".into()),
                    hi: Some("2025-07-07T01:12:35".into()),
                    lo_inclusive: true,
                    hi_inclusive: true
                },
                Query::Prefix {
                    field: "id".into(),
                    prefix: "a0".into()
                },
            ])
        );
        assert_eq!(
            q.bounds_on("createDateTime"),
            (Some("2025-07-07T01:12:35"), Some("2025-07-07T01:12:35"))
        );
        assert!(Query::parse("createDateTime:[2025-07-01 TO *}").is_ok());
        assert!(Query::parse("techCenter:").is_err());
        assert!(Query::parse("techCenter:2800 OR techCenter:2600").is_err());
        assert!(Query::parse("createDateTime:[a TO b").is_err());
    }

    #[test]
    fn compares_as_strings() {
        let doc = json!({"createDateTime": "2025-07-04T10:00:00", "techCenter": "2800", "examinerCitedReferenceIndicator": true, "id": "a0ff"});
        let q = |s: &str| Query::parse(s).unwrap().matches(&doc);
        assert!(q("createDateTime:[2025-07-01 TO 2025-07-04T10:00:00]"));
        assert!(
            !q("createDateTime:[2025-07-01 TO 2025-07-04]"),
            "a stamp sorts after its bare date"
        );
        assert!(!q("createDateTime:[2025-07-01 TO 2025-07-04T10:00:00}"));
        assert!(q("techCenter:2800 AND id:a0*"));
        assert!(!q("id:a1*"));
        assert!(q("examinerCitedReferenceIndicator:true"));
        assert!(!q("workGroup:*"), "absent fields match nothing");
        assert!(q("techCenter:\"2800\""));
    }
}
