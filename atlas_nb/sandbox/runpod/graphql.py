"""A small GraphQL engine for the fake legacy RunPod GraphQL API.

It parses operations (queries and mutations, variables, aliases, arguments, nested
selections; no fragments), validates them against the subset of RunPod's schema atlas_nb and
common clients use, and executes them. Like RunPod, client errors come back as HTTP 200 with an
``errors`` list.

    >>> doc = parse('query Q($id: String) { gpuTypes(input: {id: $id}) { id memoryInGb } }')
    >>> doc.kind, doc.name, [f.name for f in doc.selections]
    ('query', 'Q', ['gpuTypes'])
    >>> parse("{ gpuTypes { id ")
    Traceback (most recent call last):
    ...
    atlas_nb.sandbox.runpod.graphql.GraphQLError: Syntax Error: Expected Name, found <EOF>.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .catalog import GPUS, FakeGpu
from .world import FakePod, PlacementError, RunPodWorld


class GraphQLError(Exception):
    """A request error (syntax, validation or resolver); rendered into ``errors``."""


# -- lexer + parser ----------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>[\s,\ufeff]+|\#[^\n]*)
  | (?P<spread>\.\.\.)
  | (?P<punct>[!$&()\[\]{}:=@|])
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
    """,
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise GraphQLError(f"Syntax Error: Unexpected character {text[pos]!r}.")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append((kind, m.group()))
    out.append(("eof", ""))
    return out


@dataclass
class Field:
    name: str
    alias: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    selections: list[Field] | None = None

    @property
    def key(self) -> str:
        return self.alias or self.name


@dataclass
class Operation:
    kind: str
    name: str | None
    variables: dict[str, tuple[str, Any]]  # name -> (type, default)
    selections: list[Field]


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str]:
        return self.toks[self.i]

    def take(self, kind: str | None = None, value: str | None = None) -> str:
        k, v = self.toks[self.i]
        if (kind and k != kind) or (value and v != value):
            want = value or {"name": "Name", "punct": "punctuation"}.get(kind or "", kind)
            found = "<EOF>" if k == "eof" else f'"{v}"'
            raise GraphQLError(f"Syntax Error: Expected {want}, found {found}.")
        self.i += 1
        return v

    def at(self, value: str) -> bool:
        return self.toks[self.i][1] == value and self.toks[self.i][0] in ("punct", "spread")

    def document(self) -> Operation:
        kind, name, variables = "query", None, {}
        if self.peek() == ("name", "fragment"):
            raise GraphQLError("fragments are not supported by the atlas_nb sandbox")
        if self.peek()[0] == "name":
            kind = self.take("name")
            if kind not in ("query", "mutation"):
                raise GraphQLError(f'Syntax Error: Unexpected Name "{kind}".')
            if self.peek()[0] == "name":
                name = self.take("name")
            if self.at("("):
                variables = self.variable_defs()
        selections = self.selection_set()
        if self.peek()[0] != "eof":
            raise GraphQLError("only one operation per request is supported by the sandbox")
        return Operation(kind, name, variables, selections)

    def variable_defs(self) -> dict[str, tuple[str, Any]]:
        out = {}
        self.take("punct", "(")
        while not self.at(")"):
            self.take("punct", "$")
            name = self.take("name")
            self.take("punct", ":")
            type_ = self.type_ref()
            default = None
            if self.at("="):
                self.take("punct", "=")
                default = self.value(const=True)
            out[name] = (type_, default)
        self.take("punct", ")")
        return out

    def type_ref(self) -> str:
        if self.at("["):
            self.take("punct", "[")
            inner = self.type_ref()
            self.take("punct", "]")
            text = f"[{inner}]"
        else:
            text = self.take("name")
        if self.at("!"):
            self.take("punct", "!")
            text += "!"
        return text

    def selection_set(self) -> list[Field]:
        self.take("punct", "{")
        fields = []
        while not self.at("}"):
            if self.at("..."):
                raise GraphQLError("fragments are not supported by the atlas_nb sandbox")
            fields.append(self.field())
        self.take("punct", "}")
        if not fields:
            raise GraphQLError("Syntax Error: Expected Name, found }.")
        return fields

    def field(self) -> Field:
        name = self.take("name")
        alias = None
        if self.at(":"):
            self.take("punct", ":")
            alias, name = name, self.take("name")
        args: dict[str, Any] = {}
        if self.at("("):
            self.take("punct", "(")
            while not self.at(")"):
                arg = self.take("name")
                self.take("punct", ":")
                args[arg] = self.value()
            self.take("punct", ")")
        selections = self.selection_set() if self.at("{") else None
        return Field(name, alias, args, selections)

    def value(self, const: bool = False) -> Any:
        kind, text = self.peek()
        if kind == "punct" and text == "$" and not const:
            self.take()
            return ("var", self.take("name"))
        if kind == "number":
            self.take()
            return ("lit", float(text) if re.search(r"[.eE]", text) else int(text))
        if kind == "string":
            self.take()
            return ("lit", _unescape(text[1:-1]))
        if kind == "name":
            self.take()
            if text in ("true", "false"):
                return ("lit", text == "true")
            if text == "null":
                return ("lit", None)
            return ("enum", text)
        if kind == "punct" and text == "[":
            self.take()
            items = []
            while not self.at("]"):
                items.append(self.value(const))
            self.take("punct", "]")
            return ("list", items)
        if kind == "punct" and text == "{":
            self.take()
            obj = {}
            while not self.at("}"):
                key = self.take("name")
                self.take("punct", ":")
                obj[key] = self.value(const)
            self.take("punct", "}")
            return ("obj", obj)
        found = "<EOF>" if kind == "eof" else f'"{text}"'
        raise GraphQLError(f"Syntax Error: Unexpected {found}.")


