//! The default message, in words a person can act on: what is wrong in one line, the error,
//! since when, which deployment, which dependents are held back, how long it lasted, and a
//! link to the page. Each receiver lays it out in its own format and escapes every part
//! for its dialect with the functions here, so no error text can break a message, add
//! markup or mention anyone. A receiver's `template` replaces the default text:
//! `template::templated` is the one place that renders it, over the [`Fields`] computed
//! here.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Alert, AlertState, Context};
use crate::status::Status;

/// The headline of a test notification (`ragwatch notify --test`).
pub const TEST_HEADLINE: &str = "Test notification from ragwatch";
/// What a test notification says, in its facts and in a templated text's first line.
pub const TEST_TEXT: &str = "This is a test from ragwatch: nothing is wrong.";

/// The longest error text a message carries (before escaping, which may grow it up to
/// four times in Markdown, six in HTML: an embed field of Discord holds 1,024 characters).
pub const MAX_ERROR_BYTES: usize = 250;

/// A message's content, not yet escaped.
#[derive(Debug, PartialEq)]
pub struct Message {
    /// What is wrong, or that it is over, in one line.
    pub headline: String,
    /// Named lines: error, since, lasted, held back, then each label.
    pub facts: Vec<(String, String)>,
    /// ragwatch's page.
    pub link: String,
}

impl Message {
    /// The default message about `alert`.
    pub fn of(alert: &Alert, context: &Context) -> Self {
        let component = alert.component.as_str();
        let mut facts = Vec::new();
        if context.test {
            facts.push(("Test".to_owned(), TEST_TEXT.to_owned()));
        } else {
            if let Some(error) = error(alert) {
                facts.push(("Error".to_owned(), error));
            }
            facts.push(("Since".to_owned(), time(alert.started_at)));
        }
        if let Some(duration) = duration(alert) {
            facts.push(("Lasted".to_owned(), duration));
        }
        if !alert.held_back.is_empty() {
            let held: Vec<&str> = alert.held_back.iter().map(|k| k.as_str()).collect();
            facts.push((
                "Held back".to_owned(),
                format!("{} unknown because {component} is down", held.join(", ")),
            ));
        }
        for (name, value) in &context.labels {
            facts.push((name.clone(), value.clone()));
        }
        if let Some(term) = alert.term {
            facts.push(("Leader term".to_owned(), term.to_string()));
        }
        Self {
            headline: headline(alert, context),
            facts,
            link: context.page_link(),
        }
    }

    /// The whole message as plain text: the headline, the facts and the link, a line each.
    pub fn plain(&self) -> String {
        format!(
            "{}\n{}\n{}",
            self.headline,
            self.lines(str::to_owned, ("", "")),
            self.link
        )
    }

