"""Structural validation of Kubernetes objects against the API models of python3-kubernetes.

Each object's apiVersion/kind maps to a kubernetes.client model class (V1Deployment, ...). The
walker follows openapi_types/attribute_map recursively: an unknown field or a value of the wrong
type is an error (with its path); then the model is instantiated through the client's
deserializer, which rejects missing required fields. Custom resources (ServiceMonitor,
PrometheusRule, KafkaTopic) are checked against small hand-written JSON schemas below.

python3-kubernetes 22 models Kubernetes 1.22. Newer fields the chart uses are declared in
EXTENSIONS (each one named, so the gap is visible), and autoscaling/v2 is checked with the
v2beta2 model, whose schema it kept.
"""
import jsonschema
import kubernetes.client as kc

# Fields newer than the client's models: model -> {json field: (python name, type)}.
EXTENSIONS = {
    # Native gRPC probes (Kubernetes 1.24 beta, 1.27 GA).
    "V1Probe": {"grpc": ("grpc", "SbGRPCAction")},
}
# Hand-made models for the extensions: {json field: type}, plus required fields.
EXTRA_MODELS = {
    "SbGRPCAction": ({"port": "int", "service": "str"}, {"port"}),
}
# apiVersion -> model prefix, where it is not simply "V" + version.
VERSION_ALIASES = {"autoscaling/v2": "V2beta2"}
NOTES = {"autoscaling/v2": "autoscaling/v2 checked with the v2beta2 model (same schema)"}
# Resource quantities accept numbers as well as strings.
QUANTITY_FIELDS = {"limits", "requests", "capacity", "hard", "overhead"}


def _labels_schema():
    return {"type": "object", "additionalProperties": {"type": "string"}}


_META = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253},
        "namespace": {"type": "string"},
        "labels": _labels_schema(),
        "annotations": _labels_schema(),
    },
    "additionalProperties": False,
}

CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {}, "kind": {}, "metadata": _META,
            "spec": {
                "type": "object", "required": ["selector", "endpoints"],
                "additionalProperties": False,
                "properties": {
                    "jobLabel": {"type": "string"},
                    "selector": {"type": "object"},
                    "namespaceSelector": {"type": "object", "additionalProperties": False,
                                          "properties": {"any": {"type": "boolean"},
                                                         "matchNames": {"type": "array",
                                                                        "items": {"type": "string"}}}},
                    "endpoints": {"type": "array", "minItems": 1, "items": {
                        "type": "object", "additionalProperties": False,
                        "properties": {"port": {"type": "string"}, "path": {"type": "string"},
                                       "interval": {"type": "string", "pattern": r"^\d+[smh]$"},
                                       "scrapeTimeout": {"type": "string", "pattern": r"^\d+[smh]$"},
                                       "scheme": {"enum": ["http", "https"]},
                                       "relabelings": {"type": "array"},
                                       "metricRelabelings": {"type": "array"}}}},
                },
            },
        },
    },
    ("monitoring.coreos.com/v1", "PrometheusRule"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {}, "kind": {}, "metadata": _META,
            "spec": {
                "type": "object", "required": ["groups"], "additionalProperties": False,
                "properties": {"groups": {"type": "array", "items": {
                    "type": "object", "required": ["name", "rules"], "additionalProperties": False,
                    "properties": {"name": {"type": "string"}, "interval": {"type": "string"},
                                   "rules": {"type": "array", "items": {
                                       "type": "object", "required": ["expr"],
                                       "additionalProperties": False,
                                       "properties": {"alert": {"type": "string"},
                                                      "record": {"type": "string"},
                                                      "expr": {"type": "string"},
                                                      "for": {"type": "string"},
                                                      "labels": _labels_schema(),
                                                      "annotations": _labels_schema()}}}}}}},
            },
        },
    },
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {}, "kind": {},
            "metadata": {**_META, "properties": {
                **_META["properties"],
                "labels": {**_labels_schema(), "required": ["strimzi.io/cluster"]}}},
            "spec": {
                "type": "object", "required": ["partitions", "replicas"],
                "additionalProperties": False,
                "properties": {"topicName": {"type": "string"},
                               "partitions": {"type": "integer", "minimum": 1},
                               "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                               "config": {"type": "object",
                                          "additionalProperties": {"type": ["string", "number",
                                                                            "boolean"]}}},
            },
        },
    },
}


class ValidationError(Exception):
    pass


def model_for(api_version, kind):
    """The kubernetes.client class name for an apiVersion/kind, or None."""
    version = api_version.split("/")[-1]
    prefix = VERSION_ALIASES.get(api_version, version[:1].upper() + version[1:])
    name = prefix + kind
    return name if hasattr(kc, name) else None


