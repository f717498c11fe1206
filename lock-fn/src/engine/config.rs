//! Function settings, read once from the environment at cold start.

use std::time::Duration;

/// Environment variable naming the lock table (default [`DEFAULT_TABLE`]).
pub const ENV_TABLE: &str = "LOCK_TABLE";
/// Environment variable for the lease used when a request has no `duration_ms`.
pub const ENV_DEFAULT_DURATION_MS: &str = "LOCK_DEFAULT_DURATION_MS";
/// Environment variable for the longest lease a request may ask for (guards against typos).
pub const ENV_MAX_DURATION_MS: &str = "LOCK_MAX_DURATION_MS";
/// Environment variable for how long before the invocation deadline a waiting acquire answers.
pub const ENV_DEADLINE_MARGIN_MS: &str = "LOCK_DEADLINE_MARGIN_MS";
/// Environment variable for how many times one throttled or failed write is tried in all.
pub const ENV_STORE_ATTEMPTS: &str = "LOCK_STORE_ATTEMPTS";
/// Environment variable for the mean interval between one waiter's attempts during a `wait_ms`
/// that does not queue (`"queue": false`).
pub const ENV_WAIT_POLL_MS: &str = "LOCK_WAIT_POLL_MS";
/// Environment variable for the queue's cap (a full queue answers busy).
pub const ENV_MAX_WAITERS: &str = "LOCK_MAX_WAITERS";
/// Environment variable for how long a waiter keeps its place without trying again.
pub const ENV_WAITER_TTL_MS: &str = "LOCK_WAITER_TTL_MS";
/// Environment variable for how often the head of the queue looks (a strongly consistent read).
pub const ENV_HEAD_POLL_MS: &str = "LOCK_HEAD_POLL_MS";
/// Environment variable for how many places at the front of the queue may wait in-function.
pub const ENV_ACTIVE_WAITERS: &str = "LOCK_ACTIVE_WAITERS";
/// Environment variable for the lease a handoff gives a waiter that is not waiting in-function
/// (it becomes its full lease when the waiter comes back and claims it).
pub const ENV_CLAIM_MS: &str = "LOCK_CLAIM_MS";

/// Environment variable for the function's reserved concurrency (the template sets it from the
/// same parameter as the function's `ReservedConcurrentExecutions`; unset or 0: none reserved).
pub const ENV_RESERVED_CONCURRENCY: &str = "LOCK_RESERVED_CONCURRENCY";
/// Environment variable for the in-function waiting budget: how many invocations of the function may
/// wait in-function at once, all locks together (0: none; unset: half the reserved concurrency, or
/// no bound beyond `LOCK_ACTIVE_WAITERS` per lock when none is reserved).
pub const ENV_WAIT_BUDGET: &str = "LOCK_WAIT_BUDGET";
/// CloudWatch namespace of the metrics lock-fn writes as Embedded Metric Format (empty: none).
pub const ENV_METRICS_NAMESPACE: &str = "LOCK_METRICS_NAMESPACE";
/// `true` adds a per-resource dimension to the metrics (one CloudWatch metric per lock name: costs
/// grow with the number of locks), beside the function-wide ones.
pub const ENV_METRICS_PER_RESOURCE: &str = "LOCK_METRICS_PER_RESOURCE";
/// The namespace when none is set.
pub const DEFAULT_METRICS_NAMESPACE: &str = "DynamoDlm";

/// Every environment variable lock-fn reads (the SAM template must only set these).
pub const ALL_ENV: [&str; 15] = [
    ENV_TABLE,
    ENV_DEFAULT_DURATION_MS,
    ENV_MAX_DURATION_MS,
    ENV_DEADLINE_MARGIN_MS,
    ENV_STORE_ATTEMPTS,
    ENV_WAIT_POLL_MS,
    ENV_MAX_WAITERS,
    ENV_WAITER_TTL_MS,
    ENV_HEAD_POLL_MS,
    ENV_ACTIVE_WAITERS,
    ENV_CLAIM_MS,
    ENV_RESERVED_CONCURRENCY,
    ENV_WAIT_BUDGET,
    ENV_METRICS_NAMESPACE,
    ENV_METRICS_PER_RESOURCE,
];

