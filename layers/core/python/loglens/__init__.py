"""loglens core: everything that matters, importable without AWS, a database or the network.

Importing this package must stay cheap: boto3, anthropic and database connections are
imported lazily at the edges (see docs/style.md), so CLI start-up and Lambda cold starts stay fast.
"""

__version__ = "0.1.0"
