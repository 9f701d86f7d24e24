//! Cloud mode's servers: a provider trait with the RunPod REST v2 implementation, the
//! provisioning lifecycle as a state machine without I/O, and the thin async driver that
//! carries out its actions. Pods are always deleted: on stop, on exit, after an idle timeout,
//! and (found by this install's name prefix) at the next start after a crash.

pub mod api;
pub mod driver;
pub mod idle;
pub mod install;
pub mod lifecycle;
pub mod limits;
pub mod provider;
pub mod secret;
pub mod settings;

pub use driver::{CloudEvent, drive, teardown};
pub use lifecycle::{
    Action, CloudError, Outcome, Plan, Price, Progress, Provisioner, ServerEndpoint,
};
pub use provider::{ApiError, CloudProvider, RunpodRest};
pub use secret::Secret;
pub use settings::CloudSettings;
