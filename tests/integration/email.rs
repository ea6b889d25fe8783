//! The e-mail receiver against a real SMTP server of the test's own (aiosmtpd): one
//! document-engine outage, whose error text is hostile (HTML, Markdown, `@all`, 10 KB),
//! fires and resolves, and the two messages are read back as a mail client reads them:
//! subject, sender, recipients, the plain-text and HTML parts with the error as text and
//! the outage's duration, threaded by `Message-ID`. STARTTLS with AUTH, implicit TLS, and
//! a plain server when `require_tls = false` deliver; a wrong password, a server without
//! STARTTLS under `require_tls`, and an untrusted certificate fail in readyz, sending
//! nothing, and the password shows nowhere.

use crate::common;

use std::time::Duration;

use common::app::{TestApp, only};
use common::instances::{SmtpMode, SmtpServer};
use common::served::{Served, get};
use common::tls::PrivateCa;
use common::{FixtureResponse, FixtureServer, wait_for, wait_until};
use mail_parser::{Message, MessageParser, MimeHeaders};

const NODE: &str = "/admin/node/current";
const USER: &str = "ragwatch";
const PASSWORD: &str = "smtp-Pass-31";

/// The error the document engine answers with: markup of every kind, a mention, 10 KB.
fn hostile_error() -> String {
    format!(
        "<b>x</b> *bold* [link](http://evil) @all <script>alert(1)</script>\n# head {}",
        "A".repeat(10_000)
    )
}

/// An Infinity node that is up.
async fn infinity() -> FixtureServer {
    FixtureServer::start([
        ("GET", NODE, up()),
        (
            "GET",
            "/configs",
            FixtureResponse::from_fixture(200, "infinity/configs.docs.json"),
        ),
    ])
    .await
}

fn up() -> FixtureResponse {
    FixtureResponse::from_fixture(200, "infinity/admin_node_current.standalone.derived.json")
}

fn down() -> FixtureResponse {
    let body = serde_json::json!({"error_code": 3027, "error_msg": hostile_error()});
    FixtureResponse::json(500, body.to_string())
}

/// The document engine at `infinity`, probed on request, with the receivers given.
fn config(infinity: &FixtureServer, receivers: &str) -> String {
    format!(
        "{}[monitor]\ninterval = \"1h\"\ntimeout = \"5s\"\n[history]\nenabled = false\n\
         [doc_engine]\nkind = \"infinity\"\nurl = \"{}\"\n\
         [alerts]\nfailure_threshold = 2\nsuccess_threshold = 2\nexternal_url = \"https://ragwatch.example\"\n\
         [alerts.labels]\ndeployment = \"prod\"\n{receivers}",
        only("doc_engine"),
        infinity.url()
    )
}

/// Two failed probes in a row: the alert fires.
async fn outage(app: &TestApp, infinity: &FixtureServer) {
    app.get_json("/v1/system/healthz?fresh=1").await;
    infinity.set_route("GET", NODE, down());
    app.get_json("/v1/system/healthz?fresh=1").await;
    app.get_json("/v1/system/healthz?fresh=1").await;
}

/// Two good probes in a row: the alert resolves.
async fn recovery(app: &TestApp, infinity: &FixtureServer) {
    infinity.set_route("GET", NODE, up());
    app.get_json("/v1/system/healthz?fresh=1").await;
    app.get_json("/v1/system/healthz?fresh=1").await;
}

/// The messages `server` received, once there are `count`.
async fn received(server: &SmtpServer, count: usize) -> Vec<common::instances::Received> {
    wait_for(&format!("{count} messages at {}", server.url()), || async {
        server.received().len() >= count
    })
    .await;
    server.received()
}

fn parse(raw: &[u8]) -> Message<'_> {
    MessageParser::default().parse(raw).expect("a MIME message")
}

/// readyz's line about the receiver `email 127.0.0.1:<port>`, once it reports a failure.
async fn failure_line(app: &TestApp, server: &SmtpServer) -> String {
    let name = format!("email 127.0.0.1:{}", server.port());
    wait_until(&format!("readyz to report {name} failing"), || async {
        let (_, _, readyz) = app.get("/readyz?verbose").await;
        readyz
            .lines()
            .find(|line| line.starts_with(&format!("[-]alerts {name} failed")))
            .map(str::to_owned)
            .ok_or(readyz)
    })
    .await
}

