"""Validation of networking.k8s.io/v1: Ingress, IngressClass and NetworkPolicy.

Pure functions, no I/O. ``kubelite.api.validation.validate`` dispatches here. Rules and
messages follow upstream ``pkg/apis/networking/validation`` with the feature gates of a
1.37 cluster at their defaults: ``RelaxedServiceNameValidation`` and
``StrictIPCIDRValidation`` are off, so a backend's Service name is a DNS-1035 label and
NetworkPolicy CIDRs are parsed the legacy (sloppy) way.

Checks that need other objects (which IngressClass is the default) are admission, done
by the API server's strategy (``strategies.networking``), not here.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from kubelite.api import errors, meta, selectors

Cause = errors.Cause
Obj = dict[str, Any]

# the deprecated annotation that predates spec.ingressClassName
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
DEFAULT_INGRESS_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"

PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")  # sorted, as upstream lists them
_INVALID_PATH_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_INVALID_PATH_SUFFIXES = ("/..", "/.")
MAX_CONTROLLER_LENGTH = 250
PARAMETER_SCOPES = ("Cluster", "Namespace")
POLICY_TYPES = ("Ingress", "Egress")
PROTOCOLS = ("TCP", "UDP", "SCTP")

_WILDCARD_FMT = "\\*\\." + meta.DNS1123_SUBDOMAIN_FMT
_wildcard_re = re.compile(_WILDCARD_FMT)
_WILDCARD_MSG = meta.regex_error(
    "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must "
    "consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character",
    _WILDCARD_FMT, "*.example.com")
_HTTP_PATH_FMT = "[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+"
_http_path_re = re.compile(_HTTP_PATH_FMT)
_prefix_len_re = re.compile("[0-9]+")


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _spec(obj: Obj) -> Obj:
    return _dict(obj.get("spec"))


def _dicts(value: Any) -> list[Obj]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _invalid_each(path: str, value: Any, messages: list[str]) -> list[Cause]:
    return [meta.invalid(path, value, m) for m in messages]


# --- string formats (apimachinery's util/validation and api/validate/content) -----------


def is_wildcard_dns1123_subdomain(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > meta.DNS1123_SUBDOMAIN_MAX:
        errs.append(meta.max_len_error(meta.DNS1123_SUBDOMAIN_MAX))
    if not _wildcard_re.fullmatch(value):
        errs.append(_WILDCARD_MSG)
    return errs


def is_path_segment_name(value: str) -> list[str]:
    """A name that can be one segment of a URL path."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{bad}'" for bad in ("/", "%") if bad in value]


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return "%" not in value  # a zone index is not an address to Go's parser


def _domain_prefixed_path(path: str, value: str) -> list[Cause]:
    """``IsDomainPrefixedPath``: ``acme.io/foo``, a DNS subdomain, then an HTTP path."""
    if not value:
        return [meta.required(path)]
    host, sep, rest = value.partition("/")
    if not sep or not host or not rest:
        return [meta.invalid(path, value, 'must be a domain-prefixed path (such as "acme.io/foo")')]
    out = _invalid_each(path, host, meta.is_dns1123_subdomain(host))
    if not _http_path_re.fullmatch(rest):
        out.append(meta.invalid(path, rest, meta.regex_error("Invalid path", _HTTP_PATH_FMT)))
    return out


