"""``keyroll demo``: a whole credential-leak incident, played end to end on the sandbox.

An application on top of keyroll, not part of the emulator: it starts the sandbox in-process,
builds the leak (:mod:`~keyroll.demo.workspace`), runs what a team would run through the
application layer (:mod:`keyroll.app`), does the one dashboard step a person would do
(:mod:`~keyroll.demo.dashboard`), and attributes every failed request of the load generator to
a credential (:mod:`~keyroll.demo.attribution`). :mod:`~keyroll.demo.run` holds the run,
:mod:`~keyroll.demo.result` its value-free outcome.
"""