def _unescape(text: str) -> str:
    return re.sub(
        r"\\(u[0-9a-fA-F]{4}|.)",
        lambda m: (
            chr(int(m.group(1)[1:], 16))
            if m.group(1).startswith("u")
            else {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}.get(m.group(1), m.group(1))
        ),
        text,
    )


def parse(text: str) -> Operation:
    """Parse one GraphQL operation (raises :class:`GraphQLError`)."""
    if not isinstance(text, str) or not text.strip():
        raise GraphQLError("Must provide query string.")
    return _Parser(text).document()


# -- schema ------------------------------------------------------------------------------------

_SCALARS = {"String", "Int", "Float", "Boolean", "ID"}
_ENUMS = {"CloudTypeEnum": {"SECURE", "COMMUNITY", "ALL"}}

_NO_ARGS: dict[str, str] = {}

#: object types: field -> (type, {arg: type})
OBJECTS: dict[str, dict[str, tuple[str, dict[str, str]]]] = {
    "Query": {
        "gpuTypes": ("[GpuType]", {"input": "GpuTypeFilter"}),
        "dataCenters": ("[DataCenter]", {}),
        "pod": ("Pod", {"input": "PodFilter!"}),
        "myself": ("User", {}),
    },
    "User": {"id": ("String", {}), "pods": ("[Pod]", {})},
    "Mutation": {
        "podRentInterruptable": ("Pod", {"input": "PodRentInterruptableInput!"}),
    },
    "GpuType": {
        **{
            name: (type_, {})
            for name, type_ in (
                ("id", "String"),
                ("displayName", "String"),
                ("manufacturer", "String"),
                ("memoryInGb", "Int"),
                ("cudaCores", "Int"),
                ("secureCloud", "Boolean"),
                ("communityCloud", "Boolean"),
                ("securePrice", "Float"),
                ("communityPrice", "Float"),
                ("secureSpotPrice", "Float"),
                ("communitySpotPrice", "Float"),
                ("oneWeekPrice", "Float"),
                ("oneMonthPrice", "Float"),
                ("threeMonthPrice", "Float"),
                ("sixMonthPrice", "Float"),
                ("maxGpuCount", "Int"),
                ("maxGpuCountSecureCloud", "Int"),
                ("maxGpuCountCommunityCloud", "Int"),
                ("minPodGpuCount", "Int"),
            )
        },
        "nodeGroupDatacenters": ("[DataCenter]", {}),
        "lowestPrice": ("LowestPrice", {"input": "GpuLowestPriceInput!"}),
    },
    "LowestPrice": {
        name: (type_, {})
        for name, type_ in (
            ("minimumBidPrice", "Float"),
            ("uninterruptablePrice", "Float"),
            ("stockStatus", "String"),
            ("availableGpuCounts", "[Int]"),
            ("minVcpu", "Float"),
            ("minMemory", "Float"),
            ("gpuName", "String"),
            ("gpuTypeId", "String"),
            ("maxUnreservedGpuCount", "Int"),
            ("rentedCount", "Int"),
            ("totalCount", "Int"),
            ("rentalPercentage", "Float"),
            ("countryCode", "String"),
        )
    },
    "DataCenter": {
        name: (type_, {})
        for name, type_ in (("id", "String"), ("name", "String"), ("listed", "Boolean"))
    },
    "Pod": {
        name: (type_, _NO_ARGS)
        for name, type_ in (
            ("id", "String"),
            ("name", "String"),
            ("desiredStatus", "String"),
            ("imageName", "String"),
            ("costPerHr", "Float"),
            ("gpuCount", "Int"),
            ("machineId", "String"),
            ("podType", "String"),
            # what runpod-python's get_pod / get_pods select
            ("containerDiskInGb", "Int"),
            ("dockerArgs", "String"),
            ("dockerId", "String"),
            ("env", "[String]"),
            ("lastStatusChange", "String"),
            ("memoryInGb", "Float"),
            ("port", "Int"),
            ("ports", "String"),
            ("uptimeSeconds", "Int"),
            ("vcpuCount", "Float"),
            ("volumeInGb", "Int"),
            ("volumeMountPath", "String"),
        )
    }
    | {"runtime": ("PodRuntime", {}), "machine": ("PodMachine", {})},
    "PodRuntime": {"uptimeInSeconds": ("Int", {}), "ports": ("[PodRuntimePort]", {})},
    "PodRuntimePort": {
        name: (type_, {})
        for name, type_ in (
            ("ip", "String"),
            ("isIpPublic", "Boolean"),
            ("privatePort", "Int"),
            ("publicPort", "Int"),
            ("type", "String"),
        )
    },
    "PodMachine": {"gpuDisplayName": ("String", {}), "podHostId": ("String", {})},
}

