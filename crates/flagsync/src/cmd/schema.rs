use std::path::PathBuf;
use std::process::ExitCode;

use miette::{IntoDiagnostic, WrapErr};

use crate::output::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the schemas.
    #[arg(long, default_value = "schemas")]
    pub out: PathBuf,
}

pub fn run(args: &Args, _global: &GlobalArgs) -> miette::Result<ExitCode> {
    std::fs::create_dir_all(&args.out)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot create {}", args.out.display()))?;
    let manifests = flagsync_manifest::schemas();
    for (name, json) in manifests.into_iter().chain(crate::schemas::outputs()) {
        let path = args.out.join(name);
        std::fs::write(&path, json)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
