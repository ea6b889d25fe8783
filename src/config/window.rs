//! Maintenance windows: when a `[[alerts.maintenance]]` entry holds. A recurring window
//! starts at each time its cron expression names in its time zone's wall-clock time and
//! lasts its duration in real (elapsed) time, so a window crossing a DST change is as long
//! as configured. A start at a wall-clock time the change skips (02:30 on a spring-forward
//! night in Europe/Berlin) is taken where that time would be had the clocks not moved
//! (03:30 summer time); a time a fall-back repeats starts the window at both occurrences,
//! as it is both times on the wall clock.

use std::str::FromStr;
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use serde::Serialize;

/// How far back a window's start is looked for: the longest a recurring window may last.
pub const LONGEST_WINDOW: Duration = Duration::from_secs(31 * 24 * 3600);

/// Starts looked at to find the stretch holding a time: a minutely window of the longest
/// duration, plus a day.
const MAX_STARTS: usize = 60 * 24 * 32;

/// One stretch of time a window holds: `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Stretch {
    /// When it starts.
    pub start: Timestamp,
    /// When it ends.
    pub end: Timestamp,
}

/// When a maintenance entry holds.
#[derive(Clone, Debug)]
pub enum Window {
    /// Each start the cron expression names, for `duration`.
    Recurring {
        /// The parsed expression.
        schedule: Box<jiff_cron::Schedule>,
        /// The time zone it is read in.
        zone: TimeZone,
        /// How long each stretch lasts.
        duration: Duration,
    },
    /// Once, from `start` to `end`.
    Once(Stretch),
}

impl Window {
    /// A recurring window: `cron` in five fields (minute hour day-of-month month
    /// day-of-week) or a shorthand (`@daily`), read in `zone`. Errors say what is wrong
    /// with the expression.
    pub fn recurring(cron: &str, zone: TimeZone, duration: Duration) -> Result<Self, String> {
        let fields = cron.split_whitespace().count();
        let expression = if cron.trim_start().starts_with('@') {
            cron.trim().to_owned()
        } else if fields == 5 {
            // Whole minutes: the seconds field the parser wants is zero.
            format!("0 {}", cron.trim())
        } else {
            return Err(format!(
                "{cron:?} has {fields} fields; write five (minute hour day-of-month month day-of-week, e.g. \"0 2 * * Sun\") or @daily, @weekly, @monthly"
            ));
        };
        // The parser's error shows the expression it was given (with the added seconds)
        // and a caret; its last line says what is wrong.
        let schedule = jiff_cron::Schedule::from_str(&expression).map_err(|e| {
            let text = e.to_string();
            let why = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            format!("{cron:?} is not a cron expression: {}", why.trim())
        })?;
        Ok(Self::Recurring {
            schedule: Box::new(schedule),
            zone,
            duration,
        })
    }

    /// A one-off window from `start` to `end`.
    pub fn once(start: Timestamp, end: Timestamp) -> Self {
        Self::Once(Stretch { start, end })
    }

    /// The stretch holding `at`, if the window holds then.
    pub fn active_at(&self, at: Timestamp) -> Option<Stretch> {
        let stretch = match self {
            Self::Once(stretch) => *stretch,
            Self::Recurring {
                schedule,
                zone,
                duration,
            } => {
                // Forwards from a day before the earliest start that could still hold
                // `at`: the parser's backward steps skip days with a DST change, and its
                // forward steps from inside a repeated hour find the repeat. Stretches
                // that overlap are one.
                let from = at - *duration - jiff::SignedDuration::from_hours(24);
                let mut starts = schedule
                    .after(zoned(from, zone)?)
                    .take(MAX_STARTS)
                    .map(|z| z.timestamp())
                    .skip_while(|start| *start + *duration <= at);
                let start = starts.next()?;
                let mut end = start + *duration;
                for next in starts {
                    if next >= end || next > at {
                        break;
                    }
                    end = next + *duration;
                }
                Stretch { start, end }
            }
        };
        (stretch.start <= at && at < stretch.end).then_some(stretch)
    }

    /// The first stretch that starts after `at`.
    pub fn next_after(&self, at: Timestamp) -> Option<Stretch> {
        match self {
            Self::Once(stretch) => (stretch.start > at).then_some(*stretch),
            Self::Recurring {
                schedule,
                zone,
                duration,
            } => {
                let start = schedule.after(zoned(at, zone)?).next()?.timestamp();
                Some(Stretch {
                    start,
                    end: start + *duration,
                })
            }
        }
    }
}

