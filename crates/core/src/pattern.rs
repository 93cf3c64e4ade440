//! Blacklist patterns: literal text, `glob:…` or `re:…`, validated on write.

use regex::Regex;

/// A parsed blacklist pattern.
#[derive(Clone, Debug)]
pub enum Pattern {
    /// Matches when the command contains the text.
    Literal(String),
    /// `glob:` (`*` any run, `?` one character) or `re:`, matched anywhere in
    /// the command, like literal text (anchor a regex with `^`/`$` if needed).
    Regex(Regex),
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
            for c in glob.chars() {
                match c {
                    '*' => re.push_str(".*"),
                    '?' => re.push('.'),
                    c => re.push_str(&regex::escape(&c.to_string())),
                }
            }
            return Regex::new(&re)
                .map(Pattern::Regex)
                .map_err(|e| format!("glob '{glob}' is invalid: {e}"));
        }
        if let Some(re) = s.strip_prefix("re:") {
            return regex::RegexBuilder::new(re)
                .size_limit(1 << 20)
                .build()
                .map(Pattern::Regex)
                .map_err(|e| format!("regular expression '{re}' is invalid: {e}"));
        }
        Ok(Pattern::Literal(s.to_owned()))
    }

    #[must_use]
    pub fn matches(&self, command: &str) -> bool {
        match self {
            Pattern::Literal(text) => command.contains(text.as_str()),
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
        assert!(Pattern::parse("  ").is_err());
    }
}