def parse_cidr(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """A CIDR as Go's ``ParseCIDRSloppy`` reads it (host bits may be set); None if it is not one."""
    addr, sep, prefix = value.partition("/")
    if not sep or not _prefix_len_re.fullmatch(prefix) or "%" in addr:
        return None
    try:
        return ipaddress.ip_network(f"{addr}/{int(prefix)}", strict=False)
    except ValueError:
        return None


_CIDR_MSG = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
_IP_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


# --- Ingress -------------------------------------------------------------------------


@dataclass(frozen=True)
class _IngressOptions:
    """What an update may keep that a create may not (upstream's IngressValidationOptions)."""

    allow_invalid_secret_name: bool = False
    allow_invalid_wildcard_host_rule: bool = False
    allow_relaxed_service_name: bool = False


def _service_name_errors(name: str, relaxed: bool) -> list[str]:
    return meta.is_dns1123_label(name) if relaxed else meta.is_dns1035_label(name)


def _typed_local_object_reference(ref: Obj, path: str) -> list[Cause]:
    out: list[Cause] = []
    group = ref.get("apiGroup")
    if isinstance(group, str):
        out.extend(_invalid_each(path + ".apiGroup", group, meta.is_dns1123_subdomain(group)))
    for key in ("kind", "name"):
        value = ref.get(key) or ""
        if not value:
            out.append(meta.required(f"{path}.{key}"))
        else:
            out.extend(_invalid_each(f"{path}.{key}", value, is_path_segment_name(str(value))))
    return out


def _ingress_backend(backend: Obj, path: str, opts: _IngressOptions) -> list[Cause]:
    resource, service = backend.get("resource"), backend.get("service")
    if resource is not None and service is not None:
        return [meta.invalid(path, "", "cannot set both resource and service backends")]
    if isinstance(resource, dict):
        return _typed_local_object_reference(resource, path + ".resource")
    if not isinstance(service, dict):
        return [meta.invalid(path, "", "resource or service backend is required")]
    out: list[Cause] = []
    name = service.get("name") or ""
    if not name:
        out.append(meta.required(path + ".service.name"))
    else:
        out.extend(_invalid_each(path + ".service.name", name,
                                 _service_name_errors(str(name), opts.allow_relaxed_service_name)))
    port = _dict(service.get("port"))
    port_name, number = port.get("name") or "", port.get("number") or 0
    if port_name and number:
        out.append(meta.invalid(path, "", "cannot set both port name & port number"))
    elif port_name:
        out.extend(_invalid_each(path + ".service.port.name", port_name, meta.is_valid_port_name(str(port_name))))
    elif number:
        if isinstance(number, int):
            out.extend(_invalid_each(path + ".service.port.number", number, meta.is_valid_port_num(number)))
    else:
        out.append(meta.required(path, "port name or number is required"))
    return out


def _http_ingress_path(item: Obj, path: str, opts: _IngressOptions) -> list[Cause]:
    path_type = item.get("pathType")
    if path_type is None:
        return [meta.required(path + ".pathType", "pathType must be specified")]
    out: list[Cause] = []
    value = item.get("path") or ""
    if path_type in ("Exact", "Prefix"):
        if not value.startswith("/"):
            out.append(meta.invalid(path + ".path", value, "must be an absolute path"))
        if value:
            out.extend(meta.invalid(path + ".path", value, f"must not contain '{seq}'")
                       for seq in _INVALID_PATH_SEQUENCES if seq in value)
            out.extend(meta.invalid(path + ".path", value, f"cannot end with '{suffix}'")
                       for suffix in _INVALID_PATH_SUFFIXES if value.endswith(suffix))
    elif path_type == "ImplementationSpecific":
        if value and not value.startswith("/"):
            out.append(meta.invalid(path + ".path", value, "must be an absolute path"))
    else:
        out.append(meta.not_supported(path + ".pathType", path_type, PATH_TYPES))
    backend = item.get("backend")
    out.extend(_ingress_backend(backend if isinstance(backend, dict) else {}, path + ".backend", opts))
    return out


def _ingress_rule_value(rule: Obj, path: str, opts: _IngressOptions) -> list[Cause]:
    http = rule.get("http")
    if not isinstance(http, dict):
        return []
    paths = http.get("paths")
    out: list[Cause] = []
    if not paths:
        out.append(meta.required(path + ".http.paths"))
    for i, item in enumerate(_dicts(paths)):
        out.extend(_http_ingress_path(item, f"{path}.http.paths[{i}]", opts))
    return out


def _ingress_rules(rules: list[Obj], path: str, opts: _IngressOptions) -> list[Cause]:
    out: list[Cause] = []
    for i, rule in enumerate(rules):
        host, rpath = rule.get("host") or "", f"{path}[{i}]"
        wildcard = False
        if host:
            if _is_ip(host):
                out.append(meta.invalid(rpath + ".host", host, "must be a DNS name, not an IP address"))
            if "*" in host:
                out.extend(_invalid_each(rpath + ".host", host, is_wildcard_dns1123_subdomain(host)))
                wildcard = True
            else:
                out.extend(_invalid_each(rpath + ".host", host, meta.is_dns1123_subdomain(host)))
        if not wildcard or not opts.allow_invalid_wildcard_host_rule:
            out.extend(_ingress_rule_value(rule, rpath, opts))
    return out


def _ingress_tls(tls: list[Obj], path: str, opts: _IngressOptions) -> list[Cause]:
    out: list[Cause] = []
    for i, item in enumerate(tls):
        for j, host in enumerate(item.get("hosts") or []):
            if not isinstance(host, str):
                continue
            check = is_wildcard_dns1123_subdomain if "*" in host else meta.is_dns1123_subdomain
            out.extend(_invalid_each(f"{path}[{i}].hosts[{j}]", host, check(host)))
        secret = item.get("secretName") or ""
        if secret and not opts.allow_invalid_secret_name:
            out.extend(_invalid_each(f"{path}[{i}].secretName", secret, meta.is_dns1123_subdomain(secret)))
    return out


def _ingress_spec(spec: Obj, opts: _IngressOptions) -> list[Cause]:
    out: list[Cause] = []
    rules, default_backend = spec.get("rules"), spec.get("defaultBackend")
    if not rules and default_backend is None:
        out.append(meta.invalid("spec", rules, "either `defaultBackend` or `rules` must be specified"))
    if isinstance(default_backend, dict):
        out.extend(_ingress_backend(default_backend, "spec.defaultBackend", opts))
    out.extend(_ingress_rules(_dicts(rules), "spec.rules", opts))
    out.extend(_ingress_tls(_dicts(spec.get("tls")), "spec.tls", opts))
    class_name = spec.get("ingressClassName")
    if isinstance(class_name, str):
        out.extend(_invalid_each("spec.ingressClassName", class_name, meta.is_dns1123_subdomain(class_name)))
    return out


def _backends(spec: Obj) -> list[Obj]:
    found = [spec.get("defaultBackend")]
    for rule in _dicts(spec.get("rules")):
        found.extend(p.get("backend") for p in _dicts(_dict(rule.get("http")).get("paths")))
    return [b for b in found if isinstance(b, dict)]


def _options_from(old: Obj | None) -> _IngressOptions:
    """Invalid values an existing Ingress holds may stay (upstream keeps old objects updatable)."""
    if old is None:
        return _IngressOptions()
    spec = _spec(old)
    secrets = [t.get("secretName") for t in _dicts(spec.get("tls"))]
    bad_secret = any(meta.is_dns1123_subdomain(s) for s in secrets if isinstance(s, str) and s)
    bad_wildcard = any("*" in (r.get("host") or "") and _ingress_rule_value(r, "", _IngressOptions())
                       for r in _dicts(spec.get("rules")))
    relaxed = False
    for backend in _backends(spec):
        name = _dict(backend.get("service")).get("name")
        if isinstance(name, str) and not meta.is_dns1123_label(name) and meta.is_dns1035_label(name):
            relaxed = True
    return _IngressOptions(allow_invalid_secret_name=bad_secret, allow_invalid_wildcard_host_rule=bad_wildcard,
                           allow_relaxed_service_name=relaxed)


def validate_ingress(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = _spec(obj)
    out = _ingress_spec(spec, _options_from(old))
    if old is None:
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        annotated, class_name = annotations.get(INGRESS_CLASS_ANNOTATION), spec.get("ingressClassName")
        if annotated is not None and class_name is not None and annotated != class_name:
            out.append(meta.invalid(f"annotations.{INGRESS_CLASS_ANNOTATION}", annotated,
                                    "must match `ingressClassName` when both are specified"))
    return out


def validate_ingress_status(obj: Obj, old: Obj) -> list[Cause]:
    """The status subresource: the load balancer's addresses."""
    out: list[Cause] = []
    lb = (obj.get("status") or {}).get("loadBalancer")
    entries = _dicts(lb.get("ingress")) if isinstance(lb, dict) else []
    for i, entry in enumerate(entries):
        path = f"status.loadBalancer.ingress[{i}]"
        ip, hostname = entry.get("ip") or "", entry.get("hostname") or ""
        if ip and not _is_ip(ip):
            out.append(meta.invalid(path + ".ip", ip, _IP_MSG))
        if hostname:
            out.extend(_invalid_each(path + ".hostname", hostname, meta.is_dns1123_subdomain(hostname)))
            if _is_ip(hostname):
                out.append(meta.invalid(path + ".hostname", hostname, "must be a DNS name, not an IP address"))
    return out


# --- IngressClass --------------------------------------------------------------------


def _ingress_class_parameters(params: Obj, path: str) -> list[Cause]:
    out = _typed_local_object_reference(params, path)
    scope = params.get("scope")
    if scope is None:
        out.append(meta.required(path + ".scope"))
        return out
    if scope not in PARAMETER_SCOPES:
        out.append(meta.not_supported(path + ".scope", scope, PARAMETER_SCOPES))
        return out
    namespace = params.get("namespace")
    if scope == "Namespace":
        if namespace is None:
            out.append(meta.required(path + ".namespace", "`parameters.scope` is set to 'Namespace'"))
        else:
            out.extend(_invalid_each(path + ".namespace", namespace, meta.is_dns1123_label(str(namespace))))
    elif namespace is not None:
        out.append(meta.forbidden(path + ".namespace", "`parameters.scope` is set to 'Cluster'"))
    return out


def validate_ingress_class(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = _spec(obj)
    out: list[Cause] = []
    controller = spec.get("controller") or ""
    if old is not None and controller != (_spec(old).get("controller") or ""):
        out.append(meta.invalid("spec.controller", controller, meta.FIELD_IMMUTABLE))
    if not controller:
        out.append(meta.required("spec.controller"))
    else:
        if len(controller) > MAX_CONTROLLER_LENGTH:
            out.append(meta.too_long("spec.controller", MAX_CONTROLLER_LENGTH))
        out.extend(_domain_prefixed_path("spec.controller", controller))
    params = spec.get("parameters")
    if isinstance(params, dict):
        out.extend(_ingress_class_parameters(params, "spec.parameters"))
    return out


def is_default_ingress_class(ingress_class: Obj) -> bool:
    annotations = (ingress_class.get("metadata") or {}).get("annotations") or {}
    return bool(annotations.get(DEFAULT_INGRESS_CLASS_ANNOTATION) == "true")


# --- NetworkPolicy -------------------------------------------------------------------


def _network_policy_port(port: Obj, path: str) -> list[Cause]:
    out: list[Cause] = []
    protocol = port.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        out.append(meta.not_supported(path + ".protocol", protocol, PROTOCOLS))
    number, end = port.get("port"), port.get("endPort")
    if number is None:
        if end is not None:
            out.append(meta.invalid(path + ".endPort", end, "may not be specified when `port` is not specified"))
    elif isinstance(number, int) and not isinstance(number, bool):
        out.extend(_invalid_each(path + ".port", number, meta.is_valid_port_num(number)))
        if isinstance(end, int):
            if end < number:
                out.append(meta.invalid(path + ".endPort", end, "must be greater than or equal to `port`"))
            out.extend(_invalid_each(path + ".endPort", end, meta.is_valid_port_num(end)))
    else:
        if end is not None:
            out.append(meta.invalid(path + ".endPort", end, "may not be specified when `port` is non-numeric"))
        out.extend(_invalid_each(path + ".port", number, meta.is_valid_port_name(str(number))))
    return out


def _ip_block(block: Obj, path: str, known_cidrs: frozenset[str]) -> list[Cause]:
    cidr = block.get("cidr") or ""
    if not cidr:
        return [meta.required(path + ".cidr")]
    network = parse_cidr(str(cidr))
    if network is None:
        # CIDRs an existing policy already holds stay valid (upstream's AllowCIDRsEvenIfInvalid)
        return [] if cidr in known_cidrs else [meta.invalid(path + ".cidr", cidr, _CIDR_MSG)]
    out: list[Cause] = []
    for j, text in enumerate(block.get("except") or []):
        except_net = parse_cidr(str(text))
        if except_net is None:
            if text not in known_cidrs:
                out.append(meta.invalid(f"{path}.except[{j}]", text, _CIDR_MSG))
            continue
        if except_net.network_address not in network or network.prefixlen >= except_net.prefixlen:
            out.append(meta.invalid(f"{path}.except[{j}]", text, "must be a strict subset of `cidr`"))
    return out


def _network_policy_peer(peer: Obj, path: str, known_cidrs: frozenset[str]) -> list[Cause]:
    out: list[Cause] = []
    peers = 0
    for key in ("podSelector", "namespaceSelector"):
        if peer.get(key) is not None:
            peers += 1
            out.extend(selectors.validate_selector_dict(peer[key], f"{path}.{key}"))
    block = peer.get("ipBlock")
    if block is not None:
        peers += 1
        out.extend(_ip_block(block if isinstance(block, dict) else {}, path + ".ipBlock", known_cidrs))
    if peers == 0:
        out.append(meta.required(path, "must specify a peer"))
    elif peers > 1 and block is not None:
        out.append(meta.forbidden(path, "may not specify both ipBlock and another peer"))
    return out


def _cidrs_of(spec: Obj) -> frozenset[str]:
    found: set[str] = set()
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for rule in _dicts(spec.get(direction)):
            for peer in _dicts(rule.get(peers_key)):
                block = peer.get("ipBlock")
                if isinstance(block, dict):
                    found.add(str(block.get("cidr") or ""))
                    found.update(str(e) for e in block.get("except") or [])
    return frozenset(found)


def validate_network_policy(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = _spec(obj)
    known = _cidrs_of(_spec(old)) if old is not None else frozenset()
    out = selectors.validate_selector_dict(spec.get("podSelector"), "spec.podSelector")
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(_dicts(spec.get(direction))):
            path = f"spec.{direction}[{i}]"
            for j, port in enumerate(_dicts(rule.get("ports"))):
                out.extend(_network_policy_port(port, f"{path}.ports[{j}]"))
            for j, peer in enumerate(_dicts(rule.get(peers_key))):
                out.extend(_network_policy_peer(peer, f"{path}.{peers_key}[{j}]", known))
    policy_types = spec.get("policyTypes") or []
    if len(policy_types) > len(POLICY_TYPES):
        out.append(meta.invalid("spec.policyTypes", policy_types, "may not specify more than two policyTypes"))
        return out
    for i, policy_type in enumerate(policy_types):
        if policy_type not in POLICY_TYPES:
            out.append(meta.not_supported(f"spec.policyTypes[{i}]", policy_type, POLICY_TYPES))
    return out
