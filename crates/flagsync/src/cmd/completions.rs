//! `flagsync completions SHELL`: the shell completion script, generated from the same clap
//! definition as the parser, so it always knows every command and option of this binary.

use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::output::GlobalArgs;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Load it in the current shell, or install it where the shell looks for completions:
  bash        source <(flagsync completions bash)
              flagsync completions bash > ~/.local/share/bash-completion/completions/flagsync
  zsh         flagsync completions zsh > \"${fpath[1]}/_flagsync\"
  fish        flagsync completions fish > ~/.config/fish/completions/flagsync.fish
  powershell  flagsync completions powershell | Out-String | Invoke-Expression
  elvish      eval (flagsync completions elvish | slurp)")]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(args: &Args, _global: &GlobalArgs) -> miette::Result<ExitCode> {
    // Generated into memory first: the generators panic on a write error (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(
        args.shell,
        &mut crate::Cli::command(),
        "flagsync",
        &mut script,
    );
    crate::output::write_stdout(&script, "completion script")?;
    Ok(ExitCode::SUCCESS)
}
