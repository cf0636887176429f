//! Reading a repository of generated manifests from disk (DirSource) versus from a git
//! revision (GitSource), loose objects and packed.
//!
//! ```text
//! cargo run --release -p flagsync-source --example read_bench -- [FILES] [RUNS]
//! ```
//!
//! Defaults: 10,000 files, 5 runs each; prints the best and the median run. Packing needs the
//! git CLI (`git gc`); without it that row is skipped.

use std::error::Error;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use flagsync_source::{DirSource, GitSource, Tree};

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let files: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10_000);
    let runs: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5);

    let tmp = tempfile::tempdir()?;
    let root = tmp.path();
    let bytes = generate(root, files)?;
    commit(root)?;
    println!(
        "{files} files, {:.1} MiB, {runs} runs each (best / median)",
        bytes as f64 / (1024.0 * 1024.0)
    );

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let dir = measure(runs, || read_all(&DirSource::open(root)?, 1))?;
    report("DirSource (disk, warm cache)", dir);
    let dir = measure(runs, || read_all(&DirSource::open(root)?, threads))?;
    report(&format!("DirSource, {threads} threads"), dir);
    let loose = measure(runs, || read_all(&GitSource::open(root, "HEAD")?, 1))?;
    report("GitSource HEAD (loose objects)", loose);
    let loose = measure(runs, || read_all(&GitSource::open(root, "HEAD")?, threads))?;
    report(&format!("GitSource loose, {threads} threads"), loose);

    let packed = Command::new("git")
        .current_dir(root)
        .args(["-c", "gc.auto=0", "gc", "-q"])
        .status();
    match packed {
        Ok(status) if status.success() => {
            let packed = measure(runs, || read_all(&GitSource::open(root, "HEAD")?, 1))?;
            report("GitSource HEAD (packed, git gc)", packed);
            let packed = measure(runs, || read_all(&GitSource::open(root, "HEAD")?, threads))?;
            report(&format!("GitSource packed, {threads} threads"), packed);
        }
        _ => println!("git CLI unavailable: packed case skipped"),
    }
    Ok(())
}

/// Manifests shaped like real ones: experiments across environments, target groups.
fn generate(root: &Path, files: usize) -> Result<u64, Box<dyn Error>> {
    let groups = files / 10;
    let mut total = 0u64;
    for i in 0..files {
        let (path, content) = if i < groups {
            (
                format!("target_groups/group {i}.yml"),
                format!(
                    "type: target-group\nname: group {i}\ndescription: generated\noperator: and\n\
                     conditions:\n  - property: plan\n    operator: in-array\n    operand: [gold, silver]\n"
                ),
            )
        } else {
            let env = ["Production", "Staging", "Testing"][i % 3];
            (
                format!("environments/{env}/experiments/flag_{i}.yml"),
                format!(
                    "version: 1.0.0\ntype: experiment\nflag: flag_{i}\nname: flag_{i}\n\
                     description: generated flag\nenabled: true\nlabels: [bench]\n\
                     conditions:\n  - group:\n      name: group {}\n    value: true\nvalue: false\n",
                    i % groups.max(1)
                ),
            )
        };
        let full = root.join(&path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        total += content.len() as u64;
        std::fs::write(full, content)?;
    }
    Ok(total)
}

fn commit(root: &Path) -> Result<(), git2::Error> {
    let repo = git2::Repository::init(root)?;
    let mut index = repo.index()?;
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None)?;
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let sig = git2::Signature::now("bench", "bench@flagsync.invalid")?;
    repo.commit(Some("HEAD"), &sig, &sig, "bench", &tree, &[])?;
    Ok(())
}

/// Lists the whole tree and reads every file, on `threads` threads in contiguous chunks the
/// way the manifest loader does.
fn read_all(tree: &dyn Tree, threads: usize) -> Result<u64, Box<dyn Error>> {
    let files = tree.files_under("")?;
    let chunk = files.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|file| tree.read(&file.path).map(|bytes| bytes.len() as u64))
                        .sum::<Result<u64, _>>()
                })
            })
            .collect();
        let mut total = 0;
        for worker in workers {
            total += worker.join().map_err(|_| "reader thread panicked")??;
        }
        Ok(total)
    })
}

fn measure(
    runs: usize,
    mut f: impl FnMut() -> Result<u64, Box<dyn Error>>,
) -> Result<Vec<Duration>, Box<dyn Error>> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        std::hint::black_box(f()?);
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times)
}

fn report(what: &str, times: Vec<Duration>) {
    let best = times[0];
    let median = times[times.len() / 2];
    println!(
        "{what:<34} {:>8.1} ms / {:>8.1} ms",
        best.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3
    );
}
