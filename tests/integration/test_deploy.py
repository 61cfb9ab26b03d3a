"""The shipped deploy files work as shipped (issue 11 item 7): the
environment each one gives the worker passes `hms-worker --check-config`.

No Docker engine, cluster or systemd is needed: each file's environment is
rebuilt the way its tool builds it, then handed to the binary with nothing
else (no PATH, no HOME, nothing of this process):

  docker-compose.yml  the image's ENV (deploy/Dockerfile), then env_file
                      (.env, i.e. .env.example with what its comments tell
                      the user to fill in), then `environment`, with
                      ${VAR}, ${VAR:-default}, ... interpolated from .env
                      as compose does
  deploy/k8s          the image's ENV, then the ConfigMap (envFrom), then
                      the container's env; files mounted from the Secret
                      (secret.example.yaml) become temp files
  deploy/systemd      Environment=, then EnvironmentFile= (.env.example
                      installed as /etc/hms-worker/env and filled in), %d
                      (LoadCredential's directory) a temp dir

Files that only exist in a container (secret mounts) are mapped to temp
files holding a dummy secret. Needs only BIN (the build directory)."""
import os
import re
import subprocess

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# What .env.example ("Required:") and docker-compose.yml ("then set ...")
# leave for the user to fill in: dummy values that pass the check. The app
# secret is added where it comes from the environment.
FILL = {"HMS_ACCESS_KEY": "test-access-key", "HMS_TEMPLATE_ID": "test-template"}
FILL_COMPOSE = {"HMS_ACCESS_KEY": "test-access-key"}
DUMMY_SECRET = "dummy-app-secret-for-test-deploy"


def path(*p):
    return os.path.join(ROOT, *p)


def read(*p):
    with open(path(*p), encoding="utf-8") as f:
        return f.read()


def load_yaml_docs(*p):
    with open(path(*p), encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def parse_dotenv(text):
    """KEY=VALUE lines as compose's env_file and systemd's EnvironmentFile
    read them: blank lines and # comments skipped, optional quotes, an
    unquoted value ends at ' #'."""
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, eq, value = line.partition("=")
        assert eq and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", key.strip()), \
            f"line {n}: not KEY=VALUE: {line!r}"
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0].rstrip()
        out[key.strip()] = value
    return out


def user_env(fill):
    """.env.example as the user's .env: the values they are told to set
    filled in, nothing else changed."""
    env = parse_dotenv(read(".env.example"))
    for k in fill:
        assert env.get(k, "") == "", f".env.example sets {k}: update FILL"
    env.update(fill)
    return env


def interpolate(value, variables):
    """Compose's interpolation: $$, $VAR, ${VAR}, ${VAR:-d}, ${VAR-d},
    ${VAR:?e}, ${VAR?e}, ${VAR:+r}, ${VAR+r}."""
    def one(m):
        if m.group(0) == "$$":
            return "$"
        name = m.group("braced") or m.group("bare")
        op, arg = m.group("op"), m.group("arg") or ""
        arg = interpolate(arg, variables) if arg else arg
        is_set = name in variables
        non_empty = is_set and variables[name] != ""
        if op in (":-", "-"):
            ok = non_empty if op == ":-" else is_set
            return variables[name] if ok else arg
        if op in (":?", "?"):
            ok = non_empty if op == ":?" else is_set
            assert ok, f"compose would fail: ${{{name}{op}{arg}}}"
            return variables[name]
        if op in (":+", "+"):
            ok = non_empty if op == ":+" else is_set
            return arg if ok else ""
        return variables.get(name, "")

    pattern = re.compile(r"\$\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)"
                         r"(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
                         r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)")
    return pattern.sub(one, value)


def env_items(env):
    """A compose/k8s-style environment: a mapping or a KEY=VALUE list."""
    if isinstance(env, dict):
        return list(env.items())
    return [tuple(e.split("=", 1)) if "=" in e else (e, None) for e in env]


def scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


def image_env():
    """ENV of the Dockerfile's final stage (the image's environment)."""
    env, final = {}, False
    for line in re.sub(r"\\\n", " ", read("deploy", "Dockerfile")).splitlines():
        word, _, rest = line.strip().partition(" ")
        if word.upper() == "FROM":
            final, env = True, {}
        elif word.upper() == "ENV" and final:
            for item in rest.split():
                k, eq, v = item.partition("=")
                assert eq, f"Dockerfile: ENV {rest!r}: use ENV KEY=VALUE"
                env[k] = v
    return env


def check_config(bin_dir, env):
    r = subprocess.run([os.path.join(bin_dir, "hms-worker"), "--check-config"],
                       env=env, capture_output=True, text=True, timeout=30,
                       check=False)
    errors = [l for l in r.stderr.splitlines() if "level=error" in l]
    assert r.returncode == 0 and errors == [], \
        f"exit {r.returncode}:\n" + "\n".join(errors or [r.stderr[-2000:]])
    assert DUMMY_SECRET not in r.stderr + r.stdout
    # a variable the worker does not know is a typo: ignored, not applied
    assert "unknown variable" not in r.stderr, r.stderr
    return r.stderr


def compose_volumes(svc, tmp_path):
    """The worker's mounts of named volumes as local directories: "tls"
    (tls-init's: the project's CA) gets a CA made by the same script."""
    mounts = {}
    for v in svc.get("volumes", []):
        source, target = v.split(":")[:2]
        assert source == "tls", f"docker-compose.yml: volume {v}: teach the test"
        d = tmp_path / source
        subprocess.run([path("deploy", "local", "tls.sh"), "ca", str(d)],
                       check=True, capture_output=True)
        mounts[target] = str(d)
    return mounts


def compose_worker_env(tmp_path):
    doc = yaml.safe_load(read("docker-compose.yml"))
    svc = doc["services"]["hms-worker"]
    mounts = compose_volumes(svc, tmp_path)
    dotenv = user_env(FILL_COMPOSE)  # the project's .env: interpolation, env_file
    env = image_env()
    files = svc.get("env_file", [])
    for f in [files] if isinstance(files, str) else files:
        f = f["path"] if isinstance(f, dict) else f
        assert f == ".env", f"docker-compose.yml: env_file {f}: teach the test"
        env.update({k: interpolate(v, dotenv) for k, v in dotenv.items()})
    for k, v in env_items(svc.get("environment", {})):
        if v is None:  # "- NAME" / "NAME:": taken from the environment
            if k in dotenv:
                env[k] = dotenv[k]
            continue
        env[k] = interpolate(scalar(v), dotenv)
    for k, v in env.items():
        for target, d in mounts.items():
            if v.startswith(target + "/"):
                env[k] = d + v[len(target):]
    return env


def test_compose_worker_environment_passes_check_config(bin_dir, tmp_path):
    env = compose_worker_env(tmp_path)
    assert "HMS_APP_SECRET" not in env and "HMS_APP_SECRET_FILE" not in env, \
        "the secret is the user's to set in .env"
    env["HMS_APP_SECRET"] = DUMMY_SECRET  # as .env.example asks
    check_config(bin_dir, env)
    # the simulator over HTTPS, its CA trusted: no http:// exception
    assert env["HMS_API_BASE"].startswith("https://"), env["HMS_API_BASE"]
    assert env.get("HMS_API_ALLOW_HTTP", "0") == "0"
    assert os.path.exists(env["HMS_API_CA_FILE"])


def k8s_docs():
    d = path("deploy", "k8s")
    kust = yaml.safe_load(read("deploy", "k8s", "kustomization.yaml"))
    applied = []
    for res in kust.get("resources", []):
        applied += load_yaml_docs("deploy", "k8s", res)
    examples = []
    for name in sorted(os.listdir(d)):
        if ".example." in name:
            examples += load_yaml_docs("deploy", "k8s", name)
    return kust, applied, examples


