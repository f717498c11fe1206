//! template.yaml, the examples' templates and the state machines agree with what lock-fn reads,
//! writes and emits, and the examples take every lock name from the lock's outputs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use lock_fn::engine::config::{ALL_ENV, DEFAULT_TABLE, ENV_TABLE};
use lock_fn::model::item::{ATTR_PURGE_AT, ATTR_RESOURCE_ID};
use lock_protocol::{ErrorType, Request, DEFAULT_FUNCTION};
use serde_json::Value as Json;
use serde_yaml_ng::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A template, by its path from the repository's root.
fn template_at(path: &str) -> Value {
    let text = std::fs::read_to_string(root().join(path)).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

/// The lock's own template.
fn template() -> Value {
    template_at("template.yaml")
}

/// The examples' template (nests the lock).
const EXAMPLES: &str = "examples/template.yaml";
/// The cleanup of dead executions (nested by the examples and by a consumer).
const CLEANUP: &str = "examples/cleanup/template.yaml";
/// The consumer that imports the lock stack's exports.
const IMPORTER: &str = "examples/import-consumer/template.yaml";

fn resource<'a>(t: &'a Value, name: &str) -> &'a Value {
    &t["Resources"][name]
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn function_env_names_are_exactly_ones_lock_fn_reads() {
    let t = template();
    let vars = resource(&t, "LockFunction")["Properties"]["Environment"]["Variables"]
        .as_mapping()
        .unwrap();
    for name in vars.keys() {
        let name = name.as_str().unwrap();
        assert!(
            ALL_ENV.contains(&name),
            "template sets {name}, which lock-fn never reads"
        );
    }
    assert!(vars.contains_key(ENV_TABLE));
}

#[test]
fn names_and_defaults_match_the_code() {
    let t = template();
    assert_eq!(
        t["Parameters"]["LockTableName"]["Default"].as_str(),
        Some(DEFAULT_TABLE)
    );
    assert_eq!(
        t["Parameters"]["LockFunctionName"]["Default"].as_str(),
        Some(DEFAULT_FUNCTION)
    );
    let table = &resource(&t, "LockTable")["Properties"];
    assert_eq!(
        table["KeySchema"].as_sequence().unwrap().len(),
        1,
        "no sort key"
    );
    assert_eq!(
        table["KeySchema"][0]["AttributeName"].as_str(),
        Some(ATTR_RESOURCE_ID)
    );
    assert_eq!(
        table["AttributeDefinitions"][0]["AttributeType"].as_str(),
        Some("S")
    );
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(ATTR_PURGE_AT)
    );
    assert_eq!(
        resource(&t, "LockTable")["DeletionPolicy"].as_str(),
        Some("Retain")
    );

    let f = resource(&t, "LockFunction");
    assert_eq!(
        f["Metadata"]["BuildMethod"].as_str(),
        Some("rust-cargolambda")
    );
    assert_eq!(
        f["Metadata"]["BuildProperties"]["Binary"].as_str(),
        Some("lock-fn")
    );
    assert_eq!(f["Properties"]["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(f["Properties"]["Handler"].as_str(), Some("bootstrap"));
    assert_eq!(strings(&f["Properties"]["Architectures"]), ["arm64"]);
}

/// Every `.rs` file under `dir`, its folders included.
fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The AWS actions lock-fn's code calls: every `.xxx()` call named in `ops` on a client in
/// `src/`, as `service:PascalCase`.
fn actions_in_code(service: &str, ops: &[&str]) -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    for path in rust_files(&root().join("lock-fn/src")) {
        let text = std::fs::read_to_string(path).unwrap();
        for op in ops {
            if text.contains(&format!(".{op}()")) {
                let pascal: String = op
                    .split('_')
                    .map(|w| w[..1].to_uppercase() + &w[1..])
                    .collect();
                actions.insert(format!("{service}:{pascal}"));
            }
        }
    }
    actions
}

fn set(actions: &[&str]) -> BTreeSet<String> {
    actions.iter().map(|a| a.to_string()).collect()
}

