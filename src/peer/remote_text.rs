//! Logging what peers say in BOLT 1 `warning` and `error` messages, bounded. Their text is
//! attacker-controlled and up to 65,531 bytes; a line per message at full length would let one
//! peer fill the disk with log lines and spend our CPU on formatting them (the failure
//! [`crate::logging`] describes). So the texts are counted, and at most one line per interval
//! is written: the counts since the last line and the text that made the line due, sanitized
//! and cut to [`MAX_LOGGED_TEXT`] characters.

use std::sync::OnceLock;
use std::time::Duration;

use crate::logging::ThrottledLog;
use crate::wire::bolt1::ErrorMessage;

/// How often peer texts are reported, like the drop log.
pub const REMOTE_TEXT_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Characters of one text kept in the log line (Core Lightning's `sanitize_error` also cuts
/// what it prints; a warning needs no more than a sentence to be useful).
pub const MAX_LOGGED_TEXT: usize = 200;

/// Which BOLT 1 message a text came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteText {
    Warning = 0,
    Error = 1,
}

impl RemoteText {
    pub fn as_str(self) -> &'static str {
        match self {
            RemoteText::Warning => "warning",
            RemoteText::Error => "error",
        }
    }
}

fn log() -> &'static ThrottledLog {
    static LOG: OnceLock<ThrottledLog> = OnceLock::new();
    LOG.get_or_init(|| {
        ThrottledLog::due_at_once(vec!["warning", "error"], REMOTE_TEXT_LOG_INTERVAL)
    })
}

/// `message`'s data made safe for a log line and at most [`MAX_LOGGED_TEXT`] characters,
/// with the original length noted when cut.
pub fn bounded_text(message: &ErrorMessage) -> String {
    let shown = message
        .data
        .get(..MAX_LOGGED_TEXT)
        .unwrap_or(&message.data[..]);
    let mut text = ErrorMessage {
        channel_id: message.channel_id,
        data: shown.to_vec(),
    }
    .sanitized_data();
    if shown.len() < message.data.len() {
        text.push_str(&format!("… ({} bytes)", message.data.len()));
    }
    text
}

/// Counts a text from `peer` (node id) and logs a line if one is due.
pub fn log_remote_text(kind: RemoteText, peer: &[u8], message: &ErrorMessage) {
    let Some(report) = log().record(kind as usize) else {
        return;
    };
    tracing::warn!(
        peer = %hex::encode(peer),
        kind = kind.as_str(),
        text = %bounded_text(message),
        received = report.total,
        counts = %report.summary(),
        window_secs = report.window.as_secs(),
        "peer sent a warning or error (one line per interval; the counts cover it)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_and_marked() {
        let long = ErrorMessage::connection(&"x".repeat(65_000));
        let text = bounded_text(&long);
        assert!(text.len() < MAX_LOGGED_TEXT + 40, "{}", text.len());
        assert!(text.ends_with("(65000 bytes)"), "{text}");
        let short = ErrorMessage::connection("careful\n");
        assert_eq!(bounded_text(&short), "careful?");
    }
}
