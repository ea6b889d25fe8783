//! RAGFlow's `.env`, read by docker compose's rules: `NAME=value` statements (`export `
//! before the name is allowed, a line starting with `#` is a comment, a name alone takes
//! its value from the environment). An unquoted value ends at a ` #` inline comment and
//! loses its trailing blanks. A quoted value ends at its closing quote, which `\` escapes,
//! may span lines, and only a comment may follow it. Single quotes keep the text as it is;
//! double quotes read the escapes `\n`, `\t`, `\r`, `\\`, `\"`, `\$` and the like. Unquoted
//! and double-quoted values are interpolated (`${VAR}`; `$$` is a `$`), single-quoted ones
//! are not.

/// One `NAME=value` statement.
#[derive(Debug, PartialEq, Eq)]
pub struct Statement {
    /// The variable.
    pub name: String,
    /// Its value, quotes and escapes resolved; `$$` (and a double-quoted `\$`) stand for a
    /// literal `$` when `interpolate` is set.
    pub value: String,
    /// Whether `${VAR}` in the value is replaced (not in single quotes).
    pub interpolate: bool,
    /// The 1-based line it starts on.
    pub line: usize,
}

/// A statement compose would refuse: its line and what is wrong.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    /// The 1-based line.
    pub line: usize,
    /// What is wrong (never the value, which may be a password).
    pub message: String,
}

/// Every statement of a `.env` file, in order (a name alone is left out: the environment
/// has its value already, or nothing does).
pub fn parse(text: &str) -> Result<Vec<Statement>, Refused> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut statements = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let line = index + 1;
        let refused = |message: &str| Refused {
            line,
            message: message.to_owned(),
        };
        let text = lines[index].trim_start();
        index += 1;
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let text = match text.strip_prefix("export") {
            Some(rest) if rest.starts_with(char::is_whitespace) => rest.trim_start(),
            _ => text,
        };
        let (name, value) = match text.find(['=', ':']) {
            Some(at) => (
                &text[..at],
                Some(text[at + 1..].trim_start_matches(is_blank)),
            ),
            None => (text, None),
        };
        let name = name.trim_end();
        if name.contains(char::is_whitespace) {
            return Err(refused("a variable name cannot contain a space"));
        }
        if name.is_empty() || !name.chars().all(is_name_char) {
            return Err(refused(
                "expected NAME=value (a name of letters, digits, `_`, `.`, `-`)",
            ));
        }
        let Some(value) = value else {
            continue;
        };
        let (value, interpolate) = match value.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let (raw, after) = quoted(&value[1..], quote, &lines, &mut index)
                    .ok_or_else(|| refused("the quoted value is never closed"))?;
                let after = after.trim_start();
                if !(after.is_empty() || after.starts_with('#')) {
                    return Err(refused(
                        "only a comment may follow a quoted value's closing quote",
                    ));
                }
                if quote == '"' {
                    (unescape(&raw), true)
                } else {
                    (raw, false)
                }
            }
            _ => {
                let value = value.split_once(" #").map_or(value, |(value, _)| value);
                (value.trim_end().to_owned(), true)
            }
        };
        statements.push(Statement {
            name: name.to_owned(),
            value,
            interpolate,
            line,
        });
    }
    Ok(statements)
}

/// Blanks that are not line ends, as compose trims them.
fn is_blank(c: char) -> bool {
    matches!(
        c,
        '\t' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    )
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '[' | ']')
}

/// The text up to the closing `quote` (which `\` escapes; any other escape is kept for
/// [`unescape`]), reading on into the following lines while it is open; and what follows
/// the quote on its line. None when it is never closed.
fn quoted(first: &str, quote: char, lines: &[&str], index: &mut usize) -> Option<(String, String)> {
    let mut raw = String::new();
    let mut text = first;
    loop {
        let mut escaped = false;
        for (at, c) in text.char_indices() {
            match c {
                _ if escaped => {
                    escaped = false;
                    if c != quote {
                        raw.push('\\');
                    }
                    raw.push(c);
                }
                '\\' => escaped = true,
                _ if c == quote => return Some((raw, text[at + c.len_utf8()..].to_owned())),
                _ => raw.push(c),
            }
        }
        if escaped {
            raw.push('\\');
        }
        text = lines.get(*index)?;
        *index += 1;
        raw.push('\n');
    }
}

