//! Credential types that cannot leak by accident, and the one scrubber every URL and error
//! message passes through before it reaches output.

use std::fmt;

use base64::Engine as _;
use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

/// What a redacted value prints as, everywhere.
pub const REDACTED: &str = "***";

/// A password, secret key or token. It prints, logs and serialises as [`REDACTED`]; only
/// [`Secret::expose`] hands out the real value, for the client library that needs it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value, for a client library. Never format it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when no credential is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.is_empty() {
            serializer.serialize_str("")
        } else {
            serializer.serialize_str(REDACTED)
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        secret_text(deserializer).map(Secret)
    }
}

/// The name a secret gives serde as it is read: the mark by which the schema tells a
/// secret key from any other without a value at hand (see [`super::schema`]).
pub(super) const SECRET_MARK: &str = "$ragwatch::Secret";

/// The name a list of secrets (`server.tokens`) gives serde as it is read.
pub(super) const SECRET_LIST_MARK: &str = "$ragwatch::SecretList";

/// Reads a string that may be a credential. A value of another type is refused by naming
/// its type alone: serde's own message would quote the value (`integer `12345``).
pub fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    deserializer
        .deserialize_string(TextVisitor::ONE)
        .map(Text::one)
}

/// Reads a credential as [`text`] does, marked as a secret ([`SECRET_MARK`]).
fn secret_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    deserializer
        .deserialize_newtype_struct(SECRET_MARK, TextVisitor::ONE)
        .map(Text::one)
}

/// Reads `"a"`, `"a,b"`, one per line, or `["a", "b"]` of credentials, quietly as [`text`]
/// does, marked as a list of secrets ([`SECRET_LIST_MARK`]).
pub fn text_list<'de, D: Deserializer<'de>>(
    deserializer: D,
    expected: &'static str,
) -> Result<Vec<String>, D::Error> {
    let read = deserializer.deserialize_newtype_struct(
        SECRET_LIST_MARK,
        TextVisitor {
            expected,
            list: true,
        },
    )?;
    Ok(match read {
        Text::One(text) => text.split([',', '\n']).map(str::to_owned).collect(),
        Text::Many(list) => list,
    })
}

/// What [`TextVisitor`] read.
enum Text {
    One(String),
    Many(Vec<String>),
}

impl Text {
    /// The one string a visitor not asked for a list read.
    fn one(self) -> String {
        match self {
            Self::One(text) => text,
            Self::Many(_) => unreachable!("a list is read only when asked for"),
        }
    }
}

/// Reads a string (or, when `list`, an array of them) and names only the type of anything
/// else.
struct TextVisitor {
    expected: &'static str,
    list: bool,
}

impl TextVisitor {
    /// Reads one string.
    const ONE: Self = Self {
        expected: "a string",
        list: false,
    };

