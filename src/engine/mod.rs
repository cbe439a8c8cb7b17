//! Everything that talks to AWS. It reports to the UI through [`events::EngineEvent`]s; the UI
//! never holds or polls SDK objects.

pub mod batch;
pub mod copier;
pub mod dest_write;
pub mod errors;
pub mod events;
pub mod evidence;
pub mod inspect;
pub mod journal;
pub mod layers;
pub mod lister;
pub mod open_files;
pub mod preflight;
pub mod probe;
pub mod runner;
pub mod session;
