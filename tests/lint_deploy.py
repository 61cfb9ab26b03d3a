"""make lint, the deploy files: everything that can be checked without a
Docker engine or a cluster.

  docker-compose.yml  the Compose Specification's JSON schema (from
                      compose-go, the reference implementation, fetched from
                      the Go module proxy and cached in build/lint/), plus
                      references: depends_on targets, healthchecks, pins
  deploy/k8s/*.yaml   kubernetes-validate --strict (bundled API schemas) on
                      kustomization resources and *.example.yaml; probes and
                      limits present
  deploy/Dockerfile   multi-stage on Debian bookworm, non-root final stage
  deploy/systemd/*    systemd-analyze verify in a scratch root
  every YAML file     parses
Prints one line per problem; exit 1 if any."""
import glob
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile

import jsonschema
import yaml
from dockerfile_parse import DockerfileParser

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
COMPOSE_GO = "v2.16.2"
SCHEMA_URL = ("https://proxy.golang.org/github.com/compose-spec/compose-go/v2/"
              f"@v/{COMPOSE_GO}.zip")
K8S_VERSION = "1.30.0"
problems = []


def problem(what):
    problems.append(what)
    print("lint-deploy:", what)


def compose_schema():
    cache = os.path.join(ROOT, "build", "lint", f"compose-spec-{COMPOSE_GO}.json")
    if not os.path.exists(cache):
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        with urllib.request.urlopen(SCHEMA_URL, timeout=60) as r:
            z = zipfile.ZipFile(io.BytesIO(r.read()))
        name = next(n for n in z.namelist()
                    if n.endswith("/schema/compose-spec.json"))
        with open(cache + ".tmp", "wb") as f:
            f.write(z.read(name))
        os.replace(cache + ".tmp", cache)
    with open(cache, encoding="utf-8") as f:
        return json.load(f)


def check_compose():
    path = os.path.join(ROOT, "docker-compose.yml")
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    schema = compose_schema()
    v = jsonschema.validators.validator_for(schema)(schema)
    for e in sorted(v.iter_errors(doc), key=lambda e: list(e.path)):
        problem(f"docker-compose.yml: {'/'.join(map(str, e.path))}: {e.message}")
    services = doc.get("services", {})
    for name, s in services.items():
        for dep, cond in (s.get("depends_on") or {}).items():
            if dep not in services:
                problem(f"docker-compose.yml: {name} depends on unknown {dep}")
            want = cond.get("condition")
            if want == "service_healthy" and "healthcheck" not in services.get(dep, {}):
                problem(f"docker-compose.yml: {name} waits for {dep} to be "
                        "healthy, but it has no healthcheck")
        image = s.get("image", "")
        if image.endswith(":latest") or (image and ":" not in image):
            problem(f"docker-compose.yml: {name}: image {image} is not pinned")
        # one-shot services (kafka-init, tls-init) run and exit
        if not name.endswith("-init") and "healthcheck" not in s:
            problem(f"docker-compose.yml: {name} has no healthcheck")
    if not services.get("kafka", {}).get("image", "").startswith("apache/kafka:3.9."):
        problem("docker-compose.yml: kafka must be apache/kafka 3.9.x")


def check_k8s():
    d = os.path.join(ROOT, "deploy", "k8s")
    with open(os.path.join(d, "kustomization.yaml"), encoding="utf-8") as f:
        kust = yaml.safe_load(f)
    manifests = []
    for res in kust.get("resources", []):
        if not os.path.exists(os.path.join(d, res)):
            problem(f"deploy/k8s/kustomization.yaml: no file {res}")
        manifests.append(os.path.join(d, res))
    # examples the user copies and fills in (secret.example.yaml): valid
    # manifests too, though never applied by the kustomization
    manifests += sorted(glob.glob(os.path.join(d, "*.example.yaml")))
    r = subprocess.run([os.path.join(os.path.dirname(sys.executable),
                                     "kubernetes-validate"), "--strict",
                        "-k", K8S_VERSION, "--quiet", *manifests],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        problem(f"deploy/k8s: kubernetes-validate:\n{r.stdout}{r.stderr}")
    with open(os.path.join(d, "deployment.yaml"), encoding="utf-8") as f:
        dep = yaml.safe_load(f)
    c = dep["spec"]["template"]["spec"]["containers"][0]
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        got = c.get(probe, {}).get("httpGet", {})
        if got.get("path") != path or got.get("port") != "admin":
            problem(f"deploy/k8s/deployment.yaml: {probe} must GET {path} on "
                    "the admin port")
    if not c.get("resources", {}).get("limits"):
        problem("deploy/k8s/deployment.yaml: no resource limits")
    if not dep["spec"]["template"]["spec"].get("securityContext", {}).get("runAsNonRoot"):
        problem("deploy/k8s/deployment.yaml: not runAsNonRoot")


def check_dockerfile():
    p = DockerfileParser(path=os.path.join(ROOT, "deploy", "Dockerfile"))
    froms = [i["value"] for i in p.structure if i["instruction"] == "FROM"]
    if len(froms) < 2:
        problem("deploy/Dockerfile: not multi-stage")
    for f in froms:
        if not f.split()[0].startswith("debian:bookworm"):
            problem(f"deploy/Dockerfile: FROM {f}: not Debian bookworm")
    last = max(i["startline"] for i in p.structure if i["instruction"] == "FROM")
    final = [i for i in p.structure if i["startline"] >= last]
    users = [i["value"] for i in final if i["instruction"] == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problem("deploy/Dockerfile: the final stage must run as a non-root USER")
    for need in ("ENTRYPOINT", "HEALTHCHECK"):
        if not any(i["instruction"] == need for i in final):
            problem(f"deploy/Dockerfile: the final stage has no {need}")


def check_systemd():
    exe = shutil.which("systemd-analyze")
    if exe is None:
        problem("systemd-analyze not found (apt-get install systemd)")
        return
    with tempfile.TemporaryDirectory() as root:
        # the paths the unit names, as an installation would have them
        for d in ("etc/systemd/system", "usr/local/bin", "etc/hms-worker"):
            os.makedirs(f"{root}/{d}")
        for f in ("usr/local/bin/hms-worker", "etc/hms-worker/env",
                  "etc/hms-worker/app-secret"):
            with open(f"{root}/{f}", "w", encoding="utf-8"):
                pass
        os.chmod(f"{root}/usr/local/bin/hms-worker", 0o755)
        for unit in glob.glob(os.path.join(ROOT, "deploy", "systemd", "*.service")):
            shutil.copy(unit, f"{root}/etc/systemd/system/")
            r = subprocess.run([exe, "verify", "--man=no",
                                "--recursive-errors=no", f"--root={root}",
                                "/etc/systemd/system/" + os.path.basename(unit)],
                               capture_output=True, text=True, check=False)
            if r.returncode != 0 or r.stderr.strip():
                problem(f"{os.path.relpath(unit, ROOT)}: {r.stderr.strip()}")


def check_yaml():
    for path in [os.path.join(ROOT, "docker-compose.yml")] + \
            glob.glob(os.path.join(ROOT, "deploy", "**", "*.y*ml"), recursive=True):
        try:
            with open(path, encoding="utf-8") as f:
                list(yaml.safe_load_all(f))
        except yaml.YAMLError as e:
            problem(f"{os.path.relpath(path, ROOT)}: {e}")


for check in (check_yaml, check_compose, check_k8s, check_dockerfile,
              check_systemd):
    check()
print(f"lint-deploy: {'clean' if not problems else f'{len(problems)} problems'}")
sys.exit(1 if problems else 0)
