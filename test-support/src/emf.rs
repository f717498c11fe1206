//! The checker of CloudWatch Embedded Metric Format documents lock-fn writes (the rules of the EMF
//! specification the writer must keep), for lock-fn's unit tests and the end-to-end metrics test.

use serde_json::Value;

/// CloudWatch takes at most this many values of one metric in one document.
pub const MAX_VALUES: usize = 100;
/// CloudWatch's longest dimension value.
pub const MAX_DIMENSION_VALUE: usize = 1024;

/// Why `doc` is not a valid EMF document (the specification's rules this writer must keep), or
/// `Ok` with its metric values by name (a distribution's values summed as their count).
pub fn check_document(doc: &Value) -> Result<Vec<(String, Value)>, String> {
    let root = doc.as_object().ok_or("not an object")?;
    let aws = root["_aws"].as_object().ok_or("no _aws object")?;
    aws.get("Timestamp")
        .and_then(Value::as_u64)
        .ok_or("Timestamp is not epoch milliseconds")?;
    let directives = aws["CloudWatchMetrics"]
        .as_array()
        .filter(|d| !d.is_empty())
        .ok_or("CloudWatchMetrics is not a non-empty array")?;
    let mut found = Vec::new();
    for d in directives {
        let ns = d["Namespace"].as_str().ok_or("no Namespace")?;
        if ns.is_empty() || ns.len() > 255 {
            return Err(format!("bad namespace {ns:?}"));
        }
        for set in d["Dimensions"].as_array().ok_or("no Dimensions")? {
            let set = set.as_array().ok_or("a dimension set is not an array")?;
            if set.is_empty() || set.len() > 30 {
                return Err("a dimension set has 1 to 30 names".into());
            }
            for name in set {
                let name = name.as_str().ok_or("a dimension name is not a string")?;
                let value = root.get(name).and_then(Value::as_str);
                if !value.is_some_and(|v| !v.is_empty() && v.len() <= MAX_DIMENSION_VALUE) {
                    return Err(format!("dimension {name} has no string value at the root"));
                }
            }
        }
        let metrics = d["Metrics"].as_array().ok_or("no Metrics")?;
        if metrics.is_empty() || metrics.len() > 100 {
            return Err("1 to 100 metrics per directive".into());
        }
        for m in metrics {
            let name = m["Name"].as_str().ok_or("a metric has no Name")?;
            let unit = m["Unit"].as_str().unwrap_or("None");
            if !["Count", "Milliseconds", "None"].contains(&unit) {
                return Err(format!("{name}: unit {unit} is not one this writer uses"));
            }
            let value = root
                .get(name)
                .ok_or(format!("metric {name} has no value at the root"))?;
            let numeric = value.is_number()
                || value.as_array().is_some_and(|a| {
                    !a.is_empty() && a.len() <= MAX_VALUES && a.iter().all(Value::is_number)
                });
            if !numeric {
                return Err(format!(
                    "metric {name}'s value is not a number or 1-100 numbers"
                ));
            }
            found.push((name.to_string(), value.clone()));
        }
    }
    Ok(found)
}