def _type_ok(value, t, path, errors, field):
    if value is None:
        return
    if t == "str":
        ok = isinstance(value, str) or (field in QUANTITY_FIELDS and isinstance(value, (int, float))
                                        and not isinstance(value, bool))
        if not ok:
            errors.append(f"{path}: expected a string, got {type(value).__name__} {value!r}")
    elif t == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"{path}: expected an integer, got {type(value).__name__} {value!r}")
    elif t == "float":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            errors.append(f"{path}: expected a number, got {type(value).__name__} {value!r}")
    elif t == "bool":
        if not isinstance(value, bool):
            errors.append(f"{path}: expected a boolean, got {type(value).__name__} {value!r}")
    elif t in ("object", "datetime", "date"):
        return
    elif t.startswith("list["):
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            _type_ok(item, t[5:-1], f"{path}[{i}]", errors, field)
    elif t.startswith("dict("):
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a map, got {type(value).__name__}")
            return
        inner = t[5:-1].split(", ", 1)[1]
        for k, v in value.items():
            if not isinstance(k, str):
                errors.append(f"{path}: key {k!r} is not a string")
            _type_ok(v, inner, f"{path}.{k}", errors, field)
    else:
        _walk(value, t, path, errors)


def _fields(model):
    """json name -> (python name, type) for a model, with the extensions."""
    if model in EXTRA_MODELS:
        types, _ = EXTRA_MODELS[model]
        return {k: (k, v) for k, v in types.items()}
    cls = getattr(kc, model)
    out = {cls.attribute_map[py]: (py, t) for py, t in cls.openapi_types.items()}
    out.update(EXTENSIONS.get(model, {}))
    return out


def _walk(obj, model, path, errors):
    if not isinstance(obj, dict):
        errors.append(f"{path}: expected an object ({model}), got {type(obj).__name__} {obj!r}")
        return
    fields = _fields(model)
    for key, value in obj.items():
        if key not in fields:
            errors.append(f"{path}.{key}: unknown field (not in {model})")
            continue
        _type_ok(value, fields[key][1], f"{path}.{key}", errors, key)
    if model in EXTRA_MODELS:
        for req in EXTRA_MODELS[model][1]:
            if req not in obj:
                errors.append(f"{path}: missing required field {req}")


def _strip_extensions(obj, model):
    """A copy without extension fields (the client's models would reject or drop them)."""
    if not isinstance(obj, dict) or model in EXTRA_MODELS:
        return obj
    fields = _fields(model)
    out = {}
    for key, value in obj.items():
        if key in EXTENSIONS.get(model, {}):
            continue
        t = fields.get(key, (None, None))[1]
        if t is None:
            out[key] = value
        elif t.startswith("list[") and isinstance(value, list):
            out[key] = [_strip_extensions(v, t[5:-1]) for v in value]
        elif t.startswith("dict(") or t in ("str", "int", "float", "bool", "object", "datetime"):
            out[key] = value
        else:
            out[key] = _strip_extensions(value, t)
    return out


def _probe_has_handler(obj, path, errors):
    """A probe needs exactly one handler (exec, httpGet, tcpSocket, grpc)."""
    handlers = [k for k in ("exec", "httpGet", "tcpSocket", "grpc") if k in obj]
    if len(handlers) != 1:
        errors.append(f"{path}: a probe needs exactly one handler, has {handlers or 'none'}")


def _semantic_checks(doc, errors):
    spec = (doc.get("spec") or {})
    template = (spec.get("template") or {})
    pod = template.get("spec") if "template" in spec else (spec if doc.get("kind") == "Pod" else None)
    if not isinstance(pod, dict):
        return
    for c in (pod.get("containers") or []) + (pod.get("initContainers") or []):
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            if probe in c:
                _probe_has_handler(c[probe], f"containers[{c.get('name')}].{probe}", errors)
    selector = (spec.get("selector") or {}).get("matchLabels")
    labels = ((template.get("metadata") or {}).get("labels")) or {}
    if selector:
        for k, v in selector.items():
            if labels.get(k) != v:
                errors.append(f"spec.selector.matchLabels.{k}={v} does not match the pod template")
        for k in selector:
            if k in ("helm.sh/chart", "app.kubernetes.io/version"):
                errors.append(f"spec.selector uses {k}: selectors are immutable, never version them")


def validate(doc):
    """Returns (errors, note). note is set when the object was not checked by a model."""
    if not isinstance(doc, dict):
        return [f"document is not a map: {type(doc).__name__}"], None
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if not api_version or not kind:
        return ["missing apiVersion or kind"], None
    schema = CRD_SCHEMAS.get((api_version, kind))
    if schema is not None:
        v = jsonschema.Draft7Validator(schema)
        errs = [f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
                for e in v.iter_errors(doc)]
        return errs, f"{kind} ({api_version}) checked with the hand-written schema"
    model = model_for(api_version, kind)
    if model is None:
        return [f"no API model for {api_version} {kind} (unknown kind or version)"], None
    errors = []
    _walk(doc, model, "", errors)
    _semantic_checks(doc, errors)
    if not errors:
        try:
            client = kc.ApiClient()
            client._ApiClient__deserialize(_strip_extensions(doc, model), model)
        except (ValueError, TypeError) as e:
            errors.append(f"{model}: {e}")
    return errors, NOTES.get(api_version)
