"""IMAD Classroom benchmarks: how fast publishing, commits and the dashboard are.

``python -m benchmarks [--quick] [--only N ...] [--write docs/benchmarks.md]`` (``make
bench``) runs them and prints one table: metric, median, min–max over the runs, the
target and whether it was met, the baseline. One module per benchmark:

1. ``b1_publish``: publish latency in local mode, with its breakdown;
2. ``b2_republish_load``: republishing while a client polls the app;
3. ``b3_commit``: commit and push of 10 changed files, against one by one;
4. ``b4_k8s_scale``: the Kubernetes publisher with 10,000 apps on the fake cluster;
5. ``b5_dashboard``: the dashboard's cohort page and JSON for 1,000 students;
6. ``b6_login``: login to a ready workspace, one student and 50 at once.

Each module has ``NUMBER``, ``TITLE`` and ``run(ctx) -> report.Section``; ``ctx``
(``context.Context``) says whether this is quick mode (few runs, small sizes: what
``tests/test_benchmarks_quick.py`` runs) and holds the classroom 1–3 share.
"""