/// dynamo-dlm's default table name, so both can share one table without configuration.
pub const DEFAULT_TABLE: &str = "dynamo_dlm_locks";

/// Validated settings of the lock engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// DynamoDB table holding the locks (partition key `resource_id`, String, no sort key).
    pub table: String,
    /// Lease when a request does not say (dynamo-dlm's 10 s).
    pub default_duration: Duration,
    /// Longest lease a request may ask for.
    pub max_duration: Duration,
    /// A waiting acquire answers at the latest this long before the invocation deadline.
    pub deadline_margin: Duration,
    /// Attempts per write when DynamoDB throttles or fails transiently (1 = no retry).
    pub store_attempts: u32,
    /// Mean interval between one waiter's attempts while an acquire waits without queueing.
    pub wait_poll: Duration,
    /// The queue's cap.
    pub max_waiters: usize,
    /// A waiter that does not try again within this long loses its place.
    pub waiter_ttl: Duration,
    /// How often the head of the queue looks while it waits in-function.
    pub head_poll: Duration,
    /// How many places at the front of the queue may wait in-function (the others are answered at
    /// once with a hint of when to come back): bounds the function instances waiting takes.
    pub active_waiters: usize,
    /// The lease a handoff gives a waiter that is not waiting in-function, until it claims it.
    pub claim: Duration,
    /// How many invocations may wait in-function at once, all locks together (`None`: no bound
    /// beyond [`Config::active_waiters`] per lock). Every other wait is answered at once, so that
    /// waits never hold every instance while releases, renewals, claims and cancels wait for one.
    pub wait_budget: Option<usize>,
    /// CloudWatch namespace of the EMF metrics (`None`: no metrics written).
    pub metrics_namespace: Option<String>,
    /// Whether the metrics also carry a per-resource dimension.
    pub metrics_per_resource: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            table: DEFAULT_TABLE.to_string(),
            default_duration: Duration::from_secs(10),
            max_duration: Duration::from_secs(12 * 60 * 60),
            deadline_margin: Duration::from_millis(300),
            store_attempts: 6,
            wait_poll: Duration::from_millis(64),
            max_waiters: 64,
            waiter_ttl: Duration::from_secs(5),
            head_poll: Duration::from_millis(2),
            active_waiters: 3,
            claim: Duration::from_secs(2),
            wait_budget: None,
            metrics_namespace: Some(DEFAULT_METRICS_NAMESPACE.to_string()),
            metrics_per_resource: false,
        }
    }
}

