//! `[[alerts.maintenance]]`: planned work during which no notification is sent for the
//! components it names. A window is recurring (`cron` in a named `timezone`, lasting
//! `duration`) or one-off (`start` to `end`, RFC 3339); the keys are checked and parsed at
//! load into an [`Window`](super::Window).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{KeyError, duration_text};
use super::{LONGEST_WINDOW, Window};

/// `[[alerts.maintenance]]`: one planned window.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceConfig {
    /// When a recurring window starts: five cron fields (minute hour day-of-month month
    /// day-of-week), or `@daily`, `@weekly`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// The IANA time zone `cron` is read in (`Europe/Berlin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// How long a recurring window lasts.
    #[serde(
        default,
        with = "optional_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub duration: Option<Duration>,
    /// Start of a one-off window (RFC 3339, `2026-12-01T20:00:00Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// End of a one-off window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Component keys it quiets; all when empty.
    #[serde(default)]
    pub components: Vec<String>,
    /// Why (shown on the page and in the API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

mod optional_duration {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => duration_text::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        duration_text::deserialize(d).map(Some)
    }
}

impl MaintenanceConfig {
    /// The window these keys describe; `key` (`alerts.maintenance[0]`) prefixes the key an
    /// error names.
    pub fn window(&self, key: &str) -> Result<Window, KeyError> {
        let field = |name: &str| format!("{key}.{name}");
        let recurring = self.cron.is_some() || self.timezone.is_some() || self.duration.is_some();
        let once = self.start.is_some() || self.end.is_some();
        match (recurring, once) {
            (true, true) => Err(KeyError::new(
                key,
                "a window is either recurring (cron, timezone, duration) or one-off (start, end), not both",
            )),
            (false, false) => Err(KeyError::new(
                key,
                "set cron, timezone and duration (a recurring window) or start and end (a one-off)",
            )),
            (true, false) => {
                let missing = |name: &str| {
                    KeyError::new(
                        field(name),
                        "missing: a recurring window needs cron, timezone and duration",
                    )
                };
                let cron = self.cron.as_deref().ok_or_else(|| missing("cron"))?;
                let timezone = self
                    .timezone
                    .as_deref()
                    .ok_or_else(|| missing("timezone"))?;
                let duration = self.duration.ok_or_else(|| missing("duration"))?;
                if duration > LONGEST_WINDOW {
                    return Err(KeyError::new(
                        field("duration"),
                        format!(
                            "a recurring window lasts at most {} days",
                            LONGEST_WINDOW.as_secs() / 86_400
                        ),
                    ));
                }
                let zone = jiff::tz::TimeZone::get(timezone).map_err(|_| {
                    KeyError::new(
                        field("timezone"),
                        format!("{timezone:?} is not an IANA time zone name (e.g. \"Europe/Berlin\", \"UTC\")"),
                    )
                })?;
                Window::recurring(cron, zone, duration)
                    .map_err(|message| KeyError::new(field("cron"), message))
            }
            (false, true) => {
                let time = |name: &str, value: Option<&str>| {
                    let value = value.ok_or_else(|| {
                        KeyError::new(field(name), "missing: a one-off window needs start and end")
                    })?;
                    value.parse::<jiff::Timestamp>().map_err(|e| {
                        KeyError::new(
                            field(name),
                            format!("{value:?} is not an RFC 3339 time with an offset, e.g. \"2026-12-01T20:00:00Z\" ({e})"),
                        )
                    })
                };
                let start = time("start", self.start.as_deref())?;
                let end = time("end", self.end.as_deref())?;
                if end <= start {
                    return Err(KeyError::new(field("end"), "must be after start"));
                }
                Ok(Window::once(start, end))
            }
        }
    }
}
