//! The simulated clients: queued waiters (mutex and semaphore) that keep their owner and come
//! back when told, owner-less single tries, pollers that wait without queueing, and a dynamo-dlm
//! 1.0 peer writing the table directly. Each works its lease the way a careful caller does: it
//! acts from the grant's answer until it is done or its own deadline (the request's send time
//! plus `expires_in_ms`) passes, renews now and then, releases, and cancels when it gives up.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use lock_protocol::{
    AcquireRequest, AcquireResponse, CancelRequest, DescribeRequest, Grant, ReleaseRequest,
    RenewRequest, Request,
};

use super::history::Event;
use super::Sim;
use crate::callbacks::sim_tasks::{TaskEnd, TaskFaults};
use crate::engine::reply::Reply;
use crate::store::sim_table::{Faults, INVOCATION};

/// The mutex every client kind but the semaphore's shares (with the dynamo-dlm peer).
pub const MUTEX: &str = "m";
/// The semaphore.
pub const SEMAPHORE: &str = "s";
/// How long an invocation may run (the function's timeout).
const INVOCATION_MS: u64 = 5_000;
/// How long the calm phase's probe may wait for its grant.
const PROBE_MS: u64 = 3_000;
/// After the chaos phase: long enough for every late write to land and every lease to end.
const CALM_MS: u64 = 15_000;

/// How many clients of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    /// Queued waiters on the mutex.
    pub queued: usize,
    /// Queued waiters on the semaphore.
    pub sem_queued: usize,
    /// Owner-less single tries on the mutex.
    pub tries: usize,
    /// Waiters on the mutex that poll without queueing.
    pub pollers: usize,
    /// dynamo-dlm 1.0 peers on the mutex.
    pub peers: usize,
    /// Step Functions executions waiting by callback (on the mutex or the semaphore).
    pub executions: usize,
    /// A crowd: Step Functions executions on the mutex with the largest task tokens and labels the
    /// protocol takes, all arriving at once (none in most worlds; see `crowd_for` in `sim.rs`), so
    /// that the queue meets its byte bound before its entry cap.
    pub crowd: usize,
    /// Release-slot churn: semaphore waiters whose first holds for seconds while the others take
    /// and release short leases, their answers often lost and their releases sent again seconds
    /// later (none in most worlds; see `churn_for` in `sim.rs`), so that a holder eight grants older
    /// releases between a release and its repeat and reuses its release slot.
    pub churn: usize,
    /// Holders that see, while they hold the mutex, a join of their own owner sent by an instance
    /// of lock-fn's version before issue 17 (its join lacked `not_holding`: a rolling deployment;
    /// none in most worlds; see `old_version_for` in `sim.rs`).
    pub old_version: usize,
}

impl Mix {
    /// A mix drawn from the seed's generator.
    pub fn random() -> Mix {
        Mix {
            queued: fastrand::usize(1..=4),
            sem_queued: fastrand::usize(0..=4),
            tries: fastrand::usize(0..=2),
            pollers: fastrand::usize(0..=2),
            peers: fastrand::usize(0..=1),
            executions: fastrand::usize(0..=3),
            crowd: 0,
            churn: 0,
            old_version: 0,
        }
    }
}