#: input types: field -> type
INPUTS: dict[str, dict[str, str]] = {
    "PodFilter": {"podId": "String!"},
    "GpuTypeFilter": {"id": "String", "ids": "[String]", "cluster": "Boolean"},
    "GpuLowestPriceInput": {
        "gpuCount": "Int!",
        "secureCloud": "Boolean",
        "dataCenterId": "String",
        "countryCode": "String",
        "minDisk": "Int",
        "minMemoryInGb": "Int",
        "minVcpuCount": "Int",
        "minDownload": "Int",
        "minUpload": "Int",
        "minCudaVersion": "String",
        "supportPublicIp": "Boolean",
        "includeAiApi": "Boolean",
    },
    "PodRentInterruptableInput": {
        "name": "String",
        "imageName": "String",
        "gpuTypeId": "String!",
        "bidPerGpu": "Float!",
        "gpuCount": "Int",
        "cloudType": "CloudTypeEnum",
        "volumeInGb": "Int",
        "containerDiskInGb": "Int",
        "volumeMountPath": "String",
        "minVcpuCount": "Int",
        "minMemoryInGb": "Int",
        "dockerArgs": "String",
        "ports": "String",
        "env": "[EnvironmentVariableInput]",
        "startSsh": "Boolean",
        "startJupyter": "Boolean",
        "supportPublicIp": "Boolean",
        "dataCenterId": "String",
        "countryCode": "String",
        "networkVolumeId": "String",
        "templateId": "String",
        "allowedCudaVersions": "[String]",
        "cudaVersion": "String",
        "stopAfter": "String",
        "terminateAfter": "String",
        "minDownload": "Int",
        "minUpload": "Int",
        "volumeKey": "String",
    },
    "EnvironmentVariableInput": {"key": "String!", "value": "String"},
}


def _coerce(value: Any, type_: str, where: str) -> Any:
    """Check a (variable-resolved) input value against a type; returns the plain value."""
    required = type_.endswith("!")
    base = type_[:-1] if required else type_
    if value is None:
        if required:
            raise GraphQLError(f'{where} of required type "{type_}" was not provided.')
        return None
    if base.startswith("["):
        inner = base[1:-1]
        items = value if isinstance(value, list) else [value]
        return [_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(items)]
    if base in INPUTS:
        if not isinstance(value, dict):
            raise GraphQLError(f'{where}: expected type "{base}" to be an object.')
        spec = INPUTS[base]
        for key in value:
            if key not in spec:
                raise GraphQLError(f'Field "{key}" is not defined by type "{base}".')
        return {
            k: _coerce(value.get(k), t, f"{where}.{k}")
            for k, t in spec.items()
            if k in value or t.endswith("!")
        }
    if base in _ENUMS:
        if value not in _ENUMS[base]:
            raise GraphQLError(f'{where}: value "{value}" does not exist in "{base}" enum.')
        return value
    ok = {
        "String": isinstance(value, str),
        "ID": isinstance(value, (str, int)),
        "Int": isinstance(value, int) and not isinstance(value, bool),
        "Float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "Boolean": isinstance(value, bool),
    }.get(base, True)
    if not ok:
        raise GraphQLError(f"{where}: {base} cannot represent value {value!r}.")
    return value


