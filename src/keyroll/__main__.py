from keyroll.cli.entry import entry

entry()
