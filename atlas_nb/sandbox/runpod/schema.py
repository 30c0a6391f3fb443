"""Request-body validation for the fake RunPod REST v2 API, written from the v2 OpenAPI spec.

A small JSON-Schema subset (type, enum, required, properties, ``additional`` (False or a
schema), items, min/max, minLength, pattern, min/maxItems, minProperties) checked by
:func:`validate`, which returns the spec's error strings (``ErrorResponse.errors``).

    >>> validate({"name": "x", "image": "i", "bogus": 1}, CREATE_POD)
    ["$: additional properties 'bogus' not allowed"]
    >>> validate({"action": "explode"}, POD_ACTION)
    ["$.action: value must be one of 'start', 'stop', 'restart', 'terminate'"]
    >>> validate({"image": "i"}, CREATE_POD)
    ["$: missing property 'name'"]
"""

from __future__ import annotations

import re
from typing import Any

Schema = dict[str, Any]

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def _is(value: Any, type_name: str) -> bool:
    if isinstance(value, bool) and type_name in ("integer", "number"):
        return False
    if type_name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES[type_name])


def validate(value: Any, schema: Schema, path: str = "$") -> list[str]:
    """Every violation of ``schema`` by ``value``, as ``"<json path>: <problem>"`` strings."""
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_is(value, t) for t in names):
            return [f"{path}: expected {' or '.join(names)}, got {_type_name(value)}"]
    if value is None:
        return []
    errors: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(repr(v) for v in schema["enum"])
        errors.append(f"{path}: value must be one of {allowed}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        errors.extend(_number_errors(value, schema, path))
    if isinstance(value, str):
        errors.extend(_string_errors(value, schema, path))
    if isinstance(value, list):
        errors.extend(_array_errors(value, schema, path))
    if isinstance(value, dict):
        errors.extend(_object_errors(value, schema, path))
    return errors


def _number_errors(value: float, schema: Schema, path: str) -> list[str]:
    """``minimum`` and ``maximum``."""
    errors = []
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{path}: must be >= {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        errors.append(f"{path}: must be <= {schema['maximum']}")
    return errors


def _string_errors(value: str, schema: Schema, path: str) -> list[str]:
    """``minLength`` and ``pattern``."""
    errors = []
    if len(value) < schema.get("minLength", 0):
        errors.append(f"{path}: length must be >= {schema['minLength']}")
    pattern = schema.get("pattern")
    if pattern and not re.search(pattern, value):
        errors.append(f"{path}: does not match pattern '{pattern}'")
    return errors


def _array_errors(value: list[Any], schema: Schema, path: str) -> list[str]:
    """``minItems``, ``maxItems``, and each item against ``items``."""
    errors = []
    if len(value) < schema.get("minItems", 0):
        errors.append(f"{path}: must have at least {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(f"{path}: must have at most {schema['maxItems']} items")
    items = schema.get("items")
    if items:
        for i, item in enumerate(value):
            errors.extend(validate(item, items, f"{path}[{i}]"))
    return errors


def _object_errors(value: dict[str, Any], schema: Schema, path: str) -> list[str]:
    """``minProperties``, ``required``, ``additional``, and each property against its schema."""
    errors = []
    props: dict[str, Schema] = schema.get("properties", {})
    if len(value) < schema.get("minProperties", 0):
        errors.append(f"{path}: must have at least {schema['minProperties']} properties")
    for name in schema.get("required", ()):
        if name not in value:
            errors.append(f"{path}: missing property '{name}'")
    additional = schema.get("additional", True)
    extra = sorted(k for k in value if k not in props)
    if additional is False and extra:
        errors.append(
            f"{path}: additional properties {', '.join(repr(k) for k in extra)} not allowed"
        )
    for key in value:
        sub = props.get(key)
        if sub is None and isinstance(additional, dict):
            sub = additional
        if sub is not None:
            errors.extend(validate(value[key], sub, f"{path}.{key}"))
    return errors


def _type_name(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _is(value, name):
            return name
    return type(value).__name__


def _obj(props: Schema, required: tuple[str, ...] = (), **extra: Any) -> Schema:
    return {
        "type": "object",
        "properties": props,
        "required": required,
        "additional": False,
        **extra,
    }


_STR: Schema = {"type": "string"}
_NONEMPTY: Schema = {"type": "string", "minLength": 1}
_BOOL: Schema = {"type": "boolean"}
_CUDA = {"type": "string", "pattern": r"^\d+\.\d+$"}
_STRINGS: Schema = {"type": "array", "items": _STR}

#: ContainerConfig (BaseContainerConfig + registry)
CONTAINER: Schema = {
    "args": _STR,
    "disk": {"type": "integer", "minimum": 1},
    "env": {"type": "object", "properties": {}, "additional": _STR},
    "image": _STR,
    "ports": _STRINGS,
    "registry": {"type": ["string", "null"]},
}
CLOUD = {"type": "string", "enum": ["SECURE", "COMMUNITY"]}
PERSISTENT_MOUNT = _obj(
    {"size": {"type": "integer", "minimum": 10}, "path": _STR}, ("size", "path")
)
NETWORK_MOUNT = _obj({"volumeId": _STR, "path": _STR}, ("volumeId", "path"))
MOUNTS = _obj(
    {
        "persistent": PERSISTENT_MOUNT,
        "network": {"type": "array", "maxItems": 1, "items": NETWORK_MOUNT},
    }
)
CREATE_GPU = _obj(
    {
        "id": _STR,
        "count": {"type": "integer", "minimum": 1},
        "allowedCudaVersions": {"type": "array", "items": _CUDA},
        "minCudaVersion": _CUDA,
    },
    ("id",),
)
CREATE_CPU = _obj(
    {"id": _NONEMPTY, "vcpuCount": {"type": "integer", "minimum": 2}}, ("id", "vcpuCount")
)

CREATE_POD = _obj(
    {
        **CONTAINER,
        "name": _NONEMPTY,
        "cloud": CLOUD,
        "cpu": CREATE_CPU,
        "dataCenterIds": _STRINGS,
        "globalNetworking": _BOOL,
        "gpu": CREATE_GPU,
        "mounts": MOUNTS,
        "startJupyter": _BOOL,
        "startSsh": _BOOL,
        "templateId": _NONEMPTY,
    },
    ("name",),
)
UPDATE_POD = _obj(
    {
        **CONTAINER,
        "globalNetworking": _BOOL,
        "locked": _BOOL,
        "mounts": MOUNTS,
        "name": _NONEMPTY,
        "templateId": _STR,
    }
)
POD_ACTION = _obj(
    {"action": {"type": "string", "enum": ["start", "stop", "restart", "terminate"]}},
    ("action",),
)

_WORKERS = _obj(
    {
        "min": {"type": "integer", "minimum": 0},
        "max": {"type": "integer", "minimum": 0},
        "idleTimeout": {"type": "integer", "minimum": 1, "maximum": 3600},
    }
)
_SCALING = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["QUEUE_DELAY", "REQUEST_COUNT"]},
        "queueDelay": {"type": "number", "minimum": 0.5},
        "requestCount": {"type": "integer", "minimum": 1},
    },
    "required": ("type",),
    "additional": False,
}
_ENDPOINT_GPU = {
    "pools": {"type": "array", "minItems": 1, "items": _STR},
    "excludedTypes": _STRINGS,
    "count": {"type": "integer", "minimum": 1},
    "allowedCudaVersions": {"type": "array", "items": _CUDA},
    "minCudaVersion": _CUDA,
}
_FLASHBOOT = {"type": "string", "enum": ["OFF", "FLASHBOOT", "PRIORITY_FLASHBOOT"]}
_ENDPOINT_COMMON = {
    **CONTAINER,
    "cpu": {"type": "array", "minItems": 1, "items": CREATE_CPU},
    "dataCenterIds": _STRINGS,
    "flashboot": _FLASHBOOT,
    "name": _NONEMPTY,
    "networkVolumes": _STRINGS,
    "scaling": _SCALING,
    "templateId": _NONEMPTY,
    "timeout": {"type": "integer"},
    "workers": _WORKERS,
}
CREATE_ENDPOINT = _obj(
    {
        **_ENDPOINT_COMMON,
        "gpu": _obj(_ENDPOINT_GPU, ("pools",)),
        "type": {"type": "string", "enum": ["QUEUE", "LOAD_BALANCER"]},
    },
    ("name", "type", "scaling"),
)
UPDATE_ENDPOINT = _obj({**_ENDPOINT_COMMON, "gpu": _obj(_ENDPOINT_GPU)})

_CATEGORY = {"type": "string", "enum": ["CPU", "NVIDIA", "AMD"]}
_TEMPLATE_COMMON = {
    **CONTAINER,
    "allowedCudaVersions": {"type": "array", "items": _CUDA},
    "category": _CATEGORY,
    "mounts": _obj({"persistent": PERSISTENT_MOUNT}),
    "name": _NONEMPTY,
    "public": _BOOL,
    "serverless": _BOOL,
    "startJupyter": _BOOL,
    "startSsh": _BOOL,
}
CREATE_TEMPLATE = _obj(_TEMPLATE_COMMON, ("name", "image"))
UPDATE_TEMPLATE = _obj(_TEMPLATE_COMMON)

_SIZE = {"type": "integer", "minimum": 10, "maximum": 4096}
CREATE_VOLUME = _obj(
    {
        "dataCenter": _NONEMPTY,
        "name": _NONEMPTY,
        "size": _SIZE,
        "type": {"type": "string", "enum": ["STANDARD", "HIGH_PERFORMANCE"]},
    },
    ("name", "size", "dataCenter"),
)
UPDATE_VOLUME = _obj({"name": _NONEMPTY, "size": _SIZE}, minProperties=1)
CREATE_REGISTRY = _obj(
    {"name": _NONEMPTY, "password": _NONEMPTY, "username": _NONEMPTY},
    ("name", "username", "password"),
)
