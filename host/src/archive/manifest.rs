//! `manifest.json`: Odoo's keys (for an Odoo database) plus sauvegarde's own.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::dump::query::DatabaseInfo;

/// Odoo's release fields derived from the `base` module's `latest_version`
/// (`17.0.1.3` → version `17.0`, version_info `[17, 0, 0, "final", 0, ""]`).
fn odoo_release(modules: &BTreeMap<String, String>) -> Option<(String, Value)> {
    let base = modules.get("base")?;
    let (prefix, numbers) = match base.strip_prefix("saas~") {
        Some(rest) => ("saas~", rest),
        None => ("", base.as_str()),
    };
    let mut parts = numbers.split('.');
    let major: u64 = parts.next()?.parse().ok()?;
    let minor: u64 = parts.next()?.parse().ok()?;
    Some((
        format!("{prefix}{major}.{minor}"),
        json!([major, minor, 0, "final", 0, ""]),
    ))
}

/// The manifest of a ZIP archive of `db_name`, indented by 4 like Odoo's.
pub fn build(
    db_name: &str,
    info: &DatabaseInfo,
    pg_dump_version: Option<&str>,
    created: &str,
    job: &str,
) -> Value {
    let mut m = Map::new();
    if let Some(modules) = &info.modules {
        m.insert("odoo_dump".into(), json!("1"));
        m.insert("db_name".into(), json!(db_name));
        if let Some((version, version_info)) = odoo_release(modules) {
            m.insert("version".into(), json!(version));
            m.insert("version_info".into(), version_info);
            m.insert("major_version".into(), json!(version));
        }
        m.insert("pg_version".into(), json!(info.pg_version()));
        m.insert("modules".into(), json!(modules));
    } else {
        m.insert("db_name".into(), json!(db_name));
        m.insert("pg_version".into(), json!(info.pg_version()));
    }
    m.insert(
        "sauvegarde.version".into(),
        json!(env!("CARGO_PKG_VERSION")),
    );
    m.insert("sauvegarde.created".into(), json!(created));
    m.insert("sauvegarde.pg_dump_version".into(), json!(pg_dump_version));
    m.insert(
        "sauvegarde.server_version_num".into(),
        json!(info.server_version_num),
    );
    m.insert("sauvegarde.tables".into(), json!(info.tables));
    // Proof of ownership for retention when the history is lost.
    m.insert(
        crate::ownership::MANIFEST_KEY.into(),
        crate::ownership::manifest_record(job),
    );
    Value::Object(m)
}

/// Serialises with a 4-space indent.
pub fn to_bytes(manifest: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    // Serialising a `Value` into a Vec cannot fail.
    let _ = serde::Serialize::serialize(manifest, &mut ser);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(modules: Option<&[(&str, &str)]>) -> DatabaseInfo {
        DatabaseInfo {
            server_version_num: 150004,
            modules: modules.map(|m| {
                m.iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect()
            }),
            tables: BTreeMap::from([("public.t".to_string(), 3)]),
        }
    }

    #[test]
    fn odoo_keys() {
        let m = build(
            "prod",
            &info(Some(&[("base", "17.0.1.3"), ("web", "17.0.1.0")])),
            None,
            "now",
            "daily",
        );
        assert_eq!(m["odoo_dump"], "1");
        assert_eq!(m["sauvegarde"]["job"], "daily");
        assert_eq!(m["sauvegarde"]["host_id"], crate::ownership::host_id());
        assert_eq!(m["version"], "17.0");
        assert_eq!(m["major_version"], "17.0");
        assert_eq!(m["version_info"], json!([17, 0, 0, "final", 0, ""]));
        assert_eq!(m["pg_version"], "15.0");
        assert_eq!(m["modules"]["web"], "17.0.1.0");
        assert_eq!(m["sauvegarde.tables"]["public.t"], 3);
        assert!(String::from_utf8(to_bytes(&m))
            .unwrap()
            .contains("\n    \"db_name\""));
    }

    #[test]
    fn non_odoo_has_no_odoo_keys() {
        let m = build("app", &info(None), None, "now", "j");
        for k in [
            "odoo_dump",
            "version",
            "version_info",
            "major_version",
            "modules",
        ] {
            assert!(m.get(k).is_none(), "{k}");
        }
        assert_eq!(m["db_name"], "app");
    }
}
