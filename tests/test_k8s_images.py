"""The kubernetes-mode images, without Docker: their scripts run directly, their
Dockerfiles are checked for what matters (pinned bases, non-root, the scripts wired in).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
START = ROOT / "images" / "singleuser" / "start.sh"
CHECK = ROOT / "images" / "hub" / "check-install.py"
DOCKERFILES = sorted((ROOT / "images").glob("*/Dockerfile"))


def start(home: Path, *command, env=None):
    base = {"PATH": os.environ["PATH"], "HOME": str(home)}
    return subprocess.run([str(START), *command], env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=30)  # fmt: skip


def test_start_prepares_a_fresh_home_and_execs_the_command(tmp_path):
    home = tmp_path / "home" / "jovyan"  # a fresh, empty claim
    r = start(home, "sh", "-c", 'echo "args:$1|$2"; echo "npm:$NPM_CONFIG_CACHE"; echo "prompt:$GIT_TERMINAL_PROMPT"; exit 7',
              "sh", "two words", "x")  # fmt: skip
    assert r.returncode == 7, r.stderr  # the command's own status: exec, no wrapper left
    assert "args:two words|x" in r.stdout
    assert f"npm:{home}/.cache/npm" in r.stdout and "prompt:0" in r.stdout
    config = subprocess.run(["git", "config", "--file", str(home / ".gitconfig"), "init.defaultBranch"],
                            capture_output=True, text=True).stdout  # fmt: skip
    assert config.strip() == "main"


def test_start_never_touches_a_students_own_gitconfig(tmp_path):
    (tmp_path / ".gitconfig").write_text("[user]\n\tname = Alice\n")
    r = start(tmp_path, "true")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / ".gitconfig").read_text() == "[user]\n\tname = Alice\n"


def test_start_defaults_to_jupyterhub_singleuser(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "jupyterhub-singleuser"
    fake.write_text("#!/bin/sh\necho singleuser started\n")
    fake.chmod(0o755)
    r = start(tmp_path / "home", env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert r.returncode == 0 and "singleuser started" in r.stdout, r.stderr


def test_hub_check_install_passes_in_this_environment():
    r = subprocess.run([sys.executable, str(CHECK)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "ok: jupyterhub 6." in r.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfiles_are_pinned_and_non_root(dockerfile):
    text = dockerfile.read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", text, re.M))
    for image in re.findall(r"^FROM (\S+)", text, re.M):
        image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), image)
        name, _, tag = image.rpartition(":")
        assert name and re.match(r"^\d+\.\d+\.\d+", tag), (
            f"{dockerfile}: base image {image} is not pinned to a version"
        )
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0"), (
        f"{dockerfile}: must end non-root"
    )
    for src in re.findall(r"^COPY (?:--\S+ )*(images/\S+)", text, re.M):
        assert (ROOT / src).exists(), f"{dockerfile}: copies {src}, which does not exist"
    for package, version in re.findall(r'"([a-z-]+)==([^"]+)"', text):
        # a version, or (hub) exactly the version the base image already has
        assert re.match(r"^\d", version) or version == "${JH}", (package, version)


def test_singleuser_image_runs_the_start_script_with_the_workspace_command():
    text = (ROOT / "images" / "singleuser" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["tini", "-g", "--", "/usr/local/bin/imad-singleuser-start"]' in text
    assert 'CMD ["jupyterhub-singleuser"]' in text and "USER 1000:100" in text
