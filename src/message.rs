//! Bounded messages: every message ragwatch keeps or serves (a probe's error, why a
//! heartbeat was skipped) is cut to a size, so no answer and no Redis key can make one grow
//! without limit.

use std::borrow::Cow;

/// Marks where a message was cut.
const ELLIPSIS: char = '…';

/// `text` cut to at most `max_bytes` (at a character boundary) followed by an ellipsis, or
/// `text` itself when it fits.
pub fn cut(text: &str, max_bytes: usize) -> Cow<'_, str> {
    if text.len() <= max_bytes {
        return Cow::Borrowed(text);
    }
    let end = (0..=max_bytes)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let mut out = String::with_capacity(end + ELLIPSIS.len_utf8());
    out.push_str(&text[..end]);
    out.push(ELLIPSIS);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_message_is_cut_at_a_character_boundary() {
        assert_eq!(cut("short", 5), "short");
        assert_eq!(cut("abcdef", 3), "abc…");
        // `é` is two bytes: a cut inside it backs off to the boundary before it.
        assert_eq!(cut("aé", 2), "a…");
        assert_eq!(cut("", 0), "");
    }
}
