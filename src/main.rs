//! The `s3ferry` binary: parse arguments, pick the TUI or a headless command, and turn errors
//! into one friendly message and an exit code.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use s3ferry::cli;
use s3ferry::cli::exit::Exit;
use s3ferry::config::{Config, Overrides};
use s3ferry::core::progress::Mode;

#[derive(Debug, Parser)]
#[command(name = "s3ferry", version, about = "Move S3 data between AWS accounts: browse, preflight, copy, resume.")]
struct Args {
    /// The migration file (TOML). See assets/s3ferry.example.toml.
    #[arg(long, short, global = true, env = "S3FERRY_CONFIG")]
    config: Option<PathBuf>,
    /// Override endpoint_url for every side (an S3-compatible endpoint or emulator).
    #[arg(long, global = true)]
    endpoint_url: Option<String>,
    /// Override [source] bucket and prefix: s3://BUCKET/PREFIX.
    #[arg(long, global = true, value_name = "S3URL")]
    source: Option<String>,
    /// Override [destination] bucket and prefix: s3://BUCKET/PREFIX.
    #[arg(long, global = true, value_name = "S3URL")]
    destination: Option<String>,
    /// Override [source] profile.
    #[arg(long, global = true, value_name = "PROFILE")]
    source_profile: Option<String>,
    /// Override [destination] profile (the destination then writes with its own credentials).
    #[arg(long, global = true, value_name = "PROFILE")]
    destination_profile: Option<String>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// List a side's buckets, prefixes and objects.
    Ls(cli::ls::LsArgs),
    /// Show each side's account, principal, Region and credential lifetime.
    Whoami(cli::whoami::WhoamiArgs),
    /// Check every permission step on both sides before copying; explain failures and print fixes.
    /// Exit: 0 ready, 1 blocked, 3 unknown, 2 usage or configuration error.
    Preflight(cli::preflight::PreflightArgs),
    /// Explain whether AWS would allow one request under the given policies, and the fix if not.
    /// Works offline on policy files. Exit: 0 allow, 1 deny, 3 unknown, 2 usage or input error.
    Explain(cli::explain::ExplainArgs),
    /// Copy every object in scope from the source to the destination (server-side when one
    /// identity can read and write; streamed when the destination has its own credentials).
    #[command(after_help = cli::copy::EXIT_HELP)]
    Cp(cli::copy::CopyArgs),
    /// Copy only what is new or changed (size + recorded source identity); --delete removes
    /// destination objects missing from the source.
    #[command(after_help = cli::copy::EXIT_HELP)]
    Sync(cli::copy::SyncArgs),
    /// Hand a large migration to S3 Batch Operations: plan, check the job role, upload the CSV
    /// manifest and create an S3PutObjectCopy job (objects over 5 GiB are copied from here).
    /// `batch status JOB_ID` watches the job and lists its failed tasks.
    #[command(after_help = cli::batch::EXIT_HELP)]
    Batch(cli::batch::BatchArgs),
    /// Print a commented example migration file (every field) to start from.
    Init,
    /// Print a shell completion script: s3ferry completions bash > /etc/bash_completion.d/s3ferry
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): s3ferry man | man -l -
    Man,
}

/// The example migration file, built into the binary.
const EXAMPLE_CONFIG: &str = include_str!("../assets/s3ferry.example.toml");

/// Commands that need no migration file; None when the command needs one.
fn without_config(command: &Option<Cmd>) -> Option<ExitCode> {
    use clap::CommandFactory;
    let mut out = std::io::stdout();
    let written = match command {
        Some(Cmd::Explain(explain)) => return Some(cli::explain::run(explain).emit().into()),
        Some(Cmd::Init) => std::io::Write::write_all(&mut out, EXAMPLE_CONFIG.as_bytes()),
        Some(Cmd::Completions { shell }) => {
            clap_complete::generate(*shell, &mut Args::command(), "s3ferry", &mut out);
            Ok(())
        }
        Some(Cmd::Man) => clap_mangen::Man::new(Args::command()).render(&mut out),
        _ => return None,
    };
    Some(match written {
        Ok(()) => Exit::Success.into(),
        // `s3ferry man | head`: the reader has what it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Exit::Success.into(),
        Err(e) => fail(Exit::Failed, &format!("writing output failed: {e}")),
    })
}

fn main() -> ExitCode {
    fixed_mmap_threshold();
    s3ferry::engine::open_files::raise();
    let args = parse_args();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(Exit::Failed, &format!("cannot start the async runtime: {e}")),
    };
    // The command runs as a task on the workers, not in `block_on` on this thread: the engine
    // sends a few events per object, and each one would otherwise wake this thread with a futex
    // (a copy of 20,000 objects made twice the raw client's futex calls).
    runtime.block_on(async {
        tokio::spawn(run(args))
            .await
            .unwrap_or_else(|e| fail(Exit::Failed, &format!("s3ferry stopped unexpectedly: {e}")))
    })
}

