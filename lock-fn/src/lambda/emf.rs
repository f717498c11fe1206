//! The engine's counts as CloudWatch Embedded Metric Format: one JSON document per line on
//! stdout, which CloudWatch Logs turns into metrics (no API call, nothing added to an answer's
//! latency). Written after each invocation, its after-answer work included.
//!
//! Dimensions stay few by default: `FunctionName` only. With `LOCK_METRICS_PER_RESOURCE=true` the
//! same values are also reported under `FunctionName, Resource` (one metric per lock name).

use std::io::Write;

use serde_json::{json, Map, Value};

use crate::engine::config::Config;
use crate::world::metrics::{Counts, Metric, Metrics};

/// CloudWatch takes at most this many values of one metric in one document.
pub const MAX_VALUES: usize = 100;
/// CloudWatch's longest dimension value.
pub const MAX_DIMENSION_VALUE: usize = 1024;

/// Writes EMF documents for one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmfWriter {
    /// The CloudWatch namespace.
    pub namespace: String,
    /// The `FunctionName` dimension's value.
    pub function: String,
    /// Whether to add the `FunctionName, Resource` dimension set.
    pub per_resource: bool,
    /// The `level` each document carries: Lambda's log-level filter (`ApplicationLogLevel`, told
    /// in `AWS_LAMBDA_LOG_LEVEL`) drops a JSON line below it, and one without a level counts as
    /// INFO - so a function logging at WARN would lose every metric.
    pub level: String,
}

impl EmfWriter {
    /// [`EmfWriter::from_config`] for this Lambda function: its name and log level from the
    /// environment Lambda sets (`lock-fn` and none when unset).
    pub fn from_env(config: &Config) -> Option<EmfWriter> {
        let env = |name| std::env::var(name).ok();
        let function = env("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|| "lock-fn".into());
        EmfWriter::from_config(config, &function, env("AWS_LAMBDA_LOG_LEVEL").as_deref())
    }

    /// The writer `config` asks for (`None` when metrics are off), naming the function
    /// `function` (Lambda's `AWS_LAMBDA_FUNCTION_NAME`), its lines at a level that Lambda's
    /// filter at `log_level` (`AWS_LAMBDA_LOG_LEVEL`, if set) keeps.
    pub fn from_config(
        config: &Config,
        function: &str,
        log_level: Option<&str>,
    ) -> Option<EmfWriter> {
        let level = match log_level.map(|l| l.trim().to_ascii_uppercase()) {
            Some(l) if ["WARN", "ERROR", "FATAL"].contains(&l.as_str()) => l,
            _ => "INFO".to_string(),
        };
        config.metrics_namespace.as_ref().map(|ns| EmfWriter {
            namespace: ns.clone(),
            function: function.to_string(),
            per_resource: config.metrics_per_resource,
            level,
        })
    }

    /// Takes what `metrics` recorded and writes it, one document per line (nothing when nothing
    /// was recorded). A failed write loses these counts only.
    pub fn flush(&self, metrics: &Metrics, out: &mut impl Write, timestamp_ms: u64) {
        for line in self.documents(&metrics.take(), timestamp_ms) {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    }

    /// The EMF documents for `counts`: the sums and the first [`MAX_VALUES`] values of each
    /// distribution in the first, further values in more documents.
    pub fn documents(&self, counts: &Counts, timestamp_ms: u64) -> Vec<Value> {
        let resource = counts
            .resource
            .as_deref()
            .filter(|_| self.per_resource)
            .map(truncate);
        let mut docs = Vec::new();
        let mut chunk = 0;
        loop {
            let mut root = Map::new();
            let mut defs = Vec::new();
            for metric in Metric::ALL {
                let value = if metric.is_distribution() {
                    let values = counts.values.get(&metric).map_or(&[][..], |v| &v[..]);
                    let part: Vec<f64> = values
                        .iter()
                        .skip(chunk * MAX_VALUES)
                        .take(MAX_VALUES)
                        .copied()
                        .collect();
                    (!part.is_empty()).then(|| json!(part))
                } else if chunk == 0 {
                    counts.totals.get(&metric).map(|n| json!(n))
                } else {
                    None
                };
                if let Some(value) = value {
                    root.insert(metric.name().into(), value);
                    defs.push(json!({"Name": metric.name(), "Unit": metric.unit()}));
                }
            }
            if defs.is_empty() {
                return docs;
            }
            root.insert("level".into(), json!(self.level));
            let mut dimensions = vec![json!(["FunctionName"])];
            root.insert("FunctionName".into(), json!(self.function));
            if let Some(resource) = &resource {
                dimensions.push(json!(["FunctionName", "Resource"]));
                root.insert("Resource".into(), json!(resource));
            }
            root.insert(
                "_aws".into(),
                json!({
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [{
                        "Namespace": self.namespace,
                        "Dimensions": dimensions,
                        "Metrics": defs,
                    }],
                }),
            );
            docs.push(Value::Object(root));
            chunk += 1;
        }
    }
}

/// `s` cut to [`MAX_DIMENSION_VALUE`] bytes at a character boundary.
fn truncate(s: &str) -> String {
    let mut end = s.len().min(MAX_DIMENSION_VALUE);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::emf::check_document;

    fn writer(per_resource: bool) -> EmfWriter {
        EmfWriter {
            namespace: "DynamoDlm".into(),
            function: "lock".into(),
            per_resource,
            level: "INFO".into(),
        }
    }

    fn recorded() -> Metrics {
        let m = Metrics::default();
        m.begin("orders/42");
        m.count(Metric::Grants);
        m.count(Metric::Grants);
        m.count(Metric::StoreThrottles);
        m.observe(Metric::WaitToGrant, 12.5);
        m
    }

    #[test]
    fn counts_become_one_valid_document_with_the_function_dimension_only() {
        let docs = writer(false).documents(&recorded().take(), 1_700_000_000_000);
        assert_eq!(docs.len(), 1);
        let found = check_document(&docs[0]).unwrap();
        assert_eq!(
            found,
            [
                ("Grants".to_string(), json!(2)),
                ("WaitToGrant".to_string(), json!([12.5])),
                ("StoreThrottles".to_string(), json!(1)),
            ]
        );
        let d = &docs[0]["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(d["Dimensions"], json!([["FunctionName"]]));
        assert_eq!(d["Namespace"], "DynamoDlm");
        assert_eq!(docs[0]["_aws"]["Timestamp"], 1_700_000_000_000u64);
        assert_eq!(docs[0]["FunctionName"], "lock");
        assert!(
            docs[0].get("Resource").is_none(),
            "no per-resource dimension unless asked"
        );
        let units: Vec<_> = d["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Unit"].clone())
            .collect();
        assert_eq!(
            units,
            [json!("Count"), json!("Milliseconds"), json!("Count")]
        );
    }

    #[test]
    fn the_resource_dimension_is_added_when_asked() {
        let docs = writer(true).documents(&recorded().take(), 1);
        check_document(&docs[0]).unwrap();
        assert_eq!(
            docs[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["FunctionName"], ["FunctionName", "Resource"]])
        );
        assert_eq!(docs[0]["Resource"], "orders/42");
        let long = "é".repeat(600);
        let m = Metrics::default();
        m.begin(&long);
        m.count(Metric::Grants);
        let docs = writer(true).documents(&m.take(), 1);
        assert!(docs[0]["Resource"].as_str().unwrap().len() <= MAX_DIMENSION_VALUE);
        check_document(&docs[0]).unwrap();
    }

    #[test]
    fn nothing_recorded_writes_nothing_and_many_values_split() {
        assert!(writer(false).documents(&Counts::default(), 1).is_empty());
        let m = Metrics::default();
        m.count(Metric::Handoffs);
        for i in 0..(MAX_VALUES * 2 + 1) {
            m.observe(Metric::QueueDepthAtJoin, i as f64);
        }
        let docs = writer(false).documents(&m.take(), 1);
        assert_eq!(docs.len(), 3);
        let mut values = 0;
        let mut handoffs = 0;
        for doc in &docs {
            for (name, v) in check_document(doc).unwrap() {
                match name.as_str() {
                    "QueueDepthAtJoin" => values += v.as_array().unwrap().len(),
                    "Handoffs" => handoffs += v.as_u64().unwrap(),
                    other => panic!("{other}"),
                }
            }
        }
        assert_eq!(
            (values, handoffs),
            (MAX_VALUES * 2 + 1, 1),
            "each value once, each sum once"
        );
    }

    #[test]
    fn flush_writes_lines_and_takes_the_counts() {
        let m = recorded();
        let mut out = Vec::new();
        writer(false).flush(&m, &mut out, 5);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1);
        let doc: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        check_document(&doc).unwrap();
        let mut again = Vec::new();
        writer(false).flush(&m, &mut again, 6);
        assert!(again.is_empty(), "counts are written once");
    }