def _resolve_literal(node: Any, variables: dict[str, Any], used: set[str]) -> Any:
    kind, payload = node
    if kind == "var":
        used.add(payload)
        return variables.get(payload)
    if kind in ("lit", "enum"):
        return payload
    if kind == "list":
        return [_resolve_literal(n, variables, used) for n in payload]
    return {k: _resolve_literal(n, variables, used) for k, n in payload.items()}


# -- execution -----------------------------------------------------------------------------


@dataclass
class Context:
    world: RunPodWorld
    variables: dict[str, Any]
    declared: dict[str, tuple[str, Any]]
    errors: list[dict[str, Any]] = field(default_factory=list)
    used: set[str] = field(default_factory=set)


def execute(world: RunPodWorld, body: Any) -> dict[str, Any]:
    """Run a GraphQL request body; returns ``{"data": ...}`` and/or ``{"errors": [...]}``."""
    if not isinstance(body, dict):
        return {"errors": [{"message": "POST body must be a JSON object with a query."}]}
    variables = body.get("variables") or {}
    if not isinstance(variables, dict):
        return {"errors": [{"message": "Variables must be provided as an object."}]}
    try:
        op = parse(body.get("query", ""))
        ctx = Context(world, {}, op.variables)
        for name, (type_, default) in op.variables.items():
            value = variables.get(name, default)
            ctx.variables[name] = _coerce(value, type_, f'Variable "${name}"')
        root = "Mutation" if op.kind == "mutation" else "Query"
        _validate(op.selections, root, ctx)
        undeclared = ctx.used - set(op.variables)
        if undeclared:
            raise GraphQLError(f'Variable "${sorted(undeclared)[0]}" is not defined.')
    except GraphQLError as exc:
        return {
            "errors": [{"message": str(exc), "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}]
        }
    data: dict[str, Any] = {}
    for f in op.selections:
        try:
            data[f.key] = _resolve_root(root, f, ctx)
        except GraphQLError as exc:
            data[f.key] = None
            ctx.errors.append(
                {"message": str(exc), "path": [f.key], "extensions": {"code": "BAD_USER_INPUT"}}
            )
    out: dict[str, Any] = {"data": data}
    if ctx.errors:
        out["errors"] = ctx.errors
    return out


def _validate(selections: list[Field], type_name: str, ctx: Context) -> None:
    fields = OBJECTS[type_name]
    for f in selections:
        if f.name == "__typename":
            continue
        if f.name not in fields:
            raise GraphQLError(f'Cannot query field "{f.name}" on type "{type_name}".')
        ftype, args = fields[f.name]
        for arg in f.args:
            if arg not in args:
                raise GraphQLError(f'Unknown argument "{arg}" on field "{type_name}.{f.name}".')
        for arg, atype in args.items():
            value = (
                _resolve_literal(f.args[arg], ctx.variables, ctx.used) if arg in f.args else None
            )
            if value is None and atype.endswith("!"):
                raise GraphQLError(
                    f'Field "{f.name}" argument "{arg}" of type "{atype}" is required, '
                    "but it was not provided."
                )
            _coerce(value, atype, f'Argument "{arg}"')
        inner = ftype.strip("[]!")
        if inner in OBJECTS:
            if not f.selections:
                raise GraphQLError(
                    f'Field "{f.name}" of type "{ftype}" must have a selection of subfields.'
                )
            _validate(f.selections, inner, ctx)
        elif f.selections:
            raise GraphQLError(
                f'Field "{f.name}" must not have a selection since type "{ftype}" has no subfields.'
            )


def _args(f: Field, ctx: Context) -> dict[str, Any]:
    return {k: _resolve_literal(v, ctx.variables, ctx.used) for k, v in f.args.items()}


def _select(obj: dict[str, Any], selections: list[Field], type_name: str, ctx: Context) -> Any:
    out: dict[str, Any] = {}
    for f in selections:
        if f.name == "__typename":
            out[f.key] = type_name
            continue
        value = obj.get(f.name)
        if callable(value):
            value = value(_args(f, ctx))
        inner = OBJECTS[type_name][f.name][0].strip("[]!")
        if f.selections and inner in OBJECTS and value is not None:
            if isinstance(value, list):
                value = [_select(v, f.selections, inner, ctx) for v in value]
            else:
                value = _select(value, f.selections, inner, ctx)
        out[f.key] = value
    return out


def _resolve_root(root: str, f: Field, ctx: Context) -> Any:
    args = _args(f, ctx)
    if f.name == "gpuTypes":
        flt = args.get("input") or {}
        ids = set(flt.get("ids") or []) | ({flt["id"]} if flt.get("id") else set())
        gpus = [g for g in GPUS.values() if not ids or g.id in ids]
        return [_select(_gpu_type(g), f.selections or [], "GpuType", ctx) for g in gpus]
    if f.name == "dataCenters":
        from .catalog import DATA_CENTERS

        rows = [{"id": dc.id, "name": dc.name, "listed": True} for dc in DATA_CENTERS.values()]
        return [_select(r, f.selections or [], "DataCenter", ctx) for r in rows]
    if f.name == "pod":  # an unknown or terminated pod is null, as on RunPod
        found = ctx.world.pods.get(args["input"]["podId"])
        if found is None or found.terminated_at is not None:
            return None
        return _select(_pod(ctx.world, found), f.selections or [], "Pod", ctx)
    if f.name == "myself":
        live = [p for p in ctx.world.pods.values() if p.terminated_at is None]
        me = {"id": "user_sandbox", "pods": [_pod(ctx.world, p) for p in live]}
        return _select(me, f.selections or [], "User", ctx)
    if f.name == "podRentInterruptable":
        pod = _rent_interruptable(ctx.world, args["input"])
        return _select(pod, f.selections or [], "Pod", ctx)
    raise GraphQLError(f'Cannot query field "{f.name}" on type "{root}".')  # pragma: no cover


def _gpu_type(g: FakeGpu) -> dict[str, Any]:
    def lowest(args: dict[str, Any]) -> dict[str, Any]:
        inp = args.get("input") or {}
        count = int(inp.get("gpuCount") or 1)
        clouds = [c for c in ("secure", "community") if g.max_count[c] > 0]
        if inp.get("secureCloud") is True:
            clouds = [c for c in clouds if c == "secure"]
        elif inp.get("secureCloud") is False:
            clouds = [c for c in clouds if c == "community"]
        clouds = [c for c in clouds if g.max_count[c] >= count and g.stock[c.upper()] != "NONE"]
        if inp.get("dataCenterId") and inp["dataCenterId"] not in g.data_centers:
            clouds = []
        if not clouds:
            return {
                "minimumBidPrice": None,
                "uninterruptablePrice": None,
                "stockStatus": None,
                "availableGpuCounts": [],
                "gpuTypeId": g.id,
                "gpuName": g.name,
            }
        stock = {"HIGH": "High", "MEDIUM": "Medium", "LOW": "Low"}
        best = max(
            clouds, key=lambda c: ["NONE", "LOW", "MEDIUM", "HIGH"].index(g.stock[c.upper()])
        )
        return {
            "minimumBidPrice": min(g.spot[c] for c in clouds),
            "uninterruptablePrice": min(g.price[c] for c in clouds),
            "stockStatus": stock[g.stock[best.upper()]],
            "availableGpuCounts": [n for n in (1, 2, 4, 8) if n <= max(g.max_count.values())],
            "minVcpu": 8.0 * count,
            "minMemory": 32.0 * count,
            "gpuName": g.name,
            "gpuTypeId": g.id,
            "countryCode": None,
        }

    has_secure, has_community = g.max_count["secure"] > 0, g.max_count["community"] > 0
    return {
        "id": g.id,
        "displayName": g.name,
        "manufacturer": g.manufacturer.title() if g.manufacturer == "NVIDIA" else g.manufacturer,
        "memoryInGb": g.memory,
        "cudaCores": g.cuda_cores,
        "secureCloud": has_secure,
        "communityCloud": has_community,
        "securePrice": g.price["secure"] if has_secure else None,
        "communityPrice": g.price["community"] if has_community else None,
        "secureSpotPrice": g.spot["secure"] if has_secure else None,
        "communitySpotPrice": g.spot["community"] if has_community else None,
        "oneWeekPrice": round(g.price["secure"] * 0.95, 2),
        "oneMonthPrice": round(g.price["secure"] * 0.9, 2),
        "threeMonthPrice": round(g.price["secure"] * 0.85, 2),
        "sixMonthPrice": round(g.price["secure"] * 0.8, 2),
        "maxGpuCount": max(g.max_count.values()),
        "maxGpuCountSecureCloud": g.max_count["secure"],
        "maxGpuCountCommunityCloud": g.max_count["community"],
        "minPodGpuCount": 1,
        "nodeGroupDatacenters": [{"id": dc, "name": dc, "listed": True} for dc in g.data_centers],
        "lowestPrice": lowest,
    }


def _pod(world: RunPodWorld, pod: FakePod) -> dict[str, Any]:
    """A pod as the legacy GraphQL ``Pod`` type shows it (built from the REST view)."""
    rest = world.pod_json(pod)
    runtime = rest["runtime"]
    volume = (rest["mounts"].get("persistent") or {}) if rest["mounts"] else {}
    return {
        "id": pod.id,
        "name": pod.name,
        "desiredStatus": rest["status"],
        "imageName": pod.image,
        "costPerHr": rest["cost"],
        "gpuCount": pod.gpu_count,
        "machineId": f"m{pod.id[:10]}",
        "podType": "INTERRUPTABLE" if pod.spot else "RESERVED",
        "containerDiskInGb": pod.disk,
        "dockerArgs": pod.args,
        "dockerId": None,
        "env": [f"{k}={v}" for k, v in pod.env.items()],
        "lastStatusChange": f"{rest['status'].title()} at {rest['startedAt'] or rest['createdAt']}",
        "memoryInGb": 32.0 * max(1, pod.gpu_count),
        "port": None,
        "ports": ",".join(pod.ports),
        "uptimeSeconds": runtime["uptime"] if runtime else 0,
        "vcpuCount": 8.0 * max(1, pod.gpu_count),
        "volumeInGb": volume.get("size", 0),
        "volumeMountPath": volume.get("path"),
        "runtime": None
        if runtime is None
        else {
            "uptimeInSeconds": runtime["uptime"],
            "ports": [
                {
                    "ip": p["ip"],
                    "isIpPublic": True,
                    "privatePort": p["private"],
                    "publicPort": p["public"],
                    "type": p["type"],
                }
                for p in runtime["ports"]
            ],
        },
        "machine": {"gpuDisplayName": GPUS[pod.gpu_id].name if pod.gpu_id in GPUS else None},
    }


def _rent_interruptable(world: RunPodWorld, inp: dict[str, Any]) -> dict[str, Any]:
    clouds = {"ALL": ["SECURE", "COMMUNITY"], None: ["SECURE", "COMMUNITY"]}.get(
        inp.get("cloudType"), [inp.get("cloudType")]
    )
    ports = [p.strip() for p in (inp.get("ports") or "").split(",") if p.strip()]
    env = {e["key"]: "" if e.get("value") is None else e["value"] for e in inp.get("env") or []}
    volume = int(inp.get("volumeInGb") or 0)
    mounts: dict[str, Any] = {}
    if inp.get("networkVolumeId"):
        mounts["network"] = [
            {"volumeId": inp["networkVolumeId"], "path": inp.get("volumeMountPath") or "/workspace"}
        ]
    elif volume >= 10:
        mounts["persistent"] = {"size": volume, "path": inp.get("volumeMountPath") or "/workspace"}
    last: PlacementError | None = None
    for cloud in clouds:
        try:
            pod = world.place_pod(
                name=inp.get("name") or "spot pod",
                image=inp.get("imageName") or "runpod/base:latest",
                gpu_id=inp["gpuTypeId"],
                gpu_count=int(inp.get("gpuCount") or 1),
                cloud=str(cloud),
                data_centers=[inp["dataCenterId"]] if inp.get("dataCenterId") else None,
                spot_bid=float(inp["bidPerGpu"]),
                mounts=mounts,
                disk=int(inp.get("containerDiskInGb") or 50),
                ports=ports,
                env=env,
                args=inp.get("dockerArgs") or "",
            )
        except PlacementError as exc:
            last = exc
            continue
        return {
            "id": pod.id,
            "name": pod.name,
            "desiredStatus": "RUNNING",
            "imageName": pod.image,
            "costPerHr": pod.rate,
            "gpuCount": pod.gpu_count,
            "machineId": f"m{pod.id[:10]}",
            "podType": "INTERRUPTABLE",
        }
    raise GraphQLError(last.detail if last else "no cloud to place the pod")
