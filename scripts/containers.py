"""Reads Dockerfile, docker-compose.yml, scripts/docker-init-db.sql and README.md for
scripts/check-containers (run with the venv's Python: it needs ruamel.yaml, which check-jsonschema
brings).

  containers.py consistent          the compose file agrees with the README, the Dockerfile and
                                    the init script; one line per problem, exit 1 if any
  containers.py shell STAGE         the stage's SHELL (JSON array), ["/bin/sh", "-c"] by default
  containers.py runs STAGE          the stage's RUN commands, NUL-separated, continuations joined
  containers.py user                the runtime stage's USER
  containers.py healthcheck         the HEALTHCHECK's CMD, NUL-separated
  containers.py env STAGE           the stage's ENV settings, one NAME=VALUE a line
"""

import json
import re
import sys
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent


def instructions():
    """(stage, INSTRUCTION, arguments) for each Dockerfile instruction, continuations joined."""
    stage, joined, out = None, "", []
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not joined and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            joined += line[:-1] + " "
            continue
        line, joined = joined + line, ""
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            stage = rest.split()[-1] if " AS " in rest.upper() else rest
        out.append((stage, word, rest.strip()))
    return out


def of(stage, word):
    return [rest for s, w, rest in instructions() if s == stage and w == word]


def last_stage():
    return [s for s, w, _ in instructions() if w == "FROM"][-1]


def command(stage_name=None):
    """A HEALTHCHECK's or CMD's exec form."""
    rest = of(stage_name or last_stage(), "HEALTHCHECK")[0]
    return json.loads(rest[rest.index("CMD") + 3:].strip())


def consistent():
    problems = []
    compose = YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())
    readme = (ROOT / "README.md").read_text()
    docker_section = readme[readme.index("## Docker"):]
    docker_section = docker_section[:docker_section.index("\n## ", 3)]
    services = compose.get("services", {})

    def need(condition, message):
        if not condition:
            problems.append(message)

    need(set(services) == {"postgres", "switchboard"}, f"compose services are {sorted(services)}, the README describes postgres and switchboard")
    pg, app = services.get("postgres", {}), services.get("switchboard", {})
    need(pg.get("image", "") in docker_section, f"the README's Docker section does not name the image {pg.get('image')}")
    need(app.get("command") == ["serve", "--migrate"], f"switchboard's command is {app.get('command')}, not serve --migrate")
    need("serve --migrate" in docker_section, "the README's Docker section does not say `serve --migrate`")
    need(app.get("build") == "." and (ROOT / "Dockerfile").exists(), "switchboard is not built from ./Dockerfile")
    need(app.get("env_file") == ".env" and (ROOT / ".env.example").exists(), "env_file is not .env, or .env.example is missing")
    need("cp .env.example .env" in docker_section, "the README does not say `cp .env.example .env`")
    need(app.get("depends_on", {}).get("postgres", {}).get("condition") == "service_healthy",
         "switchboard does not wait for postgres to be healthy")

    # The non-superuser role: mounted, named in the README, and what DATABASE_URL logs in as.
    mounts = [v for v in pg.get("volumes", []) if isinstance(v, str) and "docker-entrypoint-initdb.d" in v]
    need(len(mounts) == 1, "postgres mounts no init script into /docker-entrypoint-initdb.d")
    script = ROOT / mounts[0].split(":")[0] if mounts else None
    need(script is not None and script.exists(), f"the init script {script} does not exist")
    need("scripts/docker-init-db.sql" in docker_section, "the README does not name scripts/docker-init-db.sql")
    sql = script.read_text() if script and script.exists() else ""
    role = re.search(r"CREATE ROLE (\w+) ([^;]*)PASSWORD '([^']*)'", sql)
    database = re.search(r"CREATE DATABASE (\w+) OWNER (\w+)", sql)
    need(role is not None and database is not None, "the init script creates no role and database")
    if role and database:
        name, options, password = role.group(1), role.group(2).upper().split(), role.group(3)
        need("SUPERUSER" not in options and "LOGIN" in options, f"the role {name} must log in and not be a superuser")
        need("CREATEROLE" in options, f"the role {name} needs CREATEROLE (the migrations create switchboard_app)")
        need(database.group(2) == name, f"the database is not owned by {name}")
        url = app.get("environment", {}).get("DATABASE_URL", "")
        wanted = f"postgres://{name}:{password}@postgres:5432/{database.group(1)}"
        need(url == wanted, f"DATABASE_URL is {url}, the init script makes {wanted}")
        probe = " ".join(pg.get("healthcheck", {}).get("test", []))
        need("pg_isready" in probe and f"-d {database.group(1)}" in probe, f"postgres's health check does not probe {database.group(1)}")

    # One port everywhere: compose's mapping and listen address, the image's ENV and EXPOSE.
    listen = app.get("environment", {}).get("SWITCHBOARD_LISTEN_ADDR", "")
    image_env = dict(e.split("=", 1) for e in of(last_stage(), "ENV"))
    ports = {listen.rsplit(":", 1)[-1], image_env.get("SWITCHBOARD_LISTEN_ADDR", "").rsplit(":", 1)[-1],
             *of(last_stage(), "EXPOSE"), *(p.split(":")[-1] for p in app.get("ports", []))}
    need(len(ports) == 1, f"the container port differs between compose, ENV and EXPOSE: {sorted(ports)}")

    # The image: health check without curl, a non-root user, the binary where the build put it.
    need(command() == ["switchboard", "healthcheck"], f"HEALTHCHECK runs {command()}")
    need("switchboard healthcheck" in docker_section, "the README does not say the HEALTHCHECK is `switchboard healthcheck`")
    user = of(last_stage(), "USER")
    need(bool(user) and user[-1].split(":")[0] not in ("0", "root"), "the runtime stage runs as root")
    workdir = of("build", "WORKDIR")
    copied = [c for c in of(last_stage(), "COPY") if c.startswith("--from=build ")]
    need(bool(workdir) and bool(copied) and copied[0].split()[1] == f"{workdir[0]}/target/release/switchboard",
         "the runtime stage does not copy the build stage's target/release/switchboard")
    for problem in problems:
        print(f"check-containers: {problem}")
    return 1 if problems else 0


def main(args):
    what = args[0]
    if what == "consistent":
        return consistent()
    if what == "shell":
        shell = of(args[1], "SHELL")
        print(shell[-1] if shell else '["/bin/sh", "-c"]')
    elif what == "runs":
        sys.stdout.write("\0".join(of(args[1], "RUN")) + "\0")
    elif what == "user":
        print(of(last_stage(), "USER")[-1])
    elif what == "healthcheck":
        sys.stdout.write("\0".join(command()) + "\0")
    elif what == "env":
        for setting in of(args[1], "ENV"):
            print(setting)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
