"""Validates the custom resources Verdict ships (KEDA ScaledObject and TriggerAuthentication,
Prometheus Operator ServiceMonitor and PrometheusRule) against JSON Schemas of their APIs.

kubernetes-validate knows only the built-in kinds. These schemas are written here from the
upstream CRDs (KEDA 2.x keda.sh/v1alpha1, prometheus-operator monitoring.coreos.com/v1): every
property those APIs define at the levels Verdict uses is listed, and anything else is refused, so a
misspelt field fails `make check` instead of being dropped by the API server.

usage: python validate_crds.py FILE...   (multi-document YAML, e.g. `kubectl kustomize` output)
"""
import sys

import jsonschema
import yaml

DURATION = {"type": "string", "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}
LABELS = {"type": "object", "additionalProperties": {"type": "string"}}


def strict(properties, required=()):
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


def loose(names, required=()):
    """An object whose property names are those of the API; their values are not checked further."""
    return strict({name: {} for name in names}, required)


METADATA = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "minLength": 1}, "labels": LABELS, "annotations": LABELS}}

HPA_BEHAVIOR_RULES = strict({
    "stabilizationWindowSeconds": {"type": "integer", "minimum": 0, "maximum": 3600},
    "selectPolicy": {"enum": ["Max", "Min", "Disabled"]},
    "tolerance": {},
    "policies": {"type": "array", "items": strict({
        "type": {"enum": ["Pods", "Percent"]}, "value": {"type": "integer", "minimum": 1},
        "periodSeconds": {"type": "integer", "minimum": 1, "maximum": 1800}}, ["type", "value", "periodSeconds"])},
})

KAFKA_TRIGGER_METADATA = strict({name: {"type": "string"} for name in [
    "activationLagThreshold", "allowIdleConsumers", "awsRegion", "bootstrapServers", "ca", "cert", "consumerGroup",
    "ensureEvenDistributionOfPartitions", "excludePersistentLag", "kerberosConfig", "kerberosDisableFAST",
    "kerberosServiceName", "key", "keyPassword", "keytab", "lagThreshold", "limitToPartitionsWithLag",
    "oauthExtensions", "oauthTokenEndpointUri", "offsetResetPolicy", "partitionLimitation", "password", "realm",
    "sasl", "saslTokenProvider", "scaleToZeroOnInvalidOffset", "scopes", "tls", "topic", "unsafeSsl", "username",
    "version"]}, ["bootstrapServers", "consumerGroup"])
KAFKA_TRIGGER_METADATA["properties"]["sasl"] = {"enum": ["none", "plaintext", "scram_sha256", "scram_sha512", "oauthbearer", "gssapi"]}
KAFKA_TRIGGER_METADATA["properties"]["tls"] = {"enum": ["enable", "disable"]}
KAFKA_TRIGGER_METADATA["properties"]["offsetResetPolicy"] = {"enum": ["earliest", "latest"]}

SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): strict({
        "apiVersion": {}, "kind": {}, "metadata": METADATA,
        "spec": strict({
            "scaleTargetRef": strict({"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "name": {"type": "string"},
                                      "envSourceContainerName": {"type": "string"}}, ["name"]),
            "pollingInterval": {"type": "integer", "minimum": 1}, "cooldownPeriod": {"type": "integer", "minimum": 0},
            "initialCooldownPeriod": {"type": "integer", "minimum": 0}, "idleReplicaCount": {"type": "integer", "minimum": 0},
            "minReplicaCount": {"type": "integer", "minimum": 0}, "maxReplicaCount": {"type": "integer", "minimum": 1},
            "fallback": loose(["behavior", "failureThreshold", "replicas"], ["failureThreshold", "replicas"]),
            "advanced": strict({
                "horizontalPodAutoscalerConfig": strict({
                    "name": {"type": "string"},
                    "behavior": strict({"scaleUp": HPA_BEHAVIOR_RULES, "scaleDown": HPA_BEHAVIOR_RULES})}),
                "restoreToOriginalReplicaCount": {"type": "boolean"},
                "scalingModifiers": loose(["activationTarget", "formula", "metricType", "target"])}),
            "triggers": {"type": "array", "minItems": 1, "items": {
                "allOf": [
                    strict({"type": {"type": "string"}, "name": {"type": "string"}, "metadata": {"type": "object"},
                            "metricType": {"enum": ["AverageValue", "Value", "Utilization"]}, "useCachedMetrics": {"type": "boolean"},
                            "authenticationRef": strict({"name": {"type": "string"}, "kind": {"enum": ["TriggerAuthentication", "ClusterTriggerAuthentication"]}}, ["name"])},
                           ["type", "metadata"]),
                    {"if": {"properties": {"type": {"const": "kafka"}}},
                     "then": {"properties": {"metadata": KAFKA_TRIGGER_METADATA}}}]}},
        }, ["scaleTargetRef", "triggers"]),
    }, ["apiVersion", "kind", "metadata", "spec"]),

    ("keda.sh/v1alpha1", "TriggerAuthentication"): strict({
        "apiVersion": {}, "kind": {}, "metadata": METADATA,
        "spec": strict({
            "secretTargetRef": {"type": "array", "items": strict({"parameter": {"type": "string"}, "name": {"type": "string"}, "key": {"type": "string"}},
                                                                 ["parameter", "name", "key"])},
            **{name: {} for name in ["awsSecretManager", "azureKeyVault", "boundServiceAccountToken", "configMapTargetRef", "env",
                                     "filePath", "gcpSecretManager", "hashiCorpVault", "oauth2", "podIdentity"]},
        }),
    }, ["apiVersion", "kind", "metadata", "spec"]),

    ("monitoring.coreos.com/v1", "ServiceMonitor"): strict({
        "apiVersion": {}, "kind": {}, "metadata": METADATA,
        "spec": strict({
            "selector": loose(["matchExpressions", "matchLabels"]),
            "endpoints": {"type": "array", "minItems": 1, "items": strict({
                "port": {"type": "string"}, "targetPort": {}, "path": {"type": "string", "pattern": "^/"},
                "scheme": {"enum": ["http", "https", "HTTP", "HTTPS"]}, "interval": DURATION, "scrapeTimeout": DURATION,
                **{name: {} for name in ["authorization", "basicAuth", "bearerTokenFile", "bearerTokenSecret", "enableHttp2", "filterRunning",
                                         "followRedirects", "honorLabels", "honorTimestamps", "metricRelabelings", "noProxy", "oauth2", "params",
                                         "proxyConnectHeader", "proxyFromEnvironment", "proxyUrl", "relabelings", "tlsConfig",
                                         "trackTimestampsStaleness"]}})},
            **{name: {} for name in ["attachMetadata", "bodySizeLimit", "convertClassicHistogramsToNHCB", "fallbackScrapeProtocol", "jobLabel",
                                     "keepDroppedTargets", "labelLimit", "labelNameLengthLimit", "labelValueLengthLimit", "namespaceSelector",
                                     "nativeHistogramBucketLimit", "nativeHistogramMinBucketFactor", "podTargetLabels", "sampleLimit",
                                     "scrapeClass", "scrapeClassicHistograms", "scrapeNativeHistograms", "scrapeProtocols",
                                     "selectorMechanism", "serviceDiscoveryRole", "targetLabels", "targetLimit"]},
        }, ["endpoints", "selector"]),
    }, ["apiVersion", "kind", "metadata", "spec"]),

    ("monitoring.coreos.com/v1", "PrometheusRule"): strict({
        "apiVersion": {}, "kind": {}, "metadata": METADATA,
        "spec": strict({"groups": {"type": "array", "minItems": 1, "items": strict({
            "name": {"type": "string", "minLength": 1}, "interval": DURATION, "query_offset": DURATION, "limit": {"type": "integer"},
            "labels": LABELS, "partial_response_strategy": {"type": "string"},
            "rules": {"type": "array", "items": {"allOf": [
                strict({"record": {"type": "string"}, "alert": {"type": "string"}, "expr": {"type": ["string", "integer"]},
                        "for": DURATION, "keep_firing_for": DURATION, "labels": LABELS, "annotations": LABELS}, ["expr"]),
                {"oneOf": [{"required": ["record"]}, {"required": ["alert"]}]}]}}}, ["name"])}}),
    }, ["apiVersion", "kind", "metadata", "spec"]),
}


def main(paths):
    checked = failures = 0
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for document in yaml.safe_load_all(handle):
                if not document:
                    continue
                key = (document.get("apiVersion"), document.get("kind"))
                schema = SCHEMAS.get(key)
                if schema is None:
                    continue
                name = f"{key[1]}/{document.get('metadata', {}).get('name')}"
                errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(document), key=lambda e: list(e.absolute_path))
                checked += 1
                for error in errors:
                    failures += 1
                    where = "/".join(str(part) for part in error.absolute_path) or "(document)"
                    print(f"{path}: {name}: {where}: {error.message}", file=sys.stderr)
                if not errors:
                    print(f"{path}: {name}: valid ({key[0]})")
    if failures:
        print(f"validate_crds: {failures} problem(s) in custom resources", file=sys.stderr)
        return 1
    if checked == 0:
        print("validate_crds: no custom resources found; expected ScaledObject, ServiceMonitor or PrometheusRule", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