/// `at` on `zone`'s wall clock, truncated to the second.
fn zoned(at: Timestamp, zone: &TimeZone) -> Option<Zoned> {
    Timestamp::from_second(at.as_second())
        .ok()
        .map(|t| t.to_zoned(zone.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn daily(at: &str, zone: &str, minutes: u64) -> Window {
        Window::recurring(
            at,
            TimeZone::get(zone).unwrap(),
            Duration::from_secs(minutes * 60),
        )
        .unwrap()
    }

    #[test]
    fn a_daily_window_follows_the_wall_clock_across_dst_changes() {
        // 02:00 Berlin is 01:00 UTC in winter, 00:00 UTC in summer.
        let window = daily("0 2 * * *", "Europe/Berlin", 60);
        let cases = [
            (
                "winter",
                "2026-03-28T01:30:00Z",
                Some("2026-03-28T01:00:00Z"),
            ),
            ("winter, before", "2026-03-28T00:59:59Z", None),
            (
                "summer",
                "2026-03-30T00:30:00Z",
                Some("2026-03-30T00:00:00Z"),
            ),
            ("summer, an hour late", "2026-03-30T01:30:00Z", None),
            (
                "winter again",
                "2026-10-26T01:30:00Z",
                Some("2026-10-26T01:00:00Z"),
            ),
        ];
        for (name, at, start) in cases {
            assert_eq!(
                window.active_at(utc(at)).map(|s| s.start),
                start.map(utc),
                "{name}"
            );
        }
    }

    #[test]
    fn a_start_the_spring_forward_skips_is_taken_an_hour_later_on_the_new_clock() {
        // 2026-03-29: Berlin's clocks jump from 02:00 to 03:00 (01:00 UTC).
        let window = daily("30 2 * * *", "Europe/Berlin", 60);
        let stretch = window.active_at(utc("2026-03-29T01:45:00Z")).unwrap();
        assert_eq!(stretch.start, utc("2026-03-29T01:30:00Z"), "03:30 CEST");
        assert_eq!(stretch.end, utc("2026-03-29T02:30:00Z"));
        assert_eq!(window.active_at(utc("2026-03-29T00:45:00Z")), None);
        assert_eq!(
            window
                .next_after(utc("2026-03-28T12:00:00Z"))
                .unwrap()
                .start,
            utc("2026-03-29T01:30:00Z")
        );
    }

    #[test]
    fn a_start_the_fall_back_repeats_opens_the_window_at_both_occurrences() {
        // 2026-10-25: Berlin's clocks go from 03:00 back to 02:00 (01:00 UTC); 02:30
        // happens at 00:30 UTC (summer time) and again at 01:30 UTC.
        let window = daily("30 2 * * *", "Europe/Berlin", 20);
        let first = window.active_at(utc("2026-10-25T00:45:00Z")).unwrap();
        assert_eq!(first.start, utc("2026-10-25T00:30:00Z"));
        assert_eq!(first.end, utc("2026-10-25T00:50:00Z"), "20 real minutes");
        assert_eq!(window.active_at(utc("2026-10-25T01:15:00Z")), None);
        let second = window.active_at(utc("2026-10-25T01:45:00Z")).unwrap();
        assert_eq!(second.start, utc("2026-10-25T01:30:00Z"));
        assert_eq!(window.active_at(utc("2026-10-25T01:50:00Z")), None);
    }

    #[test]
    fn a_window_across_the_change_lasts_its_duration_in_real_time() {
        // New York springs forward on 2026-03-08 at 02:00 EST (07:00 UTC).
        let window = daily("0 1 * * *", "America/New_York", 180);
        let stretch = window.active_at(utc("2026-03-08T08:30:00Z")).unwrap();
        assert_eq!(stretch.start, utc("2026-03-08T06:00:00Z"));
        assert_eq!(stretch.end, utc("2026-03-08T09:00:00Z"));
    }

    #[test]
    fn a_one_off_holds_from_start_to_end() {
        let window = Window::once(utc("2026-12-01T20:00:00Z"), utc("2026-12-01T21:00:00Z"));
        assert!(window.active_at(utc("2026-12-01T19:59:59Z")).is_none());
        assert!(window.active_at(utc("2026-12-01T20:00:00Z")).is_some());
        assert!(window.active_at(utc("2026-12-01T21:00:00Z")).is_none());
        assert!(window.next_after(utc("2026-12-01T19:00:00Z")).is_some());
        assert!(window.next_after(utc("2026-12-01T20:30:00Z")).is_none());
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        let zone = TimeZone::UTC;
        let minute = Duration::from_secs(60);
        assert!(
            Window::recurring("0 2 * *", zone.clone(), minute)
                .unwrap_err()
                .starts_with("\"0 2 * *\" has 4 fields")
        );
        assert!(
            Window::recurring("0 25 * * *", zone.clone(), minute)
                .unwrap_err()
                .starts_with("\"0 25 * * *\" is not a cron expression")
        );
        assert!(Window::recurring("@daily", zone, minute).is_ok());
    }
}
