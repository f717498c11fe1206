use super::*;

fn seeds() -> std::ops::Range<u64> {
    if let Some(seed) = std::env::var("DLM_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return seed..seed + 1;
    }
    let var = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let first = var("DLM_SIM_FIRST", 0);
    first..first + var("DLM_SIM_SEEDS", 200)
}

#[test]
fn every_seed_passes_the_history_check() {
    let mut failed = Vec::new();
    let mut ops = 0;
    for seed in seeds() {
        let run = run(seed, None);
        ops += run.operations();
        let v = check::violations(&run);
        if !v.is_empty() {
            eprintln!("seed {seed}: {:?}\n  {}", run.settings, v.join("\n  "));
            failed.push(seed);
            if std::env::var_os("DLM_SIM_STOP_AT_FIRST").is_some() {
                break;
            }
        }
    }
    eprintln!("{ops} operations simulated");
    assert!(
        failed.is_empty(),
        "failing seeds (replay with DLM_SIM_SEED=<seed>): {failed:?}"
    );
}

#[test]
fn a_seed_replays_exactly() {
    for seed in [1, 7, 42] {
        assert_eq!(
            run(seed, None).fingerprint(),
            run(seed, None).fingerprint(),
            "seed {seed}"
        );
    }
}

/// Prints a seed's history of one resource (`DLM_SIM_SEED`, `DLM_SIM_KEY`) for a person to read.
#[test]
#[ignore]
fn show_history() {
    let seed = std::env::var("DLM_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let key = std::env::var("DLM_SIM_KEY").unwrap_or_else(|_| actors::MUTEX.into());
    let run = run(seed, None);
    let mut lines: Vec<(u64, String)> = Vec::new();
    for e in &run.events {
        match e {
            history::Event::Answer {
                resource, at_ms, ..
            }
            | history::Event::Probe {
                resource, at_ms, ..
            } if *resource == key => lines.push((*at_ms - EPOCH_MS, format!("{e:?}"))),
            history::Event::Held {
                resource, from_ms, ..
            } if *resource == key => lines.push((*from_ms - EPOCH_MS, format!("{e:?}"))),
            _ => {}
        }
    }
    for c in run.log.iter().filter(|c| c.key == key) {
        let item = c
            .after
            .as_ref()
            .and_then(|i| crate::model::item::LockItem::try_from(i).ok());
        lines.push((c.at_ms - EPOCH_MS, format!("CHANGE by {}: {item:?}", c.by)));
    }
    lines.sort_by_key(|l| l.0);
    for (t, l) in lines {
        println!("{t:>6} {l}");
    }
}
