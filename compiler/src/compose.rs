//! Composition: which policies apply to which container (or the host), with what posture.
//! Shared by both lowerings; see docs/semantics.md for the selection rules.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PostureAction {
    Audit,
    Block,
}

/// Default posture per allowlisted category (process allowlists use the file posture; DNS the
/// network posture, as KubeArmor does).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Posture {
    pub file: PostureAction,
    pub network: PostureAction,
    pub capabilities: PostureAction,
}

impl Default for Posture {
    /// KubeArmor's code default is audit for every category.
    fn default() -> Self {
        Posture { file: PostureAction::Audit, network: PostureAction::Audit, capabilities: PostureAction::Audit }
    }
}

/// The pod's `kubearmor-policy` annotation (missing = enabled, as the annotation controller sets it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "mode", content = "reason")]
pub enum Enforcement {
    Enabled,
    /// Alerts only: no denials are lowered.
    Audited,
    /// Empty target, with the reason.
    Disabled(String),
}

/// One enforcement target: a container of a workload, or the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Target {
    pub namespace: Option<String>,
    /// Workload name (Deployment, Pod, ...) and its kind.
    pub workload: Option<String>,
    pub workload_kind: Option<String>,
    pub container: Option<String>,
    pub host: bool,
    pub enforcement: Enforcement,
    pub posture: Posture,
    /// Indexes into the composed policy list, in the order rules are applied.
    pub policies: Vec<usize>,
}

impl Target {
    /// `kubearmor-<namespace>-<workload>-<container>`, or `kubearmor.host`.
    pub fn apparmor_profile_name(&self) -> String {
        if self.host {
            return "kubearmor.host".to_string();
        }
        format!(
            "kubearmor-{}-{}-{}",
            self.namespace.as_deref().unwrap_or("default"),
            self.workload.as_deref().unwrap_or("-"),
            self.container.as_deref().unwrap_or("-")
        )
    }
}
