//! Reading a cited reference's free text (`referenceIdentifier`) into its parts: the country,
//! the document number, the kind code and the first named inventor of a patent document, or a
//! flag that the text is non-patent literature. Pure: no I/O, no SQL; the store calls it when it
//! writes a `cited_references` row and when it fills rows harvested before these columns existed.
//!
//! The shapes seen upstream (see `tests/data` and `replica::data`):
//! - `Sabe; Kohtaro US 20070217688 A1`: inventor, two-letter country, number, kind code; the
//!   text may end in a space, and the inventor may be missing or in any script.
//! - `------- European Patent`: a foreign patent whose number the action does not give.
//! - anything else (an article, a book, a note) is non-patent literature.
//!
//! The parser only reads what is there: it never guesses a number, and the raw text is stored
//! unchanged beside what it derives.

/// What [`parse`] derives from one reference text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedReference {
    /// Two-letter country or office code (`US`, `EP`, `JP`, `WO`, ...), as written.
    pub country: Option<String>,
    /// The publication or patent number, as written (`20070217688`, `RE45123`, `2019/123456`).
    pub document_number: Option<String>,
    /// The kind code (`A1`, `B2`, `A`, `S`, ...).
    pub kind_code: Option<String>,
    /// The text before the country code: the first named inventor (`Sabe; Kohtaro`).
    pub first_inventor: Option<String>,
    /// True when the text does not name a patent document.
    pub is_npl: bool,
}

/// Fewest digits a document number has; shorter runs of digits are page numbers, years and the
/// like, which appear in literature citations.
const MIN_NUMBER_DIGITS: usize = 5;

/// Placeholders of the form `------- <Adjective> Patent`, and the office each names.
const PLACEHOLDER_OFFICES: [(&str, &str); 7] = [
    ("European", "EP"),
    ("Japanese", "JP"),
    ("Chinese", "CN"),
    ("German", "DE"),
    ("Korean", "KR"),
    ("British", "GB"),
    ("French", "FR"),
];

/// Parses one reference text. `None` when there is nothing to parse (empty or only
/// whitespace); otherwise either a patent document's parts or `is_npl`.
pub fn parse(text: &str) -> Option<ParsedReference> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(
        patent(text)
            .or_else(|| placeholder(text))
            .unwrap_or(ParsedReference {
                is_npl: true,
                ..Default::default()
            }),
    )
}

/// `[inventor] CC NUMBER [KIND]`, read from the right.
fn patent(text: &str) -> Option<ParsedReference> {
    let mut tokens: Vec<&str> = text.split_whitespace().collect();
    let kind = match tokens.last() {
        Some(t) if is_kind_code(t) && tokens.len() >= 3 => tokens.pop(),
        _ => None,
    };
    let number = tokens.pop().filter(|t| is_document_number(t))?;
    let country = tokens.pop().filter(|t| is_country(t))?;
    // The inventor is the original text before the country code, so that its own spacing
    // survives (only the edges are trimmed).
    let inventor = if tokens.is_empty() {
        None
    } else {
        let before_country = text[..country_offset(text, &tokens)].trim();
        Some(before_country.to_owned()).filter(|s| !s.is_empty())
    };
    Some(ParsedReference {
        country: Some(country.to_owned()),
        document_number: Some(number.to_owned()),
        kind_code: kind.map(str::to_owned),
        first_inventor: inventor,
        is_npl: false,
    })
}

/// The byte offset in `text` where the token after `before` starts: the end of the last token
/// of `before`, found by walking the same whitespace split again.
fn country_offset(text: &str, before: &[&str]) -> usize {
    let last = before[before.len() - 1];
    // split_whitespace yields subslices of `text`, so pointer arithmetic gives the offset.
    last.as_ptr() as usize - text.as_ptr() as usize + last.len()
}

/// `------- European Patent`: a patent whose number is not given.
fn placeholder(text: &str) -> Option<ParsedReference> {
    let rest = text.strip_prefix('-')?.trim_start_matches('-').trim();
    let adjective = rest.strip_suffix("Patent")?.trim();
    let country = PLACEHOLDER_OFFICES
        .iter()
        .find(|(word, _)| word.eq_ignore_ascii_case(adjective))
        .map(|(_, code)| (*code).to_owned());
    Some(ParsedReference {
        country,
        is_npl: false,
        ..Default::default()
    })
}

/// Two ASCII capitals.
fn is_country(t: &str) -> bool {
    t.len() == 2 && t.bytes().all(|b| b.is_ascii_uppercase())
}

