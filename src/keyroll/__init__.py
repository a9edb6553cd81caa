"""keyroll — rotate every Upstash credential that ever sat in Vercel, everywhere, without an outage.

The library is layered (see ``docs/architecture.md``): ``core`` is pure data,
``providers`` talk HTTP, ``inventory``/``rotate``/``verify``/``report``/``harden``/``scan``
do the work, ``cli`` renders.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