#[test]
fn the_function_may_only_touch_its_table_item_by_item_and_wake_tasks() {
    let t = template();
    let policies = resource(&t, "LockFunction")["Properties"]["Policies"]
        .as_sequence()
        .unwrap();
    assert_eq!(policies.len(), 1);
    let statements = policies[0]["Statement"].as_sequence().unwrap();
    assert_eq!(
        statements.len(),
        2,
        "the table, and waking Step Functions tasks"
    );
    let actions =
        |i: usize| -> BTreeSet<String> { strings(&statements[i]["Action"]).into_iter().collect() };

    let table = set(&["dynamodb:UpdateItem", "dynamodb:GetItem"]);
    assert_eq!(
        actions(0),
        table,
        "least privilege: exactly what the code calls"
    );
    let dynamodb_ops = [
        "get_item",
        "put_item",
        "update_item",
        "delete_item",
        "query",
        "scan",
    ];
    assert_eq!(actions_in_code("dynamodb", &dynamodb_ops), table);
    let target = format!("{:?}", statements[0]["Resource"]);
    assert!(
        target.contains("LockTable.Arn"),
        "policy resource is the lock table only: {target}"
    );

    let wake = set(&["states:SendTaskSuccess", "states:SendTaskFailure"]);
    assert_eq!(
        actions(1),
        wake,
        "least privilege: exactly what the code calls"
    );
    let sfn_ops = [
        "send_task_success",
        "send_task_failure",
        "send_task_heartbeat",
    ];
    assert_eq!(actions_in_code("states", &sfn_ops), wake);
    // Task tokens are not resources IAM can name.
    assert_eq!(statements[1]["Resource"].as_str(), Some("*"));
}

/// Every ASL file the examples deploy (with the cleanup), by resource name; each `DefinitionUri`
/// is read relative to its template's folder.
fn state_machines() -> Vec<(String, Json)> {
    let mut out = Vec::new();
    for path in [EXAMPLES, CLEANUP] {
        let t = template_at(path);
        let dir = root().join(path).parent().unwrap().to_path_buf();
        for (name, r) in t["Resources"].as_mapping().unwrap() {
            if r["Type"].as_str() == Some("AWS::Serverless::StateMachine") {
                let file = r["Properties"]["DefinitionUri"].as_str().unwrap();
                let text = std::fs::read_to_string(dir.join(file)).unwrap();
                out.push((
                    name.as_str().unwrap().to_string(),
                    serde_json::from_str(&text).unwrap(),
                ));
            }
        }
    }
    assert_eq!(
        out.len(),
        4,
        "the polling, callback and semaphore examples and their cleanup"
    );
    out
}

fn walk<'a>(v: &'a Json, key: &str, found: &mut Vec<&'a Json>) {
    match v {
        Json::Object(m) => {
            for (k, child) in m {
                if k == key {
                    found.push(child);
                }
                walk(child, key, found);
            }
        }
        Json::Array(a) => a.iter().for_each(|c| walk(c, key, found)),
        _ => {}
    }
}

#[test]
fn every_error_the_state_machines_match_is_one_lock_fn_emits() {
    for (name, asl) in state_machines() {
        let mut lists = Vec::new();
        walk(&asl, "ErrorEquals", &mut lists);
        assert!(!lists.is_empty());
        for e in lists.iter().flat_map(|l| l.as_array().unwrap()) {
            let e = e.as_str().unwrap();
            let known = e.starts_with("States.")
                || e.starts_with("Lambda.")
                || ErrorType::from_name(e).is_some();
            assert!(known, "{name} matches {e:?}, which lock-fn never emits");
        }
    }
}

#[test]
fn busy_retries_back_off_with_full_jitter() {
    let (_, example) = state_machines()
        .into_iter()
        .find(|(n, _)| n == "LockExampleStateMachine")
        .unwrap();
    let retry = &example["States"]["AcquireLock"]["Retry"];
    let busy = retry
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ErrorEquals"] == serde_json::json!(["LockBusy"]))
        .unwrap();
    assert_eq!(busy["JitterStrategy"], "FULL");
    assert!(busy["BackoffRate"].as_f64().unwrap() > 1.0);
    assert_eq!(
        example["States"]["AcquireLock"]["Parameters"]["Payload"]["on_busy"],
        "error"
    );
}

