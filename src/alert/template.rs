//! A receiver's `template`: a Jinja template (minijinja) over an alert's documented fields
//! ([`super::text::Fields`]). Every value a template inserts with `{{ }}` is escaped for the
//! receiver's markup by the same functions as the default text, whatever filter it went
//! through (`safe` included); only the template's own literal text reaches the message
//! as written. Undefined fields are errors, so a typo is caught when the configuration
//! loads ([`check`]), not when an alert fires.

use std::collections::BTreeMap;

use minijinja::value::Serde;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value};

use super::text::{Fields, Markup};
use super::{Alert, AlertState, Context};

/// The longest text a template may render (bytes): within every target's limit (Telegram
/// and Discord take 4,096 characters, WeCom 4,096 bytes) with room for the rest of the body.
pub const MAX_TEXT_BYTES: usize = 3000;

/// Work a rendering may do (minijinja's fuel, about one unit per instruction): plenty for
/// any message, and a bound on a template that loops without end in sight.
const FUEL: u64 = 100_000;

/// The template's name inside its environment.
const NAME: &str = "template";

/// A compiled template that renders for one markup.
pub struct Template {
    env: Environment<'static>,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Template")
    }
}

impl Template {
    /// Compiles `source`; inserted values will be escaped by `markup`.
    pub fn new(source: &str, markup: Markup) -> Result<Self, String> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        env.set_formatter(move |out, _state, value| {
            // Nothing for an absent value (no error on a firing alert's resolved_at).
            if value.is_none() || value.is_undefined() {
                return Ok(());
            }
            let text = match value.as_str() {
                Some(text) => markup.escape(text),
                None => markup.escape(&value.to_string()),
            };
            out.write_str(&text)
                .map_err(|e| Error::new(ErrorKind::WriteFailure, e.to_string()))
        });
        env.add_template_owned(NAME, source.to_owned())
            .map_err(|e| describe(&e))?;
        Ok(Self { env })
    }

    /// The template of a receiver's configuration, if it has one. A template that does
    /// not compile (refused when the configuration loaded) is left out: the default text
    /// goes instead.
    pub fn of(source: Option<&str>, markup: Markup) -> Option<Self> {
        let source = source?;
        Template::new(source, markup)
            .inspect_err(|error| tracing::error!(%error, "A receiver's template does not compile."))
            .ok()
    }

    /// The text for `fields`, at most [`MAX_TEXT_BYTES`].
    pub fn render(&self, fields: &Fields<'_>) -> Result<String, String> {
        let template = self.env.get_template(NAME).map_err(|e| describe(&e))?;
        let text = template
            .render(Value::from(Serde(fields)))
            .map_err(|e| describe(&e))?;
        if text.len() > MAX_TEXT_BYTES {
            return Err(format!(
                "the text is {} bytes, more than {MAX_TEXT_BYTES}",
                text.len()
            ));
        }
        Ok(text)
    }
}

/// What is wrong with a template, in the operator's words: what, and on which line of it.
fn describe(error: &Error) -> String {
    let what = match (error.kind(), error.detail()) {
        (ErrorKind::UndefinedError, _) => format!(
            "uses a field that does not exist (the fields are {}; labels.<name> for each of alerts.labels)",
            Fields::NAMES.join(", ")
        ),
        (kind, Some(detail)) => format!("{kind}: {detail}"),
        (kind, None) => kind.to_string(),
    };
    match error.line() {
        Some(line) => format!("{what} (line {line} of the template)"),
        None => what,
    }
}

/// Compiles `source` and renders it once for a firing and once for a resolved sample
/// alert with this deployment's `labels`: a syntax error, a field that does not exist or
/// a text too long is refused before any alert needs it.
pub fn check(source: &str, labels: &BTreeMap<String, String>) -> Result<(), String> {
    let template = Template::new(source, Markup::Plain)?;
    let context = Context {
        labels: labels.clone(),
        ..Context::sample()
    };
    for state in [AlertState::Firing, AlertState::Resolved] {
        template.render(&Fields::of(&Alert::sample(state), &context))?;
    }
    Ok(())
}

