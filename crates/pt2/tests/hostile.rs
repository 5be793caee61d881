//! Hostile and malformed archives give one-line errors, never a panic.
