//! `completions SHELL` and `man`: the shell completion scripts and the man page, generated from
//! this command line's own definition (clap_complete, clap_mangen), so they cannot drift from
//! it. Both print to stdout; docs/releasing.md says where to install them.

use clap::CommandFactory;

/// `completions`'s arguments.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// The completion script for `args.shell`.
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<String> {
    let mut command = super::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "usage-connector", &mut out);
    Ok(String::from_utf8(out)?)
}

/// `man`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write every page to this folder instead: usage-connector.1 and one page per subcommand
    /// (usage-connector-run.1, …), which the main page refers to.
    #[arg(long, value_name = "DIR")]
    out: Option<std::path::PathBuf>,
}

/// The man page, `usage-connector(1)`, in roff; with `--out`, every page written to a folder
/// (and the names of those written).
pub fn man(args: &ManArgs) -> anyhow::Result<String> {
    // No `help` subcommand: it has no page of its own to refer to.
    let command = super::Cli::command().disable_help_subcommand(true);
    let Some(dir) = &args.out else {
        let mut out = Vec::new();
        clap_mangen::Man::new(command).render(&mut out)?;
        return Ok(String::from_utf8(out)?);
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let mut pages = vec!["usage-connector.1".to_owned()];
    pages.extend(
        command
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| format!("usage-connector-{}.1", s.get_name())),
    );
    clap_mangen::generate_to(command, dir)
        .map_err(|e| anyhow::anyhow!("cannot write the pages to {}: {e}", dir.display()))?;
    Ok(format!(
        "wrote {} man pages to {}: {}\n",
        pages.len(),
        dir.display(),
        pages.join(" ")
    ))
}