    /// Each fact as `Name: value`, escaped by `escape`, one per line.
    pub fn lines(&self, escape: fn(&str) -> String, bold: (&str, &str)) -> String {
        self.facts
            .iter()
            .map(|(name, value)| format!("{}{}:{} {}", bold.0, escape(name), bold.1, escape(value)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// What is wrong, or that it is over, in one line.
fn headline(alert: &Alert, context: &Context) -> String {
    let component = alert.component.as_str();
    match (alert.state, alert.status) {
        _ if context.test => TEST_HEADLINE.to_owned(),
        (AlertState::Resolved, _) => format!("RAGFlow {component} is back up"),
        (AlertState::Firing, Status::Yellow) => format!("RAGFlow {component} is degraded"),
        (AlertState::Firing, _) => format!("RAGFlow {component} is down"),
    }
}

/// The alert's error, cut to [`MAX_ERROR_BYTES`].
fn error(alert: &Alert) -> Option<String> {
    let error = alert.error.as_deref()?;
    Some(crate::message::cut(error, MAX_ERROR_BYTES).into_owned())
}

/// How long a resolved alert lasted.
fn duration(alert: &Alert) -> Option<String> {
    let resolved_at = alert.resolved_at?;
    Some(lasted(resolved_at - alert.started_at))
}

/// The fields a receiver's `template` reads ([`Fields::NAMES`], documented in the
/// README), computed as the default text computes them.
#[derive(Debug, Serialize)]
pub struct Fields<'a> {
    summary: String,
    component: &'a str,
    kind: &'a str,
    severity: &'static str,
    required: bool,
    state: AlertState,
    status: Status,
    previous_status: Status,
    error: Option<String>,
    started_at: String,
    resolved_at: Option<String>,
    duration: Option<String>,
    held_back: Vec<&'a str>,
    labels: &'a BTreeMap<String, String>,
    link: String,
    test: bool,
    term: Option<i64>,
}

impl<'a> Fields<'a> {
    /// Every field's name, in the order of the README.
    pub const NAMES: [&'static str; 17] = [
        "summary",
        "component",
        "kind",
        "severity",
        "required",
        "state",
        "status",
        "previous_status",
        "error",
        "started_at",
        "resolved_at",
        "duration",
        "held_back",
        "labels",
        "link",
        "test",
        "term",
    ];

    /// The fields of `alert`.
    pub fn of(alert: &'a Alert, context: &'a Context) -> Self {
        Self {
            summary: headline(alert, context),
            component: alert.component.as_str(),
            kind: alert.kind,
            severity: alert.severity().as_str(),
            required: alert.required,
            state: alert.state,
            status: alert.status,
            previous_status: alert.previous_status,
            error: error(alert),
            started_at: time(alert.started_at),
            resolved_at: alert.resolved_at.map(time),
            duration: duration(alert),
            held_back: alert.held_back.iter().map(|k| k.as_str()).collect(),
            labels: &context.labels,
            link: context.page_link(),
            test: context.test,
            term: alert.term,
        }
    }
}

/// A text's first line, for a format's title, and the rest (the whole text when it is one
/// line), for its body.
pub fn title_and_body(text: &str) -> (&str, &str) {
    match text.split_once('\n') {
        Some((title, rest)) if !rest.trim().is_empty() => (title, rest),
        _ => (text.trim_end(), text),
    }
}

/// How inserted text is escaped, per target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Markup {
    /// No markup (JSON fields, ntfy, PagerDuty, Opsgenie, Feishu's plain text).
    Plain,
    /// HTML (Telegram, Google Chat).
    Html,
    /// Slack's mrkdwn.
    Slack,
    /// Markdown (Discord, Teams, DingTalk, WeCom).
    Markdown,
}

impl Markup {
    /// `text` escaped for this markup.
    pub fn escape(self, text: &str) -> String {
        match self {
            Markup::Plain => text.to_owned(),
            Markup::Html => html(text),
            Markup::Slack => slack(text),
            Markup::Markdown => markdown(text),
        }
    }
}

/// A time as people read it, in UTC.
fn time(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `1h 2m 3s`.
fn lasted(span: jiff::Span) -> String {
    let seconds = span
        .total(jiff::Unit::Second)
        .map(|s| s.max(0.0) as u64)
        .unwrap_or(0);
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}

/// HTML text (Telegram's HTML parse mode): `&`, `<`, `>` and `"` as entities.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// Plain text (e-mail): line breaks and other control characters as spaces, so an error
/// stays on its line and cannot pass for another fact.
pub fn plain(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Slack mrkdwn: `&`, `<` and `>` as entities (Slack's own rule), so no `<!channel>` or
/// `<url|link>` can be formed; formatting marks are taken literally by their zero-width
/// break.
pub fn slack(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '*' | '_' | '~' | '`' => {
                out.push(c);
                out.push('\u{200B}');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Markdown (Discord, Teams, DingTalk, WeCom): every ASCII punctuation mark
/// escaped with a backslash, `<` and `>` as entities, and `@` followed by a zero-width
/// space so `@everyone` or `@all` mentions no one.
pub fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '@' => out.push_str("@\u{200B}"),
            '\n' | '\r' => out.push(' '),
            c if c.is_ascii_punctuation() => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// An error text that tries everything: markup of every dialect, mentions, and 10 KB.
    pub fn hostile_error() -> String {
        format!(
            "<b>x</b> *bold* _it_ `code` [link](http://evil) <!channel> <@U123> @all @everyone &amp; </code>\n# head {}",
            "A".repeat(10_000)
        )
    }

    pub fn alert(state: AlertState) -> Alert {
        Alert::sample(state)
    }

    pub fn context() -> Context {
        Context::sample()
    }

    #[test]
    fn a_firing_message_says_what_since_when_where_and_who_waits() {
        let message = Message::of(&alert(AlertState::Firing), &context());
        assert_eq!(message.headline, "RAGFlow redis is down");
        let facts: Vec<(&str, &str)> = message
            .facts
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            facts,
            [
                ("Error", "connection refused to redis:6379"),
                ("Since", "2025-11-24 16:00:00 UTC"),
                ("Held back", "task_executors unknown because redis is down"),
                ("deployment", "prod"),
            ]
        );
        assert_eq!(message.link, "https://ragwatch.example/");
    }

    #[test]
    fn a_cluster_leaders_message_carries_its_term() {
        let alert = Alert {
            term: Some(7),
            ..alert(AlertState::Firing)
        };
        let message = Message::of(&alert, &context());
        assert_eq!(
            message.facts.last(),
            Some(&("Leader term".to_owned(), "7".to_owned()))
        );
    }

    #[test]
    fn a_resolved_message_says_how_long_it_lasted() {
        let message = Message::of(&alert(AlertState::Resolved), &context());
        assert_eq!(message.headline, "RAGFlow redis is back up");
        assert!(
            message
                .facts
                .contains(&("Lasted".into(), "1h 2m 3s".into()))
        );
    }

    #[test]
    fn the_field_names_are_the_fields() {
        let alert = alert(AlertState::Resolved);
        let context = context();
        let fields = serde_json::to_value(Fields::of(&alert, &context)).unwrap();
        let names: Vec<&str> = fields
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(names, Fields::NAMES);
    }

    #[test]
    fn a_long_error_is_cut() {
        let mut alert = alert(AlertState::Firing);
        alert.error = Some(hostile_error());
        let message = Message::of(&alert, &context());
        assert_eq!(message.facts[0].0, "Error");
        assert!(message.facts[0].1.len() <= MAX_ERROR_BYTES + '…'.len_utf8());
        assert!(message.facts[0].1.ends_with('…'));
    }

    #[test]
    fn escaping_leaves_no_markup_and_no_mention() {
        let hostile = hostile_error();
        let html = html(&hostile);
        assert!(!html.contains('<') && !html.contains('>'), "{html}");
        let slack = slack(&hostile);
        assert!(!slack.contains('<') && !slack.contains("*bold*"));
        let markdown = markdown(&hostile);
        assert!(!markdown.contains("@all") && !markdown.contains("@everyone"));
        assert!(!markdown.contains("](") && !markdown.contains('\n'));
        assert!(markdown.contains("\\*bold\\*"));
    }
}