def test_kustomization_never_overwrites_the_users_secret():
    """kubectl apply -k deploy/k8s must not apply a placeholder Secret over
    the one the user created: the Secret ships as an example only, and it
    is the one the Deployment mounts."""
    kust, applied, examples = k8s_docs()
    assert [d["metadata"]["name"] for d in applied if d["kind"] == "Secret"] \
        == [], "kustomization.yaml applies a Secret"
    assert not kust.get("secretGenerator"), \
        "a secretGenerator needs a file the user provides: not shipped"
    secrets = {d["metadata"]["name"]: d for d in examples if d["kind"] == "Secret"}
    dep = next(d for d in applied if d["kind"] == "Deployment")
    vols = dep["spec"]["template"]["spec"].get("volumes", [])
    mounted = {v["secret"]["secretName"] for v in vols if "secret" in v}
    assert mounted and mounted <= set(secrets), (mounted, set(secrets))


def test_k8s_environment_passes_check_config(bin_dir, tmp_path):
    _, applied, examples = k8s_docs()
    by_kind = {}
    for d in applied + examples:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    dep = next(iter(by_kind["Deployment"].values()))
    pod = dep["spec"]["template"]["spec"]
    c = next(c for c in pod["containers"] if c["name"] == "hms-worker")
    # secret volumes: mountPath -> a temp dir holding the example's keys
    mounts = {}
    for vol in pod.get("volumes", []):
        if "secret" not in vol:
            continue
        secret = by_kind["Secret"][vol["secret"]["secretName"]]
        keys = list(secret.get("stringData", {})) + list(secret.get("data", {}))
        d = tmp_path / vol["name"]
        d.mkdir()
        for k in keys:
            (d / k).write_text(DUMMY_SECRET + "\n")
        for m in c.get("volumeMounts", []):
            if m["name"] == vol["name"]:
                mounts[m["mountPath"].rstrip("/")] = str(d)

    def local(v):
        for mp, d in mounts.items():
            if v == mp or v.startswith(mp + "/"):
                return d + v[len(mp):]
        return v

    env = image_env()
    for src in c.get("envFrom", []):
        ref = src.get("configMapRef") or src.get("secretRef")
        kind = "ConfigMap" if "configMapRef" in src else "Secret"
        doc = by_kind[kind][ref["name"]]
        data = dict(doc.get("data", {}), **doc.get("stringData", {}))
        env.update({src.get("prefix", "") + k: scalar(v) for k, v in data.items()})
    for e in c.get("env", []):
        assert "value" in e, f"deployment.yaml: env {e['name']}: teach the test"
        env[e["name"]] = local(scalar(e["value"]))
    for k in ("HMS_APP_SECRET_FILE",):
        if k in env:
            assert os.path.exists(env[k]), \
                f"{k}={env[k]}: not a file of a mounted Secret's key"
    check_config(bin_dir, env)


def test_systemd_environment_passes_check_config(bin_dir, tmp_path):
    unit = read("deploy", "systemd", "hms-worker.service")
    creds = tmp_path / "credentials"
    creds.mkdir()
    env, files = {}, []
    for line in unit.splitlines():
        key, _, value = line.partition("=")
        if key == "Environment":
            k, _, v = value.partition("=")
            env[k] = v.replace("%d", str(creds))
        elif key == "EnvironmentFile":
            files.append(value.lstrip("-"))
        elif key == "LoadCredential":
            (creds / value.split(":", 1)[0]).write_text(DUMMY_SECRET + "\n")
    # the unit's install notes: .env.example becomes /etc/hms-worker/env
    assert files == ["/etc/hms-worker/env"], files
    assert "install -m 0640 .env.example /etc/hms-worker/env" in unit
    env.update(user_env(FILL))  # EnvironmentFile= overrides Environment=
    check_config(bin_dir, env)
