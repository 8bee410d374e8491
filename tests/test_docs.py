"""The README documents every setting, and shows both commands."""

from pathlib import Path

from imad_extension.settings import DEFAULTS, ENV_VARS, FREE_FORM

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def setting_keys(d, path=()):
    for key, value in d.items():
        here = path + (key,)
        if isinstance(value, dict) and here not in FREE_FORM:
            yield from setting_keys(value, here)
        else:
            yield ".".join(here)


def test_every_setting_is_documented():
    missing = [k for k in setting_keys(DEFAULTS) if f"`{k}`" not in README]
    assert missing == []


def test_every_environment_variable_is_documented():
    assert [v for v in ENV_VARS if f"`{v}`" not in README] == []


def test_both_commands_are_in_the_readme():
    assert "make run" in README and "make test" in README