/// Plays a whole run: the clients during chaos, then calm, then a probe of each resource.
pub async fn play(sim: &Arc<Sim>) {
    let mix = sim.settings.clients;
    // The churn's long holder: the first of its clients (ids follow the spawn order below).
    let first_churner = mix.queued
        + mix.sem_queued
        + mix.tries
        + mix.pollers
        + mix.peers
        + mix.executions
        + mix.crowd;
    let mut tasks = Vec::new();
    let mut id = 0;
    let mut spawn = |kind: u8, n: usize, tasks: &mut Vec<tokio::task::JoinHandle<()>>| {
        for _ in 0..n {
            let (sim, client) = (Arc::clone(sim), id);
            id += 1;
            tasks.push(tokio::spawn(async move {
                // One waiter in three keeps its owner from one turn to the next (a Step Functions
                // execution names itself the owner of every lock it takes).
                let kept = (fastrand::u32(..3) == 0).then(token);
                // A crowd comes once (its items are large: every write of them costs).
                let turns = if kind == 6 {
                    1
                } else {
                    sim.settings.ops_per_client
                };
                for _ in 0..turns {
                    pause(0, 300).await;
                    let owner = kept.clone().unwrap_or_else(token);
                    let execution_owner = format!("arn:aws:states:sim:execution:{owner}");
                    let limit = Some(sim.settings.sem_limit);
                    match kind {
                        0 => queued(&sim, client, &owner, MUTEX, None).await,
                        1 => queued(&sim, client, &owner, SEMAPHORE, limit).await,
                        2 => try_once(&sim, client).await,
                        3 => poll(&sim, client).await,
                        4 => peer(&sim, client).await,
                        6 => {
                            let largest = Largest::new();
                            execution(&sim, client, &execution_owner, MUTEX, None, Some(&largest))
                                .await
                        }
                        7 => {
                            let lease = if client < first_churner + 2 {
                                8_000
                            } else {
                                300
                            };
                            queued_for(&sim, client, &owner, SEMAPHORE, limit, lease).await
                        }
                        8 => old_version_join(&sim, client, &owner).await,
                        _ if fastrand::bool() => {
                            execution(&sim, client, &execution_owner, MUTEX, None, None).await
                        }
                        _ => {
                            execution(&sim, client, &execution_owner, SEMAPHORE, limit, None).await
                        }
                    }
                }
            }));
        }
    };
    spawn(0, mix.queued, &mut tasks);
    spawn(1, mix.sem_queued, &mut tasks);
    spawn(2, mix.tries, &mut tasks);
    spawn(3, mix.pollers, &mut tasks);
    spawn(4, mix.peers, &mut tasks);
    spawn(5, mix.executions, &mut tasks);
    spawn(6, mix.crowd, &mut tasks);
    spawn(7, mix.churn, &mut tasks);
    spawn(8, mix.old_version, &mut tasks);
    let ttl = {
        let sim = Arc::clone(sim);
        tokio::spawn(async move {
            loop {
                pause(200, 2_000).await;
                sim.table.sweep_ttl();
            }
        })
    };
    for t in tasks {
        t.await.expect("a client panicked");
    }
    *sim.chaos.lock().expect("chaos") = false;
    sim.table.set_faults(Faults::none());
    sim.tasks.set_faults(TaskFaults::default());
    tokio::time::sleep(Duration::from_millis(CALM_MS)).await;
    ttl.abort();
    for (resource, limit) in [(MUTEX, None), (SEMAPHORE, Some(sim.settings.sem_limit))] {
        probe(sim, resource, limit).await;
    }
}

