//! The rules for client, daemon and group names, shared by the daemon (which enforces them) and the
//! client library and CLI (which check early to give a better message).
//!
//! Owns only pure validation; it never allocates ids or consults any state.

/// Longest client name, in bytes.
pub const MAX_CLIENT_NAME: usize = 32;

/// Longest daemon name, in bytes.
pub const MAX_DAEMON_NAME: usize = 64;

/// Separates a client's name from its daemon's in a private name (`alice#host1`).
pub const PRIVATE_NAME_SEPARATOR: char = '#';

/// The characters a client or daemon name may use.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Checks a client name: at most [`MAX_CLIENT_NAME`] bytes of ASCII letters, digits, `_`, `-`, `.`.
/// The empty name is allowed: it asks the daemon to choose one.
pub fn check_client_name(name: &str) -> Result<(), String> {
    if name.len() > MAX_CLIENT_NAME {
        return Err(format!(
            "client name '{name}' is {} bytes long; the limit is {MAX_CLIENT_NAME}",
            name.len()
        ));
    }
    if let Some(c) = name.chars().find(|c| !is_name_char(*c)) {
        return Err(format!(
            "client name '{name}' contains {c:?}; use ASCII letters, digits, '_', '-' and '.'"
        ));
    }
    Ok(())
}

/// Checks a daemon name: 1 to [`MAX_DAEMON_NAME`] bytes of ASCII letters, digits, `_`, `-`, `.`.
pub fn check_daemon_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_DAEMON_NAME {
        return Err(format!(
            "daemon name '{name}' must be 1 to {MAX_DAEMON_NAME} bytes long"
        ));
    }
    if let Some(c) = name.chars().find(|c| !is_name_char(*c)) {
        return Err(format!(
            "daemon name '{name}' contains {c:?}; use ASCII letters, digits, '_', '-' and '.'"
        ));
    }
    Ok(())
}

/// Checks a group name: 1 to `max_len` bytes of UTF-8 without whitespace, control characters,
/// `,` (it separates groups on the command line) or `#` (it marks private names).
pub fn check_group_name(group: &str, max_len: usize) -> Result<(), String> {
    if group.is_empty() {
        return Err("group name is empty".to_string());
    }
    if group.len() > max_len {
        return Err(format!(
            "group name '{}…' is {} bytes long; the limit is {max_len}",
            group.chars().take(32).collect::<String>(),
            group.len()
        ));
    }
    if let Some(c) = group
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, ',' | '#'))
    {
        return Err(format!(
            "group name '{group}' contains {c:?}; whitespace, control characters, ',' and '#' are not allowed"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names() {
        assert!(check_client_name("").is_ok());
        assert!(check_client_name("alice-1.b_c").is_ok());
        assert!(check_client_name("a#b").is_err());
        assert!(check_client_name("has space").is_err());
        assert!(check_client_name(&"x".repeat(MAX_CLIENT_NAME + 1)).is_err());
    }

    #[test]
    fn group_names() {
        assert!(check_group_name("chat", 128).is_ok());
        assert!(check_group_name("grüße/room:1", 128).is_ok());
        assert!(check_group_name("", 128).is_err());
        assert!(check_group_name("a,b", 128).is_err());
        assert!(check_group_name("a b", 128).is_err());
        assert!(check_group_name("a\nb", 128).is_err());
        assert!(check_group_name("abcd", 3).is_err());
    }

    #[test]
    fn daemon_names() {
        assert!(check_daemon_name("host-1").is_ok());
        assert!(check_daemon_name("").is_err());
        assert!(check_daemon_name("a#b").is_err());
    }
}
