//! Mapping of `lb-configuration.xml` onto the registry and algorithm settings (behaviour
//! reference §8.1, §8.2, §1.19, §1.20, §4.2 ramp-up, §4.12).

use super::Cluster;
use crate::algorithm::{AlgorithmSettings, RampUpSettings};
use crate::config::Config;
use crate::node::{NodeKey, NodePorts, Version};
use crate::registry::{ExtraServerNode, HealthCheckSettings, RegistrySettings, StaticNodeSpec};

/// Renders the parsed `subclusterMap` groups back into the `( a, b ) ( c )` text the
/// algorithm module parses; `None` for an empty map.
fn subcluster_text(groups: &[Vec<String>]) -> Option<String> {
    if groups.is_empty() {
        return None;
    }
    Some(
        groups
            .iter()
            .map(|g| format!("({})", g.join(",")))
            .collect::<Vec<_>>()
            .join(""),
    )
}

impl Cluster {
    /// The registry and algorithm settings of a configuration:
    /// - registry: `nodeTimeout`, `responsesStatusCodeNodeRemoval`,
    ///   `maxNumberResponsesWithError`, `maxErrorTime`, `maxRequestNumberWithoutResponse` +
    ///   `maxResponseTime` (both needed), `extraServerNodes`, `performanceTestingMode`;
    /// - algorithm: every key of §4.12 (`algorithmClass`, `sipHeaderAffinityKey`,
    ///   `sipHeaderAffinityExclusionPattern`, `sipHeaderAffinityFallbackKey`,
    ///   `callIdAffinityGroupFailover`, `callIdAffinityMaxTimeInCache`, `httpAffinityKey`,
    ///   `subclusterMap`, `earlyDialogWorstCase`) and ramp-up (`trafficRampupCyclePeriod` +
    ///   `trafficPercentageIncrease`, both needed).
    ///
    /// `extraServerNodes` given as host names get no IP here (the core does no DNS): the
    /// driver resolves them before building the registry if it wants them registered.
    pub fn settings_from_config(config: &Config) -> (RegistrySettings, AlgorithmSettings) {
        let sip = &config.sip;
        let health_check = match (
            sip.max_request_number_without_response,
            sip.max_response_time,
        ) {
            (Some(max), Some(time)) => Some(HealthCheckSettings {
                max_requests_without_response: max,
                max_response_time: time,
            }),
            _ => None,
        };
        let extra_server_nodes = sip
            .extra_server_nodes
            .iter()
            .map(|hp| ExtraServerNode {
                host: hp.host.clone(),
                ip: crate::registry::parse_ip(&hp.host),
                port: hp.port,
            })
            .collect();
        let registry = RegistrySettings {
            node_timeout: config.common.node_timeout,
            error_status_codes: sip.responses_status_code_node_removal.clone(),
            max_error_responses: sip.max_number_responses_with_error,
            max_error_time: sip.max_error_time,
            health_check,
            extra_server_nodes,
            performance_testing_mode: sip.performance_testing_mode,
            static_nodes: sip
                .static_nodes
                .iter()
                .map(|n| StaticNodeSpec {
                    host_name: n.host_name.clone(),
                    key: NodeKey {
                        ip: n.ip,
                        ports: NodePorts {
                            udp: n.ports.udp,
                            tcp: n.ports.tcp,
                            tls: n.ports.tls,
                            ws: n.ports.ws,
                            wss: n.ports.wss,
                            http: None,
                            ssl: None,
                        },
                    },
                    version: Version(n.version.clone()),
                })
                .collect(),
        };
        let a = &sip.algorithm;
        let rampup = match (
            sip.traffic_rampup_cycle_period,
            sip.traffic_percentage_increase,
        ) {
            (Some(cycle_period), Some(percentage_increase)) => Some(RampUpSettings {
                cycle_period,
                percentage_increase,
            }),
            _ => None,
        };
        let algorithm = AlgorithmSettings {
            kind: a.kind,
            header_affinity_key: a.sip_header_affinity_key.clone(),
            exclusion_pattern: a
                .sip_header_affinity_exclusion_pattern
                .as_ref()
                .map(|r| r.as_str().to_owned()),
            fallback_key: a.sip_header_affinity_fallback_key.clone(),
            group_failover: a.call_id_affinity_group_failover,
            max_time_in_cache: a.call_id_affinity_max_time_in_cache,
            http_affinity_key: a.http_affinity_key.clone(),
            subcluster_map: subcluster_text(&a.subcluster_map),
            early_dialog_worst_case: a.early_dialog_worst_case,
            rampup,
        };
        (registry, algorithm)
    }

    /// [`Cluster::new`] with [`Cluster::settings_from_config`].
    pub fn from_config(
        config: &Config,
        now: crate::time::Timestamp,
    ) -> Result<Cluster, crate::algorithm::AlgorithmError> {
        let (r, a) = Cluster::settings_from_config(config);
        Cluster::new(r, a, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subcluster_groups_render_for_the_algorithm_parser() {
        let text = subcluster_text(&[
            vec!["10.0.0.1".into(), "10.0.0.2".into()],
            vec!["10.0.0.3".into()],
        ])
        .unwrap();
        assert_eq!(text, "(10.0.0.1,10.0.0.2)(10.0.0.3)");
        assert!(crate::algorithm::SubclusterMap::parse(&text).is_ok());
        assert_eq!(subcluster_text(&[]), None);
    }

    #[test]
    fn embedded_default_maps_to_reference_defaults() {
        let (r, a) = Cluster::settings_from_config(&Config::embedded_default());
        assert_eq!(r, RegistrySettings::default());
        assert_eq!(a, AlgorithmSettings::default());
    }
}
