//! The `Dropbox-API-Arg` header: JSON that must be pure ASCII.

use serde_json::Value;

/// Serialises `value` as JSON with every non-ASCII character and 0x7F escaped as `\uXXXX`
/// (UTF-16 surrogate pairs above U+FFFF), as Dropbox requires in HTTP headers.
pub fn header_json(value: &Value) -> String {
    let json = value.to_string();
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() && c != '\x7f' {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn non_ascii_and_del_are_escaped() {
        let value = json!({"path": "/Sauvegardes/été\u{7f}😀.zip"});
        let header = header_json(&value);
        assert!(header.is_ascii());
        assert_eq!(
            header,
            r#"{"path":"/Sauvegardes/\u00e9t\u00e9\u007f\ud83d\ude00.zip"}"#
        );
        let back: Value = serde_json::from_str(&header).unwrap();
        assert_eq!(back, value);
    }
}
