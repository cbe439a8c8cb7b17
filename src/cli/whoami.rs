//! `s3ferry whoami`: who each side acts as, in which Region, and how long its credentials last.

use std::io::Write;
use std::time::SystemTime;

use crate::config::Config;
use crate::core::units::format_countdown;
use crate::engine::session::{Session, SessionError, SessionInfo};

#[derive(Debug, clap::Args)]
pub struct WhoamiArgs {
    /// {"source": {...}, "destination": {...}} with identity, region, via and lifetime.
    #[arg(long)]
    pub json: bool,
}

/// Connects both sides concurrently; a side that fails is reported, the other still shown.
pub async fn run(config: &Config, args: &WhoamiArgs, out: &mut impl Write) -> std::io::Result<bool> {
    let (dst_access, dst_via) = config.destination_browser();
    let (src, dst) = tokio::join!(
        Session::connect(&config.source.access, "source credentials", Some(&config.source.bucket)),
        Session::connect(&dst_access, dst_via, Some(&config.destination.bucket)),
    );
    let ok = src.is_ok() && dst.is_ok();
    if args.json {
        let side = |r: &Result<Session, SessionError>| match r {
            Ok(s) => serde_json::to_value(&s.info).unwrap_or_default(),
            Err(e) => serde_json::json!({"error": e.to_string()}),
        };
        writeln!(out, "{}", serde_json::json!({"source": side(&src), "destination": side(&dst)}))?;
    } else {
        for (name, r) in [("source", &src), ("destination", &dst)] {
            match r {
                Ok(s) => writeln!(out, "{name:<12} {}", describe(&s.info))?,
                Err(e) => writeln!(out, "{name:<12} error: {e}")?,
            }
        }
    }
    Ok(ok)
}

fn describe(info: &SessionInfo) -> String {
    let life = match info.lifetime.remaining(SystemTime::now()) {
        None => "no expiry".to_string(),
        Some(left) if info.lifetime.renews => format!("{} left, renews itself", format_countdown(left)),
        Some(left) => format!("{} left, does not renew", format_countdown(left)),
    };
    format!(
        "account {} as {} in {} via {} ({}; {life})",
        info.identity.account, info.identity.arn, info.region, info.via, info.lifetime.source
    )
}
