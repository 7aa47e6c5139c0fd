//! Observation: KubeArmor's event JSON (ours from `armor-loader --visibility`, or KubeArmor's own)
//! read as a stream (`event`), file paths aggregated (`aggregate`), connections and sockets read
//! (`net`), times (`time`), then turned into behaviour tables (`summary`, `armorc summary`) or
//! least-privilege policies (`discover`, `armorc discover`). Events are data, whoever wrote them;
//! `discover` uses the compiler for workload manifests and to check and measure its policies.

pub mod aggregate;
pub mod discover;
pub mod event;
pub mod net;
pub mod summary;
pub mod time;
