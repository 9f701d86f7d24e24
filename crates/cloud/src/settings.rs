//! Where cloud mode reaches RunPod: the API base URL and the proxy address template, from the
//! environment (`RUNPOD_API_URL`, `RUNPOD_PROXY_URL_TEMPLATE`) over `cloud.runpod` in config.

use studio_proto::config::RunpodConfig;

pub const API_URL_VAR: &str = "RUNPOD_API_URL";
pub const PROXY_TEMPLATE_VAR: &str = "RUNPOD_PROXY_URL_TEMPLATE";

#[derive(Debug, Clone, PartialEq)]
pub struct CloudSettings {
    /// Pods live at `{api_url}/pods`.
    pub api_url: String,
    /// Contains `{pod_id}` and `{port}`.
    pub proxy_url_template: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingsError {
    #[error("{API_URL_VAR} must start with http:// or https://, got {0:?}")]
    ApiUrl(String),
    #[error("{PROXY_TEMPLATE_VAR} must contain {{pod_id}} and {{port}}, got {0:?}")]
    ProxyTemplate(String),
}

impl CloudSettings {
    /// Config, with each environment variable that is set taking its place.
    pub fn resolve(
        config: &RunpodConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<CloudSettings, SettingsError> {
        let api_url = env(API_URL_VAR)
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| config.api_url.clone());
        if !(api_url.starts_with("http://") || api_url.starts_with("https://")) {
            return Err(SettingsError::ApiUrl(api_url));
        }
        let proxy_url_template = env(PROXY_TEMPLATE_VAR)
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| config.proxy_url_template.clone());
        if !(proxy_url_template.contains("{pod_id}") && proxy_url_template.contains("{port}")) {
            return Err(SettingsError::ProxyTemplate(proxy_url_template));
        }
        Ok(CloudSettings {
            api_url: api_url.trim_end_matches('/').to_string(),
            proxy_url_template,
        })
    }

    /// From the process environment.
    pub fn from_env(config: &RunpodConfig) -> Result<CloudSettings, SettingsError> {
        CloudSettings::resolve(config, |name| std::env::var(name).ok())
    }

    /// The HTTPS proxy address of a pod's port.
    pub fn proxy_url(&self, pod_id: &str, port: u16) -> String {
        self.proxy_url_template
            .replace("{pod_id}", pod_id)
            .replace("{port}", &port.to_string())
            .trim_end_matches('/')
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RunpodConfig {
        studio_proto::config::Config::defaults()
            .unwrap()
            .cloud
            .runpod
    }

    #[test]
    fn defaults_reach_runpod() {
        let s = CloudSettings::resolve(&config(), |_| None).unwrap();
        assert_eq!(s.api_url, "https://api.runpod.io/v2");
        assert_eq!(
            s.proxy_url("abc123", 8000),
            "https://abc123-8000.proxy.runpod.net"
        );
    }

    #[test]
    fn the_environment_wins_and_is_checked() {
        let s = CloudSettings::resolve(&config(), |name| match name {
            API_URL_VAR => Some("http://127.0.0.1:9/v2/".into()),
            PROXY_TEMPLATE_VAR => Some("http://127.0.0.1:9/proxy/{pod_id}/{port}".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.api_url, "http://127.0.0.1:9/v2");
        assert_eq!(s.proxy_url("p1", 8000), "http://127.0.0.1:9/proxy/p1/8000");
        let bad = CloudSettings::resolve(&config(), |name| {
            (name == PROXY_TEMPLATE_VAR).then(|| "http://x/{pod_id}".into())
        });
        assert!(matches!(bad, Err(SettingsError::ProxyTemplate(_))));
    }
}
