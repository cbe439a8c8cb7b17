//! What the console knows about the run it would start, from the config and the flags
//! (built by `Config::transfer_setup`).

use crate::core::cost::PriceTable;
use crate::core::progress::Mode;
use crate::core::scope::Pair;

/// What the console knows about the run it would start (from the config and the flags).
#[derive(Debug, Clone, PartialEq)]
pub struct TransferSetup {
    pub mode: Mode,
    pub source: String,
    pub destination: String,
    pub threshold: u64,
    pub part_size: u64,
    pub concurrency: usize,
    /// The destination is written with SSE-KMS (a key ARN is configured).
    pub kms: bool,
    /// Where the writes are billed.
    pub region: String,
    pub prices: PriceTable,
    /// `--rate`: objects per second for the ETA before the run has a rate of its own.
    pub rate: Option<f64>,
    /// The configured source and destination: a console scope maps within them.
    pub pair: Pair,
}
