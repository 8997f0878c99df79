use serde::de::DeserializeOwned;

use crate::PluginError;

/// Parses a destination's configuration, handed to the plugin constructor as a JSON object.
///
/// The host removes its own keys (`type`, `keep_days`, `keep_count`, `retries`) and passes
/// everything else. Declare the config struct with `#[serde(deny_unknown_fields)]` so that a
/// mistyped key is an error rather than silently ignored. The returned
/// [`ErrorKind::Config`](crate::ErrorKind::Config) error names the offending key.
pub fn parse_config<T: DeserializeOwned>(config_json: &str) -> Result<T, PluginError> {
    serde_json::from_str(config_json).map_err(|e| {
        // serde_json's messages name the key ("unknown field `pasword`, expected one of
        // ..."); the line/column suffix means nothing to someone who wrote TOML.
        let text = e.to_string();
        let text = match text.rfind(" at line ") {
            Some(i) => text[..i].to_string(),
            None => text,
        };
        PluginError::config(text)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Cfg {
        host: String,
        #[serde(default)]
        port: Option<u16>,
    }

    #[test]
    fn unknown_key_is_a_config_error_naming_the_key() {
        let err = parse_config::<Cfg>(r#"{"host":"h","pasword":"x"}"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.message().contains("pasword"), "{err}");
        assert!(!err.message().contains("line"), "{err}");
    }

    #[test]
    fn wrong_type_and_missing_key_are_reported() {
        let err = parse_config::<Cfg>(r#"{"host":"h","port":"x"}"#).unwrap_err();
        assert!(err.message().contains("invalid type"), "{err}");
        let err = parse_config::<Cfg>(r#"{}"#).unwrap_err();
        assert!(err.message().contains("missing field `host`"), "{err}");
    }
}
