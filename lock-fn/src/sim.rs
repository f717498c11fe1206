//! The deterministic simulator: the real engine (decisions, writes, retries, waits) on several
//! simulated lock-fn instances, each with a clock of its own a few ms off, sharing one in-memory
//! table that injects DynamoDB's faults; many clients of every kind drive them; a history checker
//! judges the run. Everything runs on one thread under tokio's paused clock, and every random
//! choice comes from the seed, so a failing seed replays exactly (`DLM_SIM_SEED=<seed>`).
//!
//! A run has two phases: chaos (faults on, clients racing), then calm (faults off): after the
//! calm phase every resource must be free to take within a bound, or the item is wedged.

pub mod actors;
pub mod check;
pub mod history;
pub mod shrink;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::callbacks::notify::Notifier;
use crate::callbacks::sim_tasks::{SimTasks, TaskFaults};
use crate::engine::config::Config;
use crate::engine::LockEngine;
use crate::store::sim_table::{Change, Faults, SimTable};
use crate::store::LockStore;
use crate::world::World;
use history::Event;

/// The epoch time every simulation starts at (2026-01-01).
pub const EPOCH_MS: u64 = 1_767_225_600_000;

/// What a run is made of.
#[derive(Debug, Clone)]
pub struct Settings {
    /// lock-fn instances.
    pub instances: usize,
    /// Largest clock error of an instance, either way, ms.
    pub max_skew_ms: i64,
    /// Clients of each kind.
    pub clients: actors::Mix,
    /// Operations each client performs.
    pub ops_per_client: usize,
    /// The table's faults during the chaos phase.
    pub faults: Faults,
    /// Step Functions' faults during the chaos phase.
    pub task_faults: TaskFaults,
    /// Per mille of invocations whose instance is killed mid-operation.
    pub kill: u32,
    /// Per mille of invocations whose answer never reaches the caller.
    pub lost_invoke: u32,
    /// Per mille of invocations the caller stops waiting for while they run on.
    pub abandon: u32,
    /// The semaphore's limit.
    pub sem_limit: u32,
    /// The in-function waiting budget.
    pub wait_budget: Option<usize>,
}

impl Settings {
    /// Settings drawn from the seed's generator: every run a different world.
    pub fn random() -> Settings {
        Settings {
            instances: fastrand::usize(1..=4),
            max_skew_ms: fastrand::i64(0..=5),
            clients: actors::Mix::random(),
            ops_per_client: fastrand::usize(2..=5),
            faults: Faults::random(fastrand::u32(..8) == 0),
            task_faults: TaskFaults {
                lost_answer: fastrand::u32(0..=100),
                failed: fastrand::u32(0..=100),
                duplicated: fastrand::u32(0..=100),
            },
            kill: fastrand::u32(0..=20),
            lost_invoke: fastrand::u32(0..=30),
            abandon: fastrand::u32(0..=30),
            sem_limit: fastrand::u32(2..=3),
            wait_budget: if fastrand::bool() {
                Some(fastrand::usize(1..=3))
            } else {
                None
            },
        }
    }
}

impl Faults {
    /// The table's faults drawn from the seed's generator; a `storm` (one world in eight) throttles
    /// 20-45 % of requests and fails or loses the answer of up to 15 % each, so that the store
    /// often gives up on a request.
    fn random(storm: bool) -> Faults {
        let (throttle, lost_answer, failed) = if storm {
            (200..=450, 0..=150, 0..=150)
        } else {
            (0..=100, 0..=80, 0..=40)
        };
        Faults {
            max_latency_ms: fastrand::u64(1..=20),
            throttle: fastrand::u32(throttle),
            lost_answer: fastrand::u32(lost_answer),
            late: fastrand::u32(0..=60),
            failed: fastrand::u32(failed),
        }
    }
}

