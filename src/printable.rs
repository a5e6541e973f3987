//! Text that came from outside (plan values, hook file names, LVM's stderr,
//! run records) made safe to print for a person. A reviewer reads `snapplan
//! plan` to decide whether a plan may run as root; a newline or a terminal
//! escape inside a file name must not be able to print a fake step, clear
//! the screen or reorder what is shown. Pure, no dependencies: every
//! renderer and diagnostic may use it.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` changes how the text around it is shown rather than being
/// shown itself: C0 and C1 controls (newline, carriage return, escape,
/// backspace...), DEL, and the Unicode formatting characters that reorder
/// or hide text (bidirectional overrides and isolates, zero-width
/// characters, the byte order mark).
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

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

fn push_escape(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// One argument as a shell word: as is when it needs no quoting, in single
/// quotes otherwise, and in bash's `$'...'` quoting when it holds a
/// character that [`escape`] would escape, so that the line stays one line,
/// copies back into a shell as the same argument, and cannot forge output.
pub fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c));
    if plain {
        return word.to_string();
    }
    if !word.chars().any(is_unsafe) {
        return format!("'{}'", word.replace('\'', r"'\''"));
    }
    let mut out = String::from("$'");
    for c in word.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if is_unsafe(c) => push_escape(&mut out, c),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
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