#[tokio::test]
async fn an_incident_arrives_as_two_threaded_mails_a_person_can_act_on() {
    let ca = PrivateCa::new();
    let certificate = ca.issue("smtp", &["IP:127.0.0.1"]);
    let server = SmtpServer::start(SmtpMode::Starttls, Some(&certificate), USER, PASSWORD).await;
    let secrets = tempfile::tempdir().unwrap();
    let password_file = secrets.path().join("smtp_password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    let receivers = format!(
        "[[alerts.email]]\nsmtp_url = \"{}\"\nfrom = \"RAGFlow monitor <ragwatch@example.com>\"\n\
         to = [\"ops@example.com\", \"Oncall <oncall@example.org>\"]\nusername = \"{USER}\"\n\
         password_file = \"{}\"\ntls_ca_file = \"{}\"\n",
        server.url(),
        password_file.display(),
        ca.ca_file().display()
    );
    let infinity = infinity().await;
    let app = TestApp::start_unscheduled(&config(&infinity, &receivers)).await;
    outage(&app, &infinity).await;
    received(&server, 1).await;
    recovery(&app, &infinity).await;
    let mails = received(&server, 2).await;

    // The envelope: over STARTTLS, signed in, to every recipient.
    for mail in &mails {
        assert!(mail.encrypted, "sent in the clear");
        assert_eq!(mail.login.as_deref(), Some(USER));
        assert_eq!(mail.mail_from, "ragwatch@example.com");
        assert_eq!(mail.rcpt_tos, ["ops@example.com", "oncall@example.org"]);
    }
    assert_eq!(
        server.auth_attempts(),
        [format!("ok {USER}"), format!("ok {USER}")]
    );

    // The firing mail, as a person reads it.
    let firing = parse(&mails[0].raw);
    assert_eq!(
        firing.subject(),
        Some("[FIRING] RAGFlow doc_engine is down (deployment=prod)")
    );
    let from = firing.from().unwrap().first().unwrap();
    assert_eq!(from.name(), Some("RAGFlow monitor"));
    assert_eq!(from.address(), Some("ragwatch@example.com"));
    let to: Vec<Option<&str>> = firing.to().unwrap().iter().map(|a| a.address()).collect();
    assert_eq!(to, [Some("ops@example.com"), Some("oncall@example.org")]);
    assert_eq!(
        firing.content_type().map(|c| (c.ctype(), c.subtype())),
        Some(("multipart", Some("alternative")))
    );
    // Lines end in CRLF on the wire, as MIME text does.
    let text = firing.body_text(0).unwrap().replace("\r\n", "\n");
    assert!(text.starts_with("RAGFlow doc_engine is down\n\n"), "{text}");
    assert!(
        text.contains("Error: Infinity answered HTTP 500 with error 3027: <b>x</b> *bold* [link](http://evil) @all <script>alert(1)</script> # head AAA"),
        "the error as it is, on one line: {text}"
    );
    assert!(text.contains("\nSince: 20"), "{text}");
    assert!(text.contains("\ndeployment: prod\n"), "{text}");
    assert!(
        text.trim_end()
            .ends_with("\n\nOpen ragwatch: https://ragwatch.example/"),
        "{text}"
    );
    let html = firing.body_html(0).unwrap();
    assert!(html.contains(">RAGFlow doc_engine is down</h2>"), "{html}");
    assert!(
        html.contains("<th align=\"left\" valign=\"top\">Error</th><td>Infinity answered HTTP 500 with error 3027: &lt;b&gt;x&lt;/b&gt; *bold* [link](http://evil) @all &lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(
        !html.contains("<b>") && !html.contains("<script>"),
        "{html}"
    );
    assert!(
        html.contains("<a href=\"https://ragwatch.example/\">Open ragwatch</a>"),
        "{html}"
    );
    // 10 KB of error became a few hundred bytes.
    assert!(mails[0].raw.len() < 6_000, "{} bytes", mails[0].raw.len());

    // The resolution: how long it lasted, in the same thread.
    let resolved = parse(&mails[1].raw);
    assert_eq!(
        resolved.subject(),
        Some("[RESOLVED] RAGFlow doc_engine is back up (deployment=prod)")
    );
    let text = resolved.body_text(0).unwrap().replace("\r\n", "\n");
    assert!(text.contains("\nLasted: "), "{text}");
    assert!(
        resolved
            .body_html(0)
            .unwrap()
            .contains("<th align=\"left\" valign=\"top\">Lasted</th>")
    );
    let firing_id = firing.message_id().unwrap();
    assert!(firing_id.starts_with("ragwatch-doc_engine-"), "{firing_id}");
    assert_ne!(resolved.message_id(), Some(firing_id));
    assert_eq!(resolved.in_reply_to().as_text(), Some(firing_id));
    assert_eq!(resolved.references().as_text(), Some(firing_id));

    // Named by kind and host, counted by kind; the password nowhere.
    let (_, _, readyz) = app.get("/readyz?verbose").await;
    let name = format!("email 127.0.0.1:{}", server.port());
    assert!(readyz.contains(&format!("[+]alerts {name} ok")), "{readyz}");
    let metrics = app.get("/metrics").await.2;
    assert!(
        metrics.contains("ragwatch_notifications_total{integration=\"email\"} 2"),
        "{metrics}"
    );
    assert!(!readyz.contains(PASSWORD) && !metrics.contains(PASSWORD));
}

/// The built binary, whose log is read too.
#[tokio::test]
async fn a_wrong_password_fails_delivery_and_shows_nowhere() {
    let ca = PrivateCa::new();
    let certificate = ca.issue("smtp", &["IP:127.0.0.1"]);
    let server = SmtpServer::start(SmtpMode::Starttls, Some(&certificate), USER, PASSWORD).await;
    let wrong = "Wrong-Pass-42";
    let receivers = format!(
        "[[alerts.email]]\nsmtp_url = \"{}\"\nfrom = \"ragwatch@example.com\"\nto = [\"ops@example.com\"]\n\
         username = \"{USER}\"\npassword = \"{wrong}\"\ntls_ca_file = \"{}\"\n",
        server.url(),
        ca.ca_file().display()
    );
    let infinity = infinity().await;
    let port = common::free_port();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ragwatch.toml");
    let server_section = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nfresh_min_interval = \"0s\"\nshutdown_timeout = \"2s\"\n"
    );
    std::fs::write(&file, server_section + &config(&infinity, &receivers)).unwrap();
    let served = Served::start(&file, port, 1024).await;
    let fresh = || get(port, "/v1/system/healthz?fresh=1", Duration::from_secs(10));
    fresh().await.unwrap();
    infinity.set_route("GET", NODE, down());
    fresh().await.unwrap();
    fresh().await.unwrap();

    let name = format!("email 127.0.0.1:{}", server.port());
    let expected = format!(
        "[-]alerts {name} failed (not required): the SMTP server answered 535: 5.7.8 Authentication credentials invalid"
    );
    let readyz = wait_until("readyz to report the failure", || async {
        let (_, readyz) = get(port, "/readyz?verbose", Duration::from_secs(10)).await?;
        readyz
            .lines()
            .any(|line| line == expected)
            .then_some(readyz.clone())
            .ok_or(readyz)
    })
    .await;
    assert_eq!(
        server.auth_attempts().first().map(String::as_str),
        Some("refused ragwatch")
    );
    assert!(server.received().is_empty());
    let (_, metrics) = get(port, "/metrics", Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        metrics.contains("ragwatch_notifications_failed_total{integration=\"email\"}"),
        "{metrics}"
    );
    let logs = served.stop(Duration::from_secs(30)).await;
    assert!(
        logs.contains("Alert delivery failed.") && logs.contains(&name) && logs.contains("535"),
        "{logs}"
    );
    for shown in [&readyz, &metrics, &logs] {
        assert!(!shown.contains(wrong), "the password shows: {shown}");
    }
}

