//! Blacklist patterns: literal text, `glob:…` or `re:…`, validated on write.
//!
//! Literal and glob patterns match as an operator means them, not byte for
//! byte: case-insensitively and with any run of whitespace as one space
//! (`DROP DATABASE` refuses `drop   database`). A `re:` pattern is the
//! operator's own regular expression, matched on the command as sent (use
//! `(?i)` and `\s+` for the same leniency).

use regex::Regex;

/// A parsed blacklist pattern.
#[derive(Clone, Debug)]
pub enum Pattern {
    /// Matches when the normalised command contains the normalised text.
    Literal(String),
    /// `glob:` (`*` any run, `?` one character), matched anywhere in the
    /// normalised command.
    Glob(Regex),
    /// `re:`, matched anywhere in the command as sent (anchor it with
    /// `^`/`$` if needed).
    Regex(Regex),
}

/// Lower case, whitespace runs as one space, trimmed.
#[must_use]
pub fn normalise(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

const MAX_PATTERN: usize = 1000;

impl Pattern {
    pub fn parse(s: &str) -> Result<Pattern, String> {
        if s.trim().is_empty() {
            return Err("a pattern must not be empty".into());
        }
        if s.len() > MAX_PATTERN {
            return Err(format!("a pattern must be at most {MAX_PATTERN} bytes"));
        }
        if let Some(glob) = s.strip_prefix("glob:") {
            let mut re = String::from("(?s)");
            for c in normalise(glob).chars() {
                match c {
                    '*' => re.push_str(".*"),
                    '?' => re.push('.'),
                    c => re.push_str(&regex::escape(&c.to_string())),
                }
            }
            return Regex::new(&re)
                .map(Pattern::Glob)
                .map_err(|e| format!("glob '{glob}' is invalid: {e}"));
        }
        if let Some(re) = s.strip_prefix("re:") {
            return regex::RegexBuilder::new(re)
                .size_limit(1 << 20)
                .build()
                .map(Pattern::Regex)
                .map_err(|e| format!("regular expression '{re}' is invalid: {e}"));
        }
        Ok(Pattern::Literal(normalise(s)))
    }

    #[must_use]
    pub fn matches(&self, command: &str) -> bool {
        match self {
            Pattern::Literal(text) => normalise(command).contains(text.as_str()),
            Pattern::Glob(re) => re.is_match(&normalise(command)),
            Pattern::Regex(re) => re.is_match(command),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    #[test]
    fn literal_glob_and_regex() {
        assert!(Pattern::parse("rm -rf").unwrap().matches("sudo rm -rf /"));
        assert!(!Pattern::parse("rm -rf").unwrap().matches("ls"));
        assert!(
            Pattern::parse("glob:shutdown*")
                .unwrap()
                .matches("shutdown -h now")
        );
        assert!(
            Pattern::parse("glob:rm -rf *")
                .unwrap()
                .matches("sudo rm -rf /var")
        );
        assert!(
            !Pattern::parse("glob:rm -rf /?*")
                .unwrap()
                .matches("rm -rf ./build")
        );
        assert!(
            Pattern::parse("re:^curl .*\\| *sh")
                .unwrap()
                .matches("curl x | sh")
        );
        assert!(Pattern::parse("re:(").is_err());
        // Literals and globs as an operator means them.
        let drop = Pattern::parse("DROP DATABASE").unwrap();
        for cmd in [
            "drop  database x",
            "psql -c 'Drop\tDatabase'",
            "DROP\nDATABASE",
        ] {
            assert!(drop.matches(cmd), "{cmd}");
        }
        assert!(!drop.matches("dropdatabase"));
        assert!(
            Pattern::parse("glob:RM  -RF *")
                .unwrap()
                .matches("sudo rm   -rf /x")
        );
        // A regex is the operator's own: exactly as written.
        assert!(
            !Pattern::parse("re:DROP DATABASE")
                .unwrap()
                .matches("drop database")
        );
        assert!(Pattern::parse("  ").is_err());
    }
}
