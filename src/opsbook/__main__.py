from opsbook.cli.app import run

run()
