//! [`SmtpServer`]: an SMTP server of its own, aiosmtpd (Debian's `python3-aiosmtpd`) run
//! by `smtp_server.py` beside this file, which keeps every message it receives and every
//! AUTH attempt for the test to read.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::TcpStream;

use super::wire::smtp_greets;
use super::{Instance, Kind, Launch, temp_dir};
use crate::common::free_port;
use crate::common::tls::ServerCertificate;

/// Debian's Python, which has Debian's aiosmtpd (another `python3` in `PATH` may not).
const DEBIAN_PYTHON: &str = "/usr/bin/python3";

/// An SMTP server of its own.
pub type SmtpServer = Instance<Smtp>;

/// How the server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpMode {
    /// Offers STARTTLS and needs it, then AUTH, before a message.
    Starttls,
    /// TLS from the first byte, then AUTH.
    Smtps,
    /// No TLS; offers AUTH in the clear without needing it.
    Plain,
}

/// aiosmtpd: ready when it greets (or, speaking TLS at once, takes connections).
pub struct Smtp {
    mode: SmtpMode,
}

impl Kind for Smtp {
    async fn ready(&self, port: u16) -> bool {
        match self.mode {
            SmtpMode::Smtps => TcpStream::connect(("127.0.0.1", port)).await.is_ok(),
            SmtpMode::Starttls | SmtpMode::Plain => smtp_greets(port).await,
        }
    }
}

/// A message as the server received it.
#[derive(Debug)]
pub struct Received {
    /// The bytes after DATA.
    pub raw: Vec<u8>,
    /// The envelope's sender (MAIL FROM).
    pub mail_from: String,
    /// The envelope's recipients (RCPT TO).
    pub rcpt_tos: Vec<String>,
    /// Whether the session was encrypted when the message came.
    pub encrypted: bool,
    /// Who had signed in, if anyone.
    pub login: Option<String>,
}

impl Instance<Smtp> {
    /// Starts the server in `mode` on a free port, with `certificate` for TLS (not in
    /// plain mode) and taking `user` and `password` for AUTH.
    pub async fn start(
        mode: SmtpMode,
        certificate: Option<&ServerCertificate>,
        user: &str,
        password: &str,
    ) -> Self {
        let dir = temp_dir("ragwatch-smtp-");
        std::fs::create_dir(mail_dir(dir.path())).expect("create the mail dir");
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/integration/common/instances/smtp_server.py");
        let mode_name = match mode {
            SmtpMode::Starttls => "starttls",
            SmtpMode::Smtps => "smtps",
            SmtpMode::Plain => "plain",
        };
        let mut args: Vec<OsString> = vec![
            script.into(),
            "--port".into(),
            port.to_string().into(),
            "--dir".into(),
            mail_dir(dir.path()).into(),
            "--mode".into(),
            mode_name.into(),
            "--user".into(),
            user.into(),
            "--password".into(),
            password.into(),
        ];
        if let Some(certificate) = certificate {
            args.extend([
                "--cert".into(),
                certificate.cert.clone().into(),
                "--key".into(),
                certificate.key.clone().into(),
            ]);
        }
        let launch = Launch::new(
            "aiosmtpd",
            PathBuf::from(DEBIAN_PYTHON),
            args,
            Duration::from_secs(5),
        );
        Self::launch(Smtp { mode }, port, launch, dir).await
    }

    /// `smtp://127.0.0.1:<port>`, or `smtps://` for a server speaking TLS at once.
    pub fn url(&self) -> String {
        let scheme = match self.kind.mode {
            SmtpMode::Smtps => "smtps",
            SmtpMode::Starttls | SmtpMode::Plain => "smtp",
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The messages received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        let dir = mail_dir(self.dir.path());
        (1..)
            .map(|n| (dir.join(format!("{n}.eml")), dir.join(format!("{n}.json"))))
            .take_while(|(_, envelope)| envelope.is_file())
            .map(|(raw, envelope)| {
                let envelope: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(envelope).unwrap()).unwrap();
                Received {
                    raw: std::fs::read(raw).unwrap(),
                    mail_from: envelope["mail_from"].as_str().unwrap().to_owned(),
                    rcpt_tos: serde_json::from_value(envelope["rcpt_tos"].clone()).unwrap(),
                    encrypted: envelope["encrypted"].as_bool().unwrap(),
                    login: envelope["login"].as_str().map(str::to_owned),
                }
            })
            .collect()
    }

    /// Every AUTH attempt so far: `ok USER` or `refused USER`.
    pub fn auth_attempts(&self) -> Vec<String> {
        std::fs::read_to_string(mail_dir(self.dir.path()).join("auth.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

fn mail_dir(dir: &Path) -> PathBuf {
    dir.join("mail")
}
