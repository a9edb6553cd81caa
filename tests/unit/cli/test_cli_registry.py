"""The CLI's command → module map matches what the modules register."""

from __future__ import annotations

import typer

from keyroll.cli import main


def test_every_command_maps_to_the_module_that_registers_it() -> None:
    import importlib

    for module_name in main.COMMAND_MODULES:
        probe = typer.Typer()
        importlib.import_module(module_name).register(probe)
        names = {c.name or c.callback.__name__ for c in probe.registered_commands if c.callback}
        names |= {g.name for g in probe.registered_groups if g.name}
        for name in names:
            assert main.COMMANDS.get(name) == module_name, f"{name} should map to {module_name}"
    assert set(main.COMMANDS.values()) == set(main.COMMAND_MODULES)


def test_a_command_run_registers_only_its_module() -> None:
    assert main._modules_for(["--debug", "scan", "x"]) == ("keyroll.cli.scan_cmd",)
    assert main._modules_for(["--help"]) == main.COMMAND_MODULES
    assert main._modules_for(["bogus"]) == main.COMMAND_MODULES
