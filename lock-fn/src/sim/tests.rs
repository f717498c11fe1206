use super::*;

fn seeds() -> std::ops::Range<u64> {
    if let Some(seed) = std::env::var("DLM_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return seed..seed + 1;
    }
    let n = std::env::var("DLM_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    0..n
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
