//! What `ragwatch config` prints: the effective configuration as TOML, every value that
//! holds a secret shown as `***` and followed by a comment saying where it came from
//! (`# from file /run/secrets/db_password (db.password_file, ragwatch.toml:4)`). Comments
//! keep the text loadable as TOML.

use std::collections::BTreeMap;

use super::REDACTED;
use super::schema;

/// `text` (as [`Config::to_toml`](super::Config::to_toml) writes it) with a comment after
/// each secret key whose value is redacted; `source` says where a key's value came from,
/// none for a default.
pub(super) fn with_sources(text: &str, source: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut section = String::new();
    let mut tables: BTreeMap<String, usize> = BTreeMap::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(name) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
            let index = tables.entry(name.to_owned()).or_default();
            section = format!("{name}[{index}]");
            *index += 1;
        } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
        }
        let Some((key, value)) = line.split_once(" = ") else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        // A multi-line array runs to its closing line.
        let mut value_lines = vec![line.to_owned()];
        if value == "[" {
            for item in lines.by_ref() {
                value_lines.push(item.to_owned());
                if item == "]" {
                    break;
                }
            }
        }
        let path = if section.is_empty() {
            key.to_owned()
        } else {
            format!("{section}.{key}")
        };
        let secret = schema::holds(&path).is_some_and(|holds| holds.is_secret());
        if secret && value_lines.iter().any(|l| l.contains(REDACTED)) {
            let from = source(&path).map_or_else(|| "default".to_owned(), |s| format!("from {s}"));
            value_lines[0].push_str(&format!("  # {from}"));
        }
        for value_line in value_lines {
            out.push_str(&value_line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_followed_by_where_they_came_from_and_the_text_still_loads() {
        let text = "[server]\nlisten = \"0.0.0.0:9390\"\ntokens = [\n    \"***\",\n]\n\n\
                    [db]\nurl = \"mysql://root:***@h:3306/d\"\npassword = \"***\"\nusername = \"***\"\n\n\
                    [[models]]\nname = \"a\"\napi_key = \"\"\n\n[[models]]\nname = \"b\"\napi_key = \"***\"\n";
        let shown = with_sources(text, |key| match key {
            "db.password" => {
                Some("file /run/secrets/db (db.password_file, ragwatch.toml:4)".into())
            }
            "models[1].api_key" => Some("environment variable X".into()),
            "server.tokens" => Some("ragwatch.toml:2".into()),
            _ => None,
        });
        assert_eq!(
            shown,
            "[server]\nlisten = \"0.0.0.0:9390\"\ntokens = [  # from ragwatch.toml:2\n    \"***\",\n]\n\n\
             [db]\nurl = \"mysql://root:***@h:3306/d\"  # default\n\
             password = \"***\"  # from file /run/secrets/db (db.password_file, ragwatch.toml:4)\n\
             username = \"***\"\n\n\
             [[models]]\nname = \"a\"\napi_key = \"\"\n\n[[models]]\nname = \"b\"\napi_key = \"***\"  # from environment variable X\n"
        );
        let loaded: toml::Table = toml::from_str(&shown).unwrap();
        assert_eq!(loaded["db"]["password"].as_str(), Some(REDACTED));
    }
}
