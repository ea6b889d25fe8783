//! A server's address with the credentials to sign in: a section's `url` with its
//! `username` and `password` keys, which win over the URL's user info and need no
//! percent-encoding. Clients get the credentials through their own options, never spliced
//! back into a URL.

use url::Url;

use super::{Secret, SecretUrl, Secrets};

/// A URL and the credentials that go with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login {
    url: SecretUrl,
    username: Option<String>,
    password: Option<Secret>,
}

impl Login {
    /// `url`, signed in with these keys where given (an empty one clears the URL's).
    pub fn new(url: SecretUrl, username: Option<String>, password: Option<Secret>) -> Self {
        Self {
            url,
            username,
            password,
        }
    }

    /// The same server, with these keys over this login's where given: a section that
    /// reads another's server (a queue in `redis`'s Redis) can sign in as someone else.
    pub fn with_keys(&self, username: Option<&String>, password: Option<&Secret>) -> Self {
        Self {
            url: self.url.clone(),
            username: username.or(self.username.as_ref()).cloned(),
            password: password.or(self.password.as_ref()).cloned(),
        }
    }

    /// The URL as configured, user info and all.
    pub fn url(&self) -> &SecretUrl {
        &self.url
    }

    /// The URL without user info: where to connect, for a client given the credentials
    /// apart.
    pub fn address(&self) -> Url {
        let mut address = self.url.expose().clone();
        // Fails only for URLs that cannot carry user info, which have none.
        let _ = address.set_username("");
        let _ = address.set_password(None);
        address
    }

    /// The user name: the `username` key, else the URL's (decoded); none when empty.
    pub fn username(&self) -> Option<String> {
        match &self.username {
            Some(key) => (!key.is_empty()).then(|| key.clone()),
            None => self.url.username(),
        }
    }

    /// The password: the `password` key, else the URL's (decoded; for NATS a lone token);
    /// none when empty.
    pub fn password(&self) -> Option<Secret> {
        match &self.password {
            Some(key) => (!key.is_empty()).then(|| key.clone()),
            None => self.url.password().map(Secret::new),
        }
    }

    /// `host:port` for error messages.
    pub fn host_port(&self, default_port: u16) -> String {
        self.url.host_port(default_port)
    }
}

/// A URL with no credentials besides its own user info.
impl From<SecretUrl> for Login {
    fn from(url: SecretUrl) -> Self {
        Self::new(url, None, None)
    }
}

impl Secrets for Login {
    fn secrets(&self, out: &mut Vec<String>) {
        let Self {
            url,
            username: _,
            password,
        } = self;
        url.secrets(out);
        password.secrets(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(url: &str, username: Option<&str>, password: Option<&str>) -> Login {
        Login::new(
            SecretUrl::parse(url).unwrap(),
            username.map(str::to_owned),
            password.map(Secret::new),
        )
    }

    fn parts(login: &Login) -> (Option<String>, Option<String>) {
        (
            login.username(),
            login.password().map(|p| p.expose().to_owned()),
        )
    }

    #[test]
    fn keys_win_over_the_url_and_need_no_encoding() {
        let cases = [
            (
                "keys alone",
                login("mysql://h/d", Some("r@ot"), Some("p@ss #/?%: w")),
                (Some("r@ot"), Some("p@ss #/?%: w")),
            ),
            (
                "the URL alone, decoded",
                login("mysql://r%40ot:p%40ss@h/d", None, None),
                (Some("r@ot"), Some("p@ss")),
            ),
            (
                "keys over the URL",
                login("mysql://u:url-pw@h/d", Some("key-user"), Some("key-pw")),
                (Some("key-user"), Some("key-pw")),
            ),
            (
                "a password key keeps the URL's user",
                login("redis://u:url-pw@h/1", None, Some("key-pw")),
                (Some("u"), Some("key-pw")),
            ),
            (
                "empty keys clear the URL's",
                login("http://u:p@h:9200", Some(""), Some("")),
                (None, None),
            ),
            (
                "a NATS token is a password",
                login("nats://tok@h:4222", None, None),
                (None, Some("tok")),
            ),
        ];
        for (name, login, (user, password)) in cases {
            assert_eq!(
                parts(&login),
                (user.map(str::to_owned), password.map(str::to_owned)),
                "{name}"
            );
            assert_eq!(login.address().username(), "", "{name}");
            assert_eq!(login.address().password(), None, "{name}");
        }
    }

    #[test]
    fn a_section_reading_another_server_keeps_its_credentials_unless_it_has_its_own() {
        let redis = login("redis://h/1", Some("ragflow"), Some("redis-pw"));
        assert_eq!(parts(&redis.with_keys(None, None)), parts(&redis));
        let own = redis.with_keys(None, Some(&Secret::new("queue-pw")));
        assert_eq!(
            parts(&own),
            (Some("ragflow".into()), Some("queue-pw".into()))
        );
        let mut secrets = Vec::new();
        own.secrets(&mut secrets);
        assert_eq!(secrets, ["queue-pw"]);
    }
}
