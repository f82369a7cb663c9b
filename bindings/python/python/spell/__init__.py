"""Spell: run untrusted WebAssembly plugins ("spells") safely, fast and billably.

Load a verified package under a policy, then cast it; every cast ends with one outcome and one
usage record::

    import spell

    runtime = spell.Runtime()
    hello = runtime.load("examples/hello/hello.spell", spell.Policy.from_file("examples/policy.toml"))
    outcome = hello.cast(["world"], stdin=b"", meter=spell.UsageLog())
    print(outcome.outcome, outcome.stdout, outcome.usage.fuel)

Casts release the GIL, so threads cast in parallel; ``await spell.cast_async(...)`` serves
asyncio. Refusals raise subclasses of :class:`SpellError` carrying the stable ``code``
(``E-PKG-002``) and ``name`` (``package_malformed``) of the error catalog.
"""

from ._spell import *  # noqa: F403  (the names in _spell.pyi's __all__)
from ._spell import __all__, __version__
