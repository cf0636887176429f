//! Validation speed and peak memory over generated repositories.
//!
//! ```text
//! cargo run --release -p flagsync-manifest --example validate_bench            # 100, 1000, 10000
//! cargo run --release -p flagsync-manifest --example validate_bench -- 50000
//! ```
//!
//! Each size runs in a child process, so that its peak resident memory (VmHWM) is its own.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use flagsync_source::DirSource;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(n) = std::env::var("VALIDATE_BENCH_CHILD")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        child(n);
        return;
    }
    let sizes: Vec<usize> = if args.is_empty() {
        vec![100, 1_000, 10_000]
    } else {
        args.iter().filter_map(|a| a.parse().ok()).collect()
    };
    let exe = std::env::current_exe().expect("own path");
    println!(
        "| manifests | files | wall, median of 5 | wall, min | CPU per run (user+sys) | peak RSS |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for n in sizes {
        let out = Command::new(&exe)
            .env("VALIDATE_BENCH_CHILD", n.to_string())
            .output()
            .expect("run child");
        print!("{}", String::from_utf8_lossy(&out.stdout));
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
    }
}

fn child(n: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    generate(dir.path(), n);
    let source = DirSource::open(dir.path()).expect("open");
    let mut times: Vec<Duration> = Vec::new();
    let mut files = 0;
    let cpu_start = cpu_ms();
    for _ in 0..5 {
        let start = Instant::now();
        let loaded = flagsync_manifest::load(&source);
        times.push(start.elapsed());
        files = loaded.files_read;
        assert_eq!(loaded.error_count(), 0, "{:?}", loaded.diagnostics.first());
    }
    let cpu = (cpu_ms() - cpu_start) / times.len() as f64;
    times.sort();
    println!(
        "| {n} | {files} | {:.1} ms | {:.1} ms | {cpu:.0} ms | {} |",
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        peak_rss()
    );
}

/// User + system CPU time of this process so far, in milliseconds (Linux; 0 elsewhere).
/// Wall time on a shared machine depends on its load; CPU time much less.
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the file, 12 and 13 after the name; the
    // clock tick is 100 Hz on Linux.
    (ticks(11) + ticks(12)) * 10.0
}

fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_owned())
        })
        .unwrap_or_else(|| "n/a".into())
}

/// `n` manifests: 80% experiments over two environments, 15% target groups, 5% rollouts,
/// with references between them like a real repository.
fn generate(root: &Path, n: usize) {
    let groups = (n * 15 / 100).max(1);
    let rollouts = n * 5 / 100;
    let experiments = n - groups - rollouts;
    for d in [
        "target_groups",
        "environments/Production",
        "environments/Staging",
        "rollouts",
    ] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    std::fs::write(
        root.join("flagsync.yaml"),
        "cloudbees:\n  application: app\n  environments:\n    Production: { experiments: environments/Production }\n    Staging: { experiments: environments/Staging }\nconfidence:\n  token_env: CONFIDENCE_TOKEN\n",
    )
    .expect("write");
    for g in 0..groups {
        let text = format!(
            "type: target-group\nname: group {g}\ndescription: generated\noperator: or\nconditions:\n  - property: plan\n    operator: in-array\n    operand: [team, business]\n  - property: seats\n    operator: gte\n    operand: {g}\n  - property: rox.app_release\n    operator: semver-gte\n    operand: 1.{g}.0\n"
        );
        std::fs::write(root.join(format!("target_groups/group {g}.yml")), text).expect("write");
    }
    for e in 0..experiments {
        let env = if e % 2 == 0 { "Production" } else { "Staging" };
        let mut text = format!(
            "type: experiment\nflag: flag.{e}\nname: flag {e}\ndescription: generated\nlabels: [generated]\nconditions:\n  - group:\n      name: group {}\n    value: true\n  - version:\n      operator: semver-gte\n      semver: '2.1'\n    value:\n      - option: true\n        percentage: 25\n",
            e % groups
        );
        // Depend on an earlier flag of the same environment: a DAG, no cycles.
        if e >= 2 {
            let _ = write!(
                text,
                "  - dependency:\n      flag: flag.{}\n      value: 'true'\n    value: false\n",
                e - 2
            );
        }
        text.push_str("value: false\n");
        std::fs::write(root.join(format!("environments/{env}/flag {e}.yml")), text).expect("write");
    }
    for r in 0..rollouts {
        let text = format!(
            "type: rollout\nid: rollout-{r}\ndisplayName: Rollout {r}\nstate: live\nrollout:\n  flag: flags/f{r}\n  variant: flags/f{r}/variants/on\n  reach: \"0.5\"\nsegment:\n  targeting:\n    criteria:\n      country:\n        attribute:\n          attributeName: country\n          eqRule: {{ value: {{ stringValue: SE }} }}\n    expression: {{ ref: country }}\n"
        );
        std::fs::write(root.join(format!("rollouts/r{r}.yml")), text).expect("write");
    }
}
