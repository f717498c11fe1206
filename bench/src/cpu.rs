//! CPU time by process kind during a run, from `/proc` (Linux): where a contended run's time goes
//! on this 2-core machine - lock-fn processes, the emulator, dynalite, this harness (its clients and
//! the counting proxy) - and how much the rest of the machine took meanwhile.

use std::collections::HashMap;

use serde::Serialize;

/// Clock ticks per second of `/proc` CPU times (`USER_HZ`: 100 on Linux x86_64 and arm64).
const TICKS_PER_S: f64 = 100.0;

/// CPU time per grant, ms, by process kind; and the machine's busy share meanwhile.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct CpuShare {
    /// This emulator's lock-fn processes (children of this harness).
    pub lock_fn: f64,
    /// `cargo lambda watch` (the harness's emulators).
    pub emulator: f64,
    /// The stack's dynalite.
    pub dynalite: f64,
    /// This harness: the callers, the SDK clients and the counting proxy.
    pub harness: f64,
    /// Everything else the machine ran meanwhile (other users' builds and tests included).
    pub other: f64,
    /// Busy share of all cores over the run, percent.
    pub machine_busy_pct: f64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Ticks {
    lock_fn: u64,
    emulator: u64,
    dynalite: u64,
    harness: u64,
    machine_busy: u64,
    machine_all: u64,
}

/// A CPU meter started at the beginning of a run.
pub struct Meter {
    ticks: Ticks,
}

/// What a meter measured over its run.
pub struct Measured {
    delta: Ticks,
}

impl Meter {
    pub fn start() -> Meter {
        Meter { ticks: sample() }
    }

    pub fn stop(self) -> Measured {
        let now = sample();
        let d = |a: u64, b: u64| a.saturating_sub(b);
        Measured {
            delta: Ticks {
                lock_fn: d(now.lock_fn, self.ticks.lock_fn),
                emulator: d(now.emulator, self.ticks.emulator),
                dynalite: d(now.dynalite, self.ticks.dynalite),
                harness: d(now.harness, self.ticks.harness),
                machine_busy: d(now.machine_busy, self.ticks.machine_busy),
                machine_all: d(now.machine_all, self.ticks.machine_all),
            },
        }
    }
}

impl Measured {
    /// The run's CPU time per grant, ms.
    pub fn per_grant(&self, grants: usize) -> CpuShare {
        let n = grants.max(1) as f64;
        let ms = |t: u64| t as f64 * 1000.0 / TICKS_PER_S / n;
        let t = self.delta;
        let known = t.lock_fn + t.emulator + t.dynalite + t.harness;
        CpuShare {
            lock_fn: ms(t.lock_fn),
            emulator: ms(t.emulator),
            dynalite: ms(t.dynalite),
            harness: ms(t.harness),
            other: ms(t.machine_busy.saturating_sub(known)),
            machine_busy_pct: 100.0 * t.machine_busy as f64 / t.machine_all.max(1) as f64,
        }
    }
}

/// `(ppid, comm, utime + stime)` of a process, from `/proc/<pid>/stat`.
fn stat(pid: u32) -> Option<(u32, String, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_string();
    let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // After the name: state, ppid, ..., utime (14th field of the line), stime (15th).
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((ppid, comm, utime + stime))
}

fn dynalite_port() -> Option<String> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").ok()?;
    endpoint
        .rsplit(':')
        .next()
        .map(|p| p.trim_matches('/').to_string())
}

fn sample() -> Ticks {
    let me = std::process::id();
    let mut procs: HashMap<u32, (u32, String, u64)> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            if let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) {
                if let Some(s) = stat(pid) {
                    procs.insert(pid, s);
                }
            }
        }
    }
    let descends = |mut pid: u32| {
        while pid > 1 {
            match procs.get(&pid) {
                Some((ppid, _, _)) if *ppid == me => return true,
                Some((ppid, _, _)) => pid = *ppid,
                None => return false,
            }
        }
        false
    };
    let port = dynalite_port();
    let mut t = Ticks::default();
    for (pid, (_, comm, ticks)) in &procs {
        if *pid == me {
            t.harness += ticks;
        } else if descends(*pid) {
            match comm.as_str() {
                "lock-fn" => t.lock_fn += ticks,
                c if c.starts_with("cargo") => t.emulator += ticks,
                _ => {}
            }
        } else if comm == "node" {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains("dynalite")
                && port
                    .as_ref()
                    .is_some_and(|p| cmdline.contains(&format!("--port {p}")))
            {
                t.dynalite += ticks;
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string("/proc/stat") {
        if let Some(line) = text.lines().next() {
            let v: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal
            if v.len() >= 8 {
                t.machine_all = v[..8].iter().sum();
                t.machine_busy = t.machine_all - v[3] - v[4];
            }
        }
    }
    t
}