/// What the clients share: the instances, the table, the history being written.
pub struct Sim {
    /// The lock-fn instances (each engine with its own clock).
    pub instances: Vec<LockEngine>,
    /// The table.
    pub table: Arc<SimTable>,
    /// Step Functions' callback tasks.
    pub tasks: Arc<SimTasks>,
    /// The run's settings.
    pub settings: Settings,
    /// Whether faults are still on.
    pub chaos: Mutex<bool>,
    events: Mutex<Vec<Event>>,
    invocations: std::sync::atomic::AtomicU64,
    killed: Mutex<std::collections::BTreeSet<u64>>,
}

impl Sim {
    /// Records an event.
    pub fn record(&self, e: Event) {
        self.events.lock().expect("events").push(e);
    }

    /// The true time.
    pub fn now_ms(&self) -> u64 {
        self.table.now_ms()
    }

    /// A new invocation's number.
    pub fn next_invocation(&self) -> u64 {
        self.invocations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Records that invocation `i`'s instance was killed mid-operation.
    pub fn killed(&self, i: u64) {
        self.killed.lock().expect("killed").insert(i);
    }

    /// Whether faults are on.
    pub fn chaotic(&self) -> bool {
        *self.chaos.lock().expect("chaos")
    }
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct Run {
    /// The seed.
    pub seed: u64,
    /// The settings it drew.
    pub settings: Settings,
    /// What clients did and were told.
    pub events: Vec<Event>,
    /// Every change the table applied.
    pub log: Vec<Change>,
    /// Requests the table refused as malformed.
    pub invalid: Vec<String>,
    /// The invocations that met a fault of the table.
    pub faulted: std::collections::BTreeSet<u64>,
    /// The invocations whose instance was killed mid-operation.
    pub killed: std::collections::BTreeSet<u64>,
    /// Every `SendTaskSuccess` attempt: the task token, and when (true ms).
    pub sends: Vec<(String, u64)>,
}

impl Run {
    /// Operations simulated (answers clients received, and changes).
    pub fn operations(&self) -> usize {
        self.events.len() + self.log.len()
    }

    /// A digest of the whole run, to compare two runs of one seed.
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        format!("{:?}", self.events).hash(&mut h);
        for c in &self.log {
            (c.at_ms, &c.key, &c.by, sorted(&c.after)).hash(&mut h);
        }
        h.finish()
    }
}

fn sorted(item: &Option<crate::store::memory::Item>) -> String {
    match item {
        None => "-".into(),
        Some(item) => canonical(&AttributeValue::M(item.clone())),
    }
}

/// A value written out with its maps' keys in order (a `HashMap`'s own order changes per run).
fn canonical(v: &AttributeValue) -> String {
    match v {
        AttributeValue::M(m) => {
            let mut fields: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}:{}", canonical(v)))
                .collect();
            fields.sort();
            format!("{{{}}}", fields.join(","))
        }
        AttributeValue::L(l) => {
            let items: Vec<String> = l.iter().map(canonical).collect();
            format!("[{}]", items.join(","))
        }
        other => format!("{other:?}"),
    }
}

/// One world in this many has a crowd ([`actors::Mix::crowd`]).
pub const CROWD_EVERY: u64 = 300;
/// A crowd's size: more entries of the largest size than fit in an item of 400 KB (about 90).
pub const CROWD: usize = 110;
/// The queue cap in a crowd's world: above what the byte bound lets in.
const CROWD_QUEUE_CAP: usize = 128;

/// The crowd of seed `seed`: decided by the seed itself, not drawn, so that every other world is
/// the one it was before crowds existed (and the seeds the DESIGN tables name still replay).
fn crowd_for(seed: u64) -> usize {
    if seed % CROWD_EVERY == CROWD_EVERY - 1 {
        CROWD
    } else {
        0
    }
}

/// One world in this many has release-slot churn, and one a rolling deployment (cheap worlds:
/// about 0.3 s each).
pub const SPECIAL_EVERY: u64 = 100;

