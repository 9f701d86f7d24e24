//! RunPod REST v2 request and response bodies, all in one place, named as RunPod's OpenAPI
//! spec names them (`CreatePodRequest`, `Pod`, `GpuType`, `ErrorResponse`). Requests carry
//! exactly the spec's fields: v2 answers any other field with 422. Parsers read only what the
//! client uses and accept what the spec allows to be missing or null.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /v2/pods` body: `CreatePodRequest` (`ContainerConfig` and the pod's own fields).
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CreatePod {
    pub name: String,
    pub image: String,
    pub gpu: CreateGpu,
    /// `SECURE` or `COMMUNITY` (`Cloud`).
    pub cloud: String,
    /// Container disk, GB.
    pub disk: u32,
    /// None: no volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mounts: Option<Mounts>,
    /// `8000/http`, `70000/tcp`.
    pub ports: Vec<String>,
    /// Holds the server's token: never printed (see the Debug impl).
    pub env: BTreeMap<String, String>,
}

/// `CreateGpuConfig`: one GPU type per request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CreateGpu {
    pub id: String,
    pub count: u32,
    /// `major.minor`: the host's driver must offer at least the image's CUDA.
    pub min_cuda_version: String,
}

/// `Mounts`: the client uses only the host-local persistent volume.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Mounts {
    pub persistent: PersistentMount,
}

/// `PersistentMount`: `size` in GB (RunPod's floor is 10) at `path`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PersistentMount {
    pub size: u32,
    pub path: String,
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
            .field("image", &self.image)
            .field("gpu", &self.gpu)
            .field("cloud", &self.cloud)
            .field("disk", &self.disk)
            .field("mounts", &self.mounts)
            .field("ports", &self.ports)
            .field("env", &env)
            .finish()
    }
}

/// `PodStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PodStatus {
    Provisioning,
    Starting,
    Running,
    Exited,
    Error,
    Terminated,
    /// A status newer than this client.
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

/// The fields of `Pod` the client reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pod {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub status: PodStatus,
    /// `GpuConfig`: absent on CPU pods.
    #[serde(default)]
    pub gpu: Option<PodGpu>,
    /// USD per hour actually billed (0 when EXITED or TERMINATED).
    #[serde(default)]
    pub cost: Option<f64>,
    /// Null when the pod is not RUNNING.
    #[serde(default)]
    pub runtime: Option<PodRuntime>,
}

/// `GpuConfig` as a pod reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodGpu {
    pub id: String,
    #[serde(default)]
    pub count: Option<u32>,
}

/// `PodRuntime`: only its ports matter here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodRuntime {
    #[serde(default)]
    pub ports: Vec<PodRuntimePort>,
}

/// `PodRuntimePort`: every field may be missing, and `public` and `ip` may be null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodRuntimePort {
    #[serde(default)]
    pub private: Option<u64>,
    #[serde(default)]
    pub public: Option<u64>,
    /// `http` or `tcp`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub ip: Option<String>,
}

/// `ListPodsResponse`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListPodsResponse {
    pub pods: Vec<Pod>,
}

/// The fields of `GpuType` the client reads: its id and list prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuType {
    pub id: String,
    pub price: GpuPrice,
}

/// `GpuType.price`: USD per hour for one GPU in each cloud.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuPrice {
    #[serde(default)]
    pub secure: Option<f64>,
    #[serde(default)]
    pub community: Option<f64>,
}

impl GpuType {
    /// The hourly list price of `count` GPUs of this type in `cloud` (`SECURE`/`COMMUNITY`).
    pub fn price(&self, cloud: &str, count: u32) -> Option<f64> {
        let one = match cloud {
            "SECURE" => self.price.secure,
            "COMMUNITY" => self.price.community,
            _ => None,
        }?;
        (one.is_finite() && one >= 0.0).then(|| one * f64::from(count))
    }
}

/// `ListGpuTypesResponse`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListGpuTypesResponse {
    pub gpus: Vec<GpuType>,
}

/// `ErrorResponse`: RFC 9457 problem details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub detail: String,
    /// Individual request-validation failures (422).
    #[serde(default)]
    pub errors: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_decode_with_null_ports_and_runtimes_and_unknown_statuses() {
        let pods: ListPodsResponse = serde_json::from_str(
            r#"{"pods":[
              {"id":"a1","name":"n","status":"PROVISIONING","runtime":null,"cost":0.44},
              {"id":"b2","name":"m","status":"RUNNING","cost":0.69,
               "gpu":{"id":"NVIDIA L4","count":1},
               "runtime":{"uptime":3,"ports":[{"private":8000,"public":null,"type":"http","ip":null},
                                    {"private":70000,"public":70000,"type":"tcp","ip":"203.0.113.7"}]}},
              {"id":"c3","name":"o","status":"SOMETHING_NEW"}]}"#,
        )
        .unwrap();
        assert_eq!(pods.pods[0].runtime, None);
        assert_eq!(pods.pods[1].cost, Some(0.69));
        let ports = &pods.pods[1].runtime.as_ref().unwrap().ports;
        assert_eq!(ports[0].public, None);
        assert_eq!(ports[1].ip.as_deref(), Some("203.0.113.7"));
        assert_eq!(pods.pods[2].status, PodStatus::Unknown);
    }

    #[test]
    fn the_create_body_uses_runpods_names_and_debug_hides_the_token() {
        let body = CreatePod {
            name: "p".into(),
            image: "img".into(),
            gpu: CreateGpu {
                id: "NVIDIA L4".into(),
                count: 1,
                min_cuda_version: "12.4".into(),
            },
            cloud: "SECURE".into(),
            disk: 20,
            mounts: Some(Mounts {
                persistent: PersistentMount {
                    size: 20,
                    path: "/workspace".into(),
                },
            }),
            ports: vec!["8000/http".into(), "70000/tcp".into()],
            env: [
                ("STUDIO_ROLE".to_string(), "video".to_string()),
                ("STUDIO_TOKEN".to_string(), "s3cr3t".to_string()),
            ]
            .into(),
        };
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["image"], "img");
        assert_eq!(json["gpu"]["minCudaVersion"], "12.4");
        assert_eq!(json["mounts"]["persistent"]["size"], 20);
        assert_eq!(json["env"]["STUDIO_TOKEN"], "s3cr3t");
        let without = CreatePod {
            mounts: None,
            ..body.clone()
        };
        let json = serde_json::to_value(&without).unwrap();
        assert!(json.get("mounts").is_none(), "{json}");
        let shown = format!("{body:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("video"));
    }

    #[test]
    fn catalog_prices_are_per_gpu_and_per_cloud() {
        let gpus = serde_json::from_str::<ListGpuTypesResponse>(
            r#"{"gpus":[{"id":"NVIDIA L4","name":"L4","price":{"secure":0.43,"community":0.28}}]}"#,
        )
        .unwrap()
        .gpus;
        assert_eq!(gpus[0].price("SECURE", 1), Some(0.43));
        assert_eq!(gpus[0].price("COMMUNITY", 2), Some(0.56));
        assert_eq!(gpus[0].price("ALL", 1), None);
    }

    #[test]
    fn problems_keep_their_detail_and_errors() {
        let p: Problem = serde_json::from_str(
            r#"{"title":"Unprocessable Entity","status":422,"detail":"Request validation failed.",
                "errors":["$: additional properties 'bogus' not allowed"]}"#,
        )
        .unwrap();
        assert_eq!(p.detail, "Request validation failed.");
        assert_eq!(p.errors, ["$: additional properties 'bogus' not allowed"]);
    }
}
