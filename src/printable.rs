//! Text that came from outside (plan values, hook file names, LVM's stderr,
//! run records) made safe to print for a person. A reviewer reads `snapplan
//! plan` to decide whether a plan may run as root; a newline or a terminal
//! escape inside a file name must not be able to print a fake step, clear
//! the screen or reorder what is shown. Pure, no dependencies: every
//! renderer and diagnostic may use it.

use std::borrow::Cow;

pub use crate::human::is_unsafe;

/// `text` with every [`is_unsafe`] character written as an escape (`\n`,
/// `\r`, `\t`, `\x1b`, `\u{202e}`), so that it prints on one line and
/// exactly as its characters are. Borrowed when nothing needed escaping,
/// which is every valid plan's case.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            push_escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

use crate::human::push_escape;

/// One argument as a shell word: see [`crate::human::shell_quote`].
pub fn shell_word(word: &str) -> String {
    crate::human::shell_quote(word)
}

/// At most `max` characters of `text` for a message that echoes it, the
/// rest summarised with its length, escaped as [`escape`] does. A value a
/// megabyte long must not become a megabyte of cron mail.
pub fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => escape(text).into_owned(),
        Some((cut, _)) => format!(
            "{}... ({} characters in all)",
            escape(&text[..cut]),
            text.chars().count()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        for text in ["vg0/root", "/etc/snapplan/hooks.d", "é ü 日本", "a\\nb", ""] {
            assert!(matches!(escape(text), Cow::Borrowed(t) if t == text));
        }
    }

    #[test]
    fn controls_and_reordering_characters_are_escaped() {
        assert_eq!(escape("a\nb"), "a\\nb");
        assert_eq!(escape("x\r\t"), "x\\r\\t");
        assert_eq!(escape("\u{1b}[2J"), "\\x1b[2J");
        assert_eq!(escape("\u{7f}\u{0}"), "\\x7f\\x00");
        assert_eq!(escape("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(escape("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(escape("\u{feff}x\u{200b}"), "\\u{feff}x\\u{200b}");
        assert!(!escape("a\n[1] FAKE-STEP").contains('\n'));
    }

    #[test]
    fn shell_words_quote_only_what_needs_it() {
        assert_eq!(shell_word("vg0/root"), "vg0/root");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("/h/a\nb"), r"$'/h/a\nb'");
        assert_eq!(shell_word("x'\u{1b}\\"), r"$'x\'\x1b\\'");
    }

    #[test]
    fn excerpts_are_bounded_and_say_how_long_the_value_was() {
        assert_eq!(excerpt("short", 10), "short");
        let long = "é".repeat(1_000_000);
        let shown = excerpt(&long, 40);
        assert!(shown.len() < 150, "{shown}");
        assert!(shown.ends_with("... (1000000 characters in all)"));
        assert_eq!(excerpt("a\nbcdef", 3), "a\\nb... (7 characters in all)");
    }
}