/// Release-slot churn ([`actors::Mix::churn`]), decided by the seed as crowds are: seeds 49, 149,
/// 249, ...
fn churn_for(seed: u64) -> bool {
    seed % SPECIAL_EVERY == 49
}

/// A rolling deployment ([`actors::Mix::old_version`]), decided by the seed as crowds are: seeds
/// 74, 174, 274, ...
fn old_version_for(seed: u64) -> bool {
    seed % SPECIAL_EVERY == 74
}

/// The world seed `seed` draws, with the worlds the seed itself decides on top.
fn world_of(seed: u64) -> Settings {
    let mut drawn = Settings::random();
    drawn.clients.crowd = crowd_for(seed);
    if churn_for(seed) {
        // Many short grants of a semaphore of 3 around two long ones: a holder eight grants
        // older is still running when a release's repeat comes.
        drawn.sem_limit = 3;
        drawn.clients.churn = 7;
        drawn.clients.sem_queued = 0;
        drawn.ops_per_client = 8;
        drawn.lost_invoke = 300;
    }
    if old_version_for(seed) {
        drawn.clients.old_version = 3;
    }
    drawn
}

/// Runs seed `seed` with settings drawn from it (`settings` overrides them).
pub fn run(seed: u64, settings: Option<Settings>) -> Run {
    block_on_paused(async move {
        fastrand::seed(seed);
        // Drawn even when given, so that a run with given settings (a shrunk one) continues the
        // seed's stream exactly where a run that drew them would.
        let drawn = world_of(seed);
        let settings = settings.unwrap_or(drawn);
        let table = SimTable::new(EPOCH_MS, seed ^ 0x5eed, settings.faults);
        let tasks = SimTasks::new(seed ^ 0x7a5c, settings.task_faults);
        let start = tokio::time::Instant::now();
        let config = Config {
            wait_budget: settings.wait_budget,
            waiter_ttl: Duration::from_secs(2),
            // A maximum lease of seconds, not hours: a semaphore's TTL time (the take's time plus
            // the maximum and an hour) then falls within a run's reach of the leases it must cover.
            max_duration: Duration::from_secs(10),
            // A crowd meets the queue's byte bound (about 74 entries of the largest size) first.
            max_waiters: if settings.clients.crowd > 0 {
                CROWD_QUEUE_CAP
            } else {
                Config::default().max_waiters
            },
            ..Config::default()
        };
        let instances = (0..settings.instances)
            .map(|i| {
                let world = World::Simulated {
                    epoch_ms: EPOCH_MS,
                    start,
                    skew_ms: fastrand::i64(-settings.max_skew_ms..=settings.max_skew_ms),
                };
                let store = LockStore::simulated(
                    Arc::clone(&table),
                    world,
                    config.store_attempts,
                    &format!("fn{i}"),
                );
                LockEngine::new(store, config.clone())
                    .with_notifier(Notifier::simulated(Arc::clone(&tasks), 3))
            })
            .collect();
        let sim = Arc::new(Sim {
            instances,
            table: Arc::clone(&table),
            tasks,
            settings: settings.clone(),
            chaos: Mutex::new(true),
            events: Mutex::new(Vec::new()),
            invocations: Default::default(),
            killed: Default::default(),
        });
        actors::play(&sim).await;
        let events = std::mem::take(&mut *sim.events.lock().expect("events"));
        let killed = std::mem::take(&mut *sim.killed.lock().expect("killed"));
        Run {
            seed,
            settings,
            events,
            log: table.log(),
            invalid: table.invalid(),
            faulted: table.faulted(),
            killed,
            sends: sim
                .tasks
                .sends()
                .into_iter()
                .map(|(t, at)| (t, EPOCH_MS + (at - start).as_millis() as u64))
                .collect(),
        }
    })
}

/// Runs `f` on a fresh single-threaded runtime whose clock is paused (it jumps to the next timer
/// whenever every task waits).
fn block_on_paused<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime")
        .block_on(f)
}

#[cfg(test)]
mod tests;
