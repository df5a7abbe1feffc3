"""Tessera's benchmark: what a request costs, side by side with a plain Flask route.

Run it with ``make bench`` (or ``.venv/bin/python benchmarks/bench.py --help``). In one run it
seeds two databases (1,000 and 1,000,000 users), then measures every case in process, as WSGI
calls with prepared environs: the cases are interleaved in shuffled order and repeated for many
rounds, and each round's time per request is kept, so the table shows the median, min and max.
Ratios compare each median with the median of the same JSON route in a plain Flask app of its
own (the floor), measured in the same rounds; beside them run Tessera's bare route (that JSON
under every Tessera hook) and the Flask-JWT-Extended peer's ``GET /me`` on the same database.
While the rounds run, mail goes to a real SMTP server on loopback that takes half a second over
each mail, so a mail endpoint that waited on it would show. With ``--http`` the same paths are
then measured over loopback against gunicorn and granian side by side, each as shipped
(``gunicorn.conf.py``, ``api/granian_settings.py``), with the peer under the same server, and
``--gunicorn-matrix`` compares gunicorn's worker classes and process counts;
wrk drives the load when it is installed, a small Python load generator otherwise, each run
bounded in time.

Nothing here asserts a time: the targets are printed as met or missed, and kept in the JSON.

The modules, in the order a run uses them: ``app`` (the apps measured: Tessera with its bare
route, and the plain Flask floor), ``peer`` (the Flask-JWT-Extended peer), ``seeding`` (the
data and the tokens the cases send), ``in_process`` (the cases and the interleaved rounds),
``report`` (the table and the targets), ``over_http`` (the servers and a load generator) and
``bench`` (the command line).
"""
