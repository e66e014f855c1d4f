"""``sweepctl`` subcommands, one module each.

Every module in this package that defines ``register(subparsers)`` is a subcommand: it adds its
parser and sets ``handler`` (``Callable[[argparse.Namespace], int]``, returning the exit code) with
``set_defaults``. ``sweep_controller.commands.main`` discovers the modules, so adding a subcommand
never
touches a shared file.
"""