    #[test]
    fn the_checker_refuses_what_cloudwatch_would() {
        let good = writer(true).documents(&recorded().take(), 1).remove(0);
        let broken = |edit: &dyn Fn(&mut Value)| {
            let mut d = good.clone();
            edit(&mut d);
            check_document(&d).unwrap_err()
        };
        broken(&|d| d["_aws"]["Timestamp"] = json!("now"));
        broken(&|d| {
            d.as_object_mut().unwrap().remove("Grants");
        });
        broken(&|d| {
            d.as_object_mut().unwrap().remove("Resource");
        });
        broken(&|d| d["Grants"] = json!("2"));
        broken(&|d| d["_aws"]["CloudWatchMetrics"][0]["Namespace"] = json!(""));
        broken(&|d| d["_aws"]["CloudWatchMetrics"] = json!([]));
    }

    #[test]
    fn metrics_off_means_no_writer() {
        let config = Config {
            metrics_namespace: None,
            ..Config::default()
        };
        assert_eq!(EmfWriter::from_config(&config, "f", None), None);
        let w = EmfWriter::from_config(&Config::default(), "f", None).unwrap();
        assert_eq!(
            (w.namespace.as_str(), w.function.as_str()),
            ("DynamoDlm", "f")
        );
    }

    #[test]
    fn every_line_passes_the_log_level_filter_the_function_runs_at() {
        let level = |l: Option<&str>| {
            EmfWriter::from_config(&Config::default(), "f", l)
                .unwrap()
                .level
        };
        assert_eq!(level(None), "INFO");
        assert_eq!(level(Some("DEBUG")), "INFO");
        assert_eq!(level(Some("TRACE")), "INFO");
        assert_eq!(level(Some("INFO")), "INFO");
        assert_eq!(level(Some("warn")), "WARN");
        assert_eq!(level(Some("ERROR")), "ERROR");
        assert_eq!(level(Some("FATAL")), "FATAL");
        let w = EmfWriter {
            level: "ERROR".into(),
            ..writer(false)
        };
        let doc = w.documents(&recorded().take(), 1).remove(0);
        assert_eq!(doc["level"], "ERROR");
        check_document(&doc).unwrap();
    }
}
