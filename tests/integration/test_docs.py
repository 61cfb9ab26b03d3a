"""Docs stay in step with the code: .env.example lists every variable of
the configuration table in service/src/conf.c, the repository is
self-contained, and the pinned schemas are the ones the build embeds."""
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


def tracked_files():
    import subprocess
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    return [p for p in out.splitlines() if os.path.exists(os.path.join(ROOT, p))]


def test_repository_is_self_contained():
    """A clone has everything it links to: relative Markdown links resolve
    inside the repository, and nothing points at the shared folder beside
    it."""
    bad = []
    for path in tracked_files():
        try:
            text = read(path)
        except UnicodeDecodeError:
            continue  # a binary: a plot, a fuzz seed
        if "../" + "shared" in text:  # spelled so that this file passes
            bad.append(f"{path}: points outside the repository")
        if not path.endswith(".md"):
            continue
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto
            resolved = os.path.normpath(os.path.join(ROOT, os.path.dirname(path),
                                                     target))
            if not resolved.startswith(os.path.abspath(ROOT)) or \
                    not os.path.exists(resolved):
                bad.append(f"{path}: {target}")
    assert bad == []


def test_pinned_schemas_are_the_build_schemas():
    """docs/schemas (the contract) and schemas/ (embedded in the build) hold
    the same files."""
    pinned = sorted(os.listdir(os.path.join(ROOT, "docs", "schemas")))
    assert pinned == sorted(f for f in os.listdir(os.path.join(ROOT, "schemas"))
                            if f.endswith(".avsc"))
    for name in pinned:
        assert read(f"docs/schemas/{name}") == read(f"schemas/{name}"), name
