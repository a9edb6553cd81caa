from keyroll.cli.main import entry

entry()
