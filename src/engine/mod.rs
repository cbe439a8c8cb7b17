//! Everything that talks to AWS. It reports to the UI through [`events::EngineEvent`]s; the UI
//! never holds or polls SDK objects.

pub mod copier;
pub mod errors;
pub mod events;
pub mod journal;
pub mod lister;
pub mod runner;
pub mod session;
