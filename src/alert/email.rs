//! E-mail: one message per alert through an SMTP server, with a plain-text and an HTML
//! part (multipart/alternative) carrying the default message, every part of it escaped
//! in the HTML. The subject says the state and what is wrong (`[FIRING] RAGFlow redis is
//! down (deployment=prod)`); the resolution refers to the firing message's `Message-ID`
//! so mail clients thread the two. TLS trusts ragwatch's roots plus `tls_ca_file`; with
//! `require_tls`, a server that offers no STARTTLS gets nothing, credentials included.

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::notifier::{Context, Failure, Notifier, REQUEST_TIMEOUT};
use super::template::{Template, templated};
use super::text::{self, Markup, Message};
use super::{Alert, AlertState};
use crate::config::EmailConfig;
use crate::net::Roots;

/// The longest one delivery may take: the client's timeout bounds each step of the
/// conversation, this the whole, against a server that answers a byte at a time.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// An e-mail receiver.
pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    /// The receiver's template, for the plain-text part and (escaped as HTML) the HTML one.
    template: Option<(Template, Template)>,
}

impl Email {
    /// From `[[alerts.email]]` (validated), trusting `roots`.
    pub fn new(config: &EmailConfig, roots: &Roots) -> Self {
        let server = config.server();
        let tls = TlsParameters::builder(server.clone()).certificate_store(CertificateStore::None);
        let tls = roots
            .usable()
            .into_iter()
            .filter_map(|der| Certificate::from_der(der.to_vec()).ok())
            .fold(tls, |tls, certificate| {
                tls.add_root_certificate(certificate)
            })
            .build_rustls()
            .expect("usable roots build a TLS configuration");
        let tls = match (config.implicit_tls(), config.require_tls) {
            (true, _) => Tls::Wrapper(tls),
            (false, true) => Tls::Required(tls),
            (false, false) => Tls::Opportunistic(tls),
        };
        // "Dangerous" only as it starts without TLS: the TLS chosen above is set at once.
        let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server)
            .port(config.port())
            .tls(tls)
            .timeout(Some(REQUEST_TIMEOUT));
        if !config.username.is_empty() {
            transport = transport.credentials(Credentials::new(
                config.username.clone(),
                config.password.expose().to_owned(),
            ));
        }
        Self {
            transport: transport.build(),
            from: config.sender().expect("validated at load"),
            to: config.recipients(),
            template: Template::of(config.template.as_deref(), Markup::Plain)
                .zip(Template::of(config.template.as_deref(), Markup::Html)),
        }
    }

    /// The message about `alert`.
    fn message(&self, alert: &Alert, context: &Context) -> Result<lettre::Message, Failure> {
        let message = Message::of(alert, context);
        let domain = self.from.email.domain();
        let firing_id = format!("<{}@{domain}>", alert.incident_key());
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .subject(subject(alert, &message, context));
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder = match alert.state {
            AlertState::Firing => builder.message_id(Some(firing_id)),
            AlertState::Resolved => builder
                .message_id(Some(format!(
                    "<{}-resolved@{domain}>",
                    alert.incident_key()
                )))
                .in_reply_to(firing_id.clone())
                .references(firing_id),
        };
        let templated = self.template.as_ref().and_then(|(plain, html)| {
            let text = templated(Some(plain), alert, context)?;
            let markup = templated(Some(html), alert, context)?;
            Some((text, templated_html(&markup)))
        });
        let (text, html) = templated.unwrap_or_else(|| (plain(&message), html(alert, &message)));
        builder
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| Failure::from(format!("the message cannot be built: {e}")))
    }
}

#[async_trait]
impl Notifier for Email {
    async fn send(
        &self,
        _client: &reqwest::Client,
        alert: &Alert,
        context: &Context,
    ) -> Result<(), Failure> {
        let message = self.message(alert, context)?;
        match tokio::time::timeout(SEND_TIMEOUT, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(failure(&error).into()),
            Err(_) => Err(format!(
                "the SMTP server did not take the message within {SEND_TIMEOUT:?}"
            )
            .into()),
        }
    }
}

/// Why a delivery failed, in the server's words where it answered.
fn failure(error: &lettre::transport::smtp::Error) -> String {
    if let Some(tls) = crate::probe::tls_failure(error) {
        return tls;
    }
    let cause = crate::probe::root_cause(error);
    match error.status() {
        Some(code) => format!("the SMTP server answered {code}: {cause}"),
        None => cause,
    }
}

/// `[FIRING] RAGFlow redis is down (deployment=prod)`.
fn subject(alert: &Alert, message: &Message, context: &Context) -> String {
    let state = match alert.state {
        AlertState::Firing => "FIRING",
        AlertState::Resolved => "RESOLVED",
    };
    let mut subject = format!("[{state}] {}", message.headline);
    if !context.labels.is_empty() {
        let labels: Vec<String> = context
            .labels
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        subject.push_str(&format!(" ({})", labels.join(", ")));
    }
    text::plain(&subject)
}

/// The HTML part of a templated message: its lines as written, the values in it escaped.
fn templated_html(markup: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><body>\n<pre style=\"white-space:pre-wrap;font-family:inherit\">{markup}</pre>\n</body></html>\n"
    )
}

/// The plain-text part: the headline, the facts one per line, the link.
fn plain(message: &Message) -> String {
    format!(
        "{}\n\n{}\n\nOpen ragwatch: {}\n",
        text::plain(&message.headline),
        message.lines(text::plain, ("", "")),
        text::plain(&message.link),
    )
}

/// The HTML part: the headline in the status's colour, the facts in a table, the link.
fn html(alert: &Alert, message: &Message) -> String {
    let rows: String = message
        .facts
        .iter()
        .map(|(name, value)| {
            format!(
                "<tr><th align=\"left\" valign=\"top\">{}</th><td>{}</td></tr>\n",
                text::html(name),
                text::html(value)
            )
        })
        .collect();
    format!(
        "<!DOCTYPE html>\n<html><body>\n<h2 style=\"color:#{:06x}\">{}</h2>\n<table cellpadding=\"4\">\n{rows}</table>\n<p><a href=\"{}\">Open ragwatch</a></p>\n</body></html>\n",
        super::discord::colour(alert),
        text::html(&message.headline),
        text::html(&message.link),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::text::tests::{alert, context, hostile_error};

    #[test]
    fn the_subject_says_the_state_what_and_where() {
        let context = context();
        for (state, expected) in [
            (
                AlertState::Firing,
                "[FIRING] RAGFlow redis is down (deployment=prod)",
            ),
            (
                AlertState::Resolved,
                "[RESOLVED] RAGFlow redis is back up (deployment=prod)",
            ),
        ] {
            let alert = alert(state);
            let message = Message::of(&alert, &context);
            assert_eq!(subject(&alert, &message, &context), expected);
        }
    }

    #[test]
    fn a_hostile_error_is_text_in_both_parts_and_bounded() {
        let mut alert = alert(AlertState::Firing);
        alert.error = Some(hostile_error());
        let message = Message::of(&alert, &context());
        let html = html(&alert, &message);
        assert!(
            !html.contains("<b>x</b>") && !html.contains("</code>"),
            "{html}"
        );
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;"), "{html}");
        assert!(html.len() < 3_000, "{} bytes", html.len());
        let plain = plain(&message);
        let error_line = plain.lines().find(|l| l.starts_with("Error: ")).unwrap();
        assert!(error_line.contains("# head"), "the error stays on its line");
        assert!(plain.len() < 1_500, "{} bytes", plain.len());
    }
}
