"""The loglens CDK app: stacks split by lifecycle, one construct per concern (the only package importing aws_cdk)."""
