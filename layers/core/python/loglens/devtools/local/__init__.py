"""Local stand-ins at the edges (HTTP server for API Gateway, spool for Firehose/S3/SQS, timers
for EventBridge); the core code they call is the same code the Lambdas run."""