/// A setting that cannot be used; the function refuses to start with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let defaults = Config::default();
        let millis = |name: &str, default: Duration| -> Result<Duration, ConfigError> {
            match lookup(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .map(Duration::from_millis)
                    .map_err(|_| {
                        ConfigError(format!(
                            "{name}={v:?} is not a whole number of milliseconds"
                        ))
                    }),
            }
        };
        let count = |name: &str,
                     default: usize,
                     range: std::ops::RangeInclusive<usize>|
         -> Result<usize, ConfigError> {
            match lookup(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| range.contains(n))
                    .ok_or_else(|| {
                        ConfigError(format!(
                            "{name}={v:?} must be {} to {}",
                            range.start(),
                            range.end()
                        ))
                    }),
            }
        };
        let table = lookup(ENV_TABLE).unwrap_or(defaults.table);
        if table.len() < 3 || table.len() > 255 {
            return Err(ConfigError(format!(
                "{ENV_TABLE}={table:?} is not a valid DynamoDB table name (3 to 255 characters)"
            )));
        }
        let reserved = count(ENV_RESERVED_CONCURRENCY, 0, 0..=100_000)?;
        let wait_budget = match lookup(ENV_WAIT_BUDGET) {
            Some(_) => Some(count(ENV_WAIT_BUDGET, 0, 0..=100_000)?),
            None => budget_for(reserved),
        };
        if let Some(budget) = wait_budget.filter(|b| reserved > 0 && *b >= reserved) {
            // Instances all waiting would leave none for the releases the waits wait for.
            return Err(ConfigError(format!(
                "{ENV_WAIT_BUDGET}={budget} must be below {ENV_RESERVED_CONCURRENCY}={reserved}: \
                 the instances that do not wait serve releases, renewals and cancels"
            )));
        }
        let metrics_namespace = match lookup(ENV_METRICS_NAMESPACE) {
            None => defaults.metrics_namespace,
            Some(v) if v.trim().is_empty() => None,
            // CloudWatch: 1 to 255 characters, no colon-only names (`AWS/` is AWS's own).
            Some(v) if v.len() > 255 || v.starts_with("AWS/") || v.contains(':') => {
                return Err(ConfigError(format!(
                    "{ENV_METRICS_NAMESPACE}={v:?} is not a namespace CloudWatch accepts for custom metrics"
                )))
            }
            Some(v) => Some(v.trim().to_string()),
        };
        let metrics_per_resource = match lookup(ENV_METRICS_PER_RESOURCE).as_deref().map(str::trim)
        {
            None | Some("" | "false") => false,
            Some("true") => true,
            Some(v) => {
                return Err(ConfigError(format!(
                    "{ENV_METRICS_PER_RESOURCE}={v:?} must be true or false"
                )))
            }
        };
        let config = Config {
            table,
            wait_budget,
            metrics_namespace,
            metrics_per_resource,
            default_duration: millis(ENV_DEFAULT_DURATION_MS, defaults.default_duration)?,
            max_duration: millis(ENV_MAX_DURATION_MS, defaults.max_duration)?,
            deadline_margin: millis(ENV_DEADLINE_MARGIN_MS, defaults.deadline_margin)?,
            wait_poll: millis(ENV_WAIT_POLL_MS, defaults.wait_poll)?.max(Duration::from_millis(1)),
            waiter_ttl: millis(ENV_WAITER_TTL_MS, defaults.waiter_ttl)?
                .max(Duration::from_millis(100)),
            head_poll: millis(ENV_HEAD_POLL_MS, defaults.head_poll)?.max(Duration::from_millis(1)),
            claim: millis(ENV_CLAIM_MS, defaults.claim)?.max(Duration::from_millis(10)),
            max_waiters: count(ENV_MAX_WAITERS, defaults.max_waiters, 1..=256)?,
            active_waiters: count(ENV_ACTIVE_WAITERS, defaults.active_waiters, 1..=16)?,
            store_attempts: match lookup(ENV_STORE_ATTEMPTS) {
                None => defaults.store_attempts,
                Some(v) => v
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=20).contains(n))
                    .ok_or_else(|| {
                        ConfigError(format!("{ENV_STORE_ATTEMPTS}={v:?} must be 1 to 20"))
                    })?,
            },
        };
        if config.default_duration.is_zero() || config.default_duration > config.max_duration {
            return Err(ConfigError(format!(
                "{ENV_DEFAULT_DURATION_MS} must be between 1 and {ENV_MAX_DURATION_MS} ({} ms)",
                config.max_duration.as_millis()
            )));
        }
        Ok(config)
    }
}

