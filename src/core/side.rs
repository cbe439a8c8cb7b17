//! The two sides of a migration.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Source,
    Destination,
}

impl Side {
    pub const BOTH: [Side; 2] = [Side::Source, Side::Destination];

    pub fn index(self) -> usize {
        match self {
            Side::Source => 0,
            Side::Destination => 1,
        }
    }

    pub fn other(self) -> Side {
        match self {
            Side::Source => Side::Destination,
            Side::Destination => Side::Source,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Side::Source => "Source",
            Side::Destination => "Destination",
        }
    }
}
