//! `monoship completions SHELL`: a completion script for bash, zsh, fish, PowerShell or elvish.

use super::{Cli, CliError, error, exit};
use clap::CommandFactory;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  monoship completions bash > ~/.local/share/bash-completion/completions/monoship
  monoship completions zsh > \"${fpath[1]}/_monoship\"
  monoship completions fish > ~/.config/fish/completions/monoship.fish")]
pub struct Args {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn run(args: &Args) -> Result<u8, CliError> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "monoship", &mut out);
    use std::io::Write;
    std::io::stdout()
        .write_all(&out)
        .map_err(error::io("writing the completions"))?;
    Ok(exit::OK)
}
