//! Which key is the talk key, and whether it is held: plain data shared by every driver.

/// A key that can be the talk key. Names as in `config.json`'s `talk.key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TalkKey {
    pub name: &'static str,
    /// The Linux input event code (`KEY_*` in `<linux/input-event-codes.h>`).
    pub evdev_code: u16,
}

/// `(name, evdev code)`: the keys people pick for push-to-talk.
pub(super) const KEYS: &[(&str, u16)] = &[
    ("Space", 57),
    ("Tab", 15),
    ("CapsLock", 58),
    ("Backquote", 41),
    ("LeftShift", 42),
    ("RightShift", 54),
    ("LeftCtrl", 29),
    ("RightCtrl", 97),
    ("LeftAlt", 56),
    ("RightAlt", 100),
    ("LeftMeta", 125),
    ("RightMeta", 126),
    ("ScrollLock", 70),
    ("Pause", 119),
    ("Insert", 110),
    ("Home", 102),
    ("End", 107),
    ("PageUp", 104),
    ("PageDown", 109),
    ("F1", 59),
    ("F2", 60),
    ("F3", 61),
    ("F4", 62),
    ("F5", 63),
    ("F6", 64),
    ("F7", 65),
    ("F8", 66),
    ("F9", 67),
    ("F10", 68),
    ("F11", 87),
    ("F12", 88),
    ("A", 30),
    ("B", 48),
    ("C", 46),
    ("D", 32),
    ("E", 18),
    ("F", 33),
    ("G", 34),
    ("H", 35),
    ("I", 23),
    ("J", 36),
    ("K", 37),
    ("L", 38),
    ("M", 50),
    ("N", 49),
    ("O", 24),
    ("P", 25),
    ("Q", 16),
    ("R", 19),
    ("S", 31),
    ("T", 20),
    ("U", 22),
    ("V", 47),
    ("W", 17),
    ("X", 45),
    ("Y", 21),
    ("Z", 44),
];

/// Other spellings (rdev's, mostly) of the same keys.
const ALIASES: &[(&str, &str)] = &[
    ("ControlLeft", "LeftCtrl"),
    ("ControlRight", "RightCtrl"),
    ("ShiftLeft", "LeftShift"),
    ("ShiftRight", "RightShift"),
    ("Alt", "LeftAlt"),
    ("AltGr", "RightAlt"),
    ("MetaLeft", "LeftMeta"),
    ("MetaRight", "RightMeta"),
    ("BackQuote", "Backquote"),
];

impl TalkKey {
    /// Parse a `talk.key` value (case-insensitive; rdev's spellings such as `ControlRight`
    /// are accepted too).
    pub fn parse(name: &str) -> Result<TalkKey, String> {
        let name = name.trim();
        let canonical = ALIASES
            .iter()
            .find(|(alias, _)| alias.eq_ignore_ascii_case(name))
            .map_or(name, |(_, canonical)| canonical);
        KEYS.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(canonical))
            .map(|&(name, evdev_code)| TalkKey { name, evdev_code })
            .ok_or_else(|| {
                let names: Vec<&str> = KEYS.iter().map(|(n, _)| *n).collect();
                format!(
                    "talk.key: unknown key {name:?}; use one of {}",
                    names.join(", ")
                )
            })
    }
}

/// Press and release of the talk key, from whichever driver saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEvent {
    Pressed,
    Released,
}

/// Whether the user is talking. Repeats and duplicates change nothing.
#[derive(Debug, Default)]
pub struct TalkKeyState {
    held: bool,
}

impl TalkKeyState {
    /// The new talk state when `event` changes it.
    pub fn on_event(&mut self, event: KeyEvent) -> Option<bool> {
        let held = event == KeyEvent::Pressed;
        (held != self.held).then(|| {
            self.held = held;
            held
        })
    }
}
