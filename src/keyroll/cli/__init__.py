"""The keyroll command line (typer + rich). Holds no logic the library does not expose."""