#[test]
fn every_release_after_a_grant_names_its_fence() {
    for (name, asl) in state_machines() {
        let mut payloads = Vec::new();
        walk(&asl, "Payload", &mut payloads);
        for p in payloads.iter().filter(|p| p["op"] == "release") {
            let fenced = p.get("fence.$").is_some();
            // The only unfenced release is the one after a failed acquire (no grant to name).
            assert!(
                fenced || name == "LockExampleStateMachine",
                "{name} releases without a fence: {p}"
            );
        }
        let unfenced = payloads
            .iter()
            .filter(|p| p["op"] == "release" && p.get("fence.$").is_none())
            .count();
        assert!(unfenced <= 1, "{name}: {unfenced} unfenced releases");
    }
}

#[test]
fn every_payload_the_state_machines_send_is_a_valid_request() {
    for (name, asl) in state_machines() {
        let mut payloads = Vec::new();
        walk(&asl, "Payload", &mut payloads);
        let payloads: Vec<_> = payloads.into_iter().filter(|p| p.is_object()).collect();
        assert!(!payloads.is_empty());
        for p in payloads {
            // "field.$": JSONPath fills in a value at run time (a number for counters such as the
            // fence, a string otherwise); stand one in.
            let concrete: serde_json::Map<String, Json> = p
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| match k.strip_suffix(".$") {
                    Some(field @ ("fence" | "duration_ms" | "wait_ms" | "limit")) => {
                        (field.to_string(), Json::from(1))
                    }
                    Some(field) => (field.to_string(), Json::String("from-path".into())),
                    None => (k.clone(), v.clone()),
                })
                .collect();
            let request = Json::Object(concrete);
            assert!(
                Request::from_json(&request).is_ok(),
                "{name} sends {request}, which lock-fn rejects"
            );
        }
    }
}

#[test]
fn release_builds_unwind_so_that_the_invocation_loop_can_answer_panics() {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let release = manifest
        .split("[profile.release]")
        .nth(1)
        .expect("a release profile")
        .split("\n[")
        .next()
        .unwrap();
    assert!(
        release.contains("panic = \"unwind\""),
        "panic = \"abort\" would make the invocation loop's catch_unwind dead code: {release}"
    );
}

fn machine(name: &str) -> Json {
    state_machines()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("template deploys no {name}"))
        .1
}

/// The callback example waits for lock-fn's SendTaskSuccess, and its place outlives the task's
/// timeout, after which it comes back (a `Catch` loop: `Retry` would reuse the token).
#[test]
fn the_callback_example_waits_for_its_token_and_comes_back_in_time() {
    let asl = machine("LockWaitStateMachine");
    let acquire = &asl["States"]["AcquireLock"];
    assert_eq!(
        acquire["Resource"],
        "arn:aws:states:::lambda:invoke.waitForTaskToken"
    );
    let payload = &acquire["Parameters"]["Payload"];
    assert_eq!(payload["task_token.$"], "$$.Task.Token");
    assert_eq!(payload["owner.$"], "$$.Execution.Id");
    let wait_ms = payload["wait_ms"].as_u64().unwrap();
    let timeout_ms = acquire["TimeoutSeconds"].as_u64().unwrap() * 1000;
    assert!(
        wait_ms > timeout_ms && wait_ms <= lock_protocol::MAX_WAIT_MS,
        "the place ({wait_ms} ms) must outlast the task's timeout ({timeout_ms} ms)"
    );
    assert!(
        acquire.get("Retry").is_none(),
        "Retry reuses the task token"
    );
    let timeout = acquire["Catch"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["ErrorEquals"] == serde_json::json!(["States.Timeout"]))
        .expect("a timeout comes back");
    assert_eq!(
        asl["States"][timeout["Next"].as_str().unwrap()]["Next"],
        "AcquireLock"
    );
    assert_eq!(asl["States"]["Work"]["Type"], "Wait");
}

/// The cleanup rule watches exactly the state machines its nesting stack lists, and the examples
/// list every state machine that takes the lock.
#[test]
fn the_cleanup_rule_covers_every_example() {
    let cleanup = template_at(CLEANUP);
    let rule =
        &resource(&cleanup, "LockCleanupStateMachine")["Properties"]["Events"]["DeadExecutions"];
    assert_eq!(
        tagged(&rule["Properties"]["Pattern"]["detail"]["stateMachineArn"]),
        Some(("Ref", "StateMachineArns".to_string())),
        "the watched state machines are the nesting stack's parameter, not ours to edit"
    );
    let examples = template_at(EXAMPLES);
    let cleanup_app = resource(&examples, "Cleanup");
    assert_eq!(
        cleanup_app["Properties"]["Location"].as_str(),
        Some("cleanup/template.yaml")
    );
    let listed =
        serde_yaml_ng::to_string(&cleanup_app["Properties"]["Parameters"]["StateMachineArns"])
            .unwrap();
    for (name, _) in state_machines() {
        if name != "LockCleanupStateMachine" {
            assert!(
                listed.contains(&format!("!Ref {name}")),
                "{name} is not cleaned up: {listed}"
            );
        }
    }
}

