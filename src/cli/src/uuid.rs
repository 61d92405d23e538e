//! UUID parsing, printing and generation (16 raw bytes in the superblock).

use std::fs::File;
use std::io::Read;

/// Parses "8-4-4-4-12" hex or 32 plain hex digits.
pub fn parse(text: &str) -> Result<[u8; 16], String> {
    let digits: String = text.chars().filter(|c| *c != '-').collect();
    if digits.len() != 32 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("invalid UUID '{text}': expected 32 hex digits"));
    }
    let mut bytes = [0u8; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    Ok(bytes)
}

/// Formats as "8-4-4-4-12" lowercase hex.
pub fn format(bytes: &[u8; 16]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A random (version 4) UUID.
pub fn random() -> std::io::Result<[u8; 16]> {
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    bytes[6] = (bytes[6] & 0x0F) | 0x40;
    bytes[8] = (bytes[8] & 0x3F) | 0x80;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let text = "0123abcd-4567-89ef-0123-456789abcdef";
        assert_eq!(format(&parse(text).unwrap()), text);
        assert!(parse("xyz").is_err());
        assert_eq!(random().unwrap()[6] >> 4, 4);
    }
}
