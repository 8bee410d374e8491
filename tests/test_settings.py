"""Settings layers: defaults -> YAML -> environment, with actionable errors."""

import json

import pytest

from imad_extension.settings import SettingsError, app_url, ensure_password, load_settings


def test_defaults_are_the_demo_classroom(tmp_path):
    s = load_settings(environ={"IMAD_STATE_DIR": str(tmp_path)})
    assert s["mode"] == "local"
    assert s["roster"]["cohorts"]["demo"] == {"students": ["alice", "bob"], "tas": ["ta"]}
    assert s["roster"]["instructors"] == ["instructor"]
    assert app_url(s, "alice") == "http://alice.apps.localhost:8080/"


def test_yaml_then_environment(tmp_path):
    cfg = tmp_path / "classroom.yaml"
    cfg.write_text("apps:\n  domain: apps.example.net\n  port: 9000\n  scheme: https\n")
    s = load_settings(environ={"IMAD_CONFIG": str(cfg), "IMAD_APPS_PORT": "443"})
    assert s["apps"]["domain"] == "apps.example.net"
    assert app_url(s, "alice") == "https://alice.apps.example.net/"  # env wins, 443 hidden


@pytest.mark.parametrize(
    "yaml_text, message",
    [
        ("apps:\n  domian: x\n", "unknown setting 'apps.domian'"),
        ("apps:\n  port: eighty\n", "apps.port must be int"),
        ("mode: cloud\n", "choose one of local, kubernetes"),
        ("hub: 3\n", "hub must be a mapping"),
    ],
    ids=["typo", "wrong-type", "bad-choice", "not-a-mapping"],
)
def test_bad_yaml_names_the_key(tmp_path, yaml_text, message):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text)
    with pytest.raises(SettingsError, match=message) as err:
        load_settings(environ={"IMAD_CONFIG": str(cfg)})
    assert str(cfg) in str(err.value)


def test_bad_environment_value():
    with pytest.raises(SettingsError, match="IMAD_HUB_PORT='x' must be int"):
        load_settings(environ={"IMAD_HUB_PORT": "x"})


def test_missing_config_file(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(environ={"IMAD_CONFIG": str(tmp_path / "nope.yaml")})


def test_password_generated_once_and_kept(tmp_path):
    s = load_settings(environ={"IMAD_STATE_DIR": str(tmp_path)})
    first = ensure_password(s)
    assert len(first) >= 12
    assert (tmp_path / "password").stat().st_mode & 0o777 == 0o600
    again = load_settings(environ={"IMAD_STATE_DIR": str(tmp_path)})
    assert ensure_password(again) == first
    explicit = load_settings(environ={"IMAD_STATE_DIR": str(tmp_path), "IMAD_PASSWORD": "x" * 10})
    assert ensure_password(explicit) == "x" * 10


def test_settings_pass_to_children_whole(tmp_path):
    s = load_settings(environ={"IMAD_STATE_DIR": str(tmp_path), "IMAD_APPS_PORT": "9999"})
    child = load_settings(environ={"IMAD_SETTINGS": json.dumps(s), "IMAD_APPS_PORT": "1"})
    assert child == s


def test_kubernetes_mode_changes_the_defaults_of_what_varies(tmp_path):
    s = load_settings(environ={"IMAD_MODE": "kubernetes", "IMAD_APPS_DOMAIN": "apps.example.net"})
    assert s["workspace"]["spawner"] == "kubernetes" and s["apps"]["publisher"] == "kubernetes"
    assert s["auth"]["kind"] == "github" and s["repos"]["host"] == "github"
    assert app_url(s, "alice") == "https://alice.apps.example.net/"
    cfg = tmp_path / "c.yaml"
    cfg.write_text("mode: kubernetes\nrepos:\n  host: local\n")
    assert load_settings(environ={"IMAD_CONFIG": str(cfg)})["repos"]["host"] == "local"
