#!/usr/bin/env python3
"""CDK entry point: `npx cdk synth` (or `-c stage=prod`) builds every loglens stack for one stage."""

import aws_cdk as cdk

from infra.app import build_app

app = cdk.App()
build_app(app)
app.synth()
