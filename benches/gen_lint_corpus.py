#!/usr/bin/env python3
"""Inputs for the `armorc lint` benchmark (benches/lint.sh).

  gen_lint_corpus.py list CORPUS_DIR OUT       paths of the KubeArmorPolicy files, one a line
  gen_lint_corpus.py schema CRD_YAML OUT_JSON  the CRD's openAPIV3Schema as JSON schema, made strict
                                               (additionalProperties: false on every object with
                                               properties), for check-jsonschema
  gen_lint_corpus.py stream CORPUS_DIR N OUT   N documents in OUT/part-XXXX.yaml (100 a file), the
                                               corpus's KubeArmorPolicy documents in turn, each
                                               renamed so the documents are distinct

Deterministic: same inputs, same output. Needs a YAML loader only for `schema` (ruamel.yaml, which
check-jsonschema installs, or PyYAML).
"""
import json
import os
import re
import sys

KIND_LINE = re.compile(r"^kind:\s*KubeArmorPolicy\s*$", re.M)
NAME_LINE = re.compile(r"^(  name:\s*)(\S+)", re.M)
DOCS_PER_FILE = 100


def policy_files(corpus):
    out = []
    for root, dirs, files in os.walk(corpus):
        dirs.sort()
        for name in sorted(files):
            if name.endswith((".yaml", ".yml")):
                path = os.path.join(root, name)
                with open(path, encoding="utf-8") as f:
                    if KIND_LINE.search(f.read()):
                        out.append(path)
    return out


def load_yaml(path):
    try:
        from ruamel.yaml import YAML

        with open(path, encoding="utf-8") as f:
            return list(YAML(typ="safe").load_all(f))
    except ImportError:
        import yaml

        with open(path, encoding="utf-8") as f:
            return list(yaml.safe_load_all(f))


def strict(schema):
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        for key, child in schema.items():
            if key == "properties":
                for prop in child.values():
                    strict(prop)
            elif key in ("items", "additionalProperties"):
                strict(child)
    return schema


def main(argv):
    if len(argv) >= 3 and argv[0] == "list":
        files = policy_files(argv[1])
        with open(argv[2], "w") as out:
            out.writelines(p + "\n" for p in files)
        print(len(files))
    elif len(argv) >= 3 and argv[0] == "schema":
        crd = [d for d in load_yaml(argv[1]) if d][0]
        schema = strict(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
        schema["$schema"] = "http://json-schema.org/draft-04/schema#"
        with open(argv[2], "w") as out:
            json.dump(schema, out)
    elif len(argv) >= 4 and argv[0] == "stream":
        texts = []
        for path in policy_files(argv[1]):
            with open(path, encoding="utf-8") as f:
                texts.append(f.read().strip("\n").removeprefix("---\n"))
        count, out_dir = int(argv[2]), argv[3]
        os.makedirs(out_dir, exist_ok=True)
        for part in range((count + DOCS_PER_FILE - 1) // DOCS_PER_FILE):
            first = part * DOCS_PER_FILE
            with open(os.path.join(out_dir, f"part-{part:04}.yaml"), "w") as out:
                for i in range(first, min(first + DOCS_PER_FILE, count)):
                    text = NAME_LINE.sub(lambda m: f"{m.group(1)}{m.group(2)}-{i}", texts[i % len(texts)], count=1)
                    out.write("---\n" + text + "\n")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
