# IMAD Classroom hub configuration: load the classroom settings, apply them.
# Settings: defaults -> YAML file ($IMAD_CONFIG) -> environment (see README, "Settings").
from imad_extension.hubconfig import configure
from imad_extension.settings import load_settings

c = get_config()  # noqa: F821 (provided by JupyterHub)
configure(c, load_settings())
