//! `<key>_file`: every secret key can be read from a file instead (a Docker or Kubernetes
//! secret), named by its twin key (`password_file`, `url_file`, `tokens_file`, ...; see
//! [`super::schema::twin_of`]). The file is read as the configuration loads, its trailing line end
//! removed. Giving a key and its twin in one place is an error naming both; a file that
//! cannot be read is one naming the key and the path, never the content.

use super::KeyError;
use super::schema::twin_of;

/// A secret read from a file: the key it sets, and its twin that named the file.
#[derive(Debug)]
pub(super) struct Resolved {
    /// The secret key (`db.password`).
    pub key: String,
    /// The twin (`db.password_file`).
    pub twin: String,
    /// The file read.
    pub file: String,
}

/// Replaces, throughout `table` (whose keys sit under `prefix`), every twin by its key read
/// from the file it names.
pub(super) fn resolve(table: &mut toml::Table, prefix: &str) -> Result<Vec<Resolved>, KeyError> {
    let mut resolved = Vec::new();
    for (key, value) in table.iter_mut() {
        let path = join(prefix, key);
        match value {
            toml::Value::Table(inner) => resolved.extend(resolve(inner, &path)?),
            toml::Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    if let toml::Value::Table(inner) = item {
                        resolved.extend(resolve(inner, &format!("{path}[{i}]"))?);
                    }
                }
            }
            _ => {}
        }
    }
    let twins: Vec<String> = table
        .keys()
        .filter(|key| twin_of(&join(prefix, key)).is_some())
        .cloned()
        .collect();
    for twin in twins {
        let twin_path = join(prefix, &twin);
        let key = twin_of(&twin_path).expect("a twin").to_owned();
        let name = key.rsplit('.').next().expect("a key").to_owned();
        if table.contains_key(&name) {
            return Err(both(&key, &twin_path));
        }
        let file = match table.remove(&twin) {
            Some(toml::Value::String(file)) => file,
            Some(other) => {
                return Err(KeyError::new(
                    twin_path,
                    format!("invalid type: {}, expected a file path", other.type_str()),
                ));
            }
            None => unreachable!("the twin is a key of the table"),
        };
        table.insert(name, toml::Value::String(read(&twin_path, &file)?));
        resolved.push(Resolved {
            key,
            twin: twin_path,
            file,
        });
    }
    Ok(resolved)
}

/// The error for a secret key given together with its twin.
pub(super) fn both(key: &str, twin: &str) -> KeyError {
    KeyError::new(
        twin,
        format!("set together with {key}; give one of {key} and {twin}"),
    )
}

/// The secret in `file`, which the twin key `twin` names: its text without the trailing
/// line end.
pub(super) fn read(twin: &str, file: &str) -> Result<String, KeyError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| KeyError::new(twin, format!("cannot read {file}: {e}")))?;
    let line = text.strip_suffix('\n').map_or(text.as_str(), |line| {
        line.strip_suffix('\r').unwrap_or(line)
    });
    Ok(line.to_owned())
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn secret_file(content: &[u8]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(content).unwrap();
        file
    }

    #[test]
    fn twins_become_their_keys_with_one_line_end_removed() {
        let password = secret_file(b"p@ss #/?%: w\n");
        let key = secret_file(b"model-key\r\n");
        let url = secret_file(b"redis://:pw@h:6379/1\n\n");
        let text = format!(
            "[db]\npassword_file = {:?}\n[redis]\nurl_file = {:?}\n[storage]\ncredentials_file = \"/keys/gcs.json\"\n[[models]]\nname = \"m\"\napi_key_file = {:?}\n",
            password.path(),
            url.path(),
            key.path()
        );
        let mut table: toml::Table = toml::from_str(&text).unwrap();
        let resolved = resolve(&mut table, "").unwrap();
        assert_eq!(table["db"]["password"].as_str(), Some("p@ss #/?%: w"));
        assert!(table["db"].get("password_file").is_none());
        assert_eq!(
            table["redis"]["url"].as_str(),
            Some("redis://:pw@h:6379/1\n"),
            "only one line end is removed"
        );
        assert_eq!(table["models"][0]["api_key"].as_str(), Some("model-key"));
        assert_eq!(
            table["storage"]["credentials_file"].as_str(),
            Some("/keys/gcs.json"),
            "a key of its own is no twin"
        );
        let mut keys: Vec<(&str, &str)> = resolved
            .iter()
            .map(|r| (r.key.as_str(), r.twin.as_str()))
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                ("db.password", "db.password_file"),
                ("models[0].api_key", "models[0].api_key_file"),
                ("redis.url", "redis.url_file"),
            ]
        );
    }

    #[test]
    fn errors_name_the_keys_and_the_path_never_the_content() {
        let password = secret_file(b"hunter2\n");
        let both = format!(
            "[db]\npassword = \"x\"\npassword_file = {:?}\n",
            password.path()
        );
        let mut table: toml::Table = toml::from_str(&both).unwrap();
        assert_eq!(
            resolve(&mut table, "").unwrap_err().to_string(),
            "db.password_file: set together with db.password; give one of db.password and db.password_file"
        );
        let mut table: toml::Table =
            toml::from_str("[server]\ntokens_file = \"/nonexistent/tokens\"\n").unwrap();
        assert_eq!(
            resolve(&mut table, "").unwrap_err().to_string(),
            "server.tokens_file: cannot read /nonexistent/tokens: No such file or directory (os error 2)"
        );
        let binary = secret_file(b"hunter2\xff\n");
        let mut table: toml::Table = toml::from_str(&format!(
            "[storage]\nsecret_key_file = {:?}\n",
            binary.path()
        ))
        .unwrap();
        let err = resolve(&mut table, "").unwrap_err().to_string();
        assert!(
            err.starts_with("storage.secret_key_file: cannot read "),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
        let mut table: toml::Table = toml::from_str("[db]\npassword_file = 3\n").unwrap();
        assert_eq!(
            resolve(&mut table, "").unwrap_err().to_string(),
            "db.password_file: invalid type: integer, expected a file path"
        );
    }
}