/// After the calm phase, a waiter that queues must be granted within [`PROBE_MS`]: no item is
/// wedged, no dead waiter holds the queue up.
async fn probe(sim: &Arc<Sim>, resource: &str, limit: Option<u32>) {
    let owner = token();
    let at_ms = sim.now_ms();
    loop {
        let req = Request::Acquire(AcquireRequest {
            resource_id: resource.into(),
            owner: Some(owner.clone()),
            duration_ms: Some(1_000),
            wait_ms: 4_000,
            queue: Some(true),
            limit,
            ..Default::default()
        });
        let reply = invoke_on(sim, 0, sim.next_invocation(), req).await;
        let granted = matches!(reply, Ok(Reply::Acquire(AcquireResponse::Granted(_))));
        let late = sim.now_ms() > at_ms + PROBE_MS;
        if granted || late {
            sim.record(Event::Probe {
                resource: resource.into(),
                at_ms,
                granted,
                json: json(&reply),
            });
            return;
        }
        let wait = match &reply {
            Ok(Reply::Acquire(AcquireResponse::Busy(b))) => b.retry_after_ms.max(1),
            _ => 50,
        };
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
}

async fn pause(min_ms: u64, max_ms: u64) {
    tokio::time::sleep(Duration::from_millis(fastrand::u64(min_ms..=max_ms))).await;
}

/// A lease: mostly short, sometimes several seconds (longer than a write's timeout).
fn lease() -> u64 {
    if fastrand::u32(0..10) < 3 {
        fastrand::u64(2_000..=8_000)
    } else {
        fastrand::u64(300..=1_500)
    }
}

/// How long a waiter waits before it gives up: mostly a few seconds, sometimes past long leases.
fn patience() -> u64 {
    if fastrand::u32(0..10) < 3 {
        fastrand::u64(4_000..=12_000)
    } else {
        fastrand::u64(300..=4_000)
    }
}

fn token() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// A crowd execution's task tokens and label: as large as the protocol takes.
struct Largest {
    label: String,
}

impl Largest {
    fn new() -> Largest {
        Largest {
            label: "h".repeat(lock_protocol::MAX_HOLDER_BYTES),
        }
    }

    /// A fresh task token of the largest size.
    fn token(&self) -> String {
        let mut t = token();
        t.extend(std::iter::repeat_n(
            't',
            lock_protocol::MAX_TASK_TOKEN_BYTES - t.len(),
        ));
        t
    }
}

fn json(r: &Result<Reply, String>) -> String {
    match r {
        Ok(reply) => reply.to_json().to_string(),
        Err(e) => serde_json::json!({ "error": e }).to_string(),
    }
}

/// Invokes a random instance, with the invocation faults of the chaos phase, and records the
/// answer.
async fn invoke(
    sim: &Arc<Sim>,
    client: usize,
    owner: Option<&str>,
    req: Request,
) -> Result<Reply, String> {
    let (op, resource) = match &req {
        // Step Functions never reads the invoke's answer to a task's acquire (the task's result is
        // the callback): it is kept apart from the answers callers act on.
        Request::Acquire(r) if r.task_token.is_some() => ("task_acquire", r.resource_id.clone()),
        Request::Acquire(r) => ("acquire", r.resource_id.clone()),
        Request::Release(r) => ("release", r.resource_id.clone()),
        Request::Renew(r) => ("renew", r.resource_id.clone()),
        Request::Describe(r) => ("describe", r.resource_id.clone()),
        Request::Cancel(r) => ("cancel", r.resource_id.clone()),
    };
    let sent_ms = sim.now_ms();
    let request = req.to_json().to_string();
    let chaos = sim.chaotic();
    let killed = chaos && fastrand::u32(0..1000) < sim.settings.kill;
    let lost = chaos && fastrand::u32(0..1000) < sim.settings.lost_invoke;
    let instance = fastrand::usize(..sim.instances.len());
    let invocation = sim.next_invocation();
    let abandoned = chaos && fastrand::u32(0..1000) < sim.settings.abandon;
    let reply = if abandoned {
        // The caller stops waiting (its own timeout; an SDK retry then sends the request again)
        // while the invocation runs on: two invocations of one owner at once.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sim = Arc::clone(sim);
        tokio::spawn(async move {
            let _ = tx.send(invoke_on(&sim, instance, invocation, req).await);
        });
        let patience = Duration::from_millis(fastrand::u64(1..=2_000));
        match tokio::time::timeout(patience, rx).await {
            Ok(Ok(r)) => r,
            _ => Err(CUT.into()),
        }
    } else if killed {
        let after = Duration::from_millis(fastrand::u64(0..=200));
        match tokio::time::timeout(after, invoke_on(sim, instance, invocation, req)).await {
            Ok(r) => r,
            Err(_) => {
                sim.killed(invocation);
                Err(CUT.into())
            }
        }
    } else {
        invoke_on(sim, instance, invocation, req).await
    };
    let reply = if lost { Err(CUT.into()) } else { reply };
    sim.record(Event::Answer {
        client,
        owner: owner.map(str::to_string),
        op,
        resource,
        sent_ms,
        at_ms: sim.now_ms(),
        from_fn: !matches!(&reply, Err(e) if e == CUT),
        json: json(&reply),
        request,
        invocation: Some(invocation),
    });
    reply
}

/// The error a caller sees when the simulation, not lock-fn, cut the answer off: the caller
/// stopped waiting (the invocation runs on), the instance was killed, or the answer was lost.
const CUT: &str =
    "no answer: the caller stopped waiting, the instance was killed, or the answer was lost";

async fn invoke_on(
    sim: &Arc<Sim>,
    instance: usize,
    invocation: u64,
    req: Request,
) -> Result<Reply, String> {
    let engine = &sim.instances[instance];
    let deadline = engine.store.now_ms() + INVOCATION_MS;
    INVOCATION
        .scope(invocation, engine.execute(req, Some(deadline)))
        .await
        .map(|e| e.reply)
        .map_err(|e| format!("{}: {e}", e.error_type().as_str()))
}

/// A waiter that queues with its own owner, comes back when told, holds, and gives up (with a
/// cancel) after a while.
async fn queued(sim: &Arc<Sim>, client: usize, owner: &str, resource: &str, limit: Option<u32>) {
    queued_for(sim, client, owner, resource, limit, lease()).await
}

/// [`queued`] for a lease of `lease` ms.
async fn queued_for(
    sim: &Arc<Sim>,
    client: usize,
    owner: &str,
    resource: &str,
    limit: Option<u32>,
    lease: u64,
) {
    let owner = owner.to_string();
    let give_up_at = sim.now_ms() + patience();
    loop {
        let left = give_up_at.saturating_sub(sim.now_ms());
        if left == 0 {
            cancel(sim, client, resource, &owner).await;
            return;
        }
        let req = Request::Acquire(AcquireRequest {
            resource_id: resource.into(),
            owner: Some(owner.clone()),
            duration_ms: Some(lease),
            wait_ms: left.min(1_500),
            queue: Some(true),
            limit,
            ..Default::default()
        });
        match invoke(sim, client, Some(&owner), req).await {
            Ok(Reply::Acquire(AcquireResponse::Granted(g))) => {
                return hold(sim, client, &owner, g).await;
            }
            Ok(Reply::Acquire(AcquireResponse::Busy(b))) => {
                let wait = b.retry_after_ms.clamp(1, left);
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            _ => pause(5, 50).await,
        }
    }
}

/// An owner-less single try, a few times.
async fn try_once(sim: &Arc<Sim>, client: usize) {
    let give_up_at = sim.now_ms() + patience();
    while sim.now_ms() < give_up_at {
        let req = Request::Acquire(AcquireRequest {
            resource_id: MUTEX.into(),
            duration_ms: Some(lease()),
            queue: Some(false),
            ..Default::default()
        });
        match invoke(sim, client, None, req).await {
            Ok(Reply::Acquire(AcquireResponse::Granted(g))) => {
                let owner = g.owner.clone();
                return hold(sim, client, &owner, g).await;
            }
            Ok(Reply::Acquire(AcquireResponse::Busy(b))) => {
                if fastrand::bool() {
                    let req = Request::Describe(DescribeRequest {
                        resource_id: MUTEX.into(),
                        owner: None,
                    });
                    let _ = invoke(sim, client, None, req).await;
                }
                tokio::time::sleep(Duration::from_millis(b.retry_after_ms.max(1))).await
            }
            _ => pause(5, 50).await,
        }
    }
}

/// A waiter with an owner that waits in-function without queueing, once.
async fn poll(sim: &Arc<Sim>, client: usize) {
    let owner = token();
    for _ in 0..3 {
        let req = Request::Acquire(AcquireRequest {
            resource_id: MUTEX.into(),
            owner: Some(owner.clone()),
            duration_ms: Some(lease()),
            wait_ms: fastrand::u64(100..=1_500),
            queue: Some(false),
            ..Default::default()
        });
        match invoke(sim, client, Some(&owner), req).await {
            Ok(Reply::Acquire(AcquireResponse::Granted(g))) => {
                return hold(sim, client, &owner, g).await;
            }
            Ok(Reply::Acquire(AcquireResponse::Busy(_))) => return,
            _ => pause(5, 50).await,
        }
    }
}

/// A Step Functions execution waiting by callback (the README's `lock-wait` machine): an acquire
/// with a task token, then the task's end - the grant, `LockBusy`, or its timeout, after which it
/// comes back with a new token and the same owner; a failed invoke fails the task, and it comes
/// back after 2 s. It gives up with a cancel.
async fn execution(
    sim: &Arc<Sim>,
    client: usize,
    owner: &str,
    resource: &str,
    limit: Option<u32>,
    largest: Option<&Largest>,
) {
    let owner = owner.to_string();
    let lease = lease();
    let timeout = Duration::from_millis(fastrand::u64(500..=3_000));
    let give_up_at = sim.now_ms()
        + if largest.is_some() {
            1_500
        } else {
            2 * patience()
        };
    while sim.now_ms() < give_up_at {
        let task = match largest {
            Some(l) => l.token(),
            None => token(),
        };
        sim.tasks.open(&task, timeout);
        let req = Request::Acquire(AcquireRequest {
            resource_id: resource.into(),
            owner: Some(owner.clone()),
            duration_ms: Some(lease),
            wait_ms: 60_000,
            task_token: Some(task.clone()),
            limit,
            holder: largest.map(|l| l.label.clone()),
            ..Default::default()
        });
        if invoke(sim, client, Some(&owner), req).await.is_err() {
            sim.tasks.close(&task);
            tokio::time::sleep(Duration::from_secs(2)).await;
            continue;
        }
        let end = sim.tasks.wait(&task).await;
        let at_ms = sim.now_ms();
        let json = match &end {
            TaskEnd::Succeeded(output) => output.clone(),
            TaskEnd::Failed(_) => format!("{end:?}"),
            TaskEnd::TimedOut => continue,
        };
        sim.record(Event::Answer {
            client,
            owner: Some(owner.clone()),
            op: "callback",
            resource: resource.into(),
            sent_ms: at_ms,
            at_ms,
            json: json.clone(),
            request: "{}".into(),
            invocation: None,
            from_fn: true,
        });
        if !matches!(end, TaskEnd::Succeeded(_)) {
            return;
        }
        let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
        let n = |k: &str| v[k].as_u64().unwrap_or_default();
        let g = Grant {
            acquired: true,
            resource_id: resource.into(),
            owner: owner.clone(),
            fence: n("fence"),
            expires_at_ms: n("expires_at_ms"),
            duration_ms: n("duration_ms"),
            acquired_at_ms: n("acquired_at_ms"),
            reacquired: false,
            attempts: 0,
            // A state machine has no clock of its own to count `expires_in_ms` from (the output
            // was built before the send and its retries): it goes by `expires_at_ms`.
            expires_in_ms: Some(n("expires_at_ms").saturating_sub(at_ms)),
            limit,
            holders: None,
        };
        return hold(sim, client, &owner, g).await;
    }
    cancel(sim, client, resource, &owner).await;
}

/// Acts as the holder of grant `g` from its answer until done or its own deadline, renewing
/// now and then, then releases.
async fn hold(sim: &Arc<Sim>, client: usize, owner: &str, g: Grant) {
    // lock-fn counts `expires_in_ms` on its clock after the grant's last write; the simulated
    // answer comes back at once, so the holder may act until its arrival plus that.
    let from = sim.now_ms();
    let mut deadline = from + g.expires_in_ms.unwrap_or_default();
    // Some work fits the lease, some needs renewals, some overruns it.
    let done = from + fastrand::u64(20..=g.duration_ms * 5 / 2 + 20);
    // Callers renew never, once, or every half lease.
    let mut renewals = [0, 1, u32::MAX][fastrand::usize(..3)];
    // Two holders in three name their grant's fence when they renew and release; the third goes
    // by its owner alone, as a raw caller may.
    let fenced = fastrand::u32(..3) != 0;
    loop {
        let now = sim.now_ms();
        if now >= done.min(deadline) {
            break;
        }
        if renewals == 0 {
            tokio::time::sleep(Duration::from_millis(done.min(deadline) - now)).await;
            break;
        }
        // Renew halfway to the deadline (or finish first).
        let at = (now + (deadline - now) / 2).max(now + 1);
        if at >= done {
            tokio::time::sleep(Duration::from_millis(done - now)).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(at - now)).await;
        let req = Request::Renew(RenewRequest {
            resource_id: g.resource_id.clone(),
            owner: owner.into(),
            duration_ms: Some(g.duration_ms),
            fence: fenced.then_some(g.fence),
        });
        renewals -= 1;
        if let Ok(Reply::Renew(r)) = invoke(sim, client, Some(owner), req).await {
            if let Some(in_ms) = r.renewal.and_then(|r| r.expires_in_ms) {
                deadline = deadline.max(sim.now_ms() + in_ms);
            }
        }
    }
    let stop = done.min(deadline).max(from).min(sim.now_ms().max(from));
    sim.record(Event::Held {
        client,
        resource: g.resource_id.clone(),
        fence: g.fence,
        from_ms: from,
        until_ms: stop,
        peer: false,
    });
    for _ in 0..3 {
        let req = Request::Release(ReleaseRequest {
            resource_id: g.resource_id.clone(),
            owner: owner.into(),
            fence: fenced.then_some(g.fence),
        });
        if invoke(sim, client, Some(owner), req).await.is_ok() {
            return;
        }
        // Most callers resend at once; some come back seconds later (a redelivered message, a
        // retry of the whole step), when the item's release records may have been reused.
        if fastrand::u32(..4) == 0 || sim.settings.clients.churn > 0 {
            pause(1_000, 8_000).await;
        } else {
            pause(5, 50).await;
        }
    }
}

async fn cancel(sim: &Arc<Sim>, client: usize, resource: &str, owner: &str) {
    for _ in 0..5 {
        let req = Request::Cancel(CancelRequest {
            resource_id: resource.into(),
            owner: owner.into(),
        });
        if invoke(sim, client, Some(owner), req).await.is_ok() {
            return;
        }
        pause(5, 50).await;
    }
}

/// A holder during a rolling deployment: it waits for the mutex through today's lock-fn and, while
/// it holds, a join of its own owner lands from an instance of the version before issue 17 (a
/// second invocation of the owner; that version's join lacked `not_holding`, so it queued a
/// holder). Then it works and releases as every holder does: the release must take that entry
/// along and never hand the lock back to its own owner (`no_grant_handed_back_to_its_releaser`).
async fn old_version_join(sim: &Arc<Sim>, client: usize, owner: &str) {
    let lease = lease();
    let req = Request::Acquire(AcquireRequest {
        resource_id: MUTEX.into(),
        owner: Some(owner.into()),
        duration_ms: Some(lease),
        wait_ms: patience().min(1_500),
        queue: Some(true),
        ..Default::default()
    });
    let Ok(Reply::Acquire(AcquireResponse::Granted(g))) =
        invoke(sim, client, Some(owner), req).await
    else {
        return;
    };
    let now = sim.now_ms();
    let waiter = crate::model::item::Waiter {
        digest: lock_protocol::owner_digest(owner),
        duration_ms: lease,
        alive_until_ms: now + fastrand::u64(500..=3_000),
        active_until_ms: 0,
        holder: None,
        token: None,
    };
    let read = sim
        .table
        .item(MUTEX)
        .and_then(|i| crate::model::item::LockItem::try_from(&i).ok());
    let mark = crate::write::mutex::Mark::for_entry(read.as_ref(), waiter.alive_until_ms);
    let mut join = crate::write::mutex::join(&waiter, 64, mark, None, now);
    let guard = crate::write::expressions::not_holding(&waiter.digest, now);
    join.conditions.retain(|c| *c != guard);
    let request = crate::store::request::UpdateRequest::new(MUTEX).write(join);
    let _ = sim.table.update(request, "old-version").await;
    hold(sim, client, owner, g).await;
}

/// Python dynamo-dlm 1.0 on the mutex: PutItem if free by its whole-second rule, DeleteItem on
/// its release code; a 2 s lease, of which it can count on one second.
async fn peer(sim: &Arc<Sim>, client: usize) {
    let skew = fastrand::i64(-sim.settings.max_skew_ms..=sim.settings.max_skew_ms);
    let code = token();
    for _ in 0..10 {
        let sent = sim.now_ms();
        let now_s = sent.saturating_add_signed(skew) / 1000;
        let item = HashMap::from([
            ("resource_id".to_string(), AttributeValue::S(MUTEX.into())),
            ("release_code".to_string(), AttributeValue::S(code.clone())),
            (
                "expires".to_string(),
                AttributeValue::N((now_s + 2).to_string()),
            ),
        ]);
        let values = HashMap::from([(":now".to_string(), AttributeValue::N(now_s.to_string()))]);
        let put = sim
            .table
            .put_if(
                item,
                "attribute_not_exists(resource_id) OR expires <= :now",
                values,
                "peer",
            )
            .await;
        if put == Ok(true) {
            let from = sim.now_ms();
            // dynamo-dlm's release code is the peer's credential, as an owner token is a client's.
            sim.record(Event::Answer {
                client,
                owner: Some(code.clone()),
                op: "peer_put",
                resource: MUTEX.into(),
                sent_ms: sent,
                at_ms: from,
                json: "{}".into(),
                request: "{}".into(),
                invocation: None,
                from_fn: true,
            });
            let stop = (from + fastrand::u64(50..=1_200))
                .min(sent + 1_000)
                .max(from);
            tokio::time::sleep(Duration::from_millis(stop - from)).await;
            sim.record(Event::Held {
                client,
                resource: MUTEX.into(),
                fence: 0,
                from_ms: from,
                until_ms: stop,
                peer: true,
            });
            let values = HashMap::from([(":code".to_string(), AttributeValue::S(code.clone()))]);
            let _ = sim
                .table
                .delete_if(MUTEX, "release_code = :code", values, "peer")
                .await;
            return;
        }
        pause(50, 150).await;
    }
}
