"""The developer's tools: the CLI, the local stack, the embedded PostgreSQL, the demo and the eval harness.

Nothing here ships in a Lambda: the core layer's asset excludes this folder (infra/paths.py), and
tests/infra checks the synthesized assets hold none of it. Code here may import the rest of the core;
the rest of the core never imports from here.
"""