/// A capital letter and at most one digit: `A`, `A1`, `B2`, `S`, `E`, `P3`.
fn is_kind_code(t: &str) -> bool {
    let b = t.as_bytes();
    match b {
        [l] => l.is_ascii_uppercase(),
        [l, d] => l.is_ascii_uppercase() && d.is_ascii_digit(),
        _ => false,
    }
}

/// An optional letter prefix (`RE`, `D`, `PP`), then digits with the separators offices use
/// (`/`, `,`, `.`, `-`), and enough digits to be a number rather than a year or a page.
fn is_document_number(t: &str) -> bool {
    let body = t.trim_start_matches(|c: char| c.is_ascii_uppercase());
    t.len() - body.len() <= 2
        && body.starts_with(|c: char| c.is_ascii_digit())
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '/' | ',' | '.' | '-'))
        && body.chars().filter(char::is_ascii_digit).count() >= MIN_NUMBER_DIGITS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patent(
        country: &str,
        number: &str,
        kind: Option<&str>,
        inventor: Option<&str>,
    ) -> ParsedReference {
        ParsedReference {
            country: Some(country.into()),
            document_number: Some(number.into()),
            kind_code: kind.map(Into::into),
            first_inventor: inventor.map(Into::into),
            is_npl: false,
        }
    }

    fn npl() -> Option<ParsedReference> {
        Some(ParsedReference {
            is_npl: true,
            ..Default::default()
        })
    }

    #[test]
    fn reads_the_real_patent_shapes() {
        assert_eq!(
            parse("Sabe; Kohtaro US 20070217688 A1"),
            Some(patent(
                "US",
                "20070217688",
                Some("A1"),
                Some("Sabe; Kohtaro")
            ))
        );
        assert_eq!(
            parse("Itagaki; Takeshi US 20150044531 A1 "),
            Some(patent(
                "US",
                "20150044531",
                Some("A1"),
                Some("Itagaki; Takeshi")
            )),
            "a trailing space changes nothing"
        );
    }

    #[test]
    fn reads_other_offices_numbers_and_missing_parts() {
        assert_eq!(
            parse("Ødegård; Åse EP 1234567 A1"),
            Some(patent("EP", "1234567", Some("A1"), Some("Ødegård; Åse")))
        );
        assert_eq!(
            parse("山田; 太郎 JP 9876543 A"),
            Some(patent("JP", "9876543", Some("A"), Some("山田; 太郎")))
        );
        assert_eq!(
            parse("Лебедев; Иван WO 2019/123456 A1"),
            Some(patent(
                "WO",
                "2019/123456",
                Some("A1"),
                Some("Лебедев; Иван")
            ))
        );
        assert_eq!(
            parse("Smith, Jr.; John \"JJ\" US 7654321 B2"),
            Some(patent(
                "US",
                "7654321",
                Some("B2"),
                Some("Smith, Jr.; John \"JJ\"")
            ))
        );
        assert_eq!(
            parse("Robert'); DROP TABLE citations;-- US 10123456 B2"),
            Some(patent(
                "US",
                "10123456",
                Some("B2"),
                Some("Robert'); DROP TABLE citations;--")
            ))
        );
        assert_eq!(
            parse("US 20070217688 A1"),
            Some(patent("US", "20070217688", Some("A1"), None))
        );
        assert_eq!(
            parse("Doe; Jane US RE45123"),
            Some(patent("US", "RE45123", None, Some("Doe; Jane")))
        );
        assert_eq!(
            parse("Nguyễn;  Văn An US D654321 S"),
            Some(patent("US", "D654321", Some("S"), Some("Nguyễn;  Văn An"))),
            "the inventor's own spacing is kept"
        );
    }

    #[test]
    fn a_placeholder_names_the_office_but_no_number() {
        assert_eq!(
            parse("------- European Patent"),
            Some(ParsedReference {
                country: Some("EP".into()),
                ..Default::default()
            })
        );
        assert_eq!(
            parse("--- Atlantean Patent"),
            Some(ParsedReference::default()),
            "an office it does not know is still a patent"
        );
    }

    #[test]
    fn literature_and_notes_are_npl() {
        for text in [
            "Smith, J., \"Neural nets\", IEEE Trans., 2019, pp. 1-10",
            "Smith, J., \"Neural nets for claims\", IEEE Trans., 2019, pp. 1-10",
            "Office action, 'final'; see also: SELECT * FROM oa_citations WHERE 1=1",
            "Line one of a note\nline two, with a tab\there",
            "  leading and trailing spaces  ",
            "Nature 2019 AB 2020 C",
            "US",
            "-------",
        ] {
            assert_eq!(parse(text), npl(), "{text:?}");
        }
    }

    #[test]
    fn nothing_to_parse_is_none() {
        assert_eq!(parse(""), None);
        assert_eq!(parse(" \t\n"), None);
    }
}
