//! Reading a configuration document: every problem recorded as `path.to.key: reason`, known
//! keys checked in schema order, secrets refused at any depth. The schema itself (which keys
//! each section has and how each is checked) is declared once in `config/mod.rs` with
//! [`config_section!`].

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// A JSON object as serde_json holds it.
pub(super) type Map = serde_json::Map<String, Value>;

/// One problem found while loading: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted path of the key, e.g. `video.fps`; empty for the document itself.
    pub path: String,
    pub reason: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.path, self.reason)
        }
    }
}

/// Every problem in a configuration, each on its own line when displayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// Which file the problems are in (for the message), e.g. the user file's path.
    pub source_name: String,
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} has {} problem(s):",
            self.source_name,
            self.problems.len()
        )?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

/// Whether a key's name says it holds a secret (API keys, tokens, passwords). Such keys are
/// refused anywhere in a config file: config files get shared, pasted into bug reports and
/// committed to dotfile repositories, so credentials belong in the environment or a key store.
pub fn is_secret_key_name(name: &str) -> bool {
    const MARKERS: [&str; 5] = ["api_key", "apikey", "token", "secret", "password"];
    let lower = name.to_ascii_lowercase();
    MARKERS.iter().any(|m| lower.contains(m))
}

/// Longest rendering of an offending value before it is cut short with `…`.
const MAX_SHOWN_CHARS: usize = 60;

/// A value as compact JSON for messages (strings quoted), shortened if long.
pub(super) fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= MAX_SHOWN_CHARS {
        text
    } else {
        let cut: String = text.chars().take(MAX_SHOWN_CHARS).collect();
        format!("{cut}…")
    }
}

pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Advice on where a secret should go instead, specific where the app reads one.
pub(super) fn secret_reason(path: &str) -> String {
    let instead = if path.starts_with("cloud.runpod.") {
        "set RUNPOD_API_KEY or use the app's key store"
    } else {
        "remove it and supply it through an environment variable or the app's key store"
    };
    format!("secrets do not belong in config files; {instead}")
}

/// An object being read, with its dotted path.
pub(super) struct Section<'v> {
    path: String,
    map: &'v Map,
}

impl<'v> Section<'v> {
    /// Path and value of a key; the value is `None` when the key is absent.
    pub(super) fn get(&self, key: &str) -> (String, Option<&'v Value>) {
        (join(&self.path, key), self.map.get(key))
    }
}

#[derive(Default)]
pub(super) struct Checker {
    pub(super) problems: Vec<ConfigProblem>,
}

impl Checker {
    pub(super) fn push(&mut self, path: &str, reason: String) {
        self.problems.push(ConfigProblem {
            path: path.to_owned(),
            reason,
        });
    }

    /// Records "expected X, got V" (or that the key is missing) and yields nothing.
    pub(super) fn expected<T>(
        &mut self,
        path: &str,
        what: &str,
        value: Option<&Value>,
    ) -> Option<T> {
        let reason = match value {
            Some(v) => format!("expected {what}, got {}", show(v)),
            None => format!("missing; expected {what}"),
        };
        self.push(path, reason);
        None
    }

    // --- objects -----------------------------------------------------------------------------

    /// Opens a fixed-schema object: reports keys outside `known` (or secret-named ones) and
    /// returns the section so its known keys can be read.
    pub(super) fn section<'v>(
        &mut self,
        path: &str,
        value: Option<&'v Value>,
        known: &[&str],
    ) -> Option<Section<'v>> {
        let Some(Value::Object(map)) = value else {
            return self.expected(path, "an object", value);
        };
        for (key, child) in map {
            if known.contains(&key.as_str()) {
                continue;
            }
            let child_path = join(path, key);
            if is_secret_key_name(key) {
                // Said instead of "unknown key": it is the more useful thing to fix.
                self.push(&child_path, secret_reason(&child_path));
            } else {
                let reason = format!("unknown key (expected one of: {})", known.join(", "));
                self.push(&child_path, reason);
                self.scan_secrets(&child_path, child);
            }
        }
        Some(Section {
            path: path.to_owned(),
            map,
        })
    }

    /// Reports secret-named keys at any depth below `value` (which is not otherwise checked).
    fn scan_secrets(&mut self, path: &str, value: &Value) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let child_path = join(path, key);
                    if is_secret_key_name(key) {
                        self.push(&child_path, secret_reason(&child_path));
                    } else {
                        self.scan_secrets(&child_path, child);
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.scan_secrets(&format!("{path}[{i}]"), item);
                }
            }
            _ => {}
        }
    }

    /// A map of entries by id (`voices`): each entry must be an object; its inner schema
    /// belongs to the component that uses it, but secrets are refused here already.
    pub(super) fn entries(
        &mut self,
        path: &str,
        value: Option<&Value>,
    ) -> Option<BTreeMap<String, Value>> {
        let Some(Value::Object(map)) = value else {
            return self.expected(path, "an object of entries by id", value);
        };
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (id, entry) in map {
            let entry_path = join(path, id);
            if is_secret_key_name(id) {
                // Checked before the type so that a secret string is never echoed back.
                self.push(&entry_path, secret_reason(&entry_path));
                ok = false;
            } else if entry.is_object() {
                let before = self.problems.len();
                self.scan_secrets(&entry_path, entry);
                ok &= self.problems.len() == before;
                out.insert(id.clone(), entry.clone());
            } else {
                self.expected::<()>(&entry_path, "an object", Some(entry));
                ok = false;
            }
        }
        ok.then_some(out)
    }

    // --- scalars -----------------------------------------------------------------------------

    /// An integer from `min` to `max`; anything else is "expected {what}".
    pub(super) fn int_in(
        &mut self,
        path: &str,
        value: Option<&Value>,
        min: u64,
        max: u64,
        what: &str,
    ) -> Option<u64> {
        match value.and_then(Value::as_u64) {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => self.expected(path, what, value),
        }
    }

    /// An integer of at least `min` that fits in `T`; `what` names the kind ("a positive
    /// integer"), and a number too large for `T` says the limit.
    pub(super) fn integer<T: TryFrom<u64> + Into<u64> + Bounded>(
        &mut self,
        path: &str,
        value: Option<&Value>,
        min: u64,
        what: &str,
    ) -> Option<T> {
        let limit: u64 = T::MAX_VALUE.into();
        match value.and_then(Value::as_u64) {
            Some(n) if n < min => self.expected(path, what, value),
            Some(n) => match T::try_from(n) {
                Ok(t) => Some(t),
                Err(_) => self.expected(path, &format!("{what} up to {limit}"), value),
            },
            None => self.expected(path, what, value),
        }
    }

    /// An integer > 0 that fits in `T`.
    pub(super) fn positive<T: TryFrom<u64> + Into<u64> + Bounded>(
        &mut self,
        path: &str,
        value: Option<&Value>,
    ) -> Option<T> {
        self.integer(path, value, 1, "a positive integer")
    }

    /// An integer >= 0 that fits in `T`.
    pub(super) fn non_negative<T: TryFrom<u64> + Into<u64> + Bounded>(
        &mut self,
        path: &str,
        value: Option<&Value>,
    ) -> Option<T> {
        self.integer(path, value, 0, "a non-negative integer")
    }

    /// A string with something other than whitespace in it.
    pub(super) fn non_empty_string(&mut self, path: &str, value: Option<&Value>) -> Option<String> {
        match value {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            _ => self.expected(path, "a non-empty string", value),
        }
    }

    /// One of a fixed set of strings, mapped to its value.
    pub(super) fn one_of<T: Copy>(
        &mut self,
        path: &str,
        value: Option<&Value>,
        choices: &[(&str, T)],
    ) -> Option<T> {
        if let Some(Value::String(s)) = value
            && let Some((_, t)) = choices.iter().find(|(name, _)| name == s)
        {
            return Some(*t);
        }
        let names: Vec<String> = choices
            .iter()
            .map(|(name, _)| format!("{name:?}"))
            .collect();
        self.expected(path, &format!("one of {}", names.join(", ")), value)
    }
}