/// Keeps glibc's threshold for serving an allocation with its own mmap at 128 KiB. By default
/// glibc raises it to the size of each large block freed (up to 32 MiB), after which listing
/// pages and response buffers of a few MiB are carved from the arenas and stay there. Measured
/// on the bench bed (pages of 10,000): peak RSS 44 MiB at 20,000 objects and 51 MiB at 100,000
/// by default; 42 and 44-45 MiB with the threshold fixed, at the same speed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn fixed_mmap_threshold() {
    // SAFETY: mallopt only sets an allocator parameter; it is called before any other thread
    // exists, and a refusal (return 0) leaves glibc's default in place.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn fixed_mmap_threshold() {}

async fn run(args: Args) -> ExitCode {
    if let Some(code) = without_config(&args.command) {
        return code;
    }
    let config = match load_config(&args) {
        Ok(c) => c,
        Err(e) => return fail(Exit::Usage, &e.to_string()),
    };
    match &args.command {
        None | Some(Cmd::Explain(_) | Cmd::Init | Cmd::Completions { .. } | Cmd::Man) => {
            if !std::io::stdout().is_terminal() {
                return fail(
                    Exit::Usage,
                    "the console needs a terminal; for scripts use a subcommand such as `s3ferry ls` (see --help)",
                );
            }
            match s3ferry::ui::run(&config).await {
                Ok(()) => Exit::Success.into(),
                Err(e) => fail(Exit::Failed, &format!("terminal error: {e}")),
            }
        }
        Some(Cmd::Whoami(w)) => match cli::whoami::run(&config, w, &mut std::io::stdout()).await {
            Ok(ok) => Exit::from_ok(ok).into(),
            Err(e) => fail(Exit::Failed, &format!("writing output failed: {e}")),
        },
        Some(Cmd::Preflight(p)) => {
            if let Err(e) = cli::preflight::check_supplied(p) {
                return fail(Exit::Usage, &e.to_string());
            }
            let report = cli::preflight::report(&config, p).await;
            if let Err(e) = cli::preflight::write(&report, p.json, &mut std::io::stdout()) {
                return fail(Exit::Failed, &format!("writing output failed: {e}"));
            }
            cli::preflight::exit_code(&report).into()
        }
        Some(Cmd::Cp(a)) => transfer(&config, Mode::Cp, a, false).await,
        Some(Cmd::Sync(a)) => transfer(&config, Mode::Sync, &a.common, a.delete).await,
        Some(Cmd::Batch(b)) => {
            let mut out = std::io::stdout();
            let result = match &b.command {
                Some(cli::batch::BatchCommand::Status(s)) => cli::batch::status(&config, s, &mut out).await,
                None => cli::batch::run(&config, &b.create, &mut out).await,
            };
            match result {
                Ok(exit) => exit.into(),
                Err(e) if e.is_usage() => fail(Exit::Usage, &e.to_string()),
                Err(e) => fail(Exit::Failed, &e.to_string()),
            }
        }
        Some(Cmd::Ls(ls)) => {
            // Buffered (stdout alone writes line by line); `ls` flushes at every page.
            let mut out = std::io::BufWriter::new(std::io::stdout());
            match cli::ls::run(&config, ls, &mut out).await {
                Ok(_) => Exit::Success.into(),
                Err(e) if e.is_usage() => fail(Exit::Usage, &e.to_string()),
                Err(e) => fail(Exit::Failed, &e.to_string()),
            }
        }
    }
}