    fn wrong<E: de::Error>(&self, found: &str) -> E {
        E::custom(format!("invalid type: {found}, expected {}", self.expected))
    }
}

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.expected)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Text, E> {
        Ok(Text::One(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Text, E> {
        Ok(Text::One(value))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Text, E> {
        Err(self.wrong("boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Text, E> {
        Err(self.wrong("integer"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Text, E> {
        Err(self.wrong("integer"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Text, E> {
        Err(self.wrong("floating point"))
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Text, E> {
        Err(self.wrong("bytes"))
    }

    fn visit_none<E: de::Error>(self) -> Result<Text, E> {
        Err(self.wrong("nothing"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
        Err(self.wrong("nothing"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Text, A::Error> {
        if !self.list {
            return Err(self.wrong("sequence"));
        }
        let mut list = Vec::new();
        while let Some(item) = seq.next_element::<Secret>()? {
            list.push(item.0);
        }
        Ok(Text::Many(list))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Text, A::Error> {
        Err(self.wrong("map"))
    }

    /// A marked read ([`SECRET_MARK`]) arrives here: the value itself is inside.
    fn visit_newtype_struct<D: Deserializer<'de>>(self, inner: D) -> Result<Text, D::Error> {
        if self.list {
            inner.deserialize_any(self)
        } else {
            inner.deserialize_string(self)
        }
    }
}

/// A service URL that may carry a password (`mysql://root:pw@host/db`). It displays,
/// logs and serialises with the password replaced by [`REDACTED`].
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(Url);

impl SecretUrl {
    /// Parses a URL; the error never repeats the input, which may hold a password. User
    /// info that could be read two ways is refused (`check_user_info`).
    pub fn parse(input: &str) -> Result<Self, String> {
        parse_quietly(input).map(SecretUrl)
    }

    /// The real URL, for a client library. Never format it.
    pub fn expose(&self) -> &Url {
        &self.0
    }

    /// The credential inside the URL, if any (percent-decoded), so the scrubber knows it:
    /// the password, or the token of a `nats://TOKEN@host` URL.
    pub fn password(&self) -> Option<String> {
        // Percent-decoding only: a `+` in user info is a plus, as the drivers read it.
        secret_part(&self.0).map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned()
        })
    }

    /// The user name inside the URL, if any (percent-decoded); none for the token of a
    /// `nats://TOKEN@host` URL, which [`SecretUrl::password`] holds.
    pub fn username(&self) -> Option<String> {
        let user = self.0.username();
        let token = self.0.password().is_none() && secret_part(&self.0).is_some();
        (!user.is_empty() && !token).then(|| {
            percent_encoding::percent_decode_str(user)
                .decode_utf8_lossy()
                .into_owned()
        })
    }

    /// `host:port` for error messages such as "connection refused to 127.0.0.1:6379".
    pub fn host_port(&self, default_port: u16) -> String {
        host_port(&self.0, default_port)
    }
}

/// Parses a URL without repeating the input in the error, refusing ambiguous user info.
fn parse_quietly(input: &str) -> Result<Url, String> {
    check_user_info(input)?;
    Url::parse(input).map_err(|e| {
        format!("invalid URL ({e}); write it as scheme://[user:password@]host:port/...")
    })
}

/// Reads a URL that must carry no credentials (an endpoint whose credentials have keys of
/// their own, or a link that is shown). Like [`SecretUrl`], its errors never repeat it.
pub fn plain_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Url, D::Error> {
    let url = parse_quietly(&text(deserializer)?).map_err(de::Error::custom)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(de::Error::custom(
            "must not carry a user name or password (it would be shown)",
        ));
    }
    Ok(url)
}

/// Refuses a URL whose user info a reader could split in more than one way: a password
/// with a raw `@`, `#`, `/`, `?` or `%` makes the URL parser take part of it as the host
/// (`redis://:p@ss#w@host`). Two readings are checked: the parser's (the authority, up to
/// the first `/`, `?` or `#`, before its last `@`) and a person's (everything before the
/// last `@`, when it holds the `:` of `user:password`). The message never repeats them.
fn check_user_info(input: &str) -> Result<(), String> {
    let Some((_, rest)) = input.split_once("://") else {
        return Ok(());
    };
    let authority = &rest[..rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len())];
    let parsed = authority.rfind('@').map(|at| &authority[..at]);
    let meant = rest
        .rfind('@')
        .map(|at| &rest[..at])
        .filter(|info| info.contains(':'));
    let ambiguous = |info: &str| {
        info.contains(['@', '#', '/', '?', '\\'])
            || info.match_indices('%').any(|(at, _)| {
                let hex = info.as_bytes().get(at + 1..at + 3);
                !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
            })
    };
    if parsed.into_iter().chain(meant).any(ambiguous) {
        return Err(
            "its user info cannot be read unambiguously: percent-encode `@`, `#`, `/`, `?` and `%` in the user name and password (as %40, %23, %2F, %3F and %25), or give the password in the section's `password` key where it has one"
                .into(),
        );
    }
    Ok(())
}

/// `host:port` of a URL, with the scheme's default port filled in.
pub fn host_port(url: &Url, default_port: u16) -> String {
    let host = url.host_str().unwrap_or("?");
    let port = url.port_or_known_default().unwrap_or(default_port);
    format!("{host}:{port}")
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&redact_url(&self.0))
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = secret_text(deserializer)?;
        SecretUrl::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// The secret part of a URL's user info: its password, or for NATS a lone user name,
/// which NATS reads as an authentication token.
fn secret_part(url: &Url) -> Option<&str> {
    match url.password() {
        Some(password) => Some(password),
        None if url.scheme() == "nats" && !url.username().is_empty() => Some(url.username()),
        None => None,
    }
}

/// A URL with its password or token (and any query parameter that looks like a
/// credential) replaced by [`REDACTED`].
pub fn redact_url(url: &Url) -> String {
    let mut shown = url.clone();
    // Setting fails only for URLs that cannot carry credentials, which have none.
    if shown.password().is_some() {
        let _ = shown.set_password(Some(REDACTED));
    } else if secret_part(url).is_some() {
        let _ = shown.set_username(REDACTED);
    }
    if shown.query().is_some() {
        let pairs: Vec<(String, String)> = shown
            .query_pairs()
            .map(|(k, v)| {
                let secret = is_credential_name(&k);
                (
                    k.into_owned(),
                    if secret {
                        REDACTED.into()
                    } else {
                        v.into_owned()
                    },
                )
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.to_string()
}

fn is_credential_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "signature",
        "credential",
        "key",
        "sig",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// Hands every credential a value holds to the scrubber. Each implementation destructures
/// its struct field by field (never `..`), so a new field does not compile until it is
/// handed over or said to hold none.
pub trait Secrets {
    /// Appends the credentials held.
    fn secrets(&self, out: &mut Vec<String>);
}

impl Secrets for Secret {
    fn secrets(&self, out: &mut Vec<String>) {
        out.push(self.0.clone());
    }
}

impl Secrets for SecretUrl {
    fn secrets(&self, out: &mut Vec<String>) {
        let Some(password) = self.password() else {
            return;
        };
        if self.0.password().is_some() {
            let user = percent_encoding::percent_decode_str(self.0.username()).decode_utf8_lossy();
            out.push(basic_auth(&user, &password));
        }
        out.push(password);
    }
}

/// The Base64 of `user:password`, as HTTP basic auth sends it (and a server may echo it).
pub fn basic_auth(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// The characters a URL's user info percent-encodes (WHATWG's userinfo set).
const USER_INFO: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b':')
    .add(b';')
    .add(b'=')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'|');

/// The forms a secret takes when a client percent-encodes it: in a URL's user info, as a
/// form or query value, and with every non-alphanumeric byte encoded.
fn encoded_forms(secret: &str) -> [String; 3] {
    [
        utf8_percent_encode(secret, USER_INFO).to_string(),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string(),
    ]
}

impl<T: Secrets> Secrets for Option<T> {
    fn secrets(&self, out: &mut Vec<String>) {
        if let Some(value) = self {
            value.secrets(out);
        }
    }
}

impl<T: Secrets> Secrets for Vec<T> {
    fn secrets(&self, out: &mut Vec<String>) {
        for value in self {
            value.secrets(out);
        }
    }
}

/// Replaces every known secret, and the password of every URL, inside free text such as
/// a client library's error message. Built once from the configuration.
#[derive(Clone, Debug, Default)]
pub struct Scrubber {
    secrets: Vec<Secret>,
}

impl Scrubber {
    /// A scrubber for these secret values and their percent-encoded forms (empty ones are
    /// ignored).
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<Secret> = secrets
            .into_iter()
            .filter(|s| !s.is_empty())
            .flat_map(|s| {
                let encoded = encoded_forms(&s);
                std::iter::once(s).chain(encoded)
            })
            .map(Secret)
            .collect();
        // Longest first, so a secret that contains another is replaced whole.
        secrets.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        secrets.dedup();
        Self { secrets }
    }

    /// The text with secrets and URL passwords replaced by [`REDACTED`].
    pub fn scrub(&self, text: &str) -> String {
        let mut out = scrub_url_passwords(text);
        for secret in &self.secrets {
            out = out.replace(secret.expose(), REDACTED);
        }
        out
    }
}

/// Rewrites `scheme://user:password@` inside free text to `scheme://user:<redacted>@`.
fn scrub_url_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match (authority.rfind('@'), authority.find(':')) {
            (Some(at), Some(colon)) if colon < at => {
                out.push_str(&authority[..=colon]);
                out.push_str(REDACTED);
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_formats() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert_eq!(
            serde_json::to_string(&secret).unwrap(),
            format!("\"{REDACTED}\"")
        );
    }

    #[test]
    fn url_password_is_redacted_everywhere() {
        let url = SecretUrl::parse("mysql://root:p%40ss@db:3306/rag_flow").unwrap();
        for shown in [
            url.to_string(),
            format!("{url:?}"),
            serde_json::to_string(&url).unwrap(),
        ] {
            assert!(
                !shown.contains("p%40ss") && !shown.contains("p@ss"),
                "{shown}"
            );
            assert!(
                shown.contains("root:") && shown.contains(REDACTED),
                "{shown}"
            );
        }
        assert_eq!(url.password().as_deref(), Some("p@ss"));
        let plus = SecretUrl::parse("mysql://root:a+b@db:3306/rag_flow").unwrap();
        assert_eq!(plus.password().as_deref(), Some("a+b"));
    }

    #[test]
    fn a_nats_token_is_a_secret() {
        let url = SecretUrl::parse("nats://s3cr3t-token@queue:4222").unwrap();
        assert_eq!(url.to_string(), format!("nats://{REDACTED}@queue:4222"));
        assert_eq!(url.password().as_deref(), Some("s3cr3t-token"));
        let user = SecretUrl::parse("redis://someuser@cache:6379/1").unwrap();
        assert_eq!(
            user.password(),
            None,
            "other schemes' user names are not secret"
        );
    }

    #[test]
    fn url_without_password_is_unchanged() {
        let url = SecretUrl::parse("http://127.0.0.1:1200").unwrap();
        assert_eq!(url.to_string(), "http://127.0.0.1:1200/");
    }

    #[test]
    fn credential_query_parameters_are_redacted() {
        let url = Url::parse("http://h/x?X-Amz-Signature=abc&X-Amz-Credential=AK&page=2").unwrap();
        let shown = redact_url(&url);
        assert!(!shown.contains("abc") && !shown.contains("AK"), "{shown}");
        assert!(shown.contains("page=2"));
    }

    #[test]
    fn scrubber_removes_secrets_and_url_passwords_from_text() {
        let scrubber = Scrubber::new(["s3cr3t".to_owned(), String::new()]);
        let text = "failed: redis://:pw@host:6379/1 said s3cr3t; see http://h/p";
        let out = scrubber.scrub(text);
        assert_eq!(
            out,
            format!("failed: redis://:{REDACTED}@host:6379/1 said {REDACTED}; see http://h/p")
        );
    }

    #[test]
    fn invalid_url_error_does_not_repeat_input() {
        let err = SecretUrl::parse("hunter2@127.0.0.1:6379").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(
            err.starts_with("invalid URL (relative URL without a base)"),
            "{err}"
        );
    }

    #[test]
    fn ambiguous_user_info_is_refused_without_repeating_it() {
        for input in [
            "redis://:p@ss#w/rd?x%y:z@host:6379/1",
            "redis://:p@ss@host:6379/1",
            "mysql://root:a/b@db:3306/rag_flow",
            "mysql://root:a?b@db:3306/rag_flow",
            "postgres://u:50%off@db/x",
            "nats://tok@en@queue:4222",
        ] {
            let err = SecretUrl::parse(input).unwrap_err();
            assert!(err.contains("percent-encode"), "{input}: {err}");
            for part in ["p@ss", "ss#w", "rd?x", "a/b", "a?b", "50%", "tok", "en@"] {
                assert!(!err.contains(part), "{input}: {err}");
            }
        }
        for fine in [
            "redis://:p%40ss%23w%2Frd%3Fx%25y:z@host:6379/1",
            "mysql://root%40ragflow:pw@db:2881/x",
            "redis://:pa:ss@host:6379/1",
            "https://hooks.example/x?to=ops@example.com",
            "postgres://u:p@db/x?options=-c%20search_path%3Dy",
        ] {
            assert!(SecretUrl::parse(fine).is_ok(), "{fine}");
        }
    }

    #[test]
    fn the_scrubber_removes_encoded_credentials() {
        let url = SecretUrl::parse("http://us%40er:p%40ss%20w@h:9200").unwrap();
        let mut secrets = Vec::new();
        url.secrets(&mut secrets);
        let scrubber = Scrubber::new(secrets);
        let header = basic_auth("us@er", "p@ss w");
        for text in [
            format!("echoed Authorization: Basic {header}"),
            "password p%40ss%20w in a URL".to_owned(),
            "password p%40ss+w in a form".to_owned(),
            "password p@ss w raw".to_owned(),
        ] {
            let out = scrubber.scrub(&text);
            assert!(out.contains(REDACTED), "{out}");
            for leaked in [header.as_str(), "p%40ss", "p@ss", "ss+w", "ss%20w"] {
                assert!(!out.contains(leaked), "{leaked} in {out}");
            }
        }
    }

    #[test]
    fn a_secret_of_the_wrong_type_is_named_by_its_type_only() {
        for (value, kind) in [
            ("12345", "integer"),
            ("1.5", "floating point"),
            ("true", "boolean"),
            ("[12345]", "sequence"),
            ("{ x = 12345 }", "map"),
        ] {
            let table: toml::Table = toml::from_str(&format!("v = {value}")).unwrap();
            let value = table["v"].clone();
            for err in [
                Secret::deserialize(value.clone()).unwrap_err().to_string(),
                SecretUrl::deserialize(value).unwrap_err().to_string(),
            ] {
                assert_eq!(
                    err.trim_end(),
                    format!("invalid type: {kind}, expected a string")
                );
            }
        }
    }
}
