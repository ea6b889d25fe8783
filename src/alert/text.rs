//! The default message, in words a person can act on: what is wrong in one line, the error,
//! since when, which deployment, which dependents are held back, how long it lasted, and a
//! link to the page. Each receiver lays it out in its own format and escapes every part
//! for its dialect with the functions here, so no error text can break a message, add
//! markup or mention anyone.

use super::{Alert, AlertState, Context};
use crate::status::Status;

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
        let headline = match (alert.state, alert.status) {
            (AlertState::Resolved, _) => format!("RAGFlow {component} is back up"),
            (AlertState::Firing, Status::Yellow) => format!("RAGFlow {component} is degraded"),
            (AlertState::Firing, _) => format!("RAGFlow {component} is down"),
        };
        let mut facts = Vec::new();
        if let Some(error) = &alert.error {
            facts.push((
                "Error".to_owned(),
                crate::message::cut(error, MAX_ERROR_BYTES).into_owned(),
            ));
        }
        facts.push(("Since".to_owned(), time(alert.started_at)));
        if let Some(resolved_at) = alert.resolved_at {
            facts.push(("Lasted".to_owned(), lasted(resolved_at - alert.started_at)));
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
        Self {
            headline,
            facts,
            link: context.page_link(),
        }
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
    use crate::config::ComponentKey;

    /// An error text that tries everything: markup of every dialect, mentions, and 10 KB.
    pub fn hostile_error() -> String {
        format!(
            "<b>x</b> *bold* _it_ `code` [link](http://evil) <!channel> <@U123> @all @everyone &amp; </code>\n# head {}",
            "A".repeat(10_000)
        )
    }

    pub fn alert(state: AlertState) -> Alert {
        let started_at = jiff::Timestamp::from_second(1_764_000_000).unwrap();
        Alert {
            component: ComponentKey::Redis,
            kind: "redis",
            required: true,
            state,
            status: if state == AlertState::Firing {
                Status::Red
            } else {
                Status::Green
            },
            previous_status: Status::Green,
            error: Some("connection refused to redis:6379".into()),
            started_at,
            resolved_at: (state == AlertState::Resolved)
                .then(|| started_at + jiff::SignedDuration::from_secs(3_723)),
            held_back: vec![ComponentKey::TaskExecutors],
        }
    }

    pub fn context() -> Context {
        Context {
            external: url::Url::parse("https://ragwatch.example/").unwrap(),
            labels: [("deployment".to_owned(), "prod".to_owned())].into(),
        }
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
