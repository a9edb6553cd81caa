"""The application layer: one module per workflow, called by the CLI and by the demo.

A workflow here decides what happens (which checks run, which evidence is collected, what a run
needs before it may start); the CLI parses arguments and renders results, the demo drives the
sandbox. Both open the journal and the providers the same way, through this package.
"""
