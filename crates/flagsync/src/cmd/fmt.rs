//! `flagsync fmt`: rewrites every manifest in its canonical form, the one export writes
//! (`flagsync_manifest::write::format`); `--check` lists what would change.

use std::path::PathBuf;
use std::process::ExitCode;

use flagsync_manifest::write::{self, File, RepoFiles};
use miette::miette;

use crate::output::GlobalArgs;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Formats every manifest of the repository (target groups, experiments, rollouts, CloudBees \
Unify CasC files) as `flagsync export` writes it: the same fields in the same order, \
defaults left out, the same quoting. What a manifest means never changes: each formatted \
text is read back and compared with the original before anything is written.

Comments: formatting writes values, so it keeps a file's leading block of comments (a \
`# yaml-language-server: $schema=...` line, a licence) and cannot keep any other. A file \
with other comments is listed and left alone; --force formats it and drops them.

Files are written only inside the repository, each through a temporary file. flagsync.yaml \
is not formatted. Exit status: 0 when everything is formatted (with --check: nothing would \
change), 1 when a file would change (--check), was left alone, or the manifests have errors.")]
pub struct Args {
    /// The repository to format.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Write nothing: list the files that would change and exit 1 if there are any.
    #[arg(long)]
    pub check: bool,
    /// Also format files with comments other than a leading block, dropping those comments.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &Args, _global: &GlobalArgs) -> miette::Result<ExitCode> {
    let source = crate::source::open(&args.dir, None)?;
    let loaded = flagsync_manifest::load(source.as_ref());
    if loaded.has_errors() {
        crate::diagnostics::print_human(&loaded);
        return Err(miette!(
            help = "fix them first (`flagsync validate` lists them): fmt reads every manifest through the model",
            "the manifests have {} error(s); nothing was formatted",
            loaded.error_count()
        ));
    }
    let canonicalize =
        |m: &flagsync_manifest::model::Manifest| flagsync_plan::normalize::manifest_body(m);
    let formatted = write::format(&loaded.repository, &loaded.sources, &canonicalize);
    let total = formatted.len();
    let mut to_write: Vec<File> = Vec::new();
    let mut left_alone = 0usize;
    for f in formatted.iter().filter(|f| f.changed) {
        if let Some(mismatch) = &f.mismatch {
            // A formatting that would change the meaning is a bug: never written.
            eprintln!(
                "error: {}: not formatted: the canonical text {mismatch}",
                f.file
            );
            left_alone += 1;
            continue;
        }
        if args.check {
            println!("would reformat {}", f.file);
            continue;
        }
        if let (Some(line), false) = (f.comment_line, args.force) {
            eprintln!(
                "{}: not formatted: it has comments (line {line}) that formatting would drop; --force drops them",
                f.file
            );
            left_alone += 1;
            continue;
        }
        to_write.push(File {
            rel: f.file.clone(),
            content: f.content.clone(),
            replaces: None,
        });
    }
    let changed = formatted.iter().filter(|f| f.changed).count();
    if args.check {
        println!(
            "{changed} of {total} manifest file(s) would be reformatted{}",
            if changed == 0 {
                ""
            } else {
                "; run `flagsync fmt`"
            }
        );
        return Ok(if changed == 0 && left_alone == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    if !to_write.is_empty() {
        let files = RepoFiles::open(&args.dir)?;
        // Every file exists and its new content was decided above: overwriting is the point.
        files.write_all(&to_write, true)?;
        for f in &to_write {
            println!("formatted {}", f.rel);
        }
    }
    println!(
        "{} of {total} manifest file(s) formatted{}",
        to_write.len(),
        match left_alone {
            0 => String::new(),
            n => format!(", {n} left alone"),
        }
    );
    Ok(if left_alone == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
