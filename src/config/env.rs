//! Layering: the embedded defaults, then the optional `SWITCHBOARD_CONFIG` file, then the
//! environment. Environment values are strings; each is converted to the type of its default so
//! a typo (`SWITCHBOARD_DB__POOL_MAX=many`) is reported by the variable's name.

use toml::{Table, Value};

/// Well-known variable names (DESIGN.md §4) that stand for a `section.key` setting.
const WELL_KNOWN: &[(&str, &str, &str)] = &[
    ("DATABASE_URL", "db", "url"),
    ("SWITCHBOARD_LISTEN_ADDR", "server", "listen_addr"),
    ("PUBLIC_BASE_URL", "server", "public_base_url"),
    ("SWITCHBOARD_TRUST_FORWARDED_HEADERS", "server", "trust_forwarded_headers"),
    ("SWITCHBOARD_LOG_FORMAT", "log", "format"),
    ("TWILIO_ACCOUNT_SID", "twilio", "account_sid"),
    ("TWILIO_AUTH_TOKEN", "twilio", "auth_token"),
    ("TWILIO_AUTH_TOKEN_SECONDARY", "twilio", "auth_token_secondary"),
    ("TWILIO_API_KEY_SID", "twilio", "api_key_sid"),
    ("TWILIO_API_KEY_SECRET", "twilio", "api_key_secret"),
    ("TWILIO_API_BASE", "twilio", "api_base"),
    ("SWITCHBOARD_INSECURE_SKIP_SIGNATURE", "twilio", "insecure_skip_signature"),
    ("SWITCHBOARD_CALL_SERVICE_URL", "notify", "call_service_url"),
    ("SWITCHBOARD_BOT_URL", "notify", "bot_url"),
    ("SWITCHBOARD_DISPATCH_URL", "notify", "dispatch_url"),
    ("SWITCHBOARD_MONITOR_URL", "notify", "monitor_url"),
    ("SWITCHBOARD_WEBHOOK_SECRET", "notify", "webhook_secret"),
];

/// The environment name an operator uses for `section.key`: the well-known name if there is
/// one, else `SWITCHBOARD_<SECTION>__<KEY>`.
pub fn setting_name(section: &str, key: &str) -> String {
    WELL_KNOWN
        .iter()
        .find(|(_, s, k)| *s == section && *k == key)
        .map(|(name, _, _)| (*name).to_string())
        .unwrap_or_else(|| generic_name(section, key))
}

fn generic_name(section: &str, key: &str) -> String {
    format!("SWITCHBOARD_{}__{}", section.to_uppercase(), key.to_uppercase())
}

/// Builds the merged table. A value that cannot be used is reported in `problems` and the
/// default kept, so validation goes on and every problem is reported at once.
pub(super) fn merged_table(vars: &dyn Fn(&str) -> Option<String>, problems: &mut Vec<String>) -> Table {
    let mut table: Table = match super::DEFAULT_TOML.parse() {
        Ok(table) => table,
        Err(e) => {
            problems.push(format!("embedded config/default.toml is invalid: {e}"));
            return Table::new();
        }
    };
    if let Some(path) = vars("SWITCHBOARD_CONFIG").filter(|p| !p.is_empty()) {
        match read_file(&path) {
            Ok(file) => merge_file(&mut table, file, &path, problems),
            Err(problem) => problems.push(problem),
        }
    }
    apply_env(&mut table, vars, problems);
    table
}

fn read_file(path: &str) -> Result<Table, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("SWITCHBOARD_CONFIG \"{path}\" cannot be read: {e}"))?;
    text.parse().map_err(|e| format!("SWITCHBOARD_CONFIG \"{path}\" is not valid TOML: {e}"))
}

/// Overlays the file on the defaults; unknown sections or keys are typos, and reported.
fn merge_file(table: &mut Table, file: Table, path: &str, problems: &mut Vec<String>) {
    for (section, value) in file {
        let (Some(Value::Table(target)), Value::Table(values)) = (table.get_mut(&section), value) else {
            problems.push(format!("SWITCHBOARD_CONFIG \"{path}\": unknown section [{section}]"));
            continue;
        };
        for (key, value) in values {
            match target.get(&key) {
                Some(default) if default.same_type(&value) => {
                    target.insert(key, value);
                }
                Some(default) => problems.push(format!(
                    "SWITCHBOARD_CONFIG \"{path}\": {section}.{key} must be {}",
                    default.type_str()
                )),
                None => {
                    problems.push(format!("SWITCHBOARD_CONFIG \"{path}\": unknown setting {section}.{key}"))
                }
            }
        }
    }
}

fn apply_env(table: &mut Table, vars: &dyn Fn(&str) -> Option<String>, problems: &mut Vec<String>) {
    for (section, values) in table.iter_mut() {
        let Value::Table(values) = values else { continue };
        for (key, current) in values.iter_mut() {
            let name = setting_name(section, key);
            let raw = vars(&name).or_else(|| vars(&generic_name(section, key)));
            let Some(raw) = raw else { continue };
            match convert(&raw, current) {
                Some(value) => *current = value,
                None => problems.push(format!(
                    "{name} \"{}\" is not {}",
                    shown(section, key, &raw),
                    article_type(current)
                )),
            }
        }
    }
}

/// Never echo a secret back in an error message.
fn shown<'a>(section: &str, key: &str, raw: &'a str) -> &'a str {
    let secret = key.contains("token") || key.contains("secret") || (section == "db" && key == "url");
    if secret { "…" } else { raw }
}

fn convert(raw: &str, like: &Value) -> Option<Value> {
    match like {
        Value::String(_) => Some(Value::String(raw.to_string())),
        Value::Integer(_) => raw.trim().parse::<i64>().ok().map(Value::Integer),
        Value::Float(_) => raw.trim().parse::<f64>().ok().map(Value::Float),
        Value::Boolean(_) => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(Value::Boolean(true)),
            "false" | "0" | "no" | "off" | "" => Some(Value::Boolean(false)),
            _ => None,
        },
        _ => None,
    }
}

fn article_type(value: &Value) -> &'static str {
    match value {
        Value::Integer(_) => "a whole number",
        Value::Float(_) => "a number",
        Value::Boolean(_) => "true or false",
        _ => "a string",
    }
}
