//! Component sections: a section's own keys and the shared schedule keys
//! ([`ComponentSettings`]) sit side by side in one table. Serde's `flatten` would read them
//! but lose unknown keys and the key of an error, so the shared keys are taken out of the
//! table as it is read, and the section's own struct (with `deny_unknown_fields`) reads the
//! rest, through the same map, so every error keeps its key.

use std::marker::PhantomData;
use std::time::Duration;

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::ComponentSettings;

/// A section that carries the shared settings (read by this module, not by its derive).
pub trait Section {
    /// Where its settings go.
    fn settings_mut(&mut self) -> &mut ComponentSettings;
}

/// Reads `T` and the shared settings from one map.
pub fn with_settings<'de, D, T>(deserializer: D) -> Result<(T, ComponentSettings), D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserializer.deserialize_map(SectionVisitor(PhantomData))
}

/// `deserialize_with` for a section field.
pub fn one<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Section,
{
    Read::<T>::deserialize(deserializer).map(|read| read.0)
}

/// `deserialize_with` for a section that may be absent.
pub fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Section,
{
    Read::<T>::deserialize(deserializer).map(|read| Some(read.0))
}

/// `deserialize_with` for an array of sections (`[[models]]`).
pub fn list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Section,
{
    Vec::<Read<T>>::deserialize(deserializer).map(|list| list.into_iter().map(|r| r.0).collect())
}

/// One section read with its settings.
struct Read<T>(T);

impl<'de, T: Deserialize<'de> + Section> Deserialize<'de> for Read<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (mut section, settings) = with_settings::<D, T>(deserializer)?;
        *section.settings_mut() = settings;
        Ok(Self(section))
    }
}

struct SectionVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for SectionVisitor<T> {
    type Value = (T, ComponentSettings);

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a table")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let mut settings = ComponentSettings::default();
        let own = T::deserialize(de::value::MapAccessDeserializer::new(OwnKeys {
            map,
            settings: &mut settings,
        }))?;
        Ok((own, settings))
    }
}

/// The map as the section's own struct sees it: the shared keys are read into `settings`
/// on the way and never reach it.
struct OwnKeys<'s, A> {
    map: A,
    settings: &'s mut ComponentSettings,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for OwnKeys<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let mut seed = Some(seed);
        loop {
            let mut shared = None;
            // The key is passed on inside the map's own call, so an unknown one is
            // reported at its place.
            let key = self.map.next_key_seed(KeySeed {
                seed: &mut seed,
                shared: &mut shared,
            })?;
            match key {
                None => return Ok(None),
                Some(Some(own)) => return Ok(Some(own)),
                Some(None) => {
                    let name = shared.expect("a shared key was read");
                    self.settings.read(name, &mut self.map)?;
                }
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// Reads one key: a shared one is noted in `shared`; any other goes to the struct's seed.
struct KeySeed<'a, K> {
    seed: &'a mut Option<K>,
    shared: &'a mut Option<&'static str>,
}

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for KeySeed<'_, K> {
    /// `None` when the key was a shared one.
    type Value = Option<K::Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        let key = String::deserialize(deserializer)?;
        if let Some(name) = ComponentSettings::KEYS.iter().find(|name| **name == key) {
            *self.shared = Some(name);
            return Ok(None);
        }
        let seed = self.seed.take().expect("one key per call");
        seed.deserialize(key.into_deserializer()).map(Some)
    }
}

impl ComponentSettings {
    /// The keys these settings take in every component section.
    pub const KEYS: [&'static str; 6] = [
        "enabled",
        "required",
        "interval",
        "timeout",
        "slow_ms",
        "tls_ca_file",
    ];

    /// Reads the value of the shared key `name` from the map.
    pub(super) fn read<'de, A: MapAccess<'de>>(
        &mut self,
        name: &str,
        map: &mut A,
    ) -> Result<(), A::Error> {
        match name {
            "enabled" => self.enabled = map.next_value()?,
            "required" => self.required = Some(map.next_value()?),
            "interval" => self.interval = Some(map.next_value::<IntervalText>()?.0),
            "timeout" => self.timeout = Some(map.next_value::<DurationText>()?.0),
            "slow_ms" => self.slow_ms = Some(map.next_value()?),
            "tls_ca_file" => self.tls_ca_file = Some(map.next_value()?),
            _ => unreachable!("{name} is one of ComponentSettings::KEYS"),
        }
        Ok(())
    }
}

/// A duration written as text: `"5s"`, `"250ms"`, `"1m 30s"`; never zero.
pub struct DurationText(pub Duration);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let duration = parse_duration::<D::Error>(&text)?;
        if duration.is_zero() {
            return Err(de::Error::custom(format!(
                "duration {text:?} must be greater than zero"
            )));
        }
        Ok(Self(duration))
    }
}

/// `deserialize_with` for a duration written as text that may be zero (`"0s"`).
pub fn duration_or_zero<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    parse_duration(&String::deserialize(deserializer)?)
}

fn parse_duration<E: de::Error>(text: &str) -> Result<Duration, E> {
    humantime::parse_duration(text).map_err(|e| {
        E::custom(format!(
            "invalid duration {text:?} ({e}); write e.g. \"5s\" or \"500ms\""
        ))
    })
}

/// The shortest time between two probes of a component: faster probing would load the
/// services watched (and the history) for nothing.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// A probe interval: a [`DurationText`] of at least [`MIN_INTERVAL`].
struct IntervalText(Duration);

impl<'de> Deserialize<'de> for IntervalText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let duration = DurationText::deserialize(deserializer)?.0;
        if duration < MIN_INTERVAL {
            return Err(de::Error::custom(format!(
                "interval {} is shorter than {}, the shortest ragwatch probes at",
                duration_text(duration),
                duration_text(MIN_INTERVAL)
            )));
        }
        Ok(Self(duration))
    }
}

/// `deserialize_with` for a probe interval ([`IntervalText`]).
pub fn interval<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    IntervalText::deserialize(deserializer).map(|interval| interval.0)
}

/// Writes a duration as text ([`duration_text`]).
pub fn write_duration<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    duration_text(*value).serialize(serializer)
}

/// A duration in the largest unit that holds it whole (`"90d"`, `"10m"`, `"1500ms"`), as
/// the duration parser reads it back.
pub fn duration_text(value: Duration) -> String {
    const UNITS: [(u128, &str); 7] = [
        (86_400_000_000_000, "d"),
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ];
    let nanos = value.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    let (size, unit) = UNITS
        .iter()
        .find(|(size, _)| nanos.is_multiple_of(*size))
        .expect("every duration is a whole number of nanoseconds");
    format!("{}{unit}", nanos / size)
}

/// The field names a derived struct reads, as its derive lists them.
pub fn field_names<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldNames(&mut fields));
    fields
}

/// A deserializer that only notes the fields a struct asks for.
struct FieldNames<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("only the field names were wanted"))
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_in_the_largest_whole_unit_and_parse_back() {
        for (duration, text) in [
            (Duration::from_secs(90 * 24 * 3600), "90d"),
            (Duration::from_secs(7 * 24 * 3600), "7d"),
            (Duration::from_secs(3600), "1h"),
            (Duration::from_secs(600), "10m"),
            (Duration::from_secs(5), "5s"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::from_micros(7), "7us"),
            (Duration::from_nanos(1), "1ns"),
        ] {
            assert_eq!(duration_text(duration), text);
            assert_eq!(humantime::parse_duration(text).unwrap(), duration, "{text}");
        }
    }
}