/// The text of `alert` by the receiver's `template`, when it has one; `None` for the
/// default text, also when the template fails (logged): an alert is never lost to its
/// template. A test notification's text starts with [`TEST_TEXT`](super::text::TEST_TEXT) whatever the template.
pub fn templated(template: Option<&Template>, alert: &Alert, context: &Context) -> Option<String> {
    let template = template?;
    match template.render(&Fields::of(alert, context)) {
        Ok(text) if context.test => Some(format!("{}\n{text}", super::text::TEST_TEXT)),
        Ok(text) => Some(text),
        Err(error) => {
            let error = context.scrubber.scrub(&error);
            tracing::warn!(
                component = alert.component.as_str(),
                %error,
                "A receiver's template failed; the default text is sent."
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::text::tests::{alert, context, hostile_error};

    fn render(source: &str, markup: Markup, alert: &Alert) -> Result<String, String> {
        Template::new(source, markup)?.render(&Fields::of(alert, &context()))
    }

    #[test]
    fn a_template_reads_a_cluster_leaders_term() {
        let alert = Alert {
            term: Some(7),
            ..alert(AlertState::Firing)
        };
        let template = Template::new("term {{ term }}", Markup::Plain).unwrap();
        assert_eq!(
            templated(Some(&template), &alert, &context()).as_deref(),
            Some("term 7")
        );
    }

    #[test]
    fn fields_are_filled_and_absent_ones_are_empty() {
        let source = "{{ summary }} | {{ component }} {{ kind }} {{ severity }} {{ state }} \
                      {{ status }} from {{ previous_status }} | {{ error }} | {{ started_at }} \
                      | {{ resolved_at }} | {{ duration }} | {{ held_back|join(',') }} \
                      | {{ labels.deployment }} | {{ link }} | {{ test }}";
        let firing = render(source, Markup::Plain, &alert(AlertState::Firing)).unwrap();
        assert_eq!(
            firing,
            "RAGFlow redis is down | redis redis critical firing red from green \
             | connection refused to redis:6379 | 2025-11-24 16:00:00 UTC |  |  \
             | task_executors | prod | https://ragwatch.example/ | False"
        );
        let resolved = render(source, Markup::Plain, &alert(AlertState::Resolved)).unwrap();
        assert!(
            resolved.contains("| 2025-11-24 17:02:03 UTC | 1h 2m 3s |"),
            "{resolved}"
        );
    }

    #[test]
    fn inserted_values_are_escaped_but_the_template_text_is_not() {
        let mut alert = alert(AlertState::Firing);
        alert.error = Some(hostile_error());
        let cases = [
            (
                Markup::Html,
                "<b>{{ error|safe }}</b>",
                "<b>&lt;b&gt;x&lt;/b&gt;",
            ),
            (
                Markup::Slack,
                "*{{ error }}*",
                "*&lt;b&gt;x&lt;/b&gt; *\u{200B}bold",
            ),
            (
                Markup::Markdown,
                "**{{ error }}**",
                "**&lt;b&gt;x&lt;\\/b&gt; \\*bold\\*",
            ),
        ];
        for (markup, source, start) in cases {
            let text = render(source, markup, &alert).unwrap();
            assert!(text.starts_with(start), "{markup:?}: {text}");
            assert!(
                markup != Markup::Markdown || !text.contains("@all"),
                "{text}"
            );
            assert!(
                !text.contains("<!channel>") && !text.contains("<b>x"),
                "{text}"
            );
            // The error is cut as in the default text.
            assert!(text.len() < 2000, "{}", text.len());
        }
    }

    #[test]
    fn a_template_is_refused_for_a_syntax_error_or_an_unknown_field() {
        let labels = context().labels;
        assert_eq!(
            check("{{ summary }}: {{ labels.deployment }}", &labels),
            Ok(())
        );
        assert_eq!(
            check("{{ summary }\n", &labels),
            Err("syntax error: unexpected `}`, expected end of variable block (line 1 of the template)".into())
        );
        let unknown = check("ok\n{{ severty }}", &labels).unwrap_err();
        assert!(
            unknown.starts_with("uses a field that does not exist (the fields are summary, "),
            "{unknown}"
        );
        assert!(unknown.ends_with("(line 2 of the template)"), "{unknown}");
        assert!(
            check("{{ labels.team }}", &labels).is_err(),
            "no such label"
        );
        // Only a resolved alert has a duration, but a firing one has it as none.
        assert_eq!(
            check("{% if duration %}{{ duration }}{% endif %}", &labels),
            Ok(())
        );
    }

    #[test]
    fn a_long_or_endless_rendering_fails() {
        let firing = alert(AlertState::Firing);
        let long = render("{{ link * 1000 }}", Markup::Plain, &firing).unwrap_err();
        assert!(long.contains("more than 3000"), "{long}");
        let endless = render(
            "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
            Markup::Plain,
            &firing,
        )
        .unwrap_err();
        assert!(endless.contains("fuel"), "{endless}");
    }
}