/// A double-quoted value's escapes: `\a \b \f \n \r \t \v \\ \"`, `\0` and up to three
/// octal digits, and `\$`, a literal `$` (kept as `$$` for interpolation). Any other
/// backslash stays.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escaped = match chars.peek() {
            Some('a') => "\u{7}".to_owned(),
            Some('b') => "\u{8}".to_owned(),
            Some('f') => "\u{c}".to_owned(),
            Some('n') => "\n".to_owned(),
            Some('r') => "\r".to_owned(),
            Some('t') => "\t".to_owned(),
            Some('v') => "\u{b}".to_owned(),
            Some('\\') => "\\".to_owned(),
            Some('"') => "\"".to_owned(),
            Some('$') => "$$".to_owned(),
            Some('0') => {
                chars.next();
                let mut digits = String::new();
                while digits.len() < 3 && chars.peek().is_some_and(|d| ('0'..='7').contains(d)) {
                    digits.extend(chars.next());
                }
                let code = u32::from_str_radix(&digits, 8).unwrap_or(0);
                out.extend(char::from_u32(code));
                continue;
            }
            _ => {
                out.push('\\');
                continue;
            }
        };
        chars.next();
        out.push_str(&escaped);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<(String, String, bool)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|s| (s.name, s.value, s.interpolate))
            .collect()
    }

    /// The examples of compose's documented `.env` syntax, and RAGFlow's own lines.
    #[test]
    fn values_read_as_compose_reads_them() {
        let cases = [
            ("VAR=VAL", "VAL", true),
            ("VAR=\"VAL\"", "VAL", true),
            ("VAR='VAL'", "VAL", false),
            ("VAR=VAL # comment", "VAL", true),
            ("VAR=VAL# not a comment", "VAL# not a comment", true),
            ("VAR=\"VAL # not a comment\"", "VAL # not a comment", true),
            ("VAR=\"VAL\" # comment", "VAL", true),
            ("VAR='$OTHER'", "$OTHER", false),
            ("VAR='Let\\'s go!'", "Let's go!", false),
            (
                "VAR=\"{\\\"hello\\\": \\\"json\\\"}\"",
                "{\"hello\": \"json\"}",
                true,
            ),
            ("VAR=\"some\\tvalue\"", "some\tvalue", true),
            ("VAR='some\\tvalue'", "some\\tvalue", false),
            ("VAR=some\\tvalue", "some\\tvalue", true),
            ("VAR=\"a\\\\b \\$HOME \\0101\"", "a\\b $$HOME A", true),
            (
                "API_PROXY_SCHEME=python # use pure python server deployment",
                "python",
                true,
            ),
            ("export MYSQL_PASSWORD = p@ss w#rd  ", "p@ss w#rd", true),
            ("VAR=", "", true),
            ("VAR: yaml style", "yaml style", true),
            ("VAR=\"ü @#/?%: '\"", "ü @#/?%: '", true),
        ];
        for (line, value, interpolated) in cases {
            let read = values(line);
            assert_eq!(read.len(), 1, "{line}");
            assert_eq!(read[0].1, value, "{line}");
            assert_eq!(read[0].2, interpolated, "{line}");
        }
    }

    #[test]
    fn comments_names_alone_and_multi_line_values() {
        let text = "# a comment\n\n  # indented\nINHERITED\nA=1\nB=\"two\nlines\" # c\nC='x'\n";
        let read = parse(text).unwrap();
        let names: Vec<(&str, &str, usize)> = read
            .iter()
            .map(|s| (s.name.as_str(), s.value.as_str(), s.line))
            .collect();
        assert_eq!(
            names,
            [("A", "1", 5), ("B", "two\nlines", 6), ("C", "x", 8)]
        );
    }

    #[test]
    fn refusals_name_the_line_never_the_value() {
        for (text, line, message) in [
            ("A=1\nB=\"secret", 2, "the quoted value is never closed"),
            (
                "A='secret' trailing",
                1,
                "only a comment may follow a quoted value's closing quote",
            ),
            ("MY VAR=secret", 1, "a variable name cannot contain a space"),
            (
                "$A=secret",
                1,
                "expected NAME=value (a name of letters, digits, `_`, `.`, `-`)",
            ),
        ] {
            let refused = parse(text).unwrap_err();
            assert_eq!((refused.line, refused.message.as_str()), (line, message));
        }
    }
}