/// `(tag, value)` of a short-form intrinsic (`!Ref X` gives `("Ref", "X")`), `None` otherwise.
fn tagged(v: &Value) -> Option<(&'static str, String)> {
    let Value::Tagged(t) = v else { return None };
    let tag = t.tag.to_string();
    let name = ["Ref", "GetAtt", "Sub", "ImportValue", "Join", "If"]
        .into_iter()
        .find(|n| tag == format!("!{n}"))?;
    Some((
        name,
        serde_yaml_ng::to_string(&t.value)
            .unwrap()
            .trim()
            .to_string(),
    ))
}

/// Every scalar string in `v`, with the intrinsics it sits under, outermost first, joined by `/`
/// (`""` when none; `Fn::ImportValue/!Sub` for `Fn::ImportValue: !Sub "..."`).
fn strings_under(v: &Value, tag: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) => out.push((tag.to_string(), s.clone())),
        Value::Sequence(items) => items.iter().for_each(|i| strings_under(i, tag, out)),
        Value::Mapping(m) => {
            for (k, child) in m {
                let key = k.as_str().unwrap_or_default();
                if key.starts_with("Fn::") {
                    strings_under(child, &nested(tag, key), out);
                } else {
                    strings_under(child, tag, out);
                }
            }
        }
        Value::Tagged(t) => strings_under(&t.value, &nested(tag, &t.tag.to_string()), out),
        _ => {}
    }
}

fn nested(outer: &str, inner: &str) -> String {
    if outer.is_empty() {
        inner.to_string()
    } else {
        format!("{outer}/{inner}")
    }
}

/// The outputs the lock's template exports, each as `${AWS::StackName}-<output name>`.
fn lock_outputs() -> Vec<String> {
    let t = template();
    let outputs = t["Outputs"].as_mapping().unwrap();
    outputs
        .iter()
        .map(|(name, o)| {
            let name = name.as_str().unwrap().to_string();
            assert_eq!(
                tagged(&o["Export"]["Name"]),
                Some(("Sub", format!("${{AWS::StackName}}-{name}"))),
                "output {name} is exported under the stack's name"
            );
            name
        })
        .collect()
}

/// The examples nest the lock from its own template and take every lock name and ARN from its
/// outputs: no name the lock's template makes is written into them.
#[test]
fn the_nested_example_wires_the_locks_outputs() {
    let outputs = lock_outputs();
    for needed in ["LockFunctionName", "LockFunctionArn", "InvokeLockPolicyArn"] {
        assert!(
            outputs.iter().any(|o| o == needed),
            "{needed} is not an output"
        );
    }
    let t = template_at(EXAMPLES);
    let lock = resource(&t, "Lock");
    assert_eq!(lock["Type"].as_str(), Some("AWS::Serverless::Application"));
    let location = lock["Properties"]["Location"].as_str().unwrap();
    assert_eq!(
        root()
            .join("examples")
            .join(location)
            .canonicalize()
            .unwrap(),
        root().join("template.yaml").canonicalize().unwrap()
    );
    // Every parameter passed is one the lock declares.
    let declared = template()["Parameters"].clone();
    for (name, _) in lock["Properties"]["Parameters"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        assert!(
            !declared[name].is_null(),
            "the lock has no parameter {name}"
        );
    }

    let mut found = Vec::new();
    strings_under(&t["Resources"], "", &mut found);
    let mut wired = 0;
    for (tag, s) in &found {
        if let Some(output) = s.strip_prefix("Lock.Outputs.") {
            assert_eq!(tag, "!GetAtt", "{s}");
            assert!(
                outputs.iter().any(|o| o == output),
                "the lock has no output {output}"
            );
            wired += 1;
        }
        for name in [
            DEFAULT_FUNCTION,
            DEFAULT_TABLE,
            "arn:aws:lambda",
            "arn:aws:iam",
        ] {
            assert!(
                !s.contains(name),
                "a hard-coded lock name in {EXAMPLES}: {s}"
            );
        }
    }
    // Three state machines' function and policy, the cleanup's function, counter-fn's function
    // name and policy.
    assert_eq!(wired, 9, "{found:?}");
    for machine in [
        "LockExampleStateMachine",
        "LockWaitStateMachine",
        "SemaphoreMapStateMachine",
    ] {
        let props = &resource(&t, machine)["Properties"];
        assert_eq!(
            tagged(&props["DefinitionSubstitutions"]["LockFunctionArn"]),
            Some(("GetAtt", "Lock.Outputs.LockFunctionArn".into()))
        );
        assert_eq!(
            tagged(&props["Policies"][0]),
            Some(("GetAtt", "Lock.Outputs.InvokeLockPolicyArn".into()))
        );
    }
    let counter = &resource(&t, "CounterFunction")["Properties"];
    assert_eq!(
        tagged(&counter["Environment"]["Variables"]["DLM_FUNCTION"]),
        Some(("GetAtt", "Lock.Outputs.LockFunctionName".into()))
    );
}