/// The in-function waiting budget a function with `reserved` concurrency can afford: half its
/// instances (at least one when it has two), so that the other half always serves releases,
/// renewals, claims and cancels; no bound when nothing is reserved (0).
pub fn budget_for(reserved: usize) -> Option<usize> {
    match reserved {
        0 => None,
        1 => Some(0),
        r => Some(r / 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_match_dynamo_dlm() {
        let c = from(&[]).unwrap();
        assert_eq!(c.table, "dynamo_dlm_locks");
        assert_eq!(c.default_duration, Duration::from_secs(10));
    }

    #[test]
    fn metrics_settings_are_read_and_checked() {
        let c = from(&[]).unwrap();
        assert_eq!(
            c.metrics_namespace.as_deref(),
            Some(DEFAULT_METRICS_NAMESPACE)
        );
        assert!(!c.metrics_per_resource);
        let c = from(&[
            (ENV_METRICS_NAMESPACE, "Team/Locks"),
            (ENV_METRICS_PER_RESOURCE, "true"),
        ])
        .unwrap();
        assert_eq!(c.metrics_namespace.as_deref(), Some("Team/Locks"));
        assert!(c.metrics_per_resource);
        assert_eq!(
            from(&[(ENV_METRICS_NAMESPACE, " ")])
                .unwrap()
                .metrics_namespace,
            None
        );
        for bad in ["AWS/Lambda", "a:b"] {
            assert!(from(&[(ENV_METRICS_NAMESPACE, bad)]).is_err(), "{bad}");
        }
        assert!(from(&[(ENV_METRICS_PER_RESOURCE, "yes")]).is_err());
    }

    #[test]
    fn overrides_are_read_and_checked() {
        let c = from(&[
            (ENV_TABLE, "locks"),
            (ENV_DEFAULT_DURATION_MS, "500"),
            (ENV_MAX_DURATION_MS, "1000"),
        ])
        .unwrap();
        assert_eq!(
            (
                c.table.as_str(),
                c.default_duration.as_millis(),
                c.max_duration.as_millis()
            ),
            ("locks", 500, 1000)
        );
        assert!(from(&[(ENV_DEFAULT_DURATION_MS, "ten")])
            .unwrap_err()
            .0
            .contains(ENV_DEFAULT_DURATION_MS));
        assert!(from(&[(ENV_DEFAULT_DURATION_MS, "0")]).is_err());
        assert!(from(&[
            (ENV_DEFAULT_DURATION_MS, "2000"),
            (ENV_MAX_DURATION_MS, "1000")
        ])
        .is_err());
        assert!(from(&[(ENV_STORE_ATTEMPTS, "0")]).is_err());
        assert!(from(&[(ENV_MAX_WAITERS, "0")]).is_err());
        assert_eq!(from(&[(ENV_MAX_WAITERS, "8")]).unwrap().max_waiters, 8);
        assert!(from(&[(ENV_TABLE, "x")]).is_err());
    }

    #[test]
    fn the_waiting_budget_follows_the_reserved_concurrency_unless_set() {
        assert_eq!(from(&[]).unwrap().wait_budget, None);
        let budget = |pairs: &[(&str, &str)]| from(pairs).unwrap().wait_budget;
        assert_eq!(budget(&[(ENV_RESERVED_CONCURRENCY, "1")]), Some(0));
        assert_eq!(budget(&[(ENV_RESERVED_CONCURRENCY, "2")]), Some(1));
        assert_eq!(budget(&[(ENV_RESERVED_CONCURRENCY, "20")]), Some(10));
        assert_eq!(
            budget(&[(ENV_RESERVED_CONCURRENCY, "20"), (ENV_WAIT_BUDGET, "3")]),
            Some(3)
        );
        assert_eq!(budget(&[(ENV_WAIT_BUDGET, "0")]), Some(0));
        assert!(from(&[(ENV_WAIT_BUDGET, "x")]).is_err());
        // Every instance waiting would starve the releases the waits wait for.
        assert_eq!(
            budget(&[(ENV_RESERVED_CONCURRENCY, "4"), (ENV_WAIT_BUDGET, "3")]),
            Some(3)
        );
        for (reserved, asked) in [("4", "4"), ("4", "5"), ("1", "1")] {
            let refused = from(&[
                (ENV_RESERVED_CONCURRENCY, reserved),
                (ENV_WAIT_BUDGET, asked),
            ]);
            assert!(
                refused
                    .as_ref()
                    .is_err_and(|e| e.to_string().contains("must be below")),
                "{reserved}/{asked}: {refused:?}"
            );
        }
    }
}
