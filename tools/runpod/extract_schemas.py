#!/usr/bin/env python3
"""Extract, from RunPod's OpenAPI spec of REST v2, the operations the studio uses and every
schema they reach, into the JSON file the fake RunPod API validates against.

    python3 tools/runpod/extract_schemas.py ../shared/reference/runpod-openapi-v2.json \
        crates/cloud-fake/spec/runpod-v2.json

Structure only: descriptions, examples and code samples are dropped (they are prose, and
the validator ignores them). The output is stable (sorted keys), so a test can compare a
fresh extraction with the checked-in file.
"""

import json
import sys

# The routes the client and the pods' servers call, as the spec names them.
OPERATIONS = [
    ("get", "/v2/pods"),
    ("post", "/v2/pods"),
    ("get", "/v2/pods/{id}"),
    ("delete", "/v2/pods/{id}"),
    ("get", "/v2/catalog/gpus"),
]

PROSE = {"description", "examples", "example", "summary", "x-codeSamples", "title"}


def strip(node, in_properties=False):
    """Drop prose keys (but never a property that happens to be named like one)."""
    if isinstance(node, dict):
        return {
            k: strip(v, in_properties=(k == "properties"))
            for k, v in node.items()
            if in_properties or k not in PROSE
        }
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


def resolve(spec, ref):
    """A local `#/a/b` reference's target."""
    if not ref.startswith("#/"):
        raise SystemExit(f"only local references are supported, got {ref}")
    node = spec
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def schema_refs(node, found):
    """Names of the component schemas `node` refers to, transitively."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name not in found:
                found.add(name)
                schema_refs(SPEC["components"]["schemas"][name], found)
        for value in node.values():
            schema_refs(value, found)
    elif isinstance(node, list):
        for value in node:
            schema_refs(value, found)


def deref(node):
    """Follow a `$ref` to a component response, parameter or header."""
    while isinstance(node, dict) and "$ref" in node and not node["$ref"].startswith(
        "#/components/schemas/"
    ):
        node = resolve(SPEC, node["$ref"])
    return node


def operation(method, path):
    item = SPEC["paths"][path]
    op = item[method]
    parameters = [deref(p) for p in item.get("parameters", []) + op.get("parameters", [])]
    query = {
        p["name"]: {
            "required": p.get("required", False),
            "explode": p.get("explode", True),
            "schema": p["schema"],
        }
        for p in parameters
        if p["in"] == "query"
    }
    body = None
    if "requestBody" in op:
        content = op["requestBody"]["content"]
        body = {"content_type": "application/json", "schema": content["application/json"]["schema"]}
    responses = {}
    for status, response in op["responses"].items():
        response = deref(response)
        content = response.get("content") or {}
        if len(content) > 1:
            raise SystemExit(f"{method.upper()} {path} {status}: more than one content type")
        entry = {"headers": {}}
        for name, header in (response.get("headers") or {}).items():
            entry["headers"][name] = deref(header)["schema"]
        for content_type, media in content.items():
            entry["content_type"] = content_type
            entry["schema"] = media["schema"]
        responses[status] = entry
    return {"query": query, "body": body, "responses": responses}


def main():
    global SPEC
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        SPEC = json.load(f)
    operations = {
        f"{method.upper()} {path}": operation(method, path) for method, path in OPERATIONS
    }
    names = set()
    schema_refs(operations, names)
    out = {
        "source": {
            "openapi": SPEC["openapi"],
            "title": SPEC["info"]["title"],
            "version": SPEC["info"]["version"],
            "server": SPEC["servers"][0]["url"],
        },
        "operations": strip(operations),
        "components": {
            "schemas": {name: strip(SPEC["components"]["schemas"][name]) for name in sorted(names)}
        },
    }
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
