"""The classroom service: the JupyterHub service ``imad`` at ``/services/imad/``.

The only component that creates published apps. Its API (docs/api.md, "Classroom
service API") publishes, reports and removes apps for callers the hub vouches for.

Modules: ``app`` (``make_app``, ``serve``), ``handlers`` (thin HTTP handlers),
``core`` (``AppsAPI``: the API without HTTP), ``auth`` (``can_act_on``: who may act on
whose app), ``dashboard_data`` (the instructors' and TAs' dashboard).
"""
