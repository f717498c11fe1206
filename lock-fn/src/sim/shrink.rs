//! Shrinking a failing seed: the same seed, replayed with smaller settings (fewer clients of each
//! kind, fewer operations, fewer instances, no skew, each fault off in turn), one step at a time,
//! as long as the run still fails - down to a short history a person can read.

use super::{run, Run, Settings};

/// The smallest run of the seed of `start` found that still `fails`, from `start` itself.
/// Greedy: every accepted step makes settings smaller, so it ends. When no single step keeps the
/// failure, two steps at once are tried (leaving one client out changes the random draws of the
/// rest, so a failure may need two settings changed together to show again).
pub fn shrink(start: Run, fails: impl Fn(&Run) -> bool) -> Run {
    let seed = start.seed;
    let mut best = start;
    if !fails(&best) {
        return best;
    }
    loop {
        let singles = smaller(&best.settings);
        // Pairs, each once ((a, b) and (b, a) are one), at most MAX_PAIRS of them.
        let mut seen: std::collections::BTreeSet<String> =
            singles.iter().map(|s| format!("{s:?}")).collect();
        let pairs: Vec<Settings> = singles
            .iter()
            .flat_map(smaller)
            .filter(|s| seen.insert(format!("{s:?}")))
            .take(MAX_PAIRS)
            .collect();
        match singles
            .into_iter()
            .chain(pairs)
            .map(|s| run(seed, Some(s)))
            .find(|r| fails(r))
        {
            Some(smaller) => best = smaller,
            None => return best,
        }
    }
}

/// How many two-step candidates a stuck shrink tries (each is a whole run).
const MAX_PAIRS: usize = 200;

/// Every settings one step smaller than `s`.
fn smaller(s: &Settings) -> Vec<Settings> {
    let mut out = Vec::new();
    let mut step = |change: &dyn Fn(&mut Settings) -> bool| {
        let mut t = s.clone();
        if change(&mut t) {
            out.push(t);
        }
    };
    let down = |v: &mut usize, min: usize| {
        *v > min && {
            *v -= 1;
            true
        }
    };
    let off = |v: &mut u32| {
        *v > 0 && {
            *v = 0;
            true
        }
    };
    // Big steps first, then one at a time (another stream of the seed may fail where a big step
    // did not).
    let none = |v: &mut usize, min: usize| {
        *v > min && {
            *v = min;
            true
        }
    };
    step(&|t| none(&mut t.clients.queued, 0));
    step(&|t| none(&mut t.clients.sem_queued, 0));
    step(&|t| none(&mut t.clients.tries, 0));
    step(&|t| none(&mut t.clients.pollers, 0));
    step(&|t| none(&mut t.clients.executions, 0));
    step(&|t| none(&mut t.clients.crowd, 0));
    step(&|t| none(&mut t.clients.churn, 0));
    step(&|t| none(&mut t.clients.old_version, 0));
    step(&|t| none(&mut t.ops_per_client, 1));
    step(&|t| none(&mut t.instances, 1));
    step(&|t| down(&mut t.clients.queued, 0));
    step(&|t| down(&mut t.clients.sem_queued, 0));
    step(&|t| down(&mut t.clients.tries, 0));
    step(&|t| down(&mut t.clients.pollers, 0));
    step(&|t| down(&mut t.clients.peers, 0));
    step(&|t| down(&mut t.clients.executions, 0));
    step(&|t| down(&mut t.ops_per_client, 1));
    step(&|t| down(&mut t.instances, 1));
    step(&|t| {
        t.max_skew_ms != 0 && {
            t.max_skew_ms = 0;
            true
        }
    });
    step(&|t| off(&mut t.faults.throttle));
    step(&|t| off(&mut t.faults.lost_answer));
    step(&|t| off(&mut t.faults.late));
    step(&|t| off(&mut t.faults.failed));
    step(&|t| off(&mut t.task_faults.lost_answer));
    step(&|t| off(&mut t.task_faults.failed));
    step(&|t| off(&mut t.task_faults.duplicated));
    step(&|t| off(&mut t.kill));
    step(&|t| off(&mut t.lost_invoke));
    step(&|t| off(&mut t.abandon));
    step(&|t| t.wait_budget.take().is_some());
    out
}
