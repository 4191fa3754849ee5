"""Strict JSON Schema of the strategy document, usable for OpenAI structured outputs.

Strict mode wants closed objects (`additionalProperties: false`), every property required (optional ones
become nullable), no `oneOf`, no free-form maps and no `default`. Maps in the document (`data`, `params`)
therefore appear as arrays of objects with a `name`; `load_strategy` accepts both forms.

Example:
    >>> s = strict_json_schema()
    >>> s["additionalProperties"], "oneOf" in str(s)
    (False, False)
"""

from __future__ import annotations

import copy
from typing import Any

from .strategy import TradingStrategy

#: keywords strict structured outputs accept besides structure (everything else is dropped)
_KEEP = {"type", "properties", "required", "additionalProperties", "items", "anyOf", "enum", "const",
         "description", "$ref", "$defs", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
         "minItems", "maxItems", "pattern", "format"}


def strict_json_schema() -> dict[str, Any]:
    """The document schema in the strict subset (see module docstring)."""
    schema = copy.deepcopy(TradingStrategy.model_json_schema(mode="validation"))
    defs = schema.pop("$defs", {})
    out = _strict(schema, defs)
    out_defs = {name: _strict(d, defs) for name, d in sorted(defs.items())}
    return {"title": "TradingStrategy", **out, "$defs": out_defs}


def _strict(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_strict(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "oneOf" in node:
        node["anyOf"] = node.pop("oneOf")
    node.pop("discriminator", None)
    if "$ref" in node and len(node) > 1:  # a $ref with siblings: keep only the $ref (siblings not allowed)
        desc = node.get("description")
        node = {"$ref": node["$ref"]}
        if desc:
            node = {"anyOf": [node], "description": desc}
    if node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict):
        node = _map_as_array(node, defs)
    if node.get("type") == "object" or "properties" in node:
        props = node.get("properties", {})
        required = set(node.get("required", []))
        new_props: dict[str, Any] = {}
        for key, prop in props.items():
            p = _strict(prop, defs)
            if key not in required and not _nullable(p):
                p = _make_nullable(p)
            new_props[key] = p
        node["properties"] = new_props
        node["required"] = list(new_props)
        node["additionalProperties"] = False
        node["type"] = "object"
    for key in ("items", "anyOf"):
        if key in node:
            node[key] = _strict(node[key], defs)
    return {k: v for k, v in node.items() if k in _KEEP}


def _map_as_array(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """{type: object, additionalProperties: X} -> {type: array, items: X plus a required 'name'}."""
    value = node["additionalProperties"]
    if "$ref" in value:
        value = defs[value["$ref"].split("/")[-1]]
    props = {"name": {"type": "string", "description": "the name of this entry"}, **value.get("properties", {})}
    item = {**value, "type": "object", "properties": props, "required": ["name", *value.get("required", [])]}
    out: dict[str, Any] = {"type": "array", "items": item}
    if node.get("minProperties"):
        out["minItems"] = node["minProperties"]
    if node.get("description"):
        out["description"] = node["description"]
    return out


def _nullable(p: dict[str, Any]) -> bool:
    if p.get("type") == "null":
        return True
    return any(isinstance(v, dict) and v.get("type") == "null" for v in p.get("anyOf", []))


def _make_nullable(p: dict[str, Any]) -> dict[str, Any]:
    if "anyOf" in p:
        return {**p, "anyOf": [*p["anyOf"], {"type": "null"}]}
    desc = p.get("description")
    inner = {k: v for k, v in p.items() if k != "description"}
    out: dict[str, Any] = {"anyOf": [inner, {"type": "null"}]}
    if desc:
        out["description"] = desc
    return out
