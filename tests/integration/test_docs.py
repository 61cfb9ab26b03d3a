"""Docs stay in step with the code: .env.example lists every variable of
the configuration table in service/src/conf.c."""
import os
import re

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def test_env_example_lists_every_variable():
    src = read("service/src/conf.c")
    table = src[src.index("static const struct conf_key keys[]"):]
    table = table[:table.index("};")]
    names = set(re.findall(r'"([A-Z][A-Z0-9_]+)"', table))
    assert {"KAFKA_BROKERS", "HMS_APP_SECRET", "HMS_APP_SECRET_FILE",
            "LOG_LEVEL"} <= names
    example = read(".env.example")
    missing = [n for n in sorted(names)
               if not re.search(rf"^#? ?{n}=", example, re.M)]
    assert missing == []