async fn transfer(config: &Config, mode: Mode, args: &cli::copy::CopyArgs, delete: bool) -> ExitCode {
    let prices = match &args.prices {
        Some(path) => match s3ferry::config::read_text(path, s3ferry::config::MAX_DOCUMENT_BYTES)
            .map_err(|e| format!("cannot read the price table {}: {e}", path.display()))
            .and_then(|t| s3ferry::core::cost::PriceTable::parse(&t).map_err(|e| format!("{}: {e}", path.display())))
        {
            Ok(t) => t,
            Err(e) => return fail(Exit::Usage, &e),
        },
        None => s3ferry::core::cost::PriceTable::builtin(),
    };
    // The guards of scripts (--max-failures, --require-ready) are headless: the console has its
    // own (the plan asks before a run the preflight did not pass; a failing run pauses itself).
    let console = !args.headless
        && !args.dry_run
        && !args.require_ready
        && args.max_failures.is_none()
        && args.progress == cli::copy::ProgressFormat::Text
        && std::io::stdout().is_terminal()
        && std::io::stdin().is_terminal();
    if console {
        let (config, opts) = cli::copy::options(config, mode, args, delete);
        let setup = config.transfer_setup(mode, prices, args.rate);
        return match s3ferry::ui::app::run_transfer(&config, opts, setup).await {
            Ok(None) => Exit::Success.into(),
            Ok(Some((end, failed))) => {
                if let Some(hint) = &end.hint {
                    eprintln!("s3ferry: {hint}");
                    return Exit::Credentials.into();
                }
                if let Some(e) = &end.error {
                    return fail(Exit::Failed, e);
                }
                // The console printed its summary (journal included) to the scrollback.
                if end.interrupted && end.journal.is_none() {
                    eprintln!("s3ferry: interrupted: rerun the same command to resume");
                }
                let mismatches = end.verify.as_ref().is_some_and(|v| !v.mismatches.is_empty());
                if let Some(n) = end.signal {
                    // Stopped by SIGHUP, SIGTERM or Ctrl-C: 128 + the signal, as shells report it.
                    return Exit::Signal(n).into();
                }
                Exit::from_ok(!(end.interrupted || failed > 0 || end.plan_error.is_some() || mismatches)).into()
            }
            Err(e) => fail(Exit::Failed, &format!("terminal error: {e}")),
        };
    }
    // Buffered (stdout alone writes line by line, and a dry run prints a line per object); the
    // progress loop flushes at every tick.
    let mut out = std::io::BufWriter::new(std::io::stdout());
    match cli::copy::run(config, mode, args, delete, &mut out).await {
        Ok(verdict) => verdict.exit().into(),
        Err(e) if e.is_usage() => fail(Exit::Usage, &e.to_string()),
        Err(e) => fail(Exit::Failed, &e.to_string()),
    }
}

/// Why the migration file could not be used.
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error(
        "no migration file: pass --config FILE (or set S3FERRY_CONFIG); assets/s3ferry.example.toml shows every field"
    )]
    NoConfig,
    #[error(transparent)]
    Config(#[from] s3ferry::config::ConfigError),
    #[error(transparent)]
    Override(#[from] s3ferry::config::OverrideError),
}

fn load_config(args: &Args) -> Result<Config, StartError> {
    let path = args.config.clone().ok_or(StartError::NoConfig)?;
    let mut config = Config::load(&path)?;
    config.apply(&Overrides {
        source: args.source.clone(),
        destination: args.destination.clone(),
        source_profile: args.source_profile.clone(),
        destination_profile: args.destination_profile.clone(),
        endpoint_url: args.endpoint_url.clone(),
    })?;
    Ok(config)
}

/// The command line, with `cp`/`sync`'s filters in the order given (clap keeps each flag's
/// values apart; the positions say which came first).
fn parse_args() -> Args {
    use clap::CommandFactory;
    args_from(&Args::command().get_matches())
}

fn args_from(matches: &clap::ArgMatches) -> Args {
    use clap::FromArgMatches;
    let mut args = Args::from_arg_matches(matches).unwrap_or_else(|e| e.exit());
    let sub = matches.subcommand();
    let copy = match (&mut args.command, sub) {
        (Some(Cmd::Cp(a)), Some((_, m))) => Some((a, m)),
        (Some(Cmd::Sync(s)), Some((_, m))) => Some((&mut s.common, m)),
        _ => None,
    };
    if let Some((a, m)) = copy {
        a.filters = cli::copy::ordered_filters(m);
        if a.json {
            a.progress = cli::copy::ProgressFormat::Json;
        }
    }
    args
}

fn fail(exit: Exit, message: &str) -> ExitCode {
    eprintln!("s3ferry: {message}");
    exit.into()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Clap checks every subcommand's arguments for clashes (global flags included).
    #[test]
    fn command_line_is_consistent() {
        super::Args::command().debug_assert();
    }

    /// The spellings people bring from aws cli and the other commands: --dryrun, --json.
    #[test]
    fn dryrun_and_json_are_accepted() {
        let matches = super::Args::command().try_get_matches_from(["s3ferry", "cp", "--dryrun", "--json"]).unwrap();
        let Some(super::Cmd::Cp(a)) = super::args_from(&matches).command else { panic!("not cp") };
        assert!(a.dry_run && a.progress == s3ferry::cli::copy::ProgressFormat::Json);
    }

    /// `s3ferry init` prints a file `--config` takes as it is.
    #[test]
    fn the_example_config_is_a_valid_migration_file() {
        s3ferry::config::Config::parse(std::path::Path::new("migration.toml"), super::EXAMPLE_CONFIG).unwrap();
    }

    /// --include and --exclude keep the order they were given in, across the two flags.
    #[test]
    fn filters_keep_their_command_line_order() {
        use s3ferry::core::plan::FilterRule;
        let matches = super::Args::command()
            .try_get_matches_from(["s3ferry", "sync", "--exclude", "*", "--include", "*.csv", "--exclude", "tmp/*"])
            .unwrap();
        let (_, sub) = matches.subcommand().unwrap();
        let want = [FilterRule::exclude("*"), FilterRule::include("*.csv"), FilterRule::exclude("tmp/*")];
        assert_eq!(s3ferry::cli::copy::ordered_filters(sub), want);
    }
}
