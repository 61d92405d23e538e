//! Harness self-test: `cargo test` here must report one failure.

#[cfg(test)]
mod tests {
    #[test]
    fn passes() {
        assert_eq!(2 + 2, 4);
    }

    #[test]
    fn fails_on_purpose() {
        assert_eq!(2 + 2, 5, "this failure must be counted by tests/harness.sh");
    }
}