/// Integer types the reader produces, with their largest value for messages.
pub(super) trait Bounded {
    const MAX_VALUE: Self;
}

impl Bounded for u32 {
    const MAX_VALUE: Self = u32::MAX;
}

impl Bounded for u64 {
    const MAX_VALUE: Self = u64::MAX;
}

/// One key being read: where it is, its value (`None` when absent), and the section around
/// it for the few keys whose check depends on a sibling.
pub(super) struct Field<'a> {
    pub(super) path: String,
    pub(super) value: Option<&'a Value>,
    pub(super) section: &'a Section<'a>,
}

/// How a key is read: its problems go to the checker, its value comes back when it is good.
pub(super) type Read<T> = fn(&mut Checker, &Field<'_>) -> Option<T>;

/// An integer > 0 that fits in `T`.
pub(super) fn positive<T: TryFrom<u64> + Into<u64> + Bounded>(
    c: &mut Checker,
    f: &Field<'_>,
) -> Option<T> {
    c.positive(&f.path, f.value)
}

/// An integer >= 0 that fits in `T`.
pub(super) fn non_negative<T: TryFrom<u64> + Into<u64> + Bounded>(
    c: &mut Checker,
    f: &Field<'_>,
) -> Option<T> {
    c.non_negative(&f.path, f.value)
}

/// A string with something other than whitespace in it.
pub(super) fn non_empty_string(c: &mut Checker, f: &Field<'_>) -> Option<String> {
    c.non_empty_string(&f.path, f.value)
}

/// A string, or `null`/absent for none.
pub(super) fn optional_string(c: &mut Checker, f: &Field<'_>) -> Option<Option<String>> {
    match f.value {
        None | Some(Value::Null) => Some(None),
        Some(_) => c.non_empty_string(&f.path, f.value).map(Some),
    }
}

/// Declares a fixed-schema section of the configuration once: the struct with each key as a
/// documented field, the list of keys it accepts (in schema order, which is also the order
/// problems are reported in), and how each key is read and checked, beside its declaration.
///
/// ```ignore
/// config_section! {
///     /// The talk key (`talk`).
///     #[derive(Debug, Clone, PartialEq)]
///     pub struct TalkConfig {
///         /// Key name as the talk-key listener spells it.
///         key: String = non_empty_string,
///         hang_ms: u32 = non_negative,
///     }
/// }
/// ```
///
/// Each reader is a [`Read`]: a function or a closure without captures. Every key is read
/// (so every problem is reported) before the section is assembled.
macro_rules! config_section {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                $field:ident : $ty:ty = $read:expr
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )*
        }

        impl $name {
            /// The keys this section accepts, in schema order.
            pub const KEYS: &'static [&'static str] = &[$(stringify!($field)),*];

            fn read(
                checker: &mut $crate::config::reader::Checker,
                path: &str,
                value: Option<&serde_json::Value>,
            ) -> Option<Self> {
                let section = checker.section(path, value, Self::KEYS)?;
                $(
                    let $field = {
                        let (path, value) = section.get(stringify!($field));
                        let field = $crate::config::reader::Field {
                            path,
                            value,
                            section: &section,
                        };
                        let read: $crate::config::reader::Read<$ty> = $read;
                        read(checker, &field)
                    };
                )*
                Some($name { $( $field: $field?, )* })
            }
        }
    };
}

pub(super) use config_section;
