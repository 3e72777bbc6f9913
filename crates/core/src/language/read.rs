//! From JSON text to the spec types, with `serde_json`. A refused value is
//! reported at its JSON path (tracked by `serde_path_to_error`) with `serde`'s
//! reason; a syntax error is reported at the root, with `serde_json`'s line
//! and column and the path it was reading.

use std::fmt;

use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::error::Category;
use serde_path_to_error::{Path, Segment};

use super::error::{index, join, ConfigError, Problem};
use super::spec::{self, DUPLICATE_KEY};

/// `serde`'s message for a struct field given twice.
const DUPLICATE_FIELD: &str = "duplicate field ";

/// The two forms a configuration can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Form {
    /// One policy for every request.
    Single,
    /// `policies`, `routes` and `default`.
    Routed,
}

/// Tells the routed form (an object with a `policies` key) from a single
/// policy. Reads the whole text, so this is where a syntax error is found,
/// with the path of the value it is in.
pub(super) fn form(text: &[u8]) -> Result<Form, ConfigError> {
    /// The form of a configuration, read from any object.
    struct Probe(Form);

    impl<'de> Deserialize<'de> for Probe {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_map(Probe(Form::Single))
        }
    }

    impl<'de> Visitor<'de> for Probe {
        type Value = Self;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }

        fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Self, A::Error> {
            while let Some(key) = map.next_key::<Skip>()? {
                if key.0 {
                    self.0 = Form::Routed;
                }
                map.next_value::<Skip>()?;
            }
            Ok(self)
        }
    }

    match object::<Probe>(text, "") {
        Ok(Probe(form)) => Ok(form),
        // At the root, the only shape error is a value that is not an object.
        Err(e) if e.path == "$" && matches!(e.problem, Problem::Schema(_)) => {
            Err(ConfigError::new("", None, Problem::NotAnObject))
        }
        Err(e) => Err(e),
    }
}

/// Any JSON value, skipped; unlike [`serde::de::IgnoredAny`] it visits every
/// element and member, so a syntax error is reported with its path. `true`
/// for the string `"policies"`.
struct Skip(bool);

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Skip(false))
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = Self;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_str<E>(self, text: &str) -> Result<Self, E> {
        Ok(Self(text == "policies"))
    }

    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(self)
    }
}

/// Reads a `T` from a JSON object, the text found at the JSON path `at`
/// (empty for the root).
pub(super) fn object<'de, T: Deserialize<'de>>(text: &'de [u8], at: &str) -> Result<T, ConfigError> {
    /// A `T` read from an object only (see [`spec::object`]).
    struct Object<T>(T);

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            spec::object(d).map(Self)
        }
    }

    // Read untracked first: tracking the JSON path costs a third of a
    // configure step with 10,000 policies, and is needed only to word a
    // refusal, for which the text is read again.
    let mut de = serde_json::Deserializer::from_slice(text);
    if let Ok(Object(value)) = Object::<T>::deserialize(&mut de) {
        if de.end().is_ok() {
            return Ok(value);
        }
    }
    let mut de = serde_json::Deserializer::from_slice(text);
    let Object(value) =
        serde_path_to_error::deserialize(&mut de).map_err(|e| refusal(below(at, e.path()), e.inner()))?;
    // Only whitespace may follow the value.
    de.end().map_err(|e| refusal(at.to_owned(), &e))?;
    Ok(value)
}

/// The JSON path `path` below `at`, as the errors write it: `a.b[2]`.
fn below(at: &str, path: &Path) -> String {
    path.iter().fold(at.to_owned(), |path, segment| match segment {
        Segment::Seq { index: i } => index(&path, *i),
        Segment::Map { key } => join(&path, key),
        Segment::Enum { variant } => join(&path, variant),
        // A key that could not be read (a syntax error in it): the path so far says where.
        Segment::Unknown => path,
    })
}

/// The refusal for a `serde_json` error about the value at `path`.
fn refusal(path: String, e: &serde_json::Error) -> ConfigError {
    match e.classify() {
        Category::Data => {
            // The JSON path says where; a line and column would count from the
            // start of the policy or rule being read, not of the whole text.
            let message = e.to_string();
            let position = format!(" at line {} column {}", e.line(), e.column());
            let message = message.strip_suffix(&position).unwrap_or(&message);
            match duplicate(message) {
                Some(key) => ConfigError::new(join(&path, key), None, Problem::DuplicateKey),
                None => ConfigError::new(path, None, Problem::Schema(message.to_owned())),
            }
        }
        Category::Syntax | Category::Eof | Category::Io => {
            let within = if path.is_empty() {
                String::new()
            } else {
                format!(" (in {path})")
            };
            ConfigError::new("", None, Problem::InvalidJson(format!("{e}{within}")))
        }
    }
}

/// The key named by a "duplicate field" (struct) or "duplicate key" (map) message.
fn duplicate(message: &str) -> Option<&str> {
    message
        .strip_prefix(DUPLICATE_FIELD)
        .or_else(|| message.strip_prefix(DUPLICATE_KEY))?
        .strip_prefix('`')?
        .strip_suffix('`')
}