#[tokio::test]
async fn without_starttls_or_a_trusted_certificate_nothing_is_sent() {
    let ca = PrivateCa::new();
    let certificate = ca.issue("smtp", &["IP:127.0.0.1"]);
    // Offers AUTH in the clear: a client that gave up on TLS would sign in here.
    let plain = SmtpServer::start(SmtpMode::Plain, None, USER, PASSWORD).await;
    let untrusted = SmtpServer::start(SmtpMode::Starttls, Some(&certificate), USER, PASSWORD).await;
    let receivers = format!(
        "[[alerts.email]]\nsmtp_url = \"{}\"\nfrom = \"ragwatch@example.com\"\nto = [\"ops@example.com\"]\n\
         username = \"{USER}\"\npassword = \"{PASSWORD}\"\n\
         [[alerts.email]]\nsmtp_url = \"{}\"\nfrom = \"ragwatch@example.com\"\nto = [\"ops@example.com\"]\n\
         username = \"{USER}\"\npassword = \"{PASSWORD}\"\n",
        plain.url(),
        untrusted.url(),
    );
    let infinity = infinity().await;
    let app = TestApp::start_unscheduled(&config(&infinity, &receivers)).await;
    outage(&app, &infinity).await;

    let line = failure_line(&app, &plain).await;
    assert!(
        line.ends_with("failed (not required): STARTTLS is not supported on this server"),
        "{line}"
    );
    let line = failure_line(&app, &untrusted).await;
    assert!(
        line.contains(
            "failed (not required): TLS: the server's certificate is signed by an authority ragwatch does not trust"
        ),
        "{line}"
    );
    for server in [&plain, &untrusted] {
        assert!(server.auth_attempts().is_empty(), "credentials were sent");
        assert!(server.received().is_empty());
    }
}

