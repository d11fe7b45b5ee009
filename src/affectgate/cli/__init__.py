"""The ``affectgate`` command line (Typer), one module per command group.

Exit codes of ``gate``: 0 promoted, 1 blocked, 2 review, 3 error. A user's mistake ends in a message
that names what is wrong and how to fix it, never a traceback (:func:`affectgate.cli.common.fail`).
"""

from affectgate.cli import audit, data, demo, gate, policy, project, registry, review, synth, zoo
from affectgate.cli.root import app

app.add_typer(synth.data_app, name="data")
data.register(synth.data_app)
app.add_typer(zoo.zoo_app, name="zoo")
app.add_typer(audit.audit_app, name="audit")
app.add_typer(policy.app, name="policy")
app.add_typer(review.app, name="review")
app.add_typer(registry.registry_app, name="registry")
for commands in (gate.commands, demo.commands, project.commands):
    app.registered_commands.extend(commands.registered_commands)

__all__ = ["app"]
