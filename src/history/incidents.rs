//! Incidents: stretches of time a component was not green, opened, worsened and closed by
//! its status changes. [`incident_action`] decides what a change does; the store carries
//! it out in the same transaction as the change.

use jiff::Timestamp;
use serde::Serialize;

use super::records::ChangeRecord;
use crate::status::Status;

/// An incident still open for a component, as the store has it.
#[derive(Clone, Debug)]
pub struct OpenIncident {
    /// Its row id.
    pub id: i64,
    /// Worst status so far.
    pub worst: Status,
    /// Latest status.
    pub last: Status,
}

/// What a status change does to the incidents of its component.
#[derive(Clone, Debug, PartialEq)]
pub enum IncidentAction {
    /// Open a new incident.
    Open {
        /// The status before; `None` for the first result after start (nobody knows).
        from: Option<Status>,
        /// The new, non-green status.
        to: Status,
    },
    /// The open incident changed status.
    Update {
        /// Its id.
        id: i64,
        /// Worst status now.
        worst: Status,
        /// Latest status.
        last: Status,
    },
    /// The open incident ended.
    Close {
        /// Its id.
        id: i64,
    },
    /// Nothing to record (e.g. the first result after a restart repeats what was open).
    Nothing,
}

/// Decides what a change does, given the incident open for its component (if any). After
/// a restart the first result arrives with `from: None`; the stored incident tells whether
/// the outage is still going on, and an incident it opens came from an unknown status.
pub fn incident_action(open: Option<&OpenIncident>, change: &ChangeRecord) -> IncidentAction {
    match (open, change.to) {
        (Some(open), Status::Green) => IncidentAction::Close { id: open.id },
        (Some(open), to) if to != open.last => IncidentAction::Update {
            id: open.id,
            worst: open.worst.min(to),
            last: to,
        },
        (Some(_), _) | (None, Status::Green) => IncidentAction::Nothing,
        (None, to) => IncidentAction::Open {
            from: change.from,
            to,
        },
    }
}

/// A stored incident.
// Its times serialise as unix milliseconds, under the `_ms` names the API has always used.
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Incident {
    /// Row id.
    pub id: i64,
    /// Which ragwatch saw it.
    pub observer: String,
    /// Component key.
    pub component: String,
    /// Status before it began; `None` (null) when it began with the first result after
    /// ragwatch started, whose status before nobody knows.
    #[schema(value_type = Option<String>)]
    pub from: Option<Status>,
    /// Worst status during it.
    #[schema(value_type = String)]
    pub worst: Status,
    /// Latest status (green once ended).
    #[schema(value_type = String)]
    pub last: Status,
    /// Start, unix milliseconds.
    #[serde(
        rename = "started_at_ms",
        with = "jiff::fmt::serde::timestamp::millisecond::required"
    )]
    #[schema(value_type = i64)]
    pub started_at: Timestamp,
    /// End, unix milliseconds; absent while open.
    #[serde(
        rename = "ended_at_ms",
        with = "jiff::fmt::serde::timestamp::millisecond::optional"
    )]
    #[schema(value_type = Option<i64>)]
    pub ended_at: Option<Timestamp>,
    /// The error when it began.
    pub first_error: Option<String>,
    /// Status changes during it.
    pub changes: i64,
    /// Why its notifications waited, if they did: `maintenance` (a window held while it
    /// was open) or `silence`.
    pub quiet: Option<String>,
}

/// Which incidents to list.
#[derive(Clone, Debug)]
pub struct IncidentQuery {
    /// Only those still open or ended at or after this time.
    pub since: Timestamp,
    /// Only this component.
    pub component: Option<String>,
    /// At most this many.
    pub limit: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ComponentKey;

    #[test]
    fn incidents_open_update_and_close_on_changes() {
        let change = |from: Option<Status>, to: Status| ChangeRecord {
            component: ComponentKey::Db,
            at: Timestamp::UNIX_EPOCH,
            from,
            to,
            error: None,
        };
        let open = OpenIncident {
            id: 7,
            worst: Status::Yellow,
            last: Status::Yellow,
        };
        let cases = [
            (
                "green to red opens",
                None,
                change(Some(Status::Green), Status::Red),
                IncidentAction::Open {
                    from: Some(Status::Green),
                    to: Status::Red,
                },
            ),
            (
                "first result red opens, from an unknown status",
                None,
                change(None, Status::Red),
                IncidentAction::Open {
                    from: None,
                    to: Status::Red,
                },
            ),
            (
                "first result green: nothing",
                None,
                change(None, Status::Green),
                IncidentAction::Nothing,
            ),
            (
                "yellow to red worsens",
                Some(&open),
                change(Some(Status::Yellow), Status::Red),
                IncidentAction::Update {
                    id: 7,
                    worst: Status::Red,
                    last: Status::Red,
                },
            ),
            (
                "back to green closes",
                Some(&open),
                change(Some(Status::Yellow), Status::Green),
                IncidentAction::Close { id: 7 },
            ),
            (
                "restart, still yellow",
                Some(&open),
                change(None, Status::Yellow),
                IncidentAction::Nothing,
            ),
        ];
        for (name, open, change, expected) in cases {
            assert_eq!(incident_action(open, &change), expected, "{name}");
        }
    }

    #[test]
    fn an_incident_serialises_its_statuses_and_times_as_the_api_always_did() {
        let incident = Incident {
            id: 3,
            observer: "a".into(),
            component: "redis".into(),
            from: Some(Status::Green),
            worst: Status::Red,
            last: Status::Yellow,
            started_at: Timestamp::from_millisecond(1_800_000_000_123).unwrap(),
            ended_at: None,
            first_error: None,
            changes: 2,
            quiet: None,
        };
        assert_eq!(
            serde_json::to_value(&incident).unwrap(),
            serde_json::json!({
                "id": 3, "observer": "a", "component": "redis",
                "from": "green", "worst": "red", "last": "yellow",
                "started_at_ms": 1_800_000_000_123_i64, "ended_at_ms": null,
                "first_error": null, "changes": 2, "quiet": null,
            })
        );
        let ended = Incident {
            ended_at: Some(Timestamp::from_millisecond(1_800_000_060_000).unwrap()),
            ..incident
        };
        assert_eq!(
            serde_json::to_value(&ended).unwrap()["ended_at_ms"],
            1_800_000_060_000_i64
        );
        let unknown = Incident {
            from: None,
            ..ended
        };
        assert_eq!(
            serde_json::to_value(&unknown).unwrap()["from"],
            serde_json::Value::Null
        );
    }
}
