//! RunPod REST v2 request and response bodies, all in one place so the client can follow the
//! API RunPod serves. Unknown fields are ignored; fields RunPod may leave out are optional.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /pods`.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CreatePod {
    pub name: String,
    pub image_name: String,
    /// One type per request: the client walks its own list on capacity errors.
    pub gpu_type_ids: Vec<String>,
    pub gpu_count: u32,
    pub cloud_type: String,
    pub container_disk_in_gb: u32,
    pub volume_in_gb: u32,
    pub volume_mount_path: String,
    /// `8000/http`, `70000/tcp`.
    pub ports: Vec<String>,
    pub support_public_ip: bool,
    /// Holds the server's token: never printed (see the Debug impl).
    pub env: BTreeMap<String, String>,
}

/// Names of environment variables whose values are secrets.
const SECRET_ENV: [&str; 1] = ["STUDIO_TOKEN"];

impl std::fmt::Debug for CreatePod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env: BTreeMap<&str, &str> = self
            .env
            .iter()
            .map(|(k, v)| {
                let shown = if SECRET_ENV.contains(&k.as_str()) {
                    "[redacted]"
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("CreatePod")
            .field("name", &self.name)
            .field("image_name", &self.image_name)
            .field("gpu_type_ids", &self.gpu_type_ids)
            .field("cloud_type", &self.cloud_type)
            .field("ports", &self.ports)
            .field("env", &env)
            .finish_non_exhaustive()
    }
}

/// Pod `status` values RunPod documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PodStatus {
    Provisioning,
    Starting,
    Running,
    Exited,
    Error,
    Terminated,
    #[serde(other)]
    Unknown,
}

impl PodStatus {
    /// The pod will not run again by itself.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            PodStatus::Exited | PodStatus::Error | PodStatus::Terminated
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub status: PodStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_type_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_hr: Option<f64>,
    /// Null until the pod's container runs.
    #[serde(default)]
    pub runtime: Option<PodRuntime>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodRuntime {
    #[serde(default)]
    pub ports: Vec<PortMapping>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortMapping {
    pub private: u32,
    pub public: u32,
    /// `http` or `tcp`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub ip: Option<String>,
}

/// `GET /pods`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PodList {
    pub pods: Vec<Pod>,
}

/// One GPU type and its hourly prices, from `GET /catalog/gpus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GpuOffer {
    pub id: String,
    #[serde(default)]
    pub secure_price: Option<f64>,
    #[serde(default)]
    pub community_price: Option<f64>,
}

impl GpuOffer {
    /// The hourly price for one GPU in `cloud_type` (`ALL` takes the higher, to stay under
    /// the cap whichever cloud the pod lands in).
    pub fn price(&self, cloud_type: &str) -> Option<f64> {
        match cloud_type {
            "SECURE" => self.secure_price,
            "COMMUNITY" => self.community_price,
            _ => match (self.secure_price, self.community_price) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
        }
    }
}

/// `GET /catalog/gpus`: a bare list, or one under `gpuTypes`/`gpus`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum GpuCatalog {
    List(Vec<GpuOffer>),
    Wrapped {
        #[serde(alias = "gpus", rename = "gpuTypes")]
        gpu_types: Vec<GpuOffer>,
    },
}

impl GpuCatalog {
    pub fn into_offers(self) -> Vec<GpuOffer> {
        match self {
            GpuCatalog::List(offers) | GpuCatalog::Wrapped { gpu_types: offers } => offers,
        }
    }
}

/// RunPod's error body; the message may sit at the top level or under `error`.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub error: Option<serde_json::Value>,
    #[serde(default)]
    pub message: Option<String>,
}

impl ErrorBody {
    pub fn message(&self) -> Option<String> {
        match &self.error {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Object(o)) => {
                o.get("message").and_then(|m| m.as_str()).map(str::to_owned)
            }
            _ => self.message.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provisioning_pod_has_no_runtime_and_a_running_one_has_ports() {
        let pods: PodList = serde_json::from_str(
            r#"{"pods":[
              {"id":"a1","name":"n","status":"PROVISIONING","runtime":null},
              {"id":"b2","name":"m","status":"RUNNING","costPerHr":0.69,
               "runtime":{"ports":[{"private":8000,"public":8000,"type":"http","ip":null},
                                    {"private":70000,"public":40123,"type":"tcp","ip":"203.0.113.7"}]}},
              {"id":"c3","status":"SOMETHING_NEW"}]}"#,
        )
        .unwrap();
        assert_eq!(pods.pods[0].runtime, None);
        assert_eq!(pods.pods[1].cost_per_hr, Some(0.69));
        let ports = &pods.pods[1].runtime.as_ref().unwrap().ports;
        assert_eq!(ports[1].ip.as_deref(), Some("203.0.113.7"));
        assert_eq!(pods.pods[2].status, PodStatus::Unknown);
    }

    #[test]
    fn the_create_body_uses_runpods_names_and_debug_hides_the_token() {
        let body = CreatePod {
            name: "p".into(),
            image_name: "img".into(),
            gpu_type_ids: vec!["NVIDIA L4".into()],
            gpu_count: 1,
            cloud_type: "SECURE".into(),
            container_disk_in_gb: 20,
            volume_in_gb: 20,
            volume_mount_path: "/workspace".into(),
            ports: vec!["8000/http".into(), "70000/tcp".into()],
            support_public_ip: true,
            env: [
                ("STUDIO_ROLE".to_string(), "video".to_string()),
                ("STUDIO_TOKEN".to_string(), "s3cr3t".to_string()),
            ]
            .into(),
        };
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["imageName"], "img");
        assert_eq!(json["gpuTypeIds"][0], "NVIDIA L4");
        assert_eq!(json["env"]["STUDIO_TOKEN"], "s3cr3t");
        let shown = format!("{body:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("video"));
    }

    #[test]
    fn catalog_prices_follow_the_cloud_type() {
        let offers = serde_json::from_str::<GpuCatalog>(
            r#"{"gpuTypes":[{"id":"NVIDIA L4","securePrice":0.43,"communityPrice":0.39}]}"#,
        )
        .unwrap()
        .into_offers();
        assert_eq!(offers[0].price("SECURE"), Some(0.43));
        assert_eq!(offers[0].price("COMMUNITY"), Some(0.39));
        assert_eq!(offers[0].price("ALL"), Some(0.43));
    }

    #[test]
    fn error_messages_are_found_where_runpod_puts_them() {
        let nested: ErrorBody =
            serde_json::from_str(r#"{"error":{"message":"no capacity"}}"#).unwrap();
        let flat: ErrorBody = serde_json::from_str(r#"{"error":"balance too low"}"#).unwrap();
        assert_eq!(nested.message().as_deref(), Some("no capacity"));
        assert_eq!(flat.message().as_deref(), Some("balance too low"));
    }
}
