"""Validation and defaults of networking.k8s.io/v1 (Ingress, IngressClass, NetworkPolicy)
and of core/v1 ReplicationController and PodTemplate, against upstream's messages
(pkg/apis/networking/validation, pkg/apis/core/validation, the v1 defaulters)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubelite.api import defaults, validation
from kubelite.api.validation import networking, workloads

Obj = dict[str, Any]
NET = "networking.k8s.io"


def check(kind: str, obj: Obj, *, old: Obj | None = None, group: str = NET) -> list[tuple[str, str]]:
    obj = copy.deepcopy(obj)
    defaults.apply_defaults(group, kind, obj)
    return [(c.field, c.message) for c in validation.validate(group, kind, obj, old=old)]


def ingress(*paths: Obj, host: str = "example.com", **spec: Any) -> Obj:
    rule: Obj = {"host": host, "http": {"paths": list(paths)}} if paths else {"host": host}
    return {"metadata": {"name": "web"}, "spec": {"rules": [rule], **spec}}


def path(p: str = "/", path_type: str | None = "Prefix", **backend: Any) -> Obj:
    item: Obj = {"path": p, "backend": backend or {"service": {"name": "web", "port": {"number": 80}}}}
    if path_type is not None:
        item["pathType"] = path_type
    return item


# --- Ingress -------------------------------------------------------------------------


def test_a_plain_ingress_is_valid_and_gets_no_defaults_but_its_spec() -> None:
    assert check("Ingress", ingress(path())) == []
    assert check("Ingress", {"spec": {"defaultBackend": {"service": {"name": "web", "port": {"name": "http"}}}}}) == []
    bare: Obj = {"metadata": {"name": "x"}}
    defaults.apply_defaults(NET, "Ingress", bare)
    assert bare["spec"] == {}


def test_ingress_needs_rules_or_a_default_backend() -> None:
    assert check("Ingress", {"spec": {}}) == [
        ("spec", "Invalid value: null: either `defaultBackend` or `rules` must be specified")]
    assert check("Ingress", {"spec": {"rules": []}})[0][1].startswith("Invalid value: []: either")


@pytest.mark.parametrize(("item", "expected"), [
    (path(path_type=None), ("spec.rules[0].http.paths[0].pathType", "Required value: pathType must be specified")),
    (path(path_type="Regex"), ("spec.rules[0].http.paths[0].pathType",
                               'Unsupported value: "Regex": supported values: "Exact", "ImplementationSpecific", '
                               '"Prefix"')),
    (path("api"), ("spec.rules[0].http.paths[0].path", 'Invalid value: "api": must be an absolute path')),
    (path("/a//b", "Exact"), ("spec.rules[0].http.paths[0].path", "Invalid value: \"/a//b\": must not contain '//'")),
    (path("/a/..", "Exact"), ("spec.rules[0].http.paths[0].path", "Invalid value: \"/a/..\": cannot end with '/..'")),
    (path("relative", "ImplementationSpecific"),
     ("spec.rules[0].http.paths[0].path", 'Invalid value: "relative": must be an absolute path')),
    (path(service={"name": "web"}),
     ("spec.rules[0].http.paths[0].backend", "Required value: port name or number is required")),
    (path(service={"name": "web", "port": {"name": "http", "number": 80}}),
     ("spec.rules[0].http.paths[0].backend", 'Invalid value: "": cannot set both port name & port number')),
    (path(service={"name": "web", "port": {"number": 70000}}),
     ("spec.rules[0].http.paths[0].backend.service.port.number",
      "Invalid value: 70000: must be between 1 and 65535, inclusive")),
    (path(service={"port": {"number": 80}}),
     ("spec.rules[0].http.paths[0].backend.service.name", "Required value")),
    (path(service={"name": "web", "port": {"number": 80}}, resource={"kind": "Bucket", "name": "b"}),
     ("spec.rules[0].http.paths[0].backend", 'Invalid value: "": cannot set both resource and service backends')),
    (path(resource={"kind": "Bucket", "name": "a/b"}),
     ("spec.rules[0].http.paths[0].backend.resource.name", "Invalid value: \"a/b\": may not contain '/'")),
])
def test_ingress_path_and_backend_errors(item: Obj, expected: tuple[str, str]) -> None:
    assert check("Ingress", ingress(item)) == [expected]


def test_an_empty_backend_is_refused() -> None:
    item = path()
    item["backend"] = {}
    assert check("Ingress", ingress(item)) == [
        ("spec.rules[0].http.paths[0].backend", 'Invalid value: "": resource or service backend is required')]


def test_a_backend_service_name_is_a_dns_1035_label() -> None:
    field, message = check("Ingress", ingress(path(service={"name": "1web", "port": {"number": 80}})))[0]
    assert field == "spec.rules[0].http.paths[0].backend.service.name"
    assert message.startswith('Invalid value: "1web": a DNS-1035 label must consist of')


def test_ingress_hosts_tls_and_class_name() -> None:
    assert check("Ingress", ingress(path(), host="10.0.0.1")) == [
        ("spec.rules[0].host", 'Invalid value: "10.0.0.1": must be a DNS name, not an IP address')]
    assert check("Ingress", ingress(path(), host="*.example.com")) == []
    field, message = check("Ingress", ingress(path(), host="a.*.com"))[0]
    assert field == "spec.rules[0].host" and "a wildcard DNS-1123 subdomain must start with '*.'" in message
    assert check("Ingress", ingress(host="only.example.com")) == []  # a rule without http is fine
    assert check("Ingress", {"spec": {"rules": [{"http": {"paths": []}}]}}) == [
        ("spec.rules[0].http.paths", "Required value")]
    tls = check("Ingress", ingress(path(), tls=[{"hosts": ["ok.example.com", "Bad"], "secretName": "Bad_Secret"}]))
    assert [f for f, _ in tls] == ["spec.tls[0].hosts[1]", "spec.tls[0].secretName"]
    assert check("Ingress", ingress(path(), ingressClassName="Nginx"))[0][0] == "spec.ingressClassName"


def test_class_annotation_must_match_the_class_name_on_create_only() -> None:
    obj = ingress(path(), ingressClassName="nginx")
    obj["metadata"]["annotations"] = {"kubernetes.io/ingress.class": "traefik"}
    assert check("Ingress", obj) == [("annotations.kubernetes.io/ingress.class",
                                      'Invalid value: "traefik": must match `ingressClassName` when both are '
                                      "specified")]
    assert check("Ingress", obj, old=obj) == []


def test_an_update_may_keep_what_an_older_ingress_already_holds() -> None:
    old = ingress(path(), tls=[{"secretName": "Legacy_Secret"}])
    assert check("Ingress", old)  # refused on create
    assert check("Ingress", old, old=old) == []


def test_ingress_status_addresses() -> None:
    def status(*entries: Obj) -> Obj:
        return {"status": {"loadBalancer": {"ingress": list(entries)}}}
    assert networking.validate_ingress_status(status({"ip": "10.0.0.1"}, {"hostname": "lb.example.com"}), {}) == []
    causes = networking.validate_ingress_status(status({"ip": "nope"}, {"hostname": "10.0.0.2"}), {})
    assert [(c.field, c.message) for c in causes] == [
        ("status.loadBalancer.ingress[0].ip",
         'Invalid value: "nope": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'),
        ("status.loadBalancer.ingress[1].hostname",
         'Invalid value: "10.0.0.2": must be a DNS name, not an IP address')]


# --- IngressClass --------------------------------------------------------------------


def test_ingress_class_controller_and_parameters() -> None:
    ok = {"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}}
    assert check("IngressClass", ok) == []
    assert check("IngressClass", {"spec": {}}) == [("spec.controller", "Required value")]
    assert check("IngressClass", {"spec": {"controller": "nginx"}}) == [
        ("spec.controller", 'Invalid value: "nginx": must be a domain-prefixed path (such as "acme.io/foo")')]
    too_long = check("IngressClass", {"spec": {"controller": "example.com/" + "x" * 250}})
    assert too_long[0] == ("spec.controller", "Too long: may not be more than 250 bytes")
    bad_host = check("IngressClass", {"spec": {"controller": "Example.com/x"}})
    assert bad_host[0][0] == "spec.controller"
    assert bad_host[0][1].startswith('Invalid value: "Example.com": a lowercase')
    params: Obj = {"spec": {"controller": "k8s.io/x", "parameters": {"kind": "Params", "name": "p"}}}
    defaulted = copy.deepcopy(params)
    defaults.apply_defaults(NET, "IngressClass", defaulted)
    assert defaulted["spec"]["parameters"]["scope"] == "Cluster"
    in_ns = copy.deepcopy(params)
    in_ns["spec"]["parameters"]["namespace"] = "team"
    assert check("IngressClass", in_ns) == [
        ("spec.parameters.namespace", "Forbidden: `parameters.scope` is set to 'Cluster'")]
    in_ns["spec"]["parameters"]["scope"] = "Namespace"
    assert check("IngressClass", in_ns) == []
    del in_ns["spec"]["parameters"]["namespace"]
    assert check("IngressClass", in_ns) == [
        ("spec.parameters.namespace", "Required value: `parameters.scope` is set to 'Namespace'")]
    in_ns["spec"]["parameters"]["scope"] = "Galaxy"
    assert check("IngressClass", in_ns) == [
        ("spec.parameters.scope", 'Unsupported value: "Galaxy": supported values: "Cluster", "Namespace"')]


def test_ingress_class_controller_is_immutable() -> None:
    old = {"spec": {"controller": "k8s.io/a"}}
    assert check("IngressClass", {"spec": {"controller": "k8s.io/b"}}, old=old) == [
        ("spec.controller", 'Invalid value: "k8s.io/b": field is immutable')]


# --- NetworkPolicy -------------------------------------------------------------------


def test_network_policy_defaults() -> None:
    bare: Obj = {"spec": {}}
    defaults.apply_defaults(NET, "NetworkPolicy", bare)
    assert bare["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    egress: Obj = {"spec": {"egress": [{"ports": [{"port": 53}, {"port": 53, "protocol": "UDP"}]}]}}
    defaults.apply_defaults(NET, "NetworkPolicy", egress)
    assert egress["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert [p["protocol"] for p in egress["spec"]["egress"][0]["ports"]] == ["TCP", "UDP"]
    explicit: Obj = {"spec": {"egress": [{}], "policyTypes": ["Egress"]}}
    defaults.apply_defaults(NET, "NetworkPolicy", explicit)
    assert explicit["spec"]["policyTypes"] == ["Egress"]


def test_network_policy_ports_peers_and_types() -> None:
    spec = {"podSelector": {"matchLabels": {"app": "db"}},
            "ingress": [{"ports": [{"port": "http", "endPort": 90}, {"port": 0}, {"port": 80, "endPort": 79},
                                   {"endPort": 80}, {"port": 80, "protocol": "ICMP"}],
                         "from": [{}, {"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}],
            "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16", "11.0.0.0/16", "x"]}},
                               {"ipBlock": {"cidr": "10.0.0.0"}}]}],
            "policyTypes": ["Ingress", "Sideways"]}
    assert check("NetworkPolicy", {"spec": spec}) == [
        ("spec.ingress[0].ports[0].endPort", "Invalid value: 90: may not be specified when `port` is non-numeric"),
        ("spec.ingress[0].ports[1].port", "Invalid value: 0: must be between 1 and 65535, inclusive"),
        ("spec.ingress[0].ports[2].endPort", "Invalid value: 79: must be greater than or equal to `port`"),
        ("spec.ingress[0].ports[3].endPort", "Invalid value: 80: may not be specified when `port` is not specified"),
        ("spec.ingress[0].ports[4].protocol", 'Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"'),
        ("spec.ingress[0].from[0]", "Required value: must specify a peer"),
        ("spec.ingress[0].from[1]", "Forbidden: may not specify both ipBlock and another peer"),
        ("spec.egress[0].to[0].ipBlock.except[1]", 'Invalid value: "11.0.0.0/16": must be a strict subset of `cidr`'),
        ("spec.egress[0].to[0].ipBlock.except[2]",
         'Invalid value: "x": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'),
        ("spec.egress[0].to[1].ipBlock.cidr",
         'Invalid value: "10.0.0.0": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'),
        ("spec.policyTypes[1]", 'Unsupported value: "Sideways": supported values: "Ingress", "Egress"'),
    ]
    three = check("NetworkPolicy", {"spec": {"policyTypes": ["Ingress", "Egress", "Ingress"]}})
    assert three == [("spec.policyTypes",
                      'Invalid value: ["Ingress","Egress","Ingress"]: may not specify more than two policyTypes')]
    assert check("NetworkPolicy", {"spec": {"podSelector": {"matchLabels": {"bad key": "x"}}}})[0][0] == \
        "spec.podSelector.matchLabels"


def test_cidrs_are_parsed_as_upstreams_legacy_fields_are() -> None:
    assert str(networking.parse_cidr("10.0.0.5/24")) == "10.0.0.0/24"  # host bits allowed (gate off)
    assert networking.parse_cidr("10.0.0.0") is None  # an address is not a CIDR
    assert networking.parse_cidr("10.0.0.0/255.0.0.0") is None
    assert str(networking.parse_cidr("2001:db8::/64")) == "2001:db8::/64"
    # a CIDR an existing policy holds stays valid on update
    old = {"spec": {"ingress": [{"from": [{"ipBlock": {"cidr": "legacy"}}]}]}}
    assert check("NetworkPolicy", old, old=old) == []


# --- ReplicationController and PodTemplate --------------------------------------------


def rc(**spec: Any) -> Obj:
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    return {"metadata": {"name": "web"}, "spec": {"template": template, **spec}}


def test_replication_controller_defaults_its_selector_labels_and_replicas() -> None:
    obj = rc()
    defaults.apply_defaults("", "ReplicationController", obj)
    assert obj["spec"]["selector"] == {"app": "web"} and obj["spec"]["replicas"] == 1
    assert obj["metadata"]["labels"] == {"app": "web"}
    assert check("ReplicationController", rc(), group="") == []


def test_replication_controller_errors() -> None:
    mismatched = rc(selector={"app": "other"}, replicas=-1, minReadySeconds=-1)
    assert check("ReplicationController", mismatched, group="") == [
        ("spec.minReadySeconds", "Invalid value: -1: must be greater than or equal to 0"),
        ("spec.replicas", "Invalid value: -1: must be greater than or equal to 0"),
        ("spec.template.metadata.labels",
         'Invalid value: {"app":"web"}: `selector` does not match template `labels`')]
    never = rc()
    never["spec"]["template"]["spec"].update(restartPolicy="Never", activeDeadlineSeconds=5)
    assert check("ReplicationController", never, group="") == [
        ("spec.template.spec.restartPolicy", 'Unsupported value: "Never": supported values: "Always"'),
        ("spec.template.spec.activeDeadlineSeconds", "Invalid value: 5: must not be specified")]
    assert check("ReplicationController", {"spec": {}}, group="") == [
        ("spec.selector", "Required value"), ("spec.template", "Required value")]


def test_replication_controller_status() -> None:
    def status(**counts: int) -> list[tuple[str, str]]:
        return [(c.field, c.message) for c in workloads.validate_replication_controller_status({"status": counts})]
    assert status(replicas=2, readyReplicas=2, availableReplicas=1, fullyLabeledReplicas=2) == []
    assert status(replicas=1, readyReplicas=2, availableReplicas=3) == [
        ("status.readyReplicas", "Invalid value: 2: cannot be greater than status.replicas"),
        ("status.availableReplicas", "Invalid value: 3: cannot be greater than status.replicas"),
        ("status.availableReplicas", "Invalid value: 3: cannot be greater than readyReplicas")]
    assert status(replicas=-1)[0] == ("status.replicas", "Invalid value: -1: must be greater than or equal to 0")


def test_pod_template_validates_labels_annotations_and_spec() -> None:
    good: Obj = {"template": {"metadata": {"labels": {"app": "x"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}}
    assert check("PodTemplate", good, group="") == []
    bad = copy.deepcopy(good)
    bad["template"]["metadata"]["labels"] = {"bad key": "x"}
    bad["template"]["spec"]["containers"] = []
    fields = [f for f, _ in check("PodTemplate", bad, group="")]
    assert fields[0] == "template.metadata.labels" and "template.spec.containers" in fields