#[tokio::test]
async fn implicit_tls_and_a_plain_server_without_require_tls_deliver() {
    let ca = PrivateCa::new();
    let certificate = ca.issue("smtp", &["IP:127.0.0.1"]);
    let smtps = SmtpServer::start(SmtpMode::Smtps, Some(&certificate), USER, PASSWORD).await;
    let plain = SmtpServer::start(SmtpMode::Plain, None, USER, PASSWORD).await;
    let receivers = format!(
        "[[alerts.email]]\nsmtp_url = \"{}\"\nfrom = \"ragwatch@example.com\"\nto = [\"ops@example.com\"]\n\
         username = \"{USER}\"\npassword = \"{PASSWORD}\"\ntls_ca_file = \"{}\"\n\
         [[alerts.email]]\nsmtp_url = \"{}\"\nfrom = \"ragwatch@example.com\"\nto = [\"ops@example.com\"]\n\
         require_tls = false\nsend_resolved = false\ntemplate = \"{{{{ summary }}}} :: {{{{ error }}}}\"\n",
        smtps.url(),
        ca.ca_file().display(),
        plain.url(),
    );
    let infinity = infinity().await;
    let app = TestApp::start_unscheduled(&config(&infinity, &receivers)).await;
    outage(&app, &infinity).await;

    let over_tls = &received(&smtps, 1).await[0];
    assert!(over_tls.encrypted);
    assert_eq!(over_tls.login.as_deref(), Some(USER));
    assert_eq!(
        parse(&over_tls.raw).subject(),
        Some("[FIRING] RAGFlow doc_engine is down (deployment=prod)")
    );
    let in_the_clear = &received(&plain, 1).await[0];
    assert!(!in_the_clear.encrypted);
    assert_eq!(in_the_clear.login, None);
    let mail = parse(&in_the_clear.raw);
    assert_eq!(
        mail.subject(),
        Some("[FIRING] RAGFlow doc_engine is down (deployment=prod)")
    );
    // Its template is both parts' text, the error escaped in the HTML one.
    let text = mail.body_text(0).unwrap();
    assert!(text.starts_with("RAGFlow doc_engine is down :: "), "{text}");
    let html = mail.body_html(0).unwrap();
    assert!(html.contains("RAGFlow doc_engine is down :: "), "{html}");
    assert!(
        html.contains("&lt;script&gt;") && !html.contains("<script>"),
        "{html}"
    );
}
