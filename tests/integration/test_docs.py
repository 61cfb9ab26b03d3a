"""Docs stay in step with the code: .env.example lists every variable of
the configuration table in service/src/conf.c, the repository is
self-contained, the pinned schemas are the ones the build embeds, and
every BookingCreated version reads every other (contract section 2)."""
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


def test_booking_created_versions_read_each_other():
    """Contract section 2, Evolution: v3 is backward compatible (v1 and v2
    writers resolve into it, its fields null) and forward compatible (a v2
    or v1 reader reads a v3 writer, skipping what it lacks). Resolution by
    fastavro, an implementation independent of ours."""
    import io

    import fastavro

    from worker_helpers import SCHEMAS, booking

    versions = ["BookingCreated.v1", "BookingCreated.v2", "BookingCreated"]
    full = booking("b1", [("alice", "host")], region="eu", size=2,
                   max_duration_seconds=3600, template_id="tpl",
                   metadata={"k": "v"})
    for w in versions:
        wschema = SCHEMAS[w][0]
        rec = {f["name"]: full[f["name"]] for f in wschema["fields"]}
        out = io.BytesIO()
        fastavro.schemaless_writer(out, wschema, rec)
        for r in versions:
            rschema = SCHEMAS[r][0]
            got = fastavro.schemaless_reader(io.BytesIO(out.getvalue()),
                                             wschema, rschema)
            for f in rschema["fields"]:
                name = f["name"]
                want = rec[name] if name in rec else f["default"]
                assert got[name] == want, (w, r, name)