/// The importing consumer names only exports the lock's template makes.
#[test]
fn the_importing_consumer_names_the_locks_exports() {
    let outputs = lock_outputs();
    let t = template_at(IMPORTER);
    let mut found = Vec::new();
    strings_under(&t["Resources"], "", &mut found);
    let imports: Vec<&str> = found
        .iter()
        .filter(|(tag, _)| tag == "Fn::ImportValue/!Sub")
        .map(|(_, s)| s.as_str())
        .collect();
    assert_eq!(imports.len(), 3, "{found:?}");
    for import in imports {
        let output = import
            .strip_prefix("${LockStackName}-")
            .unwrap_or_else(|| panic!("{import} is not <lock stack>-<output>"));
        assert!(
            outputs.iter().any(|o| o == output),
            "the lock exports no {output}"
        );
    }
}

/// A consumer sets the lock's names, lease limits, waiting budget, concurrency and log level; the
/// application can be published (its version is the workspace's).
#[test]
fn the_lock_is_a_publishable_application_with_consumer_parameters() {
    let t = template();
    for p in [
        "NamePrefix",
        "DefaultDurationMs",
        "MaxDurationMs",
        "WaitBudget",
        "ReservedConcurrency",
        "LogLevel",
    ] {
        assert!(!t["Parameters"][p].is_null(), "no parameter {p}");
    }
    let props = |r: &str| resource(&t, r)["Properties"].clone();
    for (r, key) in [("LockTable", "TableName"), ("LockFunction", "FunctionName")] {
        let name = tagged(&props(r)[key]).unwrap().1;
        assert!(name.starts_with("${NamePrefix}"), "{r}: {name}");
    }
    assert_eq!(
        tagged(&props("LockFunction")["LoggingConfig"]["ApplicationLogLevel"]),
        Some(("Ref", "LogLevel".into()))
    );
    let app = &t["Metadata"]["AWS::ServerlessRepo::Application"];
    assert_eq!(
        app["SemanticVersion"].as_str(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    for field in [
        "Name",
        "Description",
        "Author",
        "SpdxLicenseId",
        "ReadmeUrl",
    ] {
        assert!(app[field].as_str().is_some(), "no {field}");
    }
    assert!(root().join(app["ReadmeUrl"].as_str().unwrap()).exists());
    // The lock alone: no example is welded into it.
    for (name, r) in t["Resources"].as_mapping().unwrap() {
        let kind = r["Type"].as_str().unwrap();
        assert!(
            !kind.contains("StateMachine") && !kind.contains("Events"),
            "{name:?} ({kind}) belongs to the examples"
        );
    }
}

/// One parameter sizes both the function's reserved concurrency and the in-function waiting budget
/// lock-fn derives from it: waits can then never hold every instance the function may have.
#[test]
fn the_reserved_concurrency_parameter_sizes_the_waiting_budget_too() {
    use lock_fn::engine::config::{ENV_RESERVED_CONCURRENCY, ENV_WAIT_BUDGET};
    let t = template();
    let props = &resource(&t, "LockFunction")["Properties"];
    let text = |v: &Value| serde_yaml_ng::to_string(v).unwrap();
    assert!(
        text(&props["ReservedConcurrentExecutions"]).contains("ReservedConcurrency"),
        "{}",
        text(&props["ReservedConcurrentExecutions"])
    );
    let vars = &props["Environment"]["Variables"];
    assert_eq!(
        text(&vars[ENV_RESERVED_CONCURRENCY]).trim(),
        "!Ref ReservedConcurrency"
    );
    assert!(text(&vars[ENV_WAIT_BUDGET]).contains("WaitBudget"));
    assert_eq!(
        t["Parameters"]["ReservedConcurrency"]["Default"].as_u64(),
        Some(0)
    );
}

/// The dashboard and the alarms read the metrics lock-fn writes, in the namespace and with the
/// dimension the function is given: every metric name is one lock-fn emits (or Lambda's own), and
/// the lost-lease and throttling alarms exist.
#[test]
fn the_dashboard_and_alarms_watch_metrics_lock_fn_writes() {
    use lock_fn::engine::config::{
        DEFAULT_METRICS_NAMESPACE, ENV_METRICS_NAMESPACE, ENV_METRICS_PER_RESOURCE,
    };
    use lock_fn::world::metrics::Metric;
    let t = template();
    let ours: BTreeSet<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
    let vars = &resource(&t, "LockFunction")["Properties"]["Environment"]["Variables"];
    assert_eq!(
        tagged(&vars[ENV_METRICS_NAMESPACE]),
        Some(("Ref", "MetricsNamespace".into()))
    );
    assert_eq!(
        tagged(&vars[ENV_METRICS_PER_RESOURCE]),
        Some(("Ref", "MetricsPerResource".into()))
    );
    assert_eq!(
        t["Parameters"]["MetricsNamespace"]["Default"].as_str(),
        Some(DEFAULT_METRICS_NAMESPACE)
    );
    assert_eq!(
        t["Parameters"]["MetricsPerResource"]["Default"].as_str(),
        Some("false"),
        "no per-resource dimension unless asked"
    );

    let mut alarmed = BTreeSet::new();
    for (name, r) in t["Resources"].as_mapping().unwrap() {
        if r["Type"].as_str() != Some("AWS::CloudWatch::Alarm") {
            continue;
        }
        let p = &r["Properties"];
        let metric = p["MetricName"].as_str().unwrap();
        if p["Namespace"].as_str() == Some("AWS/Lambda") {
            continue;
        }
        assert_eq!(
            tagged(&p["Namespace"]),
            Some(("Ref", "MetricsNamespace".into())),
            "{name:?}"
        );
        assert!(
            ours.contains(metric),
            "{name:?} watches {metric}, which lock-fn never writes"
        );
        assert_eq!(p["Dimensions"][0]["Name"].as_str(), Some("FunctionName"));
        assert_eq!(
            tagged(&p["Dimensions"][0]["Value"]),
            Some(("Ref", "LockFunction".into()))
        );
        alarmed.insert(metric.to_string());
    }
    assert_eq!(alarmed, set(&["LostLeases", "StoreThrottles"]));

    let dashboard = &resource(&t, "LockDashboard")["Properties"]["DashboardBody"];
    let Value::Tagged(sub) = dashboard else {
        panic!("the body is a !Sub")
    };
    let body = sub.value[0]
        .as_str()
        .unwrap()
        .replace("${AWS::Region}", "us-east-1")
        .replace("${Ns}", "Ns")
        .replace("${Fn}", "Fn");
    let body: Json = serde_json::from_str(&body).expect("the dashboard body is JSON");
    let mut shown = BTreeSet::new();
    for w in body["widgets"].as_array().unwrap() {
        let mut namespace = String::new();
        for m in w["properties"]["metrics"].as_array().unwrap() {
            let m = m.as_array().unwrap();
            if m[0] == "..." {
                continue;
            }
            if m[0] != "." {
                namespace = m[0].as_str().unwrap().to_string();
            }
            let metric = m[1].as_str().unwrap();
            if namespace == "Ns" {
                assert!(
                    ours.contains(metric),
                    "the dashboard shows {metric}, never written"
                );
                shown.insert(metric);
            }
        }
    }
    assert_eq!(shown, ours, "every metric is on the dashboard");
    assert_eq!(
        serde_yaml_ng::to_string(&sub.value[1]).unwrap().trim(),
        "Ns: !Ref MetricsNamespace\nFn: !Ref LockFunction"
    );
}
